"""mvcc: C and C++ (Emscripten, command-line programs) to a Motivus package.

The build script (toolchains/mvcc/build.sh) runs the project's ``make app`` when its
Makefile has that target (the platform's contract), and otherwise compiles every source
itself. It leaves ``module.wasm`` and ``module.js``, the Emscripten glue bundled with the
Motivus wrapper (motivus_dev/loader_js/common.js + c.js, which the image carries), and
``module.data`` when the program preloads files; the kit validates the module and checks
that the glue provides every import. ``NAME-VERSION.data.zip`` holds that ``.data`` (as the
platform's packager zipped it), or else the project's filesystem directory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Iterator, Optional

from motivus_dev.errors import BuildError
from motivus_dev.toolchain.kind import HostFile, HostTool, Packaged, Toolchain, walk
from motivus_dev.toolchain.module_checks import check_glue_imports, check_node16_features, validate_module

_SOURCE_SUFFIXES = frozenset(
    {".c", ".cc", ".cpp", ".cxx", ".c++", ".h", ".hh", ".hpp", ".hxx", ".h++", ".inc", ".inl", ".ipp", ".def", ".tcc"}
)


class Mvcc(Toolchain):
    name = "mvcc"
    langs = ("c", "cpp")
    has_filesystem = True
    image_loader_files = ("common.js", "c.js")
    host_tools = (
        # Any emscripten from 3.1.6 (Debian 12) on: the image has 3.1.69; a host build uses
        # the author's own (same loader, other bytes).
        HostTool("emcc", ("emcc", "--version"), r"\b(3\.1\.([6-9]|[1-9]\d)|[4-9]\.\d+\.\d+)\b", ("emscripten",)),
        HostTool("node", ("node", "--version"), r"^v(1[89]|[2-9]\d)\.", ("nodejs",)),
        HostTool("esbuild", ("esbuild", "--version"), r"^0\.(1[7-9]|[2-9]\d)\.", ("esbuild",)),
        HostTool("make", ("make", "--version"), r"^GNU Make [4-9]\.", ("make",)),
    )
    host_files = (HostFile("acorn for emcc", "/usr/share/nodejs/acorn", ("node-acorn",)),)

    def reads(self, relative: Path) -> bool:
        """Sources and headers: what build.sh compiles and what they may include."""
        return relative.suffix.lower() in _SOURCE_SUFFIXES

    def input_files(self, project_dir: Path, source_dir: Path, exclude: Iterable[Path] = ()) -> Iterator[Path]:
        """With a Makefile that has an ``app`` target, every file of the project (its rules
        may read anything: other languages, generated headers, included makefiles);
        otherwise the sources and headers of ``source_dir``."""
        if app_makefile(project_dir) is None:
            return super().input_files(project_dir, source_dir, exclude)
        return walk(project_dir, exclude)

    def package(self, out_dir: Path, name: str, version: str) -> Packaged:
        try:
            wasm = (out_dir / "module.wasm").read_bytes()
            loader_js = (out_dir / "module.js").read_text(encoding="utf-8")
        except OSError as exc:
            raise BuildError(f"the build script left no module.wasm/module.js in {out_dir}: {exc.strerror}") from exc
        validate_module(wasm, f"{name}-{version}")
        check_node16_features(wasm, f"{name}-{version}")
        check_glue_imports(wasm, loader_js, hint="a library function is declared but not linked: "
                           "check the sources and build.ldflags")
        try:
            preloaded = (out_dir / "module.data").read_bytes()
        except FileNotFoundError:
            preloaded = None
        except OSError as exc:
            raise BuildError(f"cannot read the program's preloaded files {out_dir / 'module.data'}: "
                             f"{exc.strerror}") from exc
        return Packaged(wasm, loader_js, preloaded)


#: The Makefiles make reads by default, in its order of preference.
MAKEFILE_NAMES = ("GNUmakefile", "makefile", "Makefile")
_APP_TARGET = re.compile(r"^app[ \t]*:", re.MULTILINE)


def app_makefile(project_dir: Path) -> Optional[Path]:
    """The project's Makefile when it has the platform's ``app`` target (the rule build.sh
    follows to run ``make app``: the first Makefile make would read, and only that one)."""
    for name in MAKEFILE_NAMES:
        path = project_dir / name
        if path.is_file():
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                return None
            return path if _APP_TARGET.search(text) else None
    return None


MVCC = Mvcc()
