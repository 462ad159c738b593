"""The published `motivus==2.4.0` client and CLI, for compatibility tests.

It runs on Python 3.9 only (its pinned websockets 8.1 fails on 3.10+), so the tests make a
python3.9 virtualenv for it once and cache it in the kit's test cache.
"""

from __future__ import annotations

import glob
import os
import subprocess
from pathlib import Path
from typing import Optional

import pytest


def python39() -> Optional[str]:
    """A working python3.9 interpreter: $MOTIVUS_PYTHON39, pyenv's, or python3.9 on PATH."""
    candidates = [os.environ.get("MOTIVUS_PYTHON39", "")]
    # pyenv's shim refuses unless 3.9 is selected, so look at its versions directly.
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9")))
    candidates += ["python3.9"]
    for candidate in filter(None, candidates):
        try:
            out = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0 and out.stdout.startswith("Python 3.9"):
            return candidate
    return None


def motivus24_bin() -> Path:
    """The bin directory of a cached venv with motivus==2.4.0 (`python`, `motivus`)."""
    cache = Path(os.environ.get("MOTIVUS_CACHE_DIR") or Path.home() / ".cache" / "motivus")
    venv = cache / "venv-motivus-2.4.0"
    bin_dir = venv / "bin"
    ready = [str(bin_dir / "python"), "-c", "import motivus.client"]
    if (bin_dir / "motivus").exists() and subprocess.run(ready, capture_output=True).returncode == 0:
        return bin_dir
    py39 = python39()
    if py39 is None:
        pytest.skip("needs python3.9 (set MOTIVUS_PYTHON39) for the published motivus 2.4.0 client")
    subprocess.run([py39, "-m", "venv", "--clear", str(venv)], check=True, timeout=300)
    install = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", "motivus==2.4.0"],
        capture_output=True, text=True, timeout=900,
    )
    if install.returncode != 0:
        pytest.fail(f"cannot install motivus==2.4.0 from the package index: {install.stderr[-500:]}")
    return bin_dir
