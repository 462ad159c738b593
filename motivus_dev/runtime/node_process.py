"""One ``node pool.js`` process: the I/O around the pipe codec (:mod:`.pipe`).

It plays the platform's worker for the tasks the pool gives it; see ``node/pool.js``.
Limits: a memory cap per process (``RLIMIT_DATA``, measured on this kind of machine:
``RLIMIT_AS`` kills node at start-up because V8 reserves gigabytes of address space for
wasm guard regions, while ``RLIMIT_DATA`` counts memory as it is committed, so
``memory.grow`` fails cleanly at the cap); node's ``resourceLimits`` do not bound wasm.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import ctypes
import os
import resource
import signal
import sys
from pathlib import Path
from typing import Any, Callable, Deque, Dict, Optional

from motivus_dev.errors import RuntimeFailure, ToolchainError
from motivus_dev.runtime.datalink import DataZip
from motivus_dev.runtime.package import Package
from motivus_dev.runtime.pipe import (
    Blob,
    ProtocolViolation,
    ReplyDecoder,
    hello,
    new_key,
    request,
    result_of,
    run_request,
)
from motivus_dev.runtime.sandbox import probe
from motivus_dev.runtime.task import TaskResult, TaskSpec

POOL_JS = Path(__file__).with_name("node") / "pool.js"
# node itself needs this much before any guest runs (measured: ~60 MB committed data).
MIN_MEMORY_MB = 160
# Big strings go to and come from node in pieces of this size, so that no whole extra copy
# of them is ever made on the way.
_PIECE = 1 << 20
_PACKAGES_PER_PROCESS = 8
_DATA_PER_PROCESS = 4
_BACKSTOP_GRACE = 10.0
NODE_HINT = "install Node.js 18 or newer (apt-get install nodejs)"


class WorkerCrashed(RuntimeFailure):
    """A node worker process died while running a task."""


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


class NodeProcess:
    """One ``node pool.js`` process; the pool's worker interface (see ``pool.PoolWorker``)."""

    def __init__(
        self, index: int, node: str, memory_mb: int, on_warning: Optional[Callable[[str], None]] = None,
        *, profile: bool = False,
    ) -> None:
        self.index = index
        self.profile = profile
        self.node = node
        self.memory_mb = memory_mb
        self.on_warning = on_warning
        self.proc: Optional[asyncio.subprocess.Process] = None
        self.pending: Dict[int, "asyncio.Future[Dict[str, Any]]"] = {}
        self.packages: "collections.OrderedDict[str, None]" = collections.OrderedDict()
        self.data: "collections.OrderedDict[str, None]" = collections.OrderedDict()
        # The output of the task running now (reset at each task): a crash reports only it.
        self.stderr_tail: Deque[str] = collections.deque(maxlen=40)
        self._key = new_key()
        self._current: Optional[int] = None  # the task being sent or run
        self.exit_reason: Optional[str] = None
        self._reader: Optional["asyncio.Task[None]"] = None
        self._stderr_reader: Optional["asyncio.Task[None]"] = None
        self._write_lock = asyncio.Lock()
        self._ready: "Optional[asyncio.Future[Dict[str, Any]]]" = None

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc is not None else None

    async def start(self) -> None:
        self._ready = asyncio.get_running_loop().create_future()
        heap = max(64, self.memory_mb // 2)
        # A minimal environment: the loaders' worker threads get `env: {}` anyway, and the
        # node process itself needs nothing of the server's (tokens included).
        inner = {"MOTIVUS_WORKER_HEAP_MB": str(heap)}
        if self.profile:
            inner["MOTIVUS_PROFILE_TASKS"] = "1"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **inner}
        sandbox = probe(self.node)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *sandbox.command(POOL_JS, inner, inspector=self.profile),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                close_fds=True,  # the pool's three pipes and nothing else reach the sandbox
                preexec_fn=lambda: _limit_child(self.memory_mb),
            )
        except OSError as exc:
            raise ToolchainError(f"cannot start the node worker process ({self.node}): {exc}", hint=NODE_HINT) from exc
        assert self.proc.stdin is not None
        self.proc.stdin.write(hello(self._key))
        self._reader = asyncio.ensure_future(self._read_loop())
        self._stderr_reader = asyncio.ensure_future(self._read_stderr())
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), 30.0)
        except asyncio.CancelledError:
            await asyncio.shield(self.kill())  # a pool closing while this one starts
            raise
        except (asyncio.TimeoutError, WorkerCrashed):
            await self.kill()
            raise ToolchainError(
                f"the node worker process did not start (memory cap {self.memory_mb} MB): "
                + "\n".join(self.stderr_tail)[-1000:],
                hint=f"raise --memory-mb (at least {MIN_MEMORY_MB}), or {NODE_HINT}",
            ) from None

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while True:
            line = await self.proc.stderr.readline()
            if not line:
                return
            self.stderr_tail.append(line.decode("utf-8", "replace").rstrip()[:500])

    async def _read_loop(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        decoder = ReplyDecoder(self._key)
        try:
            while True:
                data = await self.proc.stdout.read(_PIECE)
                if not data:
                    break
                try:
                    for reply in decoder.feed(data):
                        self._dispatch(reply)
                except ProtocolViolation as exc:
                    await self._violated(str(exc))
                    break
                del data
        finally:
            code = await self.proc.wait()
            if self.exit_reason is None:
                self.exit_reason = self._describe_exit(code)
            failure = WorkerCrashed(self.exit_reason)
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(failure)
                self._ready.exception()  # retrieved: start() reports it its own way
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(failure)
            self.pending.clear()

    async def _violated(self, what: str) -> None:
        """Something other than pool.js's main thread wrote to the pool's channel: the task
        running here did (or node broke). Kill the process; only its task fails."""
        self.exit_reason = (
            f"the task broke the worker process's protocol ({what}): task code wrote to the pool's channel, "
            "so its process was killed"
        )
        await self.kill()

    def _dispatch(self, reply: Dict[str, Any]) -> None:
        op = reply.get("op")
        if op == "ready" and self._ready is not None and not self._ready.done():
            self._ready.set_result(reply)
        elif op == "result":
            future = self.pending.pop(reply.get("id"), None)  # type: ignore[arg-type]
            if future is None:
                raise ProtocolViolation(f"a result for task {reply.get('id')!r}, which is not running")
            if not future.done():
                future.set_result(reply)
        elif op == "warning" and self.on_warning is not None:
            self.on_warning(str(reply.get("text")))
        elif op not in ("ready", "warning"):
            raise ProtocolViolation(f"an unknown reply {op!r}")

    def _describe_exit(self, code: int) -> str:
        if 128 < code < 128 + 65 and probe(self.node).contained:
            code = 128 - code  # bubblewrap exits with 128 + N when node was killed by signal N
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

    async def send(self, msg: Dict[str, Any], blobs: Optional[list] = None) -> None:
        """Write one request and its blobs, in pieces with a drain after each: only a piece
        at a time is copied, and node's reading paces the writing."""
        assert self.proc is not None and self.proc.stdin is not None
        stdin = self.proc.stdin
        line, pieces = request(msg, blobs)
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

    async def _ensure_package(self, package: Package) -> None:
        if package.hash in self.packages:
            self.packages.move_to_end(package.hash)
            return
        await self.send({"op": "package", "hash": package.hash, "loader": package.loader_b64, "wasm": package.wasm_b64})
        self.packages[package.hash] = None
        while len(self.packages) > _PACKAGES_PER_PROCESS:
            old, _ = self.packages.popitem(last=False)
            await self.send({"op": "forget", "hash": old})

    async def _ensure_data(self, data: DataZip) -> None:
        if data.sha256 in self.data:
            self.data.move_to_end(data.sha256)
            return
        await self.send({"op": "data", "hash": data.sha256, "zip": base64.b64encode(data.data).decode("ascii")})
        self.data[data.sha256] = None
        while len(self.data) > _DATA_PER_PROCESS:
            old, _ = self.data.popitem(last=False)
            await self.send({"op": "forget_data", "hash": old})

    async def run(
        self,
        task_id: int,
        spec: TaskSpec,
        data: Optional[DataZip],
        timeout: Optional[float],
        deadline_s: Optional[float] = None,
    ) -> TaskResult:
        """Run one task; its failures are results. Raises :class:`WorkerCrashed` if node dies."""
        self._current = task_id
        self.stderr_tail.clear()  # only this task's output is reported with its failure
        await self._ensure_package(spec.package)
        if data is not None:
            await self._ensure_data(data)
        future: "asyncio.Future[Dict[str, Any]]" = asyncio.get_running_loop().create_future()
        self.pending[task_id] = future
        msg, blobs = run_request(task_id, spec, data.sha256 if data is not None else None, timeout, deadline_s)
        if spec.release_inputs:
            spec.body = spec.body.without_inputs()
        await self.send(msg, blobs)
        del blobs
        try:
            # Node enforces the deadline; this one only fires if node itself hangs.
            reply = await asyncio.wait_for(
                asyncio.shield(future), None if timeout is None else timeout + _BACKSTOP_GRACE
            )
        except asyncio.TimeoutError:
            self.exit_reason = (
                f"deadline exceeded: the task ran longer than {timeout:g} s and the worker process stopped answering"
            )
            await self.kill()
            raise WorkerCrashed(self.exit_reason) from None
        finally:
            self.pending.pop(task_id, None)
        return result_of(reply)

    async def cancel(self, task_id: int, reason: str) -> None:
        """Stop a running task now: its process is killed, not asked (task code may have
        wedged it), and replaced by the pool before the next task."""
        if self._current == task_id:
            self.exit_reason = reason
            await self.kill()

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


__all__ = ["NodeProcess", "WorkerCrashed", "POOL_JS", "MIN_MEMORY_MB", "Blob"]
