"""Worker output as loaders post it: ``stdout``/``stderr`` base64 of the text's UTF-8 bytes.

The platform's emscripten adapter does ``btoa(text)``; the platform's worker passes what the
loader posted through, and the published 2.4.0 client base64-decodes both for every task
(plain text kills its listener: ``binascii.Error``). The pool, the loopback server, the
worker and the driver client all read and write output through these functions.
"""

from __future__ import annotations

import base64
import binascii
from typing import Optional


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
