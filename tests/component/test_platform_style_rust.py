"""A package in the style of the platform's own Rust packages (wasm-pack glue: one task per
worker, {body: {data}, stdout: "", stderr: ""}, failures as uncaught errors) runs unchanged
on the reference worker, under `motivus test` and on `motivus loopback` with both clients."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict

import pytest
from platform_packages import OUR_PYTHON, PLATFORM, fixture_project, motivus_test, run_driver, with_loopback
from reference_worker import check_ascii, run_reference

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "loaders"))
import helpers  # noqa: E402

STEM = "adder-0.0.1"


@pytest.fixture
def package(tmp_path: Path) -> Dict[str, Path]:
    """adder-0.0.1.wasm (tests/data/loaders/add.wat) + the wasm-pack-style loader."""
    helpers.need_node()
    directory = tmp_path / "pkg"
    directory.mkdir()
    (directory / f"{STEM}.wasm").write_bytes(helpers.wasm("add"))
    (directory / f"{STEM}.js").write_bytes((PLATFORM / "wasmpack_loader.js").read_bytes())
    return {"dir": directory, "wasm": directory / f"{STEM}.wasm", "js": directory / f"{STEM}.js"}


def test_the_reference_worker_runs_it_as_the_platform_does(package: Dict[str, Path]) -> None:
    check_ascii(package["js"])
    ok, bad, again = run_reference(package["js"], package["wasm"], [
        {"params": [2, 3]}, {"params": ["x", 1]}, {"params": [40, 2, "extra"]},
    ])
    assert ok["value"] == 5 and ok["exitCode"] is None and ok["stdout"] == ""
    # an uncaught error becomes the platform's failure shape
    assert bad["out"] == {} and bad["exitCode"] == 1 and "TypeError: main expects numbers" in bad["stderr"]
    assert bad["payload"]["stdout"] is None
    assert again["value"] == 42  # main.apply(null, params): the extra param is ignored


def test_motivus_test_runs_it_with_the_projects_fixtures(tmp_path: Path, package: Dict[str, Path]) -> None:
    cases = [
        {"name": f"adds {i}", "params": [i, 10], "expect": {"data": i + 10}} for i in range(4)
    ] + [{"name": "refuses text", "params": ["x", 1], "expect": {"failure": "main expects numbers"}}]
    project = fixture_project(tmp_path, "adder", "rust", cases)
    result = motivus_test(project, package["dir"])
    assert result.exit_code == 0, result.output
    assert "5 passed, 0 failed" in result.output
    assert not (project / "build").exists()  # --package: the project is not built

    # the zip the marketplace takes works too, and a wrong expectation fails the run
    import zipfile

    with zipfile.ZipFile(tmp_path / f"{STEM}.zip", "w") as archive:
        archive.write(package["wasm"], f"{STEM}.wasm")
        archive.write(package["js"], f"{STEM}.js")
    (project / "tests" / "fixtures" / "wrong.yml").write_text("params: [1, 1]\nexpect: {data: 3}\n")
    result = motivus_test(project, tmp_path / f"{STEM}.zip")
    assert result.exit_code == 1 and "5 passed, 1 failed" in result.output, result.output


def test_both_clients_run_it_on_loopback_task_after_task(
    tmp_path: Path, package: Dict[str, Path], motivus24: Path
) -> None:
    tasks = [{"wasm_path": str(package["wasm"]), "loader_path": str(package["js"]), "params": [i, 100]}
             for i in range(5)]
    tasks.insert(2, {"wasm_path": str(package["wasm"]), "loader_path": str(package["js"]), "params": ["x", 1]})

    def drive(url: str) -> Dict[str, list]:
        return {
            "ours": run_driver(OUR_PYTHON, tasks, tmp_path / "ours", url),
            "240": run_driver(motivus24 / "python", tasks, tmp_path / "240", url),
        }

    answers = with_loopback(drive)
    values = [{"value": 100 + i} for i in range(5)]
    # the published client resolves the failed task to {} (body.get("data", body))
    assert answers["240"] == values[:2] + [{"value": {}}] + values[2:]
    ours = answers["ours"]
    assert ours[:2] + ours[3:] == values
    assert ours[2]["error"] == "TaskFailedError" and "main expects numbers" in ours[2]["message"]
    # the 2.4.0 client wrote the failed task's stderr, base64-decoded, under .motivus/logs
    logs = sorted((tmp_path / "240" / ".motivus" / "logs").glob("*_stderr.log"))
    assert any(b"main expects numbers" in log.read_bytes() for log in logs)
