"""``data_link``: fetch, verify, cache and check a package's starting-filesystem zip.

The loader receives the zip's bytes (body field ``data_zip``) only after this module has
checked that unpacking it cannot escape the guest filesystem or exhaust the host: no entry
with ``..`` or an absolute name, no symlinks, and bounded entry count, total size and
compression ratio. Downloads are cached by content hash.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tempfile
import urllib.parse
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

from motivus_dev.errors import RuntimeFailure
from motivus_dev.runtime.paths import UnsafeInputError


@dataclass(frozen=True)
class ZipLimits:
    """Bounds a data zip must respect to be handed to a loader."""

    max_entries: int = 10_000
    max_total_bytes: int = 1 << 30  # uncompressed, all entries
    max_entry_bytes: int = 512 << 20
    max_ratio: float = 200.0  # uncompressed / compressed, per entry above 1 MiB
    max_download_bytes: int = 512 << 20


DEFAULT_LIMITS = ZipLimits()


@dataclass(frozen=True)
class DataZip:
    """A verified data zip: its sha256 and bytes."""

    sha256: str
    data: bytes


class DataLinkError(RuntimeFailure):
    """The task's ``data_link`` could not be fetched or read."""


def default_cache_dir() -> Path:
    """Where downloaded data zips are cached (``$MOTIVUS_CACHE_DIR/data``, else XDG cache)."""
    kit_cache = os.environ.get("MOTIVUS_CACHE_DIR")
    if kit_cache:
        return Path(kit_cache) / "data"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "motivus" / "data"


def split_expected_hash(link: str) -> Tuple[str, Optional[str]]:
    """Split an optional ``#sha256=HEX`` fragment off a link."""
    if "#" in link:
        base, fragment = link.split("#", 1)
        if fragment.startswith("sha256="):
            return base, fragment[len("sha256=") :].lower()
    return link, None


def check_zip(data: bytes, limits: ZipLimits = DEFAULT_LIMITS) -> None:
    """Raise :class:`UnsafeInputError` unless ``data`` is a zip that is safe to unpack."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnsafeInputError(f"data_link: not a zip archive ({exc})") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            raise UnsafeInputError(
                f"data_link: the zip has {len(infos)} entries, more than the limit of {limits.max_entries}"
            )
        total = 0
        for info in infos:
            name = info.filename
            if name.startswith("/") or name.startswith("\\") or (len(name) > 1 and name[1] == ":"):
                raise UnsafeInputError(f"data_link: the zip entry {name!r} has an absolute path")
            parts = name.replace("\\", "/").split("/")
            if ".." in parts:
                raise UnsafeInputError(f"data_link: the zip entry {name!r} contains '..'")
            if "\0" in name:
                raise UnsafeInputError(f"data_link: the zip entry {name!r} contains a NUL byte")
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UnsafeInputError(f"data_link: the zip entry {name!r} is a symbolic link")
            if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)) and stat.S_IFMT(mode):
                raise UnsafeInputError(f"data_link: the zip entry {name!r} is not a regular file or directory")
            if info.file_size > limits.max_entry_bytes:
                raise UnsafeInputError(
                    f"data_link: the zip entry {name!r} unpacks to {info.file_size} bytes, "
                    f"more than the limit of {limits.max_entry_bytes}"
                )
            total += info.file_size
            if total > limits.max_total_bytes:
                raise UnsafeInputError(f"data_link: the zip unpacks to more than {limits.max_total_bytes} bytes")
            if info.file_size > (1 << 20):
                ratio = info.file_size / max(info.compress_size, 1)
                if ratio > limits.max_ratio:
                    raise UnsafeInputError(
                        f"data_link: the zip entry {name!r} has a compression ratio of {ratio:.0f}, "
                        f"more than the limit of {limits.max_ratio:.0f} (a zip bomb?)"
                    )
        # Sizes in headers can lie; reading every entry checks CRCs, and zipfile never
        # inflates an entry past its declared size, which the checks above bounded.
        try:
            bad = archive.testzip()
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
            raise UnsafeInputError(f"data_link: the zip is corrupt ({exc})") from exc
        if bad is not None:
            raise UnsafeInputError(f"data_link: the zip entry {bad!r} is corrupt (CRC mismatch)")


class DataLinkStore:
    """Fetches ``data_link`` zips (http(s) URL, ``file://`` URL or local path) with a cache."""

    def __init__(self, cache_dir: Optional[Path] = None, limits: ZipLimits = DEFAULT_LIMITS) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.limits = limits

    def _cached_path(self, key: str) -> Path:
        return self.cache_dir / f"{key}.zip"

    def load(self, link: str, expected_sha256: Optional[str] = None) -> DataZip:
        """Return the verified, checked zip named by ``link`` (blocking I/O).

        ``expected_sha256`` (or a ``#sha256=HEX`` fragment of the link) is checked when given.
        """
        link, fragment_hash = split_expected_hash(link)
        expected = (expected_sha256 or fragment_hash or "").lower() or None
        parsed = urllib.parse.urlparse(link)
        if parsed.scheme in ("http", "https"):
            data = self._fetch_http(link, expected)
        elif parsed.scheme == "file":
            data = self._read_local(urllib.parse.unquote(parsed.path), link)
        elif parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
            data = self._read_local(link, link)
        else:
            raise DataLinkError(
                f"data_link {link!r}: unsupported scheme {parsed.scheme!r}",
                hint="use an http(s) URL, a file:// URL or a local path",
            )
        digest = hashlib.sha256(data).hexdigest()
        if expected is not None and digest != expected:
            raise DataLinkError(
                f"data_link {link!r}: sha256 is {digest}, expected {expected}",
                hint="the file changed or was corrupted in transit",
            )
        check_zip(data, self.limits)
        return DataZip(digest, data)

    def _read_local(self, path: str, link: str) -> bytes:
        try:
            size = os.path.getsize(path)
            if size > self.limits.max_download_bytes:
                raise DataLinkError(f"data_link {link!r}: {size} bytes is more than the limit")
            with open(path, "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise DataLinkError(f"data_link {link!r}: cannot read it ({exc.strerror or exc})") from exc

    def _fetch_http(self, url: str, expected: Optional[str]) -> bytes:
        key = expected or hashlib.sha256(url.encode("utf-8")).hexdigest()
        cached = self._cached_path(key)
        if cached.is_file():
            data = cached.read_bytes()
            if expected is None or hashlib.sha256(data).hexdigest() == expected:
                return data
        import httpx  # only needed for remote links

        try:
            chunks = []
            received = 0
            with httpx.stream("GET", url, follow_redirects=True, timeout=60.0) as response:
                response.raise_for_status()
                for chunk in response.iter_bytes():
                    received += len(chunk)
                    if received > self.limits.max_download_bytes:
                        raise DataLinkError(f"data_link {url!r}: more than {self.limits.max_download_bytes} bytes")
                    chunks.append(chunk)
            data = b"".join(chunks)
        except httpx.HTTPError as exc:
            raise DataLinkError(f"data_link {url!r}: download failed ({exc})") from exc
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        # Write then rename so that a concurrent reader never sees half a file.
        handle, tmp = tempfile.mkstemp(dir=str(self.cache_dir), suffix=".part")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(tmp, cached)
        return data
