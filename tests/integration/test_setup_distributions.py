"""The host set-up installs on Debian 12 and Debian 13 (and, by the same design, Ubuntu
24.04): no exact versions, only package names each distribution has.

Checked the way apt itself would: a minimal root filesystem of each release (debootstrap,
cached by the toolchains' base-image script under /var/cache/motivus), its package lists
fetched, then `apt-get install --simulate` of scripts/apt-packages.txt and of what
`motivus toolchain install --host` installs. A package missing from a release, or a
conflict between two, fails the resolution.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import List

import pytest
from debian_root import in_root, rootfs

from motivus_dev.toolchain.doctor import available_packages, host_packages

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
def setup_packages() -> List[str]:
    """The names scripts/setup.sh installs (its list file, comments and blanks dropped)."""
    names = []
    for line in (ROOT / "scripts" / "apt-packages.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    return names


@pytest.mark.parametrize("suite", ["bookworm", "trixie"])
def test_the_host_set_up_resolves_on_the_release(suite: str, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("unpacking a root filesystem needs root")
    for tool in ("bwrap", "debootstrap"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is missing (apt-get install {'bubblewrap' if tool == 'bwrap' else tool})")
    root = rootfs(suite, tmp_path)
    update = in_root(root, "apt-get", "update", "-q")
    assert update.returncode == 0, update.stdout[-2000:] + update.stderr[-2000:]
    # What `motivus toolchain install --host` does: leave out what the release lacks.
    have, lack = available_packages(host_packages(), run=lambda argv: (in_root(root, *argv).returncode, ""))
    assert lack == ([] if suite == "trixie" else ["rust-llvm"]), (suite, lack)
    for names in (setup_packages(), have):
        simulated = in_root(root, "apt-get", "install", "--simulate", "-q", "--no-install-recommends", *names)
        assert simulated.returncode == 0, f"{suite}: {simulated.stdout[-1500:]}{simulated.stderr[-1500:]}"
        assert "Inst " in simulated.stdout
