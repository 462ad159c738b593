"""`motivus profile`: where a fixture case's time goes, as a flame graph and a time split.

The package is built as the release one with its function names kept (the module's name
section, in ``.motivus/profile/``: ``build/`` is left alone), then the case runs in the same
pool and loader as `motivus test`, in a new worker thread with V8's sampling profiler on
from its first line (runtime/node/profiler.js). A warm-up run comes first: a wasm call runs
to its end in the code it started in (no on-stack replacement), and a first call in a fresh
worker starts in V8's baseline compiler (Liftoff), which profiles code no warm worker runs.
The pool keeps the compiled module, tier-ups included, between its worker threads, so the
profiled run is the optimised code (``--warmup 0`` shows the cold one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from .build import BuildResult, build_project, package_dir
from .caserun import PHASES, CaseRun, one_case, run_case
from .errors import RuntimeFailure
from .flamegraph import FunctionTime, self_times, write_page
from .reporter import Reporter
from .testing import PackageFiles


@dataclass(frozen=True)
class ProfileReport:
    """A profiled run of one case."""

    case: str
    build: BuildResult
    run: CaseRun
    files: Dict[str, Path]  # page, cpuprofile, script
    functions: List[FunctionTime]

    @property
    def phases(self) -> Dict[str, float]:
        """Seconds per phase of the profiled run (input, instantiate, call, output)."""
        return {name: seconds for name in PHASES if (seconds := self.run.phase(name)) is not None}


def profile_case(project_dir: Path, reporter: Reporter, case_name: Optional[str], *, warmup: int = 1,
                 toolchain: str = "auto", out: Optional[Path] = None, timeout: float = 600.0,
                 allow_unsandboxed: bool = False) -> ProfileReport:
    """Build the package with names, run ``case_name`` ``warmup`` times and once profiled,
    write its flame graph (``out``, default ``.motivus/profile/``)."""
    built = build_project(project_dir, reporter, toolchain=toolchain, keep_names=True)
    config = built.config
    case = one_case(config, case_name)
    files = PackageFiles.found_in(package_dir(config, keep_names=True), config.layout)
    reporter.step(f"running {case.name}: {warmup} warm-up run(s), then one profiled", total=warmup + 1)
    runs = run_case(files, case, warmup + 1, reporter, profile=True, timeout=timeout,
                    allow_unsandboxed=allow_unsandboxed, on_run=lambda index, run: reporter.advance())
    profiled = runs[-1]
    if profiled.result.profile is None:
        raise RuntimeFailure(f"the profiled run of {case.name} brought back no profile",
                             hint="run it again with -v; the task's own error is: "
                                  + (profiled.result.error or profiled.result.stderr_text[-300:] or "none"))
    if not profiled.passed:
        reporter.warning(f"{case.name} did not pass ({profiled.problem}): the profile is of the run as it went")
    reporter.step("writing the flame graph")
    target = out if out is not None else package_dir(config, keep_names=True)
    written = write_page(profiled.result.profile, target, _file_name(case.name))
    return ProfileReport(case.name, built, profiled, written, self_times(profiled.result.profile))


def _file_name(case: str) -> str:
    """A case's name as a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", case).strip("-.") or "case"
