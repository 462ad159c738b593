"""Checks of guest paths (pure): keys of ``preload_files`` and ``result_files``."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from motivus_dev.errors import RuntimeFailure


class UnsafeInputError(RuntimeFailure):
    """A task input the pool refuses to hand to a loader (bad path, unsafe data zip)."""


def check_guest_path(path: Any, field: str) -> str:
    """Return ``path`` if it is an absolute guest path without ``..``; raise otherwise."""
    if not isinstance(path, str) or not path:
        raise UnsafeInputError(f"{field}: key {path!r} is not a non-empty string path")
    if "\0" in path or "\\" in path:
        raise UnsafeInputError(
            f"{field}: key {path!r} contains a NUL or backslash",
            hint="use absolute POSIX paths such as /input/data.csv",
        )
    if not path.startswith("/"):
        raise UnsafeInputError(
            f"{field}: key {path!r} is not an absolute guest path",
            hint="guest paths start with '/', e.g. /input/data.csv",
        )
    parts = path.split("/")
    if ".." in parts:
        raise UnsafeInputError(
            f"{field}: key {path!r} contains '..'",
            hint="name the file by its absolute path inside the guest, without '..'",
        )
    if path.rstrip("/") == "":
        raise UnsafeInputError(f"{field}: key {path!r} names the root, not a file")
    return path


def check_file_map(files: Optional[Mapping[str, Any]], field: str, *, bytes_values: bool = False) -> None:
    """Check every key of a ``preload_files``/``result_files`` mapping (None is allowed).

    Values must be strings; with ``bytes_values``, also bytes or memoryviews (the pool takes
    preload files' base64 text as bytes too).
    """
    if files is None:
        return
    if not isinstance(files, Mapping):
        raise UnsafeInputError(f"{field} must be an object of guest path -> value, not {type(files).__name__}")
    kinds = (str, bytes, memoryview) if bytes_values else (str,)
    for key, value in files.items():
        check_guest_path(key, field)
        if not isinstance(value, kinds):
            raise UnsafeInputError(f"{field}: the value for {key!r} must be a string")
