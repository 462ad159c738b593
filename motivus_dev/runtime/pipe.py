"""The messages between the pool and its node processes (``node/pool.js``), as a pure codec.

One JSON object per line. Big strings travel outside the JSON, as raw bytes right after
their line, so that neither side builds or parses a JSON line of 100 MB: a request with
``blobs: [n1, n2, ...]`` is followed by that many bytes of each blob (a run request's
preload files, in the order of ``body.preload_files``), and a result reply with
``body_bytes: n`` is followed by the n bytes of its result body: the loader's body as
``JSON.stringify`` text. The pool does not encode bodies for the wire; the loopback server
and ``motivus worker`` do, through ``waterbear/codec.py``.

Task code runs in worker threads of the same process and can write to its descriptors
(node's permission model does not cover open descriptors), so node's replies are signed:
the first request is ``hello`` with a key made afresh for the process, and every reply
carries it as ``k``. The key lives only in the main thread's heap, which no worker thread
can read, and was read from stdin before any task existed. A reply without the key, a
line that is not a reply, a body where none may be, or a result for a task that is not
running is a protocol violation (:class:`ProtocolViolation`): the process is killed and
only the task it was running fails.

Requests (Python -> node):
  ``{op: "hello", key}``                   first, once
  ``{op: "package", hash, loader, wasm}``  both base64, as a task carries them; once per hash
  ``{op: "forget", hash}``                 drop a package (and its warm worker)
  ``{op: "data", hash, zip}``              a verified data_link zip (base64), once per hash
  ``{op: "forget_data", hash}``
  ``{op: "run", id, hash, data_hash, body, timeout_ms, deadline_s, blobs}``  + the preload files
Replies (node -> Python), each with ``k``, the key:
  ``{op: "ready", pid}``
  ``{op: "result", id, result: {stdout, stderr, exitCode?, timings?, profile?}, body_bytes}`` + the body
  ``{op: "result", id, error}``            the task failed outside the loader
  ``{op: "warning", hash, text}``          something the author should know about a package

Nothing here does I/O: :func:`request` gives the bytes to write, :class:`ReplyDecoder` takes
the bytes read and gives back whole replies.
"""

from __future__ import annotations

import json
import secrets
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from motivus_dev.runtime.task import TaskResult, TaskSpec

Blob = Union[str, bytes, memoryview]
#: The largest result body node may announce (a result file of a few hundred MB, base64).
MAX_BODY_BYTES = 2 << 30


class ProtocolViolation(ValueError):
    """Bytes on the pool's channel that node's main thread did not write: task code wrote
    them (or node broke), so the process cannot be trusted any more."""


def new_key() -> str:
    """A fresh key for one node process's replies."""
    return secrets.token_hex(16)


def hello(key: str) -> bytes:
    """The first request to a node process: the key its replies must carry."""
    return request({"op": "hello", "key": key})[0]
Piece = Union[str, memoryview]


def request(msg: Dict[str, Any], blobs: Optional[Sequence[Blob]] = None) -> Tuple[bytes, List[Piece]]:
    """The request line for ``msg`` and the blobs to write after it (ASCII str or bytes views).

    The line says ``"blobs": [byte length, ...]`` so that node knows where each ends. Blobs
    are not copied: a base64 str is ASCII, so its length is its byte length.
    """
    pieces: List[Piece] = []
    for blob in blobs or ():
        if isinstance(blob, str):
            pieces.append(blob if blob.isascii() else memoryview(blob.encode("utf-8")))
        else:
            pieces.append(memoryview(blob).cast("B"))
    if pieces:
        msg = dict(msg, blobs=[len(p) for p in pieces])
    return (json.dumps(msg, separators=(",", ":")) + "\n").encode("utf-8"), pieces


def run_request(
    task_id: int,
    spec: TaskSpec,
    data_hash: Optional[str],
    timeout: Optional[float],
    deadline_s: Optional[float] = None,
) -> Tuple[Dict[str, Any], List[Blob]]:
    """The ``run`` request of a task and its blobs (the preload files, in key order).

    ``timeout`` is the time left to run (None: no deadline, ``timeout_ms`` 0); ``deadline_s``
    the task's whole deadline, which a deadline failure names (the time left is less when
    fetching data_link took some)."""
    preload = spec.body.preload_files
    # The body the loader is posted: the task's, without the package (node holds it by
    # hash) and with each preload file's place kept for its blob.
    body = spec.body.without_package().to_wire()
    body.pop("data_sha256", None)  # the pool checked the data zip; loaders get the zip itself
    body["preload_files"] = None if preload is None else {path: None for path in preload}
    msg = {
        "op": "run",
        "id": task_id,
        "hash": spec.package.hash,
        "data_hash": data_hash,
        "body": body,
        "timeout_ms": 0 if timeout is None else max(1, int(timeout * 1000)),
        "deadline_s": deadline_s if deadline_s is not None else timeout,
    }
    return msg, [] if preload is None else list(preload.values())


def result_of(reply: Dict[str, Any]) -> TaskResult:
    """The :class:`TaskResult` of a ``result`` reply."""
    if "error" in reply:
        return TaskResult.failure(str(reply["error"]))
    res = reply.get("result")
    res = res if isinstance(res, dict) else {}
    body = res.get("body")
    exit_code = res.get("exitCode")
    return TaskResult(
        body if isinstance(body, (bytes, bytearray)) else b"",
        _text_or_none(res.get("stdout")),
        _text_or_none(res.get("stderr")),
        exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None,
        timings=_timings(res.get("timings")),
        profile=res.get("profile") if isinstance(res.get("profile"), dict) else None,
    )


def _timings(value: Any) -> Optional[Dict[str, float]]:
    """A loader's time split ({phase: ms}), or None when it posted none or something else."""
    if not isinstance(value, dict):
        return None
    if not all(isinstance(ms, (int, float)) and not isinstance(ms, bool) for ms in value.values()):
        return None
    return {str(phase): float(ms) for phase, ms in value.items()}


def _text_or_none(value: Any) -> Optional[str]:
    return None if value is None else str(value)


class ReplyDecoder:
    """Turns the bytes node writes into replies: ``feed(bytes) -> [reply, ...]``.

    A reply's body (``body_bytes``: the loader's body as ``JSON.stringify`` text, UTF-8) is
    read into one preallocated buffer, piece by piece, and becomes ``reply["result"]["body"]``
    as it is; no other copy of it is made.
    """

    def __init__(self, key: str, max_line: int = 64 << 20) -> None:
        self.key = key
        self.max_line = max_line
        self._line = bytearray()
        self._waiting: Optional[Dict[str, Any]] = None  # a reply whose body is being read
        self._body = bytearray()
        self._filled = 0

    def feed(self, data: bytes) -> List[Dict[str, Any]]:
        """Take the next bytes from node; return the replies they complete, in order.

        Raises :class:`ProtocolViolation` on anything node's main thread does not write.
        """
        out: List[Dict[str, Any]] = []
        view = memoryview(data)
        pos = 0
        while pos < len(view):
            if self._waiting is not None:
                n = min(len(self._body) - self._filled, len(view) - pos)
                self._body[self._filled : self._filled + n] = view[pos : pos + n]
                self._filled += n
                pos += n
                if self._filled == len(self._body):
                    self._finish_body(out)
                continue
            nl = data.find(b"\n", pos)
            if nl < 0:
                self._line += view[pos:]
                if len(self._line) > self.max_line:
                    raise ProtocolViolation(f"a line longer than {self.max_line} bytes")
                break
            self._line += view[pos:nl]
            pos = nl + 1
            line, self._line = bytes(self._line), bytearray()
            self._on_line(line, out)
        return out

    def _on_line(self, line: bytes, out: List[Dict[str, Any]]) -> None:
        shown = repr(line[:80].decode("utf-8", "replace"))
        try:
            msg = json.loads(line)
        except ValueError:
            raise ProtocolViolation(f"a line that is not JSON: {shown}") from None
        if not isinstance(msg, dict) or msg.pop("k", None) != self.key:
            raise ProtocolViolation(f"a reply without the process's key: {shown}")
        size = msg.pop("body_bytes", None)
        if size is not None and (
            msg.get("op") != "result" or not isinstance(msg.get("result"), dict)
            or not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_BODY_BYTES
        ):
            raise ProtocolViolation(f"a body where none may be: {shown}")
        if isinstance(size, int) and size > 0:
            self._waiting = msg
            self._body = bytearray(size)
            self._filled = 0
            return
        if isinstance(size, int) and isinstance(msg.get("result"), dict):
            msg["result"]["body"] = b""
        out.append(msg)

    def _finish_body(self, out: List[Dict[str, Any]]) -> None:
        msg, self._waiting = self._waiting, None
        body, self._body = self._body, bytearray()
        assert msg is not None
        if isinstance(msg.get("result"), dict):
            msg["result"]["body"] = body
        out.append(msg)

    @property
    def in_body(self) -> bool:
        """True while a reply's body is only partly read (node ending now lost it)."""
        return self._waiting is not None
