"""The pool's scheduler over a fake worker, and the node-pipe codec, without node."""

from __future__ import annotations

import asyncio
import json
from typing import Callable, List, Optional

import pytest

from motivus_dev.runtime.datalink import DataZip
from motivus_dev.runtime.node_process import WorkerCrashed
from motivus_dev.runtime.package import PackageStore
from motivus_dev.runtime.pipe import ProtocolViolation, ReplyDecoder, request, result_of, run_request
from motivus_dev.runtime.pool import PoolWorker, WorkerPool
from motivus_dev.runtime.task import TaskResult, TaskSpec
from motivus_dev.taskbody import TaskBody
from motivus_dev.taskoutput import decode_output, encode_output

PACKAGE = PackageStore().intern_files(b"\0asm\1\0\0\0", b"// loader")
KEY = "k" * 32


class FakeWorker:
    """A worker whose tasks answer with params[0] * 2 after params[1] seconds; params[0] ==
    "crash" kills it. Records what it ran and what was cancelled."""

    started = 0

    def __init__(self, index: int, on_warning: Callable[[str], None]) -> None:
        self.index = index
        self.exit_reason: Optional[str] = None
        self._alive = False
        self.ran: List[int] = []
        self.cancelled: List[int] = []
        self.running: dict = {}

    @property
    def pid(self) -> Optional[int]:
        return 1000 + self.index

    @property
    def alive(self) -> bool:
        return self._alive

    async def start(self) -> None:
        FakeWorker.started += 1
        self._alive = True

    async def run(
        self, task_id: int, spec: TaskSpec, data: Optional[DataZip], timeout: float, deadline_s: Optional[float] = None
    ) -> TaskResult:
        self.ran.append(task_id)
        value, delay = (spec.body.params or [0, 0])[:2]
        if value == "crash":
            self._alive = False
            self.exit_reason = "killed by SIGKILL"
            raise WorkerCrashed(self.exit_reason)
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            raise
        return TaskResult(json.dumps({"data": value * 2}).encode(), encode_output(""), encode_output(""), 0)

    async def cancel(self, task_id: int, reason: str) -> None:
        self.cancelled.append(task_id)

    async def close(self) -> None:
        self._alive = False


def pool(workers: int = 2) -> WorkerPool:
    factory: Callable[[int, Callable[[str], None]], PoolWorker] = FakeWorker
    return WorkerPool(workers, 30.0, 512, worker_factory=factory)


def run(coro: "asyncio.Future[object]") -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_tasks_spread_over_workers_and_all_answer() -> None:
    async def main() -> List[TaskResult]:
        async with pool(2) as p:
            specs = [TaskSpec(PACKAGE, TaskBody(params=[i, 0.01])) for i in range(10)]
            return list(await asyncio.gather(*(p.run(spec) for spec in specs)))

    results = run(main())  # type: ignore[assignment]
    assert [r.body["data"] for r in results] == [i * 2 for i in range(10)]  # type: ignore[union-attr]
    assert {r.worker for r in results} == {0, 1}  # type: ignore[union-attr]


def test_a_crashed_worker_fails_its_task_and_is_replaced() -> None:
    async def main() -> List[TaskResult]:
        FakeWorker.started = 0
        async with pool(1) as p:
            crashed = await p.run(TaskSpec(PACKAGE, TaskBody(params=["crash", 0]), owner="a"))
            after = await p.run(TaskSpec(PACKAGE, TaskBody(params=[4, 0]), owner="a"))
            stats = p.stats()
            assert stats.workers[0].restarts == 1 and stats.failed == 1 and stats.done == 2
            return [crashed, after]

    crashed, after = run(main())  # type: ignore[misc]
    assert not crashed.ok and "SIGKILL" in (crashed.error or "")
    # the platform's failure shape
    assert crashed.body == {} and crashed.exit_code == 1 and "SIGKILL" in crashed.stderr_text
    assert after.ok and after.body == {"data": 8}
    assert FakeWorker.started == 2


def test_cancelling_a_running_task_tells_its_worker_and_a_queued_one_never_runs() -> None:
    async def main() -> None:
        async with pool(1) as p:
            running = asyncio.ensure_future(p.run(TaskSpec(PACKAGE, TaskBody(params=[1, 5]))))
            queued = asyncio.ensure_future(p.run(TaskSpec(PACKAGE, TaskBody(params=[2, 0]))))
            await asyncio.sleep(0.05)
            queued.cancel()
            running.cancel()
            await asyncio.gather(running, queued, return_exceptions=True)
            worker = p._slots[0].proc
            assert isinstance(worker, FakeWorker)
            assert worker.cancelled == [1] and worker.ran == [1]

    run(main())  # type: ignore[arg-type]


def test_closing_fails_queued_tasks_with_the_reason() -> None:
    async def main() -> List[TaskResult]:
        p = pool(1)
        await p.start()
        tasks = [asyncio.ensure_future(p.run(TaskSpec(PACKAGE, TaskBody(params=[1, 5])))) for _ in range(3)]
        await asyncio.sleep(0.05)
        await p.close("bye")
        return list(await asyncio.gather(*tasks))

    results = run(main())  # type: ignore[assignment]
    assert all(r.error == "bye" for r in results)  # type: ignore[union-attr]


def test_bad_file_maps_fail_before_reaching_a_worker() -> None:
    async def main() -> TaskResult:
        async with pool(1) as p:
            return await p.run(TaskSpec(PACKAGE, TaskBody(result_files={"relative/path": "x"})))

    result = run(main())
    assert not result.ok and "result_files" in decode_output(result.stderr)  # type: ignore[union-attr]


# -- the node-pipe codec ---------------------------------------------------------------------


def test_a_request_line_announces_its_blobs_by_byte_length() -> None:
    spec = TaskSpec(PACKAGE, TaskBody(params=[1], preload_files={"/a": "QUJD", "/b": b"RA=="}))
    msg, blobs = run_request(7, spec, None, 2.5)
    line, pieces = request(msg, blobs)
    head = json.loads(line)
    assert line.endswith(b"\n") and head["op"] == "run" and head["timeout_ms"] == 2500
    assert head["body"]["preload_files"] == {"/a": None, "/b": None}
    assert head["blobs"] == [4, 4] and [bytes(p, "ascii") if isinstance(p, str) else bytes(p) for p in pieces] == [
        b"QUJD",
        b"RA==",
    ]


def test_replies_with_bodies_are_decoded_across_any_split() -> None:
    body = json.dumps({"data": "x" * 5000})
    stream = (
        json.dumps({"op": "ready", "pid": 5, "k": KEY}).encode() + b"\n"
        + json.dumps({"op": "result", "id": 1, "result": {"stdout": "", "stderr": None, "exitCode": 0},
                      "body_bytes": len(body), "k": KEY}).encode() + b"\n" + body.encode()
        + json.dumps({"op": "result", "id": 2, "error": "deadline exceeded", "k": KEY}).encode() + b"\n"
    )
    for size in (1, 7, 1000, len(stream)):
        decoder = ReplyDecoder(KEY)
        replies = [r for i in range(0, len(stream), size) for r in decoder.feed(stream[i : i + size])]
        assert [r["op"] for r in replies] == ["ready", "result", "result"]
        assert replies[1]["result"]["body"] == body.encode() and not decoder.in_body
        ok, failed = result_of(replies[1]), result_of(replies[2])
        assert ok.ok and ok.exit_code == 0 and ok.stderr is None and ok.body == {"data": "x" * 5000}
        assert not failed.ok and failed.error == "deadline exceeded" and failed.body == {}


def test_a_platform_loader_result_without_exit_code_keeps_it_absent() -> None:
    reply = {"op": "result", "id": 1, "result": {"body": b"{}", "stdout": "", "stderr": ""}}
    result = result_of(reply)
    assert result.exit_code is None and result.ok


def test_an_overlong_line_is_refused() -> None:
    with pytest.raises(ProtocolViolation):
        ReplyDecoder(KEY, max_line=10).feed(b"x" * 11)


@pytest.mark.parametrize(
    "line",
    [
        b"hello from a loader",  # not JSON
        b"[1, 2]",  # not an object
        json.dumps({"op": "result", "id": 1, "error": "forged"}).encode(),  # no key
        json.dumps({"op": "result", "id": 1, "error": "forged", "k": "0" * 32}).encode(),  # a guessed key
        # the wedge of the containment issue: a body announced on a reply that has none
        json.dumps({"op": "warning", "text": "x", "body_bytes": 1000000000, "k": KEY}).encode(),
        json.dumps({"op": "result", "id": 1, "result": {}, "body_bytes": 3 << 30, "k": KEY}).encode(),
        json.dumps({"op": "result", "id": 1, "result": {}, "body_bytes": -1, "k": KEY}).encode(),
        b"",  # pool.js never writes an empty line
    ],
)
def test_anything_but_a_signed_reply_is_a_protocol_violation(line: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        ReplyDecoder(KEY).feed(line + b"\n")


def test_tasks_of_one_owner_share_a_process_and_others_get_a_fresh_one() -> None:
    async def main() -> List[int]:
        FakeWorker.started = 0
        async with pool(1) as p:
            for owner in ("a", "a", "b", None, None, "b"):
                result = await p.run(TaskSpec(PACKAGE, TaskBody(params=[1, 0]), owner=owner))
                assert result.ok
            return [FakeWorker.started]

    # 1 at start; "a" twice on it; "b" needs a new one; each None task one of its own (and
    # a fresh one is made after it); "b" then gets that fresh one.
    assert run(main()) == [5]  # type: ignore[comparison-overlap]
