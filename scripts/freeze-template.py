#!/usr/bin/env python3
"""Archive the current version of a template before changing it.

Run this before bumping templates/<lang>/VERSION: it writes
templates/_history/<lang>/<version>.tar.gz, which lets `motivus update` regenerate the old
version on any machine (Copier updates need the template version a project was made from).

    python scripts/freeze-template.py rust c cpp
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from motivus_dev.resources import templates_dir  # noqa: E402
from motivus_dev.scaffold import LANGS, history_archive, template_version  # noqa: E402


def main(langs: list) -> int:
    for lang in langs or LANGS:
        target = templates_dir() / "_history" / lang / f"{template_version(lang)}.tar.gz"
        if target.exists():
            print(f"{target} exists already: bump templates/{lang}/VERSION after changing the template")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(history_archive(lang))
        print(f"wrote {target}: now change the template and bump templates/{lang}/VERSION")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
