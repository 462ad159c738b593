"""`motivus test`: run the project's fixture cases against its built package.

The package runs in the same worker pool as `motivus loopback` (its own loader in node
worker threads), so a passing case means the shipped files work, not a re-implementation.
"""

from __future__ import annotations

import asyncio
import base64
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from .build import BuildResult, build_project, output_names
from .errors import ConfigError, MotivusError
from .fixtures import Case, Outcome, Verdict, judge, load_cases, select
from .reporter import Reporter
from .runtime.task import TaskResult


@dataclass(frozen=True)
class CaseResult:
    """One case's verdict and what its task gave."""

    case: Case
    verdict: Verdict
    outcome: Outcome
    seconds: float


@dataclass(frozen=True)
class TestReport:
    """All cases of a `motivus test` run."""

    build: BuildResult
    results: List[CaseResult]
    seconds: float

    @property
    def passed(self) -> bool:
        return all(r.verdict.passed for r in self.results)

    @property
    def failures(self) -> List[CaseResult]:
        return [r for r in self.results if not r.verdict.passed]


def run_tests(
    project_dir: Path,
    reporter: Reporter,
    *,
    pattern: Optional[str] = None,
    workers: Optional[int] = None,
    timeout: float = 300.0,
    toolchain: str = "auto",
    junit_xml: Optional[Path] = None,
) -> TestReport:
    """Build the package if it is stale, run the selected cases, judge them."""
    started = time.monotonic()
    built = build_project(project_dir, reporter, toolchain=toolchain)
    config = built.config
    fixtures = config.project_dir / config.tests.fixtures
    cases = select(load_cases(fixtures), pattern)
    if not cases:
        raise ConfigError(
            f"no fixture case in {fixtures}" + (f" matches -k {pattern!r}" if pattern else ""),
            hint="add a case (see docs/testing.md)" if not pattern else "check the pattern",
        )
    reporter.step(f"running {len(cases)} case(s)", total=len(cases))
    results = asyncio.run(_run_cases(built, cases, reporter, workers, timeout))
    report = TestReport(built, results, time.monotonic() - started)
    if junit_xml is not None:
        write_junit_xml(report, junit_xml)
    return report


async def _run_cases(built: BuildResult, cases: List[Case], reporter: Reporter, workers: Optional[int],
                     timeout: float) -> List[CaseResult]:
    from .runtime.package import PackageStore
    from .runtime.pool import WorkerPool
    from .runtime.task import TaskSpec

    config = built.config
    names = output_names(config)
    package = PackageStore().intern_files(
        (config.build_dir / names["wasm"]).read_bytes(), (config.build_dir / names["js"]).read_bytes()
    )
    data_link = str(config.build_dir / names["data"]) if "data" in names else None
    pool = WorkerPool(workers or min(len(cases), _cpu_count()), timeout, reporter=reporter)
    await pool.start()

    async def one(case: Case) -> CaseResult:
        body = case.task_body()
        spec = TaskSpec(
            package=package,
            params=body["params"],
            arguments=body["arguments"],
            preload_files=body["preload_files"],
            result_files=body["result_files"],
            data_link=data_link,
            timeout=case.timeout,
        )
        began = time.monotonic()
        result = await pool.run(spec)
        seconds = time.monotonic() - began
        outcome = outcome_of(result)
        reporter.advance()
        return CaseResult(case, judge(case, outcome), outcome, seconds)

    try:
        return list(await asyncio.gather(*(one(case) for case in cases)))
    finally:
        await pool.close("motivus test finished")


def outcome_of(result: TaskResult) -> Outcome:
    """What a fixture case is judged on: the task's value as a driver gets it
    (``body.get("data", body)``), its result files, its output and exit code."""
    error: Optional[str] = result.error
    try:
        body = result.body_value()
    except MotivusError as exc:
        body, error = {}, error or str(exc)
    files = (
        {key: base64.b64decode(value) for key, value in body.items() if key != "data" and isinstance(value, str)}
        if isinstance(body, dict)
        else {}
    )
    data = body.get("data") if isinstance(body, dict) else body
    return Outcome(data, files, result.stdout_text, result.stderr_text, result.exit_code or 0, error)


def _cpu_count() -> int:
    import os

    return max(1, os.cpu_count() or 1)


def write_junit_xml(report: TestReport, path: Path) -> None:
    """A JUnit XML report (one testcase per fixture case) for CI systems."""
    config = report.build.config
    suite = ET.Element(
        "testsuite",
        name=f"motivus test {config.package_stem}",
        tests=str(len(report.results)),
        failures=str(len(report.failures)),
        errors="0",
        time=f"{report.seconds:.3f}",
    )
    for result in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=result.case.source.stem,
            name=result.case.name,
            file=str(result.case.source),
            time=f"{result.seconds:.3f}",
        )
        if not result.verdict.passed:
            failure = ET.SubElement(case, "failure", message=result.verdict.problems[0].splitlines()[0])
            failure.text = "\n\n".join(result.verdict.problems)
        ET.SubElement(case, "system-out").text = result.outcome.stdout
        ET.SubElement(case, "system-err").text = result.outcome.stderr
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = ET.ElementTree(suite)
    if hasattr(ET, "indent"):  # Python 3.9+
        ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
