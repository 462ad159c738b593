"""mvrc 0.2 in its container: crates from crates.io, the real wasm-bindgen CLI, offline builds.

Each package is built by the kit (`motivus build --toolchain docker`) and run through the
reference worker exactly as the platform's worker runs it (worker-contract.md), read as the
published 2.4.0 client reads it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from click.testing import CliRunner
from reference_worker import check_ascii, run_reference

from motivus_dev.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.docker]

ROOT = Path(__file__).resolve().parents[2]
RUST_DATA = ROOT / "tests" / "data" / "rust"


def motivus(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def make_project(parent: Path, crate: str, name: str = "") -> Path:
    """A project around one of the test crates: the crate plus a motivus.yml."""
    project = parent / (name or crate)
    shutil.copytree(RUST_DATA / crate, project)
    (project / "motivus.yml").write_text(
        f"version: 1.0\nbuild:\n  compiler: mvrc\npackage:\n  name: {name or crate}\n  version: 0.0.1\n"
    )
    return project


def build(project: Path, *extra: str) -> Any:
    result = motivus("-C", str(project), "build", "--toolchain", "docker", "-v", *extra)
    return result


class Package:
    def __init__(self, project: Path) -> None:
        self.project = project
        [self.loader] = (project / "build").glob("*.js")
        self.wasm = self.loader.with_suffix(".wasm")

    def run(self, tasks: List[Dict[str, Any]], *options: str) -> List[Dict[str, Any]]:
        check_ascii(self.loader)
        results = run_reference(self.loader, self.wasm, tasks, *options, timeout=120)
        for r in results:
            assert "harnessError" not in r, r
        return results


@pytest.fixture(scope="module")
def user_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One user's cache for the module's builds (downloads shared between the projects)."""
    cache = tmp_path_factory.mktemp("user-cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("MOTIVUS_CACHE_DIR", str(cache))
    yield cache
    patch.undo()


@pytest.fixture(scope="module")
def types(tmp_path_factory: pytest.TempPathFactory, user_cache: Path) -> Package:
    project = make_project(tmp_path_factory.mktemp("t"), "types")
    result = build(project)
    assert result.exit_code == 0, result.output
    return Package(project)


ROUND_TRIPS: List[Tuple[str, List[Any], Any]] = [
    ("main", [{"a": [1, "x"]}, 2], [{"a": [1, "x"]}, {"a": [1, "x"]}]),
    ("echo_ref", [{"x": 1}], {"x": 1}),
    ("echo_owned", [[1, "a", None]], [1, "a", None]),
    ("strings", ["héllo", "wörld ✓"], "héllo|wörld ✓"),
    ("id_u8", [255], 255),
    ("id_i32", [-2147483648], -2147483648),
    ("id_u32", [4294967295], 4294967295),
    ("id_f64", [3.141592653589793], 3.141592653589793),
    ("id_bool", [True], True),
    ("id_char", ["😀"], "😀"),
    ("vec_f64", [[1, 2, 3.5]], [3.5, 2, 1]),
    ("slice_i32", [[1, -2, 3]], [2, -4, 6]),
    ("js_vec", [[1, {"b": 2}, "c"]], ["c", {"b": 2}, 1]),
    ("opt_i32", [None], None),
    ("opt_i32", [41], 42),
    ("opt_string", ["abc"], "ABC"),
    ("res_f64", [16], 4),
    ("res_opt", [0], None),
    ("unit", [], None),
    # what the hand-written ABI could not do: structs, js-sys, closures
    ("point", [1.5, 2], {"x": 1.5, "y": 2}),
    ("js_sys_sum", [[4, 9]], 5),
]


def test_what_wasm_bindgen_supports_round_trips(types: Package) -> None:
    results = types.run([{"entry": entry, "params": params} for entry, params, _ in ROUND_TRIPS])
    failures = [
        (entry, params, expected, result)
        for (entry, params, expected), result in zip(ROUND_TRIPS, results)
        if result["exitCode"] != 0 or result["out"]["data"] != expected
    ]
    assert not failures, failures


def test_err_panic_and_unknown_entry_fail_the_task_with_the_message(types: Package) -> None:
    cases = [
        ("res_f64", [-1], "negative input"),
        ("res_vec", [9], "too many"),
        ("panics", ["boom at the end"], "boom at the end"),  # console_error_panic_hook's message
        ("nope", [], 'has no exported function "nope"'),
    ]
    results = types.run([{"entry": entry, "params": params} for entry, params, _ in cases])
    for (entry, _params, message), result in zip(cases, results):
        assert result["exitCode"] == 1, (entry, result)
        assert message in result["stderr"], (entry, result)
        assert result["out"] == {}
    assert "panicked at src/lib.rs:" in results[2]["stderr"]


def test_console_of_the_guest_is_the_tasks_stdout_and_stderr(types: Package) -> None:
    [result] = types.run([{"entry": "logs", "params": ["hi ✓"]}])
    assert result["exitCode"] == 0 and result["out"]["data"] == len("hi ✓".encode())
    assert result["stdout"] == "out: hi ✓\nweb-sys: hi ✓\n"
    assert result["stderr"] == "err: hi ✓\n"


def test_tasks_on_one_warm_worker_do_not_share_state(types: Package) -> None:
    tasks: List[Dict[str, Any]] = [
        {"entry": "stateful"},
        {"entry": "leak", "params": [{"big": [1] * 100}]},
        {"entry": "panics", "params": ["midway"]},
        {"entry": "logs", "params": ["x"]},
        {"entry": "stateful"},
    ]
    results = types.run(tasks, "--reuse")
    assert [r["out"].get("data") for r in results] == [1, 1, None, 1, 1]
    assert results[3]["stderr"] == "err: x\n" and "midway" in results[2]["stderr"]


def test_the_package_loads_where_node_16_can(types: Package) -> None:
    """No reference types (the externref table of wasm-bindgen) and a 7-bit ASCII loader."""
    from motivus_dev.wasm.features import unsupported_features
    from motivus_dev.wasm.module import parse_module

    wasm = types.wasm.read_bytes()
    assert unsupported_features(wasm) == {}
    assert "__wbindgen_externrefs" not in parse_module(wasm).export_names("table")
    assert types.loader.read_bytes().isascii()


FIXTURE = """name: {name}
params: {params}
expect:
  {expect}
"""


def write_fixtures(project: Path, cases: Dict[str, Tuple[str, str]]) -> None:
    fixtures = project / "tests" / "fixtures"
    fixtures.mkdir(parents=True, exist_ok=True)
    for name, (params, expect) in cases.items():
        (fixtures / f"{name}.yml").write_text(FIXTURE.format(name=name, params=params, expect=expect))
    config = project / "motivus.yml"
    config.write_text(config.read_text() + "tests:\n  fixtures: tests/fixtures\n")


def test_the_platform_templates_cargo_toml_builds_and_passes(
        tmp_path: Path, user_cache: Path) -> None:
    """An optional wee_alloc, a dev-dependency on wasm-bindgen-test, the panic hook feature
    and no Cargo.lock: the lock is resolved on the first build, with wasm-bindgen held at
    the version of the image's CLI, and the second build does nothing."""
    project = make_project(tmp_path, "platform-shape")
    write_fixtures(project, {
        "sum": ("[[1, 2, 3.5]]", "data: 6.5"),
        "empty": ("[[]]", "failure: main needs at least one number"),
    })
    assert not (project / "Cargo.lock").exists()
    result = motivus("-C", str(project), "test", "--toolchain", "docker")
    assert result.exit_code == 0, result.output
    assert "2 passed" in result.output
    lock = (project / "Cargo.lock").read_text()
    assert 'name = "wasm-bindgen"\nversion = "0.2.108"' in lock
    assert 'name = "wee_alloc"' in lock and 'name = "wasm-bindgen-test"' in lock
    again = motivus("-C", str(project), "build", "--toolchain", "docker")
    assert again.exit_code == 0 and "up to date" in again.output, again.output
    [reply] = Package(project).run([{"params": [[1, 2]]}])
    assert reply["stdout"] == "sum of 2 numbers\n"


def test_a_crate_no_distribution_packages_builds_and_passes(tmp_path: Path, user_cache: Path) -> None:
    project = make_project(tmp_path, "medians", "medians-demo")
    write_fixtures(project, {
        "odd": ("[[5, 1, 3, 2, 4]]", "data: 3"),
        "none": ("[[]]", "failure: no median"),
    })
    result = motivus("-C", str(project), "test", "--toolchain", "docker")
    assert result.exit_code == 0, result.output
    assert 'name = "medians"' in (project / "Cargo.lock").read_text()


def vendor(project: Path) -> None:
    """`cargo vendor` in the mvrc image, as an author would run it on a machine with the
    network: vendor/ and the .cargo/config.toml that points cargo at it."""
    from motivus_dev.build import CA_BUNDLES
    from motivus_dev.toolchain.images import image_for

    ca = next(bundle for bundle in CA_BUNDLES if bundle.is_file())
    (project / ".cargo").mkdir()
    subprocess.run(
        ["docker", "run", "--rm", "--network", "host", "-v", f"{project}:/p", "-v", f"{ca}:/ca.crt:ro",
         "-e", "CARGO_HTTP_CAINFO=/ca.crt", "-e", "CARGO_HOME=/tmp/cargo", "-w", "/p",
         image_for("mvrc").ref, "sh", "-c", "cargo vendor --locked > .cargo/config.toml 2>/dev/null"],
        check=True,
    )


def test_offline_builds_use_vendor_or_the_download_cache_and_name_what_is_missing(
        tmp_path: Path, user_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(tmp_path, "medians", "medians-offline")
    assert build(project).exit_code == 0  # online: resolves and fills the download cache
    # offline from the download cache
    shutil.rmtree(project / ".motivus")
    result = build(project, "--offline", "--force")
    assert result.exit_code == 0, result.output
    # offline with an empty cache: the missing crate is named, with the two ways out
    monkeypatch.setenv("MOTIVUS_CACHE_DIR", str(tmp_path / "empty-cache"))
    shutil.rmtree(project / ".motivus")
    result = build(project, "--offline", "--force")
    assert result.exit_code == 6, result.output
    assert "medians" in result.output and "cargo vendor" in result.output
    assert "Traceback" not in result.output
    # vendored: offline with an empty cache works
    vendor(project)
    assert (project / "vendor" / "medians").is_dir()
    result = build(project, "--offline", "--force")
    assert result.exit_code == 0, result.output
    [reply] = Package(project).run([{"params": [[3, 1, 2]]}])
    assert reply["out"] == {"data": 2}


def test_another_wasm_bindgen_version_gets_its_cli_built_once(tmp_path: Path, user_cache: Path) -> None:
    """A lock that says wasm-bindgen 0.2.106 (not the image's 0.2.108) gets the CLI 0.2.106,
    built once with `cargo install --locked` into the user's cache; the next project of that
    version uses it."""
    first = make_project(tmp_path, "medians", "pinned-a")
    manifest = first / "Cargo.toml"
    manifest.write_text(manifest.read_text().replace('wasm-bindgen = "0.2.100"', 'wasm-bindgen = "=0.2.106"'))
    result = build(first)
    assert result.exit_code == 0, result.output
    assert "building the wasm-bindgen CLI 0.2.106" in result.output
    assert "with wasm-bindgen 0.2.106" in result.output
    second = tmp_path / "pinned-b"
    shutil.copytree(first, second, ignore=shutil.ignore_patterns(".motivus", "build"))
    result = build(second)
    assert result.exit_code == 0, result.output
    assert "building the wasm-bindgen CLI" not in result.output
    [reply] = Package(second).run([{"params": [[3, 1, 2]]}])
    assert reply["out"] == {"data": 2}
