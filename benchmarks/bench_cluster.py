"""Benchmark: `motivus loopback --cluster` on Dask beside the local pool (issue 23).

Every figure is one run on this machine, the loopback a real `motivus loopback` process and
the cluster `--cluster local:N` (a Dask scheduler and N worker processes on 127.0.0.1):

1. CPU-bound throughput: 24 tasks of a WAT package that counts to 2x10^9 (about 0.8 s each
   once V8 has optimised it), sent at once by one driver; tasks/s for the local pool with 1, 2 and 3
   workers and the cluster with 1, 2 and 3 worker processes (this machine has 2 cores).
2. Per-task overhead on trivial tasks (an add): the median time of one task at a time, and
   tasks/s with 500 sent at once, local pool of 2 beside local:2.
3. Memory of queued tasks: the loopback process's RSS before and after a driver queues
   20,000 tasks behind two long ones, local pool and local:2; bytes per queued task (what
   100,000 queued tasks cost is five times the measured increase).

usage: python benchmarks/bench_cluster.py
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "data" / "loaders"))
import common  # noqa: E402
import helpers  # noqa: E402

from motivus_dev.client import Client  # noqa: E402

SPIN = 2_000_000_000


async def _batch(uri: str, bodies: List[Dict[str, Any]]) -> float:
    client = await Client.connect(uri, "bench")
    try:
        start = time.perf_counter()
        results = list(await client.barrier([client.call_async(b) for b in bodies]))
        elapsed = time.perf_counter() - start
    finally:
        await client.close()
    assert len(results) == len(bodies)
    return elapsed


async def _one_at_a_time(uri: str, body: Dict[str, Any], n: int) -> float:
    client = await Client.connect(uri, "bench")
    times = []
    try:
        for _ in range(n):
            start = time.perf_counter()
            await client.select_task(client.call_async(body))
            times.append(time.perf_counter() - start)
    finally:
        await client.close()
    return common.median(times)


async def _queued_memory(loopback: common.Loopback, long: Dict[str, Any], quick: Dict[str, Any], n: int) -> float:
    client = await Client.connect(loopback.uri, "bench")
    sent = []
    try:
        sent += [client.call_async(long), client.call_async(long)]
        await asyncio.sleep(2)
        before = loopback.status("VmRSS")
        sent += [client.call_async(quick) for _ in range(n)]
        await asyncio.sleep(15)  # the frames are read and queued
        after = loopback.status("VmRSS")
    finally:
        await client.close()
    # the tasks end with the connection: their futures say so, and nobody needs to hear it
    await asyncio.gather(*(client.select_task(task) for task in sent), return_exceptions=True)
    return (after - before) / n


def _start(workers: Optional[int], cluster: Optional[str]) -> common.Loopback:
    extra: Sequence[str] = ["--cluster", cluster, "--timeout", "600"] if cluster else ["--timeout", "600"]
    return common.Loopback(workers, extra)


def main() -> List[Dict[str, object]]:
    pkg_dir = common.work_dir() / "cluster-pkg"
    spin = helpers.write_package("spin", pkg_dir)
    add = helpers.write_package("add", pkg_dir)
    cpu = [dict(spin, params=[SPIN, i]) for i in range(24)]
    figures: List[Dict[str, object]] = []
    for n in (1, 2, 3):
        for label, workers, cluster in (("local pool", n, None), ("Dask local", None, f"local:{n}")):
            with _start(workers, cluster) as loopback:
                asyncio.run(_batch(loopback.uri, cpu[:n]))  # warm: packages, workers
                elapsed = asyncio.run(_batch(loopback.uri, cpu))
            figures.append(common.figure(f"cluster: CPU-bound, {label}, {n} worker(s)", len(cpu) / elapsed, "tasks/s"))
    for label, workers, cluster in (("local pool of 2", 2, None), ("Dask local:2", None, "local:2")):
        with _start(workers, cluster) as loopback:
            trivial = dict(add, params=[1, 2])
            asyncio.run(_batch(loopback.uri, [trivial] * 20))
            one = asyncio.run(_one_at_a_time(loopback.uri, trivial, 100))
            many = asyncio.run(_batch(loopback.uri, [trivial] * 500))
        figures.append(common.figure(f"cluster: one trivial task, {label}", one * 1000, "ms"))
        figures.append(common.figure(f"cluster: 500 trivial tasks at once, {label}", 500 / many, "tasks/s"))
    long = dict(spin, params=[2_000_000_000, 0])
    quick = dict(add, params=[1, 2])
    for label, workers, cluster in (("local pool of 2", 2, None), ("Dask local:2", None, "local:2")):
        with _start(workers, cluster) as loopback:
            per_task = asyncio.run(_queued_memory(loopback, long, quick, 20_000))
        figures.append(common.figure(f"cluster: loopback memory per queued task, {label}", per_task, "bytes"))
    common.emit_json(figures)
    return figures


if __name__ == "__main__":
    main()
