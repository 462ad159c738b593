"""Reading the project's ``.env`` file (the platform's docs keep tokens there).

Values already in the environment win over the file, as with every dotenv tool.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict


def read_dotenv(path: Path) -> Dict[str, str]:
    """The key/value pairs of the dotenv file ``path`` (empty when there is none).

    Comments, ``export KEY=...`` and quoted values are understood (python-dotenv).
    """
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def load_dotenv(directory: Path) -> Dict[str, str]:
    """Put ``directory/.env`` into ``os.environ`` without overriding what is set.

    Returns the keys that were added, so callers can tell where a value came from.
    """
    added: Dict[str, str] = {}
    for key, value in read_dotenv(directory / ".env").items():
        if key not in os.environ:
            os.environ[key] = value
            added[key] = value
    return added
