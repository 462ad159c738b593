"""Running packages locally: the node worker pool shared by ``motivus test`` and loopback."""

from __future__ import annotations

from motivus_dev.runtime.package import Package, PackageStore
from motivus_dev.runtime.pool import PoolStats, SlotStats, TaskResult, TaskSpec, WorkerPool

__all__ = [
    "Package",
    "PackageStore",
    "PoolStats",
    "TaskResult",
    "TaskSpec",
    "WorkerPool",
    "SlotStats",
]
