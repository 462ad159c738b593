"""The toolchain images this release of the kit uses (read from the shipped versions.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from motivus_dev.errors import ToolchainError
from motivus_dev.resources import toolchains_dir

#: Where the image keeps its build script (the build-script interface).
CONTAINER_SCRIPT = "/opt/motivus/toolchain/build.sh"
#: Labels every toolchain image carries.
LABEL_TOOLCHAIN = "org.motivus.toolchain"
LABEL_VERSION = "org.motivus.version"
#: The sha256 of the build context (Dockerfile, packages, build script, loaders) an image was
#: built from: how a pulled image proves it is the one this kit would build.
LABEL_CONTEXT = "org.motivus.context"
#: A Docker registry (``host:port``) that holds the toolchain images: tried before a build.
REGISTRY_ENV = "MOTIVUS_TOOLCHAIN_REGISTRY"


@dataclass(frozen=True)
class ToolchainImage:
    """One pinned toolchain image: ``motivus/mvrc:0.1.0``."""

    toolchain: str
    repository: str
    version: str
    #: the Debian image its Dockerfile starts ``FROM`` (made with debootstrap when it cannot
    #: be pulled)
    base: str

    @property
    def ref(self) -> str:
        """The image reference ``repository:version``."""
        return f"{self.repository}:{self.version}"

    def repository_in(self, registry: str) -> str:
        """This image's repository in ``registry`` (``host:port``)."""
        return f"{registry.rstrip('/')}/{self.repository}"

    def in_registry(self, registry: str) -> str:
        """The reference under which ``registry`` keeps this image."""
        return f"{self.repository_in(registry)}:{self.version}"


def versions_file(root: Optional[Path] = None) -> Path:
    """The shipped ``versions.json``."""
    return (root or toolchains_dir()) / "versions.json"


def _load(root: Optional[Path] = None) -> Dict[str, ToolchainImage]:
    path = versions_file(root)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        images = {
            name: ToolchainImage(name, str(entry["image"]), str(entry["version"]), str(entry["base"]))
            for name, entry in data["toolchains"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ToolchainError(
            f"cannot read the toolchain versions from {path}: {exc}",
            hint="the kit's installation is damaged; reinstall motivus-dev",
        ) from exc
    return images


def pinned_images(root: Optional[Path] = None) -> Dict[str, ToolchainImage]:
    """Every toolchain's pinned image, by toolchain name."""
    return _load(root)


def image_for(toolchain: str, root: Optional[Path] = None) -> ToolchainImage:
    """The pinned image of one toolchain (``mvrc`` or ``mvcc``)."""
    images = pinned_images(root)
    try:
        return images[toolchain]
    except KeyError:
        known = ", ".join(sorted(images))
        raise ToolchainError(f"unknown toolchain '{toolchain}' (known: {known})") from None


def toolchain_dir(toolchain: str, root: Optional[Path] = None) -> Path:
    """The shipped directory of one toolchain (Dockerfile, packages.txt, build.sh)."""
    return (root or toolchains_dir()) / toolchain


def host_script(toolchain: str, root: Optional[Path] = None) -> Path:
    """The build script the host executor runs (the same file the image carries)."""
    return toolchain_dir(toolchain, root) / "build.sh"


def parse_packages(text: str) -> List[Tuple[str, Optional[str]]]:
    """Parse a ``packages.txt``: ``NAME=VERSION`` (pinned) or ``NAME`` lines, ``#`` comments."""
    result: List[Tuple[str, Optional[str]]] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("=")
        result.append((name.strip(), version.strip() if sep else None))
    return result


def debian_packages(toolchain: str, root: Optional[Path] = None) -> List[Tuple[str, Optional[str]]]:
    """The Debian packages (name, pinned version or None) a toolchain installs."""
    path = toolchain_dir(toolchain, root) / "packages.txt"
    try:
        return parse_packages(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ToolchainError(f"cannot read {path}: {exc}") from exc
