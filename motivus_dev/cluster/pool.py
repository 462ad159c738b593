"""The loopback's pool on a Dask cluster: the interface of
:class:`~motivus_dev.runtime.pool.WorkerPool` (start, run, stats, close), each task run by
a Dask worker in its own sandboxed pool (:mod:`motivus_dev.cluster.remote`).

What Dask gives and what is ours:

- *Scheduling, retries, the dashboard* are Dask's. A task whose worker dies is run again
  on another (up to Dask's ``allowed-failures``, then it fails with ``KilledWorker``); the
  loopback awaits each task's future once, so a driver gets exactly one result per task.
- *Packages travel once*: a package is scattered once per sha256 (key
  ``motivus-package-SHA``) and every task names that future, so Dask moves it to each worker
  that needs it once and keeps it there while the loopback holds the future: the 16 most
  recently used packages and data zips (``KEEP_SCATTERED``), dropped in that order once no
  queued task needs them. A driver's *local* data_link (a file of the loopback's machine,
  under its ``--data-dir``) is read here, checked, and travels the same way
  (``motivus-data-SHA``); the worker checks it again.
- *Bounded memory*: at most ``max_in_flight`` tasks are submitted at a time; the others wait
  here as their task bodies (what the driver sent, without the package), as the local pool
  queues them. The bound is the bodies of the queued tasks plus about 3.4 KB each (measured:
  benchmarks/bench_cluster.py, 3.2 KB with the local pool).
- *Cancellation*: a cancelled run cancels its future; the remote task sees its key cancelled
  within ``CANCEL_POLL_S`` and kills its guest.
- *The scheduler lost*: tasks in flight and new ones fail with a clear error while a
  background task reconnects every ``RECONNECT_S`` (and registers the plugin again, which a
  restarted scheduler has forgotten); the loopback keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from motivus_dev.errors import MotivusError, RuntimeFailure
from motivus_dev.reporter import NullReporter, Reporter
from motivus_dev.runtime.datalink import DataLinkStore
from motivus_dev.runtime.pool import PoolStats, SlotState, SlotStats
from motivus_dev.runtime.task import TaskResult, TaskSpec

from .remote import DATA_KEY_PREFIX, PACKAGE_KEY_PREFIX, PoolPlugin, run_task

KEEP_SCATTERED = 16
RECONNECT_S = 2.0
#: Submitted (not yet finished) tasks at most, per thread of the cluster's workers, and at least.
IN_FLIGHT_PER_THREAD = 4
MIN_IN_FLIGHT = 64


@dataclass
class ClusterInfo:
    """The cluster as the loopback's live view and ``--json`` stats show it."""

    scheduler: str
    dashboard: Optional[str]
    connected: bool
    workers: int
    threads: int
    #: tasks finished per worker address
    done_by_worker: Dict[str, int] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def _is_url(link: str) -> bool:
    return link.split(":", 1)[0].lower() in ("http", "https")


def parse_cluster(address: str) -> "tuple[Optional[str], int]":
    """``tcp://HOST:PORT`` -> (address, 0); ``local:N`` -> (None, N)."""
    if address.startswith("local:"):
        count = address.split(":", 1)[1]
        if not count.isdigit() or not 1 <= int(count) <= 256:
            raise RuntimeFailure(f"invalid --cluster {address!r}", hint="write local:N with N from 1 to 256")
        return None, int(count)
    if "://" not in address:
        raise RuntimeFailure(
            f"invalid --cluster {address!r}",
            hint="give the Dask scheduler's address, e.g. tcp://10.0.0.5:8786, or local:N for N local workers",
        )
    return address, 0


class ClusterPool:
    """Runs tasks on a Dask cluster: the scheduler at ``address`` (``tcp://HOST:PORT``), or a
    local cluster of N worker processes (``local:N``) that this pool starts and stops."""

    def __init__(
        self,
        address: str,
        timeout: Optional[float],
        memory_mb: int,
        *,
        reporter: Optional[Reporter] = None,
        max_in_flight: Optional[int] = None,
        data_dirs: Optional[Sequence[Path]] = None,
    ) -> None:
        """``data_dirs``: where a driver's local data_links may be read (on this machine)."""
        self.address, self.local_workers = parse_cluster(address)
        self._data_store = DataLinkStore(local_roots=[Path.cwd()] if data_dirs is None else list(data_dirs))
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.reporter: Reporter = reporter or NullReporter()
        self.max_in_flight = max_in_flight
        self._cluster: Any = None
        self._client: Any = None
        self._connected = False
        self._slots: Optional[asyncio.Semaphore] = None
        self._scattered: "collections.OrderedDict[str, Any]" = collections.OrderedDict()
        self._users: Dict[str, int] = collections.Counter()
        self._queued = 0
        self._running = 0
        self._done = 0
        self._failed = 0
        self._done_by_worker: Dict[str, int] = collections.Counter()
        self._closing: Optional[str] = None
        self._watcher: Optional["asyncio.Task[None]"] = None
        #: the scheduler's description of its workers, refreshed every second by the watcher
        #: (an asynchronous client's scheduler_info() carries no workers)
        self._identity: Dict[str, Any] = {}

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        from distributed import LocalCluster

        if self.address is None:
            self._cluster = await LocalCluster(
                n_workers=self.local_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address="127.0.0.1:0", asynchronous=True, silence_logs=logging.ERROR,
            )
            self.address = str(self._cluster.scheduler_address)
        try:
            await self._connect()
        except BaseException:
            await self._stop_local()
            raise
        await self._refresh_identity()
        workers = self._identity.get("workers", {})
        threads = sum(int(w.get("nthreads", 1)) for w in workers.values())
        self._slots = asyncio.Semaphore(self.max_in_flight or max(MIN_IN_FLIGHT, IN_FLIGHT_PER_THREAD * threads))
        self._watcher = asyncio.ensure_future(self._watch())
        self.reporter.info(
            f"cluster: scheduler {self.address}, {len(workers)} worker(s) now; dashboard {self._client.dashboard_link}"
        )

    async def _refresh_identity(self) -> None:
        client = self._client
        if client is None:
            return
        try:
            self._identity = await asyncio.wait_for(client.scheduler.identity(n_workers=-1), 5)
        except Exception:
            self._identity = {}

    async def _connect(self) -> None:
        from distributed import Client

        try:
            client = await Client(self.address, asynchronous=True, timeout=10, name="motivus-loopback")
        except (OSError, asyncio.TimeoutError) as exc:
            raise RuntimeFailure(
                f"cannot reach the Dask scheduler at {self.address}: {exc}",
                hint="start it (dask scheduler, or motivus loopback --cluster local:N) and check the address",
            ) from exc
        try:
            await client.register_plugin(PoolPlugin(self.timeout, self.memory_mb))
        except BaseException:
            await client.close()
            raise
        self._client = client
        self._connected = True
        self._scattered.clear()  # a new scheduler knows none of them

    async def _watch(self) -> None:
        """Notice a lost scheduler, and reconnect."""
        while self._closing is None:
            await asyncio.sleep(RECONNECT_S / 2)
            if self._client is not None and self._client.status == "running":
                await self._refresh_identity()
                continue
            if self._connected:
                self._connected = False
                self.reporter.warning(f"lost the Dask scheduler at {self.address}: reconnecting")
            old, self._client = self._client, None
            if old is not None:
                await asyncio.gather(old.close(timeout=2), return_exceptions=True)
            try:
                await self._connect()
            except Exception:
                await asyncio.sleep(RECONNECT_S)
                continue
            self.reporter.info(f"reconnected to the Dask scheduler at {self.address}")

    async def close(self, reason: str = "cancelled: the loopback is shutting down") -> None:
        if self._closing is not None:
            return
        self._closing = reason
        self._data_store.stop()
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        if self._client is not None:
            await asyncio.gather(self._client.close(timeout=10), return_exceptions=True)
        await self._stop_local()

    async def _stop_local(self) -> None:
        if self._cluster is not None:
            await asyncio.gather(self._cluster.close(), return_exceptions=True)
            self._cluster = None

    # -- tasks ---------------------------------------------------------------------------

    async def run(self, spec: TaskSpec, label: Optional[str] = None) -> TaskResult:
        """Run one task on the cluster; failures are results, as the local pool's."""
        if self._slots is None:
            raise RuntimeFailure("the cluster pool is not started", hint="await pool.start() first")
        self._queued += 1
        try:
            await self._slots.acquire()
        finally:
            self._queued -= 1
        try:
            result = await self._run(spec)
        finally:
            self._slots.release()
        self._done += 1
        if not result.ok:
            self._failed += 1
        return result

    async def _run(self, spec: TaskSpec) -> TaskResult:
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        if self._closing is not None:
            return TaskResult.failure(self._closing)
        if not self._connected or self._client is None:
            return TaskResult.failure(self._unreachable())
        client = self._client
        key = f"motivus-task-{uuid.uuid4().hex}"
        started = time.monotonic()
        self._running += 1
        held: List[str] = []
        future = None
        try:
            package = spec.package
            held.append(PACKAGE_KEY_PREFIX + package.hash)
            package_future = await self._scatter(
                client, held[-1], (package.hash, package.wasm_b64, package.loader_b64))
            data_future = None
            link = spec.body.data_link
            if link and spec.local_data and spec.data_zip is None and not _is_url(link):
                try:
                    zipped = await self._data_store.load(link, spec.body.data_sha256, local=True)
                except MotivusError as exc:
                    return TaskResult.failure(str(exc))
                held.append(DATA_KEY_PREFIX + zipped.sha256)
                data_future = await self._scatter(client, held[-1], (zipped.sha256, zipped.data))
            body = spec.body.to_wire()
            future = client.submit(run_task, package_future, data_future, body, key, spec.timeout,
                                   spec.owner or key, key=key, pure=False)
            outcome: Dict[str, Any] = await future
        except asyncio.CancelledError:
            if future is not None:
                await asyncio.gather(future.cancel(), return_exceptions=True)
            raise
        except KilledWorker as exc:
            return TaskResult.failure(f"the task's Dask workers died while running it, too often: {exc}")
        except (FutureCancelledError, OSError) as exc:
            return TaskResult.failure(self._unreachable(exc))
        except Exception as exc:
            if self._client is not client or client.status != "running":
                return TaskResult.failure(self._unreachable(exc))
            return TaskResult.failure(f"the cluster could not run the task: {type(exc).__name__}: {exc}")
        finally:
            self._running -= 1
            for name in held:
                self._users[name] -= 1
            if future is not None:
                future.release()
        result = TaskResult(outcome["body_json"], outcome["stdout"], outcome["stderr"], outcome["exit_code"],
                            error=outcome["error"], duration=time.monotonic() - started)
        self._done_by_worker[str(outcome["worker"])] += 1
        return result

    def _unreachable(self, exc: Optional[BaseException] = None) -> str:
        why = f" ({type(exc).__name__}: {exc})" if exc is not None and str(exc) else ""
        return (f"the Dask scheduler at {self.address} is unreachable{why}: the task did not run to its end; "
                "the loopback reconnects by itself, send it again later")

    async def _scatter(self, client: Any, name: str, value: Any) -> Any:
        """The future of ``value`` under the key ``name`` (scattered once while it is kept);
        the caller holds it until it gives back its use (``self._users``)."""
        self._users[name] += 1
        found = self._scattered.get(name)
        if found is None:
            found = (await client.scatter({name: value}))[name]
            self._scattered[name] = found
            for old in list(self._scattered):
                if len(self._scattered) <= KEEP_SCATTERED:
                    break
                if self._users[old] <= 0:
                    self._scattered.pop(old).release()
                    del self._users[old]
        self._scattered.move_to_end(name)
        return found

    # -- what progress displays show -------------------------------------------------------

    def stats(self) -> PoolStats:
        workers: List[SlotStats] = []
        threads = 0
        info = self._identity if self._connected else {}
        for index, (address, worker) in enumerate(sorted(info.get("workers", {}).items())):
            threads += int(worker.get("nthreads", 1))
            executing = int(worker.get("metrics", {}).get("task_counts", {}).get("executing", 0))
            workers.append(SlotStats(
                index=index, pid=worker.get("pid"), state=SlotState.BUSY if executing else SlotState.IDLE,
                tasks_done=self._done_by_worker.get(address, 0), restarts=0,
                current_task=f"{executing} running" if executing else None, host=address,
            ))
        cluster = ClusterInfo(
            scheduler=str(self.address), dashboard=self._client.dashboard_link if self._client is not None else None,
            connected=self._connected, workers=len(workers), threads=threads,
            done_by_worker=dict(self._done_by_worker),
        )
        return PoolStats(queued=self._queued, running=self._running, done=self._done, failed=self._failed,
                         workers=workers, cluster=cluster)

    async def worker_facts(self) -> Dict[str, Dict[str, Any]]:
        """Each worker's plugin facts (packages arrived and transferred, node pids)."""
        from .remote import worker_facts

        assert self._client is not None
        facts: Dict[str, Dict[str, Any]] = await self._client.run(worker_facts)
        return facts
