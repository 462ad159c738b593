"""docs/cluster.md's commands, run as written on one machine (``SCHEDULER=127.0.0.1``): a lab's
scheduler, a `motivus cluster worker` with two workers and the loopback, in plain TCP and
with Dask's TLS; a driver's tasks then run through them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest
from doc_blocks import doc_block

from motivus_dev.client import Client

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "loaders"))
import helpers  # noqa: E402


def processes_in(directory: Path) -> List[int]:
    """The processes whose working directory is ``directory`` (what the commands started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd") == str(directory):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("label", ["lab", "tls"])
def test_the_cluster_commands_work_as_written(label: str, tmp_path: Path) -> None:
    helpers.need_node()
    script = doc_block("cluster.md", "cluster: lab")
    assert script.startswith("export SCHEDULER=10.0.0.5 ")
    script = script.split("\n", 1)[1]
    if label == "tls":
        script = doc_block("cluster.md", "cluster: tls")
    env = dict(os.environ, SCHEDULER="127.0.0.1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("MOTIVUS_CLUSTER", None)
    add = helpers.write_package("add", tmp_path / "pkg")
    try:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        log = tmp_path / "loopback.log"
        deadline = time.monotonic() + 90
        while "export WEBSOCKET_URI" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, (log.read_text() if log.exists() else "no loopback.log") + \
                (tmp_path / "scheduler.log").read_text()
            time.sleep(0.2)

        async def drive() -> List[int]:
            client = await Client.connect("ws://localhost:7070/client_socket/websocket", "t")
            try:
                ids = [client.call_async(dict(add, params=[i, 10])) for i in range(10)]
                return list(await asyncio.wait_for(client.barrier(ids), 120))
            finally:
                await client.close()

        assert asyncio.run(drive()) == [i + 10 for i in range(10)]
        text = log.read_text()
        assert "dashboard http://127.0.0.1:8787/status" in text
        assert "the sandbox works here; joining" in (tmp_path / "worker.log").read_text()
        if label == "tls":
            assert "tls://127.0.0.1:8786" in (tmp_path / "scheduler.log").read_text()
    finally:
        for pid in processes_in(tmp_path):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while processes_in(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in processes_in(tmp_path):
            os.kill(pid, signal.SIGKILL)
