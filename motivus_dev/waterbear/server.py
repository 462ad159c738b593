"""The Waterbear driver protocol, server side, as pure logic (no I/O).

A :class:`Session` is one driver connection. :meth:`Session.handle` takes one text frame
and returns what the server must do: frames to send (:class:`Send`), a task to start
(:class:`StartTask`) or the connection to close (:class:`Close`). The websocket server
(``loopback/server.py``) performs them. Frames are built in :mod:`.frames`.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from motivus_dev.taskbody import TaskBody, TaskBodyError
from motivus_dev.waterbear.frames import (
    CHANNEL_PREFIX,
    CHANNEL_RE,
    HEARTBEAT_TOPIC,
    LOBBY_TOPIC,
    Send,
    failure_payload,
    frame,
    reply,
    result_frame,
)

# Namespace for deriving a stable user id from a token (loopback has no user database).
_USER_NAMESPACE = uuid.UUID("6c0b9a52-53d1-4f6e-9f3e-5b7d8d1a2c11")


def user_uuid_for(token: str) -> str:
    """The user id loopback assigns to a token: the same token always gets the same id."""
    return str(uuid.uuid5(_USER_NAMESPACE, token))


@dataclass
class StartTask:
    """Run this task; answer with a ``result`` frame on ``topic``."""

    topic: str
    ref: str
    task_type: str
    body: TaskBody


@dataclass
class Close:
    """Close the connection (after sending any frames before this action)."""

    code: int
    reason: str


Action = Union[Send, StartTask, Close]

# A text frame at least this long is parsed without making a str of it (see
# split_big_strings); so is any string literal in it this long made only of base64
# characters. Below it, a frame is decoded and parsed whole, as websockets would.
BIG_STRING_MIN = 1 << 20


def split_big_strings(data: bytes, minimum: int = BIG_STRING_MIN) -> Tuple[str, Dict[str, memoryview]]:
    """Cut the long base64 string literals out of a JSON text frame given as UTF-8 bytes.

    Returns the frame's text with each such literal replaced by a placeholder string, and
    the placeholders' values as ``memoryview`` slices of ``data`` (ASCII, no copy). A 64 MiB
    preload file is 85 MiB of base64: parsing the frame as a str would hold the frame's
    bytes, its str and the value ``json.loads`` copies out of it, all at once.

    Only literals of ``minimum`` or more ``[A-Za-z0-9+/=]`` characters count, whose opening
    quote is not escaped and that are not object keys. When the text with placeholders is
    valid JSON, it parses to the original with those strings in place of the placeholders:
    a base64 run right after a string's closing quote would be invalid JSON both ways
    (the placeholder starts with ``@``, which is no JSON token either). Raises
    :class:`UnicodeDecodeError` when the rest of the frame is not UTF-8.
    """
    prefix = "@mv" + uuid.uuid4().hex + ":"
    view = memoryview(data)
    parts: List[Union[bytes, memoryview]] = []
    bigs: Dict[str, memoryview] = {}
    pattern = re.compile(rb'"[A-Za-z0-9+/=]{%d,}"' % minimum)
    done = 0
    for match in pattern.finditer(data):
        start, end = match.span()
        backslashes = 0
        while start - backslashes > 0 and data[start - backslashes - 1] == 0x5C:
            backslashes += 1
        after = end
        while after < len(data) and data[after] in b" \t\r\n":
            after += 1
        if backslashes % 2 or (after < len(data) and data[after] == 0x3A):  # escaped quote, or a key
            continue
        marker = f"{prefix}{len(bigs)}"
        bigs[marker] = view[start + 1 : end - 1]
        parts.append(view[done : start + 1])
        parts.append(marker.encode("ascii"))
        done = end - 1
    if not bigs:
        return data.decode("utf-8"), {}
    parts.append(view[done:])
    return b"".join(parts).decode("utf-8"), bigs


def _put_back(msg: Any, bigs: Dict[str, memoryview]) -> Any:
    """Put the strings cut out by :func:`split_big_strings` back in place of their placeholders.

    A task body's ``preload_files`` values stay bytes (the pool sends them to node as they
    are); anywhere else a value becomes a str again, as ``json.loads`` would have made it.
    """

    def value(item: Any) -> Any:
        if isinstance(item, str) and item in bigs:
            return str(bigs[item], "ascii")
        return item

    preload: Any = None
    payload = msg.get("payload") if isinstance(msg, dict) else None
    body = payload.get("body") if isinstance(payload, dict) else None
    if isinstance(body, dict) and isinstance(body.get("preload_files"), dict):
        preload = body["preload_files"]
    stack: List[Any] = [msg]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            keep = node is preload
            for key, item in node.items():
                if isinstance(item, (dict, list)):
                    stack.append(item)
                elif isinstance(item, str) and item in bigs:
                    node[key] = bigs[item] if keep else value(item)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                if isinstance(item, (dict, list)):
                    stack.append(item)
                else:
                    node[i] = value(item)
    return msg


class Session:
    """The protocol state of one driver connection.

    ``authorize(token) -> bool`` decides whether a token may join a channel; loopback
    accepts every token unless given an allow-list.
    """

    def __init__(self, token: Optional[str], authorize: Optional[Callable[[str], bool]] = None) -> None:
        self.token = token or ""
        self.authorized = authorize(self.token) if authorize is not None else True
        self.user_uuid = user_uuid_for(self.token)
        self.channel: Optional[str] = None
        self.lobby_joined = False

    def handle(self, message: Union[str, bytes]) -> List[Action]:
        """Process one incoming frame (``str``: text, ``bytes``: binary); return the actions, in order."""
        if isinstance(message, bytes):
            return self._malformed("binary frames are not part of the protocol (send JSON text)")
        try:
            msg = json.loads(message)
        except json.JSONDecodeError as exc:
            return self._malformed(f"the frame is not JSON ({exc.msg} at position {exc.pos})")
        except ValueError as exc:  # e.g. invalid UTF-8
            return self._malformed(f"the frame is not JSON ({exc})")
        except RecursionError:
            return self._malformed("the frame's JSON nests too deeply")
        return self._dispatch(msg)

    def handle_text(self, data: bytes) -> List[Action]:
        """Process one incoming text frame given as its UTF-8 bytes; return the actions.

        Same result as ``handle(data.decode())``, but a big frame is never made a str
        whole: its long base64 strings are cut out first (:func:`split_big_strings`), and a
        task's ``preload_files`` values stay ``memoryview`` slices of ``data``. Text that is
        not UTF-8 closes the connection with 1007, as websockets does when it decodes.
        """
        try:
            if len(data) < BIG_STRING_MIN:
                return self.handle(data.decode("utf-8"))
            text, bigs = split_big_strings(data, BIG_STRING_MIN)
        except UnicodeDecodeError as exc:
            return [Close(1007, f"{exc.reason} at position {exc.start}")]
        if not bigs:
            return self.handle(text)
        try:
            msg = json.loads(text)
        except (ValueError, RecursionError):
            # Malformed: parse it the plain way, for the very same error as a small frame.
            del text, bigs
            return self.handle(data.decode("utf-8"))
        del text
        return self._dispatch(_put_back(msg, bigs))

    def _dispatch(self, msg: Any) -> List[Action]:
        if not isinstance(msg, dict):
            return self._malformed("the frame is JSON but not an object")
        topic, event = msg.get("topic"), msg.get("event")
        if not isinstance(topic, str) or not isinstance(event, str):
            return self._malformed("the frame has no string `topic` and `event`")
        ref = msg.get("ref")
        if isinstance(ref, (dict, list, float)):
            return self._malformed("`ref` must be a string, an integer or null")
        payload = msg.get("payload")
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            return self._malformed("`payload` must be an object")

        if topic == HEARTBEAT_TOPIC:
            if event == "heartbeat":
                return [Send(reply(HEARTBEAT_TOPIC, ref, "ok", {}))]
            return [Send(reply(topic, ref, "error", {"reason": f"unknown event {event!r} on phoenix"}))]

        if topic == LOBBY_TOPIC:
            if event == "phx_join":
                # The refusal of a bad token comes at the channel join (step 3), where the
                # 2.4.0 client reports "Unauthorized"; here it would say "Internal server error".
                self.lobby_joined = True
                return [Send(reply(topic, ref, "ok", {"uuid": self.user_uuid}))]
            if event == "phx_leave":
                self.lobby_joined = False
                return [Send(reply(topic, ref, "ok", {}))]
            return [Send(reply(topic, ref, "error", {"reason": "unmatched topic"}))]

        if topic.startswith(CHANNEL_PREFIX):
            return self._channel(topic, event, payload, ref)

        return [Send(reply(topic, ref, "error", {"reason": "unmatched topic"}))]

    def _channel(self, topic: str, event: str, payload: Dict[str, Any], ref: Any) -> List[Action]:
        if event == "phx_join":
            if not self.authorized:
                return [Send(reply(topic, ref, "error", {"reason": "unauthorized"}))]
            match = CHANNEL_RE.match(topic)
            if match is None:
                return [
                    Send(
                        reply(
                            topic, ref, "error", {"reason": "malformed topic: expected room:client:<user uuid>:<uuid>"}
                        )
                    )
                ]
            if match.group(1).lower() != self.user_uuid:
                return [Send(reply(topic, ref, "error", {"reason": "unauthorized"}))]
            self.channel = topic
            return [Send(reply(topic, ref, "ok", {}))]
        if self.channel != topic:
            return [Send(reply(topic, ref, "error", {"reason": "unmatched topic"}))]
        if event == "phx_leave":
            self.channel = None
            return [Send(reply(topic, ref, "ok", {}))]
        if event == "task":
            return self._task(topic, payload, ref)
        if event == "set_validation":
            return [Send(reply(topic, ref, "ok", {}))] if ref is not None else []
        return [Send(reply(topic, ref, "error", {"reason": f"unknown event {event!r}"}))]

    def _task(self, topic: str, payload: Dict[str, Any], ref: Any) -> List[Action]:
        task_ref = payload.get("ref")
        if not isinstance(task_ref, str) or not task_ref:
            return [Send(reply(topic, ref, "error", {"reason": "the task payload has no string `ref`"}))]
        try:
            body = TaskBody.from_wire(payload.get("body"))
        except TaskBodyError as exc:
            return [Send(result_frame(topic, failure_payload(task_ref, f"task refused: {exc}")))]
        task_type = payload.get("type", "trusted_work")
        return [StartTask(topic, task_ref, str(task_type), body)]

    def _malformed(self, why: str) -> List[Action]:
        return [
            Send(frame("phoenix", "phx_error", {"reason": f"malformed frame: {why}"}, None)),
            Close(1007, "malformed frame"),
        ]
