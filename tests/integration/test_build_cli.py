"""`motivus build` end to end: every template, in the container and on the host (C and C++;
a Rust host build needs rustc >= 1.84 with the wasm32 std, which Debian 12 hosts lack).

Proves the packages are byte-identical across modes and cache states, that each package's loader honours
the worker contract (run through the node harness as a worker runs it), and the build's
incremental and failure behaviour.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any, Dict, List

import pytest
from click.testing import CliRunner
from kmeans_data import SEED_LABELS as LABELS
from kmeans_data import SEED_POINTS as SEED
from reference_worker import check_ascii, run_reference

from motivus_dev.cli import main

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def motivus(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def docker_ready() -> str:
    from motivus_dev.toolchain.docker import engine_available, image_present
    from motivus_dev.toolchain.images import image_for

    problem = engine_available()
    if problem:
        return f"no Docker engine ({problem}): run scripts/docker-engine.sh start"
    for name in ("mvrc", "mvcc"):
        if not image_present(image_for(name).ref):
            return f"toolchain image {image_for(name).ref} missing: run motivus toolchain build"
    return ""


def run_package(project: Path, stem: str, tasks: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Run tasks on the built package as the platform's worker does, read as the 2.4.0 client reads."""
    build = project / "build"
    for task in tasks:
        if (build / f"{stem}.data.zip").exists():
            task.setdefault("data_link", str(build / f"{stem}.data.zip"))
    check_ascii(build / f"{stem}.js")
    return run_reference(build / f"{stem}.js", build / f"{stem}.wasm", tasks, timeout=120)


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    parent = tmp_path_factory.mktemp("projects")
    made = {}
    for lang in ("rust", "c", "cpp"):
        result = motivus("-C", str(parent), "new", f"km{lang}", "--lang", lang, "--defaults")
        assert result.exit_code == 0, result.output
        made[lang] = parent / f"km{lang}"
    return made


def digests(project: Path) -> Dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((project / "build").iterdir())}


@pytest.mark.docker
@pytest.mark.parametrize("lang", ["rust", "c", "cpp"])
def test_template_builds_identically_in_container_and_on_host(
        projects: Dict[str, Path], lang: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The container gives the same bytes from cold caches (a new project cache and a new
    download cache: crates downloaded again, the same lock; every C file compiled again).
    The host builds C/C++ with its own emscripten (another version: other bytes), and
    that package passes the same tasks."""
    reason = docker_ready()
    if reason:
        pytest.skip(reason)
    project = projects[lang]
    stem = f"km{lang}-0.0.1"
    if lang != "rust":
        result = motivus("-C", str(project), "build", "--toolchain", "host")
        assert result.exit_code == 0, result.output
        assert "host toolchain" in result.output
        check_template_package(project, lang, stem)
        assert motivus("-C", str(project), "clean").exit_code == 0
    first_mode = "docker"
    result = motivus("-C", str(project), "build", "--toolchain", first_mode)
    assert result.exit_code == 0, result.output
    assert f"{first_mode} toolchain" in result.output
    first = digests(project)
    expected = {f"{stem}.wasm", f"{stem}.js", f"{stem}.zip"} | ({f"{stem}.data.zip"} if lang != "rust" else set())
    assert set(first) == expected
    assert sorted(zipfile.ZipFile(project / "build" / f"{stem}.zip").namelist()) == sorted(expected - {f"{stem}.zip"})

    assert motivus("-C", str(project), "clean").exit_code == 0
    assert not (project / "build").exists() and not (project / ".motivus").exists()
    monkeypatch.setenv("MOTIVUS_CACHE_DIR", str(tmp_path / "fresh-user-cache"))
    result = motivus("-C", str(project), "build", "--toolchain", "docker")
    assert result.exit_code == 0, result.output
    assert "docker toolchain" in result.output
    assert digests(project) == first  # byte-identical from cold caches
    check_template_package(project, lang, stem)


def check_template_package(project: Path, lang: str, stem: str) -> None:
    """The template's package answers its tasks as the platform's worker runs them."""
    if lang == "rust":
        assert (project / "build" / f"{stem}.wasm").stat().st_size < 100_000
        assert (project / "build" / f"{stem}.js").stat().st_size < 40_000
        (reply,) = run_package(project, stem, [{"params": [SEED, 2]}])
        assert reply["exitCode"] == 0, reply
        assert reply["out"]["data"] == LABELS
        assert "kmeans: 10 points, k = 2" in reply["stdout"]
        (bad,) = run_package(project, stem, [{"params": [SEED, "two"]}])
        assert bad["exitCode"] == 1 and bad["out"] == {}
        assert "params[1] must be the number of clusters" in bad["stderr"]  # the panic hook's message
    else:
        points = (project / "tests" / "fixtures" / "points.txt").read_bytes()
        import base64

        replies = run_package(project, stem, [
            {"arguments": ["-k", "2"], "preload_files": {"/input/points.txt": base64.b64encode(points).decode()},
             "result_files": {"/output/labels.txt": "labels.txt"}},
            {"params": [SEED, 2]},
            {"arguments": ["-k", "0"]},
        ])
        first, second, third = replies
        assert first["exitCode"] == 0, first
        assert first["out"]["data"] == LABELS
        assert base64.b64decode(first["out"]["/output/labels.txt"]).decode().split() == [str(x) for x in LABELS]
        assert "10 points, 5 dimensions, k = 2" in first["stdout"]
        assert second["exitCode"] == 0 and second["out"]["data"] == LABELS
        assert third["exitCode"] == 2 and "-k must be a positive integer" in third["stderr"]


def test_noop_rebuild_is_fast_and_a_change_rebuilds(projects: Dict[str, Path]) -> None:
    project = projects["c"]
    assert motivus("-C", str(project), "build", "--toolchain", "host").exit_code == 0
    started = time.monotonic()
    result = motivus("-C", str(project), "build", "--toolchain", "host")
    assert result.exit_code == 0 and "up to date" in result.output
    assert time.monotonic() - started < 5  # (the benchmark measures it; this guards against a rebuild)
    before = (project / "build" / "kmc-0.0.1.wasm").read_bytes()
    main_c = project / "src" / "main.c"
    main_c.write_text(main_c.read_text().replace("kmeans: %zu points", "k-means: %zu points"))
    result = motivus("-C", str(project), "build", "--toolchain", "host")
    assert result.exit_code == 0 and "built" in result.output
    assert (project / "build" / "kmc-0.0.1.wasm").read_bytes() != before


def test_compile_error_shows_the_compiler_message_and_keeps_the_last_good_package(
        projects: Dict[str, Path], tmp_path: Path) -> None:
    project = tmp_path / "broken"
    shutil.copytree(projects["cpp"], project, ignore=shutil.ignore_patterns(".motivus", "build"))
    assert motivus("-C", str(project), "build", "--toolchain", "host").exit_code == 0
    good = digests(project)
    (project / "src" / "kmeans.cpp").write_text("int broken( {\n")
    result = motivus("-C", str(project), "build", "--toolchain", "host")
    assert result.exit_code == 6
    assert "kmeans.cpp" in result.output and "error" in result.output
    assert "Traceback" not in result.output
    assert digests(project) == good  # the last good package stays until a new one is complete
    stale = motivus("-C", str(project), "push", "--dry-run")
    assert "the sources changed since kmcpp-0.0.1.zip was built" in stale.output


def crate_opt_levels(project: Path) -> Dict[str, str]:
    """The opt-level cargo compiled each crate with (its own report of the artifacts)."""
    lines = (project / ".motivus" / "cache" / "mvrc" / "artifacts.json").read_text().splitlines()
    found = {}
    for line in lines:
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact":
            found[message["target"]["name"]] = str(message["profile"]["opt_level"])
    return found


def test_the_crates_own_release_profile_stands(projects: Dict[str, Path]) -> None:
    """build.sh gives its defaults only where [profile.release] is silent: opt-level 1 in the
    crate is what cargo compiles it with, the template's "s" for its dependencies stands, and
    without a [profile.release] the kit's default is cargo's own, 3."""
    project = projects["rust"]
    manifest = project / "Cargo.toml"
    original = manifest.read_text()
    assert "[profile.release]\nopt-level = 3\n" in original
    manifest.write_text(original.replace("[profile.release]\nopt-level = 3\n", "[profile.release]\nopt-level = 1\n"))
    try:
        result = motivus("-C", str(project), "build", "--toolchain", "docker")
        assert result.exit_code == 0, result.output
        levels = crate_opt_levels(project)
        assert levels["kmrust"] == "1" and levels["serde_json"] == "s", levels
        manifest.write_text(original[:original.index("# Measured in the kit's")])
        result = motivus("-C", str(project), "build", "--toolchain", "docker")
        assert result.exit_code == 0, result.output
        levels = crate_opt_levels(project)
        assert levels["kmrust"] == "3" and levels["serde_json"] == "3", levels
    finally:
        manifest.write_text(original)



@pytest.mark.docker
def test_a_release_bump_builds_with_only_the_crates_own_lock_entry_moved(
        projects: Dict[str, Path], tmp_path: Path) -> None:
    """Every release bumps `version` in Cargo.toml and motivus.yml after a first build; the
    fetch step's `cargo fetch --locked` refused the old lock."""
    project = tmp_path / "bump"
    shutil.copytree(projects["rust"], project, ignore=shutil.ignore_patterns(".motivus", "build"))
    assert motivus("-C", str(project), "build", "--toolchain", "docker").exit_code == 0
    lock = (project / "Cargo.lock").read_text()
    for name in ("Cargo.toml", "motivus.yml"):
        path = project / name
        path.write_text(path.read_text().replace("0.0.1", "0.0.2", 1))
    result = motivus("-C", str(project), "build", "--toolchain", "docker")
    assert result.exit_code == 0, result.output
    assert "Cargo.lock: kmrust 0.0.1 -> 0.0.2" in result.output
    assert (project / "Cargo.lock").read_text() == lock.replace(
        'name = "kmrust"\nversion = "0.0.1"', 'name = "kmrust"\nversion = "0.0.2"')
    assert (project / "build" / "kmrust-0.0.2.wasm").is_file()


@pytest.mark.docker
def test_a_package_another_toolchain_built_is_rebuilt_and_a_fallback_says_why(
        projects: Dict[str, Path], tmp_path: Path) -> None:
    project = tmp_path / "switch"
    shutil.copytree(projects["c"], project, ignore=shutil.ignore_patterns(".motivus", "build"))
    assert motivus("-C", str(project), "build", "--toolchain", "docker").exit_code == 0
    assert "up to date" in motivus("-C", str(project), "build", "--toolchain", "docker").output
    gone = {"DOCKER_HOST": "unix:///nonexistent"}
    fallback = CliRunner().invoke(main, ["-C", str(project), "build"], env=gone)
    assert fallback.exit_code == 0, fallback.output
    assert "up to date" not in fallback.output  # the image's package is not the host's
    assert ("no Docker engine answers: nothing at DOCKER_HOST=unix:///nonexistent (no such socket): building "
            "with the host's own tools, whose bytes differ") in " ".join(fallback.output.split())
    assert "Traceback" not in fallback.output and "FileNotFoundError" not in fallback.output
    back = motivus("-C", str(project), "build")  # the engine answers again: the image builds it anew
    assert back.exit_code == 0 and "up to date" not in back.output and "docker" in back.output
    never = CliRunner().invoke(main, ["-C", str(project), "build", "--toolchain", "docker", "--force"], env=gone)
    assert never.exit_code != 0 and "--toolchain docker, but no Docker engine answers" in never.output


@pytest.mark.docker
def test_a_rust_build_in_a_log_names_its_phases_and_is_never_silent_for_10_s(
        projects: Dict[str, Path], tmp_path: Path) -> None:
    """A first build of a crate with registry dependencies (the template's: wasm-bindgen,
    serde, web-sys...) takes a minute; in a CI log it printed "compiling" and then nothing."""
    import subprocess
    import sys

    project = tmp_path / "talk"
    shutil.copytree(projects["rust"], project, ignore=shutil.ignore_patterns(".motivus", "build"))
    proc = subprocess.Popen([sys.executable, "-m", "motivus_dev", "-C", str(project), "build", "--toolchain", "docker"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    seen: List[tuple] = []
    for line in proc.stdout:
        seen.append((time.monotonic(), line.rstrip()))
    assert proc.wait() == 0, "\n".join(line for _, line in seen)
    text = "\n".join(line for _, line in seen)
    phases = [line.split(">> ", 1)[1] for _, line in seen if ">> " in line]
    assert phases == ["fetching crates", "compiling crates", "wasm-bindgen and wasm-opt",
                      "checking the module (wasmtime, node 16, the glue's imports)", "packaging"], text
    assert re.search(r"Compiling serde v\S+ \(#\d+\)", text) and re.search(r"Compiling web-sys v", text), text
    gaps = [later - earlier for (earlier, _), (later, _) in zip(seen, seen[1:])]
    assert max(gaps) < 10.5, f"{max(gaps):.1f} s without a line:\n{text}"


def test_the_build_ships_only_what_tasks_will_accept(projects: Dict[str, Path]) -> None:
    """10 MB of zeros in filesystem/ builds and passes `motivus test` (it is stored, not
    deflated like a zip bomb); a filesystem the workers would refuse is refused by the build,
    with the reason."""
    project = projects["c"]
    extra = project / "filesystem" / "extra"
    extra.mkdir()
    try:
        (extra / "zeros.bin").write_bytes(b"\0" * (10 << 20))
        result = motivus("-C", str(project), "test", "--toolchain", "host")
        assert result.exit_code == 0, result.output
        (extra / "zeros.bin").unlink()
        for i in range(10_001):
            (extra / f"f{i}.txt").write_bytes(b"x")
        result = motivus("-C", str(project), "build", "--toolchain", "host")
        assert result.exit_code != 0
        assert "would be refused when tasks run" in result.output, result.output
        assert "more than the limit of 10000" in result.output
    finally:
        shutil.rmtree(extra)
    assert motivus("-C", str(project), "build", "--toolchain", "host").exit_code == 0


@pytest.mark.parametrize("lang", ["rust", "c"])
def test_only_what_the_build_reads_makes_it_stale(projects: Dict[str, Path], lang: str) -> None:
    """Fixtures, docs, .env, notes and the driver are not build inputs; sources are."""
    from motivus_dev.build import is_up_to_date, toolchain_ref
    from motivus_dev.config import load_config

    project = projects[lang]
    where = "docker" if lang == "rust" else "host"
    assert motivus("-C", str(project), "build", "--toolchain", where).exit_code == 0
    config = load_config(project)

    def current() -> bool:
        return is_up_to_date(config, toolchain_ref(config))

    assert current()
    touched = [project / "notes.txt", project / ".env", project / "docs.md",
               project / "tests" / "fixtures" / "extra.yml"]
    kept = {p: p.read_text() for p in (project / "driver.py", project / "README.md")}
    for path in touched:
        path.write_text("params: [1]\n" if path.suffix == ".yml" else "anything\n")
    for path in kept:
        path.write_text(kept[path] + "# edited\n")
    try:
        assert current(), "editing fixtures, docs, .env or the driver made the build stale"
        source = project / "src" / ("lib.rs" if lang == "rust" else "main.c")
        original = source.read_text()
        source.write_text(original + "\n// edited\n")
        try:
            assert not current()
        finally:
            source.write_text(original)
    finally:
        for path in touched:
            path.unlink()
        for path, text in kept.items():
            path.write_text(text)


@pytest.mark.parametrize("lang, toolchain", [("c", "docker"), ("rust", "docker")])
def test_compiler_warnings_are_summarised_on_success_with_project_paths(
        projects: Dict[str, Path], tmp_path: Path, lang: str, toolchain: str) -> None:
    if toolchain == "docker" and docker_ready():
        pytest.skip(docker_ready())
    project = tmp_path / "warns"
    shutil.copytree(projects[lang], project, ignore=shutil.ignore_patterns(".motivus", "build", "target"))
    if lang == "c":
        source = project / "src" / "main.c"
        source.write_text(source.read_text() + "\nint motivus_warns(void) { return 1 / 0; }\n")
        expected = "src/main.c:"
        also = project / "src" / "kmeans.c"
    else:
        source = project / "src" / "lib.rs"
        source.write_text(source.read_text() + "\npub fn motivus_warns() -> u32 { let unused = 5; 1 }\n")
        expected = "src/lib.rs:"
        also = source
    result = motivus("-C", str(project), "build", "--toolchain", toolchain, "--json")
    assert result.exit_code == 0, result.output
    warnings = json.loads(result.stdout)["warnings"]
    assert len(warnings) == 1 and warnings[0].startswith(expected), warnings
    assert "/project" not in warnings[0] and str(project) not in warnings[0]
    shown = motivus("-C", str(project), "build", "--toolchain", toolchain, "--force")
    assert "1 compiler warning" in shown.output and warnings[0][:60] in shown.output
    # Another change rebuilds without recompiling the warning's file: the warning stays.
    also.write_text(also.read_text() + "\n")
    again = motivus("-C", str(project), "build", "--toolchain", toolchain, "--json")
    assert json.loads(again.stdout)["warnings"] == warnings


MAKEFILE_PROJECT = ROOT / "tests" / "data" / "makefile-c"


@pytest.mark.parametrize("toolchain", ["docker", "host"])
def test_a_c_project_with_its_own_makefile_is_built_by_make_app(tmp_path: Path, toolchain: str) -> None:
    """The platform's packager shape (tests/data/makefile-c): two files with main(), one
    source compiled twice with different -D flags, --preload-file of the filesystem, exported
    functions. `make app` builds it with the platform's variables; the package carries the
    glue wrapped by the loader, the wasm and the .data in the data zip; `motivus test` and
    the platform's worker run it (main with files, and functions called by name)."""
    if toolchain == "docker":
        reason = docker_ready()
        if reason:
            pytest.skip(reason)
    project = tmp_path / "tables"
    shutil.copytree(MAKEFILE_PROJECT, project)
    result = motivus("-C", str(project), "build", "--toolchain", toolchain, "-v")
    assert result.exit_code == 0, result.output
    assert "Makefile has an 'app' target: running make app" in result.output
    assert "-DSCALE_NAME=scale_three -DFACTOR=3" in result.output
    assert not (project / "obj").exists() and not (project / "build" / "obj").exists()  # OBJ_DIR/objdir were ours
    stem = "tables-1.0.0"
    with zipfile.ZipFile(project / "build" / f"{stem}.data.zip") as data:
        assert data.namelist() == [f"{stem}.data"]  # the program's own file package, as the platform zipped it
    # Foreign glue: a new worker per task, as on the cluster.
    assert "motivus-loader:reusable" not in (project / "build" / f"{stem}.js").read_text()
    tested = motivus("-C", str(project), "test")
    assert tested.exit_code == 0, tested.output
    assert "3 passed, 0 failed" in tested.output

    import base64

    main_run, call, no_such, trap_name = run_package(project, stem, [
        {"arguments": ["scaler"], "result_files": {"/out/scaled.txt": "scaled.txt"}},
        {"params": ["weighted_sum", 1, 2]},
        {"params": ["nope", 1]},
        # With ASSERTIONS the glue guards Module._setNetworkCallback (a library symbol it left
        # out) with a getter that aborts: a name is looked up without touching it.
        {"params": ["setNetworkCallback"]},
    ])
    assert main_run["exitCode"] == 0, main_run
    assert base64.b64decode(main_run["out"]["/out/scaled.txt"]).decode() == "2 3\n5 7.5\n-8 -12\n"
    assert "scaler: scaled 3 numbers" in main_run["stdout"]
    assert call["exitCode"] == 0 and call["out"] == {"data": 8}, call
    # A name the program does not export runs main (as params meant for main would), which here
    # fails for want of the /out directory no result file asked for.
    assert no_such["exitCode"] == 4 and "tables: cannot write /out/scaled.txt" in no_such["stderr"]
    assert trap_name["exitCode"] == 4 and "tables: cannot write /out/scaled.txt" in trap_name["stderr"], trap_name

    # The Makefile is an input: editing it rebuilds; a broken app target fails with make's message.
    makefile = project / "Makefile"
    makefile.write_text(makefile.read_text().replace("-o $(BUILD_DIR)/$(PACKAGE).js", "-o $(BUILD_DIR)/other.js"))
    broken = motivus("-C", str(project), "build", "--toolchain", toolchain)
    assert broken.exit_code != 0
    assert "make app left no $(BUILD_DIR)/tables-1.0.0.js" in broken.output
    assert "Traceback" not in broken.output


def test_without_a_makefile_the_build_names_the_files_it_compiles(projects: Dict[str, Path], tmp_path: Path) -> None:
    project = tmp_path / "no-makefile"
    shutil.copytree(projects["c"], project, ignore=shutil.ignore_patterns(".motivus", "build"))
    (project / "Makefile").write_text("all:\n\ttrue\n")  # no app target: not the platform's contract
    result = motivus("-C", str(project), "build", "--toolchain", "host", "-v")
    assert result.exit_code == 0, result.output
    assert ("no Makefile with an 'app' target: building 3 source file(s) of src: input.c kmeans.c main.c"
            in result.output)


@pytest.mark.parametrize("toolchain", ["docker", "host"])
def test_a_program_without_main_is_called_by_function_name(tmp_path: Path, toolchain: str) -> None:
    """The automatic build of a library-style program (no main, --no-entry): params
    ["fn", args...] call its exported functions; a name it does not export fails the task
    with the list of what it exports."""
    if toolchain == "docker" and docker_ready():
        pytest.skip(docker_ready())
    project = tmp_path / "geometry"
    (project / "src").mkdir(parents=True)
    (project / "src" / "geometry.c").write_text(
        "#include <math.h>\n#include <stdio.h>\n#include <emscripten.h>\n"
        "EMSCRIPTEN_KEEPALIVE double hypotenuse(double a, double b) {\n"
        "    printf(\"hyp\\n\");\n    return sqrt(a * a + b * b);\n}\n"
        "EMSCRIPTEN_KEEPALIVE void nothing(void) {}\n"
    )
    (project / "motivus.yml").write_text(
        "version: 1.0\nbuild:\n  compiler: mvcc\n  lang: c\n  source: src\n  ldflags: [\"--no-entry\"]\n"
        "package:\n  name: geometry\n  version: 1.0.0\n"
    )
    result = motivus("-C", str(project), "build", "--toolchain", toolchain)
    assert result.exit_code == 0, result.output
    hyp, void, wrong = run_package(project, "geometry-1.0.0", [
        {"params": ["hypotenuse", 3, 4]}, {"params": ["nothing"]}, {"params": ["hypot", 3, 4]},
    ])
    assert hyp["exitCode"] == 0 and hyp["out"] == {"data": 5}, hyp
    assert hyp["stdout"] == "hyp\n"
    assert void["exitCode"] == 0 and void["out"] == {"data": None}, void
    assert wrong["exitCode"] == 1 and wrong["out"] == {}
    assert "the program has no main(), so params must name a function it exports" in wrong["stderr"]
    exported = wrong["stderr"].rsplit("exported: ", 1)[1].strip().split(", ")
    assert "(it exports no \"hypot\")" in wrong["stderr"] and {"hypotenuse", "nothing"} <= set(exported)
