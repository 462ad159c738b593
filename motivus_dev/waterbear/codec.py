"""The two encodings of a Waterbear ``result`` frame, for the Python side.

- The result body: the platform's worker (not the loader) turns the loader's plain ``body``
  into ``base64(gzip(JSON.stringify(body)))`` (``src/sagas/processing.js`` of the platform's
  worker, ``zlib.gzipSync``). The published 2.4.0 client undoes exactly that and resolves
  the task to ``body.get("data", body)``.
- Worker output: the loader posts ``stdout``/``stderr`` base64-encoded; the rule lives in
  :mod:`motivus_dev.taskoutput` (the pool reads output too) and is re-exported here.

This module is the only place a body is encoded or decoded: the pool's node process
(``runtime/node/pool.js``) hands over the loader's body as ``JSON.stringify`` text, and the
two sides that put results on the wire, the loopback server and ``motivus worker``, encode
it here (:func:`encode_body_json`); the driver client and ``motivus test`` decode here.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import zlib
from typing import Any, Dict, Optional, Union

from motivus_dev.errors import PackageError
from motivus_dev.taskoutput import decode_output, encode_output, is_base64

__all__ = [
    "EMPTY_BODY", "FULL_CHECK_MAX", "check_body", "decode_body", "decode_output", "encode_body",
    "encode_body_json", "encode_output", "is_base64", "is_wire_safe", "result_files", "task_value",
]

# Bodies up to this size are checked by decoding them whole. Bigger ones (a result file of
# tens of MB) are only forwarded by the server: decoding them would hold several whole
# copies and take ~1 s per 100 MB (inflate alone is 0.7 s for 85 MB here).
FULL_CHECK_MAX = 4 << 20
_CHUNK = 4 << 20  # a multiple of 4: base64 chunks decode independently
_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_HEAD = 64 << 10

_BAD_BODY_HINT = "the worker sends {body: base64(gzip(JSON.stringify(loader's body))), ...}"


def encode_body_json(raw: Union[bytes, bytearray]) -> str:
    """Encode a body given as its JSON text (``JSON.stringify`` of the loader's body, as the
    pool hands it over) the way the platform's worker does: base64(gzip(JSON))."""
    return base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")


def encode_body(value: Any) -> str:
    """Encode a loader's plain body the way the platform's worker does: base64(gzip(JSON))."""
    return encode_body_json(json.dumps(value, separators=(",", ":")).encode("utf-8"))


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
