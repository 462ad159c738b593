"""mvcc: C and C++ (Emscripten, command-line programs) to a Motivus package.

The build script (toolchains/mvcc/build.sh) leaves ``module.wasm`` and ``module.js``, the
Emscripten glue bundled with the Motivus wrapper (motivus_dev/loader_js/common.js + c.js,
which the image carries); the kit validates the module and checks that the glue provides
every import. The project's filesystem directory becomes ``NAME-VERSION.data.zip``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import List

from motivus_dev.errors import BuildError
from motivus_dev.toolchain.kind import HostFile, HostTool, Packaged, Toolchain
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
        HostTool("emcc", ("emcc", "--version"), r"\b3\.1\.6\b", ("emscripten",)),
        HostTool("node", ("node", "--version"), r"^v(1[89]|[2-9]\d)\.", ("nodejs",)),
        HostTool("esbuild", ("esbuild", "--version"), r"^0\.17\.", ("esbuild",)),
    )
    host_files = (HostFile("acorn for emcc", "/usr/share/nodejs/acorn", ("node-acorn",)),)

    def reads(self, relative: Path) -> bool:
        """Sources and headers: what build.sh compiles and what they may include."""
        return relative.suffix.lower() in _SOURCE_SUFFIXES

    def notices(self, project_dir: Path, source_dir: Path) -> List[str]:
        """A Makefile with the platform's ``app`` target is not run (yet): say so, rather
        than build something else in silence."""
        for directory in dict.fromkeys((project_dir, source_dir)):
            for name in ("GNUmakefile", "makefile", "Makefile"):
                makefile = directory / name
                try:
                    text = makefile.read_text(encoding="utf-8", errors="replace")
                except OSError:
                    continue
                if re.search(r"^app\s*:", text, re.MULTILINE):
                    return [f"{makefile.relative_to(project_dir)} has an 'app' target, which this kit does not "
                            "run: it compiles every C/C++ source of build.source into one program instead "
                            "(docs/c-cpp.md)"]
        return []

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
        return Packaged(wasm, loader_js)


MVCC = Mvcc()
