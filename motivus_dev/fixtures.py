"""Fixture cases for `motivus test`: loading them and judging a task's outcome.

Pure logic, no I/O beyond reading the fixture files: the runner (``testing.py``) runs the
tasks and hands their outcomes here. The format is documented in ``docs/testing.md``.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from .errors import ConfigError
from .resources import doc
from .taskbody import TaskBody
from .taskoutput import failure_hint

CASE_KEYS = ("name", "params", "arguments", "preload_files", "result_files", "timeout", "expect")
EXPECT_KEYS = ("data", "match", "tolerance", "rel_tolerance", "stdout", "stderr", "result_files",
               "failure", "exit_code")
MATCH_MODES = ("exact", "approx", "partition")


@dataclass(frozen=True)
class FileExpectation:
    """What a result file must hold: its text, its bytes' sha256, or a local file's bytes."""

    text: Optional[str] = None
    sha256: Optional[str] = None
    same_as: Optional[Path] = None


@dataclass(frozen=True)
class Expectation:
    """The ``expect`` section of a case."""

    data: Any = None
    has_data: bool = False
    match: str = "exact"
    tolerance: float = 0.0
    rel_tolerance: float = 0.0
    stdout: List[str] = field(default_factory=list)
    stderr: List[str] = field(default_factory=list)
    result_files: Dict[str, FileExpectation] = field(default_factory=dict)
    failure: Optional[str] = None
    exit_code: Optional[int] = None


@dataclass(frozen=True)
class Case:
    """One fixture case: the task to run and what to expect of it."""

    name: str
    source: Path
    params: Optional[List[Any]] = None
    arguments: Optional[Union[List[str], str]] = None
    preload_files: Dict[str, Path] = field(default_factory=dict)
    result_files: List[str] = field(default_factory=list)
    timeout: Optional[float] = None
    expect: Expectation = field(default_factory=Expectation)

    def task_body(self) -> TaskBody:
        """The task body of this case (without the package), as a driver sends it."""
        return TaskBody(
            params=self.params,
            arguments=self.arguments,
            preload_files={
                guest: base64.b64encode(path.read_bytes()).decode("ascii")
                for guest, path in self.preload_files.items()
            } or None,
            result_files={guest: guest for guest in self.result_files} or None,
        )


@dataclass(frozen=True)
class Outcome:
    """What running a case's task gave: the decoded body and the worker's report."""

    data: Any
    files: Dict[str, bytes]
    stdout: str
    stderr: str
    exit_code: int
    error: Optional[str] = None  # a failure reported by the runtime (deadline, crash)

    @property
    def failed(self) -> bool:
        return self.exit_code != 0 or self.error is not None


@dataclass(frozen=True)
class Verdict:
    """Whether a case passed, and a readable account of every difference."""

    passed: bool
    problems: List[str]


# --------------------------------------------------------------------------- loading


def _fail(path: Path, key: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"{path}: '{key}' {problem}", hint=fix)


def load_cases(directory: Path) -> List[Case]:
    """All cases of the ``*.yml``/``*.yaml`` files of ``directory``, in file name order.

    A file holds one case (a mapping) or several (``cases: [...]``).
    """
    if not directory.is_dir():
        raise ConfigError(
            f"fixture directory {directory} does not exist",
            hint=f"create it with at least one case (see {doc('testing.md')}), or set tests.fixtures in motivus.yml",
        )
    cases: List[Case] = []
    for path in sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")]):
        cases.extend(load_case_file(path))
    names = [case.name for case in cases]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"{directory}: case names must be unique; repeated: {', '.join(duplicates)}")
    return cases


def load_case_file(path: Path) -> List[Case]:
    """The cases of one fixture file."""
    import yaml

    try:
        # libyaml's loader when PyYAML has it: a case of a few MB of points loads in a fraction
        # of a second instead of seconds
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: invalid YAML{where}: {getattr(exc, 'problem', exc)}") from exc
    if isinstance(data, dict) and set(data) == {"cases"}:
        items = data["cases"]
        if not isinstance(items, list):
            raise _fail(path, "cases", "must be a list of cases", "write 'cases:' followed by '- name: ...' items")
        return [_parse_case(path, item, f"{path.stem}[{i}]") for i, item in enumerate(items)]
    return [_parse_case(path, data, path.stem)]


def _parse_case(path: Path, data: Any, default_name: str) -> Case:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a case must be a mapping with 'params'/'arguments' and 'expect'")
    for key in data:
        if key not in CASE_KEYS:
            raise _fail(path, str(key), "is not a known key", f"use: {', '.join(CASE_KEYS)} ({doc('testing.md')})")
    params = data.get("params")
    if params is not None and not isinstance(params, list):
        raise _fail(path, "params", "must be a list (the main function's arguments)", "e.g. params: [[1, 2], 3]")
    arguments = data.get("arguments")
    if arguments is not None and not (
        isinstance(arguments, str) or (isinstance(arguments, list) and all(isinstance(a, str) for a in arguments))
    ):
        raise _fail(path, "arguments", "must be a string or a list of strings", 'e.g. arguments: ["-k", "2"]')
    preload = data.get("preload_files") or {}
    if not isinstance(preload, dict):
        raise _fail(path, "preload_files", "must map guest paths to local files", "e.g. /input/a.txt: a.txt")
    preload_files: Dict[str, Path] = {}
    for guest, local in preload.items():
        _check_guest_path(path, "preload_files", str(guest))
        local_path = (path.parent / str(local)).resolve()
        if not local_path.is_file():
            raise _fail(path, f"preload_files.{guest}", f"names {local}, which does not exist",
                        "give a path relative to the fixture file")
        preload_files[str(guest)] = local_path
    result_files = data.get("result_files") or []
    if isinstance(result_files, dict):
        result_files = list(result_files)
    if not isinstance(result_files, list):
        raise _fail(path, "result_files", "must be a list of guest paths", "e.g. result_files: [/output/a.txt]")
    for guest in result_files:
        _check_guest_path(path, "result_files", str(guest))
    timeout = data.get("timeout")
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
        raise _fail(path, "timeout", "must be a positive number of seconds", "e.g. timeout: 30")
    expect = _parse_expect(path, data.get("expect"))
    for guest in expect.result_files:
        if guest not in result_files:
            result_files.append(guest)
    return Case(
        name=str(data.get("name") or default_name),
        source=path,
        params=params,
        arguments=arguments,
        preload_files=preload_files,
        result_files=[str(g) for g in result_files],
        timeout=float(timeout) if timeout is not None else None,
        expect=expect,
    )


def _check_guest_path(path: Path, key: str, guest: str) -> None:
    if not guest.startswith("/") or ".." in guest.split("/"):
        raise _fail(path, f"{key}.{guest}", "is not an absolute guest path without '..'", "e.g. /input/points.txt")


def _fragments(path: Path, key: str, value: Any) -> List[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise _fail(path, key, "must be a text fragment or a list of them", f'e.g. {key}: "done"')


def _parse_expect(path: Path, data: Any) -> Expectation:
    if data is None:
        raise _fail(path, "expect", "is missing", "say what the task must give, e.g. expect: {data: [0, 1]}")
    if not isinstance(data, dict):
        raise _fail(path, "expect", "must be a mapping", "e.g. expect: {data: [0, 1]}")
    for key in data:
        if key not in EXPECT_KEYS:
            raise _fail(path, f"expect.{key}", "is not a known key", f"use: {', '.join(EXPECT_KEYS)}")
    match = str(data.get("match", "approx" if ("tolerance" in data or "rel_tolerance" in data) else "exact"))
    if match not in MATCH_MODES:
        raise _fail(path, "expect.match", f"is {match!r}", f"use one of: {', '.join(MATCH_MODES)}")
    tolerances = {}
    for key in ("tolerance", "rel_tolerance"):
        value = data.get(key, 0.0)
        if not isinstance(value, (int, float)) or value < 0:
            raise _fail(path, f"expect.{key}", "must be a number >= 0", f"e.g. {key}: 1e-6")
        tolerances[key] = float(value)
    files: Dict[str, FileExpectation] = {}
    raw_files = data.get("result_files") or {}
    if not isinstance(raw_files, dict):
        raise _fail(path, "expect.result_files", "must map guest paths to contents", 'e.g. /out/a.txt: "1\\n"')
    for guest, spec in raw_files.items():
        _check_guest_path(path, "expect.result_files", str(guest))
        if isinstance(spec, str):
            files[str(guest)] = FileExpectation(text=spec)
        elif isinstance(spec, dict) and set(spec) == {"sha256"}:
            files[str(guest)] = FileExpectation(sha256=str(spec["sha256"]).lower())
        elif isinstance(spec, dict) and set(spec) == {"file"}:
            local = (path.parent / str(spec["file"])).resolve()
            if not local.is_file():
                raise _fail(path, f"expect.result_files.{guest}.file", f"names {spec['file']}, which does not exist",
                            "give a path relative to the fixture file")
            files[str(guest)] = FileExpectation(same_as=local)
        else:
            raise _fail(path, f"expect.result_files.{guest}", "must be text, {sha256: HEX} or {file: PATH}",
                        'e.g. "0\\n1\\n" or {sha256: 9f86d0...}')
    exit_code = data.get("exit_code")
    if exit_code is not None and not isinstance(exit_code, int):
        raise _fail(path, "expect.exit_code", "must be an integer", "e.g. exit_code: 2")
    failure = data.get("failure")
    if failure is not None and not isinstance(failure, str):
        raise _fail(path, "expect.failure", "must be a text fragment of the error", 'e.g. failure: "must be positive"')
    return Expectation(
        data=data.get("data"),
        has_data="data" in data,
        match=match,
        tolerance=tolerances["tolerance"],
        rel_tolerance=tolerances["rel_tolerance"],
        stdout=_fragments(path, "expect.stdout", data.get("stdout")),
        stderr=_fragments(path, "expect.stderr", data.get("stderr")),
        result_files=files,
        failure=failure,
        exit_code=exit_code,
    )


# --------------------------------------------------------------------------- judging


def judge(case: Case, outcome: Outcome) -> Verdict:
    """Compare ``outcome`` with what ``case`` expects."""
    expect = case.expect
    problems: List[str] = []
    expects_failure = expect.failure is not None or (expect.exit_code not in (None, 0))
    if expects_failure:
        if not outcome.failed:
            problems.append("expected the task to fail, but it succeeded")
        elif expect.failure is not None:
            said = "\n".join(filter(None, [outcome.error, outcome.stderr]))
            if expect.failure not in said:
                problems.append(f"expected the failure to mention {expect.failure!r}; stderr was:\n{_indent(said)}")
    elif outcome.failed:
        reason = outcome.error or f"exit code {outcome.exit_code}"
        problems.append(f"the task failed ({reason}); stderr:\n{_indent(outcome.stderr)}")
        hint = failure_hint(outcome.stderr)
        if hint is not None:
            problems.append(f"hint: {hint}")
    if expect.exit_code is not None and outcome.exit_code != expect.exit_code:
        problems.append(f"expected exit code {expect.exit_code}, got {outcome.exit_code}")
    if expect.has_data and not (expects_failure and outcome.failed and outcome.data is None):
        problem = compare_data(expect.data, outcome.data, expect.match, expect.tolerance, expect.rel_tolerance)
        if problem:
            problems.append(problem)
    streams = (("stdout", expect.stdout, outcome.stdout), ("stderr", expect.stderr, outcome.stderr))
    for stream, fragments, text in streams:
        for fragment in fragments:
            if fragment not in text:
                problems.append(f"{stream} does not contain {fragment!r}; it was:\n{_indent(text)}")
    for guest, spec in expect.result_files.items():
        if guest not in outcome.files:
            problems.append(f"result file {guest} was not returned")
            continue
        problem = _compare_file(guest, spec, outcome.files[guest])
        if problem:
            problems.append(problem)
    return Verdict(passed=not problems, problems=problems)


def compare_data(expected: Any, actual: Any, match: str = "exact", tolerance: float = 0.0,
                 rel_tolerance: float = 0.0) -> Optional[str]:
    """None when ``actual`` matches ``expected``, else a readable diff."""
    if match == "partition":
        if _same_partition(expected, actual):
            return None
        return "data is not the expected partition (labels may be renamed, groups must agree):\n" + _diff(
            expected, actual
        )
    if _equal(expected, actual, tolerance, rel_tolerance):
        return None
    within = f" (within tolerance {tolerance:g}/{rel_tolerance:g})" if match == "approx" else ""
    return f"data differs{within}:\n" + _diff(expected, actual)


def _equal(expected: Any, actual: Any, tol: float, rel: float) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual if isinstance(expected, bool) and isinstance(actual, bool) else False
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        if tol == 0 and rel == 0:
            return expected == actual
        return math.isclose(float(expected), float(actual), rel_tol=rel, abs_tol=tol)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(_equal(e, a, tol, rel) for e, a in zip(expected, actual))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return set(expected) == set(actual) and all(_equal(expected[k], actual[k], tol, rel) for k in expected)
    return bool(expected == actual)


def _same_partition(expected: Any, actual: Any) -> bool:
    """True when two label lists group the items the same way (a bijection of labels)."""
    if not isinstance(expected, list) or not isinstance(actual, list) or len(expected) != len(actual):
        return False
    forward: Dict[str, str] = {}
    backward: Dict[str, str] = {}
    for e, a in zip(expected, actual):
        ek, ak = json.dumps(e, sort_keys=True), json.dumps(a, sort_keys=True)
        if forward.setdefault(ek, ak) != ak or backward.setdefault(ak, ek) != ek:
            return False
    return True


def _compare_file(guest: str, spec: FileExpectation, content: bytes) -> Optional[str]:
    if spec.sha256 is not None:
        digest = hashlib.sha256(content).hexdigest()
        return None if digest == spec.sha256 else f"result file {guest}: sha256 {digest}, expected {spec.sha256}"
    expected = spec.same_as.read_bytes() if spec.same_as is not None else (spec.text or "").encode("utf-8")
    if content == expected:
        return None
    try:
        lines = difflib.unified_diff(
            expected.decode("utf-8").splitlines(), content.decode("utf-8").splitlines(),
            "expected", "actual", lineterm="",
        )
        return f"result file {guest} differs:\n" + _indent("\n".join(lines))
    except UnicodeDecodeError:
        return f"result file {guest} differs ({len(content)} bytes, expected {len(expected)})"


def _diff(expected: Any, actual: Any) -> str:
    left = json.dumps(expected, indent=1, sort_keys=True).splitlines()
    right = json.dumps(actual, indent=1, sort_keys=True, default=repr).splitlines()
    return _indent("\n".join(difflib.unified_diff(left, right, "expected", "actual", lineterm="")))


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in (text or "(empty)").splitlines()) or prefix + "(empty)"


def select(cases: Sequence[Case], pattern: Optional[str]) -> List[Case]:
    """The cases whose name or file stem contains ``pattern`` (case-insensitive), like pytest -k."""
    if not pattern:
        return list(cases)
    needle = pattern.lower()
    return [c for c in cases if needle in c.name.lower() or needle in c.source.stem.lower()]
