"""`motivus test` and `motivus loopback` from the command line, on packages built from the
templates; the seed's driver runs unchanged against loopback."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set

import httpx
import pytest
from click.testing import CliRunner
from kmeans_data import SEED_LABELS

from motivus_dev.cli import main

pytestmark = pytest.mark.integration

MOTIVUS = [sys.executable, "-m", "motivus_dev"]


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    parent = tmp_path_factory.mktemp("run")
    made = {}
    for lang in ("rust", "c"):
        result = CliRunner().invoke(main, ["-C", str(parent), "new", f"km{lang}", "--lang", lang, "--defaults"])
        assert result.exit_code == 0, result.output
        where = "docker" if lang == "rust" else "host"  # a Debian 12 host's rustc is too old
        result = CliRunner().invoke(main, ["-C", str(parent / f"km{lang}"), "build", "--toolchain", where])
        assert result.exit_code == 0, result.output
        made[lang] = parent / f"km{lang}"
    return made


def test_motivus_test_passes_the_template_fixtures_and_writes_junit(projects: Dict[str, Path], tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    result = CliRunner().invoke(main, ["-C", str(projects["c"]), "test", "--junit-xml", str(report)])
    assert result.exit_code == 0, result.output
    assert "4 passed, 0 failed" in result.output
    for name in ("points from a preloaded file", "points from params", "rejects k = 0"):
        assert name in result.output
    xml = report.read_text()
    assert 'tests="4"' in xml and 'failures="0"' in xml and "10 points, 5 dimensions" in xml


def test_motivus_test_selects_with_k(projects: Dict[str, Path]) -> None:
    result = CliRunner().invoke(main, ["-C", str(projects["rust"]), "test", "-k", "seed"])
    assert result.exit_code == 0 and "1 passed, 0 failed" in result.output
    result = CliRunner().invoke(main, ["-C", str(projects["rust"]), "test", "-k", "nothing-like-this"])
    assert result.exit_code == 3 and "matches -k" in result.output


def test_a_failing_case_shows_a_diff_and_exits_1(projects: Dict[str, Path]) -> None:
    fixtures = projects["rust"] / "tests" / "fixtures"
    wrong = fixtures / "wrong.yml"
    wrong.write_text("name: deliberately wrong\nparams: [[[0.0], [1.0], [50.0]], 2]\nexpect: {data: [0, 1, 1]}\n")
    try:
        result = CliRunner().invoke(main, ["-C", str(projects["rust"]), "test"])
    finally:
        wrong.unlink()
    assert result.exit_code == 1
    assert "FAILED deliberately wrong" in result.output and "data differs" in result.output
    assert "- 1" in result.output and "+ 0" in result.output
    assert "3 passed, 1 failed" in result.output


def test_motivus_test_from_inside_the_project(projects: Dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """No -C: the project is `.`; the package's data zip is still read (by its real path,
    the only directory `motivus test` lets a task's data_link name)."""
    monkeypatch.chdir(projects["c"])
    result = CliRunner().invoke(main, ["test"])
    assert result.exit_code == 0, result.output


def test_motivus_test_rebuilds_a_stale_package(projects: Dict[str, Path]) -> None:
    project = projects["c"]
    main_c = project / "src" / "main.c"
    original = main_c.read_text()
    main_c.write_text(original.replace('"kmeans: %zu points, ', '"kmeans (rebuilt): %zu points; '))
    try:
        result = CliRunner().invoke(main, ["-C", str(project), "test", "--toolchain", "host", "-k", "preloaded"])
        assert result.exit_code == 1  # the fixture expects the old stdout: proves the new build ran
        assert "kmeans (rebuilt): 10 points;" in result.output
    finally:
        main_c.write_text(original)
        CliRunner().invoke(main, ["-C", str(project), "build", "--toolchain", "host"])


def _pool_processes() -> Set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"pool.js" in (entry / "cmdline").read_bytes():
                    found.add(int(entry.name))
            except OSError:
                pass
    return found


@pytest.fixture
def loopback_process(projects: Dict[str, Path]) -> Iterator[subprocess.Popen]:
    before = _pool_processes()
    proc = subprocess.Popen(
        # the C driver's data_link is in the C project: the loopback reads local files only
        # under the directories it is given (its working directory by default)
        [*MOTIVUS, "loopback", "--port", "0", "--workers", "2",
         "--data-dir", str(projects["rust"]), "--data-dir", str(projects["c"])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=projects["rust"],
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        leftover = _pool_processes() - before
        for pid in leftover:
            os.kill(pid, signal.SIGKILL)
        assert not leftover, f"node pool processes left behind: {leftover}"


def test_loopback_serves_the_seed_driver_and_stops_cleanly(
    projects: Dict[str, Path], loopback_process: subprocess.Popen
) -> None:
    assert loopback_process.stdout is not None
    line = loopback_process.stdout.readline()
    match = re.match(r"export WEBSOCKET_URI=(ws://localhost:(\d+)/client_socket/websocket)$", line.strip())
    assert match, line
    uri, port = match.group(1), match.group(2)
    assert httpx.get(f"http://localhost:{port}/healthz").status_code == 200

    env = {**os.environ, "WEBSOCKET_URI": uri}
    driver = subprocess.run([sys.executable, "driver.py"], cwd=projects["rust"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert driver.returncode == 0, driver.stderr
    assert driver.stdout.strip().splitlines()[0] == str(SEED_LABELS)

    c_driver = subprocess.run([sys.executable, "driver.py"], cwd=projects["c"], env=env,
                              capture_output=True, text=True, timeout=120)
    assert c_driver.returncode == 0, c_driver.stderr
    assert (projects["c"] / "results" / "labels.txt").read_text().split() == [str(x) for x in SEED_LABELS]

    loopback_process.send_signal(signal.SIGINT)
    started = time.monotonic()
    assert loopback_process.wait(timeout=20) == 0
    assert time.monotonic() - started < 20
    assert "loopback stopped" in (loopback_process.stderr.read() if loopback_process.stderr else "")


def test_the_seed_drivers_run_unchanged_on_a_dask_cluster(projects: Dict[str, Path]) -> None:
    """The templates' packages on `--cluster local:2` (Dask worker processes, the plugin's
    pools): the same labels as on the local pool (the test above); the C driver's local
    data_link travels to the workers with its tasks."""
    proc = subprocess.Popen(
        [*MOTIVUS, "loopback", "--port", "0", "--cluster", "local:2",
         "--data-dir", str(projects["rust"]), "--data-dir", str(projects["c"])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=projects["rust"],
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.match(r"export WEBSOCKET_URI=(\S+)$", line.strip())
        assert match, line
        env = {**os.environ, "WEBSOCKET_URI": match.group(1)}
        driver = subprocess.run([sys.executable, "driver.py"], cwd=projects["rust"], env=env,
                                capture_output=True, text=True, timeout=180)
        assert driver.returncode == 0, driver.stderr
        assert driver.stdout.strip().splitlines()[0] == str(SEED_LABELS)
        (projects["c"] / "results" / "labels.txt").unlink(missing_ok=True)
        c_driver = subprocess.run([sys.executable, "driver.py"], cwd=projects["c"], env=env,
                                  capture_output=True, text=True, timeout=180)
        assert c_driver.returncode == 0, c_driver.stderr
        assert (projects["c"] / "results" / "labels.txt").read_text().split() == [str(x) for x in SEED_LABELS]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


PANICKING_DRIVER = """
import asyncio, sys
from motivus.client import Client
from motivus_dev.client import TaskFailedError

async def main():
    motivus = await Client.connect()
    task = motivus.call_async({"wasm_path": "build/kmrust-0.0.1.wasm", "loader_path": "build/kmrust-0.0.1.js",
                               "params": [[["x" * 5000]], 2]})
    try:
        await motivus.select_task(task)
    except TaskFailedError as exc:
        print(str(exc))
        print("task exit code", exc.task_exit_code)

asyncio.run(main())
"""


def test_a_long_panic_keeps_its_location_in_the_driver_and_the_loopback_log(
    projects: Dict[str, Path], loopback_process: subprocess.Popen
) -> None:
    """The template's main panics on a point that is not numbers; serde's message quotes the
    5,000-character input, and the panic's location came first: keeping only the last 2,000
    characters of stderr cut it off."""
    assert loopback_process.stdout is not None
    uri = loopback_process.stdout.readline().strip().split("=", 1)[1]
    driver = subprocess.run([sys.executable, "-c", PANICKING_DRIVER], cwd=projects["rust"],
                            env={**os.environ, "WEBSOCKET_URI": uri}, capture_output=True, text=True, timeout=120)
    assert driver.returncode == 0, driver.stderr
    said = driver.stdout
    assert re.search(r"panicked at src/lib\.rs:\d+:\d+:", said), said
    assert "params[0] must be a list of points, each a list of numbers" in said and "invalid type: string" in said
    assert "task exit code 1" in said and len(said) < 4000
    loopback_process.send_signal(signal.SIGINT)
    assert loopback_process.wait(timeout=20) == 0
    log = loopback_process.stderr.read() if loopback_process.stderr else ""
    assert re.search(r"failed .*: panicked at src/lib\.rs:\d+:\d+: params\[0\] must be a list of points", log), log


WRITES_LABELS = 'fprintf(out, i ? ", %d" : "%d", labels[i]);'
WRITES_ZEROS = 'fprintf(out, i ? ", %d" : "%d", 0);'


def _lines_until(stream: Any, wanted: str, seen: List[str], timeout: float = 120) -> None:
    """Read ``stream`` (a process's output) into ``seen`` until a line holds ``wanted``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line.rstrip())
        if wanted in line:
            return
    raise AssertionError(f"no line with {wanted!r}:\n" + "\n".join(seen))


def test_test_watch_reruns_the_cases_when_a_source_is_saved(projects: Dict[str, Path], tmp_path: Path) -> None:
    project = tmp_path / "watched"
    shutil.copytree(projects["c"], project, ignore=shutil.ignore_patterns(".motivus", "build"))
    proc = subprocess.Popen([*MOTIVUS, "-C", str(project), "test", "--watch", "--toolchain", "host"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: List[str] = []
    try:
        _lines_until(proc.stdout, "watching for changes", seen)
        assert any(line.endswith(" passed, 0 failed") for line in seen), seen
        main_c = project / "src" / "main.c"
        main_c.write_text(main_c.read_text().replace(WRITES_LABELS, WRITES_ZEROS))
        _lines_until(proc.stdout, "watching for changes", seen)
        after = seen[seen.index(next(line for line in seen if line.startswith("changed:"))):]
        assert after[0] == "changed: src/main.c"
        assert any(re.fullmatch(r"\d+ passed, [1-9]\d* failed", line) for line in after), after
        assert any("FAILED points from params" in line for line in after), after
        (project / "README.md").write_text("not an input\n")  # no cycle for it
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "stopped watching" in rest and "changed:" not in rest, rest


def test_loopback_watch_serves_the_rebuilt_package_to_the_next_task(
        projects: Dict[str, Path], tmp_path: Path) -> None:
    project = tmp_path / "served"
    shutil.copytree(projects["c"], project, ignore=shutil.ignore_patterns(".motivus", "build", "results"))
    proc = subprocess.Popen([*MOTIVUS, "-C", str(project), "loopback", "--watch", "--port", "0", "--workers", "1",
                             "--data-dir", str(project)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        uri = proc.stdout.readline().strip().split("=", 1)[1]
        seen: List[str] = []
        _lines_until(proc.stderr, "rebuilt ", seen)  # the log is on stderr
        env = {**os.environ, "WEBSOCKET_URI": uri}

        def labels() -> str:
            driver = subprocess.run([sys.executable, "driver.py"], cwd=project, env=env, capture_output=True,
                                    text=True, timeout=120)
            assert driver.returncode == 0, driver.stderr
            return driver.stdout.strip().splitlines()[0]

        assert labels() == str(SEED_LABELS)
        main_c = project / "src" / "main.c"
        main_c.write_text(main_c.read_text().replace(WRITES_LABELS, WRITES_ZEROS))
        _lines_until(proc.stderr, "the next task gets it", seen)
        assert labels() == str([0] * len(SEED_LABELS))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_driver_without_loopback_gets_a_clear_error(projects: Dict[str, Path]) -> None:
    env = {**os.environ, "WEBSOCKET_URI": "ws://127.0.0.1:9/client_socket/websocket"}
    driver = subprocess.run([sys.executable, "driver.py"], cwd=projects["rust"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert driver.returncode != 0
    assert "ws://127.0.0.1:9/client_socket/websocket" in driver.stderr and "motivus loopback" in driver.stderr


@pytest.mark.parametrize("lang", ["rust", "c"])
def test_motivus_test_in_every_browser_agrees_with_node(projects: Dict[str, Path], tmp_path: Path, lang: str) -> None:
    """--browser all: node, headless Chromium and Firefox ESR, the same table and verdicts,
    and a line saying they agree; a JUnit report names each case per runner."""
    from motivus_dev.browser import find_browsers

    missing = {"chromium", "firefox"} - set(find_browsers())
    if missing:
        pytest.skip(f"browsers missing: {', '.join(sorted(missing))} (apt-get install chromium firefox-esr)")
    report = tmp_path / "junit.xml"
    args = ["-C", str(projects[lang]), "test", "--browser", "all", "--junit-xml", str(report)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    cases = 3 if lang == "rust" else 4
    assert f"{3 * cases} passed, 0 failed" in result.output
    assert "node and chromium, firefox agree on every case" in result.output
    assert "[firefox]" in report.read_text() and "[chromium]" in report.read_text()


def test_motivus_test_in_a_browser_fails_a_wrong_case_as_node_does(projects: Dict[str, Path]) -> None:
    from motivus_dev.browser import find_browser

    if find_browser("firefox") is None:
        pytest.skip("firefox is missing (apt-get install firefox-esr)")
    wrong = projects["rust"] / "tests" / "fixtures" / "wrong-in-browser.yml"
    wrong.write_text("params: [[[0.0, 0.0], [9.0, 9.0]], 2]\nexpect: {data: [0, 0]}\n")
    try:
        result = CliRunner().invoke(main, ["-C", str(projects["rust"]), "test", "--browser", "firefox"])
    finally:
        wrong.unlink()
    assert result.exit_code == 1, result.output
    assert "FAILED wrong-in-browser" in result.output and "1 failed" in result.output
