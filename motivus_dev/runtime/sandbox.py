"""How the pool's node processes are started so that task code reaches nothing of the host.

A loader is code that arrived over a socket. The platform's worker gives it ``env: {}`` and
nothing else; node itself gives it everything. Two boundaries close that:

- node's permission model (``--permission``, ``--experimental-permission`` on node 20):
  no file reads but the pool's own script, no file writes, no child processes; worker
  threads are allowed (the pool needs them; they inherit the same limits);
- an empty network namespace (bubblewrap ``--unshare-net``), since the permission model
  does not cover sockets: a loader could otherwise reach a local service such as the Docker
  engine's socket or a database on 127.0.0.1. The pool fetches data_links itself and hands
  the bytes to loaders (``data_zip``).

The environment is minimal (``PATH`` only). What this machine's node and bubblewrap
support is probed once; what is missing is said once (:func:`sandbox_notes`), and
``motivus toolchain doctor`` reports it.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple


@dataclass(frozen=True)
class Sandbox:
    """The command prefix and node flags that contain task code, and what is missing."""

    prefix: Tuple[str, ...]  # bubblewrap and its arguments, or ()
    node_flags: Tuple[str, ...]  # the permission model's flags, or ()
    missing: Tuple[str, ...]  # what could not be had, in words with the fix

    def command(self, node: str, script: Path) -> List[str]:
        flags = [f.replace("{script}", str(script)) for f in self.node_flags]
        return [*self.prefix, node, *flags, str(script)]


def _works(argv: List[str]) -> bool:
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=20, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.lru_cache(maxsize=8)
def probe(node: str) -> Sandbox:
    """What this machine offers to contain task code run by ``node`` (probed once)."""
    missing: List[str] = []
    node_flags: Tuple[str, ...] = ()
    for flag in ("--permission", "--experimental-permission"):
        if _works([node, flag, "--allow-worker", "-e", "0"]):
            node_flags = (flag, "--allow-worker", "--allow-fs-read={script}", "--no-warnings")
            break
    else:
        missing.append(
            "node has no permission model (node 20 or newer has one): task code may read and write "
            "files and start programs"
        )
    prefix: Tuple[str, ...] = ()
    bwrap: Optional[str] = shutil.which("bwrap")
    candidate = (bwrap or "bwrap", "--unshare-net", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                 "--die-with-parent")
    if bwrap and _works([*candidate, node, "-e", "0"]):
        prefix = candidate
    else:
        missing.append(
            "no network sandbox (bubblewrap, with user namespaces or as root): task code may open sockets to "
            "this machine's services; install it with: apt-get install bubblewrap"
        )
    return Sandbox(prefix, node_flags, tuple(missing))


def sandbox_notes(node: str) -> Tuple[str, ...]:
    """What is missing to contain task code on this machine (empty when nothing is)."""
    return probe(node).missing
