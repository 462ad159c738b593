"""The driver client: send tasks to a Motivus cluster or to ``motivus loopback``.

Same API as the published ``motivus`` 2.4.0 client (``from motivus.client import Client``)::

    motivus = await Client.connect()
    task_id = motivus.call_async({"wasm_path": ..., "loader_path": ..., "params": [...]})
    data = await motivus.select_task(task_id)

Differences, on purpose: failures raise typed exceptions (never ``sys.exit``), a failed task
raises :class:`TaskFailedError` with the worker's stderr, and missing result files are an
error rather than a printed warning.

Configuration: ``WEBSOCKET_URI`` and ``APPLICATION_TOKEN`` from the environment or a
``.env`` file in the current directory (the environment wins).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from motivus_dev.envfile import read_dotenv
from motivus_dev.errors import ConfigError, MarketplaceError, MotivusError, ProtocolError, RuntimeFailure
from motivus_dev.taskbody import TaskBody
from motivus_dev.taskbody import check as check_body_shape
from motivus_dev.taskoutput import failure_excerpt, failure_hint
from motivus_dev.waterbear import CLUSTER_HOST, ClientSession, HandshakeRefused, Joined, ResultEvent, result_files
from motivus_dev.waterbear.frames import Send, heartbeat

CLUSTER_URI = f"wss://{CLUSTER_HOST}/client_socket/websocket"
LOOPBACK_URI = "ws://localhost:7070/client_socket/websocket"
HEARTBEAT_SECONDS = 3.0


class ClientConnectionError(ProtocolError):
    """The driver could not connect to (or lost) the Waterbear server."""


class UnauthorizedError(ProtocolError):
    """The server refused the application token."""


class TaskDefinitionError(ConfigError):
    """A task definition is missing keys or names files that cannot be read."""


class TaskFailedError(RuntimeFailure):
    """A task ran and failed. ``stderr``/``stdout`` are the task's whole output; the message
    keeps the start and the end of a long stderr and any Rust panic in it (location and
    message), with a hint when a panic came without its message.

    Two exit codes, not to be confused: ``task_exit_code`` is the task's own (the loader's
    ``exitCode``: 1 for a failure, 134 for a trap, what ``main`` returned), and
    ``exit_code``, as on every error of the kit, is the status a command exits with for
    this class of error (8, a failure at run time)."""

    def __init__(self, task_id: str, stderr: str, stdout: str = "", exit_code: Optional[int] = None) -> None:
        super().__init__(f"task {task_id} failed:\n{failure_excerpt(stderr) or '(no stderr)'}",
                         hint=failure_hint(stderr))
        self.task_id = task_id
        self.stderr = stderr
        self.stdout = stdout
        self.task_exit_code = exit_code


def local_link(link: Optional[str]) -> Optional[str]:
    """A data_link as the worker must see it: a local path becomes an absolute file:// URL.

    The driver's working directory is not the worker's, so ``./build/x.data.zip`` is resolved
    here, where the driver meant it; URLs pass unchanged.
    """
    if not link or "://" in link:
        return link
    return Path(link).expanduser().resolve().as_uri()


def load_settings(cwd: Optional[Path] = None) -> Tuple[str, str]:
    """``(WEBSOCKET_URI, APPLICATION_TOKEN)`` from the environment, else ``.env``, else defaults."""
    dotenv = read_dotenv((cwd or Path.cwd()) / ".env")
    uri = os.environ.get("WEBSOCKET_URI") or dotenv.get("WEBSOCKET_URI") or CLUSTER_URI
    token = os.environ.get("APPLICATION_TOKEN") or dotenv.get("APPLICATION_TOKEN") or "no-token"
    return uri, token


def resolve_algorithm(name: str, version: str, token: str) -> Dict[str, Optional[str]]:
    """Marketplace hook: resolve ``algorithm``/``algorithm_version`` to wasm, loader, data_link.

    Calls ``motivus_dev.marketplace.client.resolve.resolve(registry_url, token, name, version,
    cache_dir)`` (the registry from ``MOTIVUS_MARKETPLACE_URL`` / ``ALGORITHM_REPO_HOST``, as
    the marketplace module reads them) and returns ``{"wasm": base64, "loader": base64,
    "data_link": url|None}``. When the data file's sha256 is known it is appended to the link
    as ``#sha256=HEX`` (a fragment is never sent to the server; loopback verifies it).
    """
    try:
        from motivus_dev.marketplace.client import api
        from motivus_dev.marketplace.client.resolve import resolve
    except ImportError as exc:
        raise MarketplaceError(
            f"cannot resolve algorithm {name!r} {version!r}: marketplace support is not available ({exc})",
            hint="use wasm_path and loader_path in the task definition instead",
        ) from exc
    registry = api.registry_url_from_env()
    from motivus_dev.resources import cache_dir

    try:
        resolved = resolve(registry, token, name, version, cache_dir() / "algorithms")
    except api.RegistryUnreachable as exc:
        if not (os.environ.get(api.REGISTRY_URL_VAR) or os.environ.get(api.REPO_HOST_VAR)):
            exc.hint = (f"{api.REGISTRY_URL_VAR} is not set, so the platform's marketplace was asked: set it to "
                        "your registry's URL (`motivus marketplace serve` prints it), or run a package you built "
                        "with wasm_path and loader_path")
        raise
    except MarketplaceError:
        raise
    except Exception as exc:  # a foreign error from the resolver: translate at the boundary
        raise MarketplaceError(f"cannot resolve algorithm {name!r} {version!r}: {exc}") from exc
    return _normalize_resolved(resolved, name, version)


def _for_the_driver(exc: BaseException) -> BaseException:
    """An expected error as a driver script shows it when it does not catch it: raised
    where the driver awaits the task, with no frames of the client's machinery and no
    chain of the foreign errors behind it (the message already names the problem and the
    fix). A bug of ours keeps its whole traceback."""
    if isinstance(exc, MotivusError):
        exc.__cause__ = None
        exc.__suppress_context__ = True
        return exc.with_traceback(None)
    return exc


def _normalize_resolved(resolved: Any, name: str, version: str) -> Dict[str, Optional[str]]:
    """Accept a mapping or an object with wasm/loader as bytes or paths, and a data link."""

    def get(*keys: str) -> Any:
        for key in keys:
            if isinstance(resolved, Mapping) and resolved.get(key) is not None:
                return resolved[key]
            if not isinstance(resolved, Mapping) and getattr(resolved, key, None) is not None:
                return getattr(resolved, key)
        return None

    def as_b64(value: Any, what: str) -> str:
        if isinstance(value, (bytes, bytearray)):
            return base64.b64encode(bytes(value)).decode("ascii")
        if isinstance(value, (str, Path)) and Path(value).is_file():
            return base64.b64encode(Path(value).read_bytes()).decode("ascii")
        raise MarketplaceError(f"the marketplace gave no usable {what} for {name} {version}")

    wasm = as_b64(get("wasm", "wasm_bytes", "wasm_path"), "wasm")
    loader = as_b64(get("loader", "loader_bytes", "loader_path"), "loader")
    data = get("data_link", "data_url", "data_path")
    link = str(data) if data else None
    digest = get("data_sha256")
    if link and isinstance(digest, str) and "#" not in link:
        link = f"{link}#sha256={digest}"
    return {"wasm": wasm, "loader": loader, "data_link": link}


class Client:
    """A connection to a Waterbear server (cluster or loopback) and its tasks."""

    def __init__(self, uri: str, token: str) -> None:
        self.uri = uri
        self.token = token
        self.session = ClientSession()
        self.websocket: Optional[ClientConnection] = None
        self.tasks: Dict[str, "asyncio.Future[Any]"] = {}
        self.result_files: Dict[str, Dict[str, str]] = {}
        self.outputs: Dict[str, Dict[str, Any]] = {}
        self.algorithm_cache: Dict[Tuple[str, str], Dict[str, Optional[str]]] = {}
        self._background: List["asyncio.Task[None]"] = []
        self._closed_reason: Optional[str] = None

    @property
    def user_uuid(self) -> str:
        return self.session.user_uuid

    @property
    def channel_id(self) -> str:
        """The channel's ``<user uuid>:<uuid4>`` (the topic without ``room:client:``)."""
        return self.session.channel[len("room:client:") :]

    # -- connection ------------------------------------------------------------------

    @classmethod
    async def connect(cls, uri: Optional[str] = None, token: Optional[str] = None) -> "Client":
        """Connect, run the handshake and start the heartbeat and the listener."""
        env_uri, env_token = load_settings()
        self = cls(uri or env_uri, token or env_token)
        separator = "&" if "?" in self.uri else "?"
        target = f"{self.uri}{separator}token={self.token}"
        hint = "start a local server with `motivus loopback` and export the WEBSOCKET_URI it prints"
        try:
            self.websocket = await websockets.connect(target, max_size=None, compression=None)
        except InvalidURI:
            raise ClientConnectionError(
                f"WEBSOCKET_URI {self.uri!r} is not a websocket URI",
                hint="it looks like ws://localhost:7070/client_socket/websocket",
            ) from None  # the message says it all; a driver's traceback stays short (the cause: __context__)
        except (OSError, InvalidHandshake, asyncio.TimeoutError) as exc:
            raise ClientConnectionError(f"cannot connect to {self.uri}: {exc}", hint=hint) from None
        try:
            await self._handshake()
        except ConnectionClosed as exc:
            raise ClientConnectionError(
                f"{self.uri} closed the connection during the handshake: {exc}", hint=hint
            ) from None
        except BaseException:
            await self.websocket.close()
            raise
        self._background.append(asyncio.ensure_future(self._heartbeat()))
        self._background.append(asyncio.ensure_future(self._listen()))
        return self

    async def _recv_json(self) -> Any:
        assert self.websocket is not None
        raw = await asyncio.wait_for(self.websocket.recv(), 30.0)
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ProtocolError(f"the server sent a frame that is not JSON: {str(raw)[:200]!r}") from exc

    async def _send(self, msg: Dict[str, Any]) -> None:
        assert self.websocket is not None
        await self.websocket.send(json.dumps(msg))

    async def _handshake(self) -> None:
        events = self.session.start()
        while True:
            for event in events:
                if isinstance(event, Joined):
                    return
                if isinstance(event, Send):
                    await self._send(event.frame)
            try:
                events = self.session.receive(await self._recv_json())
            except HandshakeRefused as exc:
                if exc.reason == "unauthorized":
                    raise UnauthorizedError(exc.message, hint="check APPLICATION_TOKEN (environment or .env)") from None
                raise

    async def _heartbeat(self) -> None:
        try:
            while True:
                await self._send(heartbeat())
                await asyncio.sleep(HEARTBEAT_SECONDS)
        except ConnectionClosed:
            return

    async def _listen(self) -> None:
        assert self.websocket is not None
        reason = "the connection to the server closed"
        try:
            async for raw in self.websocket:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                for event in self.session.receive(msg):
                    if isinstance(event, ResultEvent):
                        self._on_result(event)
        except ConnectionClosed as exc:
            reason = f"the connection to {self.uri} closed ({exc})"
        finally:
            self._closed_reason = reason
            for task_id, future in self.tasks.items():
                if not future.done():
                    future.set_exception(ClientConnectionError(f"task {task_id} lost: {reason}"))

    def _on_result(self, event: ResultEvent) -> None:
        ref = event.ref
        future = self.tasks.get(ref)
        if future is None or future.done():
            return
        self.outputs[ref] = {"stdout": event.stdout, "stderr": event.stderr, "exit_code": event.exit_code}
        if event.body_error is not None:
            future.set_exception(ProtocolError(f"task {ref}: {event.body_error.message}"))
            return
        if event.failed:
            future.set_exception(TaskFailedError(ref, event.stderr, event.stdout, event.exit_code))
            return
        files = result_files(event.body)
        try:
            for guest_path, local_path in self.result_files.get(ref, {}).items():
                contents = files.get(guest_path)
                if contents is None:
                    raise TaskFailedError(
                        ref, event.stderr + f"\nresult file {guest_path} was not returned by the worker", event.stdout
                    )
                target = Path(local_path)
                if target.parent != Path(""):
                    target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(contents)
        except (TaskFailedError, OSError) as exc:
            if isinstance(exc, TaskFailedError):
                future.set_exception(exc)
            else:
                future.set_exception(RuntimeFailure(f"task {ref}: cannot write a result file: {exc}"))
            return
        future.set_result(event.value)

    async def close(self) -> None:
        """Stop the heartbeat and close the connection."""
        for task in self._background[:1]:
            task.cancel()
        if self.websocket is not None:
            await self.websocket.close()
        await asyncio.gather(*self._background, return_exceptions=True)

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- tasks ---------------------------------------------------------------------------

    @staticmethod
    def read_file(file_path: str) -> str:
        """A file's bytes as base64 text: the value format of ``preload_files``."""
        try:
            return base64.b64encode(Path(file_path).read_bytes()).decode("ascii")
        except OSError as exc:
            raise TaskDefinitionError(f"cannot read {file_path}: {exc.strerror or exc}") from exc

    def call_async(self, task_definition: Mapping[str, Any]) -> str:
        """Queue a task and return its id; the result comes through :meth:`select_task`.

        Local files (``wasm_path``, ``loader_path``) are read now, so a wrong path raises
        :class:`TaskDefinitionError` here; marketplace resolution happens in the background
        and fails the task's future.
        """
        if self._closed_reason is not None:
            raise ClientConnectionError(f"cannot send a task: {self._closed_reason}")
        definition = dict(task_definition)
        ref = str(uuid.uuid4())
        body: Optional[Dict[str, Any]] = None
        if not definition.get("algorithm"):
            if not definition.get("wasm_path") or not definition.get("loader_path"):
                raise TaskDefinitionError(
                    "a task definition needs `algorithm` (+ `algorithm_version`) or both `wasm_path` and `loader_path`",
                    hint="after `motivus build`, point wasm_path/loader_path at build/NAME-VERSION.wasm and .js",
                )
            body = self._body(
                definition,
                self.read_file(definition["wasm_path"]),
                self.read_file(definition["loader_path"]),
                local_link(definition.get("data_link")),
            )
        result_files = definition.get("result_files") or {}
        if not isinstance(result_files, Mapping):
            raise TaskDefinitionError("`result_files` must be a dict of guest path -> local path")
        future: "asyncio.Future[Any]" = asyncio.get_running_loop().create_future()
        self.tasks[ref] = future
        self.result_files[ref] = {str(k): str(v) for k, v in result_files.items()}
        asyncio.ensure_future(self._submit(ref, definition, body))
        return ref

    def _body(self, definition: Dict[str, Any], wasm: str, loader: str, data_link: Optional[str]) -> Dict[str, Any]:
        wire = TaskBody(
            params=definition.get("params"),
            arguments=definition.get("arguments"),
            preload_files=definition.get("preload_files"),
            result_files=definition.get("result_files"),
            data_link=data_link,
            wasm=wasm,
            loader=loader,
        ).to_wire()
        why = check_body_shape(wire)
        if why is not None:  # the server would refuse it: say so here, where the driver can fix it
            raise TaskDefinitionError(f"bad task definition: {why}")
        return wire

    async def _submit(self, ref: str, definition: Dict[str, Any], body: Optional[Dict[str, Any]]) -> None:
        future = self.tasks[ref]
        try:
            if body is None:
                name = str(definition["algorithm"])
                version = str(definition.get("algorithm_version", "latest"))
                key = (name, version)
                if key not in self.algorithm_cache:
                    loop = asyncio.get_running_loop()
                    self.algorithm_cache[key] = await loop.run_in_executor(
                        None, resolve_algorithm, name, version, self.token
                    )
                resolved = self.algorithm_cache[key]
                body = self._body(
                    definition,
                    str(resolved["wasm"]),
                    str(resolved["loader"]),
                    definition.get("data_link") or resolved.get("data_link"),
                )
            await self._send(self.session.task(ref, body, bool(definition.get("public_cluster"))))
        except ConnectionClosed as exc:
            if not future.done():
                future.set_exception(ClientConnectionError(f"task {ref} not sent: the connection closed ({exc})"))
        except Exception as exc:  # resolution errors belong to this task's future
            if not future.done():
                future.set_exception(_for_the_driver(exc))

    def select_task(self, task_id: str) -> "asyncio.Future[Any]":
        """The task's future: awaiting it gives the algorithm's ``data``."""
        try:
            return self.tasks[task_id]
        except KeyError:
            raise TaskDefinitionError(f"no task with id {task_id!r} was created by this client") from None

    def barrier(self, ids: Optional[List[str]] = None) -> "asyncio.Future[List[Any]]":
        """A future of the results of all the given tasks, in order."""
        return asyncio.ensure_future(asyncio.gather(*(self.select_task(k) for k in (ids or []))))

    def task_output(self, task_id: str) -> Dict[str, Any]:
        """The worker's ``stdout``, ``stderr`` and ``exit_code`` of a finished task."""
        return self.outputs.get(task_id, {})

    async def reply_result(self, task_id: str, is_valid: bool) -> None:
        """Set a task's validation status (``set_validation``)."""
        await self._send(self.session.set_validation(task_id, is_valid))
