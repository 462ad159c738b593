"""mvrc on the host: build.sh compiles real crates, the kit generates the loader, and the
loader runs through the node harness exactly as a worker runs it (worker-contract.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from kmeans_data import SEED_POINTS
from reference_worker import check_ascii, run_reference

from motivus_dev.wasm_bindgen import generate_rust_loader

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BUILD_SH = ROOT / "toolchains" / "mvrc" / "build.sh"
RUST_DATA = ROOT / "tests" / "data" / "rust"



def _require_tools() -> None:
    for tool, package in (("/usr/bin/cargo", "cargo"), ("/usr/bin/rustc", "rustc")):
        if not os.path.exists(tool):
            pytest.skip(f"{tool} is missing (apt-get install {package})")
    if not Path("/usr/lib/rustlib/wasm32-unknown-unknown").exists():
        pytest.skip("the wasm32 Rust std is missing (apt-get install libstd-rust-dev-wasm32)")
    if shutil.which("wasm-opt") is None:
        pytest.skip("wasm-opt is missing (apt-get install binaryen)")
    if shutil.which("node") is None:
        pytest.skip("node is missing (apt-get install nodejs)")


def make_project(parent: Path, crate: str) -> Path:
    """A project as `motivus new` lays it out: the crate plus src/motivus.rs."""
    project = parent / "proj"
    shutil.copytree(RUST_DATA / crate, project)
    shutil.copy(ROOT / "templates" / "rust" / "template" / "src" / "motivus.rs", project / "src" / "motivus.rs")
    return project


def run_build(project: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(
        MOTIVUS_PROJECT=str(project),
        MOTIVUS_SOURCE=".",
        MOTIVUS_LANG="rust",
        MOTIVUS_NAME=project.name,
        MOTIVUS_VERSION="0.0.1",
        MOTIVUS_PROFILE="release",
        MOTIVUS_OUT=str(project / ".motivus" / "out" / "mvrc"),
        MOTIVUS_CACHE=str(project / ".motivus" / "cache" / "mvrc"),
    )
    proc = subprocess.run(["sh", str(BUILD_SH)], env=env, capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


class Package:
    def __init__(self, project: Path, name: str) -> None:
        self.project = project
        self.module = (project / ".motivus" / "out" / "mvrc" / "module.wasm").read_bytes()
        loader = generate_rust_loader(self.module, name, "0.0.1")
        self.loader_js = loader.loader_js
        self.wasm = loader.wasm
        self.loader_path = project / "loader.js"
        self.wasm_path = project / "package.wasm"
        self.loader_path.write_text(self.loader_js, encoding="utf-8")
        self.wasm_path.write_bytes(self.wasm)

    def run(self, tasks: List[Dict[str, Any]], *options: str) -> List[Dict[str, Any]]:
        """Run tasks as the platform's worker does (a new worker each; ``--reuse``: one warm
        worker for all), read as the 2.4.0 client reads them."""
        check_ascii(self.loader_path)
        results = run_reference(self.loader_path, self.wasm_path, tasks, *options, timeout=120)
        for r in results:
            assert "harnessError" not in r, r
        return results


@pytest.fixture(scope="module")
def kmeans(tmp_path_factory: pytest.TempPathFactory) -> Package:
    _require_tools()
    project = make_project(tmp_path_factory.mktemp("a"), "kmeans")
    run_build(project)
    return Package(project, "kmeans")


@pytest.fixture(scope="module")
def kmeans_elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Package:
    _require_tools()
    project = make_project(tmp_path_factory.mktemp("b") / "deeper" / "path", "kmeans")
    run_build(project)
    return Package(project, "kmeans")


@pytest.fixture(scope="module")
def types(tmp_path_factory: pytest.TempPathFactory) -> Package:
    _require_tools()
    project = make_project(tmp_path_factory.mktemp("t"), "types")
    run_build(project)
    return Package(project, "types")


def test_kmeans_clusters_the_seed_points(kmeans: Package) -> None:
    [result] = kmeans.run([{"params": [SEED_POINTS, 2]}])
    assert result["exitCode"] == 0, result["stderr"]
    labels = result["out"]["data"]
    assert len(labels) == 10 and set(labels) == {0, 1}
    assert len(set(labels[:5])) == 1 and len(set(labels[5:])) == 1 and labels[0] != labels[5]
    assert result["stdout"] == "k-means of 10 points, k = 2\n"
    assert len(kmeans.module) < 100_000, f"k-means module is {len(kmeans.module)} bytes"
    assert len(kmeans.loader_js) < 40_000, f"loader is {len(kmeans.loader_js)} bytes"


@pytest.mark.parametrize("mode", [(), ("--wasm-only",), ("--reuse",)])
def test_loader_accepts_base64_or_bytes_fresh_or_warm(kmeans: Package, mode: Tuple[str, ...]) -> None:
    results = kmeans.run([{"params": [SEED_POINTS, 2]}, {"params": [SEED_POINTS[:4], 1]}], *mode)
    assert [r["exitCode"] for r in results] == [0, 0]
    assert results[1]["out"] == {"data": [0, 0, 0, 0]} and results[1]["value"] == [0, 0, 0, 0]


def test_main_is_called_as_the_platform_calls_it_extra_params_ignored(kmeans: Package) -> None:
    # main.apply(null, params): a third param is ignored, a missing one is a clear error
    extra, missing = kmeans.run([{"params": [SEED_POINTS[:4], 1, "ignored"]}, {"params": [SEED_POINTS[:4]]}])
    assert extra["exitCode"] == 0 and extra["value"] == [0, 0, 0, 0]
    assert missing["exitCode"] == 1 and "main takes 2 params" in missing["stderr"] and missing["out"] == {}


def test_kmeans_bad_input_fails_with_the_panic_message(kmeans: Package) -> None:
    results = kmeans.run(
        [{"params": ["not points", 2]}, {"params": [SEED_POINTS]}, {"params": [SEED_POINTS, 2]}], "--reuse"
    )
    assert results[0]["exitCode"] != 0
    assert "panicked at" in results[0]["stderr"] and "invalid type" in results[0]["stderr"]
    assert results[0]["out"] == {}
    assert results[1]["exitCode"] != 0 and "takes 2 params" in results[1]["stderr"]
    # The same worker still answers correctly after two failures.
    assert results[2]["exitCode"] == 0 and results[2]["out"]["data"][0] != results[2]["out"]["data"][9]


ROUND_TRIPS: List[Tuple[str, List[Any], Any]] = [
    ("main", [{"a": [1, 2]}, 2], [{"a": [1, 2]}, {"a": [1, 2]}]),
    ("echo_ref", [{"x": 1}], {"x": 1}),
    ("echo_owned", [[1, "a", None]], [1, "a", None]),
    ("strings", ["héllo", "wörld ✓"], "héllo|wörld ✓"),
    ("id_i8", [-128], -128),
    ("id_u8", [255], 255),
    ("id_i16", [-32768], -32768),
    ("id_u16", [65535], 65535),
    ("id_i32", [-2147483648], -2147483648),
    ("id_u32", [4294967295], 4294967295),
    ("id_i64", ["-9223372036854775808"], "-9223372036854775808"),
    ("id_i64", [42], 42),
    ("id_u64", ["18446744073709551615"], "18446744073709551615"),
    ("id_isize", [-5], -5),
    ("id_usize", [7], 7),
    ("id_f32", [1.5], 1.5),
    ("id_f64", [3.141592653589793], 3.141592653589793),
    ("id_bool", [True], True),
    ("id_bool", [False], False),
    ("id_char", ["😀"], "😀"),
    ("mixed", [1, 2.5, 3, True, 0.5], 1007),
    ("vec_f64", [[1, 2, 3.5]], [3.5, 2, 1]),
    ("slice_i32", [[1, -2, 3]], [2, -4, 6]),
    ("slice_f32", [[0.5, 1.25]], [0.5, 1.25]),
    ("vec_u8", [[1, 2, 255]], [255, 2, 1]),
    ("vec_i8", [[-1, 127]], [-1, 127]),
    ("vec_i16", [[-300, 300]], [-300, 300]),
    ("vec_u32", [[4294967295, 0]], [4294967295, 0]),
    ("box_u16", [[65535, 0]], [65535, 0]),
    ("vec_i64", [[1, "-9223372036854775807"]], [0, "-9223372036854775808"]),
    ("vec_u64", [["18446744073709551615", 3]], ["18446744073709551615", 3]),
    ("vec_f64", [[]], []),
    ("js_vec", [[1, {"b": 2}, "c"]], ["c", {"b": 2}, 1]),
    ("js_box", [[[1], None]], [[1], None]),
    ("opt_i32", [None], None),
    ("opt_i32", [41], 42),
    ("opt_u32", [4294967295], 4294967295),
    ("opt_f64", [None], None),
    ("opt_f64", [1.25], 2.5),
    ("opt_f32", [2.5], 2.5),
    ("opt_i64", ["-5"], -5),
    ("opt_i64", [None], None),
    ("opt_u8", [None], None),
    ("opt_u8", [200], 200),
    ("opt_bool", [False], True),
    ("opt_bool", [None], None),
    ("opt_char", ["z"], "z"),
    ("opt_string", ["abc"], "ABC"),
    ("opt_string", [None], None),
    ("opt_vec", [[1, 2]], [1, 2]),
    ("opt_vec", [None], None),
    ("opt_js", [[1, "x"]], [1, "x"]),
    ("opt_js", [None], None),
    ("res_f64", [16], 4),
    ("res_string", [True], "fine"),
    ("res_unit", [True], None),
    ("res_js", [[1, 2, 3]], 6),
    ("res_vec", [3], [0, 1, 2]),
    ("res_opt", [3], 1.5),
    ("res_opt", [0], None),
    ("unit", [], None),
]


def test_every_supported_type_round_trips(types: Package) -> None:
    results = types.run([{"entry": entry, "params": params} for entry, params, _ in ROUND_TRIPS])
    failures = []
    for (entry, params, expected), result in zip(ROUND_TRIPS, results):
        if result["exitCode"] != 0 or result["out"]["data"] != expected:
            failures.append((entry, params, expected, result))
    assert not failures, failures


FAILURES: List[Tuple[str, List[Any], str]] = [
    ("res_f64", [-1], "res_f64 returned Err: negative input"),
    ("res_string", [False], "res_string returned Err: not fine"),
    ("res_unit", [False], "res_unit returned Err: unit failed"),
    ("res_js", ["no"], "res_js returned Err: bad input: invalid type"),
    ("res_vec", [9], "res_vec returned Err: too many"),
    ("res_opt", [-3], "res_opt returned Err: negative"),
    ("panics", ["boom at the end"], "panicked at 'boom at the end', src/lib.rs:"),
    ("id_u8", [256], "id_u8 parameter 1: expected u8, got 256"),
    ("id_i64", [1.5], "expected i64"),
    ("id_bool", [1], "expected bool"),
    ("strings", ["a"], "strings takes 2 params"),
    ("nope", [], 'has no exported function "nope"'),
]


def test_err_panic_and_bad_params_fail_the_task_with_the_message(types: Package) -> None:
    results = types.run([{"entry": entry, "params": params} for entry, params, _ in FAILURES])
    for (entry, _params, message), result in zip(FAILURES, results):
        assert result["exitCode"] != 0, (entry, result)
        assert message in result["stderr"], (entry, result)
        assert result["out"] == {}


def test_log_lines_reach_stdout_and_stderr(types: Package) -> None:
    [result] = types.run([{"entry": "logs", "params": ["hi ✓"]}])
    assert result["exitCode"] == 0
    assert result["out"]["data"] == len("hi ✓".encode())
    assert (result["stdout"], result["stderr"]) == ("out: hi ✓\n", "err: hi ✓\n")


def test_tasks_on_one_worker_do_not_share_state(types: Package) -> None:
    tasks: List[Dict[str, Any]] = [
        {"entry": "stateful"},
        {"entry": "stateful"},
        {"entry": "leak", "params": [{"big": [1] * 100}]},
        {"entry": "panics", "params": ["midway"]},
        {"entry": "leak", "params": [1]},
        {"entry": "stateful"},
    ]
    results = types.run(tasks, "--reuse")
    assert [r["out"].get("data") for r in results] == [1, 1, 1, None, 1, 1]
    # stdout/stderr are per task too.
    assert results[4]["stderr"] == "" and "midway" in results[3]["stderr"]


def test_build_is_deterministic_across_project_paths(kmeans: Package, kmeans_elsewhere: Package) -> None:
    assert str(kmeans.project) != str(kmeans_elsewhere.project)
    assert kmeans.module == kmeans_elsewhere.module
    assert kmeans.loader_js == kmeans_elsewhere.loader_js
    assert kmeans.wasm == kmeans_elsewhere.wasm
    assert str(kmeans.project).encode() not in kmeans.module


def test_rebuild_without_changes_is_fast_and_identical(kmeans_elsewhere: Package) -> None:
    start = time.monotonic()
    run_build(kmeans_elsewhere.project)
    assert time.monotonic() - start < 15
    assert (kmeans_elsewhere.project / ".motivus/out/mvrc/module.wasm").read_bytes() == kmeans_elsewhere.module


def test_compile_error_shows_rustc_message_and_fails(kmeans_elsewhere: Package) -> None:
    lib = kmeans_elsewhere.project / "src" / "lib.rs"
    original = lib.read_text()
    try:
        lib.write_text(original + '\npub fn broken() -> u32 { "not a number" }\n')
        proc = run_build(kmeans_elsewhere.project, check=False)
        assert proc.returncode != 0
        assert "error[E0308]: mismatched types" in proc.stderr
    finally:
        lib.write_text(original)
