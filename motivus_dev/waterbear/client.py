"""The Waterbear driver protocol, client side, as pure logic (no I/O).

:class:`ClientSession` walks the handshake the published 2.4.0 client walks (join the
lobby for the user id, leave it, join ``room:client:<user>:<uuid4>``), builds task frames,
and turns ``result`` frames into :class:`ResultEvent`. The websocket client
(``motivus_dev/client.py``) only sends what it is given and feeds what it receives.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

from motivus_dev.errors import MotivusError, ProtocolError
from motivus_dev.waterbear.codec import decode_body, decode_output, task_value
from motivus_dev.waterbear.frames import LOBBY_TOPIC, Send, channel_topic, frame


class HandshakeRefused(ProtocolError):
    """The server refused the token or the channel during the handshake."""

    def __init__(self, message: str, reason: Optional[str] = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.reason = reason


@dataclass
class Joined:
    """The handshake is over: tasks may be sent on ``channel``."""

    channel: str
    user_uuid: str


@dataclass
class ResultEvent:
    """A task's ``result`` frame, decoded.

    ``body`` is the loader's plain body (``None`` with ``body_error`` set when the frame's
    body does not decode); ``value`` is what the task resolves to (``body.get("data",
    body)``, as the 2.4.0 client does).
    """

    ref: str
    body: Any
    stdout: str
    stderr: str
    exit_code: Optional[int]
    error: Optional[str]
    body_error: Optional[MotivusError] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """True when the worker or the pool said the task failed, or its body is unreadable."""
        return self.body_error is not None or self.error is not None or bool(self.exit_code)

    @property
    def value(self) -> Any:
        return task_value(self.body)


Event = Union[Send, Joined, ResultEvent]


def parse_result(payload: Dict[str, Any]) -> Optional[ResultEvent]:
    """A ``result`` payload as a :class:`ResultEvent` (None without a string ``ref``)."""
    ref = payload.get("ref")
    if not isinstance(ref, str):
        return None
    exit_code = payload.get("exitCode")
    error = payload.get("error")
    event = ResultEvent(
        ref=ref,
        body=None,
        stdout=decode_output(payload.get("stdout")),
        stderr=decode_output(payload.get("stderr")),
        exit_code=exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None,
        error=error if isinstance(error, str) else None,
    )
    try:
        event.body = decode_body(payload.get("body"))
    except MotivusError as exc:
        event.body_error = exc
    return event


class ClientState(enum.Enum):
    """Where a driver connection is in the handshake (websockets' style: states as an enum)."""

    NEW = "new"
    LOBBY = "lobby"  # joined the lobby, waiting for the user id
    LEAVING = "leaving"  # left the lobby, waiting for its reply
    JOINING = "joining"  # joined the user's channel, waiting for the reply
    OPEN = "open"  # results arrive


class ClientSession:
    """The protocol state of one driver connection."""

    def __init__(self) -> None:
        self.state = ClientState.NEW
        self.user_uuid = ""
        self.channel = ""

    def start(self) -> List[Event]:
        """The first frame: join the lobby to learn the token's user id."""
        self.state = ClientState.LOBBY
        return [Send(frame(LOBBY_TOPIC, "phx_join", {}, "uuid"))]

    def receive(self, msg: Any) -> List[Event]:
        """Feed one frame from the server; returns what to do (raises on a refused handshake)."""
        if not isinstance(msg, dict):
            raise ProtocolError("the server sent a frame that is not a JSON object")
        payload = msg.get("payload")
        if self.state is ClientState.LOBBY:
            response = payload.get("response") if isinstance(payload, dict) else None
            if msg.get("ref") != "uuid" or not isinstance(response, dict) or "uuid" not in response:
                reason = response.get("reason") if isinstance(response, dict) else None
                if reason == "unauthorized":
                    raise HandshakeRefused("the server refused the application token", reason=reason)
                raise ProtocolError(f"unexpected reply to the user id request: {str(msg)[:300]}")
            self.user_uuid = str(response["uuid"])
            self.state = ClientState.LEAVING
            return [Send(frame(LOBBY_TOPIC, "phx_leave", {}, None))]
        if self.state is ClientState.LEAVING:
            # The 2.4.0 client reads one frame here and ignores it.
            self.channel = channel_topic(self.user_uuid)
            self.state = ClientState.JOINING
            return [Send(frame(self.channel, "phx_join", {}, "join"))]
        if self.state is ClientState.JOINING:
            if isinstance(payload, dict) and payload.get("status") == "error":
                response = payload.get("response")
                reason = response.get("reason") if isinstance(response, dict) else None
                if reason == "unauthorized":
                    raise HandshakeRefused(
                        "unauthorized connection: the server refused the application token", reason=reason
                    )
                raise HandshakeRefused(f"the server refused to join the channel: {reason}", reason=reason)
            self.state = ClientState.OPEN
            return [Joined(self.channel, self.user_uuid)]
        if msg.get("event") == "result" and isinstance(payload, dict):
            event = parse_result(payload)
            return [event] if event is not None else []
        return []

    def task(self, ref: str, body: Dict[str, Any], public: bool = False) -> Dict[str, Any]:
        """The ``task`` frame for a task body (``type`` is ``work`` on the public cluster)."""
        payload = {
            "body": body,
            "type": "work" if public else "trusted_work",
            "ref": ref,
            "client_id": self.user_uuid,
        }
        return frame(self.channel, "task", payload, None)

    def set_validation(self, task_id: str, is_valid: bool) -> Dict[str, Any]:
        """The ``set_validation`` frame."""
        payload = {"is_valid": is_valid, "task_id": task_id, "client_id": self.user_uuid}
        return frame(self.channel, "set_validation", payload, None)
