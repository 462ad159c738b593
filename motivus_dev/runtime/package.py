"""Packages as the pool sees them: interned by content hash.

A Waterbear task carries the whole ``.wasm`` and loader, base64-encoded. A server that kept
one copy per queued task would need megabytes per task; :class:`PackageStore` keeps one
:class:`Package` per distinct content instead, shared by every task that names it, and
forgets it when no task refers to it any more.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import weakref
from typing import Optional

from motivus_dev.errors import PackageError


class Package:
    """One algorithm package: the loader and the wasm, both base64 as a task carries them.

    The loader stays base64 here: the pool's node side decodes it as the platform's worker
    does (``Buffer.from(loader, "base64").toString("ascii")``), so that a loader that is not
    7-bit ASCII breaks locally exactly as it breaks on the cluster.
    """

    __slots__ = ("hash", "loader_b64", "wasm_b64", "__weakref__")

    def __init__(self, hash: str, loader_b64: str, wasm_b64: str) -> None:
        self.hash = hash
        self.loader_b64 = loader_b64
        self.wasm_b64 = wasm_b64

    def __repr__(self) -> str:
        return f"Package({self.hash[:12]}, wasm={len(self.wasm_b64)} b64 chars)"


def package_hash(wasm_b64: str, loader_b64: str) -> str:
    """The content hash that identifies a package (the base64 of its wasm and loader)."""
    digest = hashlib.sha256()
    digest.update(wasm_b64.encode("ascii", "replace"))
    digest.update(b"\0")
    digest.update(loader_b64.encode("ascii", "replace"))
    return digest.hexdigest()


class PackageStore:
    """Interns packages by content hash; entries live as long as some task holds them."""

    def __init__(self) -> None:
        self._packages: "weakref.WeakValueDictionary[str, Package]" = weakref.WeakValueDictionary()
        self._lock = threading.Lock()

    def intern(self, wasm_b64: str, loader_b64: str) -> Package:
        """Return the shared :class:`Package` for this content, creating it once."""
        digest = package_hash(wasm_b64, loader_b64)
        with self._lock:
            existing = self._packages.get(digest)
            if existing is not None:
                return existing
            package = Package(digest, loader_b64, wasm_b64)
            self._packages[digest] = package
            return package

    def intern_wire(self, wasm_b64: Optional[str], loader_b64: Optional[str]) -> Package:
        """Intern a package from the two base64 fields of a Waterbear task body."""
        try:
            if not isinstance(loader_b64, str):
                raise TypeError("no loader")
            base64.b64decode(loader_b64, validate=True)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise PackageError(
                "the task's `loader` is not base64",
                hint="send the loader file's bytes base64-encoded, as read_file() does",
            ) from exc
        if not isinstance(wasm_b64, str) or not wasm_b64:
            raise PackageError("the task has no `wasm` (base64 of the .wasm file)")
        return self.intern(wasm_b64, loader_b64)

    def intern_files(self, wasm: bytes, loader: bytes) -> Package:
        """Intern a package from the bytes of its ``.wasm`` and ``.js`` files."""
        return self.intern(base64.b64encode(wasm).decode("ascii"), base64.b64encode(loader).decode("ascii"))

    def __len__(self) -> int:
        return len(self._packages)
