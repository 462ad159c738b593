"""`motivus test`: run the project's fixture cases against its built package.

The package runs in the same worker pool as `motivus loopback` (its own loader in node
worker threads), so a passing case means the shipped files work, not a re-implementation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shutil
import time
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .build import BuildResult, build_project, output_names
from .config import ProjectConfig, load_config
from .errors import ConfigError, MotivusError, ToolchainError
from .fixtures import Case, Outcome, Verdict, judge, load_cases, select
from .layout import PackageLayout
from .reporter import Reporter
from .resources import doc
from .runtime.task import TaskResult
from .textsafe import printable
from .waterbear import result_files

# A package file bigger than this is not unpacked for testing (the marketplace takes 100 MB).
MAX_PACKAGE_FILE = 512 << 20


@dataclass(frozen=True)
class CaseResult:
    """One case's verdict and what its task gave."""

    case: Case
    verdict: Verdict
    outcome: Outcome
    seconds: float
    runner: str = "node"  # "node" (the pool), or the browser that ran it


@dataclass(frozen=True)
class PackageFiles:
    """The files of the package under test: the project's build, or one given with --package."""

    stem: str
    wasm: Path
    loader: Path
    data: Optional[Path]

    @classmethod
    def of_build(cls, built: BuildResult) -> "PackageFiles":
        names = output_names(built.config)
        build_dir = built.config.build_dir
        data = build_dir / names["data"] if "data" in names else None
        return cls(built.config.package_stem, build_dir / names["wasm"], build_dir / names["js"], data)

    @classmethod
    def found_in(cls, directory: Path, layout: PackageLayout) -> "PackageFiles":
        """The package's files in ``directory`` (its data zip only if there is one)."""
        data = directory / layout.data_zip
        return cls(layout.stem, directory / layout.wasm, directory / layout.loader, data if data.is_file() else None)


@dataclass(frozen=True)
class TestReport:
    """All cases of a `motivus test` run, on one or more runners (node, browsers)."""

    config: ProjectConfig
    package: PackageFiles
    build: Optional[BuildResult]  # None when the package was given with --package
    results: List[CaseResult]
    seconds: float
    runners: Tuple[str, ...] = ("node",)

    @property
    def passed(self) -> bool:
        return all(r.verdict.passed for r in self.results)

    @property
    def failures(self) -> List[CaseResult]:
        return [r for r in self.results if not r.verdict.passed]

    def differences(self) -> List[Tuple[str, str, str, List[str]]]:
        """Where runners disagree: (case, runner, other runner, the parts that differ), each
        runner compared with the first one."""
        by_case: Dict[str, Dict[str, Outcome]] = {}
        for result in self.results:
            by_case.setdefault(result.case.name, {})[result.runner] = result.outcome
        found = []
        for case, outcomes in by_case.items():
            first = self.runners[0]
            if first not in outcomes:
                continue
            for runner in self.runners[1:]:
                if runner in outcomes:
                    parts = outcome_differences(outcomes[first], outcomes[runner])
                    if parts:
                        found.append((case, first, runner, parts))
        return found


# How engines word the same trap differently (SpiderMonkey, then V8): not a difference.
_TRAP_WORDING = (("unreachable executed", "unreachable"),)
# The JS stack console_error_panic_hook puts after a Rust panic's message ("msg\n\nStack:\n\n
# STACK\n\n"): each engine writes its own.
_PANIC_STACK = re.compile(r"\n\nStack:\n\n.*?\n{3,}", re.DOTALL)


def engine_neutral(text: str) -> str:
    """``text`` (a task's stderr) without what differs between JavaScript engines by nature:
    the words for a trap and the stack a panic hook prints."""
    text = _PANIC_STACK.sub("\n\nStack: (the engine's)\n\n\n", text)
    for theirs, ours in _TRAP_WORDING:
        text = text.replace(theirs, ours)
    return text


def outcome_differences(a: Outcome, b: Outcome) -> List[str]:
    """The parts of two outcomes of one case that differ, by name (what :func:`engine_neutral`
    removes is not a difference)."""
    parts = []
    for name in ("data", "files", "stdout", "stderr", "exit_code", "error"):
        mine, theirs = getattr(a, name), getattr(b, name)
        if name == "stderr":
            mine, theirs = engine_neutral(mine), engine_neutral(theirs)
        if mine != theirs:
            parts.append(name)
    return parts


def run_tests(
    project_dir: Path,
    reporter: Reporter,
    *,
    pattern: Optional[str] = None,
    workers: Optional[int] = None,
    timeout: float = 300.0,
    toolchain: str = "auto",
    junit_xml: Optional[Path] = None,
    package: Optional[Path] = None,
    browser: Optional[str] = None,
    allow_unsandboxed: bool = False,
) -> TestReport:
    """Build the package if it is stale (or take the one at ``package``), run the selected
    cases, judge them. ``browser``: run them in that browser instead of node; ``"all"``: in
    node and in every browser found, to see where results differ."""
    started = time.monotonic()
    built: Optional[BuildResult] = None
    if package is None:
        built = build_project(project_dir, reporter, toolchain=toolchain)
        config = built.config
        files = PackageFiles.of_build(built)
    else:
        config = load_config(project_dir)
        files = given_package(package, config)
        reporter.info(f"testing the given package {files.stem} ({package}); the project is not built")
    fixtures = config.project_dir / config.tests.fixtures
    cases = select(load_cases(fixtures), pattern)
    if not cases:
        raise ConfigError(
            f"no fixture case in {fixtures}" + (f" matches -k {pattern!r}" if pattern else ""),
            hint=f"add a case (see {doc('testing.md')})" if not pattern else "check the pattern",
        )
    reporter.step(f"running {len(cases)} case(s)", total=len(cases))
    runners = _runners(browser)
    results: List[CaseResult] = []
    for runner in runners:
        if runner == "node":
            results += asyncio.run(_run_cases(files, cases, reporter, workers, timeout, allow_unsandboxed))
        else:
            reporter.step(f"running {len(cases)} case(s) in {runner}", total=len(cases))
            results += _run_cases_in_browser(runner, files, cases, reporter, timeout)
    report = TestReport(config, files, built, results, time.monotonic() - started, tuple(runners))
    if junit_xml is not None:
        write_junit_xml(report, junit_xml)
    return report


def given_package(path: Path, config: ProjectConfig) -> PackageFiles:
    """The package at ``path``: a directory holding ``NAME-VERSION.wasm`` + ``.js`` (and
    perhaps ``.data.zip``), or a ``NAME-VERSION.zip`` as the marketplace takes it (its files
    are unpacked into ``.motivus/test-package/``). Packages built by other tools (the
    platform's own packagers) are tested the same way."""
    path = path.expanduser()
    if path.is_dir():
        stems = sorted(p.stem for p in path.glob("*.wasm") if (path / PackageLayout(p.stem).loader).is_file())
        stem = config.package_stem if config.package_stem in stems else (stems[0] if len(stems) == 1 else "")
        if not stem:
            found = ", ".join(stems) or "none"
            raise ConfigError(
                f"{path} holds no single NAME-VERSION.wasm + NAME-VERSION.js pair (found: {found})",
                hint=f"point --package at a directory with {config.package_stem}.wasm and .js, or at a package zip",
            )
        return PackageFiles.found_in(path, PackageLayout(stem))
    if path.is_file() and path.suffix == ".zip":
        layout = PackageLayout(path.stem)
        out = config.project_dir / ".motivus" / "test-package"
        wanted = {layout.wasm, layout.loader, layout.data_zip}
        try:
            with zipfile.ZipFile(path) as archive:
                names = {info.filename for info in archive.infolist()}
                if not {layout.wasm, layout.loader} <= names:
                    raise ConfigError(
                        f"{path} has no {layout.wasm} and {layout.loader} at its root",
                        hint="a package zip holds NAME-VERSION.js, NAME-VERSION.wasm and perhaps NAME-VERSION.data.zip",
                    )
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir(parents=True)
                for name in sorted(names & wanted):
                    info = archive.getinfo(name)
                    if info.file_size > MAX_PACKAGE_FILE:
                        raise ConfigError(f"{name} in {path} is larger than {MAX_PACKAGE_FILE >> 20} MiB")
                    (out / name).write_bytes(archive.read(name))
        except (zipfile.BadZipFile, OSError) as exc:
            raise ConfigError(f"cannot read the package {path}: {exc}") from exc
        return PackageFiles.found_in(out, layout)
    raise ConfigError(
        f"--package {path} is neither a directory nor a .zip file",
        hint="give the directory that holds NAME-VERSION.wasm and .js, or the NAME-VERSION.zip",
    )


async def _run_cases(files: PackageFiles, cases: List[Case], reporter: Reporter, workers: Optional[int],
                     timeout: float, allow_unsandboxed: bool = False) -> List[CaseResult]:
    from .runtime.package import PackageStore
    from .runtime.pool import WorkerPool
    from .runtime.task import TaskSpec

    package = PackageStore().intern_files(files.wasm.read_bytes(), files.loader.read_bytes())
    data = files.data.resolve() if files.data is not None else None
    data_link = str(data) if data is not None else None
    # The cases are the author's own, one owner; the only local file read is the package's data zip.
    pool = WorkerPool(workers or min(len(cases), _cpu_count()), timeout, reporter=reporter,
                      data_dirs=[data.parent] if data is not None else [],
                      allow_unsandboxed=allow_unsandboxed)
    await pool.start()

    async def one(case: Case) -> CaseResult:
        spec = TaskSpec(package, dataclasses.replace(case.task_body(), data_link=data_link),
                        timeout=case.timeout, owner="motivus test")
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


def _runners(browser: Optional[str]) -> List[str]:
    from .browser import find_browsers
    from .browser.launch import require_browser

    if browser is None:
        return ["node"]
    if browser == "all":
        found = list(find_browsers())
        if not found:
            raise ToolchainError(
                "--browser all found no browser",
                hint="install one with: apt-get install chromium firefox-esr",
            )
        return ["node", *found]
    require_browser(browser)
    return [browser]


def _run_cases_in_browser(
    name: str, files: PackageFiles, cases: List[Case], reporter: Reporter, timeout: float
) -> List[CaseResult]:
    from .browser import BrowserPackage, run_in_browser

    package = BrowserPackage(
        files.stem,
        files.wasm.read_bytes(),
        files.loader.read_bytes(),
        files.data.read_bytes() if files.data is not None else None,
    )
    tasks = []
    for case in cases:
        body = case.task_body().to_wire()
        if files.data is not None:
            body["data_link"] = True  # the page fetches the package's data zip from its server
        tasks.append({"package": files.stem, "body": body, "timeout_s": case.timeout or timeout})
    began = time.monotonic()
    entries = run_in_browser(name, [package], tasks, timeout=timeout)
    seconds = (time.monotonic() - began) / max(1, len(cases))
    results = []
    for case, entry in zip(cases, entries):
        outcome = outcome_of_entry(entry)
        reporter.advance()
        results.append(CaseResult(case, judge(case, outcome), outcome, seconds, name))
    return results


def outcome_of_entry(entry: Dict[str, Any]) -> Outcome:
    """A browser page's entry (``out``, decoded ``stdout``/``stderr``, ``exitCode``) as an
    :class:`Outcome`, judged like a node result."""
    if "harnessError" in entry:
        return Outcome(None, {}, "", "", 1, str(entry["harnessError"]))
    body = entry.get("out")
    data = body.get("data") if isinstance(body, dict) else body
    exit_code = entry.get("exitCode")
    return Outcome(data, result_files(body), str(entry.get("stdout") or ""), str(entry.get("stderr") or ""),
                   exit_code if isinstance(exit_code, int) else 0, None)


def outcome_of(result: TaskResult) -> Outcome:
    """What a fixture case is judged on: the body's ``data`` (None when the body has none:
    a driver would get the whole body, ``body.get("data", body)``, but its result files are
    judged apart here), its result files, its output and exit code."""
    error: Optional[str] = result.error
    try:
        body = result.body
    except MotivusError as exc:
        body, error = {}, error or str(exc)
    data = body.get("data") if isinstance(body, dict) else body
    return Outcome(data, result_files(body), result.stdout_text, result.stderr_text, result.exit_code or 0, error)


def _cpu_count() -> int:
    import os

    return max(1, os.cpu_count() or 1)


def write_junit_xml(report: TestReport, path: Path) -> None:
    """A JUnit XML report (one testcase per fixture case) for CI systems."""
    suite = ET.Element(
        "testsuite",
        name=f"motivus test {report.package.stem}",
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
            name=result.case.name if len(report.runners) == 1 else f"{result.case.name} [{result.runner}]",
            file=str(result.case.source),
            time=f"{result.seconds:.3f}",
        )
        if not result.verdict.passed:
            failure = ET.SubElement(case, "failure", message=result.verdict.problems[0].splitlines()[0])
            failure.text = "\n\n".join(result.verdict.problems)
        ET.SubElement(case, "system-out").text = printable(result.outcome.stdout)
        ET.SubElement(case, "system-err").text = printable(result.outcome.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = ET.ElementTree(suite)
    if hasattr(ET, "indent"):  # Python 3.9+
        ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
