"""Benchmark 1: loopback throughput and latency with a trivial algorithm.

The algorithm is ``main(a: f64, b: f64) -> f64`` (numbers as ``f64``, see common.ADD_LIB_RS),
built by ``motivus build --toolchain host``. Tasks go through the kit's driver client
(``motivus_dev.client.Client``) to ``motivus loopback`` running as a subprocess on 127.0.0.1.

Figures:
- tasks/s with 1, 2 and 4 loopback workers (N tasks in flight at once, all awaited);
- p50/p99 latency with one task in flight (1 worker);
- the floor: the same loader in node, tasks posted to one warm worker in a loop
  (benchmarks/node/direct.cjs), and a new node worker per task, as the cluster does;
- overhead ratio: loopback seconds per task (1 worker, sequential) / direct seconds per task.

usage: python benchmarks/bench_loopback.py [N]
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from motivus_dev.client import Client  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("MOTIVUS_BENCH_TASKS", "2000"))
LATENCY_N = 500


def _definition(paths: Dict[str, Path], i: int) -> Dict[str, object]:
    return {"wasm_path": str(paths["wasm"]), "loader_path": str(paths["js"]), "params": [i, 1]}


async def _throughput(uri: str, paths: Dict[str, Path], n: int) -> float:
    """All n tasks in flight; returns tasks per second (every answer is checked)."""
    client = await Client.connect(uri, "bench-token")
    try:
        # Warm-up: one task per worker so that node processes have the package.
        await client.barrier([client.call_async(_definition(paths, i)) for i in range(8)])
        t0 = time.perf_counter()
        ids = [client.call_async(_definition(paths, i)) for i in range(n)]
        results = await client.barrier(ids)
        seconds = time.perf_counter() - t0
    finally:
        await client.close()
    bad = [i for i, r in enumerate(results) if r != i + 1]
    if bad:
        raise SystemExit(f"wrong results for {len(bad)} tasks, e.g. task {bad[0]}: {results[bad[0]]}")
    return n / seconds


async def _latency(uri: str, paths: Dict[str, Path], n: int) -> List[float]:
    """Seconds per task with exactly one task in flight."""
    client = await Client.connect(uri, "bench-token")
    out: List[float] = []
    try:
        for i in range(20):
            await client.select_task(client.call_async(_definition(paths, i)))
        for i in range(n):
            t0 = time.perf_counter()
            r = await client.select_task(client.call_async(_definition(paths, i)))
            out.append(time.perf_counter() - t0)
            assert r == i + 1, r
    finally:
        await client.close()
    return out


def _direct(paths: Dict[str, Path], mode: str, n: int, lanes: int) -> Dict[str, float]:
    proc = common.run([common.node(), str(common.BENCH / "node" / "direct.cjs"), str(paths["js"]),
                       str(paths["wasm"]), mode, str(n), str(lanes), "[1,2]", "3"])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> List[Dict[str, object]]:
    print(f"== 1. loopback throughput and latency ({N} tasks, main(a: f64, b: f64) -> f64)", flush=True)
    paths = common.package_paths(common.add_project())
    figs: List[Dict[str, object]] = []
    rates: Dict[int, float] = {}
    for workers in (1, 2, 4):
        with common.Loopback(workers) as lb:
            rates[workers] = asyncio.run(_throughput(lb.uri, paths, N))
        figs.append(common.figure(f"loopback tasks/s, {workers} worker(s)", rates[workers], "tasks/s",
                                  ">= 400" if workers == 2 else "", rates[workers] >= 400 if workers == 2 else None))
    with common.Loopback(1) as lb:
        lat = asyncio.run(_latency(lb.uri, paths, LATENCY_N))
    p50 = common.percentile(lat, 50) * 1000
    p99 = common.percentile(lat, 99) * 1000
    figs.append(common.figure("loopback latency p50, one in flight", p50, "ms", "<= 10", p50 <= 10))
    figs.append(common.figure("loopback latency p99, one in flight", p99, "ms"))

    warm = _direct(paths, "warm", N, 1)
    figs.append(common.figure("direct node, one warm worker", warm["tasks_per_s"], "tasks/s"))
    figs.append(common.figure("direct node latency p50", warm["p50_ms"], "ms"))
    fresh_n = max(50, N // 10)
    fresh = _direct(paths, "fresh", fresh_n, os.cpu_count() or 1)
    figs.append(common.figure(f"new node worker per task ({os.cpu_count()} lanes)", fresh["tasks_per_s"], "tasks/s"))
    per_task_loopback = sum(lat) / len(lat)
    per_task_direct = 1.0 / warm["tasks_per_s"]
    ratio = per_task_loopback / per_task_direct
    figs.append(common.figure("loopback / direct seconds per task (1 worker, one in flight)", ratio, "x",
                              "<= 3", ratio <= 3))
    figs.append(common.figure("loopback 2 workers / new worker per task", rates[2] / fresh["tasks_per_s"], "x"))
    return figs


if __name__ == "__main__":
    common.emit_json(main())
