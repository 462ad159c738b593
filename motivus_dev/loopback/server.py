"""``motivus loopback``: a local Waterbear server that runs tasks on the worker pool.

The protocol decisions are in :mod:`motivus_dev.waterbear` (the server session); this
module does the I/O: websockets, the pool, per-connection task bookkeeping, ``GET /healthz``.
"""

from __future__ import annotations

import asyncio
import http
import ipaddress
import json
import urllib.parse
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Deque, Dict, Iterator, List, Optional, Sequence, Set

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response

from motivus_dev.errors import MotivusError, RuntimeFailure, ToolchainError, UsageError
from motivus_dev.reporter import NullReporter, Reporter
from motivus_dev.runtime.package import PackageStore
from motivus_dev.runtime.pool import PoolStats, TaskRunner, WorkerPool
from motivus_dev.runtime.task import TaskSpec
from motivus_dev.taskoutput import failure_summary
from motivus_dev.waterbear import (
    Close,
    Send,
    Session,
    StartTask,
    encode_body_json,
    failure_payload,
    is_wire_safe,
    result_frame,
    result_payload,
)
from motivus_dev.waterbear.server import Action

# Only programs on this machine reach the loopback by default: it runs code that arrives
# over the socket.
DEFAULT_HOST = "127.0.0.1"
#: Browser pages allowed to open the socket, besides these hosts' own (any port, http/https).
LOCAL_ORIGIN_HOSTS = ("localhost", "127.0.0.1", "::1")
DEFAULT_PORT = 7070
SOCKET_PATH = "/client_socket/websocket"
DEFAULT_MAX_SIZE = 256 << 20  # a frame carries the base64 wasm + loader
# A result whose body is longer than this goes out as a fragmented message (RFC 6455
# continuation frames, which every client reassembles), one fragment per this many
# characters: the frame is never built whole, as a str or as bytes.
DEFAULT_FRAGMENT_SIZE = 1 << 20


@dataclass
class LoopbackStats:
    """A snapshot for live progress: connections plus the pool's queue and workers."""

    connections: int
    tasks_received: int
    tasks_dropped: int
    packages: int
    pool: PoolStats


class _FrameKindConnection(ServerConnection):
    """A websockets connection that records, in order, whether each message is binary.

    The server receives messages with ``recv(decode=False)``, which returns the frame's
    bytes as they are (a big task frame is never made a str), but then a text message and
    a binary one look alike; the protocol refuses binary ones. The opcode of each message's
    first frame is noted here as it arrives, and taken back in the same order.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.binary_messages: Deque[bool] = deque()

    def process_event(self, event: Any) -> None:
        if isinstance(event, Frame) and event.opcode in (Opcode.TEXT, Opcode.BINARY):
            self.binary_messages.append(event.opcode is Opcode.BINARY)
        super().process_event(event)


@dataclass(eq=False)
class _Connection:
    ws: ServerConnection
    session: Session
    # Whose tasks these are, for the pool: one driver's tasks never share a node process
    # with another's.
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    # A program on this machine (no Origin, a loopback peer) may name local data_links; a
    # browser page may not.
    local_data: bool = False
    tasks: Set["asyncio.Task[None]"] = field(default_factory=set)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class LoopbackServer:
    """A websocket server speaking the Waterbear protocol, backed by a :class:`WorkerPool`.

    ``tokens``: when given, only these application tokens may join; otherwise any token is
    accepted (loopback is a local development server).
    """

    def __init__(
        self,
        pool: TaskRunner,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        max_size: int = DEFAULT_MAX_SIZE,
        tokens: Optional[Collection[str]] = None,
        ping_interval: Optional[float] = 20.0,
        ping_timeout: Optional[float] = 20.0,
        reporter: Optional[Reporter] = None,
        fragment_size: int = DEFAULT_FRAGMENT_SIZE,
        allowed_origins: Collection[str] = (),
    ) -> None:
        self.pool = pool
        self.allowed_origins = frozenset(o.rstrip("/") for o in allowed_origins)
        self.fragment_size = max(1, fragment_size)
        self.host = host
        self.port = port
        self.max_size = max_size
        self.tokens = frozenset(tokens) if tokens is not None else None
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.reporter: Reporter = reporter or NullReporter()
        self.packages = PackageStore()
        self._server: Optional[Server] = None
        self._connections: Set[_Connection] = set()
        self._received = 0
        self._dropped = 0
        self._closing = False

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and start serving (the pool must already be started)."""
        try:
            self._server = await serve(
                self._handle,
                self.host,
                self.port,
                max_size=self.max_size,
                ping_interval=self.ping_interval,
                ping_timeout=self.ping_timeout,
                process_request=self._process_request,
                create_connection=_FrameKindConnection,
                # Results and packages are big JSON; compression costs more CPU than it saves
                # on a local link.
                compression=None,
            )
        except OSError as exc:
            raise RuntimeFailure(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}",
                hint="another loopback may be running; pick another --port",
            ) from exc
        sockets = list(self._server.sockets)
        if sockets:
            self.port = sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        """The ``WEBSOCKET_URI`` drivers should use."""
        host = self.host if self.host not in ("127.0.0.1", "0.0.0.0", "::", "") else "localhost"
        if ":" in host:
            host = f"[{host}]"
        return f"ws://{host}:{self.port}{SOCKET_PATH}"

    def stats(self) -> LoopbackStats:
        """A cheap snapshot for live progress displays."""
        return LoopbackStats(
            connections=len(self._connections),
            tasks_received=self._received,
            tasks_dropped=self._dropped,
            packages=len(self.packages),
            pool=self.pool.stats(),
        )

    async def close(self, reason: str = "cancelled: the loopback server is shutting down") -> None:
        """Stop accepting, fail running tasks with ``reason`` (result frames), close sockets."""
        self._closing = True
        if self._server is not None:
            self._server.close(close_connections=False)
        # Pool first: running tasks end now with `reason`, and their result frames go out.
        await self.pool.close(reason)
        pending = [t for c in list(self._connections) for t in c.tasks]
        if pending:
            await asyncio.wait(pending, timeout=5.0)
        for conn in list(self._connections):
            try:
                await asyncio.wait_for(conn.ws.close(1001, "server shutting down"), 5.0)
            except (asyncio.TimeoutError, ConnectionClosed):
                pass
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def serve_forever(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set, then close cleanly."""
        await stop.wait()
        await self.close()

    # -- HTTP --------------------------------------------------------------------------

    def origin_allowed(self, origin: Optional[str]) -> bool:
        """Driver programs send no Origin; a browser always does. A page of another site must
        not make the author's browser run code here, so only local pages (``http://localhost``,
        ``127.0.0.1``, ``[::1]``, any port) and ``allowed_origins`` may connect."""
        if origin is None:
            return True
        if origin.rstrip("/") in self.allowed_origins:
            return True
        try:
            parts = urllib.parse.urlsplit(origin)
            host = parts.hostname
        except ValueError:
            return False
        return parts.scheme in ("http", "https") and host in LOCAL_ORIGIN_HOSTS

    def _process_request(self, connection: ServerConnection, request: Request) -> Optional[Response]:
        path = urllib.parse.urlsplit(request.path).path
        if path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "ok\n")
        if path != SOCKET_PATH:
            return connection.respond(http.HTTPStatus.NOT_FOUND, f"not found; drivers connect to {SOCKET_PATH}\n")
        origin = request.headers.get("Origin")
        if not self.origin_allowed(origin):
            self.reporter.warning(f"refused a browser connection from {origin}: not a local page")
            return connection.respond(
                http.HTTPStatus.FORBIDDEN,
                f"origin {origin} may not connect: the loopback runs the code it is sent, so only local "
                "pages may use it (motivus loopback --allow-origin ORIGIN to allow one)\n",
            )
        return None

    # -- a driver connection -------------------------------------------------------------

    def _authorize(self, token: str) -> bool:
        return self.tokens is None or token in self.tokens

    async def _handle(self, ws: ServerConnection) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(ws.request.path if ws.request else "").query)
        token = (query.get("token") or [""])[0]
        conn = _Connection(ws, Session(token, self._authorize))
        self._connections.add(conn)
        peer = ws.remote_address
        conn.local_data = _is_local_program(ws)
        assert isinstance(ws, _FrameKindConnection)
        try:
            while True:
                # Bytes, not str: a big task frame is parsed without a str copy of it, and its
                # preload files go on to the pool as slices of these bytes.
                message = await ws.recv(decode=False)
                if ws.binary_messages.popleft():
                    actions = conn.session.handle(message)
                else:
                    actions = conn.session.handle_text(message)
                # A task frame can be as big as its inputs: do not hold the raw frame (nor, in
                # `actions`, the parsed body) while waiting for the next frame.
                message = b""
                if not await self._perform(conn, actions, peer):
                    return
        except ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code == 1009 or (exc.sent is not None and exc.sent.code == 1009):
                self.reporter.warning(
                    f"closed the connection from {peer}: a frame was larger than {self.max_size} bytes"
                )
        finally:
            self._connections.discard(conn)
            dropped = [t for t in conn.tasks if not t.done()]
            if dropped and not self._closing:
                self._dropped += len(dropped)
                self.reporter.warning(f"driver {peer} went away: cancelling {len(dropped)} task(s)")
            for task in dropped:
                task.cancel()

    async def _perform(self, conn: _Connection, actions: List[Action], peer: Any) -> bool:
        """Carry out a frame's actions, consuming the list; False when the connection is closed."""
        while actions:
            action = actions.pop(0)
            if isinstance(action, Send):
                await self._send(conn, action.frame)
            elif isinstance(action, StartTask):
                self._start_task(conn, action)
            elif isinstance(action, Close):
                self.reporter.warning(f"closing the connection from {peer}: {action.reason}")
                await conn.ws.close(action.code, action.reason)
                return False
        return True

    async def _send(self, conn: _Connection, frame: Dict[str, Any]) -> None:
        payload = frame.get("payload")
        body = payload.get("body") if isinstance(payload, dict) else None
        if isinstance(body, str) and len(body) > self.fragment_size and is_wire_safe(body):
            await self._send_fragmented(conn, frame, body)
            return
        text = json.dumps(frame, separators=(",", ":"))
        async with conn.send_lock:
            await conn.ws.send(text)

    async def _send_fragmented(self, conn: _Connection, frame: Dict[str, Any], body: str) -> None:
        """Send a frame with a big ``payload.body`` as fragments, splicing the body in as is.

        The rest of the frame is serialised with a placeholder; the body goes out in
        ``fragment_size`` slices between the text before and after it. A body of base64
        characters needs no JSON escaping, so the reassembled message is the same JSON text
        as ``json.dumps(frame)``.
        """
        marker = uuid.uuid4().hex
        text = json.dumps(dict(frame, payload=dict(frame["payload"], body=marker)), separators=(",", ":"))
        at = text.index(f'"{marker}"') + 1
        head, tail = text[:at], text[at + len(marker) :]
        size = self.fragment_size

        def fragments() -> Iterator[str]:
            yield head
            for start in range(0, len(body), size):
                yield body[start : start + size]
            yield tail

        async with conn.send_lock:
            # websockets waits for its write buffer to drain after each fragment.
            await conn.ws.send(fragments())

    def _start_task(self, conn: _Connection, action: StartTask) -> None:
        self._received += 1
        body = action.body
        try:
            package = self.packages.intern_wire(body.wasm, body.loader)
        except MotivusError as exc:
            refused = result_frame(action.topic, failure_payload(action.ref, f"task refused: {exc}"))
            task = asyncio.ensure_future(self._send_quietly(conn, refused))
        else:
            # Only small fields and the shared package are kept per queued task: the frame's
            # own copy of the wasm and loader is dropped with `body` after this function.
            spec = TaskSpec(package, body.without_package(), release_inputs=True,
                            owner=conn.owner, local_data=conn.local_data)
            task = asyncio.ensure_future(self._run_task(conn, action.topic, action.ref, spec))
        conn.tasks.add(task)
        task.add_done_callback(conn.tasks.discard)

    async def _run_task(self, conn: _Connection, topic: str, ref: str, spec: TaskSpec) -> None:
        result = await self.pool.run(spec, label=ref[:8])
        line = f"task {ref[:8]} {'done' if result.ok else 'failed'} in {result.duration:.2f} s"
        if not result.ok:
            why = failure_summary(result.error or result.stderr_text)
            line += f" (exit code {result.exit_code})" + (f": {why}" if why else "")
        self.reporter.info(line)
        payload = result_payload(ref, encode_body_json(result.body_json), result.stdout, result.stderr,
                                 result.exit_code, result.error)
        await self._send_quietly(conn, result_frame(topic, payload))

    async def _send_quietly(self, conn: _Connection, frame: Dict[str, Any]) -> None:
        try:
            await self._send(conn, frame)
        except ConnectionClosed:
            pass


def _is_local_program(ws: ServerConnection) -> bool:
    """A program on this machine: no ``Origin`` (browsers always send one) from a loopback
    address."""
    if ws.request is None or ws.request.headers.get("Origin") is not None:
        return False
    address = ws.remote_address
    host = address[0] if isinstance(address, tuple) and address else ""
    try:
        return ipaddress.ip_address(str(host).split("%", 1)[0]).is_loopback
    except ValueError:
        return False


async def run_loopback(
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    workers: Optional[int] = None,
    timeout: Optional[float] = None,
    memory_mb: int = 2048,
    max_size: int = DEFAULT_MAX_SIZE,
    tokens: Optional[Collection[str]] = None,
    allowed_origins: Collection[str] = (),
    data_dirs: Optional[Sequence[Path]] = None,
    allow_unsandboxed: bool = False,
    reporter: Optional[Reporter] = None,
    stop: Optional[asyncio.Event] = None,
    on_ready: Optional[Any] = None,
    cluster: Optional[str] = None,
) -> None:
    """Start a pool and a loopback server, serve until ``stop`` is set, then shut down.

    ``on_ready(server)`` is called once listening (the CLI prints ``server.url`` and polls
    ``server.stats()`` for live progress). On cancellation (Ctrl-C) it shuts down cleanly too.
    ``data_dirs``: where local data_links may be read (default: the working directory).
    ``cluster``: run the tasks on this Dask cluster (``tcp://HOST:PORT`` or ``local:N``)
    instead of a local pool; Dask is imported only then.
    """
    reporter = reporter or NullReporter()
    dirs = [Path.cwd()] if data_dirs is None else list(data_dirs)
    pool: TaskRunner
    if cluster is not None:
        if workers is not None:
            raise UsageError(
                "--workers sizes the local pool; with --cluster the Dask workers run the tasks",
                hint="drop --workers, or give local:N to --cluster",
            )
        if allow_unsandboxed:
            raise UsageError(
                "--insecure-no-sandbox is for the local pool: cluster workers always run task code in the sandbox",
                hint="drop --insecure-no-sandbox; `motivus cluster worker` checks a machine's sandbox before it joins",
            )
        try:
            from motivus_dev.cluster.pool import ClusterPool
        except ImportError as exc:
            raise ToolchainError(
                f"--cluster needs Dask, which is not installed here ({exc})",
                hint="pip install 'motivus-dev[cluster]'",
            ) from exc

        pool = ClusterPool(cluster, timeout, memory_mb, reporter=reporter, data_dirs=dirs)
    else:
        pool = WorkerPool(
            workers, timeout, memory_mb, reporter=reporter, data_dirs=dirs, allow_unsandboxed=allow_unsandboxed
        )
    await pool.start()
    server = LoopbackServer(
        pool, host, port, max_size=max_size, tokens=tokens, reporter=reporter, allowed_origins=allowed_origins
    )
    try:
        await server.start()
    except BaseException:
        await pool.close()
        raise
    try:
        if on_ready is not None:
            on_ready(server)
        await (stop or asyncio.Event()).wait()
    finally:
        await asyncio.shield(server.close())


__all__: List[str] = [
    "LoopbackServer",
    "LoopbackStats",
    "run_loopback",
    "DEFAULT_PORT",
    "DEFAULT_HOST",
    "SOCKET_PATH",
    "DEFAULT_MAX_SIZE",
    "DEFAULT_FRAGMENT_SIZE",
]
