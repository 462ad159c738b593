"""`motivus toolchain doctor`: what is there, what is missing, and the command that fixes it."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

from motivus_dev.errors import ToolchainError
from motivus_dev.reporter import Reporter
from motivus_dev.toolchain import images
from motivus_dev.toolchain.registry import NAMES
from motivus_dev.toolchain.registry import toolchain as toolchain_named


@dataclass(frozen=True)
class Check:
    """One doctor finding: ``fix_command`` is the exact command that repairs it (if not ok)."""

    name: str
    ok: bool
    detail: str
    fix_command: Optional[str] = None


Runner = Callable[[Sequence[str]], Tuple[int, str]]


def _run(argv: Sequence[str]) -> Tuple[int, str]:
    env = dict(os.environ)
    env["NODE_PATH"] = "/usr/share/nodejs"  # as the mvcc script sets it: emcc needs acorn
    try:
        proc = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, errors="replace", timeout=60, env=env, check=False,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        return 127, str(exc)
    return proc.returncode, proc.stdout


def _sudo() -> List[str]:
    return [] if os.geteuid() == 0 else ["sudo"]


def host_packages(toolchains: Sequence[str] = NAMES) -> List[str]:
    """The distribution packages that give the toolchains' host tools, by name only: the
    images carry the exact versions, the host takes its distribution's own (Debian 12 and 13,
    Ubuntu 24.04), and the tools' version checks say when one is too old."""
    wanted: List[str] = []
    for kind in (toolchain_named(name) for name in toolchains):
        for packages in [tool.packages for tool in kind.host_tools] + [f.packages for f in kind.host_files]:
            wanted += [name for name in packages if name not in wanted]
    return wanted


def host_install_commands(toolchains: Sequence[str] = NAMES) -> List[List[str]]:
    """The apt-get commands (argv lists) that install the toolchains' host tools."""
    sudo = _sudo()
    return [
        sudo + ["apt-get", "update"],
        sudo + ["apt-get", "install", "-y", "--no-install-recommends"] + host_packages(toolchains),
    ]


def host_install_command(toolchains: Sequence[str] = NAMES) -> str:
    """The shell command line for `motivus toolchain install --host` (Debian/Ubuntu)."""
    return " && ".join(shlex.join(argv) for argv in host_install_commands(toolchains))


def _apt_fix(packages: Sequence[str]) -> str:
    return shlex.join(_sudo() + ["apt-get", "install", "-y", "--no-install-recommends", *packages])


def check_host_tools(run: Runner = _run, toolchains: Sequence[str] = NAMES) -> List[Check]:
    """Check the host tools (and files) the build scripts use, with their versions."""
    checks: List[Check] = []
    for kind in (toolchain_named(name) for name in toolchains):
        for tool in kind.host_tools:
            code, out = run(tool.argv)
            first = out.strip().splitlines()[0] if out.strip() else ""
            name = f"host {kind.name}: {tool.name}"
            if code == 0 and re.search(tool.expect, first):
                checks.append(Check(name, True, first))
            else:
                if code == 0:
                    detail = f"wrong version: {first} (wanted /{tool.expect}/)"
                else:
                    detail = f"not usable ({' '.join(tool.argv)}: {first or 'exit ' + str(code)})"
                checks.append(Check(name, False, detail, tool.fix or _apt_fix(tool.packages)))
        for needed in kind.host_files:
            name = f"host {kind.name}: {needed.label}"
            if Path(needed.path).exists():
                checks.append(Check(name, True, needed.path))
            else:
                checks.append(Check(name, False, f"{needed.path} is missing", _apt_fix(needed.packages)))
    return checks


def check_docker(toolchains: Sequence[str] = NAMES) -> List[Check]:
    """Check the docker SDK, the engine and the pinned toolchain images."""
    from motivus_dev.toolchain import docker as docker_exec  # lazy: keeps doctor importable without the SDK

    reason = docker_exec.engine_available()
    if reason is not None:
        return [Check("docker engine", False, reason,
                      "sudo systemctl start docker  # without systemd: sudo dockerd >/var/log/dockerd.log 2>&1 &")]
    checks = [Check("docker engine", True, "reachable")]
    cli = docker_exec.client()
    try:
        for toolchain in toolchains:
            image = images.image_for(toolchain)
            try:
                present = docker_exec.image_present(image.ref, cli)
            except ToolchainError as exc:
                checks.append(Check(f"image {toolchain}", False, exc.message,
                                    f"motivus toolchain build {toolchain}"))
                continue
            if present:
                checks.append(Check(f"image {toolchain}", True, image.ref))
            else:
                checks.append(Check(f"image {toolchain}", False, f"{image.ref} is not built",
                                    f"motivus toolchain build {toolchain}"))
    finally:
        cli.close()
    return checks


def check_sandbox(node: Optional[str] = None) -> List[Check]:
    """Which layers contain task code run by `motivus test`, loopback and worker here."""
    import shutil

    from motivus_dev.runtime.sandbox import UNSAFE_FLAG, probe

    sandbox = probe(node or shutil.which("node") or "node")
    layers = "; ".join(sandbox.layers()) or "none"
    if sandbox.contained:
        detail = f"active: {layers}" + (f" (missing: {'; '.join(sandbox.missing)})" if sandbox.missing else "")
        return [Check("task sandbox", True, detail)]
    fix = _apt_fix(("bubblewrap",)) if shutil.which("bwrap") is None else None
    detail = (f"{'; '.join(sandbox.missing)}: task code would not be contained (active: {layers}); "
              f"test and loopback refuse to run it without {UNSAFE_FLAG}, worker always")
    return [Check("task sandbox", False, detail, fix)]


def check_browsers() -> List[Check]:
    """The headless browsers `motivus test --browser` runs packages in."""
    from motivus_dev.browser import BROWSERS, find_browser

    checks = []
    for name, browser in BROWSERS.items():
        found = find_browser(name)
        if found:
            checks.append(Check(f"browser: {name}", True, found))
        else:
            checks.append(Check(f"browser: {name}", False, "not installed (motivus test --browser)",
                                _apt_fix((browser.package,))))
    return checks


def run_doctor(toolchains: Sequence[str] = NAMES) -> List[Check]:
    """Every check: engine and images first, then the host tools, the task sandbox and the
    browsers."""
    return check_docker(toolchains) + check_host_tools(toolchains=toolchains) + check_sandbox() + check_browsers()


def available_packages(names: Sequence[str], run: Runner = _run) -> Tuple[List[str], List[str]]:
    """``names`` split into those the distribution's package lists have and those they lack
    (Debian 12 has no ``rust-llvm``, whose rust-lld Debian 13's rustc links wasm32 with)."""
    have: List[str] = []
    lack: List[str] = []
    for name in names:
        code, _ = run(["apt-cache", "show", "--no-all-versions", name])
        (have if code == 0 else lack).append(name)
    return have, lack


def install_host_tools(reporter: Reporter, toolchains: Sequence[str] = NAMES) -> None:
    """Run the apt-get commands of :func:`host_install_commands`, streaming their output;
    a package this distribution lacks is named and left out (doctor says what that costs)."""
    if not Path("/usr/bin/apt-get").exists():
        raise ToolchainError(
            "installing the host tools needs apt-get (Debian or Ubuntu)",
            hint="on other systems build in the toolchain container: motivus toolchain build",
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    update, install = host_install_commands(toolchains)
    for argv in (update, install):
        if argv is install:
            prefix = argv[:argv.index("--no-install-recommends") + 1]
            have, lack = available_packages(argv[len(prefix):])
            if lack:
                reporter.warning(f"this distribution has no {', '.join(lack)}: left out "
                                 "(motivus toolchain doctor says which host builds that rules out)")
            argv = prefix + have
        reporter.step(" ".join(argv[:4]) + (" ..." if len(argv) > 4 else ""))
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    errors="replace", env=env, stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise ToolchainError(f"cannot run {argv[0]}: {exc}") from exc
        assert proc.stdout is not None
        for line in proc.stdout:
            reporter.output(line)
        if proc.wait() != 0:
            raise ToolchainError(
                f"{shlex.join(argv)} failed with exit code {proc.returncode}",
                hint="see its output above; a distribution without one of these packages can still "
                     "build in the container (motivus toolchain build)",
            )
