"""What a failed task's output says, kept for a person: the panic, the head and the tail."""

from __future__ import annotations

from motivus_dev.client import TaskFailedError
from motivus_dev.taskoutput import failure_excerpt, failure_hint, failure_summary

LONG_INPUT = "x" * 5000
PANIC = (
    "kmeans: starting\n"
    "panicked at src/lib.rs:24:10:\n"
    f'params[0] must be a list of points: Error("invalid type: string \\"{LONG_INPUT}\\", expected f32", '
    "line: 1, column: 5004)\n"
    + "".join(f"stack line {i}\n" for i in range(200))
    + "RuntimeError: unreachable\n"
)


def test_a_long_panic_keeps_its_location_its_message_and_the_end() -> None:
    error = TaskFailedError("t1", PANIC, exit_code=1)
    text = str(error)
    assert "panicked at src/lib.rs:24:10:" in text
    assert 'params[0] must be a list of points: Error("invalid type: string' in text
    assert "line: 1, column: 5004)" in text  # a long line keeps its end too
    assert text.rstrip().endswith("RuntimeError: unreachable")
    assert "lines left out ..." in text and len(text) < 3000
    assert error.task_exit_code == 1 and error.exit_code == 8 and error.stderr == PANIC
    assert error.hint is None  # the panic said what happened


def test_a_panic_without_its_message_gets_the_hook_hint() -> None:
    text = "RuntimeError: unreachable\n    at kmeans.wasm.main (wasm://wasm/kmeans:1:2)\n"
    assert failure_hint(text) is not None and "console_error_panic_hook" in str(failure_hint(text))
    assert "console_error_panic_hook::set_once()" in str(TaskFailedError("t", text))
    assert failure_summary(text).startswith("at kmeans.wasm.main")
    assert "install console_error_panic_hook" in failure_summary(text)


def test_the_summary_is_the_panic_wherever_it_is_else_the_last_line() -> None:
    summary = failure_summary(PANIC)
    assert summary.startswith("panicked at src/lib.rs:24:10: params[0] must be a list of points")
    assert len(summary) <= 310
    assert failure_summary("warming up\nError: no such input\n") == "Error: no such input"
    assert failure_summary("") == ""


def test_short_output_is_kept_whole() -> None:
    assert failure_excerpt("one\ntwo\n") == "one\ntwo"
    assert str(TaskFailedError("t", "")).endswith("(no stderr)")
