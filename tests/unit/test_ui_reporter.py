"""The build's talk as people see it: on a terminal the timer is never cut, in a log a
silent step still says it is going."""

from __future__ import annotations

import io
import re
import time

import pytest
from rich.console import Console

from motivus_dev import ui


def test_on_an_80_column_terminal_a_long_activity_never_cuts_the_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(ui, "err_console", Console(file=screen, force_terminal=True, width=80, color_system=None))
    with ui.RichReporter() as reporter:
        reporter.step("compiling crates")
        reporter.activity("Compiling wasm-bindgen-macro-support v0.2.108 (" + "/very/long/path" * 5 + ") (#12)")
        time.sleep(0.3)  # the live display redraws ten times a second
        reporter.step("packaging")
    frames = [line for line in screen.getvalue().replace("\r", "\n").split("\n") if "━" in line]
    assert frames and all(re.search(r"\d:\d\d:\d\d\s*$", line) for line in frames), frames
    assert any("compiling crates: Compiling wasm-bindgen-macro-supp" in line for line in frames)  # cut, with …


def test_in_a_log_a_silent_step_still_says_it_is_going(monkeypatch: pytest.MonkeyPatch) -> None:
    log = io.StringIO()
    monkeypatch.setattr(ui, "err_console", Console(file=log, force_terminal=False, width=200))
    monkeypatch.setattr(ui, "HEARTBEAT_SECONDS", 0.5)
    with ui.RichReporter() as reporter:
        reporter.step("building the wasm-bindgen CLI 0.2.100")
        reporter.activity("Installing wasm-bindgen-cli v0.2.100")
        time.sleep(2.5)
    lines = log.getvalue().splitlines()
    assert ">> building the wasm-bindgen CLI 0.2.100" in lines[0]
    still = [line for line in lines if "... still building the wasm-bindgen CLI 0.2.100" in line]
    assert still and "(now: Installing wasm-bindgen-cli v0.2.100)" in still[0]


def test_quiet_says_nothing_but_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    log = io.StringIO()
    monkeypatch.setattr(ui, "err_console", Console(file=log, force_terminal=False, width=200))
    with ui.RichReporter(quiet=True) as reporter:
        reporter.step("compiling")
        reporter.activity("Compiling serde")
        reporter.warning("careful")
    assert log.getvalue().strip() == "warning: careful"
