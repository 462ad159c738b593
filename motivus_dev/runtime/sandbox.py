"""The one sandbox every node process that runs task code is started in.

A loader is code that arrived over a socket from someone else's driver. The sandbox is an
allow-list: it grants what the worker contract needs (run node and the pool's script, talk
to the pool over the process's own pipes, use memory up to the cap) and nothing else. The
layers, and what each one stops:

- **bubblewrap** (``bwrap``), the layer everything rests on:

  - a filesystem made of read-only binds of exactly the node binary, the shared libraries
    it loads (as ``ldd`` lists them), the dynamic loader, and the pool's script, plus a
    private empty ``/tmp`` and bubblewrap's minimal ``/dev`` (null, zero, random, urandom,
    tty), all of it read-only (a writable tmpfs would be memory no ``RLIMIT_DATA`` counts): no
    ``/run`` or ``/var`` (so no Docker engine socket, no other Unix socket by path), no
    ``/etc``, no home, no ``/proc`` at all;
  - new user, PID, IPC, network, UTS and cgroup namespaces (``--unshare-all``), running as
    ``nobody`` with every capability dropped and further user namespaces disabled where
    bubblewrap can do that (``--disable-userns``): no signal reaches a host process (they
    are not in the PID namespace), no TCP or abstract socket reaches a host service (the
    network namespace is empty), no System V IPC is shared;
  - a new session (``--new-session``: no terminal to push keystrokes into with
    ``TIOCSTI``) and death with the parent (``--die-with-parent``);
  - an empty environment but ``PATH`` and the pool's own settings (``--clearenv``).
- **node's permission model** (``--permission``; ``--experimental-permission`` on node 20),
  where node has one: no file reads but the pool's script, no file writes, no child
  processes, no native addons. Inside the sandbox there is little to read anyway; this
  layer also stops a loader from starting a second node with other flags.
- **descriptors**: the process inherits only its standard input, output and error (the
  pool's channels: Python starts it with ``close_fds``); the pool's messages on them are
  signed with a key the task cannot read (:mod:`.pipe`).

Seccomp is not used: an allow-list of the system calls node and V8 make is long and
changes with every node release, and a deny-list is not an allow-list; the namespaces above
already take away what the calls would reach.

Where bubblewrap cannot work (not installed, or no user namespaces and not root) task code
is not contained, and the kit refuses to run it unless the user passes
``--insecure-no-sandbox`` (``motivus worker`` refuses always). ``motivus toolchain doctor``
says which layers are active (:func:`probe`).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import List, Mapping, Optional, Sequence, Tuple

from motivus_dev.errors import RuntimeFailure

#: The flag that runs task code without the sandbox; its name says the risk.
UNSAFE_FLAG = "--insecure-no-sandbox"
BWRAP_HINT = "install bubblewrap (apt-get install bubblewrap) and allow user namespaces, or run as root"
# Where the pool's script is seen inside the sandbox (its directory on the host is not).
SCRIPT_DIR = "/motivus"
#: The pool script's profiler module (runtime/node/profiler.js), bound only for a profiling pool.
PROFILER_JS = "profiler.js"


class SandboxUnavailable(RuntimeFailure):
    """Task code would run uncontained and the user did not accept that risk."""


@dataclass(frozen=True)
class Sandbox:
    """How node processes that run task code are started here, and which layers are on."""

    node: str  # the real path of the node binary
    bwrap: Optional[Tuple[str, ...]]  # bubblewrap and its fixed arguments; None: not available
    permission_flag: Optional[str]  # node's permission-model flag; None: node has none
    missing: Tuple[str, ...]  # what could not be had, in words with the fix

    @property
    def contained(self) -> bool:
        """True when the bubblewrap layer, which everything rests on, is active."""
        return self.bwrap is not None

    def layers(self) -> List[str]:
        """The active layers, in words (for ``toolchain doctor``)."""
        out = []
        if self.bwrap is not None:
            out.append("bubblewrap (read-only node + libraries only, no /proc, new PID/IPC/network/user namespaces)")
        if self.permission_flag is not None:
            out.append(f"node permission model ({self.permission_flag})")
        return out

    def command(self, script: Path, env: Mapping[str, str], inspector: bool = False) -> List[str]:
        """The argv that runs ``node script`` in the sandbox (or bare, when not contained),
        with ``env`` set inside it (bubblewrap starts from an empty environment).

        ``inspector`` (a profiling pool, ``motivus profile``: the author's own code on the
        author's machine): node's inspector profiles the worker threads, which node's
        permission model refuses, so that layer is off; bubblewrap stays, and the script's
        profiler module (``profiler.js`` beside it) is bound read-only too."""
        node_flags: List[str] = []
        inner_script = f"{SCRIPT_DIR}/{script.name}" if self.bwrap is not None else str(script)
        if self.permission_flag is not None and not inspector:
            node_flags = [self.permission_flag, "--allow-worker", f"--allow-fs-read={inner_script}", "--no-warnings"]
        if self.bwrap is None:
            return [self.node, *node_flags, inner_script]
        extra = ["--ro-bind", str(script), inner_script]
        if inspector:
            extra += ["--ro-bind", str(script.parent / PROFILER_JS), f"{SCRIPT_DIR}/{PROFILER_JS}"]
        for name, value in env.items():
            extra += ["--setenv", name, value]
        return [*self.bwrap, *extra, *_FINISH, self.node, *node_flags, inner_script]

    def require(self, allow_unsafe: bool, what: str) -> None:
        """Refuse to run foreign code without the sandbox unless the user accepted the risk."""
        if self.contained or allow_unsafe:
            return
        raise SandboxUnavailable(
            f"{what} would run task code without a sandbox: " + "; ".join(self.missing),
            hint=f"{BWRAP_HINT}; `motivus toolchain doctor` checks it. Only for code you trust: {UNSAFE_FLAG}",
        )


def _works(argv: Sequence[str]) -> bool:
    try:
        return subprocess.run(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=20, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


_LDD_PATH = re.compile(r"(/\S+)")


def runtime_files(node: str) -> List[str]:
    """The files the node binary needs to start: itself, its dynamic loader and libraries.

    ``ldd`` is asked (it resolves the loader's search path as the loader will); each path
    is bound at the path the loader looks it up by, from its real file."""
    try:
        out = subprocess.run(["ldd", node], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             timeout=20, check=False, stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    files = [node]
    for line in out.splitlines():
        match = _LDD_PATH.search(line.split("=>", 1)[-1])
        if match and os.path.exists(match.group(1)) and match.group(1) not in files:
            files.append(match.group(1))
    return files


def _bwrap_args(bwrap: str, node: str, disable_userns: bool) -> Tuple[str, ...]:
    args = [bwrap, "--unshare-all", "--uid", "65534", "--gid", "65534"]
    if disable_userns:
        args.append("--disable-userns")
    args += ["--new-session", "--die-with-parent", "--cap-drop", "ALL", "--clearenv", "--setenv", "PATH", "/usr/bin"]
    for path in runtime_files(node):
        args += ["--ro-bind", os.path.realpath(path), path]
    # Nothing writable: the contract needs no disk, and a writable sandbox root or /tmp is
    # memory (tmpfs) that no RLIMIT_DATA counts.
    args += ["--tmpfs", "/tmp", "--remount-ro", "/tmp", "--dev", "/dev"]
    return tuple(args)


# After every bind: the sandbox's root read-only too.
_FINISH = ("--remount-ro", "/", "--chdir", "/tmp")


@functools.lru_cache(maxsize=8)
def probe(node: str) -> Sandbox:
    """What this machine offers to contain task code run by ``node`` (probed once)."""
    real = os.path.realpath(shutil.which(node) or node)
    missing: List[str] = []
    permission: Optional[str] = None
    for flag in ("--permission", "--experimental-permission"):
        if _works([real, flag, "--allow-worker", "-e", "0"]):
            permission = flag
            break
    else:
        missing.append("node has no permission model (node 20 or newer has one): one layer fewer")
    bwrap_args: Optional[Tuple[str, ...]] = None
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        missing.append("bubblewrap is not installed")
    else:
        for disable_userns in (True, False):
            candidate = _bwrap_args(bwrap, real, disable_userns)
            if _works([*candidate, *_FINISH, real, "-e", "0"]):
                bwrap_args = candidate
                break
        else:
            missing.append("bubblewrap cannot make namespaces here (no user namespaces, and not root)")
    return Sandbox(real, bwrap_args, permission, tuple(missing))


def sandbox_notes(node: str) -> Tuple[str, ...]:
    """What is missing to contain task code on this machine (empty when nothing is)."""
    return probe(node).missing


__all__ = ["Sandbox", "SandboxUnavailable", "UNSAFE_FLAG", "probe", "sandbox_notes", "runtime_files"]
