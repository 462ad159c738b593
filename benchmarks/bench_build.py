"""Benchmark 4: build speed of the templates, container vs host.

For each template (rust, cpp) and toolchain (docker; host for C++ only: mvrc 0.2 needs
rustc >= 1.84 with the wasm32 std, which a Debian 12 host lacks), on a fresh project: cold
build (no project cache; the user's crate download cache as it is), no-op rebuild, and a
one-line change (a comment line appended to a source file, so the compiler really runs
again). The C++ compiler's own incremental time is measured on the host with the same cache
the build left: ``em++ -O2 -c`` of the changed file plus the link of all objects (em++'s link
runs binaryen's optimiser itself).

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
        # Rust builds only in the container: mvrc 0.2 needs rustc >= 1.84 with the wasm32 std,
        # which a Debian 12 host does not have.
        for tc in (["docker"] if docker_ok else []) + ([] if lang == "rust" else ["host"]):
            project = common.new_project(f"benchbuild-{lang}-{tc}", lang, fresh=True)
            cold = common.build(project, tc)
            noop = common.build(project, tc)
            _touch_line(project, lang, 1)
            one = common.build(project, tc)
            t[tc] = {"cold": cold, "noop": noop, "one": one}
            figs.append(common.figure(f"{lang} {tc} cold build", cold, "s"))
            figs.append(common.figure(f"{lang} {tc} no-op rebuild", noop, "s", "<= 1", noop <= 1))
            figs.append(common.figure(f"{lang} {tc} one-line-change rebuild", one, "s"))
        if lang == "rust":
            continue
        host = common.new_project(f"benchbuild-{lang}-host", lang)
        own = _emcc_incremental(host)
        what = "em++ 1 file + link"
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
