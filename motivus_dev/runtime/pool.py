"""The local worker pool: packages run by their own loader in node ``worker_threads``.

``WorkerPool`` starts N node processes, each running ``node/pool.js``, and sends each task
to a free one. Node hosts the loader exactly as a real Motivus node worker does
(worker-contract.md); nothing here re-implements the algorithm call.

Limits:
- a deadline per task: node terminates the loader's worker thread (``worker.terminate()``
  stops a runaway wasm loop within milliseconds); a backstop here kills the whole process
  if node itself stops answering;
- a memory cap per node process: ``RLIMIT_DATA`` (measured on this kind of machine:
  ``RLIMIT_AS`` kills node at start-up because V8 reserves gigabytes of address space for
  wasm guard regions, while ``RLIMIT_DATA`` counts memory as it is committed, so
  ``memory.grow`` fails cleanly at the cap). node's ``resourceLimits`` do not bound wasm;
- a process that dies is replaced; its task fails with the reason, queued tasks wait for
  the replacement.

Packages and data zips are sent to each process once per hash, not with every task.

Big values do not go through JSON on the pipes: a task's preload files follow its request
line as raw bytes (``blobs``), and a result body follows its reply line (``body_bytes``).
Python then never builds a JSON line of a 100 MB string, nor parses one.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import itertools
import json
import os
import resource
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Deque, Dict, List, Optional, Union

from motivus_dev.errors import MotivusError, RuntimeFailure, ToolchainError
from motivus_dev.reporter import NullReporter, Reporter
from motivus_dev.runtime.datalink import DEFAULT_LIMITS, DataLinkStore, DataZip, ZipLimits
from motivus_dev.runtime.package import Package, check_body, decode_body, encode_body
from motivus_dev.runtime.paths import check_file_map

POOL_JS = Path(__file__).with_name("node") / "pool.js"
DEFAULT_TIMEOUT = 300.0
DEFAULT_MEMORY_MB = 2048
# node itself needs this much before any guest runs (measured: ~60 MB committed data).
MIN_MEMORY_MB = 160
# Lines from node may carry a task's whole stdout/stderr: allow big ones.
_STREAM_LIMIT = 1 << 30
# Big strings go to and come from node in pieces of this size, so that no whole extra copy
# of them is ever made on the way.
_PIECE = 1 << 20
_PACKAGES_PER_PROCESS = 8
_DATA_PER_PROCESS = 4
_BACKSTOP_GRACE = 10.0


class WorkerCrashed(RuntimeFailure):
    """A node worker process died while running a task."""


@dataclass
class TaskSpec:
    """One task for the pool: a package and the inputs of a Waterbear task body."""

    package: Package
    params: Optional[List[Any]] = None
    arguments: Union[List[str], str, None] = None
    # guest path -> base64 of the file's bytes: a str, or its ASCII text as bytes or a
    # memoryview (the loopback server passes slices of the task frame, so that a big file's
    # base64 is not copied on its way to node).
    preload_files: Optional[Dict[str, Union[str, bytes, memoryview]]] = None
    result_files: Optional[Dict[str, str]] = None
    data_link: Optional[str] = None
    data_sha256: Optional[str] = None
    timeout: Optional[float] = None  # overrides the pool's default
    # When True, the pool drops ``preload_files`` (sets it to None) as soon as they are
    # handed to node, so that big inputs are not held while the task runs. The spec cannot
    # be run again then. The loopback server sets it: its specs are used once.
    release_inputs: bool = False


@dataclass
class TaskResult:
    """What a task produced.

    ``body`` is the loader's result body on the wire (base64(gzip(JSON))), always decodable:
    for failures outside the loader it encodes ``{"data": null}``. ``error`` is set when the
    pool failed the task (deadline, crash, refused input, cancelled); ``exit_code`` is the
    loader's, or 1 for such failures.
    """

    body: str
    stdout: str
    stderr: str
    exit_code: int
    error: Optional[str] = None
    duration: float = 0.0
    worker: Optional[int] = None

    @property
    def ok(self) -> bool:
        """True when the loader answered with exit code 0 and the pool saw no failure."""
        return self.error is None and self.exit_code == 0

    def body_json(self) -> Dict[str, Any]:
        """The decoded result object: ``{"data": ..., "<result file>": base64, ...}``."""
        return decode_body(self.body)

    @classmethod
    def failure(cls, message: str, stdout: str = "", stderr: str = "", **extra: Any) -> "TaskResult":
        """A failed result whose stderr ends with ``message``."""
        text = stderr + ("\n" if stderr and not stderr.endswith("\n") else "") + message
        return cls(encode_body({"data": None}), stdout, text, 1, error=message, **extra)


@dataclass
class WorkerStats:
    """One node process, for live progress."""

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


class _Job:
    __slots__ = ("spec", "future", "cancelled", "running_on", "label", "task_id")

    def __init__(self, spec: TaskSpec, future: "asyncio.Future[TaskResult]", label: str, task_id: int) -> None:
        self.spec = spec
        self.future = future
        self.cancelled = False
        self.running_on: Optional[_NodeProcess] = None
        self.label = label
        self.task_id = task_id


def _limit_child(memory_mb: int) -> None:
    """preexec_fn: memory cap and die-with-parent for a node process."""
    limit = memory_mb << 20
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: no orphan if Python dies
        except (OSError, AttributeError):
            pass
    os.setsid()  # own process group: Ctrl-C in a terminal goes to the server, which ends us


class _NodeProcess:
    """One ``node pool.js`` process and its line protocol."""

    def __init__(self, index: int, node: str, memory_mb: int) -> None:
        self.index = index
        self.node = node
        self.memory_mb = memory_mb
        self.proc: Optional[asyncio.subprocess.Process] = None
        self.pending: Dict[int, "asyncio.Future[Dict[str, Any]]"] = {}
        self.packages: "collections.OrderedDict[str, None]" = collections.OrderedDict()
        self.data: "collections.OrderedDict[str, None]" = collections.OrderedDict()
        self.stderr_tail: Deque[str] = collections.deque(maxlen=40)
        self.exit_reason: Optional[str] = None
        self._reader: Optional["asyncio.Task[None]"] = None
        self._stderr_reader: Optional["asyncio.Task[None]"] = None
        self._write_lock = asyncio.Lock()

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc is not None else None

    async def start(self) -> None:
        heap = max(64, self.memory_mb // 2)
        env = dict(os.environ, MOTIVUS_WORKER_HEAP_MB=str(heap))
        try:
            self.proc = await asyncio.create_subprocess_exec(
                self.node,
                str(POOL_JS),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                limit=_STREAM_LIMIT,
                preexec_fn=lambda: _limit_child(self.memory_mb),
            )
        except OSError as exc:
            raise ToolchainError(
                f"cannot start the node worker process ({self.node}): {exc}",
                hint="install Node.js 16 or newer (apt-get install nodejs) or pass --node",
            ) from exc
        assert self.proc.stdout is not None and self.proc.stderr is not None
        ready = await _read_json_line(self.proc.stdout, timeout=30.0)
        if ready is None or ready.get("op") != "ready":
            stderr = b""
            try:
                stderr = await asyncio.wait_for(self.proc.stderr.read(4000), 2.0)
            except asyncio.TimeoutError:
                pass
            await self.kill()
            raise ToolchainError(
                f"the node worker process did not start (memory cap {self.memory_mb} MB): "
                + stderr.decode("utf-8", "replace").strip()[-1000:],
                hint=f"raise --memory-mb (at least {MIN_MEMORY_MB}) or check `{self.node} --version` >= 16",
            )
        self._reader = asyncio.ensure_future(self._read_loop())
        self._stderr_reader = asyncio.ensure_future(self._read_stderr())

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while True:
            line = await self.proc.stderr.readline()
            if not line:
                return
            self.stderr_tail.append(line.decode("utf-8", "replace").rstrip()[:500])

    async def _read_loop(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            while True:
                try:
                    line = await self.proc.stdout.readline()
                except (asyncio.LimitOverrunError, ValueError):
                    self.exit_reason = "a reply from the worker process was larger than 1 GiB"
                    await self.kill()
                    break
                if not line:
                    break
                try:
                    msg = json.loads(line)
                except ValueError:
                    self.stderr_tail.append("bad line from pool.js: " + line[:200].decode("utf-8", "replace"))
                    continue
                finally:
                    del line
                size = msg.pop("body_bytes", None)
                if isinstance(size, int):
                    body = await _read_text(self.proc.stdout, size)
                    if body is None:
                        break  # node ended in the middle of a reply: handled as a crash below
                    if isinstance(msg.get("result"), dict):
                        msg["result"]["body"] = body
                    del body
                if msg.get("op") == "result":
                    future = self.pending.pop(msg.get("id"), None)
                    if future is not None and not future.done():
                        future.set_result(msg)
                # Not kept while waiting for the next line: it may hold a 100 MB body.
                msg = None
        finally:
            code = await self.proc.wait()
            if self.exit_reason is None:
                self.exit_reason = self._describe_exit(code)
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(WorkerCrashed(self.exit_reason))
            self.pending.clear()

    def _describe_exit(self, code: int) -> str:
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            why = f"the worker process was killed by {name}"
            if -code == signal.SIGKILL:
                why += " (killed from outside, or out of memory)"
        else:
            why = f"the worker process exited with code {code}"
        full = "\n".join(self.stderr_tail)
        lowered = full.lower()
        if "out of memory" in lowered or "allocation failed" in lowered or " oom" in lowered:
            why = f"out of memory: the worker process hit the memory cap of {self.memory_mb} MB ({why})"
        tail = full[-1500:]
        if tail:
            why += "\n--- worker process stderr (tail) ---\n" + tail
        return why

    @property
    def alive(self) -> bool:
        return (
            self.proc is not None
            and self.proc.returncode is None
            and self._reader is not None
            and not self._reader.done()
        )

    async def send(self, msg: Dict[str, Any], blobs: Optional[List[Union[str, bytes, memoryview]]] = None) -> None:
        """Write one request line, then each of ``blobs`` as raw UTF-8 bytes (bytes-like: as they are).

        The line says ``"blobs": [byte length, ...]`` so that node knows where they end. A blob
        is written in pieces with a drain after each: only a piece at a time is copied, and
        node's reading paces the writing.
        """
        assert self.proc is not None and self.proc.stdin is not None
        stdin = self.proc.stdin
        pieces: List[Union[str, bytes, memoryview]] = []
        if blobs:
            # base64 strings are ASCII: their length is their byte length, found without encoding
            for blob in blobs:
                if isinstance(blob, str):
                    pieces.append(blob if blob.isascii() else blob.encode("utf-8"))
                else:
                    pieces.append(memoryview(blob).cast("B"))  # slices of it are not copies
            msg = dict(msg, blobs=[len(p) for p in pieces])
        line = (json.dumps(msg, separators=(",", ":")) + "\n").encode("utf-8")
        async with self._write_lock:
            try:
                stdin.write(line)
                await stdin.drain()
                for piece in pieces:
                    for start in range(0, len(piece), _PIECE):
                        chunk = piece[start : start + _PIECE]
                        stdin.write(chunk.encode("ascii") if isinstance(chunk, str) else chunk)
                        await stdin.drain()
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise WorkerCrashed(self.exit_reason or "the worker process closed its input") from exc
            except asyncio.CancelledError:
                if pieces:
                    # Stopped in the middle of a request: node would read the next request as
                    # the rest of this one. This process cannot be used any more.
                    self.exit_reason = "cancelled while sending a task's input"
                    await self.kill()
                raise

    async def ensure_package(self, package: Package) -> None:
        if package.hash in self.packages:
            self.packages.move_to_end(package.hash)
            return
        await self.send({"op": "package", "hash": package.hash, "loader": package.loader, "wasm": package.wasm_b64})
        self.packages[package.hash] = None
        while len(self.packages) > _PACKAGES_PER_PROCESS:
            old, _ = self.packages.popitem(last=False)
            await self.send({"op": "forget", "hash": old})

    async def ensure_data(self, data: DataZip) -> None:
        if data.sha256 in self.data:
            self.data.move_to_end(data.sha256)
            return
        import base64

        await self.send({"op": "data", "hash": data.sha256, "zip": base64.b64encode(data.data).decode("ascii")})
        self.data[data.sha256] = None
        while len(self.data) > _DATA_PER_PROCESS:
            old, _ = self.data.popitem(last=False)
            await self.send({"op": "forget_data", "hash": old})

    async def run(self, task_id: int, spec: TaskSpec, data: Optional[DataZip], timeout: float) -> Dict[str, Any]:
        await self.ensure_package(spec.package)
        if data is not None:
            await self.ensure_data(data)
        future: "asyncio.Future[Dict[str, Any]]" = asyncio.get_running_loop().create_future()
        self.pending[task_id] = future
        # Preload files go as blobs after the line, in this order (node puts them back into
        # body.preload_files): a 64 MB file is never part of a JSON string here.
        preload = spec.preload_files
        body = {
            "run_type": "wasm",
            "params": spec.params,
            "arguments": spec.arguments,
            "preload_files": None if preload is None else {path: None for path in preload},
            "result_files": spec.result_files,
            "data_link": spec.data_link,
        }
        blobs = None if preload is None else list(preload.values())
        del preload
        if spec.release_inputs:
            spec.preload_files = None
        await self.send(
            {
                "op": "run",
                "id": task_id,
                "hash": spec.package.hash,
                "data_hash": data.sha256 if data is not None else None,
                "body": body,
                "timeout_ms": int(timeout * 1000),
            },
            blobs,
        )
        del blobs
        try:
            # Node enforces the deadline; this one only fires if node itself hangs.
            return await asyncio.wait_for(asyncio.shield(future), timeout + _BACKSTOP_GRACE)
        except asyncio.TimeoutError:
            self.exit_reason = (
                f"deadline exceeded: the task ran longer than {timeout:g} s and the worker process stopped answering"
            )
            await self.kill()
            raise WorkerCrashed(self.exit_reason) from None
        finally:
            self.pending.pop(task_id, None)

    async def cancel(self, task_id: int, reason: str) -> None:
        if self.alive:
            try:
                await self.send({"op": "cancel", "id": task_id, "reason": reason})
            except WorkerCrashed:
                pass

    async def kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                try:
                    self.proc.kill()
                except ProcessLookupError:
                    pass
        try:
            await asyncio.wait_for(self.proc.wait(), 10.0)
        except asyncio.TimeoutError:
            pass

    async def close(self) -> None:
        """Close stdin (pool.js exits on EOF), then make sure it is gone."""
        if self.proc is None:
            return
        if self.proc.returncode is None and self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except (BrokenPipeError, ConnectionResetError, RuntimeError):
                pass
            try:
                await asyncio.wait_for(self.proc.wait(), 3.0)
            except asyncio.TimeoutError:
                pass
        await self.kill()
        for task in (self._reader, self._stderr_reader):
            if task is not None:
                try:
                    await asyncio.wait_for(task, 2.0)
                except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
                    pass


async def _read_text(stream: asyncio.StreamReader, size: int) -> Optional[str]:
    """Read ``size`` bytes of UTF-8 text that follow a reply line (None at end of stream).

    Read piece by piece into one preallocated buffer: ``readexactly`` would hold the
    stream's buffer, a slice of it and the bytes made of that slice at once.
    """
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    try:
        while got < size:
            piece = await stream.read(min(size - got, _PIECE))
            if not piece:
                return None
            view[got : got + len(piece)] = piece
            got += len(piece)
    finally:
        view.release()
    return buf.decode("utf-8", "replace")


async def _read_json_line(stream: asyncio.StreamReader, timeout: float) -> Optional[Dict[str, Any]]:
    try:
        line = await asyncio.wait_for(stream.readline(), timeout)
    except asyncio.TimeoutError:
        return None
    if not line:
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


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
        timeout: float = DEFAULT_TIMEOUT,
        memory_mb: int = DEFAULT_MEMORY_MB,
        *,
        node: Optional[str] = None,
        data_store: Optional[DataLinkStore] = None,
        zip_limits: ZipLimits = DEFAULT_LIMITS,
        reporter: Optional[Reporter] = None,
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
        if timeout <= 0:
            raise RuntimeFailure(f"the task timeout must be positive, got {timeout}")
        self.workers = workers
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.node = node or shutil.which("node") or shutil.which("nodejs") or "node"
        self.data_store = data_store or DataLinkStore(limits=zip_limits)
        self.reporter: Reporter = reporter or NullReporter()
        self._procs: List[Optional[_NodeProcess]] = [None] * workers
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

    async def start(self) -> None:
        """Start the node processes (raises :class:`ToolchainError` if node cannot run)."""
        if self._started:
            return
        if not POOL_JS.is_file():
            raise ToolchainError(f"the pool's node script is missing: {POOL_JS}")
        self._wakeup = asyncio.Condition()
        procs = [_NodeProcess(i, self.node, self.memory_mb) for i in range(self.workers)]
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
        self.reporter.info(
            f"worker pool: {self.workers} node processes, timeout {self.timeout:g} s, memory cap {self.memory_mb} MB"
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

    async def _load_data(self, spec: TaskSpec) -> Optional[DataZip]:
        if not spec.data_link:
            return None
        key = f"{spec.data_link}\0{spec.data_sha256 or ''}"
        path_stamp = ""
        if "://" not in spec.data_link or spec.data_link.startswith("file://"):
            local = spec.data_link[len("file://") :] if spec.data_link.startswith("file://") else spec.data_link
            try:
                st = os.stat(local.split("#", 1)[0])
                path_stamp = f"{st.st_mtime_ns}:{st.st_size}"
            except OSError:
                path_stamp = "missing"
        key += "\0" + path_stamp
        cached = self._data_cache.get(key)
        if cached is not None:
            self._data_cache.move_to_end(key)
            return cached
        loop = asyncio.get_running_loop()
        data = await loop.run_in_executor(None, self.data_store.load, spec.data_link, spec.data_sha256)
        self._data_cache[key] = data
        while len(self._data_cache) > _DATA_PER_PROCESS:
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
            self._running -= 1
            job.running_on = None
            result.duration = time.monotonic() - started
            result.worker = index
            self._current[index] = None
            self._state[index] = "idle"
            self._finish(job, result, index)

    async def _run_on(self, proc: _NodeProcess, job: _Job) -> TaskResult:
        spec = job.spec
        timeout = spec.timeout if spec.timeout is not None else self.timeout
        try:
            data = await self._load_data(spec)
        except MotivusError as exc:
            return TaskResult.failure(str(exc))
        try:
            reply = await proc.run(job.task_id, spec, data, timeout)
        except WorkerCrashed as exc:
            return TaskResult.failure(f"worker process failed while running the task: {exc.message}")
        if self._closing is not None and "error" in reply:
            return TaskResult.failure(self._closing)
        if "error" in reply:
            return TaskResult.failure(str(reply["error"]))
        res = reply.get("result") or {}
        body = res.get("body")
        stdout = str(res.get("stdout") or "")
        stderr = str(res.get("stderr") or "")
        exit_code = int(res.get("exitCode") or 0)
        try:
            check_body(body)
        except MotivusError as exc:
            return TaskResult.failure(str(exc), stdout=stdout, stderr=stderr)
        return TaskResult(str(body), stdout, stderr, exit_code)

    def _finish(self, job: _Job, result: TaskResult, index: int) -> None:
        self._done += 1
        self._done_per[index] += 1
        if not result.ok:
            self._failed += 1
        if not job.future.done():
            job.future.set_result(result)

    async def _replace(self, index: int, old: Optional[_NodeProcess]) -> Optional[_NodeProcess]:
        if self._closing is not None:
            return None
        self._state[index] = "restarting"
        if old is not None:
            first_line = (old.exit_reason or "unknown").splitlines()[0]
            self.reporter.warning(f"worker {index} (pid {old.pid}) ended: {first_line}; starting a new one")
            await old.close()
        self._restarts[index] += 1
        proc = _NodeProcess(index, self.node, self.memory_mb)
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
