"""Packages as the pool sees them: interned by content hash, and the result-body codec.

A Waterbear task carries the whole ``.wasm`` and loader, base64-encoded. A server that kept
one copy per queued task would need megabytes per task; :class:`PackageStore` keeps one
:class:`Package` per distinct content instead, shared by every task that names it, and
forgets it when no task refers to it any more.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import threading
import weakref
import zlib
from typing import Any, Dict, Optional

from motivus_dev.errors import PackageError


class Package:
    """One algorithm package: the loader's text and the wasm bytes (base64, as sent)."""

    __slots__ = ("hash", "loader", "wasm_b64", "__weakref__")

    def __init__(self, hash: str, loader: str, wasm_b64: str) -> None:
        self.hash = hash
        self.loader = loader
        self.wasm_b64 = wasm_b64

    def __repr__(self) -> str:
        return f"Package({self.hash[:12]}, wasm={len(self.wasm_b64)} b64 chars)"


def package_hash(wasm_b64: str, loader: str) -> str:
    """The content hash that identifies a package (wasm base64 + loader text)."""
    digest = hashlib.sha256()
    digest.update(wasm_b64.encode("ascii", "replace"))
    digest.update(b"\0")
    digest.update(loader.encode("utf-8", "replace"))
    return digest.hexdigest()


class PackageStore:
    """Interns packages by content hash; entries live as long as some task holds them."""

    def __init__(self) -> None:
        self._packages: "weakref.WeakValueDictionary[str, Package]" = weakref.WeakValueDictionary()
        self._lock = threading.Lock()

    def intern(self, wasm_b64: str, loader: str) -> Package:
        """Return the shared :class:`Package` for this content, creating it once.

        ``wasm_b64`` is the module base64-encoded (as in a task body); ``loader`` the
        loader's source text (already decoded from the task's base64).
        """
        digest = package_hash(wasm_b64, loader)
        with self._lock:
            existing = self._packages.get(digest)
            if existing is not None:
                return existing
            package = Package(digest, loader, wasm_b64)
            self._packages[digest] = package
            return package

    def intern_wire(self, wasm_b64: str, loader_b64: str) -> Package:
        """Intern a package from the two base64 fields of a Waterbear task body."""
        try:
            loader = base64.b64decode(loader_b64, validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise PackageError(
                "the task's `loader` is not base64 of UTF-8 JavaScript",
                hint="send the loader file's bytes base64-encoded, as read_file() does",
            ) from exc
        if not isinstance(wasm_b64, str) or not wasm_b64:
            raise PackageError("the task has no `wasm` (base64 of the .wasm file)")
        return self.intern(wasm_b64, loader)

    def intern_files(self, wasm: bytes, loader: bytes) -> Package:
        """Intern a package from the bytes of its ``.wasm`` and ``.js`` files."""
        try:
            text = loader.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PackageError("the loader is not UTF-8 JavaScript") from exc
        return self.intern(base64.b64encode(wasm).decode("ascii"), text)

    def __len__(self) -> int:
        return len(self._packages)


def encode_body(out: Dict[str, Any]) -> str:
    """Encode a result object the way loaders do: base64(gzip(JSON))."""
    raw = json.dumps(out, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=6)).decode("ascii")


def decode_body(body: Optional[str]) -> Dict[str, Any]:
    """Decode a result body (base64(gzip(JSON))) into its object.

    Raises :class:`PackageError` when the loader produced something else.
    """
    if not body:
        raise PackageError("the loader returned an empty result body")
    try:
        value = json.loads(gzip.decompress(base64.b64decode(body)).decode("utf-8"))
    except (binascii.Error, OSError, EOFError, ValueError, UnicodeDecodeError) as exc:
        raise PackageError(
            "the loader's result body is not base64(gzip(JSON))",
            hint="the loader must post {body: base64(gzip(JSON.stringify(out))), ...}",
        ) from exc
    if not isinstance(value, dict):
        raise PackageError("the loader's result body is JSON but not an object")
    return value


# Bodies up to this size are checked by decoding them whole (as before). Bigger ones (a
# result file of tens of MB) are only forwarded by the server: decoding them would hold
# several whole copies and take ~1 s per 100 MB (inflate alone is 0.7 s for 85 MB here).
FULL_CHECK_MAX = 4 << 20
_CHUNK = 4 << 20  # a multiple of 4: base64 chunks decode independently
_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_HEAD = 64 << 10


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
    """Check that a loader's result body is base64(gzip(JSON object)); raise :class:`PackageError`.

    Bodies up to :data:`FULL_CHECK_MAX` characters are decoded whole (:func:`decode_body`).
    A bigger body is checked without decoding it: only base64 characters, a gzip stream
    whose first bytes inflate to the start of a JSON object. Damage further inside such a
    body is reported by the client, which decodes it anyway.
    """
    if body is None or len(body) <= FULL_CHECK_MAX:
        decode_body(body)
        return
    bad = PackageError(
        "the loader's result body is not base64(gzip(JSON))",
        hint="the loader must post {body: base64(gzip(JSON.stringify(out))), ...}",
    )
    if not is_wire_safe(body):
        raise bad
    try:
        head = zlib.decompressobj(31).decompress(base64.b64decode(body[:_HEAD]), _HEAD)
    except (binascii.Error, zlib.error, ValueError) as exc:
        raise bad from exc
    if not head.lstrip().startswith(b"{"):
        raise PackageError("the loader's result body is JSON but not an object")
