"""The local worker pool: packages run by their own loader, as the platform's worker runs them.

``WorkerPool`` schedules tasks over N workers. A worker is anything with the small
:class:`PoolWorker` interface; in production each one is a node process running
``node/pool.js`` (:mod:`.node_process`), which hosts loaders exactly as the platform's
node worker does (worker-contract.md); unit tests drive the scheduler with a fake.

Limits: a deadline per task (node terminates the loader's worker thread; a backstop in
the worker interface kills the whole process if node stops answering); a memory cap per
node process; a process that dies is replaced, its task fails with the reason, queued
tasks wait for the replacement. Packages and data zips go to each process once per hash.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, List, Optional, Set, TypeVar

from motivus_dev.errors import MotivusError, RuntimeFailure, ToolchainError
from motivus_dev.reporter import NullReporter, Reporter
from motivus_dev.runtime.datalink import DEFAULT_LIMITS, DataLinkStore, DataZip, ZipLimits
from motivus_dev.runtime.node_process import MIN_MEMORY_MB, POOL_JS, NodeProcess, WorkerCrashed
from motivus_dev.runtime.paths import check_file_map
from motivus_dev.runtime.sandbox import sandbox_notes
from motivus_dev.runtime.task import TaskResult, TaskSpec

try:  # Python 3.8+
    from typing import Protocol
except ImportError:  # pragma: no cover
    from typing_extensions import Protocol  # type: ignore[assignment]

T = TypeVar("T")
DEFAULT_TIMEOUT = 300.0
DEFAULT_MEMORY_MB = 2048
_DATA_CACHE = 4  # verified data zips kept in memory


class PoolWorker(Protocol):
    """What the scheduler needs of a worker (a node process, or a fake in unit tests)."""

    exit_reason: Optional[str]

    @property
    def pid(self) -> Optional[int]: ...

    @property
    def alive(self) -> bool: ...

    async def start(self) -> None: ...

    async def run(
        self,
        task_id: int,
        spec: TaskSpec,
        data: Optional[DataZip],
        timeout: Optional[float],
        deadline_s: Optional[float] = None,
    ) -> TaskResult:
        """Run a task within ``timeout`` s (None: no deadline; ``deadline_s``: the task's whole
        deadline, for messages); failures are results. Raises :class:`WorkerCrashed` if the
        worker dies."""
        ...

    async def cancel(self, task_id: int, reason: str) -> None: ...

    async def close(self) -> None: ...


# (index, on_warning) -> a new, not yet started worker
WorkerFactory = Callable[[int, Callable[[str], None]], PoolWorker]


@dataclass
class WorkerStats:
    """One worker, for live progress."""

    index: int
    pid: Optional[int]
    state: str  # "starting", "idle", "busy", "restarting", "stopped"
    tasks_done: int
    restarts: int
    current_task: Optional[str] = None


@dataclass
class PoolStats:
    """A snapshot of the pool for progress displays."""

    queued: int
    running: int
    done: int
    failed: int
    workers: List[WorkerStats] = field(default_factory=list)


async def _in_daemon_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking ``fn(*args)`` in a daemon thread: unlike an executor's threads, one that
    is stuck (a download from a server that drips) never holds up the process's exit; the
    pool tells the data store to stop when it closes."""
    loop = asyncio.get_running_loop()
    future: "asyncio.Future[T]" = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def hand_over(outcome: Callable[[], None]) -> None:
        try:
            loop.call_soon_threadsafe(settle, outcome)
        except RuntimeError:
            pass  # the loop is gone: nobody waits for this any more

    def work() -> None:
        try:
            value = fn(*args)
        except BaseException as exc:  # handed to the awaiting task, which decides
            error = exc
            hand_over(lambda: future.set_exception(error))
        else:
            hand_over(lambda: future.set_result(value))

    threading.Thread(target=work, name="motivus-data-link", daemon=True).start()
    return await future


class _Job:
    __slots__ = ("spec", "future", "cancelled", "running_on", "label", "task_id")

    def __init__(self, spec: TaskSpec, future: "asyncio.Future[TaskResult]", label: str, task_id: int) -> None:
        self.spec = spec
        self.future = future
        self.cancelled = False
        self.running_on: Optional[PoolWorker] = None
        self.label = label
        self.task_id = task_id


class WorkerPool:
    """N node processes running package loaders, with deadlines and a memory cap.

    Usage::

        pool = WorkerPool(workers=2, timeout=300, memory_mb=2048)
        await pool.start()
        result = await pool.run(TaskSpec(package, params=[1, 2]))
        await pool.close()

    Cancelling the coroutine awaiting :meth:`run` drops the task if it is queued and
    terminates its guest if it is running.
    """

    def __init__(
        self,
        workers: Optional[int] = None,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        memory_mb: int = DEFAULT_MEMORY_MB,
        *,
        node: Optional[str] = None,
        data_store: Optional[DataLinkStore] = None,
        zip_limits: ZipLimits = DEFAULT_LIMITS,
        reporter: Optional[Reporter] = None,
        worker_factory: Optional[WorkerFactory] = None,
    ) -> None:
        if workers is None:
            workers = os.cpu_count() or 1
        if workers < 1:
            raise RuntimeFailure(f"the pool needs at least one worker, got {workers}")
        if memory_mb < MIN_MEMORY_MB:
            raise RuntimeFailure(
                f"memory cap {memory_mb} MB is too small for a node worker process",
                hint=f"use at least {MIN_MEMORY_MB} MB",
            )
        if timeout is not None and timeout <= 0:
            raise RuntimeFailure(f"the task timeout must be positive, got {timeout}")
        self.workers = workers
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.node = node or shutil.which("node") or shutil.which("nodejs") or "node"
        self.data_store = data_store or DataLinkStore(limits=zip_limits)
        self.reporter: Reporter = reporter or NullReporter()
        self._factory: WorkerFactory = worker_factory or self._node_worker
        self._node_workers = worker_factory is None
        self._warned: Set[str] = set()
        self._procs: List[Optional[PoolWorker]] = [None] * workers
        self._state: List[str] = ["stopped"] * workers
        self._current: List[Optional[str]] = [None] * workers
        self._done_per: List[int] = [0] * workers
        self._restarts: List[int] = [0] * workers
        self._queue: Deque[_Job] = collections.deque()
        self._wakeup: Optional[asyncio.Condition] = None
        self._runners: List["asyncio.Task[None]"] = []
        self._ids = itertools.count(1)
        self._running = 0
        self._done = 0
        self._failed = 0
        self._closing: Optional[str] = None
        self._started = False
        self._data_cache: "collections.OrderedDict[str, DataZip]" = collections.OrderedDict()

    def _node_worker(self, index: int, on_warning: Callable[[str], None]) -> PoolWorker:
        if not POOL_JS.is_file():
            raise ToolchainError(f"the pool's node script is missing: {POOL_JS}")
        return NodeProcess(index, self.node, self.memory_mb, on_warning)

    def _warning(self, text: str) -> None:
        """A worker's warning about a package, shown once."""
        if text not in self._warned:
            self._warned.add(text)
            self.reporter.warning(text)

    async def start(self) -> None:
        """Start the workers (raises :class:`ToolchainError` if node cannot run)."""
        if self._started:
            return
        self._wakeup = asyncio.Condition()
        procs = [self._factory(i, self._warning) for i in range(self.workers)]
        results = await asyncio.gather(*(p.start() for p in procs), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            for proc in procs:
                await proc.close()
            raise errors[0]
        for i, proc in enumerate(procs):
            self._procs[i] = proc
            self._state[i] = "idle"
        self._started = True
        self._runners = [asyncio.ensure_future(self._runner(i)) for i in range(self.workers)]
        if self._node_workers:
            for note in sandbox_notes(self.node):
                self.reporter.warning(f"task code is not fully contained: {note}")
        self.reporter.info(
            f"worker pool: {self.workers} workers, "
            + (f"deadline {self.timeout:g} s" if self.timeout is not None else "no deadline")
            + f", memory cap {self.memory_mb} MB"
        )

    async def __aenter__(self) -> "WorkerPool":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def stats(self) -> PoolStats:
        """A snapshot of the queue and of every worker (cheap; for live progress)."""
        workers = []
        for i in range(self.workers):
            proc = self._procs[i]
            workers.append(
                WorkerStats(
                    index=i,
                    pid=proc.pid if proc is not None else None,
                    state=self._state[i],
                    tasks_done=self._done_per[i],
                    restarts=self._restarts[i],
                    current_task=self._current[i],
                )
            )
        queued = sum(1 for job in self._queue if not job.cancelled)
        return PoolStats(queued=queued, running=self._running, done=self._done, failed=self._failed, workers=workers)

    async def run(self, spec: TaskSpec, label: Optional[str] = None) -> TaskResult:
        """Run one task and return its result; task failures are results, not exceptions.

        Raises :class:`RuntimeFailure` only when the pool is not running.
        """
        if not self._started or self._wakeup is None:
            raise RuntimeFailure("the worker pool is not started", hint="await pool.start() first")
        if self._closing is not None:
            return TaskResult.failure(self._closing)
        try:
            check_file_map(spec.preload_files, "preload_files", bytes_values=True)
            check_file_map(spec.result_files, "result_files")
        except MotivusError as exc:
            self._failed += 1
            self._done += 1
            return TaskResult.failure(str(exc))
        task_id = next(self._ids)
        future: "asyncio.Future[TaskResult]" = asyncio.get_running_loop().create_future()
        job = _Job(spec, future, label or f"task {task_id}", task_id)
        self._queue.append(job)
        async with self._wakeup:
            self._wakeup.notify()
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            job.cancelled = True
            proc = job.running_on
            if proc is not None:
                await proc.cancel(task_id, "cancelled: the driver went away")
            raise

    async def _load_data(self, spec: TaskSpec, deadline: Optional[float]) -> Optional[DataZip]:
        """The task's data zip, fetched and checked within the task's deadline. Local files
        are kept in memory by path, size and mtime; URLs are revalidated each time (the
        store's disk cache holds their bytes by content)."""
        if not spec.data_link:
            return None
        key = None
        if "://" not in spec.data_link or spec.data_link.startswith("file://"):
            local = spec.data_link[len("file://") :] if spec.data_link.startswith("file://") else spec.data_link
            try:
                st = os.stat(local.split("#", 1)[0])
                key = f"{spec.data_link}\0{spec.data_sha256 or ''}\0{st.st_mtime_ns}:{st.st_size}"
            except (OSError, ValueError):
                key = None
        cached = self._data_cache.get(key) if key else None
        if cached is not None:
            self._data_cache.move_to_end(str(key))
            return cached
        data = await _in_daemon_thread(self.data_store.load, spec.data_link, spec.data_sha256, deadline)
        if key:
            self._data_cache[key] = data
            while len(self._data_cache) > _DATA_CACHE:
                self._data_cache.popitem(last=False)
        return data

    async def _next_job(self) -> Optional[_Job]:
        assert self._wakeup is not None
        async with self._wakeup:
            while True:
                if self._closing is not None:
                    return None
                while self._queue:
                    job = self._queue.popleft()
                    if not job.cancelled and not job.future.done():
                        return job
                await self._wakeup.wait()

    async def _runner(self, index: int) -> None:
        while True:
            job = await self._next_job()
            if job is None:
                return
            proc = self._procs[index]
            if proc is None or not proc.alive:
                proc = await self._replace(index, proc)
                if proc is None:
                    self._finish(job, TaskResult.failure(self._closing or "no worker process could be started"), index)
                    continue
            self._state[index] = "busy"
            self._current[index] = job.label
            self._running += 1
            job.running_on = proc
            started = time.monotonic()
            try:
                result = await self._run_on(proc, job)
            except asyncio.CancelledError:
                # pool closing: fail the job, let close() end the processes
                self._running -= 1
                self._finish(job, TaskResult.failure(self._closing or "cancelled: the pool is shutting down"), index)
                raise
            except Exception as exc:  # whatever goes wrong, only this task fails; the slot lives on
                self.reporter.warning(f"worker {index}: task {job.label} failed in the pool: {exc!r}")
                result = TaskResult.failure(f"the pool could not run the task: {type(exc).__name__}: {exc}")
            self._running -= 1
            job.running_on = None
            result.duration = time.monotonic() - started
            result.worker = index
            self._current[index] = None
            self._state[index] = "idle"
            self._finish(job, result, index)

    async def _run_on(self, proc: PoolWorker, job: _Job) -> TaskResult:
        spec = job.spec
        timeout = spec.timeout if spec.timeout is not None else self.timeout
        started = time.monotonic()
        try:
            data = await self._load_data(spec, None if timeout is None else started + timeout)
        except MotivusError as exc:
            return TaskResult.failure(str(exc))
        except Exception as exc:  # a bad input must fail its task, never the worker slot
            return TaskResult.failure(f"data_link {spec.data_link!r} could not be used: {type(exc).__name__}: {exc}")
        left = None if timeout is None else timeout - (time.monotonic() - started)
        if left is not None and left <= 0:
            return TaskResult.failure(f"deadline exceeded: fetching data_link took the task's {timeout:g} s")
        try:
            result = await proc.run(job.task_id, spec, data, left, timeout)
        except WorkerCrashed as exc:
            return TaskResult.failure(f"worker process failed while running the task: {exc.message}")
        if self._closing is not None and result.error is not None:
            return TaskResult.failure(self._closing)
        return result

    def _finish(self, job: _Job, result: TaskResult, index: int) -> None:
        self._done += 1
        self._done_per[index] += 1
        if not result.ok:
            self._failed += 1
        if not job.future.done():
            job.future.set_result(result)

    async def _replace(self, index: int, old: Optional[PoolWorker]) -> Optional[PoolWorker]:
        if self._closing is not None:
            return None
        self._state[index] = "restarting"
        if old is not None:
            first_line = (old.exit_reason or "unknown").splitlines()[0]
            self.reporter.warning(f"worker {index} (pid {old.pid}) ended: {first_line}; starting a new one")
            await old.close()
        self._restarts[index] += 1
        proc = self._factory(index, self._warning)
        try:
            await proc.start()
        except MotivusError as exc:
            self.reporter.warning(f"worker {index} could not be restarted: {exc}")
            self._state[index] = "stopped"
            return None
        self._procs[index] = proc
        self._state[index] = "idle"
        return proc

    async def close(self, reason: str = "cancelled: the worker pool is shutting down") -> None:
        """Fail queued and running tasks with ``reason`` and end every node process."""
        if not self._started or self._closing is not None:
            return
        self._closing = reason
        self.data_store.stop()  # downloads under way end now
        while self._queue:
            job = self._queue.popleft()
            if not job.future.done():
                job.future.set_result(TaskResult.failure(reason))
        for runner in self._runners:
            runner.cancel()
        await asyncio.gather(*self._runners, return_exceptions=True)
        await asyncio.gather(*(p.close() for p in self._procs if p is not None), return_exceptions=True)
        for i in range(self.workers):
            self._state[i] = "stopped"

    def pids(self) -> List[int]:
        """The pids of the live node processes (for tests and diagnostics)."""
        return [p.pid for p in self._procs if p is not None and p.pid is not None and p.alive]
