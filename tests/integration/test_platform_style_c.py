"""A C package in the style of the platform's emscripten adapter (one task per worker,
timestamped base64 output, result files as the body, no exitCode), built here with emcc
from tests/data/platform/, runs unchanged on the reference worker, under `motivus test`
and on `motivus loopback` with both clients, task after task."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict

import pytest
from platform_packages import OUR_PYTHON, PLATFORM, fixture_project, motivus_test, run_driver, with_loopback
from reference_worker import check_ascii, run_reference

pytestmark = pytest.mark.integration

STEM = "wordcount-1.0.0"
STAMP = re.compile(r"^\[\d{4}-\d\d-\d\dT[\d:.]+Z\] ", re.M)


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """wordcount-1.0.0.{wasm,js}: emcc's glue inside the adapter-style front half."""
    for tool in ("emcc", "node"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian packages 'emscripten', 'nodejs')")
    out = tmp_path_factory.mktemp("platform-c")
    glue = tmp_path_factory.mktemp("emcc") / "glue.js"
    env = dict(os.environ, NODE_PATH="/usr/share/nodejs")
    subprocess.run(
        ["emcc", "-O2", str(PLATFORM / "wordcount.c"), "-o", str(glue),
         "-sEXPORTED_RUNTIME_METHODS=FS,PATH", "-sFORCE_FILESYSTEM=1", "-sENVIRONMENT=node,worker"],
        check=True, env=env, capture_output=True, timeout=600,
    )
    loader = (PLATFORM / "emscripten_adapter.js").read_text() + glue.read_text() + "\n}\n"
    (out / f"{STEM}.js").write_text(loader)
    shutil.copy(glue.with_suffix(".wasm"), out / f"{STEM}.wasm")
    return {"dir": out, "js": out / f"{STEM}.js", "wasm": out / f"{STEM}.wasm"}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def task(label: str, text: str) -> Dict[str, object]:
    return {"arguments": [label], "preload_files": {"/input/text.txt": b64(text)}, "result_files": {"/count.txt": "c"}}


def test_the_reference_worker_runs_it_as_the_platform_does(package: Dict[str, Path]) -> None:
    check_ascii(package["js"])
    one, two, missing = run_reference(package["js"], package["wasm"], [
        task("one", "a b c\n"), task("two", "hello world\n"), {"arguments": ["none"]},
    ])
    assert one["value"] == {"/count.txt": b64("3\n")} and one["exitCode"] is None
    assert STAMP.sub("", one["stdout"]) == "one: 3 words\n" and STAMP.match(one["stdout"])
    assert two["value"] == {"/count.txt": b64("2\n")}
    # the program failed (exit 2) but this loader style posts no exitCode: only stderr says so
    assert missing["value"] == {} and missing["exitCode"] is None and "no /input/text.txt" in missing["stderr"]


def test_motivus_test_runs_it_with_the_projects_fixtures(tmp_path: Path, package: Dict[str, Path]) -> None:
    cases = [
        {"name": f"text {n}", "arguments": [f"t{n}"], "preload_files": {"/input/text.txt": f"text{n}.txt"},
         "result_files": ["/count.txt"],
         "expect": {"stdout": f"t{n}: {n} words", "result_files": {"/count.txt": f"{n}\n"}}}
        for n in (1, 2, 5)
    ] + [{"name": "no input", "expect": {"stderr": "no /input/text.txt"}}]
    project = fixture_project(tmp_path, "wordcount", "c", cases)
    for n in (1, 2, 5):
        (project / "tests" / "fixtures" / f"text{n}.txt").write_text(" ".join(["w"] * n) + "\n")
    result = motivus_test(project, package["dir"])
    assert result.exit_code == 0, result.output
    assert "4 passed, 0 failed" in result.output


def test_both_clients_run_it_on_loopback_task_after_task(
    tmp_path: Path, package: Dict[str, Path], motivus24: Path
) -> None:
    texts = ["one", "one two", "one two three", "x y z w"]
    for who in ("ours", "240"):
        (tmp_path / who).mkdir()
        for i, text in enumerate(texts):
            (tmp_path / who / f"in{i}.txt").write_text(text)
    tasks = [
        {"wasm_path": str(package["wasm"]), "loader_path": str(package["js"]), "arguments": [f"task{i}"],
         "preload_files": {"/input/text.txt": b64(text)}, "result_files": {"/count.txt": f"out/count{i}.txt"}}
        for i, text in enumerate(texts)
    ]

    def drive(url: str) -> Dict[str, list]:
        return {
            "ours": run_driver(OUR_PYTHON, tasks, tmp_path / "ours", url),
            "240": run_driver(motivus24 / "python", tasks, tmp_path / "240", url),
        }

    answers = with_loopback(drive)
    expected = [{"value": {"/count.txt": b64(f"{len(t.split())}\n")}} for t in texts]
    assert answers["ours"] == expected and answers["240"] == expected
    for who in ("ours", "240"):
        for i, text in enumerate(texts):
            assert (tmp_path / who / "out" / f"count{i}.txt").read_text() == f"{len(text.split())}\n"
    # the 2.4.0 client logged each task's stdout, base64-decoded, timestamps and all
    logs = sorted((tmp_path / "240" / ".motivus" / "logs").glob("*_stdout.log"))
    assert len(logs) == len(texts) and all(STAMP.match(log.read_text()) for log in logs)
