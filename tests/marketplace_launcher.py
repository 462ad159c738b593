"""Runs a marketplace server in a process of its own, for tests that kill it: ``python
tests/marketplace_launcher.py (--data-dir DIR | --database URL --blobs URL) [--port 0]
[--pause-before-commit FLAG]``.

``--pause-before-commit FLAG``: a publish writes its version to the file FLAG once its blobs
are in place, then sleeps 60 s before committing (a ``before_commit`` hook injected into the
store), so the test can kill the server at the worst moment. It prints "listening on URL".
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable, List, Optional

from motivus_dev.errors import MarketplaceError
from motivus_dev.marketplace.server.app import serve
from motivus_dev.marketplace.server.location import RegistryLocation
from motivus_dev.marketplace.server.store import Store


class PrintReporter:
    def info(self, message: str) -> None:
        print(message, flush=True)

    def warning(self, message: str) -> None:
        print(f"warning: {message}", file=sys.stderr, flush=True)

    def step(self, name: str, total: Optional[float] = None) -> None:
        pass

    def advance(self, amount: float = 1.0) -> None:
        pass

    def output(self, line: str) -> None:
        print(line, flush=True)

    def activity(self, text: str) -> None:
        print(text, flush=True)


def pause_before_commit(flag: Path) -> Callable[[str], None]:
    def hook(version: str) -> None:
        flag.write_text(version)
        time.sleep(60)

    return hook


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="marketplace_launcher.py")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--database", default=None)
    parser.add_argument("--blobs", default=None)
    parser.add_argument("--pause-before-commit", type=Path, default=None)
    args = parser.parse_args(argv)
    hook = pause_before_commit(args.pause_before_commit) if args.pause_before_commit else None
    try:
        where = RegistryLocation.of(args.data_dir, database=args.database, blobs=args.blobs)
        serve(args.host, args.port, where, PrintReporter(), store=Store(where, before_commit=hook))
    except MarketplaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
