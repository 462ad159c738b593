"""Where the files shipped with the kit live (templates, toolchains, loader sources).

In a wheel they are package data under ``motivus_dev/_data/``; in a source checkout
(editable install, tests) they are the repository's top-level directories.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _shipped(name: str) -> Path:
    packaged = _PACKAGE_DIR / "_data" / name
    if packaged.is_dir():
        return packaged
    return _PACKAGE_DIR.parent / name


def cache_dir() -> Path:
    """The kit's per-user cache (``MOTIVUS_CACHE_DIR`` overrides it): templates, data links,
    marketplace downloads, the toolchains' shared downloads and tools, each in its own
    subdirectory."""
    override = os.environ.get("MOTIVUS_CACHE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("motivus"))


def templates_dir() -> Path:
    """The Copier templates, one directory per language.

    ``MOTIVUS_TEMPLATES_DIR`` points the kit at another set (a team's own templates, tests).
    """
    override = os.environ.get("MOTIVUS_TEMPLATES_DIR")
    if override:
        return Path(override)
    return _shipped("templates")


def toolchains_dir() -> Path:
    """The toolchain Dockerfiles and build scripts, one directory per toolchain."""
    return _shipped("toolchains")


def doc(name: str) -> str:
    """Where this machine's copy of the kit's page ``docs/NAME`` is, for hints: a wheel
    carries the docs as package data, so a pip user has them too."""
    return str(_shipped("docs") / name)


def loader_js_dir() -> Path:
    """The JavaScript of the packages' loaders (the worker harnesses), shipped in the package."""
    return _PACKAGE_DIR / "loader_js"


def loader_js(name: str) -> str:
    """The text of one loader source, ``common.js`` say."""
    return (loader_js_dir() / name).read_text(encoding="utf-8")
