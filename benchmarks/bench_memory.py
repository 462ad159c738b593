"""Benchmark 2: server memory with 2,000 queued tasks that share one package.

Every task frame carries the whole wasm + loader (base64), as the protocol requires. The
loopback server (a subprocess, one worker) first gets a blocker task (common.COPY_MAIN_C with
``spin 60``) so that nothing else runs; then the driver sends 2,000 tasks of the k-means
package (``params: [[[i, i]], 1]``, a few bytes each). When the server has read them all
(its RSS stops changing), RSS growth / 2,000 is the cost of one queued task; the frame's
own params are negligible, so all of it is overhead.

usage: python benchmarks/bench_memory.py [N]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from motivus_dev.client import Client  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000


def _settled_rss(lb: common.Loopback, quiet: float = 1.5) -> int:
    """RSS once it has not moved by more than 256 KiB for ``quiet`` seconds."""
    last, since = lb.status("VmRSS"), time.time()
    while time.time() - since < quiet:
        time.sleep(0.25)
        now = lb.status("VmRSS")
        if abs(now - last) > 256 * 1024:
            last, since = now, time.time()
    return last


async def _queue(lb: common.Loopback, kmeans: Dict[str, Path], blocker: Dict[str, Path]) -> Dict[str, float]:
    client = await Client.connect(lb.uri, "bench-token")
    try:
        km = {"wasm_path": str(kmeans["wasm"]), "loader_path": str(kmeans["js"])}
        await client.select_task(client.call_async(dict(km, params=[[[0.0, 0.0]], 1])))  # warm-up
        client.call_async({"wasm_path": str(blocker["wasm"]), "loader_path": str(blocker["js"]),
                           "data_link": str(blocker["data"]) if blocker["data"].exists() else None,
                           "arguments": ["spin", "60"]})
        await asyncio.sleep(1.0)
        before = await asyncio.get_running_loop().run_in_executor(None, _settled_rss, lb)
        frame = len(kmeans["wasm"].read_bytes()) * 4 // 3 + len(kmeans["js"].read_bytes()) * 4 // 3
        for i in range(N):
            client.call_async(dict(km, params=[[[float(i), float(i)]], 1]))
        await asyncio.sleep(0.5)
        after = await asyncio.get_running_loop().run_in_executor(None, _settled_rss, lb)
        return {"before": before, "after": after, "frame": frame}
    finally:
        await client.close()
        # Queued tasks are dropped with the connection: collect their errors quietly.
        for fut in client.tasks.values():
            if fut.done() and not fut.cancelled():
                fut.exception()


def main() -> List[Dict[str, object]]:
    print(f"== 2. memory: {N} queued tasks sharing one package", flush=True)
    kmeans = common.package_paths(common.new_project("benchkmrust", "rust"))
    if not kmeans["wasm"].exists():
        common.build(kmeans["wasm"].parent.parent, "docker")
    blocker = common.package_paths(common.copy_project())
    with common.Loopback(1) as lb:
        r = asyncio.run(_queue(lb, kmeans, blocker))
    per = (r["after"] - r["before"]) / N
    return [
        common.figure("package bytes carried by each task frame (base64)", r["frame"] / 1024, "KiB"),
        common.figure("server RSS before queueing", r["before"] / 2**20, "MiB"),
        common.figure(f"server RSS with {N} tasks queued", r["after"] / 2**20, "MiB"),
        common.figure("server RSS per queued task", per / 1024, "KiB", "<= 50 KB", per <= 50_000),
    ]


if __name__ == "__main__":
    common.emit_json(main())
