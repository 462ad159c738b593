"""What every toolchain is, behind one interface (as cibuildwheel keeps one module per
platform): its name, its languages, its image, the host tools its build script needs, and
how the script's outputs become a package. The kinds are :mod:`.mvrc` and :mod:`.mvcc`;
:mod:`.registry` lists them. Nothing else branches on a toolchain's name.
"""

from __future__ import annotations

import abc
import enum
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterable, Iterator, Optional, Sequence, Tuple

if TYPE_CHECKING:
    from motivus_dev.reporter import Reporter
    from motivus_dev.toolchain.plan import BuildPlan

# Directories that are never build inputs: outputs, caches, version control.
SKIP_DIRS = frozenset({".motivus", "build", "target", ".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv"})


def walk(root: Path, exclude: Iterable[Path] = ()) -> Iterator[Path]:
    """Every file below ``root``, in a stable order, skipping outputs, caches, hidden
    directories and ``exclude``."""
    excluded = {p.resolve() for p in exclude}
    for directory, dirnames, filenames in os.walk(root):
        current = Path(directory)
        dirnames[:] = sorted(
            d for d in dirnames
            if d not in SKIP_DIRS and not d.startswith(".") and (current / d).resolve() not in excluded
        )
        for name in sorted(filenames):
            yield current / name


class Executor(enum.Enum):
    """Where a build's steps run: in the toolchain's pinned image (a Docker engine), or
    with the host's own tools. The same plan either way (:mod:`.plan`)."""

    DOCKER = "docker"
    HOST = "host"


#: What ``--toolchain`` takes: an executor, or ``auto`` (the image when an engine answers).
TOOLCHAIN_MODES: Tuple[str, ...] = ("auto", *(executor.value for executor in Executor))


@dataclass(frozen=True)
class HostTool:
    """A host tool the build script calls, how to ask its version and what it must say."""

    name: str
    argv: Tuple[str, ...]
    expect: str  # a regular expression the version output must match
    packages: Tuple[str, ...]  # Debian packages that provide it
    fix: Optional[str] = None  # the command that installs it, when apt-get is not the way


@dataclass(frozen=True)
class HostFile:
    """A file or directory the build script reads besides the tools."""

    label: str
    path: str
    packages: Tuple[str, ...]


@dataclass(frozen=True)
class Step:
    """One run of a toolchain's build script (``build.sh NAME``): a build is a list of them,
    each in its own container, and only a step that downloads has the network. ``title``
    is the phase the build reports when the step starts."""

    name: str
    network: bool = False
    title: str = ""


#: The step every toolchain has: compile the sources, offline.
COMPILE = Step("compile", title="compiling")


@dataclass(frozen=True)
class Progress:
    """What a line of a build script's output says about the build: a new ``phase``
    starts, the tool's own words for what it does now (``activity``), and whether the line
    counts one ``unit`` of work done (a crate compiled)."""

    phase: Optional[str] = None
    activity: Optional[str] = None
    unit: bool = False


@dataclass(frozen=True)
class Packaged:
    """A package's wasm and loader, made from the build script's outputs and checked."""

    wasm: bytes
    loader_js: str
    #: the file package the program itself preloads (Emscripten's --preload-file ``.data``),
    #: which becomes the package's data zip instead of the packed filesystem directory
    preloaded: Optional[bytes] = None


class Toolchain(abc.ABC):
    """One toolchain. Subclasses set the attributes and implement :meth:`package`."""

    #: the name motivus.yml's ``build.compiler`` uses, and the image's
    name: str
    #: the source languages it builds (the first is the default)
    langs: Tuple[str, ...]
    #: whether its packages carry a starting filesystem (``NAME-VERSION.data.zip``)
    has_filesystem: bool
    host_tools: Tuple[HostTool, ...] = ()
    host_files: Tuple[HostFile, ...] = ()
    #: the runs of its build script, in order
    steps: Tuple[Step, ...] = (COMPILE,)

    def input_files(self, project_dir: Path, source_dir: Path, exclude: Iterable[Path] = ()) -> Iterator[Path]:
        """The files of the project the build script reads (by default, those of
        ``source_dir`` that :meth:`reads` names): what the build's fingerprint covers (not
        fixtures, docs, ``.env`` or outputs, whose changes need no rebuild)."""
        return (path for path in walk(source_dir, exclude) if self.reads(path.relative_to(source_dir)))

    def reads(self, relative: Path) -> bool:
        """Whether the build reads this file of the source directory (all, by default)."""
        return True

    def check_project(self, project_dir: Path, source_dir: Path) -> None:
        """Refuse, with a :class:`~motivus_dev.errors.ConfigError` naming the setting, what
        the project asks of this toolchain that would run project code where it must not
        (nothing, by default)."""
        return None

    def guess_lang(self, source_dir: Path) -> str:
        """The language of a project whose motivus.yml names none (the first, by default)."""
        return self.langs[0]

    def prepare_project(self, source_dir: Path, version: str, reporter: "Reporter") -> None:
        """Before a build of the package ``version`` (motivus.yml): bring the project's own
        files in line, as the language's tools would, and say what changed or disagrees
        (nothing, by default)."""
        return None

    def script_env(self, project_dir: Path, source_dir: Path, profile: str, lang: str,
                   exclude: Sequence[Path] = ()) -> Dict[str, str]:
        """What this toolchain decided for its build script, from the project, as
        environment variables (none by default): the script runs compilers with what it is
        given. Part of the plan, so a change shows in the build. ``exclude``: directories
        that are not build inputs (fixtures, the packed filesystem, outputs)."""
        return {}

    def read_line(self, line: str) -> Optional[Progress]:
        """What a line of this toolchain's build output says about where the build is (None:
        nothing, by default); the build shows it, so that a long build talks."""
        return None

    def prepare_step(self, step: Step, plan: "BuildPlan") -> None:
        """Run by the executor before each step of ``plan``, on the host: the toolchain's
        own work between two runs of its script (nothing, by default)."""
        return None

    @abc.abstractmethod
    def package(self, out_dir: Path, name: str, version: str, filesystem: Optional[str] = None) -> Packaged:
        """The package's wasm and loader from the build script's outputs in ``out_dir``
        (``filesystem``: motivus.yml's ``build.filesystem``, None when the package has
        none); raises :class:`~motivus_dev.errors.BuildError` when they are unusable."""

    def __repr__(self) -> str:
        return f"<toolchain {self.name}>"
