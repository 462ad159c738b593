"""``motivus worker``: join a Waterbear cluster as a worker and run its tasks.

The protocol is :class:`motivus_dev.waterbear.worker.WorkerSession` (sans I/O); this module
does the I/O: the cluster's HTTP API for the user (a guest user when no token is given),
the websocket, heartbeats, and the local worker pool that runs the tasks, with the same
sandbox and limits as ``motivus loopback``. A dropped connection ends the tasks in flight
and is retried after a pause; a refused token stops the worker with the reason.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional

from motivus_dev.errors import MotivusError, ProtocolError
from motivus_dev.reporter import NullReporter, Reporter
from motivus_dev.runtime.package import PackageStore
from motivus_dev.runtime.pool import WorkerPool
from motivus_dev.runtime.task import TaskResult, TaskSpec
from motivus_dev.taskoutput import failure_summary
from motivus_dev.waterbear import CLUSTER_HOST, encode_body_json
from motivus_dev.waterbear.frames import Send, result_payload
from motivus_dev.waterbear.worker import HEARTBEAT_SECONDS, AbortTask, Refused, RunTask, WorkerSession


class TokenRefused(ProtocolError):
    """The cluster refused the worker's token."""


@dataclass
class WorkerOptions:
    """``motivus worker``'s options (the published CLI's: ``-t``, ``--backend-host``,
    ``--no-tls``, ``--token``) and the pool's limits."""

    threads: int = 1
    backend_host: str = CLUSTER_HOST
    tls: bool = True
    token: Optional[str] = None
    memory_mb: int = 2048
    timeout: Optional[float] = None
    reconnect_seconds: float = 4.0
    heartbeat_seconds: float = HEARTBEAT_SECONDS

    @property
    def http_base(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.backend_host}"

    @property
    def socket_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://{self.backend_host}/socket/websocket"


@dataclass
class WorkerStats:
    """For the live view: tasks done, failed, running and aborted; connection state."""

    connected: bool = False
    done: int = 0
    failed: int = 0
    aborted: int = 0
    running: Dict[str, float] = field(default_factory=dict)  # tid -> start time
    user: str = ""


async def _user(options: WorkerOptions) -> Dict[str, Any]:
    """The worker's user: the given token's, or a new guest's (``POST /auth/guest``)."""
    import httpx

    async with httpx.AsyncClient(timeout=30.0) as http:
        token = options.token
        if not token:
            guest = await http.post(f"{options.http_base}/auth/guest")
            guest.raise_for_status()
            token = str(guest.json()["token"])
        response = await http.get(f"{options.http_base}/api/user", headers={"authorization": f"Bearer {token}"})
        if response.status_code == 401:
            raise TokenRefused(
                f"{options.backend_host} refused the worker token (401)",
                hint="check --token (or run without it to work as a guest)",
            )
        response.raise_for_status()
        user = response.json().get("data") or {}
        if not isinstance(user, dict) or not user.get("uuid"):
            raise ProtocolError(f"{options.backend_host} answered /api/user without a user uuid")
        return dict(user, token=token)


class ClusterWorker:
    """One worker process: connects, runs tasks, reconnects, until :meth:`stop`."""

    def __init__(self, options: WorkerOptions, reporter: Optional[Reporter] = None,
                 pool: Optional[WorkerPool] = None) -> None:
        self.options = options
        self.reporter: Reporter = reporter or NullReporter()
        # Never without the sandbox: the tasks are strangers' code.
        self.pool = pool or WorkerPool(
            options.threads, options.timeout, options.memory_mb, reporter=self.reporter, data_dirs=()
        )
        self.packages = PackageStore()
        self.stats = WorkerStats()
        self._stop = asyncio.Event()
        self._tasks: Dict[str, "asyncio.Task[None]"] = {}

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Serve until stopped; raises :class:`TokenRefused` when the token is refused."""
        await self.pool.start()
        try:
            while not self._stop.is_set():
                try:
                    await self._connection()
                except TokenRefused:
                    raise
                except Exception as exc:  # a lost connection, a refused frame: try again
                    if self._stop.is_set():
                        break
                    self.reporter.warning(
                        f"connection to {self.options.backend_host} lost ({type(exc).__name__}: {exc}); "
                        f"reconnecting in {self.options.reconnect_seconds:g} s"
                    )
                try:
                    await asyncio.wait_for(self._stop.wait(), self.options.reconnect_seconds)
                except asyncio.TimeoutError:
                    pass
        finally:
            await self.pool.close("the worker is stopping")

    async def _connection(self) -> None:
        import websockets

        user = await _user(self.options)
        self.stats.user = str(user["uuid"])
        session = WorkerSession(str(user["uuid"]), self.options.threads)
        url = f"{self.options.socket_url}?token={user['token']}"
        async with websockets.connect(url, max_size=256 << 20, compression=None) as ws:
            self.stats.connected = True
            self.reporter.info(f"joined {self.options.backend_host} as {session.channel}")
            lock = asyncio.Lock()

            async def send(frame: Dict[str, Any]) -> None:
                async with lock:
                    await ws.send(json.dumps(frame))

            async def heartbeat() -> None:
                while True:
                    await asyncio.sleep(self.options.heartbeat_seconds)
                    await send(session.heartbeat())

            beating = asyncio.ensure_future(heartbeat())
            stopping = asyncio.ensure_future(self._stop.wait())
            try:
                for action in session.start():
                    await send(action.frame)
                while True:
                    receiving = asyncio.ensure_future(ws.recv())
                    done, _ = await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    if stopping in done:
                        receiving.cancel()
                        return
                    try:
                        msg = json.loads(receiving.result())
                    except ValueError:
                        continue
                    for event in session.receive(msg):
                        await self._act(event, session, send)
            finally:
                self.stats.connected = False
                beating.cancel()
                stopping.cancel()
                for tid in session.dropped():
                    task = self._tasks.pop(tid, None)
                    if task is not None:
                        task.cancel()
                        self.stats.aborted += 1
                self.stats.running.clear()

    async def _act(self, event: Any, session: WorkerSession, send: Callable[[Dict[str, Any]], Any]) -> None:
        if isinstance(event, Send):
            await send(event.frame)
        elif isinstance(event, RunTask):
            self._tasks[event.tid] = asyncio.ensure_future(self._run(event, session, send))
        elif isinstance(event, AbortTask):
            task = self._tasks.pop(event.tid, None)
            if task is not None:
                task.cancel()  # the pool terminates the guest
                self.stats.aborted += 1
                self.stats.running.pop(event.tid, None)
                self.reporter.info(f"task {event.tid[:8]} aborted by the cluster")
        elif isinstance(event, Refused):
            self.reporter.warning(f"input {str(event.tid)[:8]} not run: {event.reason}")

    async def _run(self, event: RunTask, session: WorkerSession, send: Callable[[Dict[str, Any]], Any]) -> None:
        started = time.monotonic()
        self.stats.running[event.tid] = started
        body = event.body
        try:
            package = self.packages.intern_wire(body.wasm, body.loader)
            # Strangers' drivers: no process shared with another task, no file of this machine.
            spec = TaskSpec(package, body.without_package(), release_inputs=True, owner=None, local_data=False)
            result = await self.pool.run(spec, label=event.tid[:8])
        except MotivusError as exc:
            result = TaskResult.failure(str(exc))
        self.stats.running.pop(event.tid, None)
        self._tasks.pop(event.tid, None)
        if result.ok:
            self.stats.done += 1
        else:
            self.stats.failed += 1
        seconds = time.monotonic() - started
        why = failure_summary(result.error or result.stderr_text)
        self.reporter.info(
            f"task {event.tid[:8]} {'done' if result.ok else 'failed'} in {seconds:.1f} s"
            + ("" if result.ok or not why else f": {why}")
        )
        # The platform's worker sends the loader's message, body encoded, plus the tid.
        payload = result_payload(None, encode_body_json(result.body_json), result.stdout, result.stderr,
                                 result.exit_code)
        for action in session.result(event.tid, payload):
            await send(action.frame)
