"""What runs inside a Dask worker process: the plugin that holds one sandboxed worker pool
per Dask worker, and the task function the loopback submits.

The task function takes and returns builtins only (a wire body dict, a result dict), so
that the scheduler, which unpickles task graphs, sees nothing of ours but this module's
name. A task is a coroutine on the Dask worker's event loop, where the pool lives; it
watches its key's state in the worker and kills its guest when the client cancels it
(Dask itself does not stop a running coroutine when its future is cancelled: measured, the
coroutine ran on after ``Future.cancel()``).
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, Dict, Optional, Tuple

from distributed import WorkerPlugin, get_worker

PLUGIN_NAME = "motivus-pool"
#: Keys of scattered packages: this prefix and the package's sha256.
PACKAGE_KEY_PREFIX = "motivus-package-"
#: Keys of scattered data zips (a driver's local data_link): this prefix and their sha256.
DATA_KEY_PREFIX = "motivus-data-"
#: How often a running task looks whether its key was cancelled (the issue: "within a second").
CANCEL_POLL_S = 0.2
#: Keys' states in which a task is still wanted on this worker.
_WANTED = ("executing", "long-running")


class PoolPlugin(WorkerPlugin):
    """One :class:`~motivus_dev.runtime.pool.WorkerPool` per Dask worker process, with as
    many node workers as the Dask worker has threads, the loopback's deadline and memory cap,
    and the sandbox, always: whoever runs the loopback cannot waive it for the machines
    that lend their workers (setting up the plugin fails on a machine without it)."""

    name = PLUGIN_NAME

    def __init__(self, timeout: Optional[float], memory_mb: int) -> None:
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.pool: Any = None
        self.packages: "collections.OrderedDict[str, Any]" = collections.OrderedDict()
        self.package_arrivals = 0

    async def setup(self, worker: Any) -> None:
        from motivus_dev.runtime.pool import WorkerPool

        # No data_link may name a file of this machine: tasks come from other people's drivers.
        self.pool = WorkerPool(max(1, int(worker.state.nthreads)), self.timeout, self.memory_mb, data_dirs=[])
        await self.pool.start()

    async def teardown(self, worker: Any) -> None:
        if self.pool is not None:
            await self.pool.close("cancelled: the Dask worker is shutting down")

    def package(self, wire: Tuple[str, str, str]) -> Any:
        """The pool's package for ``(sha256, wasm_b64, loader_b64)``: interned once per worker
        and kept for the last 16 packages used."""
        from motivus_dev.runtime.package import Package

        digest, wasm_b64, loader_b64 = wire
        found = self.packages.get(digest)
        if found is None:
            found = Package(digest, loader_b64, wasm_b64)
            self.packages[digest] = found
            self.package_arrivals += 1
            while len(self.packages) > 16:
                self.packages.popitem(last=False)
        self.packages.move_to_end(digest)
        return found


async def run_task(package: Tuple[str, str, str], data: Optional[Tuple[str, bytes]], body: Dict[str, Any],
                   key: str, timeout: Optional[float], owner: str) -> Dict[str, Any]:
    """Run one task in this Dask worker's pool; the result as builtins. ``data``: the data
    zip (sha256, bytes) when the driver's data_link named a file of the loopback's machine."""
    from motivus_dev.runtime.task import TaskSpec
    from motivus_dev.taskbody import TaskBody

    worker = get_worker()
    plugin = worker.plugins[PLUGIN_NAME]
    assert isinstance(plugin, PoolPlugin)
    spec = TaskSpec(plugin.package(package), TaskBody.from_wire(body, package=False), timeout=timeout,
                    release_inputs=True, owner=owner, local_data=False,
                    data_zip=data[1] if data is not None else None)
    running = asyncio.ensure_future(plugin.pool.run(spec, label=key[-8:]))
    while not running.done():
        task = worker.state.tasks.get(key)
        if task is None or task.state not in _WANTED:
            running.cancel()  # the pool kills the guest's process
            await asyncio.gather(running, return_exceptions=True)
            raise asyncio.CancelledError(f"{key} was cancelled")
        await asyncio.wait([running], timeout=CANCEL_POLL_S)
    result = running.result()
    return {
        "body_json": bytes(result.body_json),
        "stdout": result.stdout,
        "stderr": result.stderr,
        "exit_code": result.exit_code,
        "error": result.error,
        "duration": result.duration,
        "worker": worker.address,
    }


def worker_facts(dask_worker: Any) -> Dict[str, Any]:
    """What a worker's plugin has seen (for tests and ``client.run``)."""
    plugin = dask_worker.plugins.get(PLUGIN_NAME)
    return {
        "package_arrivals": getattr(plugin, "package_arrivals", 0),
        "held": sorted(str(key) for key in dask_worker.data.keys()),
        "pids": plugin.pool.pids() if plugin is not None and plugin.pool is not None else [],
    }
