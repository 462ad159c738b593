"""The driver client's configuration, and the published motivus 2.4.0 client (Python 3.9,
websockets 8.1) running a driver against our loopback server unchanged."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, Optional

import pytest

from motivus_dev.client import Client, TaskDefinitionError, load_settings
from motivus_dev.envfile import read_dotenv
from motivus_dev.loopback.server import LoopbackServer
from motivus_dev.runtime.pool import WorkerPool

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "loaders"))
import helpers  # noqa: E402


def test_settings_env_wins_over_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_env: None) -> None:
    (tmp_path / ".env").write_text(
        "# comment\nWEBSOCKET_URI=ws://from-dotenv:1/x\nexport APPLICATION_TOKEN='dot-token'\n"
    )
    assert read_dotenv(tmp_path / ".env") == {"WEBSOCKET_URI": "ws://from-dotenv:1/x", "APPLICATION_TOKEN": "dot-token"}
    assert load_settings(tmp_path) == ("ws://from-dotenv:1/x", "dot-token")
    monkeypatch.setenv("APPLICATION_TOKEN", "env-token")
    assert load_settings(tmp_path) == ("ws://from-dotenv:1/x", "env-token")
    monkeypatch.setenv("WEBSOCKET_URI", "ws://env:2/y")
    assert load_settings(tmp_path) == ("ws://env:2/y", "env-token")
    assert load_settings(tmp_path / "nowhere")[0] == "ws://env:2/y"


def test_read_file_and_bad_definitions(tmp_path: Path) -> None:
    (tmp_path / "f.bin").write_bytes(b"\x00\x01abc")
    assert base64.b64decode(Client.read_file(str(tmp_path / "f.bin"))) == b"\x00\x01abc"
    with pytest.raises(TaskDefinitionError, match="cannot read"):
        Client.read_file(str(tmp_path / "missing"))

    async def go() -> None:
        client = Client("ws://unused", "t")  # no connection needed to check definitions
        with pytest.raises(TaskDefinitionError, match="wasm_path"):
            client.call_async({"params": [1]})
        with pytest.raises(TaskDefinitionError, match="cannot read"):
            client.call_async({"wasm_path": str(tmp_path / "no.wasm"), "loader_path": str(tmp_path / "f.bin")})

    asyncio.run(go())


DRIVER = textwrap.dedent("""
    import asyncio, json, sys
    from motivus.client import Client

    async def main():
        motivus = await Client.connect()
        task = {
            "wasm_path": sys.argv[1],
            "loader_path": sys.argv[2],
            "params": [20, 22],
            "preload_files": {"/in/data.txt": motivus.read_file("input.txt")},
            "result_files": {"/out/data.txt": "results/sub/data.txt"},
        }
        ids = [motivus.call_async(dict(task, params=[20, i])) for i in range(3)]
        results = await motivus.barrier(ids)
        failed = await motivus.select_task(motivus.call_async({"wasm_path": sys.argv[3], "loader_path": sys.argv[2]}))
        print(json.dumps({"results": results, "failed": failed}))

    asyncio.run(main())
""")


# fragment_size=16: every result frame goes out as a fragmented message (as a big result
# does), which the 2.4.0 client (websockets 8.1) must reassemble.
@pytest.mark.parametrize("fragment_size", [None, 16])
def test_published_240_client_runs_a_driver_against_loopback(
    tmp_path: Path, motivus24: Path, fragment_size: Optional[int]
) -> None:
    helpers.need_node()
    python = motivus24 / "python"
    add = helpers.write_package("add", tmp_path / "pkg")
    loop = helpers.write_package("loop", tmp_path / "pkg")
    work = tmp_path / "driver"
    work.mkdir()
    (work / "driver.py").write_text(DRIVER)
    (work / "input.txt").write_bytes(b"line one\nline two\n\x00\xff")

    async def go() -> None:
        pool = WorkerPool(2, 1.5, 512)
        await pool.start()
        options: Dict[str, Any] = {} if fragment_size is None else {"fragment_size": fragment_size}
        server = LoopbackServer(pool, "127.0.0.1", 0, **options)
        await server.start()
        try:
            env = dict(os.environ, WEBSOCKET_URI=server.url, APPLICATION_TOKEN="any-token")
            proc = await asyncio.create_subprocess_exec(
                str(python),
                "driver.py",
                add["wasm_path"],
                add["loader_path"],
                loop["wasm_path"],
                cwd=str(work),
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(proc.communicate(), 120)
            assert proc.returncode == 0, err.decode()
            report = json.loads(out.decode().strip().splitlines()[-1])
            assert report["results"] == [20, 21, 22]
            # a failed task gets the platform's failure shape: 2.4.0 resolves it to {} (body.get("data", body))
            assert report["failed"] == {}
            assert (work / "results" / "sub" / "data.txt").read_bytes() == b"line one\nline two\n\x00\xff"
            assert server.stats().pool.done == 4 and server.stats().pool.failed == 1
        finally:
            await server.close()

    asyncio.run(go())
