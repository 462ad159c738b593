"""One fixture case run again and again in the worker pool, for `motivus profile` and
`motivus bench`: the same pool, loader and body as `motivus test` (so a figure is what a
task of the package costs), one worker, one task at a time."""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

from .config import ProjectConfig
from .errors import ConfigError
from .fixtures import Case, judge, load_cases, select
from .reporter import Reporter
from .resources import doc
from .runtime.task import TaskResult
from .testing import PackageFiles, outcome_of

#: The phases our loaders time (loader_js/timings.js), in the order a task goes through them.
PHASES = ("input", "instantiate", "call", "output")


def one_case(config: ProjectConfig, name: Optional[str]) -> Case:
    """The fixture case called ``name`` (or matching it), or the only case there is."""
    fixtures = config.project_dir / config.tests.fixtures
    cases = load_cases(fixtures)
    if not cases:
        raise ConfigError(f"no fixture case in {fixtures}", hint=f"add a case (see {doc('testing.md')})")
    if name is None:
        if len(cases) == 1:
            return cases[0]
        raise ConfigError(f"name the case to run: {', '.join(c.name for c in cases)}",
                          hint=f"give its name (or a part of it) after the command, e.g. '{cases[0].name}'")
    exact = [case for case in cases if case.name == name]
    found = exact or select(cases, name)
    if len(found) != 1:
        raise ConfigError(
            (f"no fixture case matches '{name}'" if not found else f"{len(found)} fixture cases match '{name}'")
            + f" (the cases: {', '.join(c.name for c in cases)})",
            hint="give one case's name",
        )
    return found[0]


@dataclass(frozen=True)
class CaseRun:
    """One run of the case: its task's result and its verdict."""

    result: TaskResult
    passed: bool
    problem: str = ""

    @property
    def seconds(self) -> float:
        """How long the pool took (body in to reply out)."""
        return self.result.duration

    def phase(self, name: str) -> Optional[float]:
        """Seconds the loader spent in phase ``name`` (None: the loader does not time it)."""
        timings = self.result.timings or {}
        return timings[name] / 1000.0 if name in timings else None


def run_case(files: PackageFiles, case: Case, runs: int, reporter: Reporter, *, profile: bool = False,
             timeout: float = 600.0, allow_unsandboxed: bool = False,
             on_run: Optional[Callable[[int, CaseRun], None]] = None) -> List[CaseRun]:
    """Run ``case`` ``runs`` times, one after the other, in one pool worker (``profile``: a
    profiling pool, each run in a new worker thread with V8's sampler on)."""
    return asyncio.run(_run(files, case, runs, reporter, profile, timeout, allow_unsandboxed, on_run))


async def _run(files: PackageFiles, case: Case, runs: int, reporter: Reporter, profile: bool, timeout: float,
               allow_unsandboxed: bool, on_run: Optional[Callable[[int, CaseRun], None]]) -> List[CaseRun]:
    from .runtime.package import PackageStore
    from .runtime.pool import WorkerPool
    from .runtime.task import TaskSpec

    package = PackageStore().intern_files(files.wasm.read_bytes(), files.loader.read_bytes())
    data = files.data.resolve() if files.data is not None else None
    body = dataclasses.replace(case.task_body(), data_link=str(data) if data is not None else None)
    spec = TaskSpec(package, body, timeout=case.timeout or timeout, owner="motivus")
    out: List[CaseRun] = []
    async with WorkerPool(1, timeout, reporter=reporter, data_dirs=[data.parent] if data is not None else [],
                          allow_unsandboxed=allow_unsandboxed, profile=profile) as pool:
        for index in range(runs):
            result = await pool.run(spec)
            verdict = judge(case, outcome_of(result))
            run = CaseRun(result, verdict.passed, "; ".join(verdict.problems))
            out.append(run)
            if on_run is not None:
                on_run(index, run)
    return out


@dataclass(frozen=True)
class Spread:
    """min / median / max of some seconds."""

    min: float
    median: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> "Spread":
        return cls(min(values), statistics.median(values), max(values))

    def as_dict(self) -> Dict[str, float]:
        return {"min": self.min, "median": self.median, "max": self.max}

