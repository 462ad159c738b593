"""`motivus loopback --cluster` with real Dask processes on 127.0.0.1: a `dask scheduler`
and `dask worker` processes (plain ones: the loopback registers what they need), drivers
connected to the loopback as usual. Results equal the local pool's; a worker SIGKILLed
mid-run loses and doubles nothing; a driver that leaves stops its tasks across the cluster;
the scheduler stopped and restarted; the CLI."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Iterator, List, Optional, TypeVar

import httpx
import pytest
from backends import free_port

from motivus_dev.client import Client, TaskFailedError
from motivus_dev.cluster.pool import ClusterPool
from motivus_dev.loopback.server import LoopbackServer
from motivus_dev.runtime.pool import WorkerPool

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "loaders"))
import helpers  # noqa: E402

T = TypeVar("T")
DASK = str(Path(sys.executable).parent / "dask")
#: A spin of this many iterations takes about a second here.
SECOND = 600_000_000


class DaskProcesses:
    """A `dask scheduler` and `dask worker` processes (no nanny: a SIGKILL ends the worker)."""

    def __init__(self, workers: int, log_dir: Path) -> None:
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.scheduler: Optional[subprocess.Popen] = None
        self.workers: List[subprocess.Popen] = []
        self.start_scheduler()
        for _ in range(workers):
            self.add_worker()

    def _spawn(self, name: str, argv: List[str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def start_scheduler(self) -> None:
        self.scheduler = self._spawn("scheduler", [DASK, "scheduler", "--host", "127.0.0.1", "--port",
                                                   str(self.port), "--dashboard-address", "127.0.0.1:0"])

    def add_worker(self) -> subprocess.Popen:
        proc = self._spawn(f"worker-{len(self.workers)}", [DASK, "worker", self.address, "--nthreads", "1",
                                                           "--no-nanny", "--host", "127.0.0.1"])
        self.workers.append(proc)
        return proc

    def alive_workers(self) -> List[subprocess.Popen]:
        return [w for w in self.workers if w.poll() is None]

    def stop_scheduler(self) -> None:
        assert self.scheduler is not None
        self.scheduler.kill()
        self.scheduler.wait(10)

    def stop(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.scheduler]:
            if proc is None:
                continue
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.fixture()
def dask_cluster(tmp_path: Path) -> Iterator[DaskProcesses]:
    helpers.need_node()
    cluster = DaskProcesses(2, tmp_path)
    try:
        yield cluster
    finally:
        cluster.stop()


def on_cluster(address: str, fn: Callable[[LoopbackServer, ClusterPool], Awaitable[T]], timeout: float = 60.0,
               workers: int = 2, max_in_flight: Optional[int] = None) -> T:
    async def main() -> T:
        pool = ClusterPool(address, timeout, 512, max_in_flight=max_in_flight)
        deadline = time.monotonic() + 60
        await pool.start()
        while len(pool.stats().workers) < workers:  # the workers join in their own time
            assert time.monotonic() < deadline, "the Dask workers did not join"
            await asyncio.sleep(0.2)
        server = LoopbackServer(pool, "127.0.0.1", 0)
        await server.start()
        try:
            return await fn(server, pool)
        finally:
            await server.close()

    return asyncio.run(main())


def tasks(tmp_path: Path) -> List[Dict[str, Any]]:
    """Tasks of every kind of input: params, preload and result files, a local data_link."""
    add = helpers.write_package("add", tmp_path / "pkg")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("in/from-zip.txt", "zipped")
    data = tmp_path / "data.zip"
    data.write_bytes(buffer.getvalue())
    made: List[Dict[str, Any]] = [dict(add, params=[i, 100]) for i in range(20)]
    made.append(dict(add, params=[1, 2], preload_files={"/in/f.txt": base64.b64encode(b"preloaded").decode()},
                     result_files={"/out/f.txt": str(tmp_path / "out" / "{}" / "f.txt")}))
    made.append(dict(add, params=[3, 4], data_link=str(data),
                     result_files={"/out/from-zip.txt": str(tmp_path / "out" / "{}" / "z.txt")}))
    return made


async def run_all(url: str, bodies: List[Dict[str, Any]], tag: str) -> List[Any]:
    client = await Client.connect(url, "t")
    try:
        prepared = []
        for body in bodies:
            body = dict(body)
            if "result_files" in body:
                body["result_files"] = {k: v.replace("{}", tag) for k, v in body["result_files"].items()}
            prepared.append(body)
        return list(await client.barrier([client.call_async(b) for b in prepared]))
    finally:
        await client.close()


def test_results_equal_the_local_pools_and_packages_travel_once(
    dask_cluster: DaskProcesses, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # local data_links are read under the working directory
    bodies = tasks(tmp_path)

    async def local() -> List[Any]:
        pool = WorkerPool(2, 60.0, 512, data_dirs=[tmp_path])
        await pool.start()
        server = LoopbackServer(pool, "127.0.0.1", 0)
        await server.start()
        try:
            return await run_all(server.url, bodies, "local")
        finally:
            await server.close()

    expected = asyncio.run(local())

    async def go(server: LoopbackServer, pool: ClusterPool) -> Dict[str, Any]:
        got = await run_all(server.url, bodies, "cluster")
        assert got == expected
        more = [dict(bodies[0], params=[i, 1]) for i in range(200)]
        assert await run_all(server.url, more, "more") == [i + 1 for i in range(200)]
        stats = server.stats().pool
        assert stats.cluster is not None and stats.cluster.workers == 2
        assert sum(stats.cluster.done_by_worker.values()) == len(bodies) + 200
        assert all(count > 0 for count in stats.cluster.done_by_worker.values())  # both workers worked
        return await pool.worker_facts()

    facts = on_cluster(dask_cluster.address, go)
    for out in ("f.txt", "z.txt"):
        assert (tmp_path / "out" / "cluster" / out).read_bytes() == (tmp_path / "out" / "local" / out).read_bytes()
    assert (tmp_path / "out" / "cluster" / "z.txt").read_text() == "zipped"
    # 222 tasks of one package: each worker got it once, and holds it once.
    for address, fact in facts.items():
        assert fact["package_arrivals"] == 1, (address, fact)
        assert sum(key.startswith("motivus-package-") for key in fact["held"]) == 1


def test_a_worker_killed_mid_run_loses_nothing_and_doubles_nothing(
    dask_cluster: DaskProcesses, tmp_path: Path
) -> None:
    dask_cluster.add_worker()
    spin = helpers.write_package("spin", tmp_path / "pkg")
    bodies = [dict(spin, params=[SECOND // 2, i]) for i in range(12)]

    async def go(server: LoopbackServer, pool: ClusterPool) -> None:
        client = await Client.connect(server.url, "t")
        try:
            ids = [client.call_async(b) for b in bodies]
            deadline = time.monotonic() + 30
            while server.stats().pool.done < 2:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            victim = dask_cluster.alive_workers()[0]
            victim.send_signal(signal.SIGKILL)  # mid-run: every worker is busy
            victim.wait(10)
            results = list(await asyncio.wait_for(client.barrier(ids), 120))
        finally:
            await client.close()
        assert results == list(range(12))  # each task's one result, in order
        stats = server.stats()
        assert stats.pool.done == 12 and stats.pool.failed == 0 and stats.tasks_received == 12

    on_cluster(dask_cluster.address, go, workers=3)


def test_a_driver_that_leaves_stops_its_tasks_across_the_cluster(dask_cluster: DaskProcesses, tmp_path: Path) -> None:
    loop = helpers.write_package("loop", tmp_path / "pkg")
    add = helpers.write_package("add", tmp_path / "pkg")

    async def go(server: LoopbackServer, pool: ClusterPool) -> None:
        leaving = await Client.connect(server.url, "t")
        for _ in range(6):  # two run (one per worker), four wait
            leaving.call_async(dict(loop))
        deadline = time.monotonic() + 30
        while server.stats().pool.running < 6:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the guests spin
        spinning = await pool.worker_facts()  # the node processes running the two guests
        assert all(len(fact["pids"]) == 1 for fact in spinning.values()), spinning
        await leaving.close()
        left = time.monotonic()
        # Within a second or so, each worker's guest process is killed.
        while True:
            now = await pool.worker_facts()
            if all(set(now[a]["pids"]).isdisjoint(spinning[a]["pids"]) for a in now):
                break
            assert time.monotonic() - left < 3, (spinning, now)
            await asyncio.sleep(0.1)
        assert server.stats().tasks_dropped == 6
        staying = await Client.connect(server.url, "t")
        started = time.monotonic()
        assert await staying.select_task(staying.call_async(dict(add, params=[4, 5]))) == 9
        assert time.monotonic() - started < 10  # no 60 s guest holds a worker
        await staying.close()

    on_cluster(dask_cluster.address, go)


def test_deadlines_hold_on_the_workers(dask_cluster: DaskProcesses, tmp_path: Path) -> None:
    loop = helpers.write_package("loop", tmp_path / "pkg")

    async def go(server: LoopbackServer, pool: ClusterPool) -> None:
        client = await Client.connect(server.url, "t")
        with pytest.raises(TaskFailedError) as info:
            await client.select_task(client.call_async(dict(loop)))
        assert "deadline exceeded" in info.value.stderr
        await client.close()

    on_cluster(dask_cluster.address, go, timeout=1.0)


def test_the_scheduler_stopped_and_restarted(dask_cluster: DaskProcesses, tmp_path: Path) -> None:
    add = helpers.write_package("add", tmp_path / "pkg")

    async def go(server: LoopbackServer, pool: ClusterPool) -> None:
        client = await Client.connect(server.url, "t")
        assert await client.select_task(client.call_async(dict(add, params=[1, 1]))) == 2
        dask_cluster.stop_scheduler()
        deadline = time.monotonic() + 30
        while pool.stats().cluster.connected:  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the loss of the scheduler went unnoticed"
            await asyncio.sleep(0.1)
        with pytest.raises(TaskFailedError) as info:
            await client.select_task(client.call_async(dict(add, params=[2, 2])))
        assert f"the Dask scheduler at {dask_cluster.address} is unreachable" in info.value.stderr
        async with httpx.AsyncClient() as http:  # the loopback serves on
            assert (await http.get(f"http://127.0.0.1:{server.port}/healthz")).status_code == 200
        dask_cluster.start_scheduler()
        for proc in dask_cluster.workers:  # Dask workers end with their scheduler: start others
            proc.wait(30)
        dask_cluster.add_worker()
        while not (pool.stats().cluster.connected and pool.stats().workers):  # type: ignore[union-attr]
            assert time.monotonic() < deadline + 60, "the loopback did not reconnect"
            await asyncio.sleep(0.2)
        assert await client.select_task(client.call_async(dict(add, params=[3, 3]))) == 6
        await client.close()

    on_cluster(dask_cluster.address, go)


def test_motivus_loopback_cluster_local_from_the_cli(tmp_path: Path) -> None:
    """--cluster local:2 starts and stops its own Dask processes; --json stats name the cluster."""
    helpers.need_node()
    add = helpers.write_package("add", tmp_path / "pkg")
    proc = subprocess.Popen(
        [sys.executable, "-m", "motivus_dev", "loopback", "--port", "0", "--cluster", "local:2", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.match(r"export WEBSOCKET_URI=(\S+)$", first.strip())
        assert match, first
        url = match.group(1)

        async def drive() -> List[Any]:
            return await run_all(url, [dict(add, params=[i, 2]) for i in range(10)], "cli")

        assert asyncio.run(drive()) == [i + 2 for i in range(10)]
        stats: Dict[str, Any] = {}
        deadline = time.monotonic() + 20
        while stats.get("done") != 10:
            assert time.monotonic() < deadline, stats
            stats = json.loads(proc.stdout.readline())
        assert stats["cluster"]["workers"] == 2 and stats["cluster"]["connected"] is True
        assert stats["cluster"]["dashboard"].startswith("http://127.0.0.1:")
        assert sum(stats["cluster"]["done_by_worker"].values()) == 10
        worker_pids = _dask_worker_pids(proc.pid)
        assert len(worker_pids) >= 2
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        assert proc.stderr is not None
        err = proc.stderr.read()
        assert "dashboard http://127.0.0.1:" in err and "loopback stopped" in err
        # What it started, it stopped: its descendants end with it (the resource tracker of
        # multiprocessing a few milliseconds after, when it sees its pipe closed).
        deadline = time.monotonic() + 10
        left = [pid for pid in worker_pids if _running(pid)]
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = [pid for pid in left if _running(pid)]
        assert left == [], [Path(f"/proc/{pid}/cmdline").read_bytes()[:120] for pid in left]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _running(pid: int) -> bool:
    """Alive and not a zombie (an ended process that a container's init has not reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, IndexError):
        return False


def _dask_worker_pids(parent: int) -> List[int]:
    """The descendants of ``parent`` (the local cluster's worker processes and their node)."""
    found: List[int] = []
    frontier = [parent]
    while frontier:
        current = frontier.pop()
        for children in Path(f"/proc/{current}/task").glob("*/children"):  # of every thread
            for pid in children.read_text().split():
                found.append(int(pid))
                frontier.append(int(pid))
    return found


@pytest.mark.parametrize(
    "args,message",
    [
        (["--cluster", "nonsense"], "invalid --cluster 'nonsense'"),
        (["--cluster", "local:0"], "invalid --cluster 'local:0'"),
        (["--cluster", "local:2", "--workers", "2"], "--workers sizes the local pool"),
        (["--cluster", "local:2", "--insecure-no-sandbox"], "--insecure-no-sandbox is for the local pool"),
        (["--cluster", "tcp://127.0.0.1:9"], "cannot reach the Dask scheduler at tcp://127.0.0.1:9"),
    ],
)
def test_cluster_mistakes_are_one_clear_error(tmp_path: Path, args: List[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "motivus_dev", "loopback", "--port", "0", *args],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert message in done.stderr


def test_motivus_cluster_worker_checks_the_sandbox_and_joins(dask_cluster: DaskProcesses, tmp_path: Path) -> None:
    add = helpers.write_package("add", tmp_path / "pkg")
    joined = subprocess.Popen(
        [sys.executable, "-m", "motivus_dev", "cluster", "worker", dask_cluster.address, "--name", "kit-joined"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert joined.stdout is not None
        assert "the sandbox works here; joining" in joined.stdout.readline()

        async def go(server: LoopbackServer, pool: ClusterPool) -> None:
            assert len(pool.stats().workers) == 3
            assert await run_all(server.url, [dict(add, params=[i, 0]) for i in range(30)], "j") == list(range(30))

        on_cluster(dask_cluster.address, go, workers=3)
    finally:
        joined.send_signal(signal.SIGTERM)
        joined.wait(30)
    assert os.environ.get("MOTIVUS_CLUSTER") is None


def test_without_cluster_nothing_of_dask_is_loaded() -> None:
    code = (
        "import sys\nfrom motivus_dev.cli import main\nimport motivus_dev.loopback.server, motivus_dev.ui\n"
        "try:\n    main(['loopback', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('distributed', 'dask')"
        " or m.startswith('motivus_dev.cluster')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_task_code_on_a_worker_cannot_reach_the_scheduler_or_the_worker(
    dask_cluster: DaskProcesses, tmp_path: Path
) -> None:
    """The scheduler runs what its clients submit: a guest on a Dask worker must not become
    one. Its sandbox has no network, and the worker process is not in its PID namespace."""
    attacker = helpers.LOADER.with_name("attacker_loader.js")
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.wasm").write_bytes(helpers.wasm("add"))
    (pkg / "a.js").write_bytes(attacker.read_bytes())
    body = {"wasm_path": str(pkg / "a.wasm"), "loader_path": str(pkg / "a.js")}
    worker_pid = dask_cluster.workers[0].pid

    async def go(server: LoopbackServer, pool: ClusterPool) -> None:
        client = await Client.connect(server.url, "t")
        try:
            seen = await client.select_task(client.call_async(
                dict(body, params=["host", [dask_cluster.port, "/etc/hostname", str(tmp_path / "w")]])))
            killed = await client.select_task(client.call_async(dict(body, params=["kill", worker_pid])))
        finally:
            await client.close()
        assert seen["tcp"].startswith("denied: "), seen
        assert killed.startswith("denied: ESRCH"), killed

    on_cluster(dask_cluster.address, go)
    assert dask_cluster.workers[0].poll() is None


def test_tasks_beyond_the_in_flight_bound_wait_in_the_loopback(dask_cluster: DaskProcesses, tmp_path: Path) -> None:
    """The scheduler is given at most ``max_in_flight`` tasks; the rest wait as bodies in the
    loopback (what bounds its memory and the scheduler's for 100,000 queued tasks)."""
    loop = helpers.write_package("loop", tmp_path / "pkg")

    async def go(server: LoopbackServer, pool: ClusterPool) -> None:
        client = await Client.connect(server.url, "t")
        sent = [client.call_async(dict(loop)) for _ in range(10)]
        deadline = time.monotonic() + 20
        while server.stats().pool.queued < 7:
            assert time.monotonic() < deadline, server.stats().pool
            await asyncio.sleep(0.05)
        for _ in range(10):
            stats = server.stats().pool
            assert (stats.running, stats.queued) == (3, 7), stats
            await asyncio.sleep(0.1)
        await client.close()
        # they end with the connection, as the client's futures say
        lost = await asyncio.gather(*(client.select_task(task) for task in sent), return_exceptions=True)
        assert all(isinstance(error, Exception) for error in lost)

    on_cluster(dask_cluster.address, go, max_in_flight=3)


def test_without_dask_installed_cluster_is_one_clear_error(tmp_path: Path) -> None:
    """A kit installed without its [cluster] extra (Dask made unimportable here)."""
    code = (
        "import sys, builtins\nreal = builtins.__import__\n"
        "def without_dask(name, *args, **kwargs):\n"
        "    if name.split('.')[0] in ('distributed', 'dask'):\n"
        "        raise ModuleNotFoundError(f'No module named {name!r}')\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = without_dask\n"
        "from motivus_dev.cli import run\n"
        "sys.argv = ['motivus', 'loopback', '--port', '0', '--cluster', 'local:1']\nrun()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert "--cluster needs Dask" in done.stderr and "pip install 'motivus-dev[cluster]'" in done.stderr
