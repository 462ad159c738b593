"""The file names of a package, in one place: ``NAME-VERSION.wasm``, ``.js`` (the loader),
``.data.zip`` (the packed starting filesystem) and ``.zip`` (what the marketplace takes).

The build writes them, ``motivus test --package`` and the marketplace read them, push and the
browser runner name them: all through :class:`PackageLayout`, so that no module spells
``NAME-VERSION.`` by hand.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PackageLayout:
    """The file names of the package whose stem is ``NAME-VERSION``."""

    stem: str

    @classmethod
    def of(cls, name: str, version: str) -> "PackageLayout":
        return cls(f"{name}-{version}")

    @property
    def wasm(self) -> str:
        return f"{self.stem}.wasm"

    @property
    def loader(self) -> str:
        return f"{self.stem}.js"

    @property
    def data_zip(self) -> str:
        return f"{self.stem}.data.zip"

    @property
    def archive(self) -> str:
        """The zip the marketplace takes, holding the other files."""
        return f"{self.stem}.zip"

    @property
    def preloaded(self) -> str:
        """Inside the data zip of a program built with ``--preload-file``: emscripten's own
        file package, as the platform's packager zipped it."""
        return f"{self.stem}.data"


__all__ = ["PackageLayout"]
