"""Reading a V8 ``.cpuprofile`` for `motivus profile`'s summary (flamegraph.self_times) and
the page that opens it (write_page, with a stand-in for speedscope's files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from motivus_dev import flamegraph
from motivus_dev.flamegraph import self_times, write_page


def frame(name: str, url: str = "") -> dict:
    return {"functionName": name, "url": url, "scriptId": "1", "lineNumber": 0, "columnNumber": 0}


#: (root) -> js main -> wasm main -> kernel; wasm main -> parse; (root) -> (garbage collector)
PROFILE = {
    "nodes": [
        {"id": 1, "callFrame": frame("(root)"), "children": [2, 6]},
        {"id": 2, "callFrame": frame("main", "file:///loader.js"), "children": [3]},
        {"id": 3, "callFrame": frame("main", "wasm://wasm/abc"), "children": [4, 5]},
        {"id": 4, "callFrame": frame("kernel", "wasm://wasm/abc"), "children": []},
        {"id": 5, "callFrame": frame("serde_json::parse", "wasm://wasm/abc"), "children": []},
        {"id": 6, "callFrame": frame("(garbage collector)"), "children": []},
    ],
    "startTime": 0,
    "endTime": 10_000,
    # each sample's weight is the gap to the next one (microseconds)
    "samples": [4, 4, 4, 5, 3, 6, 4],
    "timeDeltas": [0, 1000, 1000, 1000, 1000, 1000, 1000],
}


def test_self_and_total_time_per_function_hottest_first() -> None:
    found = {(f.name, f.wasm): f for f in self_times(PROFILE)}
    kernel = found[("kernel", True)]
    assert (kernel.self_ms, kernel.total_ms) == (3.0, 3.0)  # the last sample has no gap after it
    assert found[("main", True)].self_ms == 1.0 and found[("main", True)].total_ms == 5.0
    assert found[("main", False)].self_ms == 0.0 and found[("main", False)].total_ms == 5.0
    assert found[("serde_json::parse", True)].self_ms == 1.0
    assert ("(garbage collector)", False) not in found and ("(root)", False) not in found
    assert self_times(PROFILE)[0].name == "kernel"


def test_a_recursive_function_counts_each_sample_once() -> None:
    recursive = {
        "nodes": [
            {"id": 1, "callFrame": frame("(root)"), "children": [2]},
            {"id": 2, "callFrame": frame("walk", "wasm://wasm/x"), "children": [3]},
            {"id": 3, "callFrame": frame("walk", "wasm://wasm/x"), "children": []},
        ],
        "samples": [3, 3], "timeDeltas": [0, 2000],
    }
    (walk,) = self_times(recursive)
    assert walk.total_ms == 2.0 and walk.self_ms == 2.0


def test_the_page_opens_the_profile_in_speedscope(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    viewer = tmp_path / "viewer"
    viewer.mkdir()
    (viewer / "index.html").write_text("<html>speedscope</html>")
    monkeypatch.setattr(flamegraph, "speedscope_dir", lambda: viewer)
    written = write_page(PROFILE, tmp_path / "out", "three <clusters>")
    assert json.loads(written["cpuprofile"].read_text()) == PROFILE
    script = written["script"].read_text()
    assert script.startswith('speedscope.loadFileFromBase64("three <clusters>.cpuprofile", "')
    page = written["page"].read_text()
    assert "three &lt;clusters&gt;" in page and "<clusters>" not in page
    assert '"speedscope/index.html"' in page and "view=left-heavy" in page
    assert (tmp_path / "out" / "speedscope" / "index.html").is_file()
