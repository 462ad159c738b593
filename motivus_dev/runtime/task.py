"""What the pool runs and what it gives back: :class:`TaskSpec` and :class:`TaskResult`.

The pool knows tasks, not frames: a spec holds a :class:`~motivus_dev.taskbody.TaskBody`
and a result holds the loader's body decoded. Putting a result on the wire (encoding its
body) is the business of the two that speak Waterbear, the loopback server and
``motivus worker``, through :mod:`motivus_dev.waterbear`.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Union

from motivus_dev.errors import RuntimeFailure
from motivus_dev.runtime.package import Package
from motivus_dev.taskbody import TaskBody
from motivus_dev.taskoutput import decode_output, encode_output

#: The body of a failed task on the platform: ``{}``.
EMPTY_BODY_JSON = b"{}"


@dataclass
class TaskSpec:
    """One task for the pool: a package and a task body (whose own ``wasm``/``loader`` are
    not used: the package holds them once)."""

    package: Package
    body: TaskBody = field(default_factory=TaskBody)
    timeout: Optional[float] = None  # overrides the pool's default
    # When True, the pool drops the body's preload files as soon as they are handed to
    # node, so that big inputs are not held while the task runs. The spec cannot be run
    # again then. The loopback server and the worker set it: their specs are used once.
    release_inputs: bool = False
    # Whose task this is (a loopback connection, a `motivus test` run): tasks of one owner
    # may share a node process, one after the other; a task without one (`motivus worker`:
    # strangers' drivers) gets a process of its own.
    owner: Optional[str] = None
    # Whether data_link may name a file of this machine: not for a task from a browser page
    # or a cluster.
    local_data: bool = True
    # The data zip's bytes when they came with the task (a cluster's loopback read the
    # driver's local data_link and sent them): checked by the pool instead of fetching the link.
    data_zip: Optional[bytes] = None


@dataclass
class TaskResult:
    """What a task produced, as the platform's worker has it before putting it on the wire.

    ``body_json`` is the loader's body as JSON text (``JSON.stringify`` in the worker
    process, the exact text the platform's worker gzips); :attr:`body` is its value.
    ``stdout``/``stderr`` are passed through as the loader posted them (base64 by the
    contract; None when it posted none); ``exit_code`` is the loader's ``exitCode`` when it
    posted one. ``error`` is set when the pool failed the task (deadline, crash, refused
    input, cancelled): then the result has the platform's failure shape (body ``{}``,
    stderr ending with the reason, exit code 1).
    """

    body_json: Union[bytes, bytearray]  # bytearray: as read from node, not copied
    stdout: Optional[str]
    stderr: Optional[str]
    exit_code: Optional[int]
    error: Optional[str] = None
    duration: float = 0.0
    worker: Optional[int] = None
    #: where the task's time went, in ms (input, instantiate, call, output), as our loaders
    #: measure it (loader_js/timings.js); None from a loader that does not
    timings: Optional[Dict[str, float]] = None
    #: the loader's worker thread's CPU profile (Chrome ``.cpuprofile``), from a profiling pool
    profile: Optional[Dict[str, Any]] = None

    @property
    def ok(self) -> bool:
        """True when neither the pool nor the loader (a non-zero ``exitCode``) failed the task."""
        return self.error is None and not self.exit_code

    @functools.cached_property
    def body(self) -> Any:
        """The loader's plain body (``{"data": ...}``, result files, or whatever it posted)."""
        try:
            return json.loads(self.body_json)
        except ValueError as exc:  # node's JSON.stringify wrote it: a bug of ours, said plainly
            raise RuntimeFailure(f"the worker process handed over a body that is not JSON ({exc})") from exc

    @property
    def stdout_text(self) -> str:
        return decode_output(self.stdout)

    @property
    def stderr_text(self) -> str:
        return decode_output(self.stderr)

    @classmethod
    def failure(cls, message: str, stdout: Optional[str] = None, stderr: Optional[str] = None) -> "TaskResult":
        """A result in the platform's failure shape whose stderr ends with ``message``.

        ``stdout``/``stderr`` are what the loader posted (base64), kept in front of it.
        """
        before = decode_output(stderr)
        text = before + ("\n" if before and not before.endswith("\n") else "") + message + "\n"
        return cls(EMPTY_BODY_JSON, stdout, encode_output(text), 1, error=message)
