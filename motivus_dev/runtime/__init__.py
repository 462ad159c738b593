"""Running packages locally: the node worker pool shared by ``motivus test`` and loopback."""

from __future__ import annotations

from motivus_dev.runtime.package import Package, PackageStore
from motivus_dev.runtime.pool import PoolStats, TaskResult, TaskSpec, WorkerPool, WorkerStats

__all__ = [
    "Package",
    "PackageStore",
    "PoolStats",
    "TaskResult",
    "TaskSpec",
    "WorkerPool",
    "WorkerStats",
]
