"""Benchmark 4: build speed of the templates, container vs host.

For each template (rust, cpp) and toolchain (docker, host), on a fresh project:
cold build (no cache), no-op rebuild, and a one-line change (a comment line appended to a
source file, so the compiler really runs again). The compiler's own incremental time is
measured on the host with the same cache the build left, as the steps a hand-made release
build of the same code runs: Rust, ``cargo build`` (same profile environment as
toolchains/mvrc/build.sh) after the same one-line change, then ``wasm-opt -O3`` (what
wasm-pack runs too); C++, ``em++ -O2 -c`` of the changed file plus the link of all objects
(em++'s link runs binaryen's optimiser itself). cargo alone is printed as well.

usage: python benchmarks/bench_build.py [rust|cpp ...]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

LANGS = sys.argv[1:] or ["rust", "cpp"]
CHANGED = {"rust": "src/lib.rs", "cpp": "src/kmeans.cpp"}


def _touch_line(project: Path, lang: str, n: int) -> None:
    f = project / CHANGED[lang]
    f.write_text(f.read_text() + f"// benchmark change {n}\n")


def _cargo_incremental(project: Path) -> float:
    """cargo's own rebuild after a one-line change, with build.sh's environment."""
    cache = project / ".motivus/cache/mvrc"
    env = {
        "CARGO_HOME": str(cache / "cargo-home"), "RUSTC": common.RUSTC,
        "CARGO_TARGET_DIR": str(cache / "target"), "SOURCE_DATE_EPOCH": "0", "CARGO_INCREMENTAL": "0",
        "RUSTFLAGS": f"--remap-path-prefix={project}=/project --remap-path-prefix={cache}=/cache "
                     f"--remap-path-prefix={common.REGISTRY}=/registry",
        "CARGO_PROFILE_RELEASE_OPT_LEVEL": "s", "CARGO_PROFILE_RELEASE_LTO": "true",
        "CARGO_PROFILE_RELEASE_CODEGEN_UNITS": "1", "CARGO_PROFILE_RELEASE_PANIC": "abort",
        "CARGO_PROFILE_RELEASE_DEBUG": "0", "CARGO_PROFILE_RELEASE_STRIP": "symbols",
        "CARGO_PROFILE_RELEASE_INCREMENTAL": "false",
    }
    _touch_line(project, "rust", 99)
    return common.timed([common.CARGO, "build", "--offline", "--lib", "--target", "wasm32-unknown-unknown",
                         "--release"], cwd=project, env=env)


def _wasm_opt(project: Path) -> float:
    """The release optimisation of the module cargo just built (as build.sh runs it)."""
    target = project / ".motivus/cache/mvrc/target/wasm32-unknown-unknown/release"
    (module,) = [p for p in target.glob("*.wasm")]
    return common.timed(["wasm-opt", "-O3", "--strip-debug", "--strip-producers", str(module),
                         "-o", str(common.work_dir() / "wasm-opt-out.wasm")])


def _emcc_incremental(project: Path) -> float:
    """em++ -O2 of the one changed file, then the link of all objects (no packaging)."""
    tmp = common.work_dir() / "emcc-incr"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    env = {"NODE_PATH": "/usr/share/nodejs"}
    srcs = sorted((project / "src").glob("*.cpp"))
    for s in srcs:  # the other objects exist already, as in an incremental build
        common.run(["em++", "-O2", "-std=c++17", "-c", str(s), "-o", str(tmp / (s.stem + ".o"))], env=env)
    _touch_line(project, "cpp", 99)
    changed = project / CHANGED["cpp"]
    t0 = time.perf_counter()
    common.run(["em++", "-O2", "-std=c++17", "-c", str(changed), "-o", str(tmp / (changed.stem + ".o"))], env=env)
    common.run(["em++", "-O2", "-sALLOW_MEMORY_GROWTH=1", "-sEXIT_RUNTIME=1", "-sFORCE_FILESYSTEM=1",
                "-sEXPORTED_RUNTIME_METHODS=FS"] + [str(tmp / (s.stem + ".o")) for s in srcs]
               + ["-o", str(tmp / "out.js")], env=env)
    return time.perf_counter() - t0


def main() -> List[Dict[str, object]]:
    print(f"== 4. build speed ({', '.join(LANGS)}; docker vs host)", flush=True)
    figs: List[Dict[str, object]] = []
    docker_ok = subprocess.run(["docker", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    for lang in LANGS:
        t: Dict[str, Dict[str, float]] = {}
        for tc in (["docker"] if docker_ok else []) + ["host"]:
            project = common.new_project(f"benchbuild-{lang}-{tc}", lang, fresh=True)
            cold = common.build(project, tc)
            noop = common.build(project, tc)
            _touch_line(project, lang, 1)
            one = common.build(project, tc)
            t[tc] = {"cold": cold, "noop": noop, "one": one}
            figs.append(common.figure(f"{lang} {tc} cold build", cold, "s"))
            figs.append(common.figure(f"{lang} {tc} no-op rebuild", noop, "s", "<= 1", noop <= 1))
            figs.append(common.figure(f"{lang} {tc} one-line-change rebuild", one, "s"))
        host = common.new_project(f"benchbuild-{lang}-host", lang)
        if lang == "rust":
            cargo = _cargo_incremental(host)
            figs.append(common.figure("rust cargo alone, incremental", cargo, "s"))
            own = cargo + _wasm_opt(host)
        else:
            own = _emcc_incremental(host)
        what = "cargo + wasm-opt" if lang == "rust" else "em++ 1 file + link"
        figs.append(common.figure(f"{lang} compiler's own incremental ({what})", own, "s"))
        r = t["host"]["one"] / own
        figs.append(common.figure(f"{lang} host one-line / compiler's own", r, "x", "<= 1.5", r <= 1.5))
        if "docker" in t:
            for step in ("cold", "one"):
                r = t["docker"][step] / t["host"][step]
                figs.append(common.figure(f"{lang} container / host, {step}", r, "x", "<= 1.25", r <= 1.25))
    return figs


if __name__ == "__main__":
    common.emit_json(main())
