"""The two encodings of a Waterbear ``result`` frame, for the Python side.

- The result body: the platform's worker (not the loader) turns the loader's plain ``body``
  into ``base64(gzip(JSON.stringify(body)))`` (``src/sagas/processing.js`` of the platform's
  worker, ``zlib.gzipSync``). The published 2.4.0 client undoes exactly that and resolves
  the task to ``body.get("data", body)``.
- Worker output: the loader posts ``stdout``/``stderr`` base64-encoded (the platform's
  emscripten adapter does ``btoa(text)``), the worker passes them through, and the 2.4.0
  client base64-decodes both for every task; plain text kills its listener
  (``binascii.Error``).

The loopback server, the driver client and ``motivus test`` use these functions; none of
them encodes or decodes by hand. The pool's node process (``runtime/node/pool.js``, which
plays the platform's worker) encodes the body in JavaScript, as the platform's worker does,
and the pool's Python side decodes it here; the tests check both ends against each other.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from typing import Any, Dict, Optional

from motivus_dev.errors import PackageError

# Bodies up to this size are checked by decoding them whole. Bigger ones (a result file of
# tens of MB) are only forwarded by the server: decoding them would hold several whole
# copies and take ~1 s per 100 MB (inflate alone is 0.7 s for 85 MB here).
FULL_CHECK_MAX = 4 << 20
_CHUNK = 4 << 20  # a multiple of 4: base64 chunks decode independently
_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_HEAD = 64 << 10

_BAD_BODY_HINT = "the worker sends {body: base64(gzip(JSON.stringify(loader's body))), ...}"


def encode_body(value: Any) -> str:
    """Encode a loader's plain body the way the platform's worker does: base64(gzip(JSON))."""
    raw = json.dumps(value, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")


# What a failed task's body is on the platform: the encoding of {}.
EMPTY_BODY = encode_body({})


def decode_body(body: Optional[str]) -> Any:
    """Decode a ``result`` frame's body into the loader's JSON value.

    Raises :class:`PackageError` when it is not base64(gzip(JSON)).
    """
    if not body:
        raise PackageError("the result body is empty", hint=_BAD_BODY_HINT)
    try:
        return json.loads(gzip.decompress(base64.b64decode(body)).decode("utf-8"))
    except (binascii.Error, OSError, EOFError, ValueError, UnicodeDecodeError) as exc:
        raise PackageError("the result body is not base64(gzip(JSON))", hint=_BAD_BODY_HINT) from exc


def task_value(body: Any) -> Any:
    """What a task resolves to, as the 2.4.0 client computes it: ``body.get("data", body)``."""
    return body.get("data", body) if isinstance(body, dict) else body


def result_files(body: Any) -> Dict[str, bytes]:
    """The result files a body carries: every key but ``data`` whose value is a base64
    string, decoded (a value that is not base64 is left out)."""
    if not isinstance(body, dict):
        return {}
    files: Dict[str, bytes] = {}
    for key, value in body.items():
        if key != "data" and isinstance(value, str):
            try:
                files[key] = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                continue
    return files


def is_wire_safe(body: str) -> bool:
    """True when ``body`` holds only base64 characters, so that it can be spliced into a
    JSON string (a frame) as it is, without escaping."""
    if not body.isascii():
        return False
    # chunk by chunk: bounded copies, ~1 ms per MB
    return all(
        not body[start : start + _CHUNK].encode("ascii").translate(None, _BASE64_ALPHABET)
        for start in range(0, len(body), _CHUNK)
    )


def check_body(body: Optional[str]) -> None:
    """Check that a result body is base64(gzip(JSON)); raise :class:`PackageError`.

    Bodies up to :data:`FULL_CHECK_MAX` characters are decoded whole. A bigger body is
    checked without decoding it: only base64 characters and a gzip stream whose first bytes
    inflate. Damage further inside such a body is reported by the client, which decodes it
    anyway.
    """
    if body is None or len(body) <= FULL_CHECK_MAX:
        decode_body(body)
        return
    bad = PackageError("the result body is not base64(gzip(JSON))", hint=_BAD_BODY_HINT)
    if not is_wire_safe(body):
        raise bad
    try:
        zlib.decompressobj(31).decompress(base64.b64decode(body[:_HEAD]), _HEAD)
    except (binascii.Error, zlib.error, ValueError) as exc:
        raise bad from exc


def encode_output(text: Optional[str]) -> Optional[str]:
    """Worker output as loaders post it: base64 of its UTF-8 bytes (None stays None)."""
    if text is None:
        return None
    return base64.b64encode(text.encode("utf-8", "replace")).decode("ascii")


def is_base64(value: Optional[str]) -> bool:
    """True for None, "" and strict base64: what the 2.4.0 client can decode."""
    if not value:
        return True
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def decode_output(value: Optional[str]) -> str:
    """Worker output from a ``result`` payload as text: base64-decoded when it is strict
    base64, else (a loader that broke the contract) the text as sent rather than lost."""
    if not value:
        return ""
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return value
