"""A minimal Debian root filesystem to run commands in, as on a machine of that release
(for the tests of the host set-up and of host builds on Debian 13)."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path
from typing import Sequence

#: Where toolchains/base/make-base-image.sh keeps the root filesystems it made.
ROOTFS_CACHE = Path("/var/cache/motivus")
#: The host's CA bundle over the root's (a TLS-inspecting proxy's CA included).
HOST_CA = ("--ro-bind", "/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt")
PATH = "/root/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def rootfs(suite: str, where: Path) -> Path:
    """A minimal root filesystem of ``suite``: the base-image script's cached tarball, or a
    new debootstrap."""
    target = where / suite
    target.mkdir()
    tarball = ROOTFS_CACHE / f"base-debian-{suite}-rootfs.tar"
    if tarball.is_file():
        with tarfile.open(tarball) as tar:
            tar.extractall(target, numeric_owner=True)  # noqa: S202 (our own cache)
        return target
    mirror = "http://deb.debian.org/debian"
    done = subprocess.run(["debootstrap", "--variant=minbase", suite, str(target), mirror],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return target


def in_root(root: Path, *command: str, binds: Sequence[str] = (), timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``command`` with ``root`` as /, the host's DNS settings, in a mount namespace
    (bubblewrap). ``binds``: more ``--ro-bind``/``--bind`` arguments (:data:`HOST_CA` once
    the root has ca-certificates: downloads over TLS then trust what the host trusts)."""
    return subprocess.run(
        ["bwrap", "--bind", str(root), "/", "--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf", *binds,
         "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--unshare-pid",
         "env", "DEBIAN_FRONTEND=noninteractive", "HOME=/root", f"PATH={PATH}", *command],
        capture_output=True, text=True, timeout=timeout,
    )
