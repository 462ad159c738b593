"""Run a build plan's script on the host, with the same environment as in the container."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Dict, List, Mapping, Optional

from motivus_dev.errors import ToolchainError
from motivus_dev.reporter import Reporter
from motivus_dev.toolchain.plan import BuildPlan, build_failure


def script_command(script: Path, first_line: str) -> List[str]:
    """The command that runs ``script``: its ``#!`` interpreter, so no exec bit is needed.

    Package data installed from a wheel may lose its mode bits; running the interpreter named
    by the shebang works either way.
    """
    if first_line.startswith("#!"):
        words = first_line[2:].strip().split()
        if words:
            return words + [str(script)]
    return ["sh", str(script)]


def host_environment(plan: BuildPlan, base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The script's environment on the host: the caller's (PATH, locale...) plus the plan's."""
    env = dict(os.environ if base is None else base)
    env.update(plan.host_env)
    return env


def run_plan(plan: BuildPlan, reporter: Reporter) -> List[str]:
    """Run ``plan``'s script on the host, stream its output, and return the output lines.

    A non-zero exit raises :class:`BuildError` with the tail of the compiler's output.
    """
    script = plan.host_script
    try:
        with script.open("r", encoding="utf-8", errors="replace") as handle:
            first_line = handle.readline()
    except OSError as exc:
        raise ToolchainError(
            f"the {plan.toolchain} build script {script} is missing: {exc}",
            hint="the kit's installation is incomplete; reinstall motivus-dev",
        ) from exc
    for path in plan.dirs_to_create():
        path.mkdir(parents=True, exist_ok=True)
    output: List[str] = []
    for step in plan.steps:
        reporter.step(step.title or step.name)
        plan.kind.prepare_step(step, plan)
        # On the host a step has whatever network the host has; offline is the script's flag.
        command = script_command(script, first_line) + [step.name]
        exit_code = _run(command, plan, reporter, output)
        if exit_code != 0:
            raise build_failure(plan, exit_code, output)
    return output


def _run(command: List[str], plan: BuildPlan, reporter: Reporter, output: List[str]) -> int:
    try:
        proc = subprocess.Popen(
            command,
            cwd=str(plan.project_dir),
            env=host_environment(plan),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise ToolchainError(f"cannot run {' '.join(command)}: {exc}",
                             hint="motivus toolchain doctor") from exc
    assert proc.stdout is not None
    with proc.stdout:
        for raw in proc.stdout:
            line = raw.rstrip("\n").rstrip("\r")
            output.append(line)
            reporter.output(line)
    return proc.wait()
