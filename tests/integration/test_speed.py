"""The kit's speed tools on real builds of the templates: SIMD128 on by default (and off when
motivus.yml says so), `motivus profile` (a flame graph of a real run, with the module's
function names) and `motivus bench` (runs, phases, and the same code natively), for the
Rust and the C++ template, built in their toolchain images."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import pytest
from click.testing import CliRunner

from motivus_dev.cli import main
from motivus_dev.errors import ConfigError

pytestmark = [pytest.mark.integration, pytest.mark.docker]

#: A case heavy enough for a profiler's samples: 32 well-separated blobs in 16 dimensions,
#: the points dealt round-robin, so that the labels are known: point i is in cluster i % 32.
BLOBS, DIMS, POINTS = 32, 16, 6000
HEAVY = "heavy blobs"


def motivus(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def blob_points() -> List[List[float]]:
    rng = random.Random(7)
    return [[round((i % BLOBS) * 100.0 + rng.uniform(-1, 1), 3) for _ in range(DIMS)] for i in range(POINTS)]


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """The Rust and C++ templates with the heavy case, built in their images."""
    parent = tmp_path_factory.mktemp("speed")
    points = blob_points()
    labels = [i % BLOBS for i in range(POINTS)]
    made = {}
    for lang in ("rust", "cpp"):
        result = motivus("-C", str(parent), "new", f"sp{lang}", "--lang", lang, "--defaults", "--no-git")
        assert result.exit_code == 0, result.output
        project = parent / f"sp{lang}"
        fixtures = project / "tests" / "fixtures"
        if lang == "rust":
            case = {"name": HEAVY, "params": [points, BLOBS], "expect": {"data": labels}}
        else:
            (fixtures / "blobs.txt").write_text("\n".join(" ".join(map(str, p)) for p in points) + "\n")
            case = {"name": HEAVY, "arguments": ["-k", str(BLOBS)], "preload_files": {"/input/points.txt": "blobs.txt"},
                    "result_files": ["/output/labels.txt"],
                    "expect": {"result_files": {"/output/labels.txt": "".join(f"{label}\n" for label in labels)}}}
        (fixtures / "heavy.yml").write_text(json.dumps(case))  # JSON is YAML
        result = motivus("-C", str(project), "build", "--toolchain", "docker")
        assert result.exit_code == 0, result.output
        made[lang] = project
    return made


def simd_instructions(wasm: Path) -> int:
    """How many SIMD128 instructions the module's code has (wabt's disassembly)."""
    listing = subprocess.run(["wasm-objdump", "-d", str(wasm)], capture_output=True, text=True, check=True).stdout
    return sum(1 for line in listing.splitlines() if any(op in line for op in ("v128.", "f32x4.", "f64x2.", "i32x4.")))


def test_simd128_is_on_by_default_and_build_simd_false_turns_it_off(projects: Dict[str, Path]) -> None:
    for lang, project in projects.items():
        assert simd_instructions(project / "build" / f"sp{lang}-0.0.1.wasm") > 0, lang
    project = projects["cpp"]
    config = project / "motivus.yml"
    original = config.read_text()
    config.write_text(original.replace("build:\n", "build:\n  simd: false\n", 1))
    try:
        result = motivus("-C", str(project), "build", "--toolchain", "docker")
        assert result.exit_code == 0, result.output
        assert simd_instructions(project / "build" / "spcpp-0.0.1.wasm") == 0
        assert motivus("-C", str(project), "test", "-k", "preloaded").exit_code == 0
    finally:
        config.write_text(original)
    bad = original.replace("build:\n", "build:\n  simd: maybe\n", 1)
    config.write_text(bad)
    try:
        result = motivus("-C", str(project), "build")
        assert result.exit_code != 0
        assert "'build.simd' is 'maybe', not true or false" in result.output and "Traceback" not in result.output
    finally:
        config.write_text(original)


#: Functions of the runtime each module links, by the names of its name section (a module
#: without it shows wasm-function[N]); the templates' kernels are inlined into main.
RUNTIME = {"rust": "serde_json::", "cpp": "std::"}


@pytest.mark.parametrize("lang", ["rust", "cpp"])
def test_profile_writes_a_flame_graph_named_from_the_module(projects: Dict[str, Path], lang: str,
                                                            tmp_path: Path) -> None:
    project = projects[lang]
    release = (project / "build" / f"sp{lang}-0.0.1.wasm").read_bytes()
    result = motivus("-C", str(project), "profile", HEAVY, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["passed"] is True
    assert set(report["phases"]) == {"input", "instantiate", "call", "output"}
    assert report["phases"]["call"] > 0
    # the release package is untouched; the named one is beside it
    assert (project / "build" / f"sp{lang}-0.0.1.wasm").read_bytes() == release
    named = project / ".motivus" / "profile" / f"sp{lang}-0.0.1.wasm"
    assert named.stat().st_size > len(release)
    wasm_functions = [f for f in report["functions"] if f["wasm"]]
    shown = [f["name"] for f in wasm_functions][:20]
    assert any(f["name"] == "main" and f["self_ms"] > 0 for f in wasm_functions), shown
    assert any(f["name"].startswith(RUNTIME[lang]) for f in wasm_functions), shown
    # the .cpuprofile is V8's, and the page opens it in speedscope in a real browser
    profile = json.loads(Path(report["files"]["cpuprofile"]).read_text())
    assert {"nodes", "samples", "timeDeltas"} <= set(profile)
    assert any(node["callFrame"]["functionName"].startswith(RUNTIME[lang]) for node in profile["nodes"])
    page = Path(report["files"]["page"])
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "the set-up installs chromium"
    dom = subprocess.run(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'chrome'}",
         "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120).stdout
    assert "speedscope" in dom and Path(report["files"]["cpuprofile"]).name in dom, dom[-2000:]


@pytest.mark.parametrize("lang", ["rust", "cpp"])
def test_bench_reports_each_phase_and_the_ratio_to_the_same_code_natively(projects: Dict[str, Path],
                                                                          lang: str) -> None:
    result = motivus("-C", str(projects[lang]), "bench", HEAVY, "-n", "3", "--native", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["runs"] == 3 and report["warmup"] == 1
    seconds = report["seconds"]
    assert 0 < seconds["min"] <= seconds["median"] <= seconds["max"]
    assert report["phases"]["call"]["median"] > 0
    assert report["native"]["compiler"].startswith("rustc 1.85" if lang == "rust" else "g++")
    assert report["native"]["seconds"]["median"] > 0
    assert report["ratio"] == pytest.approx(report["phases"]["call"]["median"] / report["native"]["seconds"]["median"])


def test_profile_and_bench_name_the_cases_when_one_is_wrong(projects: Dict[str, Path]) -> None:
    for command in ("profile", "bench"):
        result = motivus("-C", str(projects["cpp"]), command, "no such case")
        assert result.exit_code == ConfigError.exit_code, result.output
        assert "no fixture case matches 'no such case'" in result.output and HEAVY in result.output
        assert "Traceback" not in result.output
