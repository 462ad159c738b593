"""Progress reporting without a UI dependency.

Capability modules take a :class:`Reporter` and call it; the CLI passes one that draws with
rich, tests pass :class:`NullReporter` or :class:`RecordingReporter`.
"""

from __future__ import annotations

from typing import List, Optional, Protocol, Tuple


class Reporter(Protocol):
    """What long-running work tells the user about itself."""

    def info(self, message: str) -> None:
        """A one-line status message."""

    def warning(self, message: str) -> None:
        """Something the user should know, that does not stop the work."""

    def step(self, name: str, total: Optional[float] = None) -> None:
        """A new step starts (with an optional number of units to advance)."""

    def advance(self, amount: float = 1.0) -> None:
        """Progress inside the current step."""

    def output(self, line: str) -> None:
        """A line of a subprocess's output (compiler, docker build)."""

    def activity(self, text: str) -> None:
        """What the current step is doing now, in the tool's own words (``Compiling
        nalgebra v0.33.2``): shown even without ``-v``."""


class NullReporter:
    """A reporter that drops everything."""

    def info(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        pass

    def step(self, name: str, total: Optional[float] = None) -> None:
        pass

    def advance(self, amount: float = 1.0) -> None:
        pass

    def output(self, line: str) -> None:
        pass

    def activity(self, text: str) -> None:
        pass


class RecordingReporter:
    """A reporter that keeps what it was told: for tests."""

    def __init__(self) -> None:
        self.events: List[Tuple[str, str]] = []

    def info(self, message: str) -> None:
        self.events.append(("info", message))

    def warning(self, message: str) -> None:
        self.events.append(("warning", message))

    def step(self, name: str, total: Optional[float] = None) -> None:
        self.events.append(("step", name))

    def advance(self, amount: float = 1.0) -> None:
        self.events.append(("advance", str(amount)))

    def output(self, line: str) -> None:
        self.events.append(("output", line))

    def activity(self, text: str) -> None:
        self.events.append(("activity", text))
