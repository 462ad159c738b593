"""mvcc: C and C++ (Emscripten, command-line programs) to a Motivus package.

Every rule of the C/C++ toolchain is decided here, in Python; its build script
(toolchains/mvcc/build.sh) only runs the compilers with what it is given:

- which build: the project's ``make app`` when the Makefile make would read has that target
  (the platform's contract, :func:`app_makefile`), else the automatic build;
- for the automatic build, the sources and their language (:data:`C_SUFFIXES`,
  :data:`CXX_SUFFIXES`, in link order) and the linker (``em++`` when any source is C++);
- the loader: the ``compile`` step leaves ``module.wasm``, the program's glue ``glue.js``
  (and ``module.data`` when it preloads files); before the ``bundle`` step this module
  assembles the loader around the glue (:func:`c_loader_bundle`, the same shared runtime as
  the Rust loader) and checks the glue is a classic program; the ``bundle`` step only
  minifies it with esbuild into ``module.js`` (7-bit ASCII, release builds minified).

The kit then validates the module and checks that the glue provides every import.
``NAME-VERSION.data.zip`` holds the program's ``.data`` (as the platform's packager zipped
it), or else the project's filesystem directory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from motivus_dev.errors import BuildError, ConfigError
from motivus_dev.layout import PackageLayout
from motivus_dev.toolchain.kind import COMPILE, HostFile, HostTool, Packaged, Progress, Step, Toolchain, walk
from motivus_dev.toolchain.loader import REUSABLE_MARK, assemble
from motivus_dev.toolchain.module_checks import check_glue_imports, check_node16_features, validate_module

if TYPE_CHECKING:
    from motivus_dev.toolchain.plan import BuildPlan

#: Compiled as C (``emcc``), and as C++ (``em++``); case matters, as it does to the compilers.
C_SUFFIXES = frozenset({".c"})
CXX_SUFFIXES = frozenset({".cc", ".cpp", ".cxx"})
#: What sources may include (headers and the like): read by the compilers, not compiled.
INCLUDED_SUFFIXES = frozenset({".h", ".hh", ".hpp", ".hxx", ".h++", ".inc", ".inl", ".ipp", ".def", ".tcc", ".c++"})
_READ_SUFFIXES = C_SUFFIXES | CXX_SUFFIXES | INCLUDED_SUFFIXES

#: The step that assembles nothing itself: the script minifies the loader this module wrote.
BUNDLE = Step("bundle", title="bundling the loader (esbuild)")
#: What the compile step leaves for the bundle step, and what the bundle step reads.
GLUE_JS = "glue.js"
EMSCRIPTEN_VERSION = "emscripten-version.txt"
BUNDLE_JS = "bundle.js"
BANNER = "banner.txt"

#: The Makefiles make reads by default, in its order of preference.
MAKEFILE_NAMES = ("GNUmakefile", "makefile", "Makefile")
_APP_TARGET = re.compile(r"^app[ \t]*:", re.MULTILINE)


class Mvcc(Toolchain):
    name = "mvcc"
    langs = ("c", "cpp")
    has_filesystem = True
    steps = (COMPILE, BUNDLE)
    host_tools = (
        # Any emscripten from 3.1.6 (Debian 12) on: the image has 3.1.69; a host build uses
        # the author's own (same loader, other bytes).
        HostTool("emcc", ("emcc", "--version"), r"\b(3\.1\.([6-9]|[1-9]\d)|[4-9]\.\d+\.\d+)\b", ("emscripten",)),
        HostTool("node", ("node", "--version"), r"^v(1[89]|[2-9]\d)\.", ("nodejs",)),
        HostTool("esbuild", ("esbuild", "--version"), r"^0\.(1[7-9]|[2-9]\d)\.", ("esbuild",)),
        HostTool("make", ("make", "--version"), r"^GNU Make [4-9]\.", ("make",)),
    )
    host_files = (HostFile("acorn for emcc", "/usr/share/nodejs/acorn", ("node-acorn",)),)

    def read_line(self, line: str) -> Optional[Progress]:
        """The script's ``mvcc:`` lines (compiling N of M files, linking, make app) and, in a
        Makefile build, the commands make runs."""
        if line.startswith("mvcc: compiling ") or line.startswith("mvcc: linking "):
            return Progress(phase=line[len("mvcc: "):])
        if line.startswith("mvcc: ") and "running make app" in line:
            return Progress(phase="make app")
        if line.startswith("mvcc: "):
            return Progress(activity=line[len("mvcc: "):])
        if re.match(r"^(emcc|em\+\+|make|mkdir|cp|mv)\b", line):
            return Progress(activity=line if len(line) <= 160 else line[:160] + " ...")
        return None

    def reads(self, relative: Path) -> bool:
        """Sources and headers: what the compilers read."""
        return relative.suffix.lower() in _READ_SUFFIXES

    def guess_lang(self, source_dir: Path) -> str:
        """C++ when any C++ source exists, else C."""
        for path in walk(source_dir):
            if path.suffix in CXX_SUFFIXES:
                return "cpp"
        return "c"

    def input_files(self, project_dir: Path, source_dir: Path, exclude: Iterable[Path] = ()) -> Iterator[Path]:
        """With a Makefile that has an ``app`` target, every file of the project (its rules
        may read anything: other languages, generated headers, included makefiles);
        otherwise the sources and headers of ``source_dir``."""
        if app_makefile(project_dir) is None:
            return super().input_files(project_dir, source_dir, exclude)
        return walk(project_dir, exclude)

    def script_env(self, project_dir: Path, source_dir: Path, profile: str, lang: str,
                   exclude: Sequence[Path] = ()) -> Dict[str, str]:
        """``MOTIVUS_MAKEFILE``: the Makefile whose ``app`` target builds the program, or
        empty; for the automatic build ``MOTIVUS_SOURCES`` (``c:PATH`` / ``cpp:PATH`` words,
        relative to the source directory, in link order) and ``MOTIVUS_LINKER`` (``c`` or
        ``cpp``); ``MOTIVUS_MINIFY`` for the bundle step."""
        env = {"MOTIVUS_MINIFY": "1" if profile == "release" else "0"}
        makefile = app_makefile(project_dir)
        if makefile is not None:
            return dict(env, MOTIVUS_MAKEFILE=makefile.name, MOTIVUS_SOURCES="", MOTIVUS_LINKER="")
        words = [f"{'c' if path.suffix in C_SUFFIXES else 'cpp'}:{relative}"
                 for path, relative in self.sources(project_dir, source_dir, exclude)]
        linker = "cpp" if lang == "cpp" or any(word.startswith("cpp:") for word in words) else "c"
        return dict(env, MOTIVUS_MAKEFILE="", MOTIVUS_SOURCES=" ".join(words), MOTIVUS_LINKER=linker)

    def sources(self, project_dir: Path, source_dir: Path, exclude: Sequence[Path] = ()) -> List[Tuple[Path, str]]:
        """The automatic build's sources: ``(path, path relative to source_dir)``, sorted.
        Raises :class:`ConfigError` when there are none, or when a path has whitespace
        (compiler command lines cannot carry it)."""
        found = []
        for path in self.input_files(project_dir, source_dir, exclude):
            if path.suffix not in C_SUFFIXES | CXX_SUFFIXES:
                continue
            relative = path.relative_to(source_dir).as_posix()
            if re.search(r"\s", relative):
                raise ConfigError(f"the source path '{relative}' contains whitespace, which compiler command "
                                  "lines cannot carry", hint="rename it")
            found.append((path, relative))
        if not found:
            where = source_dir.relative_to(project_dir).as_posix() if source_dir != project_dir else "."
            raise ConfigError(
                f"no C/C++ sources (*.c, *.cc, *.cpp, *.cxx) in {where} (motivus.yml build.source)",
                hint="put the program's sources there, or point build.source at them",
            )
        return sorted(found, key=lambda item: item[1].encode("utf-8"))

    def prepare_step(self, step: Step, plan: "BuildPlan") -> None:
        """Before ``bundle``: the loader around the glue the compile step left, and its
        banner, for the script to minify."""
        if step != BUNDLE:
            return
        out = plan.out_dir
        try:
            glue = (out / GLUE_JS).read_text(encoding="utf-8")
            em_version = (out / EMSCRIPTEN_VERSION).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise BuildError(f"the compile step left no usable {GLUE_JS} in {out}: {exc}") from exc
        check_classic_glue(glue)
        preloads = (out / "module.data").is_file()
        reusable = app_makefile(plan.project_dir) is None  # glue the kit linked itself
        bundle, banner = c_loader_bundle(glue, plan.name, plan.version, em_version, preloads, reusable)
        (out / BUNDLE_JS).write_text(bundle, encoding="utf-8")
        (out / BANNER).write_text(banner, encoding="utf-8")

    def package(self, out_dir: Path, name: str, version: str, filesystem: Optional[str] = None) -> Packaged:
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
        if preloaded is not None and filesystem is None:
            raise BuildError(
                "the program preloads files (emcc --preload-file), but motivus.yml names no build.filesystem",
                hint="set build.filesystem to the directory the Makefile packs (FILESYSTEM_DIR), e.g. 'filesystem'",
            )
        return Packaged(wasm, loader_js, preloaded)


def check_classic_glue(glue: str) -> None:
    """Only a classic Emscripten program runs inside the loader (as the platform's adapter
    runs it): not one linked with ``-sMODULARIZE`` or as an ES module."""
    if "readyPromiseResolve" in glue:
        raise BuildError("make app linked with -sMODULARIZE: the loader runs a classic Emscripten program",
                         hint="drop -sMODULARIZE (and -sEXPORT_ES6) from the app target")
    if "import.meta" in glue:
        raise BuildError("make app built an ES module (-sEXPORT_ES6 or a .mjs output): the loader runs a "
                         "classic script", hint="drop it from the app target")


def c_loader_bundle(glue: str, name: str, version: str, em_version: str, preloads: bool,
                    reusable: bool) -> Tuple[str, str]:
    """The C loader before minification, and its banner: the kit's modules with the glue as
    the module ``c/program``, whose ``start(Module)`` runs the glue afresh for each task (a
    fresh runtime and filesystem each time, as the platform's adapter does with its
    ``start()``) and hands out the glue's own names (FS, callMain, ...) from inside its
    scope: a build with ASSERTIONS turns ``Module.FS`` and the like into traps. The glue
    sees undefined module/exports/define, so its CommonJS/AMD export lines do nothing."""
    js_name = re.sub(r"[^A-Za-z0-9._-]", "", name)
    js_version = re.sub(r"[^A-Za-z0-9.+_-]", "", version)
    banner = f"/* {js_name} {js_version}: Motivus mvcc loader (emscripten {em_version})"
    banner += f"; {REUSABLE_MARK} */" if reusable else " */"
    data_package = f'"{PackageLayout.of(js_name, js_version).preloaded}"' if preloads else "null"
    program = "".join([
        f'module.exports = {{\n  name: "{js_name}",\n  dataPackage: {data_package},\n',
        "  start: function (Module, module, exports, define) {\n",
        glue,
        "\n;return {\n",
        "  module: Module,\n",
        '  FS: typeof FS !== "undefined" ? FS : null,\n',
        '  callMain: typeof callMain === "function" ? callMain : null,\n',
        '  stringOnStack: typeof stringToUTF8OnStack === "function" ? stringToUTF8OnStack :\n',
        '    typeof allocateUTF8OnStack === "function" ? allocateUTF8OnStack : null\n',
        "};\n  },\n};\n",
    ])
    main = 'require("./c/harness").motivusStartC(require("./c/program"));\n'
    return assemble({"main": main, "c/program": program}), banner


def app_makefile(project_dir: Path) -> Optional[Path]:
    """The project's Makefile when it has the platform's ``app`` target: the first Makefile
    make would read, and only that one."""
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
