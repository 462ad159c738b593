"""Which C projects `make app` builds (the rule toolchains/mvcc/build.sh follows), and what
the build's fingerprint then covers."""

from __future__ import annotations

from pathlib import Path

import pytest

from motivus_dev.toolchain.mvcc import MVCC, app_makefile


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_makefile_with_an_app_target_is_the_platforms_contract(tmp_path: Path) -> None:
    assert app_makefile(tmp_path) is None
    makefile = write(tmp_path / "Makefile", "CFLAGS = -O2\n\napp: $(OBJECTS)\n\temcc -o x.js\n")
    assert app_makefile(tmp_path) == makefile
    write(tmp_path / "Makefile", "app2: x\nall:\n\t@echo app: no\n")
    assert app_makefile(tmp_path) is None  # neither `app2:` nor a recipe line is the target


def test_only_the_makefile_make_reads_counts(tmp_path: Path) -> None:
    """make reads GNUmakefile, then makefile, then Makefile: the first one it finds decides."""
    write(tmp_path / "Makefile", "app:\n\temcc\n")
    gnu = write(tmp_path / "GNUmakefile", "all:\n\ttrue\n")
    assert app_makefile(tmp_path) is None
    gnu.write_text("app :\n\temcc\n")
    assert app_makefile(tmp_path) == gnu


def test_a_makefile_build_reads_every_project_file_the_automatic_one_only_sources(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "main.c")
    write(src / "notes.txt")
    write(tmp_path / "lib" / "solver.f90")
    write(tmp_path / "tests" / "fixtures" / "case.yml")
    write(tmp_path / "build" / "old.js")

    def names() -> set:
        files = MVCC.input_files(tmp_path, src, exclude=[tmp_path / "tests" / "fixtures"])
        return {p.relative_to(tmp_path).as_posix() for p in files}

    assert names() == {"src/main.c"}
    write(tmp_path / "Makefile", "app:\n\temcc\n")
    assert names() == {"Makefile", "src/main.c", "src/notes.txt", "lib/solver.f90"}


def test_the_automatic_build_is_given_its_sources_in_link_order_with_their_language(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for name in ("main.c", "b/solver.cpp", "a.h", "util.cc", "notes.txt", ".hidden/x.c"):
        write(src / name)
    write(tmp_path / "filesystem" / "data.c")  # data, not a source
    env = MVCC.script_env(tmp_path, src, "release", "c", exclude=[tmp_path / "filesystem"])
    assert env["MOTIVUS_MAKEFILE"] == ""
    assert env["MOTIVUS_SOURCES"] == "cpp:b/solver.cpp c:main.c cpp:util.cc"
    assert env["MOTIVUS_LINKER"] == "cpp" and env["MOTIVUS_MINIFY"] == "1"
    (src / "b" / "solver.cpp").unlink()
    (src / "util.cc").unlink()
    assert MVCC.script_env(tmp_path, src, "debug", "c")["MOTIVUS_LINKER"] == "c"
    assert MVCC.script_env(tmp_path, src, "debug", "cpp")["MOTIVUS_LINKER"] == "cpp"  # lang: cpp links libc++
    assert MVCC.script_env(tmp_path, src, "debug", "c")["MOTIVUS_MINIFY"] == "0"


def test_a_makefile_build_is_given_the_makefile_and_no_sources(tmp_path: Path) -> None:
    write(tmp_path / "makefile", "app:\n\temcc\n")
    env = MVCC.script_env(tmp_path, tmp_path, "release", "c")
    assert env["MOTIVUS_MAKEFILE"] == "makefile" and env["MOTIVUS_SOURCES"] == ""


def test_no_sources_and_sources_with_whitespace_are_refused_before_the_build(tmp_path: Path) -> None:
    from motivus_dev.errors import ConfigError

    (tmp_path / "src").mkdir()
    with pytest.raises(ConfigError, match=r"no C/C\+\+ sources .* in src \(motivus.yml build.source\)"):
        MVCC.script_env(tmp_path, tmp_path / "src", "release", "c")
    write(tmp_path / "src" / "my file.c")
    with pytest.raises(ConfigError, match="'my file.c' contains whitespace"):
        MVCC.script_env(tmp_path, tmp_path / "src", "release", "c")


def test_cpp_is_guessed_from_a_cpp_source(tmp_path: Path) -> None:
    write(tmp_path / "main.c")
    assert MVCC.guess_lang(tmp_path) == "c"
    write(tmp_path / "lib" / "x.cxx")
    assert MVCC.guess_lang(tmp_path) == "cpp"


def test_the_c_loader_is_the_kits_modules_with_the_glue_as_the_program_module() -> None:
    from motivus_dev.toolchain.mvcc import c_loader_bundle

    bundle, banner = c_loader_bundle("var Module = 1;", "km<eans>", "1.0.0", "3.1.69", True, True)
    assert banner == "/* kmeans 1.0.0: Motivus mvcc loader (emscripten 3.1.69); motivus-loader:reusable */"
    program = bundle[bundle.index('motivusFactories["c/program"]'):]
    assert 'name: "kmeans",\n  dataPackage: "kmeans-1.0.0.data",' in program
    assert "start: function (Module, module, exports, define) {\nvar Module = 1;" in program
    for module in ("main", "c/harness", "c/args", "c/call", "serve", "bytes", "zip", "inflate", "fetch", "env"):
        assert f'motivusFactories["{module}"] = function (module, exports, require) {{' in bundle
    assert not any(f'motivusFactories["rust/{m}"]' in bundle for m in ("harness", "console", "json"))
    assert bundle.rstrip().endswith('motivusLoad("main");\n})();')
    _, banner = c_loader_bundle("", "k", "1", "3.1.6", False, False)
    assert "reusable" not in banner


@pytest.mark.parametrize("glue, why", [("var readyPromiseResolve;", "MODULARIZE"), ("import.meta.url", "ES module")])
def test_glue_that_is_not_a_classic_program_is_refused(glue: str, why: str) -> None:
    from motivus_dev.errors import BuildError
    from motivus_dev.toolchain.mvcc import check_classic_glue

    with pytest.raises(BuildError, match=why):
        check_classic_glue(glue)
