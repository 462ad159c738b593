"""Benchmark 6: one task with a 64 MiB preload file and a 64 MiB result file, through loopback.

A C algorithm (common.COPY_MAIN_C) copies /input/big.bin to /output/big.bin. The driver
(the kit's client) sends random bytes (incompressible: the worst case for the gzip'd result)
and checks the file it gets back. The server is ``motivus loopback`` in a subprocess; its
peak resident memory is /proc/PID/status VmHWM after the task (the node workers are
separate processes and are reported apart, as the sum of their VmHWM).

usage: python benchmarks/bench_bigio.py [MiB]
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from motivus_dev.client import Client  # noqa: E402

MIB = int(sys.argv[1]) if len(sys.argv) > 1 else 64


def _children(pid: int) -> List[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


async def _roundtrip(uri: str, paths: Dict[str, Path], src: Path, dst: Path) -> float:
    client = await Client.connect(uri, "bench-token")
    try:
        t0 = time.perf_counter()
        tid = client.call_async({
            "wasm_path": str(paths["wasm"]), "loader_path": str(paths["js"]),
            "data_link": str(paths["data"]) if paths["data"].exists() else None,
            "preload_files": {"/input/big.bin": client.read_file(str(src))},
            "result_files": {"/output/big.bin": str(dst)},
        })
        await client.select_task(tid)
        return time.perf_counter() - t0
    finally:
        await client.close()


def main() -> List[Dict[str, object]]:
    print(f"== 6. big inputs: {MIB} MiB preload file -> {MIB} MiB result file through loopback", flush=True)
    paths = common.package_paths(common.copy_project())
    src = common.work_dir() / f"big-{MIB}.bin"
    dst = common.work_dir() / f"big-{MIB}.out"
    if not src.exists() or src.stat().st_size != MIB << 20:
        src.write_bytes(os.urandom(MIB << 20))
    if dst.exists():
        dst.unlink()
    with common.Loopback(1) as lb:
        base = lb.status("VmRSS")
        seconds = asyncio.run(_roundtrip(lb.uri, paths, src, dst))
        peak = lb.status("VmHWM")
        workers = sum(common.proc_status(c, "VmHWM") for c in _children(lb.pid))
    if hashlib.sha256(dst.read_bytes()).digest() != hashlib.sha256(src.read_bytes()).digest():
        raise SystemExit("the result file differs from the input")
    payload = MIB << 20
    figs = [
        common.figure("big task round trip", seconds, "s"),
        common.figure("big task payload rate (in + out)", 2 * payload / seconds / 2**20, "MiB/s"),
        common.figure("loopback server RSS at start", base / 2**20, "MiB"),
        common.figure("loopback server peak RSS (VmHWM)", peak / 2**20, "MiB"),
        common.figure("server peak / payload", peak / payload, "x", "<= 4", peak / payload <= 4),
        common.figure("node worker process peak RSS", workers / 2**20, "MiB"),
    ]
    dst.unlink()
    return figs


if __name__ == "__main__":
    common.emit_json(main())
