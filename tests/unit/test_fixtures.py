"""Fixture cases: loading (with refusals) and judging outcomes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from motivus_dev.errors import ConfigError
from motivus_dev.fixtures import Outcome, compare_data, judge, load_case_file, load_cases, select


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def ok(data=None, files=None, stdout="", stderr="") -> Outcome:
    return Outcome(data=data, files=files or {}, stdout=stdout, stderr=stderr, exit_code=0)


def test_loads_a_case_with_files(tmp_path: Path) -> None:
    (tmp_path / "points.txt").write_text("1 2\n")
    write(tmp_path, "a.yml", """
name: from a file
arguments: ["-k", "2"]
preload_files: {/input/points.txt: points.txt}
result_files: [/output/labels.txt]
timeout: 5
expect:
  stdout: "2 points"
  result_files:
    /output/extra.txt: {sha256: ABC}
""")
    (case,) = load_cases(tmp_path)
    assert case.name == "from a file" and case.arguments == ["-k", "2"] and case.timeout == 5.0
    assert case.preload_files == {"/input/points.txt": (tmp_path / "points.txt").resolve()}
    assert case.result_files == ["/output/labels.txt", "/output/extra.txt"]
    assert case.expect.result_files["/output/extra.txt"].sha256 == "abc"
    body = case.task_body()
    assert body.preload_files == {"/input/points.txt": "MSAyCg=="}
    assert body.result_files == {
        "/output/labels.txt": "/output/labels.txt",
        "/output/extra.txt": "/output/extra.txt",
    }


def test_several_cases_in_one_file_and_unique_names(tmp_path: Path) -> None:
    write(tmp_path, "many.yml", "cases:\n  - {params: [1], expect: {data: 1}}\n  - {params: [2], expect: {data: 2}}\n")
    cases = load_cases(tmp_path)
    assert [c.name for c in cases] == ["many[0]", "many[1]"]
    write(tmp_path, "dup.yml", "name: many[0]\nparams: []\nexpect: {data: 0}\n")
    with pytest.raises(ConfigError, match="unique"):
        load_cases(tmp_path)


@pytest.mark.parametrize("text, message", [
    ("params: 3\nexpect: {data: 1}\n", "'params' must be a list"),
    ("params: []\n", "'expect' is missing"),
    ("params: []\nexpect: {dat: 1}\n", "expect.dat' is not a known key"),
    ("param: []\nexpect: {data: 1}\n", "'param' is not a known key"),
    ("preload_files: {input.txt: a.txt}\nexpect: {data: 1}\n", "absolute guest path"),
    ("preload_files: {/a/../b: a.txt}\nexpect: {data: 1}\n", "absolute guest path"),
    ("preload_files: {/a: missing.txt}\nexpect: {data: 1}\n", "does not exist"),
    ("expect: {match: fuzzy}\n", "expect.match"),
    ("expect: {exit_code: one}\n", "expect.exit_code"),
    ("expect: [1\n", "invalid YAML at line"),
])
def test_refusals_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "case.yml", text)
    with pytest.raises(ConfigError) as info:
        load_case_file(path)
    assert message in str(info.value) and "case.yml" in str(info.value)


def test_missing_fixture_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_cases(tmp_path / "nope")


def test_exact_and_numeric_comparison() -> None:
    assert compare_data([0, 1], [0, 1]) is None
    assert compare_data([0, 1.0], [0, 1]) is None  # JSON numbers compare by value
    assert compare_data({"a": [1, 2]}, {"a": [1, 3]}) is not None
    assert compare_data(True, 1) is not None  # a bool is not a number here
    assert compare_data([1.0, 2.0], [1.0000001, 2.0], "approx", 1e-6) is None
    assert compare_data([1.0, 2.0], [1.1, 2.0], "approx", 1e-6) is not None
    assert compare_data([100.0], [101.0], "approx", 0, 0.02) is None


def test_partition_matching_is_label_permutation_invariant() -> None:
    assert compare_data([0, 0, 1, 2], [2, 2, 0, 1], "partition") is None
    assert compare_data([0, 0, 1, 1], [0, 1, 1, 1], "partition") is not None
    assert compare_data([0, 1], [0, 0], "partition") is not None  # two groups merged
    assert compare_data([0, 0], [0, 1], "partition") is not None  # one group split
    assert compare_data([0, 1], [0, 1, 1], "partition") is not None


def test_judge_reports_every_difference_readably(tmp_path: Path) -> None:
    write(tmp_path, "c.yml", """
params: []
expect:
  data: [0, 1]
  stdout: [done, "k = 2"]
  result_files: {/out/a.txt: "x\\ny\\n", /out/b.bin: {sha256: %s}}
""" % hashlib.sha256(b"bin").hexdigest())
    (case,) = load_cases(tmp_path)
    good = ok([0, 1], {"/out/a.txt": b"x\ny\n", "/out/b.bin": b"bin"}, stdout="done, k = 2")
    assert judge(case, good).passed
    bad = judge(case, ok([1, 1], {"/out/a.txt": b"x\nz\n"}, stdout="done"))
    assert not bad.passed
    text = "\n".join(bad.problems)
    assert "data differs" in text and "- 0," in text and "+ 1," in text
    assert "'k = 2'" in text and "-y" in text and "+z" in text and "/out/b.bin was not returned" in text


def test_judge_expected_failures(tmp_path: Path) -> None:
    write(tmp_path, "f.yml", "arguments: [-k, '0']\nexpect: {failure: 'must be positive', exit_code: 2}\n")
    (case,) = load_cases(tmp_path)
    failed = Outcome(data=None, files={}, stdout="", stderr="k must be positive", exit_code=2)
    assert judge(case, failed).passed
    assert "expected the task to fail" in judge(case, ok()).problems[0]
    wrong = Outcome(data=None, files={}, stdout="", stderr="segfault", exit_code=2)
    assert "must be positive" in judge(case, wrong).problems[0]


def test_judge_unexpected_failure_shows_stderr(tmp_path: Path) -> None:
    write(tmp_path, "u.yml", "params: []\nexpect: {data: 1}\n")
    (case,) = load_cases(tmp_path)
    outcome = Outcome(data=None, files={}, stdout="", stderr="panicked at 'boom'", exit_code=1)
    verdict = judge(case, outcome)
    assert not verdict.passed and "panicked at 'boom'" in verdict.problems[0]
    timed_out = Outcome(data=None, files={}, stdout="", stderr="", exit_code=1, error="deadline of 5 s exceeded")
    assert "deadline" in judge(case, timed_out).problems[0]


def test_select_like_pytest_k(tmp_path: Path) -> None:
    write(tmp_path, "alpha.yml", "name: first case\nexpect: {data: 1}\n")
    write(tmp_path, "beta.yml", "name: second\nexpect: {data: 1}\n")
    cases = load_cases(tmp_path)
    assert [c.name for c in select(cases, "FIRST")] == ["first case"]
    assert [c.name for c in select(cases, "beta")] == ["second"]
    assert len(select(cases, None)) == 2


def test_what_engines_write_differently_is_not_a_difference() -> None:
    """A trap's wording and the JS stack console_error_panic_hook prints (V8's and
    SpiderMonkey's, with the extra newline the latter ends its stack with)."""
    from motivus_dev.testing import engine_neutral

    v8 = "panicked at src/lib.rs:3:5:\nboom\n\nStack:\n\nError\n    at f (x.js:1:2)\n\n\nRuntimeError: unreachable\n"
    spidermonkey = ("panicked at src/lib.rs:3:5:\nboom\n\nStack:\n\nf@x.js:1:2\n\n\n\n"
                    "RuntimeError: unreachable executed\n")
    assert engine_neutral(v8) == engine_neutral(spidermonkey)
    assert engine_neutral(v8.replace("boom", "bang")) != engine_neutral(spidermonkey)
    assert engine_neutral("plain stderr\n") == "plain stderr\n"
