"""What the pool runs and what it gives back: :class:`TaskSpec` and :class:`TaskResult`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Union

from motivus_dev.runtime.package import Package
from motivus_dev.waterbear.codec import EMPTY_BODY, decode_body, decode_output, encode_output
from motivus_dev.waterbear.frames import result_payload


@dataclass
class TaskSpec:
    """One task for the pool: a package and the inputs of a Waterbear task body."""

    package: Package
    params: Optional[List[Any]] = None
    arguments: Union[List[str], str, None] = None
    # guest path -> base64 of the file's bytes: a str, or its ASCII text as bytes or a
    # memoryview (the loopback server passes slices of the task frame, so that a big file's
    # base64 is not copied on its way to node).
    preload_files: Optional[Dict[str, Union[str, bytes, memoryview]]] = None
    result_files: Optional[Dict[str, str]] = None
    data_link: Optional[str] = None
    data_sha256: Optional[str] = None
    timeout: Optional[float] = None  # overrides the pool's default
    # When True, the pool drops ``preload_files`` (sets it to None) as soon as they are
    # handed to node, so that big inputs are not held while the task runs. The spec cannot
    # be run again then. The loopback server sets it: its specs are used once.
    release_inputs: bool = False
    # Whose task this is (a loopback connection, a `motivus test` run): tasks of one owner
    # may share a node process, one after the other; a task without one (`motivus worker`:
    # strangers' drivers) gets a process of its own.
    owner: Optional[str] = None
    # Whether data_link may name a file of this machine: not for a task from a browser page
    # or a cluster.
    local_data: bool = True

    @classmethod
    def from_body(
        cls, package: Package, body: Mapping[str, Any], *, owner: Optional[str], local_data: bool
    ) -> "TaskSpec":
        """The spec of a Waterbear task body (the loopback's and ``motivus worker``'s), used
        once: only the small fields are kept, and big preload files are freed once node has
        them."""
        data_sha256 = body.get("data_sha256")
        return cls(
            package=package,
            params=body.get("params"),
            arguments=body.get("arguments"),
            preload_files=body.get("preload_files"),
            result_files=body.get("result_files"),
            data_link=body.get("data_link") or None,
            data_sha256=data_sha256 if isinstance(data_sha256, str) else None,
            release_inputs=True,
            owner=owner,
            local_data=local_data,
        )


@dataclass
class TaskResult:
    """What a task produced, as the platform's worker reports it.

    ``body`` is the loader's body encoded by the worker (base64(gzip(JSON))); ``stdout`` and
    ``stderr`` are passed through as the loader posted them (base64 by the contract; None
    when it posted none); ``exit_code`` is the loader's ``exitCode`` when it posted one.
    ``error`` is set when the pool failed the task (deadline, crash, refused input,
    cancelled): then the result has the platform's failure shape (body ``{}``, stderr the
    reason in base64, exit code 1).
    """

    body: str
    stdout: Optional[str]
    stderr: Optional[str]
    exit_code: Optional[int]
    error: Optional[str] = None
    duration: float = 0.0
    worker: Optional[int] = None

    @property
    def ok(self) -> bool:
        """True when neither the pool nor the loader (a non-zero ``exitCode``) failed the task."""
        return self.error is None and not self.exit_code

    @property
    def stdout_text(self) -> str:
        return decode_output(self.stdout)

    @property
    def stderr_text(self) -> str:
        return decode_output(self.stderr)

    def body_value(self) -> Any:
        """The loader's plain body (``{"data": ...}``, result files, or whatever it posted)."""
        return decode_body(self.body)

    def payload(self, ref: str) -> Dict[str, Any]:
        """The ``result`` payload for this task, as the platform's worker sends it."""
        return result_payload(ref, self.body, self.stdout, self.stderr, self.exit_code, self.error)

    @classmethod
    def failure(cls, message: str, stdout: Optional[str] = None, stderr: Optional[str] = None) -> "TaskResult":
        """A result in the platform's failure shape whose stderr ends with ``message``.

        ``stdout``/``stderr`` are what the loader posted (base64), kept in front of it.
        """
        before = decode_output(stderr)
        text = before + ("\n" if before and not before.endswith("\n") else "") + message + "\n"
        return cls(EMPTY_BODY, stdout, encode_output(text), 1, error=message)
