"""``motivus cluster worker``: check this machine's sandbox as ``motivus toolchain doctor``
does, then become a plain ``dask worker`` (the process is replaced: Dask's own signals,
logs and nanny, and nothing of ours in between)."""

from __future__ import annotations

import os
import shutil
import sys
from typing import List, Optional, Sequence

from motivus_dev.errors import ToolchainError
from motivus_dev.runtime.sandbox import probe


def join_cluster(
    scheduler: str, *, nworkers: int = 1, name: Optional[str] = None, extra: Sequence[str] = ()
) -> None:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        raise ToolchainError("a cluster worker runs task code with node, which is not installed here",
                             hint="install Node.js (18 or newer)")
    probe(node).require(False, "this cluster worker")
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ToolchainError("Dask is not installed here", hint="pip install 'motivus-dev[cluster]'") from exc
    argv: List[str] = [sys.executable, "-m", "distributed.cli.dask_worker", scheduler, "--nthreads", "1",
                       "--nworkers", str(nworkers)]
    if name:
        argv += ["--name", name]
    argv += list(extra)
    print(f"the sandbox works here; joining {scheduler}: {' '.join(argv[2:])}", file=sys.stderr, flush=True)
    os.execv(sys.executable, argv)
