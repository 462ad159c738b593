"""Benchmark 5: package sizes of the k-means templates.

Rust (built in the mvrc container): the raw cargo output
(``.motivus/cache/mvrc/target/wasm32-unknown-unknown/release/``, before the wasm-bindgen CLI
and wasm-opt) and the built package's .wasm and .js. C++: the package's .wasm, .js and
.data.zip.

usage: python benchmarks/bench_size.py
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def main() -> List[Dict[str, object]]:
    print("== 5. package size", flush=True)
    figs = []
    rust = common.new_project("benchkmrust", "rust")
    common.build(rust, "docker")
    raw = rust / ".motivus/cache/mvrc/target/wasm32-unknown-unknown/release/benchkmrust.wasm"
    p = common.package_paths(rust)
    figs.append(common.figure("rust k-means raw cargo .wasm (before)", raw.stat().st_size / 1024, "KiB"))
    w = p["wasm"].stat().st_size / 1024
    j = p["js"].stat().st_size / 1024
    figs.append(common.figure("rust k-means package .wasm (after)", w, "KiB", "<= 100 KB", w * 1024 <= 100_000))
    figs.append(common.figure("rust k-means loader .js", j, "KiB", "<= 40 KB", j * 1024 <= 40_000))
    figs.append(common.figure("rust .wasm after / before", w * 1024 / raw.stat().st_size, "x"))
    cpp = common.new_project("benchkmcpp", "cpp")
    # The host's emscripten (Debian 12: 3.1.6, what mvcc 0.1 pinned), then the mvcc 0.2 image's.
    for where, label in (("host", "host emscripten"), ("docker", "mvcc 0.2")):
        common.build(cpp, where, force=True)
        p = common.package_paths(cpp)
        for kind in ("wasm", "js", "data"):
            figs.append(common.figure(f"c++ k-means package .{kind if kind != 'data' else 'data.zip'} ({label})",
                                      p[kind].stat().st_size / 1024, "KiB"))
    return figs


if __name__ == "__main__":
    common.emit_json(main())
