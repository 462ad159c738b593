"""The Waterbear protocol, worker side, as pure logic (no I/O).

What the platform's worker does on the cluster (its sources: ``src/sagas/socket.js``,
``src/sagas/processing.js``, ``src/sagas/user.js`` and ``src/utils/api.js``; see
docs/worker.md): it joins ``room:worker:<user uuid>:<uuid4>``, asks for one task per free
slot (``input_request`` with a fresh ``tid``), runs each ``input`` whose ``type`` is
``work`` and whose body's ``run_type`` is ``wasm``, answers with a ``result`` whose payload
is the loader's message with the body encoded and the ``tid`` added, stops a task on
``abort_task``, and sends a heartbeat every 5 s.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Set, Union

from motivus_dev.taskbody import RUN_TYPE, TaskBody, TaskBodyError
from motivus_dev.waterbear.frames import Send, frame, heartbeat

WORKER_PREFIX = "room:worker:"
HEARTBEAT_SECONDS = 5.0


@dataclass
class RunTask:
    """Run this task body; answer with :meth:`WorkerSession.result` for ``tid``."""

    tid: str
    ref: Optional[str]
    body: TaskBody


@dataclass
class AbortTask:
    """Stop the task ``tid`` (no result is sent for it); a new input is asked for."""

    tid: str


@dataclass
class Refused:
    """An input this worker does not run (not ``work``/``wasm``, or malformed), and why."""

    tid: Optional[str]
    reason: str


Event = Union[Send, RunTask, AbortTask, Refused]


class WorkerSession:
    """The protocol state of one worker connection with ``slots`` tasks at most at a time."""

    def __init__(self, user_uuid: str, slots: int) -> None:
        self.user_uuid = user_uuid
        self.slots = max(1, slots)
        self.channel = f"{WORKER_PREFIX}{user_uuid}:{uuid.uuid4()}"
        self.pending: Set[str] = set()  # tids asked for, or running

    def start(self) -> List[Send]:
        """The channel join, then one ``input_request`` per slot."""
        return [Send(frame(self.channel, "phx_join", {}, None)), *self.fill()]

    def fill(self) -> List[Send]:
        """``input_request`` frames for every free slot."""
        frames = []
        while len(self.pending) < self.slots:
            tid = str(uuid.uuid4())
            self.pending.add(tid)
            frames.append(Send(frame(self.channel, "input_request", {"tid": tid}, None)))
        return frames

    @staticmethod
    def heartbeat() -> Dict[str, Any]:
        """The worker's heartbeat (``ref`` null, as the platform's worker sends it)."""
        return heartbeat(None)

    def receive(self, msg: Any) -> List[Event]:
        """Feed one frame from the cluster; returns what to do."""
        if not isinstance(msg, dict):
            return []
        event, payload = msg.get("event"), msg.get("payload")
        if event == "input" and isinstance(payload, dict):
            return self._input(payload)
        if event == "abort_task" and isinstance(payload, dict) and isinstance(payload.get("tid"), str):
            tid = payload["tid"]
            if tid not in self.pending:
                return []
            self.pending.discard(tid)
            return [AbortTask(tid), *self.fill()]
        return []  # phx_reply, presence_diff, stats, phx_error: nothing to do

    def _input(self, payload: Dict[str, Any]) -> List[Event]:
        tid = payload.get("tid")
        tid = tid if isinstance(tid, str) else None
        raw = payload.get("body")
        why = None
        body = None
        if payload.get("type") != "work":
            why = f"task type {payload.get('type')!r} (the cluster sends work)"
        elif not isinstance(raw, dict) or raw.get("run_type") != RUN_TYPE:
            why = f"the body's run_type is not {RUN_TYPE}"
        else:
            try:
                body = TaskBody.from_wire(raw)
            except TaskBodyError as exc:
                why = str(exc)
        if why is not None or body is None:
            # The platform's worker ignores such an input and its slot stays taken; this one
            # frees the slot and asks again.
            if tid is not None:
                self.pending.discard(tid)
            return [Refused(tid, why or "no body"), *self.fill()]
        if tid is None:
            tid = str(uuid.uuid4())
        self.pending.add(tid)
        ref = payload.get("ref")
        return [RunTask(tid, ref if isinstance(ref, str) else None, body)]

    def result(self, tid: str, payload: Dict[str, Any]) -> List[Send]:
        """The ``result`` frame of task ``tid`` (``payload``: the worker's message with its
        body encoded), then requests for the freed slot. Nothing for an aborted task."""
        if tid not in self.pending:
            return []
        self.pending.discard(tid)
        return [Send(frame(self.channel, "result", dict(payload, tid=tid), None)), *self.fill()]

    def dropped(self) -> List[str]:
        """The connection is gone: the tids in flight, which end without a result."""
        tids = sorted(self.pending)
        self.pending.clear()
        return tids
