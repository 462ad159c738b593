"""Checks of an algorithm package (``NAME-VERSION.zip``) before anything of it is stored.

Two layers, so the rules can be unit-tested without I/O:

* :func:`check_entries` is pure: it judges a zip's directory (names, sizes, flags) against
  :class:`PackageLimits` and says which entry plays which role (loader, wasm, data).
* :func:`extract_package` does the I/O: it opens the zip, runs :func:`check_entries`,
  decompresses the members it needs into a scratch directory while counting the real bytes
  (a zip's declared sizes are not trusted), fsyncs them, validates the ``.wasm`` with
  wasmtime and the inner ``.data.zip``'s directory, and returns their sha256 digests.

Every refusal is a :class:`PackageRejected` whose ``field`` and ``reason`` become the
server's ``{"errors": {field: [reason]}}`` body, and that push reuses for its local checks.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Dict, Optional, Sequence, Tuple

from motivus_dev.errors import PackageError
from motivus_dev.layout import PackageLayout
from motivus_dev.runtime.datalink import DEFAULT_LIMITS
from motivus_dev.ziptools import size_lie

#: Algorithm names as the platform's rule has them (``^[a-z0-9]+([-_\S]{1}[a-z0-9]+)*$``, any
#: case: runs of letters and digits, one separator between two runs), with the separator
#: limited to '-', '_' and '.' because names end up in file names and URLs; at most 64.
ALGORITHM_NAME_RE = re.compile(r"^(?=.{1,64}\Z)[A-Za-z0-9]+([-_.][A-Za-z0-9]+)*\Z")
#: Version names (the platform checks none) also end up in file names and URLs: kept plain.
VERSION_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}\Z")

#: Version metadata fields kept (marketplace-api.md); others are dropped. motivus.yml's
#: package.metadata has exactly these keys.
METADATA_FIELDS = ("short_description", "long_description", "license", "author", "url", "upstream_url")
CHARGE_SCHEMAS = ("PER_EXECUTION", "PER_MINUTE")


def clean_metadata(metadata: Dict[str, Any]) -> Dict[str, Any]:
    """As the platform casts metadata: the six string fields, strings only (others dropped)."""
    return {key: metadata[key] for key in METADATA_FIELDS if isinstance(metadata.get(key), str)}


ROLE_LOADER = "loader"
ROLE_WASM = "wasm"
ROLE_DATA = "data"

_CHUNK = 1024 * 1024


class PackageRejected(PackageError):
    """The package breaks a rule; ``field``/``reason`` are the API's error entry."""

    def __init__(self, reason: str, *, field_name: str = "package") -> None:
        super().__init__(
            f"package refused: {reason}",
            hint="rebuild the package with `motivus build`",
        )
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True)
class PackageLimits:
    """Bounds that keep a hostile upload (zip bomb, huge body) from exhausting the server.

    The defaults are far above any real algorithm (the k-means package is a few hundred KB)
    and far below what would fill a small disk.
    """

    max_upload_bytes: int = 512 * 1024 * 1024
    max_entries: int = 16
    max_total_uncompressed: int = 1024 * 1024 * 1024
    #: Ratio uncompressed/compressed allowed for an entry larger than ``ratio_floor``
    #: (tiny entries can have silly ratios without being dangerous).
    max_ratio: float = 250.0
    ratio_floor: int = 1024 * 1024
    max_wasm_bytes: int = 256 * 1024 * 1024
    #: The inner ``.data.zip`` is unpacked by every worker: bound its declared contents by
    #: what the workers' pool takes (runtime.datalink.DEFAULT_LIMITS, the one place; the
    #: build checks the same), so that nothing published is refused when tasks run.
    max_data_entries: int = DEFAULT_LIMITS.max_entries
    max_data_total_uncompressed: int = DEFAULT_LIMITS.max_total_bytes


@dataclass(frozen=True)
class EntryInfo:
    """What :func:`check_entries` needs to know of one zip entry."""

    name: str
    file_size: int
    compress_size: int
    flag_bits: int = 0
    external_attr: int = 0

    @classmethod
    def from_zipinfo(cls, info: zipfile.ZipInfo) -> "EntryInfo":
        return cls(
            name=info.filename,
            file_size=info.file_size,
            compress_size=info.compress_size,
            flag_bits=info.flag_bits,
            external_attr=info.external_attr,
        )


def expected_file_names(name: str, version: str) -> Dict[str, str]:
    """The member names of ``NAME-VERSION.zip`` by role."""
    layout = PackageLayout.of(name, version)
    return {ROLE_LOADER: layout.loader, ROLE_WASM: layout.wasm, ROLE_DATA: layout.data_zip}


def package_file_name(name: str, version: str) -> str:
    """The one accepted file name of a package: ``NAME-VERSION.zip``."""
    return PackageLayout.of(name, version).archive


def check_names(name: str, version: str) -> None:
    """Refuse algorithm or version names that cannot be used in file names and URLs."""
    if not ALGORITHM_NAME_RE.match(name):
        raise PackageRejected(
            f"invalid algorithm name {name!r} (letters, digits, '.', '_', '-'; at most 64)",
            field_name="name",
        )
    if not VERSION_NAME_RE.match(version):
        raise PackageRejected(
            f"invalid version name {version!r} (letters, digits, '.', '+', '_', '-'; at most 64)",
            field_name="name",
        )


def check_file_name(file_name: Optional[str], name: str, version: str) -> None:
    """The uploaded file must be called exactly ``NAME-VERSION.zip``."""
    expected = package_file_name(name, version)
    if file_name != expected:
        raise PackageRejected(f"file name must be {expected!r}, got {file_name!r}")


def unsafe_entry_reason(entry_name: str) -> Optional[str]:
    """Why an entry name could escape the extraction directory (zip-slip), or None."""
    if not entry_name:
        return "empty entry name"
    if "\x00" in entry_name:
        return "NUL byte in entry name"
    if "\\" in entry_name:
        return "backslash in entry name"
    if entry_name.startswith("/") or re.match(r"^[A-Za-z]:", entry_name):
        return "absolute entry path"
    if any(part == ".." for part in entry_name.split("/")):
        return "'..' in entry path"
    return None


def _is_symlink(entry: EntryInfo) -> bool:
    return stat.S_ISLNK(entry.external_attr >> 16)


def _check_common(
    entries: Sequence[EntryInfo],
    *,
    max_entries: int,
    max_total: int,
    limits: PackageLimits,
    what: str,
) -> None:
    """Rules shared by the package and its inner data zip."""
    if len(entries) > max_entries:
        raise PackageRejected(f"{what} has {len(entries)} entries (limit {max_entries})")
    seen = set()
    total = 0
    for entry in entries:
        reason = unsafe_entry_reason(entry.name)
        if reason:
            raise PackageRejected(f"unsafe entry {entry.name!r} in {what}: {reason}")
        if entry.name in seen:
            raise PackageRejected(f"duplicate entry {entry.name!r} in {what}")
        seen.add(entry.name)
        if entry.flag_bits & 0x1:
            raise PackageRejected(f"encrypted entry {entry.name!r} in {what}")
        if _is_symlink(entry):
            raise PackageRejected(f"symbolic link entry {entry.name!r} in {what}")
        if entry.file_size > limits.ratio_floor:
            ratio = entry.file_size / max(entry.compress_size, 1)
            if ratio > limits.max_ratio:
                raise PackageRejected(
                    f"entry {entry.name!r} in {what} expands {ratio:.0f}x "
                    f"(limit {limits.max_ratio:.0f}x): looks like a zip bomb"
                )
        total += entry.file_size
        if total > max_total:
            raise PackageRejected(f"{what} expands to more than {max_total} bytes: looks like a zip bomb")


def check_entries(entries: Sequence[EntryInfo], name: str, version: str, limits: PackageLimits) -> Dict[str, EntryInfo]:
    """Judge a package's zip directory; return the entries by role (loader, wasm, data).

    Unknown top-level entries are allowed (and not stored): packagers may add files;
    unsafe names are refused wherever they appear.
    """
    _check_common(
        entries,
        max_entries=limits.max_entries,
        max_total=limits.max_total_uncompressed,
        limits=limits,
        what="the package",
    )
    expected = expected_file_names(name, version)
    by_name = {entry.name: entry for entry in entries}
    missing = [expected[r] for r in (ROLE_LOADER, ROLE_WASM) if expected[r] not in by_name]
    if missing:
        present = ", ".join(sorted(by_name)) or "nothing"
        raise PackageRejected(f"incorrect package contents: missing {' and '.join(missing)} (found {present})")
    roles = {role: by_name[file] for role, file in expected.items() if file in by_name}
    if roles[ROLE_WASM].file_size > limits.max_wasm_bytes:
        raise PackageRejected(
            f"{expected[ROLE_WASM]} is {roles[ROLE_WASM].file_size} bytes (limit {limits.max_wasm_bytes})"
        )
    return roles


def check_data_entries(entries: Sequence[EntryInfo], limits: PackageLimits) -> None:
    """Judge the inner ``NAME-VERSION.data.zip`` (the workers' starting filesystem)."""
    _check_common(
        entries,
        max_entries=limits.max_data_entries,
        max_total=limits.max_data_total_uncompressed,
        limits=limits,
        what="the data zip",
    )


def validate_wasm(data: bytes) -> None:
    """Refuse bytes that are not a valid WebAssembly module (checked by wasmtime)."""
    import wasmtime  # imported here: it is slow to load and only needed for this check

    try:
        wasmtime.Module.validate(wasmtime.Engine(), data)
    except wasmtime.WasmtimeError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid"
        raise PackageRejected(f"the .wasm is not a valid WebAssembly module: {first_line}") from exc


@dataclass
class ExtractedFile:
    """One member written to the scratch directory, fsynced, with its digest."""

    role: str
    file_name: str
    path: Path
    sha256: str
    size: int


@dataclass
class ValidatedPackage:
    """A package that passed every check, its members extracted to scratch files."""

    name: str
    version: str
    package_path: Path
    package_sha256: str
    package_size: int
    files: Dict[str, ExtractedFile] = field(default_factory=dict)


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_write(source: IO[bytes], dest: Path, max_bytes: Optional[int] = None) -> Tuple[str, int]:
    """Copy a stream into ``dest`` (hashing, bounded by ``max_bytes``), then fsync it."""
    digest = hashlib.sha256()
    size = 0
    with open(dest, "wb") as out:
        for chunk in iter(lambda: source.read(_CHUNK), b""):
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise PackageRejected(f"content is larger than the limit of {max_bytes} bytes")
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest(), size


def _open_zip(path: Path, what: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise PackageRejected(f"{what} is not a valid zip file: {exc}") from exc


def inspect_package(path: Path, name: str, version: str, limits: PackageLimits) -> Dict[str, EntryInfo]:
    """Open a package zip and check its directory (no extraction): push's local check."""
    with _open_zip(path, "the package") as archive:
        entries = [EntryInfo.from_zipinfo(i) for i in archive.infolist()]
    return check_entries(entries, name, version, limits)


def extract_package(
    package_path: Path,
    name: str,
    version: str,
    scratch_dir: Path,
    limits: PackageLimits,
    package_sha256: Optional[str] = None,
) -> ValidatedPackage:
    """Validate ``package_path`` fully and extract its members into ``scratch_dir``.

    ``scratch_dir`` must exist and be private to this call; the caller removes it. Nothing
    outside it is written.
    """
    check_names(name, version)
    names = expected_file_names(name, version)
    pkg_size = package_path.stat().st_size
    if pkg_size > limits.max_upload_bytes:
        raise PackageRejected(f"the package is larger than {limits.max_upload_bytes} bytes")
    result = ValidatedPackage(
        name=name,
        version=version,
        package_path=package_path,
        package_sha256=package_sha256 or sha256_file(package_path),
        package_size=pkg_size,
    )
    with _open_zip(package_path, "the package") as archive:
        infos = archive.infolist()
        roles = check_entries([EntryInfo.from_zipinfo(i) for i in infos], name, version, limits)
        for role, entry in roles.items():
            dest = scratch_dir / names[role]
            try:
                with archive.open(entry.name) as member:
                    # The declared size already passed the limits; the real stream must not
                    # exceed it (zipfile also checks the CRC at the end of the member).
                    digest, size = fsync_write(member, dest, max_bytes=entry.file_size)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
                raise PackageRejected(f"cannot read {entry.name!r} from the package: {exc}") from exc
            result.files[role] = ExtractedFile(role, names[role], dest, digest, size)
    validate_wasm(result.files[ROLE_WASM].path.read_bytes())
    data = result.files.get(ROLE_DATA)
    if data is not None:
        with _open_zip(data.path, names[ROLE_DATA]) as inner:
            infos = inner.infolist()
            check_data_entries([EntryInfo.from_zipinfo(i) for i in infos], limits)
            # The workers inflate every entry whole: what it really inflates to counts.
            with open(data.path, "rb") as raw:
                for info in infos:
                    lie = size_lie(raw, info)
                    if lie is not None:
                        raise PackageRejected(f"entry {info.filename!r} in the data zip {lie}")
    return result
