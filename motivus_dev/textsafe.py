"""Text from task code made safe to print on a terminal or in a log.

A loader's output is written by someone else's code: escape sequences in it could clear the
screen, move the cursor over earlier lines, set the window title or hide text, and bidi
controls could reorder what a log shows. :func:`printable` keeps newlines and tabs and
shows every other control character as a visible escape (``\\x1b``), so the text reads
the same and does nothing. rich strips some of these when it renders, but not in every
mode (not when its output is a file), so the kit does it once, here, where such text
enters a message.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls, and the Unicode bidi overrides and
# isolates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: "re.Match[str]") -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character but newline and tab shown as an escape."""
    return _UNSAFE.sub(_escape, text)


__all__ = ["printable"]
