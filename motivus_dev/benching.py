"""`motivus bench`: how long a fixture case's task takes, run after run, and (``--native``)
how that compares with the same code built for this machine.

The case runs in the same pool and loader as `motivus test`, one task after another in one
worker (warm, as a loopback or a cluster worker keeps it), after ``warmup`` runs that are
not counted: the first call of a long function in a fresh worker runs in V8's baseline
code to its end. Each run's time is split by the loader (input, instantiate, call,
output; loader_js/timings.js); the native comparison is against the ``call`` phase (the
guest's own work, its parsing included), see :mod:`.native`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from .build import BuildResult, build_project
from .caserun import PHASES, CaseRun, Spread, one_case, run_case
from .errors import TestFailure
from .native import NativeRuns, run_native
from .reporter import Reporter
from .testing import PackageFiles


@dataclass(frozen=True)
class BenchReport:
    """The counted runs of one case, and the native runs when asked for."""

    case: str
    build: BuildResult
    runs: List[CaseRun]
    warmups: List[CaseRun]
    native: Optional[NativeRuns]

    @property
    def total(self) -> Spread:
        """Seconds per task, as the pool measured it (body in to reply out)."""
        return Spread.of([run.seconds for run in self.runs])

    def phase(self, name: str) -> Optional[Spread]:
        values = [seconds for run in self.runs if (seconds := run.phase(name)) is not None]
        return Spread.of(values) if len(values) == len(self.runs) else None

    @property
    def phases(self) -> Dict[str, Spread]:
        return {name: spread for name in PHASES if (spread := self.phase(name)) is not None}

    @property
    def native_spread(self) -> Optional[Spread]:
        return Spread.of(self.native.seconds) if self.native is not None else None

    @property
    def ratio(self) -> Optional[float]:
        """wasm/native of the same code: the median ``call`` phase over the median native run."""
        call, native = self.phase("call"), self.native_spread
        if call is None or native is None or native.median <= 0:
            return None
        return call.median / native.median


def bench_case(project_dir: Path, reporter: Reporter, case_name: Optional[str], *, runs: int = 10,
               warmup: int = 1, native: bool = False, toolchain: str = "auto", timeout: float = 600.0,
               allow_unsandboxed: bool = False) -> BenchReport:
    """Build the package if stale, run ``case_name`` ``warmup`` + ``runs`` times, and with
    ``native`` the native build as many times."""
    built = build_project(project_dir, reporter, toolchain=toolchain)
    config = built.config
    case = one_case(config, case_name)
    reporter.step(f"running {case.name} {warmup} + {runs} time(s) in the worker pool", total=warmup + runs)
    done = run_case(PackageFiles.of_build(built), case, warmup + runs, reporter, timeout=timeout,
                    allow_unsandboxed=allow_unsandboxed, on_run=lambda index, run: reporter.advance())
    failed = [run for run in done if not run.passed]
    if failed:
        raise TestFailure(f"{case.name} did not pass, so its times say nothing: {failed[0].problem}",
                          hint=f"motivus test -k '{case.name}' shows why")
    native_runs = run_native(config, case, runs, reporter, toolchain) if native else None
    return BenchReport(case.name, built, done[warmup:], done[:warmup], native_runs)
