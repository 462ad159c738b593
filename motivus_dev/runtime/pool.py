"""The local worker pool: packages run by their own loader, as the platform's worker runs them.

``WorkerPool`` schedules tasks over N workers. A worker is anything with the small
:class:`PoolWorker` interface; in production each one is a node process running
``node/pool.js`` (:mod:`.node_process`), which hosts loaders exactly as the platform's
node worker does (worker-contract.md); unit tests drive the scheduler with a fake.

Limits: a deadline per task (node terminates the loader's worker thread; a backstop in
the worker interface kills the whole process if node stops answering); a memory cap per
node process; a process that dies is replaced, its task fails with the reason, queued
tasks wait for the replacement. Packages and data zips go to each process once per hash.

One driver's tasks never share a process with another's: a process serves tasks of one
``TaskSpec.owner`` (a loopback connection, a ``motivus test`` run) and is replaced before it
serves another owner; a task without an owner (``motivus worker``: strangers' drivers) gets
a process of its own. Task code can read the process's input and write to its output, so
this is what keeps one driver's inputs and output from another's. A cancelled task (driver
gone, ``abort_task``) has its process killed at once, whatever it was doing.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import itertools
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Deque, List, Optional, Protocol, Sequence, Set

from motivus_dev.errors import MotivusError, RuntimeFailure, ToolchainError
from motivus_dev.reporter import NullReporter, Reporter
from motivus_dev.runtime.datalink import DEFAULT_LIMITS, DataLinkStore, DataZip, ZipLimits
from motivus_dev.runtime.node_process import MIN_MEMORY_MB, POOL_JS, NodeProcess, WorkerCrashed
from motivus_dev.runtime.paths import check_file_map
from motivus_dev.runtime.sandbox import probe
from motivus_dev.runtime.task import TaskResult, TaskSpec

try:  # Python 3.8+
    from typing import Protocol
except ImportError:  # pragma: no cover
    from typing_extensions import Protocol  # type: ignore[assignment]

DEFAULT_TIMEOUT = 300.0
DEFAULT_MEMORY_MB = 2048


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


class SlotState(str, enum.Enum):
    """What a worker slot is doing (its value is what progress displays show)."""

    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    RESTARTING = "restarting"
    STOPPED = "stopped"


@dataclass
class SlotStats:
    """One worker slot, for live progress."""

    index: int
    pid: Optional[int]
    state: SlotState
    tasks_done: int
    restarts: int
    current_task: Optional[str] = None
    #: the worker's address when it is another process's (a Dask worker of ``--cluster``)
    host: Optional[str] = None


@dataclass
class _Slot:
    """One worker slot: its process and what it has served."""

    index: int
    proc: Optional[PoolWorker] = None
    state: SlotState = SlotState.STOPPED
    current: Optional[str] = None
    done: int = 0
    restarts: int = 0
    # Whose tasks the process has run: None while it has run none. A process that ran a
    # task without an owner is never given another task.
    served: Optional[str] = None
    used: bool = False

    def fits(self, owner: Optional[str]) -> bool:
        """Whether the process may run a task of ``owner``."""
        return not self.used or (owner is not None and owner == self.served)


@dataclass
class PoolStats:
    """A snapshot of the pool for progress displays."""

    queued: int
    running: int
    done: int
    failed: int
    workers: List[SlotStats] = field(default_factory=list)
    #: the Dask cluster the tasks run on (motivus_dev.cluster.pool.ClusterInfo), None locally
    cluster: Optional[Any] = None


class TaskRunner(Protocol):
    """What runs a server's tasks: this module's :class:`WorkerPool` on this machine, or
    ``motivus_dev.cluster.pool.ClusterPool`` on a Dask cluster."""

    async def start(self) -> None: ...

    async def run(self, spec: TaskSpec, label: Optional[str] = None) -> TaskResult: ...

    def stats(self) -> PoolStats: ...

    async def close(self, reason: str = ...) -> None: ...


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
        data_dirs: Optional[Sequence[Path]] = None,
        zip_limits: ZipLimits = DEFAULT_LIMITS,
        reporter: Optional[Reporter] = None,
        worker_factory: Optional[WorkerFactory] = None,
        allow_unsandboxed: bool = False,
        profile: bool = False,
    ) -> None:
        """``profile``: each task in a new worker thread with V8's sampling profiler on, its
        ``.cpuprofile`` in :attr:`TaskResult.profile` (``motivus profile``)."""
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
        # data_dirs: where local data_links may be read (None: anywhere, for programs that
        # run their own tasks); the CLI commands always say.
        self.data_store = data_store or DataLinkStore(limits=zip_limits, local_roots=data_dirs)
        self.reporter: Reporter = reporter or NullReporter()
        self._factory: WorkerFactory = worker_factory or self._node_worker
        self._node_workers = worker_factory is None
        self.allow_unsandboxed = allow_unsandboxed
        self.profile = profile
        self._warned: Set[str] = set()
        self._slots = [_Slot(i) for i in range(workers)]
        self._queue: Deque[_Job] = collections.deque()
        self._wakeup: Optional[asyncio.Condition] = None
        self._runners: List["asyncio.Task[None]"] = []
        self._ids = itertools.count(1)
        self._running = 0
        self._done = 0
        self._failed = 0
        self._closing: Optional[str] = None
        self._started = False

    def _node_worker(self, index: int, on_warning: Callable[[str], None]) -> PoolWorker:
        if not POOL_JS.is_file():
            raise ToolchainError(f"the pool's node script is missing: {POOL_JS}")
        return NodeProcess(index, self.node, self.memory_mb, on_warning, profile=self.profile)

    def _warning(self, text: str) -> None:
        """A worker's warning about a package, shown once."""
        if text not in self._warned:
            self._warned.add(text)
            self.reporter.warning(text)

    async def start(self) -> None:
        """Start the workers (raises :class:`ToolchainError` if node cannot run)."""
        if self._started:
            return
        if self._node_workers:
            probe(self.node).require(self.allow_unsandboxed, "the worker pool")
        self._wakeup = asyncio.Condition()
        procs = [self._factory(i, self._warning) for i in range(self.workers)]
        results = await asyncio.gather(*(p.start() for p in procs), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            for proc in procs:
                await proc.close()
            raise errors[0]
        for slot, proc in zip(self._slots, procs):
            slot.proc = proc
            slot.state = SlotState.IDLE
        self._started = True
        self._runners = [asyncio.ensure_future(self._runner(slot)) for slot in self._slots]
        if self._node_workers:
            for note in probe(self.node).missing:
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
        workers = [
            SlotStats(
                index=slot.index,
                pid=slot.proc.pid if slot.proc is not None else None,
                state=slot.state,
                tasks_done=slot.done,
                restarts=slot.restarts,
                current_task=slot.current,
            )
            for slot in self._slots
        ]
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
            check_file_map(spec.body.preload_files, "preload_files", bytes_values=True)
            check_file_map(spec.body.result_files, "result_files")
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
                # The process is killed, not asked: one that task code wedged answers nothing.
                await proc.cancel(task_id, "cancelled: the driver went away")
            raise

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

    async def _runner(self, slot: _Slot) -> None:
        while True:
            job = await self._next_job()
            if job is None:
                return
            proc = slot.proc
            if proc is None or not proc.alive or not slot.fits(job.spec.owner):
                proc = await self._replace(slot, crashed=proc is not None and not proc.alive)
                if proc is None:
                    self._finish(job, TaskResult.failure(self._closing or "no worker process could be started"), slot)
                    continue
            slot.state = SlotState.BUSY
            slot.current = job.label
            slot.served, slot.used = job.spec.owner, True
            self._running += 1
            job.running_on = proc
            started = time.monotonic()
            try:
                result = await self._run_on(proc, job)
            except asyncio.CancelledError:
                # pool closing: fail the job, let close() end the processes
                self._running -= 1
                self._finish(job, TaskResult.failure(self._closing or "cancelled: the pool is shutting down"), slot)
                raise
            except Exception as exc:  # whatever goes wrong, only this task fails; the slot lives on
                self.reporter.warning(f"worker {slot.index}: task {job.label} failed in the pool: {exc!r}")
                result = TaskResult.failure(f"the pool could not run the task: {type(exc).__name__}: {exc}")
            self._running -= 1
            job.running_on = None
            result.duration = time.monotonic() - started
            result.worker = slot.index
            slot.current = None
            slot.state = SlotState.IDLE
            self._finish(job, result, slot)
            if job.spec.owner is None and proc.alive:
                await self._replace(slot)  # nobody else may use it: a fresh one waits for the next task

    async def _run_on(self, proc: PoolWorker, job: _Job) -> TaskResult:
        spec = job.spec
        timeout = spec.timeout if spec.timeout is not None else self.timeout
        started = time.monotonic()
        data: Optional[DataZip] = None
        if spec.body.data_link:
            try:
                if spec.data_zip is not None:
                    data = await self.data_store.accept(spec.data_zip, spec.body.data_link)
                else:
                    data = await self.data_store.load(
                        spec.body.data_link, spec.body.data_sha256, None if timeout is None else started + timeout,
                        local=spec.local_data,
                    )
            except MotivusError as exc:
                return TaskResult.failure(str(exc))
            except Exception as exc:  # a bad input must fail its task, never the worker slot
                return TaskResult.failure(
                    f"data_link {spec.body.data_link!r} could not be used: {type(exc).__name__}: {exc}"
                )
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

    def _finish(self, job: _Job, result: TaskResult, slot: _Slot) -> None:
        self._done += 1
        slot.done += 1
        if not result.ok:
            self._failed += 1
        if not job.future.done():
            job.future.set_result(result)

    async def _replace(self, slot: _Slot, crashed: bool = False) -> Optional[PoolWorker]:
        """A fresh process for ``slot``: the old one died (``crashed``), or it served
        another owner's tasks."""
        if self._closing is not None:
            return None
        slot.state = SlotState.RESTARTING
        old = slot.proc
        if old is not None:
            if crashed:
                first_line = (old.exit_reason or "unknown").splitlines()[0]
                self.reporter.warning(f"worker {slot.index} (pid {old.pid}) ended: {first_line}; starting a new one")
                slot.restarts += 1
            await old.close()
        # In the slot while it starts, so that a pool closing meanwhile ends it too.
        proc = self._factory(slot.index, self._warning)
        slot.proc, slot.served, slot.used = proc, None, False
        try:
            await proc.start()
        except MotivusError as exc:
            self.reporter.warning(f"worker {slot.index} could not be restarted: {exc}")
            slot.proc, slot.state = None, SlotState.STOPPED
            return None
        slot.state = SlotState.IDLE
        return proc

    async def close(self, reason: str = "cancelled: the worker pool is shutting down") -> None:
        """Fail queued and running tasks with ``reason`` and end every node process."""
        if not self._started or self._closing is not None:
            return
        self._closing = reason
        self.data_store.stop()
        while self._queue:
            job = self._queue.popleft()
            if not job.future.done():
                job.future.set_result(TaskResult.failure(reason))
        for runner in self._runners:
            runner.cancel()
        await asyncio.gather(*self._runners, return_exceptions=True)
        await asyncio.gather(*(s.proc.close() for s in self._slots if s.proc is not None), return_exceptions=True)
        for slot in self._slots:
            slot.state = SlotState.STOPPED

    def pids(self) -> List[int]:
        """The pids of the live node processes (for tests and diagnostics)."""
        return [s.proc.pid for s in self._slots if s.proc is not None and s.proc.pid is not None and s.proc.alive]
