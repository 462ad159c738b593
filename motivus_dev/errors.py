"""The one error tree of the kit.

Every error a user can cause is a :class:`MotivusError` subclass with its own exit code.
Capability modules raise them (translating foreign errors with ``raise ... from exc``);
the CLI is the only place that turns them into messages.
"""

from __future__ import annotations

from typing import Optional


class MotivusError(Exception):
    """Base class: a problem the user can fix, reported without a traceback."""

    exit_code = 1

    def __init__(self, message: str, *, hint: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class UsageError(MotivusError):
    """Bad command-line usage or a command that is not available yet."""

    exit_code = 2


class ConfigError(MotivusError):
    """motivus.yml (or another project file) is missing or invalid."""

    exit_code = 3


class ScaffoldError(MotivusError):
    """`motivus new` / `motivus update` could not generate or update a project."""

    exit_code = 4


class ToolchainError(MotivusError):
    """No usable toolchain (docker engine, image or host tools)."""

    exit_code = 5


class BuildError(MotivusError):
    """The compile or packaging step failed."""

    exit_code = 6


class PackageError(MotivusError):
    """A package file is missing, stale or malformed."""

    exit_code = 7


class RuntimeFailure(MotivusError):
    """Running a package (worker pool, loader) failed."""

    exit_code = 8


class TestFailure(MotivusError):
    """`motivus test` ran and at least one case failed."""

    exit_code = 1


class ProtocolError(MotivusError):
    """A peer broke the Waterbear protocol."""

    exit_code = 9


class MarketplaceError(MotivusError):
    """The marketplace refused a request or could not be reached."""

    exit_code = 10
