"""``motivus.client``: the driver client under the name the Motivus docs use."""

from __future__ import annotations

from motivus_dev.client import (
    Client,
    ClientConnectionError,
    TaskDefinitionError,
    TaskFailedError,
    UnauthorizedError,
)

__all__ = ["Client", "ClientConnectionError", "TaskDefinitionError", "TaskFailedError", "UnauthorizedError"]
