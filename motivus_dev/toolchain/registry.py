"""The toolchains this kit has, by name and by language."""

from __future__ import annotations

from typing import Dict, Tuple

from motivus_dev.errors import ConfigError
from motivus_dev.toolchain.kind import Toolchain
from motivus_dev.toolchain.mvcc import MVCC
from motivus_dev.toolchain.mvrc import MVRC

TOOLCHAINS: Dict[str, Toolchain] = {t.name: t for t in (MVRC, MVCC)}
NAMES: Tuple[str, ...] = tuple(TOOLCHAINS)
#: Toolchain name per source language.
BY_LANG: Dict[str, str] = {lang: t.name for t in TOOLCHAINS.values() for lang in t.langs}
#: The languages an algorithm can be written in (and `motivus new` has a template for).
LANGS: Tuple[str, ...] = tuple(BY_LANG)


def toolchain(name: str) -> Toolchain:
    """The toolchain called ``name`` (motivus.yml ``build.compiler``)."""
    try:
        return TOOLCHAINS[name]
    except KeyError:
        raise ConfigError(
            f"unknown toolchain {name!r}", hint=f"build.compiler is one of {', '.join(NAMES)}"
        ) from None
