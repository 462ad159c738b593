"""`motivus worker` against a test double of the cluster (tests/cluster_double.py): guest
login, the channel, one input_request per slot, results as the platform's worker sends
them, aborts, refusals, heartbeats, a dropped connection and a refused token."""

from __future__ import annotations

import asyncio
import base64
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, TypeVar

import pytest
from cluster_double import ClusterDouble

from motivus_dev.waterbear import decode_body, decode_output
from motivus_dev.worker_client import ClusterWorker, TokenRefused, WorkerOptions

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "loaders"))
import helpers  # noqa: E402

T = TypeVar("T")


def body(name: str, params: Any = None) -> Dict[str, Any]:
    return {
        "run_type": "wasm",
        "params": params,
        "arguments": None,
        "preload_files": None,
        "result_files": None,
        "data_link": None,
        "wasm": base64.b64encode(helpers.wasm(name)).decode(),
        "loader": base64.b64encode(helpers.LOADER.read_bytes()).decode(),
    }


def with_worker(fn: Callable[[ClusterDouble, ClusterWorker], Awaitable[T]], threads: int = 2,
                token: str = "", refused: Any = ()) -> T:
    helpers.need_node()

    async def main() -> T:
        async with ClusterDouble(set(refused)) as cluster:
            options = WorkerOptions(threads=threads, backend_host=cluster.host, tls=False, token=token or None,
                                    memory_mb=512, reconnect_seconds=0.2, heartbeat_seconds=0.3)
            worker = ClusterWorker(options)
            running = asyncio.ensure_future(worker.run())
            try:
                return await fn(cluster, worker)
            finally:
                worker.stop()
                await asyncio.wait_for(running, 20)

    return asyncio.run(main())


def test_a_guest_joins_asks_per_slot_and_answers_as_the_platforms_worker() -> None:
    async def go(cluster: ClusterDouble, worker: ClusterWorker) -> None:
        join = await cluster.next("phx_join")
        assert cluster.guests == 1 and cluster.tokens == ["guest-token-1"]
        assert join["topic"].startswith(f"room:worker:{worker.stats.user}:") and join["payload"] == {}
        first, second = await cluster.next("input_request"), await cluster.next("input_request")
        assert first["topic"] == join["topic"] and first["payload"]["tid"] != second["payload"]["tid"]
        tid = first["payload"]["tid"]
        await cluster.send("input", {"type": "work", "tid": tid, "ref": "task-1", "body": body("add", [2, 3])})
        result = await cluster.next("result")
        payload = result["payload"]
        assert result["topic"] == join["topic"] and payload["tid"] == tid and "ref" not in payload
        assert decode_body(payload["body"])["data"] == 5
        assert decode_output(payload["stdout"]) == "adding\n" and payload["exitCode"] == 0
        refill = await cluster.next("input_request")  # the freed slot asks again
        assert refill["payload"]["tid"] not in (tid, second["payload"]["tid"])
        assert (await cluster.next("heartbeat"))["topic"] == "phoenix"
        assert worker.stats.done == 1

    with_worker(go)


def test_an_input_that_is_not_work_is_not_run_and_its_slot_asks_again() -> None:
    async def go(cluster: ClusterDouble, worker: ClusterWorker) -> None:
        tid = (await cluster.next("input_request"))["payload"]["tid"]
        await cluster.send("input", {"type": "trusted_work", "tid": tid, "body": body("add", [1, 1])})
        again = await cluster.next("input_request")
        assert again["payload"]["tid"] != tid and worker.stats.done == 0

    with_worker(go, threads=1)


def test_abort_task_stops_a_running_task_and_sends_no_result() -> None:
    async def go(cluster: ClusterDouble, worker: ClusterWorker) -> None:
        tid = (await cluster.next("input_request"))["payload"]["tid"]
        await cluster.send("input", {"type": "work", "tid": tid, "body": body("loop")})
        while tid not in worker.stats.running:
            await asyncio.sleep(0.05)
        await cluster.send("abort_task", {"tid": tid})
        again = await cluster.next("input_request")
        assert again["payload"]["tid"] != tid
        assert worker.stats.aborted == 1 and not worker.stats.running
        # the slot works: a task sent now is answered, and no result ever came for the aborted one
        await cluster.send("input", {"type": "work", "tid": again["payload"]["tid"], "body": body("add", [1, 2])})
        result = await cluster.next("result")
        assert result["payload"]["tid"] == again["payload"]["tid"]

    with_worker(go, threads=1)


def test_a_dropped_connection_ends_tasks_in_flight_and_reconnects() -> None:
    async def go(cluster: ClusterDouble, worker: ClusterWorker) -> None:
        first_join = await cluster.next("phx_join")
        tid = (await cluster.next("input_request"))["payload"]["tid"]
        await cluster.send("input", {"type": "work", "tid": tid, "body": body("loop")})
        while tid not in worker.stats.running:
            await asyncio.sleep(0.05)
        await cluster.drop()
        second_join = await cluster.next("phx_join")
        assert second_join["_socket"] == 1 and second_join["topic"] != first_join["topic"]
        assert worker.stats.aborted == 1 and not worker.stats.running
        request = await cluster.next("input_request")
        await cluster.send("input", {"type": "work", "tid": request["payload"]["tid"], "body": body("add", [4, 4])})
        result = await cluster.next("result")
        assert result["_socket"] == 1 and decode_body(result["payload"]["body"])["data"] == 8

    with_worker(go, threads=1)


def test_a_refused_token_stops_the_worker_with_the_reason() -> None:
    helpers.need_node()

    async def main() -> None:
        async with ClusterDouble({"bad-token"}) as cluster:
            options = WorkerOptions(backend_host=cluster.host, tls=False, token="bad-token", memory_mb=512)
            with pytest.raises(TokenRefused, match="refused the worker token"):
                await asyncio.wait_for(ClusterWorker(options).run(), 20)
            assert cluster.sockets == []

    asyncio.run(main())
