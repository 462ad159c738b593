"""The build plan (pure) and the pure helpers of the executors, images and doctor."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Sequence, Tuple

import pytest

from motivus_dev.errors import ConfigError
from motivus_dev.resources import toolchains_dir
from motivus_dev.toolchain import doctor, images
from motivus_dev.toolchain.docker import _LineSplitter, build_context_files
from motivus_dev.toolchain.host import host_environment, script_command
from motivus_dev.toolchain.plan import BuildInput, BuildPlan, make_plan

PROJECT = Path("/home/ada/kmeans")


def plan_for(lang: str = "rust", **kwargs: object) -> BuildPlan:
    inp = BuildInput(project_dir=PROJECT, lang=lang, name="kmeans", version="1.2.0", **kwargs)  # type: ignore[arg-type]
    return make_plan(inp, image="motivus/mvrc:9.9.9", host_script=Path("/kit/mvrc/build.sh"),
                     uid=1000, gid=1001)


@pytest.mark.parametrize("lang,toolchain", [("rust", "mvrc"), ("c", "mvcc"), ("cpp", "mvcc")])
def test_language_picks_the_toolchain(lang: str, toolchain: str) -> None:
    plan = plan_for(lang)
    assert plan.toolchain == toolchain
    assert plan.container_env["MOTIVUS_OUT"] == f"/project/.motivus/out/{toolchain}"
    assert plan.out_dir == PROJECT / ".motivus" / "out" / toolchain
    assert plan.cache_dir == PROJECT / ".motivus" / "cache" / toolchain


def test_container_env_follows_the_interface() -> None:
    plan = plan_for("cpp", source="src", filesystem="filesystem", profile="debug",
                    cflags="-O1 -DX=1", ldflags="-sFOO=1")
    assert plan.container_env == {
        "MOTIVUS_PROJECT": "/project",
        "MOTIVUS_SOURCE": "src",
        "MOTIVUS_FILESYSTEM": "filesystem",
        "MOTIVUS_LANG": "cpp",
        "MOTIVUS_NAME": "kmeans",
        "MOTIVUS_VERSION": "1.2.0",
        "MOTIVUS_PROFILE": "debug",
        "MOTIVUS_CFLAGS": "-O1 -DX=1",
        "MOTIVUS_LDFLAGS": "-sFOO=1",
        "MOTIVUS_SIMD": "1",
        "MOTIVUS_KEEP_NAMES": "0",
        "MOTIVUS_OUT": "/project/.motivus/out/mvcc",
        "MOTIVUS_CACHE": "/project/.motivus/cache/mvcc",
        "MOTIVUS_SHARED_CACHE": "/motivus-shared",
        "MOTIVUS_CA_FILE": "",
        "MOTIVUS_OFFLINE": "0",
        "HOME": "/project/.motivus/cache/mvcc/home",
        "SOURCE_DATE_EPOCH": "0",
    }


def test_simd_and_names_reach_the_script() -> None:
    """motivus.yml's build.simd: false and a build for a profile are the script's to apply."""
    plan = plan_for("rust", simd=False, keep_names=True)
    assert plan.container_env["MOTIVUS_SIMD"] == "0"
    assert plan.host_env["MOTIVUS_KEEP_NAMES"] == "1"


SHARED = Path("/home/ada/.cache/motivus/toolchains/mvrc-docker")
CA = Path("/etc/ssl/certs/ca-certificates.crt")


def test_host_env_differs_only_in_the_paths() -> None:
    plan = plan_for("rust", shared_cache=SHARED, ca_file=CA)
    real = str(PROJECT)
    assert plan.host_env["MOTIVUS_PROJECT"] == real
    assert plan.host_env["MOTIVUS_OUT"] == f"{real}/.motivus/out/mvrc"
    assert plan.host_env["HOME"] == f"{real}/.motivus/cache/mvrc/home"
    assert plan.host_env["MOTIVUS_SHARED_CACHE"] == str(SHARED)
    assert plan.container_env["MOTIVUS_SHARED_CACHE"] == "/motivus-shared"
    assert plan.host_env["MOTIVUS_CA_FILE"] == str(CA)
    assert plan.container_env["MOTIVUS_CA_FILE"] == "/etc/motivus/ca-certificates.crt"
    assert set(plan.host_env) == set(plan.container_env)
    for key, value in plan.container_env.items():
        if key not in ("MOTIVUS_SHARED_CACHE", "MOTIVUS_CA_FILE"):
            assert plan.host_env[key] == value.replace("/project", real), key


def test_container_isolation() -> None:
    plan = plan_for("rust", shared_cache=SHARED, ca_file=CA)
    assert plan.user == "1000:1001"
    assert plan.workdir == "/project"
    assert plan.image == "motivus/mvrc:9.9.9"
    assert plan.container_script == "/opt/motivus/toolchain/build.sh"
    assert plan.host_script == Path("/kit/mvrc/build.sh")
    # The project, the user's shared cache and (read-only) the CA bundle: no docker socket.
    assert [(m.source, m.target, m.read_only) for m in plan.mounts] == [
        (PROJECT, "/project", False), (SHARED, "/motivus-shared", False),
        (CA, "/etc/motivus/ca-certificates.crt", True)]
    assert plan.dirs_to_create() == (plan.out_dir, plan.cache_dir, plan.cache_dir / "home", SHARED)


def test_only_the_download_step_has_the_network_and_never_offline() -> None:
    plan = plan_for("rust", shared_cache=SHARED)
    assert [(step.name, plan.network_for(step)) for step in plan.steps] == [("fetch", True), ("compile", False)]
    offline = plan_for("rust", shared_cache=SHARED, offline=True)
    assert [offline.network_for(step) for step in offline.steps] == [False, False]
    assert offline.container_env["MOTIVUS_OFFLINE"] == "1"
    c_plan = plan_for("c")
    assert [(step.name, c_plan.network_for(step)) for step in c_plan.steps] == [("compile", False), ("bundle", False)]
    # without a shared cache (a unit test's plan), the project's cache serves
    assert c_plan.shared_cache == PROJECT / ".motivus" / "cache" / "mvcc" / "shared"


def test_defaults_and_normalised_paths() -> None:
    plan = plan_for("c", source="./src/", filesystem=None)
    assert plan.container_env["MOTIVUS_SOURCE"] == "src"
    assert plan.container_env["MOTIVUS_FILESYSTEM"] == ""
    assert plan.container_env["MOTIVUS_PROFILE"] == "release"
    assert plan_for("rust", source="").container_env["MOTIVUS_SOURCE"] == "."


@pytest.mark.parametrize("kwargs,message", [
    ({"lang": "go"}, "unknown language 'go'"),
    ({"profile": "fast"}, "unknown build profile 'fast'"),
    ({"source": "../other"}, "build.source must stay inside the project"),
    ({"source": "/etc"}, "build.source must be relative"),
    ({"filesystem": "a/../../b"}, "filesystem must stay inside the project"),
])
def test_bad_input_is_a_config_error(kwargs: dict, message: str) -> None:
    lang = kwargs.pop("lang", "rust")
    with pytest.raises(ConfigError, match=re.escape(message)):
        plan_for(lang, **kwargs)


def test_relative_project_dir_is_refused() -> None:
    inp = BuildInput(project_dir=Path("kmeans"), lang="rust", name="k", version="1")
    with pytest.raises(ConfigError, match="absolute"):
        make_plan(inp, image="i", host_script=Path("/s"), uid=0, gid=0)


def test_host_environment_adds_the_plan_to_the_callers_env() -> None:
    plan = plan_for("rust")
    env = host_environment(plan, {"PATH": "/usr/bin", "MOTIVUS_OUT": "/elsewhere"})
    assert env["PATH"] == "/usr/bin"
    assert env["MOTIVUS_OUT"] == f"{PROJECT}/.motivus/out/mvrc"


def test_script_command_uses_the_shebang() -> None:
    assert script_command(Path("/k/b.sh"), "#!/bin/bash\n") == ["/bin/bash", "/k/b.sh"]
    assert script_command(Path("/k/b.sh"), "#!/usr/bin/env bash\n") == ["/usr/bin/env", "bash", "/k/b.sh"]
    assert script_command(Path("/k/b.sh"), "echo hi\n") == ["sh", "/k/b.sh"]


def test_line_splitter_joins_chunks() -> None:
    splitter = _LineSplitter()
    lines: List[str] = []
    for chunk in (b"err", b"or: x\r\nsecond\nthi", b"rd"):
        lines.extend(splitter.feed(chunk))
    lines.extend(splitter.close())
    assert lines == ["error: x", "second", "third"]


# --- shipped files: versions, packages, Dockerfiles -------------------------------------

def test_versions_file_pins_both_images() -> None:
    pinned = images.pinned_images()
    assert set(pinned) == {"mvrc", "mvcc"}
    for name, image in pinned.items():
        assert image.ref == f"motivus/{name}:{image.version}"
        assert re.fullmatch(r"\d+\.\d+\.\d+", image.version)
        assert image.base in ("debian:bookworm", "debian:trixie")
    assert pinned["mvrc"].base == "debian:trixie"


def test_parse_packages() -> None:
    text = "# comment\nrustc=1.63.0+dfsg1-2\n\n  nodejs  # unpinned\nlibllvm14=1:14.0.6-12\n"
    assert images.parse_packages(text) == [
        ("rustc", "1.63.0+dfsg1-2"), ("nodejs", None), ("libllvm14", "1:14.0.6-12")]


@pytest.mark.parametrize("toolchain,must", [
    ("mvrc", ["rustc", "cargo", "libstd-rust-dev-wasm32", "rust-llvm", "binaryen", "gcc"]),
    ("mvcc", ["emscripten", "nodejs", "esbuild", "binaryen", "node-acorn"]),
])
def test_packages_are_pinned(toolchain: str, must: List[str]) -> None:
    packages = dict(images.debian_packages(toolchain))
    for name in must:
        assert name in packages, name
    # Everything that generates code is pinned to an exact version.
    for name in must:
        if name != "nodejs":
            assert packages[name], f"{name} is not pinned"


@pytest.mark.parametrize("toolchain", ["mvrc", "mvcc"])
def test_dockerfile_matches_its_build_context(toolchain: str) -> None:
    dockerfile = (toolchains_dir() / toolchain / "Dockerfile").read_text()
    assert re.search(rf"^FROM {re.escape(images.image_for(toolchain).base)}$", dockerfile, re.MULTILINE)
    assert f"org.motivus.toolchain={toolchain}" in dockerfile
    assert "org.motivus.version=${MOTIVUS_TOOLCHAIN_VERSION}" in dockerfile
    assert "COPY build.sh /opt/motivus/toolchain/build.sh" in dockerfile
    context = build_context_files(toolchain, toolchains_dir())
    for source in re.findall(r"^COPY (\S+) ", dockerfile, re.MULTILINE):
        source = source.rstrip("/")
        assert any(name == source or name.startswith(source + "/") for name in context), source


def test_no_image_carries_a_loader_the_kit_assembles_them() -> None:
    for toolchain in ("mvrc", "mvcc"):
        context = build_context_files(toolchain, Path("/t"))
        assert context == {name: Path("/t") / toolchain / name for name in ("Dockerfile", "packages.txt", "build.sh")}


# --- doctor -----------------------------------------------------------------------------

def fake_runner(answers: dict) -> doctor.Runner:
    def run(argv: Sequence[str]) -> Tuple[int, str]:
        return answers.get(argv[0], (127, f"{argv[0]}: not found"))
    return run


def test_doctor_reports_missing_and_wrong_tools_with_the_fix() -> None:
    run = fake_runner({
        "cargo": (0, "cargo 1.95.0 (f2d3ce0bd 2026-03-21)\n"),  # rustup's: new enough
        "rustc": (0, "rustc 1.63.0\n"),  # Debian 12's: too old for current crates
        "wasm-opt": (0, "wasm-opt version 120\n"),
    })
    checks = {c.name: c for c in doctor.check_host_tools(run=run, toolchains=["mvrc"])}
    assert checks["host mvrc: cargo"].ok and checks["host mvrc: wasm-opt"].ok
    rustc = checks["host mvrc: rustc"]
    assert not rustc.ok and "wrong version: rustc 1.63.0" in rustc.detail
    assert rustc.fix_command is not None and "apt-get install -y --no-install-recommends rustc" in rustc.fix_command
    assert not any(name.startswith("host mvcc") for name in checks)


def test_doctor_missing_tool() -> None:
    checks = {c.name: c for c in doctor.check_host_tools(run=fake_runner({}), toolchains=["mvcc"])}
    emcc = checks["host mvcc: emcc"]
    assert not emcc.ok and "not usable" in emcc.detail
    assert emcc.fix_command is not None and emcc.fix_command.endswith("--no-install-recommends emscripten")


def test_host_install_command_names_packages_without_versions() -> None:
    """The images carry the pins; the host takes its distribution's versions (Debian 12 and
    13, Ubuntu 24.04 have different ones), so that the set-up works on each."""
    line = doctor.host_install_command()
    assert "apt-get update && " in line and "=" not in line
    for name in ("rustc", "cargo", "libstd-rust-dev-wasm32", "binaryen", "emscripten", "nodejs"):
        assert f" {name}" in line
    commands = doctor.host_install_commands(["mvrc"])
    assert "emscripten" not in " ".join(commands[1])


def test_a_loader_that_is_not_ascii_is_refused_naming_the_line() -> None:
    from motivus_dev.errors import BuildError
    from motivus_dev.toolchain.module_checks import check_ascii_loader

    check_ascii_loader(b"var a = 1;\n", "x-1")
    with pytest.raises(BuildError, match=r"x-1.js is not 7-bit ASCII \(byte 0xc3 on line 2\)"):
        check_ascii_loader("var a = 1;\nvar b = 'é';\n".encode(), "x-1")


def test_mvrc_passes_the_profile_keys_the_crate_sets_so_its_choices_stand(tmp_path: Path) -> None:
    from motivus_dev.toolchain.mvrc import MVRC

    (tmp_path / "Cargo.toml").write_text(
        '[package]\nname = "x"\n\n[profile.release]\nopt-level = 3\nlto = "thin"\n\n[profile.dev]\ndebug = 1\n'
    )
    assert MVRC.script_env(tmp_path, tmp_path, "release", "rust") == {"MOTIVUS_CARGO_PROFILE_SET": "lto opt-level"}
    assert MVRC.script_env(tmp_path, tmp_path, "debug", "rust") == {"MOTIVUS_CARGO_PROFILE_SET": "debug"}
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "x"\n')
    assert MVRC.script_env(tmp_path, tmp_path, "release", "rust") == {"MOTIVUS_CARGO_PROFILE_SET": ""}


def test_a_build_failure_shows_project_paths_as_the_author_knows_them() -> None:
    from motivus_dev.toolchain.plan import BuildInput, build_failure, make_plan

    project = Path("/home/ada/kmeans")
    plan = make_plan(BuildInput(project_dir=project, lang="c", name="k", version="1"), image="i",
                     host_script=Path("/s"), uid=1, gid=1)
    output = [
        "em++ " + "-Dflag " * 200,
        "/project/src/main.c:3:1: error: expected ';'",
        "/home/ada/kmeans/src/other.c:9:2: warning: unused",
        "mvcc: no C/C++ sources (*.c, *.cc, *.cpp, *.cxx) in /project (motivus.yml build.source)",
    ]
    error = build_failure(plan, 1, output)
    assert "src/main.c:3:1: error" in error.message and "/project" not in error.message
    assert "\nsrc/other.c:9:2: warning" in error.message
    assert "more characters]" in error.message and len(error.message) < 1000
    assert "in the project directory (motivus.yml build.source)" in error.message


def test_compiler_warnings_are_one_line_each_with_project_paths(tmp_path: Path) -> None:
    from motivus_dev.toolchain.plan import compiler_warnings

    plan = make_plan(BuildInput(project_dir=tmp_path, lang="c", name="p", version="1.0.0", source="src"),
                     image="motivus/mvcc:0", host_script=tmp_path / "build.sh", uid=1, gid=1)
    output = [
        "mvcc: compiling 2 of 2 source file(s)",
        "/project/src/main.c:3:9: warning: unused variable 'x' [-Wunused-variable]",
        "    int x = 1;",
        "        ^",
        f"{tmp_path}/src/io.c:7:1: warning: non-void function does not return a value [-Wreturn-type]",
        "2 warnings generated.",
        "emcc: warning: EXPORTED_FUNCTIONS is deprecated [-Wdeprecated]",
        "   Compiling kmeans v0.1.0 (/project)",
        "warning: unused variable: `y`",
        " --> src/lib.rs:5:9",
        "  |",
        "5 |     let y = 2;",
        "  |         ^ help: if this is intentional, prefix it with an underscore: `_y`",
        "warning: `kmeans` (lib) generated 1 warning",
        "warning: unused manifest key: package.colour",
        "    Finished release [optimized] target(s) in 1.2s",
        "src/main.c:9:1: error: not a warning",
    ]
    assert compiler_warnings(plan, output) == [
        "src/main.c:3:9: warning: unused variable 'x' [-Wunused-variable]",
        "src/io.c:7:1: warning: non-void function does not return a value [-Wreturn-type]",
        "emcc: warning: EXPORTED_FUNCTIONS is deprecated [-Wdeprecated]",
        "src/lib.rs:5:9: unused variable: `y`",
        "unused manifest key: package.colour",
    ]
    assert compiler_warnings(plan, ["mvcc: up to date"]) == []


def test_the_wasm_bindgen_version_a_host_build_holds_is_the_images() -> None:
    """build.sh holds a new lock's wasm-bindgen at the image's CLI version; on a host without
    a CLI it falls back to the same number, so that host and container resolve alike."""
    dockerfile = (toolchains_dir() / "mvrc" / "Dockerfile").read_text()
    script = (toolchains_dir() / "mvrc" / "build.sh").read_text()
    image_version = re.search(r"^ARG MOTIVUS_WASM_BINDGEN_VERSION=(\S+)$", dockerfile, re.MULTILINE)
    fallback = re.search(r"^held_version\(\) \{.*?\n    else\n        echo (\S+)\n", script, re.DOTALL | re.MULTILINE)
    assert image_version and fallback
    assert image_version.group(1) == fallback.group(1)


LOCK = """# This file is automatically @generated by Cargo.
# It is not intended for manual editing.
version = 4

[[package]]
name = "kmeans"
version = "0.1.0"
dependencies = [
 "wasm-bindgen",
]

[[package]]
name = "wasm-bindgen"
version = "0.2.100"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "1edc8929d7499fc4e8f0be2262a241556cfc54a0bea223790e71446f1aab1ef5"
"""


def test_a_release_bump_moves_the_crates_own_lock_entry_and_nothing_else(tmp_path: Path) -> None:
    from motivus_dev.reporter import RecordingReporter
    from motivus_dev.toolchain.mvrc import MVRC

    (tmp_path / "Cargo.toml").write_text('[package]\nname = "kmeans"\nversion = "0.2.0"\n')
    (tmp_path / "Cargo.lock").write_text(LOCK)
    reporter = RecordingReporter()
    MVRC.prepare_project(tmp_path, "0.2.0", reporter)
    assert (tmp_path / "Cargo.lock").read_text() == LOCK.replace('version = "0.1.0"', 'version = "0.2.0"')
    said = "Cargo.lock: kmeans 0.1.0 -> 0.2.0 (the crate's own version; no dependency moved)"
    assert ("info", said) in reporter.events
    again = RecordingReporter()
    MVRC.prepare_project(tmp_path, "0.2.0", again)  # in line: nothing to say, nothing written
    assert again.events == []


def test_cargo_and_motivus_yml_versions_that_disagree_are_named(tmp_path: Path) -> None:
    from motivus_dev.reporter import RecordingReporter
    from motivus_dev.toolchain.mvrc import MVRC

    (tmp_path / "Cargo.toml").write_text('[package]\nname = "kmeans"\nversion = "0.2.0"\n')
    reporter = RecordingReporter()
    MVRC.prepare_project(tmp_path, "0.1.0", reporter)
    assert reporter.events == [("warning", "Cargo.toml says version 0.2.0, motivus.yml 0.1.0: the package is built "
                                           "and published as 0.1.0; bump both together")]
