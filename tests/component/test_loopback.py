"""Loopback server + our driver client, over real websockets, with real node workers."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, TypeVar

import pytest
import websockets

from motivus_dev.client import Client, ClientConnectionError, TaskFailedError, UnauthorizedError
from motivus_dev.loopback.server import LoopbackServer
from motivus_dev.runtime.pool import WorkerPool
from motivus_dev.waterbear import decode_body

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "loaders"))
import helpers  # noqa: E402

T = TypeVar("T")


def with_server(
    fn: Callable[[LoopbackServer], Awaitable[T]], workers: int = 2, timeout: float = 20.0, **server_options: Any
) -> T:
    helpers.need_node()

    async def main() -> T:
        pool = WorkerPool(workers, timeout, 512)
        await pool.start()
        server = LoopbackServer(pool, "127.0.0.1", 0, **server_options)
        await server.start()
        try:
            return await fn(server)
        finally:
            await server.close()
            assert pool.pids() == []

    return asyncio.run(main())


async def wait_for(predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def raw_handshake(url: str, token: str = "t", **connect: Any) -> Any:
    """Connect like the 2.4.0 client and return (websocket, channel topic, frames received)."""
    ws = await websockets.connect(f"{url}?token={token}", max_size=None, **connect)
    frames: List[Dict[str, Any]] = []
    await ws.send(json.dumps({"topic": "room:client?", "event": "phx_join", "payload": {}, "ref": "uuid"}))
    frames.append(json.loads(await ws.recv()))
    channel = f"room:client:{frames[0]['payload']['response']['uuid']}:{uuid.uuid4()}"
    await ws.send(json.dumps({"topic": "room:client?", "event": "phx_leave", "payload": {}, "ref": None}))
    frames.append(json.loads(await ws.recv()))
    await ws.send(json.dumps({"topic": channel, "event": "phx_join", "payload": {}, "ref": "join"}))
    frames.append(json.loads(await ws.recv()))
    return ws, channel, frames


def add_task(tmp_path: Path, a: int, b: int, **extra: Any) -> Dict[str, Any]:
    task = dict(helpers.write_package("add", tmp_path / "pkg"), params=[a, b])
    task.update(extra)
    return task


def test_healthz_and_404() -> None:
    async def go(server: LoopbackServer) -> None:
        for path, status in (("/healthz", b"200"), ("/nope", b"404")):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            head = await reader.readline()
            writer.close()
            assert status in head, head

    with_server(go, workers=1)


def test_client_task_with_files_and_many_drivers_at_once(tmp_path: Path) -> None:
    async def driver(url: str, n: int) -> List[Any]:
        client = await Client.connect(url, f"token-{n}")
        try:
            ids = [
                client.call_async(
                    add_task(
                        tmp_path,
                        n,
                        i,
                        preload_files={"/in/f.txt": base64.b64encode(f"{n}:{i}".encode()).decode()},
                        result_files={"/out/f.txt": str(tmp_path / "out" / f"d{n}" / f"{i}.txt")},
                    )
                )
                for i in range(8)
            ]
            return list(await client.barrier(ids))
        finally:
            await client.close()

    async def go(server: LoopbackServer) -> None:
        results = await asyncio.gather(*(driver(server.url, n) for n in range(6)))
        assert results == [[n + i for i in range(8)] for n in range(6)]
        assert (tmp_path / "out" / "d5" / "7.txt").read_text() == "5:7"
        stats = server.stats()
        assert stats.tasks_received == 48 and stats.pool.done == 48 and stats.pool.failed == 0
        # packages are interned: 48 queued tasks of one package share one copy
        assert stats.packages <= 1

    with_server(go)


def test_failed_task_raises_with_worker_stderr(tmp_path: Path) -> None:
    async def go(server: LoopbackServer) -> None:
        client = await Client.connect(server.url, "t")
        loop_task = dict(helpers.write_package("loop", tmp_path / "pkg"))
        with pytest.raises(TaskFailedError) as info:
            await client.select_task(client.call_async(loop_task))
        assert "deadline exceeded" in info.value.stderr
        bad = client.call_async(add_task(tmp_path, 1, 1, preload_files={"../x": "eA=="}))
        with pytest.raises(TaskFailedError, match="preload_files"):
            await client.select_task(bad)
        assert await client.select_task(client.call_async(add_task(tmp_path, 1, 1))) == 2
        await client.close()

    with_server(go, workers=1, timeout=1.0)


def test_disconnect_drops_queued_and_cancels_running(tmp_path: Path) -> None:
    async def go(server: LoopbackServer) -> None:
        leaving = await Client.connect(server.url, "t")
        leaving.call_async(dict(helpers.write_package("loop", tmp_path / "pkg")))
        for i in range(3):
            leaving.call_async(add_task(tmp_path, i, 0))
        await wait_for(lambda: server.stats().pool.running == 1 and server.stats().pool.queued == 3)
        await leaving.close()
        await wait_for(lambda: server.stats().pool.running == 0 and server.stats().pool.queued == 0, 5.0)
        assert server.stats().tasks_dropped == 4
        assert server.stats().pool.done <= 1  # the loop was cancelled; the adds never ran
        staying = await Client.connect(server.url, "t")
        started = time.monotonic()
        assert await staying.select_task(staying.call_async(add_task(tmp_path, 4, 5))) == 9
        assert time.monotonic() - started < 5  # the 20 s guest loop is not holding the worker
        await staying.close()

    with_server(go, workers=1)


def test_oversized_frame_closes_that_connection_only(tmp_path: Path) -> None:
    async def go(server: LoopbackServer) -> None:
        other = await Client.connect(server.url, "t")
        ws, channel, _ = await raw_handshake(server.url)
        await ws.send(
            json.dumps(
                {
                    "topic": channel,
                    "event": "task",
                    "ref": None,
                    "payload": {"ref": "big", "body": {"wasm": "A" * 300_000}},
                }
            )
        )
        with pytest.raises(websockets.ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
        assert await other.select_task(other.call_async(add_task(tmp_path, 2, 3))) == 5
        await other.close()

    with_server(go, workers=1, max_size=200_000)


async def expect_close(ws: Any, code: int) -> None:
    """The server closes this connection with ``code``."""
    with pytest.raises(websockets.ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), 10)
    assert info.value.rcvd is not None and info.value.rcvd.code == code


def test_malformed_frame_closes_that_connection_only(tmp_path: Path) -> None:
    async def go(server: LoopbackServer) -> None:
        other = await Client.connect(server.url, "t")
        ws, channel, _ = await raw_handshake(server.url)
        await ws.send("this is not json")
        error = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert error["event"] == "phx_error" and "malformed" in error["payload"]["reason"]
        await expect_close(ws, 1007)
        assert await other.select_task(other.call_async(add_task(tmp_path, 7, 3))) == 10
        await other.close()

    with_server(go, workers=1)


def test_binary_frame_and_bad_utf8_close_that_connection_only(tmp_path: Path) -> None:
    """Frames are received as bytes; a binary message is still refused (phx_error + 1007), and
    a text one that is not UTF-8 closes with 1007, big or small."""

    async def go(server: LoopbackServer) -> None:
        other = await Client.connect(server.url, "t")
        ws, _, _ = await raw_handshake(server.url)
        await ws.send(b'{"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": 1}')
        error = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert error["event"] == "phx_error" and "binary" in error["payload"]["reason"]
        await expect_close(ws, 1007)
        for size in (10, 2 << 20):
            ws, _, _ = await raw_handshake(server.url)
            bad = b'{"topic": "phoenix", "v": "' + b"A" * size + b'", "w": "\xff"}'
            await ws.send(bad, text=True)  # bytes sent as a text frame, unchecked
            await expect_close(ws, 1007)
        assert await other.select_task(other.call_async(add_task(tmp_path, 7, 3))) == 10
        await other.close()

    with_server(go, workers=1)


def test_every_server_frame_has_an_event_key(tmp_path: Path) -> None:
    pkg = helpers.write_package("add", tmp_path / "pkg")

    async def go(server: LoopbackServer) -> None:
        ws, channel, frames = await raw_handshake(server.url)
        await ws.send(json.dumps({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": 0}))
        frames.append(json.loads(await ws.recv()))
        body = {
            "run_type": "wasm",
            "params": [1, 2],
            "arguments": None,
            "preload_files": None,
            "result_files": None,
            "data_link": None,
            "wasm": base64.b64encode(Path(pkg["wasm_path"]).read_bytes()).decode(),
            "loader": base64.b64encode(Path(pkg["loader_path"]).read_bytes()).decode(),
        }
        await ws.send(
            json.dumps(
                {
                    "topic": channel,
                    "event": "task",
                    "ref": None,
                    "payload": {"ref": "r1", "client_id": "c", "type": "trusted_work", "body": body},
                }
            )
        )
        frames.append(json.loads(await ws.recv()))
        await ws.close()
        assert all("event" in f for f in frames), frames
        assert frames[-1]["event"] == "result" and frames[-1]["payload"]["ref"] == "r1"

    with_server(go, workers=1)


def test_bad_token_and_connection_refused() -> None:
    async def go(server: LoopbackServer) -> None:
        with pytest.raises(UnauthorizedError, match="APPLICATION_TOKEN"):
            await Client.connect(server.url, "wrong")
        client = await Client.connect(server.url, "good")
        await client.close()

    with_server(go, workers=1, tokens=["good"])

    async def refused() -> None:
        with pytest.raises(ClientConnectionError) as info:
            await Client.connect("ws://127.0.0.1:9/client_socket/websocket", "t")
        assert "ws://127.0.0.1:9/client_socket/websocket" in str(info.value)
        assert "motivus loopback" in str(info.value)

    asyncio.run(refused())


def test_shutdown_fails_running_tasks_with_a_clear_reason(tmp_path: Path) -> None:
    helpers.need_node()

    async def main() -> None:
        pool = WorkerPool(1, 30.0, 512)
        await pool.start()
        server = LoopbackServer(pool, "127.0.0.1", 0)
        await server.start()
        client = await Client.connect(server.url, "t")
        running = client.call_async(dict(helpers.write_package("loop", tmp_path / "pkg")))
        queued = client.call_async(add_task(tmp_path, 1, 1))
        await wait_for(lambda: server.stats().pool.running == 1)
        pids = pool.pids()
        await server.close()
        for task_id in (running, queued):
            with pytest.raises((TaskFailedError, ClientConnectionError)) as info:
                await asyncio.wait_for(client.select_task(task_id), 10)
            if isinstance(info.value, TaskFailedError):
                assert "shutting down" in info.value.stderr
        assert isinstance(client.select_task(running).exception(), TaskFailedError)
        assert pool.pids() == []
        for pid in pids:
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        await client.close()

    asyncio.run(main())


def test_big_result_goes_out_as_fragments_and_reassembles(tmp_path: Path) -> None:
    """A result body above ``fragment_size`` is sent as a fragmented message; our client and a
    raw websocket reader both get the same JSON frame as an unfragmented send would carry."""
    data = bytes(range(256)) * 4096  # 1 MiB

    async def go(server: LoopbackServer) -> None:
        client = await Client.connect(server.url, "t")
        try:
            out = tmp_path / "out.bin"
            tid = client.call_async(
                add_task(
                    tmp_path,
                    1,
                    2,
                    preload_files={"/in/d.bin": base64.b64encode(data).decode()},
                    result_files={"/out/d.bin": str(out)},
                )
            )
            assert await client.select_task(tid) == 3
            assert out.read_bytes() == data
        finally:
            await client.close()
        ws, channel, _ = await raw_handshake(server.url)
        try:
            pkg = helpers.write_package("add", tmp_path / "pkg")
            body = {
                "run_type": "wasm",
                "params": [5, 6],
                "arguments": None,
                "preload_files": {"/in/d.bin": base64.b64encode(data).decode()},
                "result_files": {"/out/d.bin": "x"},
                "data_link": None,
                "wasm": base64.b64encode(Path(pkg["wasm_path"]).read_bytes()).decode(),
                "loader": base64.b64encode(Path(pkg["loader_path"]).read_bytes()).decode(),
            }
            payload = {"ref": "big", "client_id": "c", "type": "trusted_work", "body": body}
            await ws.send(json.dumps({"topic": channel, "event": "task", "payload": payload, "ref": None}))
            frame = json.loads(await ws.recv())
            assert frame["event"] == "result" and frame["payload"]["ref"] == "big"
            assert frame["payload"]["exitCode"] == 0 and "error" not in frame["payload"]
            result = decode_body(frame["payload"]["body"])
            assert result["data"] == 11 and base64.b64decode(result["/out/d.bin"]) == data
        finally:
            await ws.close()

    with_server(go, fragment_size=64 << 10)


def test_only_local_pages_and_programs_reach_the_socket() -> None:
    from websockets.exceptions import InvalidStatus

    from motivus_dev.loopback.server import DEFAULT_HOST

    assert DEFAULT_HOST == "127.0.0.1"  # other machines cannot send it code to run

    async def go(server: LoopbackServer) -> None:
        assert server.url.startswith("ws://localhost:")
        for origin in ("http://localhost:8000", "http://127.0.0.1", "https://[::1]:9", "https://mine.example"):
            ws = await websockets.connect(server.url, origin=origin)  # type: ignore[arg-type]
            await ws.close()
        ws = await websockets.connect(server.url)  # a driver program sends no Origin
        await ws.close()
        for origin in ("https://evil.example", "http://localhost.evil.example", "null", "file://"):
            with pytest.raises(InvalidStatus) as info:
                await websockets.connect(server.url, origin=origin)  # type: ignore[arg-type]
            assert info.value.response.status_code == 403
            assert b"only local pages" in info.value.response.body

    with_server(go, allowed_origins=["https://mine.example/"])


def test_deeply_nested_frames_close_with_1007_and_the_server_serves_on() -> None:
    async def go(server: LoopbackServer) -> None:
        ws = await websockets.connect(server.url)
        await ws.send("[" * 100_000)
        error = json.loads(await ws.recv())
        assert error["event"] == "phx_error" and "nests too deeply" in error["payload"]["reason"]
        with pytest.raises(websockets.exceptions.ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1007
        again, _, frames = await raw_handshake(server.url)
        assert frames[2]["payload"]["status"] == "ok"
        await again.close()

    with_server(go)


def test_a_pool_without_deadline_runs_tasks_and_a_tasks_own_deadline_still_holds(tmp_path: Path) -> None:
    helpers.need_node()

    async def main() -> None:
        from motivus_dev.runtime.package import PackageStore
        from motivus_dev.runtime.task import TaskSpec
        from motivus_dev.taskbody import TaskBody

        store = PackageStore()
        add = store.intern_files(helpers.wasm("add"), helpers.LOADER.read_bytes())
        loop = store.intern_files(helpers.wasm("loop"), helpers.LOADER.read_bytes())
        async with WorkerPool(1, None, 512) as pool:
            assert (await pool.run(TaskSpec(add, TaskBody(params=[2, 2])))).body["data"] == 4
            stopped = await pool.run(TaskSpec(loop, timeout=0.5))
            assert "deadline exceeded: the task ran longer than 0.5 s" in (stopped.error or "")

    asyncio.run(main())
