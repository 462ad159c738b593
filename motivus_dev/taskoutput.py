"""Worker output as loaders post it (``stdout``/``stderr`` base64 of the text's UTF-8 bytes),
and what a failed task's output says, in one place for the driver client, the loopback log,
``motivus worker`` and ``motivus test``.

The platform's emscripten adapter does ``btoa(text)``; the platform's worker passes what the
loader posted through, and the published 2.4.0 client base64-decodes both for every task
(plain text kills its listener: ``binascii.Error``). The pool, the loopback server, the
worker and the driver client all read and write output through these functions.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import List, Optional


def encode_output(text: Optional[str]) -> Optional[str]:
    """Worker output as loaders post it: base64 of its UTF-8 bytes (None stays None)."""
    if text is None:
        return None
    return base64.b64encode(text.encode("utf-8", "replace")).decode("ascii")


def is_base64(value: Optional[str]) -> bool:
    """True for None, "" and strict base64: what the 2.4.0 client can decode."""
    if not value:
        return True
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def decode_output(value: Optional[str]) -> str:
    """Worker output from a ``result`` payload as text: base64-decoded when it is strict
    base64, else (a loader that broke the contract) the text as sent rather than lost."""
    if not value:
        return ""
    try:
        return base64.b64decode(value, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return value


# --------------------------------------------------------------------------- why a task failed

#: A Rust panic as console_error_panic_hook reports it: ``panicked at src/lib.rs:24:20:`` and
#: the message on the next line (rustc 1.73 and later), or ``panicked at 'message',
#: src/lib.rs:24:20`` (earlier).
_PANIC = re.compile(r"panicked at ")
_UNREACHABLE = re.compile(r"RuntimeError: unreachable")
#: What a panic without the hook looks like, and how to see its message.
PANIC_HOOK_HINT = (
    "a Rust panic without its message (`RuntimeError: unreachable`): install console_error_panic_hook "
    "(`console_error_panic_hook::set_once()` at the start of the exported function; the kit's Rust template "
    "does, its feature is on by default) and the panic's location and message reach stderr"
)
_LINE = 500  # a kept line longer than this is cut (a panic quoting a long input)


def failure_hint(text: str) -> Optional[str]:
    """What the author can do about a failure the output alone does not explain."""
    if _UNREACHABLE.search(text) and not _PANIC.search(text):
        return PANIC_HOOK_HINT
    return None


def _cut(line: str) -> str:
    """A long line's start and end (a serde error names the column last)."""
    if len(line) <= _LINE:
        return line
    head, tail = _LINE * 2 // 3, _LINE // 3
    return f"{line[:head]} [... {len(line) - head - tail} characters ...] {line[-tail:]}"


def failure_summary(text: str) -> str:
    """One line saying why a task failed, for a log: the panic and its message when there
    is one (wherever it is), else the last line; cut at 300 characters."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    for i, line in enumerate(lines):
        if _PANIC.search(line):
            message = lines[i + 1] if line.rstrip().endswith(":") and i + 1 < len(lines) else ""
            summary = f"{line.strip()} {message.strip()}".strip()
            break
    else:
        summary = lines[-1].strip()
    summary = summary if len(summary) <= 300 else summary[:300] + " [...]"
    if failure_hint(text) is not None:
        summary += " (a Rust panic without its message: install console_error_panic_hook to see it)"
    return summary


def failure_excerpt(text: str, limit: int = 2000) -> str:
    """A task's failure output for an error message: all of it when short; else its head and
    its tail, and any panic (with its message) between them, saying how much was left out.
    Keeping only the tail lost the start of a long panic: its location and the first words
    of a message quoting a long input."""
    text = text.strip()
    if len(text) <= limit:
        return text
    lines = text.splitlines()
    keep = set()
    for i, line in enumerate(lines):  # the panic lines first: they say what happened
        if _PANIC.search(line):
            keep.update({i, i + 1})
    used = sum(len(_cut(lines[i])) for i in keep if i < len(lines))
    head, tail = 0, len(lines) - 1
    budget = max(limit - used, limit // 4)
    while head <= tail and budget > 0:  # then the head and the tail, a line at a time each
        for i in (head, tail):
            if i not in keep:
                keep.add(i)
                budget -= len(_cut(lines[i])) + 1
        head, tail = head + 1, tail - 1
    out: List[str] = []
    skipped = 0
    for i, line in enumerate(lines):
        if i in keep:
            if skipped:
                out.append(f"[... {skipped} line{'s' if skipped != 1 else ''} left out ...]")
                skipped = 0
            out.append(_cut(line))
        else:
            skipped += 1
    return "\n".join(out)
