"""The shell blocks of our docs that tests run as written: a ```bash block right after an
HTML comment ``<!-- MARKER -->`` (the marker says what the block is)."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def doc_block(page: str, marker: str) -> str:
    """The ```bash block after ``<!-- MARKER -->`` in docs/PAGE."""
    match = re.search(rf"<!-- {re.escape(marker)} -->\n```bash\n(.*?)```", (DOCS / page).read_text(), re.S)
    assert match, f"docs/{page} has no block after <!-- {marker} -->"
    return match.group(1)
