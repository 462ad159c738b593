"""``data_link``: fetch, verify, cache and check a package's starting-filesystem zip.

The loader receives the zip's bytes (body field ``data_zip``) only after this module has
checked that unpacking it cannot escape the guest filesystem or exhaust the host: no entry
with ``..`` or an absolute name, no symlinks, and bounded entry count, total size and
compression ratio, and every entry inflating to exactly the size it declares. Downloads
are cached by content hash, checked archives only.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import io
import json
import os
import stat
import tempfile
import time
import urllib.parse
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple, Union

from motivus_dev.errors import RuntimeFailure
from motivus_dev.runtime.paths import UnsafeInputError
from motivus_dev.ziptools import size_lie


@dataclass(frozen=True)
class ZipLimits:
    """Bounds a data zip must respect to be handed to a loader: the one place for them. The
    build checks its packed filesystem against them and the marketplace a published data
    zip, so that nothing built or published is refused when its tasks run."""

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
    """Where downloaded data zips are cached (``data`` in the kit's cache)."""
    from motivus_dev.resources import cache_dir

    return cache_dir() / "data"


def split_expected_hash(link: str) -> Tuple[str, Optional[str]]:
    """Split an optional ``#sha256=HEX`` fragment off a link."""
    if "#" in link:
        base, fragment = link.split("#", 1)
        if fragment.startswith("sha256="):
            return base, fragment[len("sha256=") :].lower()
    return link, None


def check_zip(data: bytes, limits: ZipLimits = DEFAULT_LIMITS, what: str = "data_link: ") -> None:
    """Raise :class:`UnsafeInputError` unless ``data`` is a zip that is safe to unpack; its
    message starts with ``what`` (the build, which checks its own zip, names it otherwise)."""
    if len(data) > limits.max_download_bytes:
        raise UnsafeInputError(
            what + f"the zip is {len(data)} bytes, more than the limit of {limits.max_download_bytes}"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnsafeInputError(what + f"not a zip archive ({exc})") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            raise UnsafeInputError(
                what + f"the zip has {len(infos)} entries, more than the limit of {limits.max_entries}"
            )
        total = 0
        for info in infos:
            name = info.filename
            if name.startswith("/") or name.startswith("\\") or (len(name) > 1 and name[1] == ":"):
                raise UnsafeInputError(what + f"the zip entry {name!r} has an absolute path")
            parts = name.replace("\\", "/").split("/")
            if ".." in parts:
                raise UnsafeInputError(what + f"the zip entry {name!r} contains '..'")
            if "\0" in name:
                raise UnsafeInputError(what + f"the zip entry {name!r} contains a NUL byte")
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UnsafeInputError(what + f"the zip entry {name!r} is a symbolic link")
            if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)) and stat.S_IFMT(mode):
                raise UnsafeInputError(what + f"the zip entry {name!r} is not a regular file or directory")
            if info.file_size > limits.max_entry_bytes:
                raise UnsafeInputError(
                    what + f"the zip entry {name!r} unpacks to {info.file_size} bytes, "
                    f"more than the limit of {limits.max_entry_bytes}"
                )
            total += info.file_size
            if total > limits.max_total_bytes:
                raise UnsafeInputError(what + f"the zip unpacks to more than {limits.max_total_bytes} bytes")
            if info.file_size > (1 << 20):
                ratio = info.file_size / max(info.compress_size, 1)
                if ratio > limits.max_ratio:
                    raise UnsafeInputError(
                        what + f"the zip entry {name!r} has a compression ratio of {ratio:.0f}, "
                        f"more than the limit of {limits.max_ratio:.0f} (a zip bomb?)"
                    )
        # Sizes in the directory can lie: every entry must inflate to exactly its declared
        # size (bounded by it, which the checks above bounded), and its CRC must match.
        raw = io.BytesIO(data)
        for info in infos:
            lie = size_lie(raw, info)
            if lie is not None:
                raise UnsafeInputError(what + f"the zip entry {info.filename!r} {lie}")
        try:
            bad = archive.testzip()
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
            raise UnsafeInputError(what + f"the zip is corrupt ({exc})") from exc
        if bad is not None:
            raise UnsafeInputError(what + f"the zip entry {bad!r} is corrupt (CRC mismatch)")


class DataLinkStore:
    """Fetches ``data_link`` zips (http(s) URL, ``file://`` URL or local path) with a cache.

    The one owner of data zips: what may be read, the deadline, the checks and the caches.

    - **What may be read.** An http(s) URL always. A local path or ``file://`` URL only when
      the task may name local files (``local=True``: it came from a program on this machine,
      not from a browser page or a cluster) and, when ``local_roots`` is given, only under
      one of those directories after symlinks are resolved; a path outside them is refused
      with the same words whether it exists or not. A local link must be a regular file
      (not ``/dev/zero``, a FIFO or a directory: it is opened without blocking and checked
      before a byte is read) of at most ``max_download_bytes``.
    - **The deadline.** All of it (connect, headers, body, local reads, the zip checks)
      runs within ``deadline`` (the task's), or ``download_seconds`` without one: a server
      that never answers, or drips its headers or its body, fails its task in time. The
      download is a coroutine, so the deadline cancels it and closes its connection.
    - **The caches.** Verified archives are kept in memory (``memory_entries``), by content
      and, for local files, by real path, size and mtime. Downloads are also kept on disk,
      checked archives only, named by their content's sha256, at most ``cache_bytes`` in
      all (least recently used first out); a URL is revalidated on every use
      (``If-None-Match``/``If-Modified-Since``), so a changed file is seen.
    """

    def __init__(
        self,
        cache_dir: Optional[Path] = None,
        limits: ZipLimits = DEFAULT_LIMITS,
        *,
        local_roots: Optional[Sequence[Path]] = None,
        cache_bytes: int = 2 << 30,
        download_seconds: float = 600.0,
        memory_entries: int = 4,
    ) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.limits = limits
        self.local_roots = None if local_roots is None else tuple(Path(os.path.realpath(r)) for r in local_roots)
        self.cache_bytes = cache_bytes
        self.download_seconds = download_seconds
        self.memory_entries = memory_entries
        self._checked: "collections.OrderedDict[str, None]" = collections.OrderedDict()  # digests that passed
        self._memory: "collections.OrderedDict[str, DataZip]" = collections.OrderedDict()
        self._stopping = False

    def stop(self) -> None:
        """Refuse new loads: the pool is closing (it cancels the loads under way)."""
        self._stopping = True

    async def load(
        self, link: str, expected_sha256: Optional[str] = None, deadline: Optional[float] = None, *, local: bool = True
    ) -> DataZip:
        """Return the verified, checked zip named by ``link``.

        ``expected_sha256`` (or a ``#sha256=HEX`` fragment of the link) is checked when given.
        ``deadline`` (a ``time.monotonic()`` value) bounds everything; without one it takes
        at most ``download_seconds``. ``local``: whether the task may name a local file.
        """
        if self._stopping:
            raise DataLinkError(f"data_link {link!r}: cancelled, the pool is shutting down")
        limit = deadline if deadline is not None else time.monotonic() + self.download_seconds
        try:
            return await asyncio.wait_for(self._load(link, expected_sha256, local), max(0.0, limit - time.monotonic()))
        except asyncio.TimeoutError:
            raise DataLinkError(
                f"data_link {link!r}: deadline exceeded: it was not fetched and checked within the task's deadline",
                hint="a data_link server must answer in time; give the task a longer timeout for a big archive",
            ) from None

    async def _load(self, link: str, expected_sha256: Optional[str], local: bool) -> DataZip:
        if not isinstance(link, str) or not link:
            raise DataLinkError("data_link is empty or not a string", hint="give an http(s) URL or a local path")
        link, fragment_hash = split_expected_hash(link)
        expected = (expected_sha256 or fragment_hash or "").lower() or None
        try:
            parsed = urllib.parse.urlparse(link)
            parsed.port  # noqa: B018 - parsing the port raises on a bad one
        except ValueError as exc:
            raise DataLinkError(
                f"data_link {link!r} is not a valid URL ({exc})", hint="give an http(s) URL or a local path"
            ) from exc
        if parsed.scheme in ("http", "https"):
            if not parsed.hostname:
                raise DataLinkError(f"data_link {link!r} has no host", hint="give an http(s) URL or a local path")
            key: Optional[str] = None
            data: Union[bytes, DataZip] = await self._fetch_http(link, expected)
        elif parsed.scheme in ("file", ""):
            path = self._allowed_path(urllib.parse.unquote(parsed.path) if parsed.scheme else link, link, local)
            key, data = await asyncio.to_thread(self._read_local, path, link)
        else:
            raise DataLinkError(
                f"data_link {link!r}: unsupported scheme {parsed.scheme!r}",
                hint="use an http(s) URL, a file:// URL or a local path",
            )
        if isinstance(data, DataZip):  # the memory cache had the file
            zipped = data
            if key is not None and key in self._memory:
                self._memory.move_to_end(key)
        else:
            zipped = await asyncio.to_thread(self._verify, data, link)
            if key is not None:
                self._memory[key] = zipped
                while len(self._memory) > self.memory_entries:
                    self._memory.popitem(last=False)
        if expected is not None and zipped.sha256 != expected:
            raise DataLinkError(
                f"data_link {link!r}: sha256 is {zipped.sha256}, expected {expected}",
                hint="the file changed or was corrupted in transit",
            )
        return zipped

    async def accept(self, data: bytes, link: str) -> DataZip:
        """A zip that arrived with its task (a cluster's loopback read the driver's local
        file), checked here as a download is: this machine trusts no one's checks but its own."""
        return await asyncio.to_thread(self._verify, data, link)

    def _verify(self, data: bytes, link: str) -> DataZip:
        digest = hashlib.sha256(data).hexdigest()
        if digest not in self._checked:
            check_zip(data, self.limits)
            self._checked[digest] = None
            while len(self._checked) > 256:
                self._checked.popitem(last=False)
        return DataZip(digest, data)

    def _allowed_path(self, path: str, link: str, local: bool) -> str:
        """The real path a local link may be read from, or the refusal. Nothing is looked
        up before the policy allows it, and a refusal says the same for a path that exists
        and one that does not."""
        if not local:
            raise DataLinkError(
                f"data_link {link!r}: only http(s) URLs are accepted here",
                hint="a task from a browser page or a cluster cannot name files of this machine; give a URL",
            )
        if self.local_roots is None:
            return path
        roots = ", ".join(str(r) for r in self.local_roots) or "none"
        refusal = DataLinkError(
            f"data_link {link!r}: local files are read only under the allowed directories ({roots})",
            hint="move the file there, or allow its directory (motivus loopback --data-dir DIR)",
        )
        if not os.path.isabs(path):
            raise refusal
        for candidate in (os.path.abspath(path), os.path.realpath(path)):
            if not any(Path(candidate).is_relative_to(root) for root in self.local_roots):
                raise refusal
        return os.path.realpath(path)

    def _read_local(self, path: str, link: str) -> Tuple[str, Union[bytes, DataZip]]:
        """``(memory key, bytes)``, or the verified zip itself when the memory cache has the
        file (taken here, so that another load evicting it meanwhile does not matter)."""
        limit = self.limits.max_download_bytes
        try:
            # Non-blocking: opening a FIFO must not wait for a writer.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise DataLinkError(f"data_link {link!r}: cannot read it ({exc.strerror or exc})") from exc
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise DataLinkError(
                    f"data_link {link!r} is not a regular file", hint="give the path of a .data.zip file"
                )
            if info.st_size > limit:
                raise DataLinkError(f"data_link {link!r}: more than the limit of {limit} bytes")
            key = f"{path}\0{info.st_mtime_ns}:{info.st_size}"
            cached = self._memory.get(key)
            if cached is not None:
                return key, cached
            try:
                data = handle.read(limit + 1)
            except OSError as exc:
                raise DataLinkError(f"data_link {link!r}: cannot read it ({exc.strerror or exc})") from exc
        if len(data) > limit:
            raise DataLinkError(f"data_link {link!r}: more than the limit of {limit} bytes")
        return key, data

    # -- the http cache --------------------------------------------------------------------

    def _index_path(self) -> Path:
        return self.cache_dir / "index.json"

    def _index(self) -> Dict[str, Dict[str, str]]:
        try:
            value = json.loads(self._index_path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def _cached(self, digest: Optional[str]) -> Optional[bytes]:
        if not digest:
            return None
        path = self.cache_dir / f"{digest}.zip"
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != digest:
            path.unlink(missing_ok=True)
            return None
        os.utime(path)  # recently used
        return data

    async def _fetch_http(self, url: str, expected: Optional[str]) -> bytes:
        if expected is not None:
            known = self._cached(expected)
            if known is not None:
                return known
        entry = self._index().get(url) or {}
        cached = self._cached(entry.get("sha256"))
        headers = {}
        if cached is not None and entry.get("etag"):
            headers["if-none-match"] = entry["etag"]
        if cached is not None and entry.get("last_modified"):
            headers["if-modified-since"] = entry["last_modified"]
        import httpx  # only needed for remote links

        limit = self.limits.max_download_bytes
        try:
            # No timeout of httpx's own: load() bounds the whole download with the deadline.
            async with httpx.AsyncClient(timeout=None, follow_redirects=True) as client:
                async with client.stream("GET", url, headers=headers) as response:
                    if response.status_code == 304 and cached is not None:
                        return cached
                    response.raise_for_status()
                    chunks = []
                    received = 0
                    async for chunk in response.aiter_bytes():
                        received += len(chunk)
                        if received > limit:
                            raise DataLinkError(f"data_link {url!r}: more than the limit of {limit} bytes")
                        chunks.append(chunk)
                    etag, modified = response.headers.get("etag"), response.headers.get("last-modified")
            data = b"".join(chunks)
        except httpx.HTTPError as exc:
            raise DataLinkError(f"data_link {url!r}: download failed ({exc})") from exc
        await asyncio.to_thread(self._remember, url, data, etag, modified)
        return data

    def _remember(self, url: str, data: bytes, etag: Optional[str], modified: Optional[str]) -> None:
        """Cache a download, but only an archive that passes the checks."""
        try:
            check_zip(data, self.limits)
        except UnsafeInputError:
            return
        digest = hashlib.sha256(data).hexdigest()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        # Write then rename so that a concurrent reader never sees half a file.
        handle, tmp = tempfile.mkstemp(dir=str(self.cache_dir), suffix=".part")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(tmp, self.cache_dir / f"{digest}.zip")
        index = self._index()
        index[url] = {"sha256": digest, **({"etag": etag} if etag else {}),
                      **({"last_modified": modified} if modified else {})}
        self._evict(index)
        handle, tmp = tempfile.mkstemp(dir=str(self.cache_dir), suffix=".part")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(index, out)
        os.replace(tmp, self._index_path())

    def _evict(self, index: Dict[str, Dict[str, str]]) -> None:
        """Keep the cache under ``cache_bytes``: least recently used archives go first."""
        files = sorted(self.cache_dir.glob("*.zip"), key=lambda p: p.stat().st_mtime, reverse=True)
        total = 0
        for path in files:
            total += path.stat().st_size
            if total > self.cache_bytes:
                path.unlink(missing_ok=True)
        kept = {p.stem for p in self.cache_dir.glob("*.zip")}
        for url in [u for u, e in index.items() if e.get("sha256") not in kept]:
            del index[url]
