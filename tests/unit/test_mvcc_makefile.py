"""Which C projects `make app` builds (the rule toolchains/mvcc/build.sh follows), and what
the build's fingerprint then covers."""

from __future__ import annotations

from pathlib import Path

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
