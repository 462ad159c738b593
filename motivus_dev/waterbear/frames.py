"""Waterbear frames: the Phoenix-channels shape, the topics and the frames both sides build.

Every frame carries an ``event`` key, because the published 2.4.0 client reads
``message["event"]`` on every frame it receives.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, Dict, Optional, Union

from motivus_dev.waterbear.codec import EMPTY_BODY, encode_output

LOBBY_TOPIC = "room:client?"
CHANNEL_PREFIX = "room:client:"
HEARTBEAT_TOPIC = "phoenix"
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
CHANNEL_RE = re.compile(r"^room:client:(" + _UUID + r"):(" + _UUID + r")\Z")

Ref = Union[str, int, None]


@dataclass
class Send:
    """An action of either session: send this frame to the other side."""

    frame: Dict[str, Any]


def frame(topic: str, event: str, payload: Dict[str, Any], ref: Ref) -> Dict[str, Any]:
    """A Phoenix-channels frame."""
    return {"topic": topic, "event": event, "payload": payload, "ref": ref}


def reply(topic: str, ref: Ref, status: str, response: Dict[str, Any]) -> Dict[str, Any]:
    """A ``phx_reply`` frame."""
    return frame(topic, "phx_reply", {"status": status, "response": response}, ref)


def channel_topic(user_uuid: str) -> str:
    """A fresh driver channel of this user: ``room:client:<user uuid>:<uuid4>``."""
    return f"{CHANNEL_PREFIX}{user_uuid}:{uuid.uuid4()}"


def heartbeat(ref: Ref = 0) -> Dict[str, Any]:
    """A heartbeat: the driver's every 3 s (``ref`` 0), the worker's every 5 s (``ref``
    null, as the platform's worker sends it)."""
    return frame(HEARTBEAT_TOPIC, "heartbeat", {}, ref)


def result_payload(
    task_ref: Optional[str],
    body: str,
    stdout: Optional[str],
    stderr: Optional[str],
    exit_code: Optional[int] = None,
    error: Optional[str] = None,
) -> Dict[str, Any]:
    """A ``result`` payload as the platform's worker sends it: the loader's message with the
    body encoded, passed through (``stdout``/``stderr`` as the loader posted them, normally
    base64), ``exitCode`` when the loader or worker set it, and the task ref (the driver's;
    None on a worker's result, which the cluster matches by ``tid``).

    ``error`` is an addition of ours (the 2.4.0 client ignores it): why the pool, not the
    loader, failed the task.
    """
    payload: Dict[str, Any] = {"body": body, "stdout": stdout, "stderr": stderr}
    if task_ref is not None:
        payload["ref"] = task_ref
    if exit_code is not None:
        payload["exitCode"] = exit_code
    if error is not None:
        payload["error"] = error
    return payload


def result_frame(topic: str, payload: Dict[str, Any]) -> Dict[str, Any]:
    """The ``result`` frame for a finished task."""
    return frame(topic, "result", payload, None)


def failure_payload(task_ref: str, message: str) -> Dict[str, Any]:
    """The platform's failure shape: body ``{}``, base64 stderr, ``exitCode: 1``."""
    return result_payload(task_ref, EMPTY_BODY, None, encode_output(message + "\n"), 1, message)
