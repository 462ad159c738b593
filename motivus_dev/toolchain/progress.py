"""A build that talks: the build script's output read as phases and activity.

The executors stream every line of the script to the reporter they are given. Given this
one, each step starts a phase (its :attr:`~.kind.Step.title`), and each line is read by the
toolchain (:meth:`~.kind.Toolchain.read_line`, the toolchain's own knowledge of cargo, make
and its script): a new phase (``wasm-bindgen and wasm-opt`` after cargo's ``Finished``), the
tool's own words for what it does now (``Compiling nalgebra v0.33.2``), a crate done. The
reporter draws it; in a log it also says something at least every 10 s
(:class:`motivus_dev.ui.RichReporter`).
"""

from __future__ import annotations

from typing import Optional

from motivus_dev.reporter import Reporter
from motivus_dev.toolchain.kind import Toolchain


class BuildProgress:
    """A :class:`~motivus_dev.reporter.Reporter` around another, for one build's steps."""

    def __init__(self, reporter: Reporter, kind: Toolchain) -> None:
        self.reporter = reporter
        self.kind = kind
        self.units = 0  # crates (or files) this build started on

    def info(self, message: str) -> None:
        self.reporter.info(message)

    def warning(self, message: str) -> None:
        self.reporter.warning(message)

    def step(self, name: str, total: Optional[float] = None) -> None:
        self.reporter.step(name, total)

    def advance(self, amount: float = 1.0) -> None:
        self.reporter.advance(amount)

    def activity(self, text: str) -> None:
        self.reporter.activity(text)

    def output(self, line: str) -> None:
        self.reporter.output(line)
        said = self.kind.read_line(line.strip("\r"))
        if said is None:
            return
        if said.phase is not None:
            self.reporter.step(said.phase)
        if said.unit:
            self.units += 1
        if said.activity is not None:
            self.reporter.activity(f"{said.activity} (#{self.units})" if said.unit else said.activity)
