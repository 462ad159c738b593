"""Benchmark 3: compute speed, wasm in a worker vs native, for the Rust and C++ templates and
for a larger floating-point C program (n-body).

Input: 100,000 points x 8 dimensions (uniform in [-10, 10], fixed seed), k = 8, written once as
JSON (the Rust template's ``params[0]``) and as text (the C++ template's ``/input/points.txt``).

How compute is separated from I/O and start-up (a difference of two runs):
every measurement is ``time(k = 8) - time(k = 1)`` on the same input, in the same harness.
With k = 1 k-means converges after one pass (every label is 0), so that run costs the same
start-up, instantiation, input transfer and parsing (JSON or text), result encoding and
output writing as the k = 8 run, and almost no clustering. The difference is the clustering.
- wasm: the built package runs in the kit's worker pool (``motivus_dev.runtime.pool``, the
  loader in a node worker thread, as ``motivus test``/``loopback`` run it); time = the
  pool's task duration. The best of 3 runs of each.
- native: Rust, a small bin crate that includes the template's ``kmeans`` functions
  (src/lib.rs without the wasm-bindgen entry point), built and run in the mvrc image by the
  same rustc 1.85 that compiles the wasm, with cargo's default release profile, timing
  ``kmeans()`` in-process with Instant;
  C++, ``g++ -O2`` of the template's sources, run as a process with ``-i points.txt``.
  Best of 3 of each.
- equal-footing figure (no target): the C++ program built by clang++ 14 -O2, the compiler
  em++ 3.1.6 runs (if clang++-14 is installed). The Rust template and the kit build the wasm
  at opt-level 3, cargo's own release default, as the native side.
- C++ wasm twice: built on the host (Debian 12's emscripten 3.1.6, what mvcc 0.1 pinned) and
  in the mvcc 0.2 image (emscripten 3.1.69).
- n-body (benchmarks/programs/nbody: 1,000 bodies, softened gravity, leapfrog, doubles, sqrt
  and a division per pair): time(100 steps) - time(1 step), wasm built by mvcc 0.2 (and by
  the host's 3.1.6), native by gcc -O2 on the host and by clang 19 -O2 (the compiler of
  emscripten 3.1.69) in the mvcc image. Best of 3.

usage: python benchmarks/bench_compute.py
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from motivus_dev.runtime.package import PackageStore  # noqa: E402
from motivus_dev.runtime.pool import TaskSpec, WorkerPool  # noqa: E402
from motivus_dev.taskbody import TaskBody  # noqa: E402

POINTS, DIMS, K, RUNS = 100_000, 8, 8, 3
CLANGXX = "clang++-14"  # the clang that Debian's emscripten 3.1.6 (em++) runs


def make_input() -> Tuple[Path, Path]:
    """points.json (a JSON list of lists) and points.txt (one point per line)."""
    d = common.work_dir() / "kmeans-input"
    d.mkdir(exist_ok=True)
    js, txt = d / f"points-{POINTS}x{DIMS}.json", d / f"points-{POINTS}x{DIMS}.txt"
    if not js.exists() or not txt.exists():
        # Uniform points: no natural clusters, so Lloyd's needs many passes to settle and
        # the clustering dominates the run (well-separated blobs converge in 2-3 passes).
        rng = random.Random(42)
        pts = [[round(rng.uniform(-10, 10), 4) for _ in range(DIMS)] for _ in range(POINTS)]
        js.write_text(json.dumps(pts, separators=(",", ":")))
        txt.write_text("\n".join(" ".join(str(v) for v in p) for p in pts) + "\n")
    return js, txt


async def _pool_times(specs: Dict[str, TaskSpec]) -> Dict[str, float]:
    """Best-of-RUNS pool duration of each spec (one worker, warm after the first run)."""
    best: Dict[str, float] = {}
    async with WorkerPool(1, 600.0, 4096) as pool:
        for _ in range(RUNS):
            for name, spec in specs.items():
                r = await pool.run(spec)
                if not r.ok:
                    raise SystemExit(f"wasm k-means failed: {r.stderr_text[-2000:]}")
                best[name] = min(best.get(name, 1e9), r.duration)
    return best


def rust_wasm(points_json: Path) -> float:
    project = common.new_project("benchkmrust", "rust")
    common.build(project, "docker")
    paths = common.package_paths(project)
    pkg = PackageStore().intern_files(paths["wasm"].read_bytes(), paths["js"].read_bytes())
    pts = json.loads(points_json.read_text())
    specs = {
        "k8": TaskSpec(pkg, TaskBody(params=[pts, K]), owner="bench"),
        "k1": TaskSpec(pkg, TaskBody(params=[pts, 1]), owner="bench"),
    }
    t = asyncio.run(_pool_times(specs))
    print(f"   rust wasm: k=8 {t['k8']:.3f} s, k=1 {t['k1']:.3f} s", flush=True)
    return t["k8"] - t["k1"]


NATIVE_MAIN = """\
// Benchmark harness: the template's kmeans() compiled natively.
#[allow(dead_code)]
mod km {
    include!("kmeans_fns.rs");
}
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("usage: kmeans-native POINTS.json");
    let xs: Vec<Vec<f32>> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut best = [f64::MAX; 2];
    for _ in 0..RUNS {
        for (i, k) in [8usize, 1].iter().enumerate() {
            let t0 = Instant::now();
            let labels = km::kmeans(&xs, *k);
            let dt = t0.elapsed().as_secs_f64();
            assert_eq!(labels.len(), xs.len());
            best[i] = best[i].min(dt);
        }
    }
    println!("{} {}", best[0], best[1]);
}
"""


def rust_native(points_json: Path, opt_level: str = "3") -> float:
    """Native compute time; ``opt_level`` 3 is cargo's default release, "s" the template's."""
    project = common.new_project("benchkmrust", "rust")
    crate = common.work_dir() / "kmeans-native"
    (crate / "src").mkdir(parents=True, exist_ok=True)
    lib = (project / "src" / "lib.rs").read_text()
    # The template's algorithm without its wasm-bindgen entry point and guest helpers.
    fns = lib[lib.index("/// Lloyd's algorithm"):]
    fns = fns.split("#[cfg(test)]")[0]
    (crate / "src" / "kmeans_fns.rs").write_text(fns)
    (crate / "src" / "main.rs").write_text(NATIVE_MAIN.replace("RUNS", str(RUNS)))
    (crate / "Cargo.toml").write_text(
        '[package]\nname = "kmeans-native"\nversion = "0.0.0"\nedition = "2021"\n\n'
        '[dependencies]\nserde_json = "1"\n\n[profile.release]\nlto = true\ncodegen-units = 1\n'
    )
    # Built and run in the mvrc image: the same rustc 1.85 (and LLVM) that compiles the wasm.
    from motivus_dev.build import CA_BUNDLES
    from motivus_dev.toolchain.images import image_for

    ca = next(bundle for bundle in CA_BUNDLES if bundle.is_file())
    shutil.copy(points_json, crate / "points.json")
    out = common.run([
        "docker", "run", "--rm", "--network", "host", "-v", f"{crate}:/c", "-v", f"{ca}:/ca.crt:ro",
        "-e", "CARGO_HTTP_CAINFO=/ca.crt", "-e", "CARGO_HOME=/c/.cargo-home",
        "-e", f"CARGO_TARGET_DIR=/c/target-opt-{opt_level}", "-e", f"CARGO_PROFILE_RELEASE_OPT_LEVEL={opt_level}",
        "-w", "/c", image_for("mvrc").ref, "sh", "-c",
        f"cargo build --release -q && /c/target-opt-{opt_level}/release/kmeans-native /c/points.json",
    ]).stdout.split()
    k8, k1 = float(out[-2]), float(out[-1])
    print(f"   rust native (opt-level {opt_level}): k=8 {k8:.3f} s, k=1 {k1:.3f} s", flush=True)
    return k8 - k1


def cpp_wasm(points_txt: Path, where: str = "host") -> float:
    project = common.new_project("benchkmcpp", "cpp")
    common.build(project, where, force=True)
    paths = common.package_paths(project)
    pkg = PackageStore().intern_files(paths["wasm"].read_bytes(), paths["js"].read_bytes())
    data = paths["data"].resolve().as_uri() if paths["data"].exists() else None
    pre = {"/input/points.txt": base64.b64encode(points_txt.read_bytes()).decode()}

    def spec(k: int) -> TaskSpec:
        return TaskSpec(pkg, TaskBody(arguments=["-k", str(k)], preload_files=pre, data_link=data), owner="bench")

    t = asyncio.run(_pool_times({"k8": spec(K), "k1": spec(1)}))
    print(f"   c++ wasm ({where}): k=8 {t['k8']:.3f} s, k=1 {t['k1']:.3f} s", flush=True)
    return t["k8"] - t["k1"]


NBODY = common.BENCH / "programs" / "nbody"
NBODY_STEPS = 100


def nbody_wasm(where: str) -> float:
    """n-body compute time of the package built on ``where`` (host: its emscripten; docker:
    the mvcc image's)."""
    project = common.work_dir() / "benchnbody"
    if project.exists():
        shutil.rmtree(project)
    shutil.copytree(NBODY, project)
    common.build(project, where)
    paths = common.package_paths(project)
    pkg = PackageStore().intern_files(paths["wasm"].read_bytes(), paths["js"].read_bytes())
    specs = {
        str(steps): TaskSpec(pkg, TaskBody(arguments=["-s", str(steps)]), owner="bench")
        for steps in (NBODY_STEPS, 1)
    }
    t = asyncio.run(_pool_times(specs))
    print(f"   n-body wasm ({where}): {NBODY_STEPS} steps {t[str(NBODY_STEPS)]:.3f} s, 1 step {t['1']:.3f} s",
          flush=True)
    return t[str(NBODY_STEPS)] - t["1"]


def nbody_native(compiler: str) -> float:
    """n-body compute time natively: ``gcc`` on the host, or ``clang`` 19 in the mvcc image."""
    source = NBODY / "src" / "nbody.c"
    if compiler == "gcc":
        exe = common.work_dir() / "nbody-gcc"
        common.run(["gcc", "-O2", "-o", str(exe), str(source), "-lm"])
        argv: List[str] = [str(exe)]
    else:
        from motivus_dev.toolchain.images import image_for

        out_dir = common.work_dir() / "nbody-clang"
        out_dir.mkdir(exist_ok=True)
        shutil.copy(source, out_dir / "nbody.c")
        common.run(["docker", "run", "--rm", "--network", "none", "-v", f"{out_dir}:/w", "-w", "/w",
                    image_for("mvcc").ref, "clang-19", "-O2", "-o", "nbody", "nbody.c", "-lm"])
        argv = ["docker", "run", "--rm", "--network", "none", "-v", f"{out_dir}:/w", image_for("mvcc").ref,
                "sh", "-c", "for s in " + " ".join([str(NBODY_STEPS), "1"] * RUNS) + "; do "
                "a=$(date +%s.%N); /w/nbody -s $s >/dev/null; b=$(date +%s.%N); echo $s $a $b; done"]
        best = {NBODY_STEPS: 1e9, 1: 1e9}
        for line in common.run(argv).stdout.split("\n"):
            parts = line.split()
            if len(parts) == 3 and parts[0].isdigit():
                best[int(parts[0])] = min(best[int(parts[0])], float(parts[2]) - float(parts[1]))
        print(f"   n-body native (clang 19): {NBODY_STEPS} steps {best[NBODY_STEPS]:.3f} s, "
              f"1 step {best[1]:.3f} s", flush=True)
        return best[NBODY_STEPS] - best[1]
    best = {NBODY_STEPS: 1e9, 1: 1e9}
    for _ in range(RUNS):
        for steps in (NBODY_STEPS, 1):
            t0 = time.perf_counter()
            proc = common.run(argv + ["-s", str(steps)])
            best[steps] = min(best[steps], time.perf_counter() - t0)
            assert "energy" in proc.stdout, proc.stdout
    print(f"   n-body native ({compiler}): {NBODY_STEPS} steps {best[NBODY_STEPS]:.3f} s, 1 step {best[1]:.3f} s",
          flush=True)
    return best[NBODY_STEPS] - best[1]


def cpp_native(points_txt: Path, compiler: str = "g++") -> float:
    """Native compute time of the template's program built by ``compiler`` with -O2."""
    project = common.new_project("benchkmcpp", "cpp")
    exe = common.work_dir() / f"kmeans-cpp-native-{Path(compiler).name}"
    srcs = sorted(str(p) for p in (project / "src").glob("*.cpp"))
    common.run([compiler, "-O2", "-std=c++17", "-o", str(exe)] + srcs)
    out = common.work_dir() / "labels-native.txt"
    best = {1: 1e9, K: 1e9}
    for _ in range(RUNS):
        for k in (K, 1):
            t0 = time.perf_counter()
            proc = common.run([str(exe), "-k", str(k), "-i", str(points_txt), "-o", str(out)])
            best[k] = min(best[k], time.perf_counter() - t0)
            assert re.search(r"iterations", proc.stdout), proc.stdout
    print(f"   c++ native ({Path(compiler).name}): k=8 {best[K]:.3f} s, k=1 {best[1]:.3f} s", flush=True)
    return best[K] - best[1]


def main() -> List[Dict[str, object]]:
    print(f"== 3. compute speed: k-means, {POINTS:,} points x {DIMS} dims, k = {K}", flush=True)
    js, txt = make_input()
    for lang in ("rust", "cpp"):  # made afresh from the kit's current templates
        common.new_project(f"benchkm{lang}", lang, fresh=True)
    figs = []
    rw, rn = rust_wasm(js), rust_native(js)
    figs.append(common.figure("rust k-means compute, wasm", rw, "s"))
    figs.append(common.figure("rust k-means compute, native", rn, "s"))
    figs.append(common.figure("rust wasm / native", rw / rn, "x", "<= 1.3", rw / rn <= 1.3))
    cw, cn = cpp_wasm(txt), cpp_native(txt)
    figs.append(common.figure("c++ k-means compute, wasm", cw, "s"))
    figs.append(common.figure("c++ k-means compute, native", cn, "s"))
    figs.append(common.figure("c++ wasm / native", cw / cn, "x", "<= 1.3", cw / cn <= 1.3))
    # em++ 3.1.6 compiles with clang 14: the same compiler family, natively.
    clang = shutil.which(CLANGXX)
    if clang:
        cc = cpp_native(txt, clang)
        figs.append(common.figure("c++ k-means compute, native clang++ 14", cc, "s"))
        figs.append(common.figure("c++ wasm / native clang++ 14", cw / cc, "x"))
    cw2 = cpp_wasm(txt, "docker")
    figs.append(common.figure("c++ k-means compute, wasm (mvcc 0.2)", cw2, "s"))
    figs.append(common.figure("c++ wasm (mvcc) / native", cw2 / cn, "x", "<= 1.3", cw2 / cn <= 1.3))

    print(f"== 3b. compute speed: n-body, 1,000 bodies, {NBODY_STEPS} steps (doubles)", flush=True)
    nw, nw_old, ng, nc = nbody_wasm("docker"), nbody_wasm("host"), nbody_native("gcc"), nbody_native("clang")
    figs.append(common.figure("c n-body compute, wasm (mvcc 0.2)", nw, "s"))
    figs.append(common.figure("c n-body compute, wasm (host emscripten)", nw_old, "s"))
    figs.append(common.figure("c n-body compute, native gcc -O2", ng, "s"))
    figs.append(common.figure("c n-body compute, native clang 19 -O2", nc, "s"))
    figs.append(common.figure("c n-body wasm (mvcc) / native gcc", nw / ng, "x", "<= 1.1", nw / ng <= 1.1))
    figs.append(common.figure("c n-body wasm (mvcc 0.2) / native clang 19", nw / nc, "x"))
    return figs


if __name__ == "__main__":
    common.emit_json(main())
