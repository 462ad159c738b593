"""mvrc on a Debian 13 host with the author's own tools gives the container's bytes.

The host is a Debian 13 root filesystem (debootstrap, run with bubblewrap) with what
`motivus toolchain install --host` installs for mvrc (the distribution's rustc 1.85, its
wasm32 std, rust-lld, binaryen) and the kit installed from this checkout with pip. The
wasm-bindgen CLI is the image's binary put on the host's PATH (same release, same C library):
building it once more (4 minutes) is what another test does for the container.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from debian_root import HOST_CA, in_root, rootfs

from motivus_dev.cli import main
from motivus_dev.toolchain.doctor import available_packages, host_packages
from motivus_dev.toolchain.images import image_for

pytestmark = [pytest.mark.integration, pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[2]


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def test_a_debian_13_host_builds_the_bytes_the_container_builds(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("unpacking a root filesystem needs root")
    root = rootfs("trixie", tmp_path)
    ok(in_root(root, "apt-get", "update", "-q"))
    have, lack = available_packages(host_packages(["mvrc"]), run=lambda argv: (in_root(root, *argv).returncode, ""))
    assert lack == []
    ok(in_root(root, "apt-get", "install", "-y", "-q", "--no-install-recommends",
               "python3", "python3-venv", "git", "ca-certificates", *have))
    # the image's wasm-bindgen CLI onto the host's PATH
    container = subprocess.run(["docker", "create", image_for("mvrc").ref], capture_output=True, text=True,
                               check=True).stdout.strip()
    try:
        archive = tmp_path / "cli.tar"
        with archive.open("wb") as out:
            subprocess.run(["docker", "cp", f"{container}:/opt/motivus/wasm-bindgen", "-"], stdout=out, check=True)
    finally:
        subprocess.run(["docker", "rm", container], capture_output=True, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(root / "opt")  # noqa: S202 (the kit's own image)
    [cli] = (root / "opt" / "wasm-bindgen").glob("*/bin/wasm-bindgen")
    (root / "usr" / "local" / "bin" / "wasm-bindgen").symlink_to(Path("/") / cli.relative_to(root))
    kit = ("--ro-bind", str(ROOT), "/kit")
    ok(in_root(root, "python3", "-m", "venv", "/root/venv"))
    ok(in_root(root, "pip", "install", "-q", "/kit", binds=HOST_CA + kit))

    # the same project, built in the container here and on the Debian 13 host there
    parent = tmp_path / "projects"
    parent.mkdir()
    made = CliRunner().invoke(main, ["-C", str(parent), "new", "km", "--lang", "rust", "--defaults", "--no-git"])
    assert made.exit_code == 0, made.output
    project = parent / "km"
    built = CliRunner().invoke(main, ["-C", str(project), "build", "--toolchain", "docker"])
    assert built.exit_code == 0, built.output
    on_host = root / "work" / "km"
    shutil.copytree(project, on_host, ignore=shutil.ignore_patterns("build", ".motivus"))
    doctor = in_root(root, "motivus", "toolchain", "doctor", binds=HOST_CA)  # no engine in there: exit 5
    assert "ok   host mvrc: rustc: rustc 1.85" in doctor.stdout, doctor.stdout
    assert "MISSING host mvrc" not in doctor.stdout, doctor.stdout
    output = ok(in_root(root, "sh", "-c", "cd /work/km && motivus build --toolchain host", binds=HOST_CA))
    assert "on the host toolchain" in output and "building the wasm-bindgen CLI" not in output
    for name in ("km-0.0.1.wasm", "km-0.0.1.js"):
        assert (on_host / "build" / name).read_bytes() == (project / "build" / name).read_bytes(), name
