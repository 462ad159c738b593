"""Deterministic packing: the filesystem archive (``NAME-VERSION.data.zip``), the package
(``NAME-VERSION.zip``), sha256 helpers and atomic writes.

Building the same inputs twice, or once in the container and once on the host, must give
byte-identical archives, so every zip written here has: entries sorted by name, the fixed
timestamp 1980-01-01 00:00:00 (the earliest a zip can hold), fixed Unix permissions (0644
files, 0755 directories), no extra fields or comments, and deflate at a fixed level. The
bytes then depend only on the contents and on zlib's deflate for that level.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from motivus_dev.errors import PackageError
from motivus_dev.layout import PackageLayout

#: The timestamp of every entry (zip's DOS time cannot go below 1980).
ZIP_DATE_TIME: Tuple[int, int, int, int, int, int] = (1980, 1, 1, 0, 0, 0)
#: The deflate level of every compressed entry.
ZIP_DEFLATE_LEVEL = 9
_FILE_MODE = 0o100644
_DIR_MODE = 0o040755
_MSDOS_DIRECTORY = 0x10
_CREATE_SYSTEM_UNIX = 3


def sha256_bytes(data: bytes) -> str:
    """The hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """The hex sha256 of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise PackageError(f"cannot read {path}: {exc.strerror}") from exc
    return digest.hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename,
    so that ``path`` is either absent/old or complete, never partial."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise PackageError(f"cannot write {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600; a package is an ordinary readable file.
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except OSError as exc:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise PackageError(f"cannot write {path}: {exc.strerror}") from exc


def zip_entries(files: Dict[str, bytes], directories: Iterable[str] = ()) -> bytes:
    """A deterministic zip of ``files`` (archive name -> bytes) plus empty-or-not
    ``directories`` (archive names; a trailing ``/`` is added). Names use ``/`` and must be
    relative without ``.``/``..`` components."""
    entries: List[Tuple[str, Optional[bytes]]] = []
    for name, content in files.items():
        _check_entry_name(name)
        entries.append((name, bytes(content)))
    for name in directories:
        _check_entry_name(name.rstrip("/"))
        entries.append((name.rstrip("/") + "/", None))
    names = [n for n, _ in entries]
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise PackageError("duplicate entries in the archive: " + ", ".join(duplicates))
    # Sort by the UTF-8 bytes of the name: the same order on every platform and locale.
    entries.sort(key=lambda e: e[0].encode("utf-8"))

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.create_system = _CREATE_SYSTEM_UNIX
            info.extra = b""
            info.comment = b""
            if data is None:
                info.compress_type = zipfile.ZIP_STORED
                info.external_attr = (_DIR_MODE << 16) | _MSDOS_DIRECTORY
                zf.writestr(info, b"")
            else:
                method = _method_for(data)
                info.compress_type = method
                info.external_attr = _FILE_MODE << 16
                zf.writestr(info, data, compress_type=method, compresslevel=ZIP_DEFLATE_LEVEL)
    return buf.getvalue()


# An entry over 1 MiB that deflates more than this many times looks like a zip bomb to the
# workers' check (ratio 200) and the marketplace's (250): such an entry (10 MB of zeros, a
# sparse matrix) is stored instead, so that an honest package is never refused as a bomb.
MAX_PACKED_RATIO = 100


def _method_for(data: bytes) -> int:
    if len(data) > (1 << 20) and len(zlib.compress(data, ZIP_DEFLATE_LEVEL)) * MAX_PACKED_RATIO < len(data):
        return zipfile.ZIP_STORED
    return zipfile.ZIP_DEFLATED


def _check_entry_name(name: str) -> None:
    parts = name.split("/")
    if not name or name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        raise PackageError(f"invalid archive entry name {name!r}: use a relative path with '/' separators")


def pack_filesystem(directory: Path, exclude: Iterable[Path] = ()) -> bytes:
    """Pack ``directory`` into the deterministic ``.data.zip`` that loaders unpack at ``/``:
    every regular file and directory below it (an entry ``a/b.txt`` becomes ``/a/b.txt`` in
    the guest). Paths in ``exclude`` (and everything below them) are left out, e.g. the
    project's ``.motivus`` and ``build`` directories when the filesystem is the project root.

    Raises :class:`PackageError` for a missing directory, and for a symlink or special file
    (device, socket, fifo), naming it: a link's target would differ between machines.
    """
    root = Path(directory)
    if not root.is_dir():
        raise PackageError(
            f"filesystem directory {root} does not exist",
            hint="create it, or set build.filesystem in motivus.yml to an existing directory",
        )
    excluded = {os.path.abspath(p) for p in exclude}
    files: Dict[str, bytes] = {}
    dirs: List[str] = []

    def walk(current: Path, prefix: str) -> None:
        try:
            children = sorted(os.listdir(current))
        except OSError as exc:
            raise PackageError(f"cannot list {current}: {exc.strerror}") from exc
        for child in children:
            full = current / child
            if os.path.abspath(full) in excluded:
                continue
            name = prefix + child
            try:
                st = os.lstat(full)
            except OSError as exc:
                raise PackageError(f"cannot read {full}: {exc.strerror}") from exc
            if stat.S_ISLNK(st.st_mode):
                raise PackageError(
                    f"{full} is a symbolic link; the packed filesystem only holds regular files and directories",
                    hint="replace the link by a copy of its target",
                )
            if stat.S_ISDIR(st.st_mode):
                dirs.append(name)
                walk(full, name + "/")
            elif stat.S_ISREG(st.st_mode):
                try:
                    files[name] = full.read_bytes()
                except OSError as exc:
                    raise PackageError(f"cannot read {full}: {exc.strerror}") from exc
            else:
                raise PackageError(
                    f"{full} is a special file (device, socket or fifo); "
                    "the packed filesystem only holds regular files and directories",
                    hint="remove it from the filesystem directory",
                )

    walk(root, "")
    return zip_entries(files, dirs)


def write_package(out_dir: Path, name: str, version: str, files: Dict[str, bytes]) -> Path:
    """Write the deterministic package ``out_dir/NAME-VERSION.zip`` holding ``files``
    (archive name -> bytes, e.g. ``{"kmeans-0.0.1.wasm": ..., "kmeans-0.0.1.js": ...}``),
    atomically. Returns its path."""
    if not files:
        raise PackageError(f"package {name}-{version} would be empty")
    for entry in files:
        if "/" in entry:
            raise PackageError(f"package entry {entry!r} must be a plain file name")
    target = Path(out_dir) / PackageLayout.of(name, version).archive
    atomic_write(target, zip_entries(files))
    return target
