"""A test double of the Waterbear cluster's side of the worker protocol, on 127.0.0.1.

It speaks exactly the frames the platform's worker sources expect (src/sagas/socket.js,
src/sagas/user.js, src/utils/api.js; docs/worker.md): ``POST /auth/guest`` gives a guest
token, ``GET /api/user`` the token's user (401 for a refused token), and the websocket
``/socket/websocket?token=...`` carries ``phx_join``, ``heartbeat``, ``input_request`` and
``result`` from the worker, ``input`` and ``abort_task`` to it. The real cluster is out of
reach from here; the test drives this double and checks every frame the worker sends.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, Dict, List, Optional, Set

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


class ClusterDouble:
    """Run with ``async with ClusterDouble() as cluster``; ``cluster.host`` is host:port."""

    def __init__(self, refused_tokens: Set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.refused = set(refused_tokens)
        self.guests = 0
        self.frames: "asyncio.Queue[Dict[str, Any]]" = asyncio.Queue()
        self.sockets: List[WebSocket] = []
        self.tokens: List[str] = []
        self._server: Optional[uvicorn.Server] = None
        self._serving: Optional["asyncio.Task[None]"] = None
        app = Starlette(routes=[
            Route("/auth/guest", self._guest, methods=["POST"]),
            Route("/api/user", self._user, methods=["GET"]),
            WebSocketRoute("/socket/websocket", self._socket),
        ])
        self.app = app

    async def _guest(self, request: Request) -> Response:
        self.guests += 1
        return JSONResponse({"token": f"guest-token-{self.guests}"})

    async def _user(self, request: Request) -> Response:
        token = request.headers.get("authorization", "").partition(" ")[2]
        if not token or token in self.refused:
            return PlainTextResponse("invalid_token", status_code=401)
        return JSONResponse({"data": {"id": 1, "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, token)), "name": "w"}})

    async def _socket(self, ws: WebSocket) -> None:
        await ws.accept()
        self.tokens.append(ws.query_params.get("token", ""))
        self.sockets.append(ws)
        index = len(self.sockets) - 1
        try:
            while True:
                frame = json.loads(await ws.receive_text())
                frame["_socket"] = index
                await self.frames.put(frame)
        except WebSocketDisconnect:
            pass

    async def __aenter__(self) -> "ClusterDouble":
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
                                ws="websockets-sansio")
        self._server = uvicorn.Server(config)
        self._serving = asyncio.ensure_future(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._server is not None and self._serving is not None
        self._server.should_exit = True
        await asyncio.wait_for(self._serving, 10)

    @property
    def host(self) -> str:
        assert self._server is not None
        port = self._server.servers[0].sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"

    async def next(self, event: str, timeout: float = 20.0) -> Dict[str, Any]:
        """The next frame from the worker with this event (heartbeats of others are skipped)."""
        while True:
            frame = await asyncio.wait_for(self.frames.get(), timeout)
            if frame.get("event") == event:
                return frame

    async def send(self, event: str, payload: Dict[str, Any], topic: str = "") -> None:
        """A frame to the worker on its latest socket."""
        await self.sockets[-1].send_text(json.dumps({"topic": topic, "event": event, "payload": payload, "ref": None}))

    async def drop(self) -> None:
        """Close the latest socket, as a cluster restart would."""
        await self.sockets[-1].close(code=1012)
