"""The kit installs and runs on the oldest and newest Python it supports (3.9 and 3.13).

The test suite itself runs on one interpreter; this installs the wheel, with its
dependencies, into a venv of each end of the range and runs the CLI there.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def interpreter(version: str) -> str:
    """pythonX.Y from $MOTIVUS_PYTHON<XY>, pyenv's versions, or PATH; skips naming it when absent."""
    candidates = [os.environ.get(f"MOTIVUS_PYTHON{version.replace('.', '')}", "")]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}*/bin/python{version}")))
    candidates += [f"python{version}"]
    for candidate in filter(None, candidates):
        try:
            out = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0 and out.stdout.startswith(f"Python {version}"):
            return candidate
    pytest.skip(f"python{version} is not installed (set MOTIVUS_PYTHON{version.replace('.', '')})")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True)
    (found,) = out.glob("motivus_dev-*.whl")
    return found


@pytest.mark.parametrize("version", ["3.9", "3.13"])
def test_wheel_installs_and_runs(version: str, wheel: Path, tmp_path: Path) -> None:
    python = interpreter(version)
    cache = Path(os.environ["MOTIVUS_CACHE_DIR"]) / f"venv-kit-py{version}"
    subprocess.run([python, "-m", "venv", "--clear", str(cache)], check=True, timeout=300)
    # with the extras: every module must import, the marketplace's and the cluster's included
    install = subprocess.run([str(cache / "bin" / "python"), "-m", "pip", "install", "-q",
                              f"{wheel}[marketplace,cluster]"],
                             capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-2000:]
    motivus = str(cache / "bin" / "motivus")
    env = {**os.environ, "MOTIVUS_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("MOTIVUS_TEMPLATES_DIR", None)
    for lang in ("rust", "cpp"):
        done = subprocess.run([motivus, "new", f"k{lang}", "--lang", lang, "--defaults"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        info = subprocess.run([motivus, "-C", f"k{lang}", "info", "--field", "build.compiler"], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=60)
        assert info.stdout.strip() == ("mvrc" if lang == "rust" else "mvcc"), info.stderr
    # every module imports on this interpreter (syntax and typing constructs included)
    imports = subprocess.run(
        [str(cache / "bin" / "python"), "-c",
         "import pkgutil, importlib, motivus_dev, motivus.client\n"
         "for m in pkgutil.walk_packages(motivus_dev.__path__, 'motivus_dev.'):\n"
         "    if not m.name.endswith('__main__'):\n"
         "        importlib.import_module(m.name)\n"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert imports.returncode == 0, imports.stderr[-2000:]
