"""Benchmark 7: wasm against native for the same code, with `motivus bench --native`, for the
kit's defaults and, beside them, the previous templates' defaults (one run).

Programs (each with a case heavy enough that start-up is noise):
- the Rust template's k-means: 100,000 x 8 uniform points (params), k = 8;
- the C++ and C templates' k-means: the same points as /input/points.txt, -k 8;
- benchmarks/programs/matmul (Rust, f32 vector-heavy: 384 x 384 matrices, 4 products);
- benchmarks/programs/collatz (C, branchy 64-bit integers: every chain below 1,000,000);
- benchmarks/programs/nbody (C, doubles with sqrt and division: 1,000 bodies, 20 steps).
Before: the Rust and C++ templates as they were (templates/_history: rust 2.1.0 and cpp
1.2.0, kernels and [profile.release]) built without SIMD (`build.simd: false`), plus the
`motivus_native` entry the comparison calls.

Figure: the median `call` phase of 3 runs after a warm-up (the guest's own work, its parsing
included) over the median of 3 native runs: Rust by the toolchain's rustc with cargo's release
defaults, C/C++ by the host's gcc/g++ -O2 (see motivus_dev/native.py). Package size = the
.wasm and the loader .js.

usage: python benchmarks/bench_kernels.py
"""

from __future__ import annotations

import io
import json
import random
import shutil
import sys
import tarfile
from pathlib import Path
from typing import Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

POINTS, DIMS, K = 100_000, 8, 8
PROGRAMS = common.BENCH / "programs"
HISTORY = common.REPO / "templates" / "_history"

NATIVE_ENTRY_RUST = """

/// Added by benchmarks/bench_kernels.py: the same code natively, for `motivus bench --native`.
pub fn motivus_native(params: &str) -> String {
    let (xs, k): (Vec<Vec<f32>>, usize) = serde_json::from_str(params).expect("[points, k]");
    serde_json::to_string(&kmeans(&xs, k)).expect("labels")
}
"""


def points() -> List[List[float]]:
    rng = random.Random(42)
    return [[round(rng.uniform(-10, 10), 4) for _ in range(DIMS)] for _ in range(POINTS)]


def old_file(archive: str, member: str) -> str:
    with tarfile.open(HISTORY / archive) as tar:
        extracted = tar.extractfile(f"template/{member}")
        assert extracted is not None, member
        return io.TextIOWrapper(extracted, encoding="utf-8").read()


def kmeans_project(lang: str, pts: List[List[float]], before: bool) -> Path:
    name = f"bk{lang}{'old' if before else ''}"
    project = common.new_project(name, lang, fresh=True)
    fixtures = project / "tests" / "fixtures"
    if lang == "rust":
        case = {"name": "bench", "params": [pts, K], "expect": {}}
    else:
        (fixtures / "bench-points.txt").write_text("\n".join(" ".join(map(str, p)) for p in pts) + "\n")
        case = {"name": "bench", "arguments": ["-k", str(K)], "result_files": ["/output/labels.txt"],
                "preload_files": {"/input/points.txt": "bench-points.txt"}, "expect": {}}
    if before:
        if lang == "rust":
            (project / "src" / "lib.rs").write_text(old_file("rust/2.1.0.tar.gz", "src/lib.rs") + NATIVE_ENTRY_RUST)
            cargo = project / "Cargo.toml"
            text = cargo.read_text()
            cargo.write_text(text[:text.index("# Measured in the kit's")]
                             + '[profile.release]\nopt-level = "s"\nlto = true\ncodegen-units = 1\n')
        else:
            (project / "src" / "kmeans.cpp").write_text(old_file("cpp/1.2.0.tar.gz", "src/kmeans.cpp"))
        config = project / "motivus.yml"
        config.write_text(config.read_text().replace("build:\n", "build:\n  simd: false\n", 1))
    (fixtures / "bench.yml").write_text(json.dumps(case))
    return project


def program(name: str) -> Path:
    project = common.work_dir() / f"bk{name}"
    if project.exists():
        shutil.rmtree(project)
    shutil.copytree(PROGRAMS / name, project)
    return project


def bench(project: Path, case: Optional[str] = None) -> Dict[str, object]:
    common.build(project, "docker")
    out = common.run(common.MOTIVUS + ["-C", str(project), "bench"] + ([case] if case else [])
                     + ["-n", "3", "--native", "--json"]).stdout
    report = json.loads(out[out.index("{"):])
    stem = common.package_paths(project)
    report["package_bytes"] = stem["wasm"].stat().st_size + stem["js"].stat().st_size
    print(f"   {project.name}: call {report['phases']['call']['median']:.3f} s, native "
          f"{report['native']['seconds']['median']:.3f} s ({report['native']['compiler']}), "
          f"ratio {report['ratio']:.2f}, package {report['package_bytes']:,} B", flush=True)
    return report


def main() -> List[Dict[str, object]]:
    print("== 7. wasm / native of the same code (motivus bench --native)", flush=True)
    pts = points()
    figs = []
    results = {}
    for lang in ("rust", "cpp"):
        for before in (True, False):
            results[(lang, before)] = bench(kmeans_project(lang, pts, before), "bench")
    results[("c", False)] = bench(kmeans_project("c", pts, False), "bench")
    for lang in ("rust", "cpp"):
        old, new = results[(lang, True)], results[(lang, False)]
        figs.append(common.figure(f"{lang} template k-means, wasm / native, before (no SIMD, old kernel)",
                                  float(old["ratio"]), "x"))  # type: ignore[arg-type]
        figs.append(common.figure(f"{lang} template k-means, wasm / native, kit defaults", float(new["ratio"]), "x",
                                  "<= 1.3", float(new["ratio"]) <= 1.3))  # type: ignore[arg-type]
        figs.append(common.figure(f"{lang} template k-means, wasm call before / after",
                                  old["phases"]["call"]["median"] / new["phases"]["call"]["median"], "x"))  # type: ignore[index]
        growth = int(new["package_bytes"]) / int(old["package_bytes"])  # type: ignore[call-overload]
        figs.append(common.figure(f"{lang} template package size, after / before", growth, "x", "<= 1.15",
                                  growth <= 1.15))
    figs.append(common.figure("c template k-means, wasm / native, kit defaults", float(results[("c", False)]["ratio"]),
                              "x", "<= 1.3", float(results[("c", False)]["ratio"]) <= 1.3))  # type: ignore[arg-type]
    for name, target in (("matmul", 1.3), ("collatz", 1.3), ("nbody", 1.1)):
        report = bench(program(name))
        ratio = float(report["ratio"])  # type: ignore[arg-type]
        figs.append(common.figure(f"{name}, wasm / native, kit defaults", ratio, "x", f"<= {target}", ratio <= target))
    return figs


if __name__ == "__main__":
    common.emit_json(main())
