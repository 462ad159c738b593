"""The body of a Waterbear task, in one place: what a driver sends, what the server checks,
what a worker runs and what a loader is posted.

A body on the wire is a JSON object: ``run_type`` (``"wasm"``), ``wasm`` and ``loader``
(base64 of the package's files), ``params`` (the main function's arguments),
``arguments`` (a command line), ``preload_files`` (guest path -> base64), ``result_files``
(guest path -> name), ``data_link`` (the packed starting filesystem). :class:`TaskBody`
builds it (:meth:`TaskBody.to_wire`), reads it (:meth:`TaskBody.from_wire`) and says what is
wrong with one (:func:`check`); the driver client, the fixtures, ``motivus test``, the
loopback server, ``motivus worker`` and the pool's request to node all go through it.

``preload_files`` values may be ``bytes`` or a ``memoryview`` of base64 text, not only
``str``: the loopback server parses a big task frame without copying its files and hands
slices of the frame on (``waterbear/server.py``, ``split_big_strings``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Union

from motivus_dev.errors import ProtocolError

RUN_TYPE = "wasm"  # the only run type the platform's workers run

Arguments = Union[List[str], str, None]
FileData = Union[str, bytes, memoryview]


class TaskBodyError(ProtocolError):
    """A task body of the wrong shape; the message names the field and what it must be."""


@dataclass(frozen=True)
class TaskBody:
    """One task's body. ``wasm``/``loader`` are None once the package is held elsewhere (the
    pool's :class:`~motivus_dev.runtime.package.Package`), or before a marketplace
    algorithm is resolved."""

    params: Optional[List[Any]] = None
    arguments: Arguments = None
    preload_files: Optional[Mapping[str, FileData]] = None
    result_files: Optional[Mapping[str, str]] = None
    data_link: Optional[str] = None
    # Ours, beside data_link: the data zip's SHA-256 when the sender knows it.
    data_sha256: Optional[str] = None
    wasm: Optional[str] = None
    loader: Optional[str] = None
    # As it came: None when the sender left it out (the server takes that as wasm).
    run_type: Optional[str] = RUN_TYPE

    def to_wire(self) -> Dict[str, Any]:
        """The JSON object a driver sends (``wasm``/``loader`` and ``data_sha256`` only when
        set; the other keys always, null when empty, as the platform's client sends them)."""
        wire: Dict[str, Any] = {
            "run_type": self.run_type or RUN_TYPE,
            "params": self.params,
            "arguments": self.arguments,
            "preload_files": None if self.preload_files is None else dict(self.preload_files),
            "result_files": None if self.result_files is None else dict(self.result_files),
            "data_link": self.data_link,
        }
        for key in ("wasm", "loader", "data_sha256"):
            if getattr(self, key) is not None:
                wire[key] = getattr(self, key)
        return wire

    @classmethod
    def from_wire(cls, body: Any, *, package: bool = True) -> "TaskBody":
        """Read a body from the wire; raise :class:`TaskBodyError` naming what is wrong.

        ``package``: whether ``wasm`` and ``loader`` must be there (a task for a worker)."""
        why = check(body, package=package)
        if why is not None:
            raise TaskBodyError(why)
        digest = body.get("data_sha256")
        return cls(
            params=body.get("params"),
            arguments=body.get("arguments"),
            preload_files=body.get("preload_files"),
            result_files=body.get("result_files"),
            data_link=body.get("data_link") or None,
            data_sha256=digest if isinstance(digest, str) else None,
            wasm=body.get("wasm"),
            loader=body.get("loader"),
            run_type=body.get("run_type"),
        )

    def without_package(self) -> "TaskBody":
        """This body without its copy of the package's files (held once by the pool)."""
        return dataclasses.replace(self, wasm=None, loader=None)

    def without_inputs(self) -> "TaskBody":
        """This body without its preload files, once they are handed on: a big input is
        not held while the task runs."""
        return dataclasses.replace(self, preload_files=None)


def check(body: Any, *, package: bool = True) -> Optional[str]:
    """Why a wire body is unusable, or None when its shape is right."""
    if not isinstance(body, dict):
        return "the task payload has no `body` object"
    if body.get("run_type", RUN_TYPE) != RUN_TYPE:
        return f"unsupported run_type {body.get('run_type')!r} (only {RUN_TYPE!r})"
    for key, what in (("wasm", ".wasm"), ("loader", ".js loader")):
        if package and (not isinstance(body.get(key), str) or not body.get(key)):
            return f"the task body has no `{key}` (base64 of the package's {what})"
    params = body.get("params")
    if params is not None and not isinstance(params, list):
        return "`params` must be a list or null"
    arguments = body.get("arguments")
    if arguments is not None and not isinstance(arguments, (list, str)):
        return "`arguments` must be a list of strings, a string or null"
    for key in ("preload_files", "result_files"):
        value = body.get(key)
        if value is not None and not isinstance(value, dict):
            return f"`{key}` must be an object or null"
    for key in ("data_link", "data_sha256"):
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            return f"`{key}` must be a string or null"
    return None


__all__ = ["RUN_TYPE", "TaskBody", "TaskBodyError", "check"]
