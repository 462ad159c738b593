"""The worker pool (motivus_dev.runtime): real node processes running a real loader
(tests/data/loaders/wat_loader.js) on real wasm modules compiled from WAT."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import os
import signal
import stat
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, TypeVar

import pytest

from motivus_dev.runtime.datalink import DataLinkStore, ZipLimits, check_zip
from motivus_dev.runtime.package import PackageStore
from motivus_dev.runtime.paths import UnsafeInputError
from motivus_dev.runtime.pool import TaskSpec, WorkerPool
from motivus_dev.taskbody import TaskBody

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "loaders"))
import helpers  # noqa: E402

T = TypeVar("T")
STORE = PackageStore()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def package(name: str) -> Any:
    return STORE.intern_files(helpers.wasm(name), helpers.LOADER.read_bytes())


def with_pool(fn: Callable[[WorkerPool], Awaitable[T]], tmp_path: Path, **kwargs: Any) -> T:
    helpers.need_node()
    options: Dict[str, Any] = {"workers": 2, "timeout": 20.0, "memory_mb": 512}
    options.update(kwargs)

    async def main() -> T:
        limits = options.pop("zip_limits", ZipLimits())
        pool = WorkerPool(data_store=DataLinkStore(tmp_path / "cache", limits), **options)
        await pool.start()
        try:
            return await fn(pool)
        finally:
            await pool.close()
            for pid in pool.pids():
                pytest.fail(f"node process {pid} still alive after close")

    return asyncio.run(main())


def test_add_result_stdout_and_result_files(tmp_path: Path) -> None:
    async def go(pool: WorkerPool) -> None:
        result = await pool.run(
            TaskSpec(package("add"), TaskBody(params=[2, 40], preload_files={"/in/a.txt": b64(b"hello\x00world")},
                                              result_files={"/out/a.txt": "ignored-by-pool"}))
        )
        assert result.ok, result.stderr_text
        out = result.body
        assert out["data"] == 42
        assert base64.b64decode(out["/out/a.txt"]) == b"hello\x00world"
        assert result.stdout_text == "adding\n"
        assert result.stderr_text == ""

    with_pool(go, tmp_path)


def test_warm_worker_reused_for_a_loader_that_declares_it(tmp_path: Path) -> None:
    async def go(pool: WorkerPool) -> None:
        # one program's own tasks (one owner) may share processes
        results = [await pool.run(TaskSpec(package("add"), TaskBody(params=[i, 1]), owner="me")) for i in range(6)]
        assert [r.body["data"] for r in results] == [1, 2, 3, 4, 5, 6]
        served = [r.body["_served"] for r in results]
        # sequential tasks of one package: each process keeps one warm loader worker
        assert max(served) >= 3, served
        # many at once over both processes
        many = await asyncio.gather(
            *(pool.run(TaskSpec(package("add"), TaskBody(params=[i, i]), owner="me")) for i in range(100))
        )
        assert [r.body["data"] for r in many] == [2 * i for i in range(100)]
        assert {r.worker for r in many} == {0, 1}

    with_pool(go, tmp_path)


def test_deadline_terminates_the_guest_and_next_task_succeeds(tmp_path: Path) -> None:
    async def go(pool: WorkerPool) -> None:
        started = time.monotonic()
        result = await pool.run(TaskSpec(package("loop")))
        elapsed = time.monotonic() - started
        assert not result.ok
        assert "deadline exceeded" in (result.error or "")
        assert "deadline exceeded" in result.stderr_text
        assert result.body == {}  # the platform's failure shape
        assert 1.0 <= elapsed < 5.0
        assert (await pool.run(TaskSpec(package("add"), TaskBody(params=[1, 1])))).body["data"] == 2
        per_task = await pool.run(TaskSpec(package("loop"), timeout=0.3))
        assert "0.3 s" in (per_task.error or "")

    with_pool(go, tmp_path, timeout=1.5, workers=1)


def test_memory_cap_bounds_wasm_memory(tmp_path: Path) -> None:
    cap_mb = 400

    async def go(pool: WorkerPool) -> None:
        result = await pool.run(TaskSpec(package("grow")))
        assert not result.ok
        # the guest grows 1 MiB at a time until memory.grow fails at the OS limit, then traps;
        # without the cap it would reach 4 GiB
        # Two outcomes are both the cap working: memory.grow fails at the OS limit and the
        # guest traps (without the cap it would reach 4 GiB), or V8 aborts the process on
        # an allocation it cannot make and the pool reports it and replaces the process.
        if "unreachable" in result.stderr_text:
            pages = int(result.stderr_text.split("guest memory at failure: ")[1].split()[0])
            assert pages * 64 // 1024 < cap_mb, result.stderr_text
        else:
            assert f"out of memory: the worker process hit the memory cap of {cap_mb} MB" in (result.error or "")
        nxt = await pool.run(TaskSpec(package("add"), TaskBody(params=[2, 2])))
        assert nxt.ok, nxt.stderr_text
        assert nxt.body["data"] == 4

    with_pool(go, tmp_path, memory_mb=cap_mb, workers=1)


def test_killed_process_is_replaced_and_queued_task_is_not_lost(tmp_path: Path) -> None:
    async def go(pool: WorkerPool) -> None:
        [pid] = pool.pids()
        running = asyncio.ensure_future(pool.run(TaskSpec(package("loop"))))
        queued = asyncio.ensure_future(pool.run(TaskSpec(package("add"), TaskBody(params=[20, 1]))))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if pool.stats().running == 1:
                break
        assert pool.stats().queued == 1
        await asyncio.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        failed = await running
        assert not failed.ok
        assert "SIGKILL" in (failed.error or ""), failed.error
        ok = await queued
        assert ok.ok and ok.body["data"] == 21
        [new_pid] = pool.pids()
        assert new_pid != pid
        assert pool.stats().workers[0].restarts == 1

    with_pool(go, tmp_path, workers=1)


def test_cancelling_run_drops_queued_and_stops_running(tmp_path: Path) -> None:
    async def go(pool: WorkerPool) -> None:
        running = asyncio.ensure_future(pool.run(TaskSpec(package("loop"))))
        queued = asyncio.ensure_future(pool.run(TaskSpec(package("loop"))))
        await asyncio.sleep(0.5)
        assert pool.stats().running == 1 and pool.stats().queued == 1
        queued.cancel()
        running.cancel()
        await asyncio.gather(running, queued, return_exceptions=True)
        await asyncio.sleep(0.3)
        assert pool.stats().queued == 0 and pool.stats().running == 0
        # the guest was terminated (the loop had a 20 s deadline): the worker is free now
        started = time.monotonic()
        assert (await pool.run(TaskSpec(package("add"), TaskBody(params=[3, 3])))).body["data"] == 6
        assert time.monotonic() - started < 5

    with_pool(go, tmp_path, workers=1)


@pytest.mark.parametrize(
    "field, key",
    [
        ("preload_files", "relative/path.txt"),
        ("preload_files", "/in/../etc/passwd"),
        ("result_files", "/out/../../x"),
        ("result_files", "out.txt"),
        ("preload_files", "/"),
    ],
)
def test_bad_guest_paths_are_refused_naming_the_key(tmp_path: Path, field: str, key: str) -> None:
    async def go(pool: WorkerPool) -> None:
        value = {key: b64(b"x") if field == "preload_files" else "local"}
        spec = TaskSpec(package("add"), TaskBody(params=[1, 1], **{field: value}))
        result = await pool.run(spec)
        assert not result.ok
        assert field in (result.error or "") and repr(key) in (result.error or "")
        assert result.body == {}  # the platform's failure shape

    with_pool(go, tmp_path, workers=1)


def make_zip(entries: Dict[str, bytes], symlink: str = "") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buf.getvalue()


def test_data_link_local_path_and_file_url(tmp_path: Path) -> None:
    zip_path = tmp_path / "pkg.data.zip"
    zip_path.write_bytes(make_zip({"in/base.txt": b"from the data zip", "in/": b""}))

    async def go(pool: WorkerPool) -> None:
        for link in (str(zip_path), zip_path.as_uri()):
            result = await pool.run(
                TaskSpec(package("add"), TaskBody(params=[0, 0], data_link=link,
                                                  preload_files={"/in/extra.txt": b64(b"preloaded")},
                                                  result_files={"/out/base.txt": "x", "/out/extra.txt": "y"}))
            )
            assert result.ok, result.stderr_text
            out = result.body
            assert base64.b64decode(out["/out/base.txt"]) == b"from the data zip"
            assert base64.b64decode(out["/out/extra.txt"]) == b"preloaded"

    with_pool(go, tmp_path, workers=1)


def test_data_link_http_verified_and_cached(tmp_path: Path, http_dir: str) -> None:
    data = make_zip({"in/base.txt": b"over http"})
    (tmp_path / "www" / "d.zip").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()

    async def go(pool: WorkerPool) -> None:
        spec = TaskSpec(package("add"), TaskBody(params=[0, 0], data_link=f"{http_dir}/d.zip#sha256={digest}",
                                                 result_files={"/out/base.txt": "x"}))
        result = await pool.run(spec)
        assert result.ok, result.stderr_text
        assert base64.b64decode(result.body["/out/base.txt"]) == b"over http"
        assert (tmp_path / "cache" / f"{digest}.zip").read_bytes() == data
        wrong = await pool.run(
            TaskSpec(package("add"), TaskBody(params=[0, 0], data_link=f"{http_dir}/d.zip", data_sha256="0" * 64))
        )
        assert not wrong.ok and "sha256" in (wrong.error or "")
        missing = await pool.run(TaskSpec(package("add"), TaskBody(params=[0, 0], data_link=f"{http_dir}/nope.zip")))
        assert not missing.ok and "404" in (missing.error or "")

    with_pool(go, tmp_path, workers=1)


@pytest.mark.parametrize(
    "entries, symlink, why",
    [
        ({"../evil.txt": b"x"}, "", "'..'"),
        ({"/etc/evil": b"x"}, "", "absolute"),
        ({"ok.txt": b"x"}, "link", "symbolic link"),
        ({f"f{i}": b"" for i in range(30)}, "", "entries"),
        ({"bomb.bin": b"\0" * (2 << 20)}, "", "ratio"),
        ({"big.bin": os.urandom(3 << 20)}, "", "limit"),
    ],
)
def test_unsafe_data_zips_are_refused(tmp_path: Path, entries: Dict[str, bytes], symlink: str, why: str) -> None:
    limits = ZipLimits(max_entries=20, max_entry_bytes=2 << 20, max_total_bytes=16 << 20)
    data = make_zip(entries, symlink)
    with pytest.raises(UnsafeInputError) as info:
        check_zip(data, limits)
    assert why in str(info.value)
    zip_path = tmp_path / "bad.zip"
    zip_path.write_bytes(data)

    async def go(pool: WorkerPool) -> None:
        result = await pool.run(TaskSpec(package("add"), TaskBody(params=[1, 1], data_link=str(zip_path))))
        assert not result.ok and why in (result.error or "")

    with_pool(go, tmp_path, workers=1, zip_limits=limits)


def test_not_a_zip_is_refused() -> None:
    with pytest.raises(UnsafeInputError, match="not a zip"):
        check_zip(b"PK nope")


def test_stats_snapshot_counts_tasks(tmp_path: Path) -> None:
    async def go(pool: WorkerPool) -> None:
        await asyncio.gather(*(pool.run(TaskSpec(package("add"), TaskBody(params=[i, 0]), owner="me"))
                               for i in range(10)))
        await pool.run(TaskSpec(package("loop"), timeout=0.2, owner="me"))
        stats = pool.stats()
        assert stats.done == 11 and stats.failed == 1 and stats.queued == 0 and stats.running == 0
        assert sum(w.tasks_done for w in stats.workers) == 11
        assert all(w.pid for w in stats.workers) and {w.state for w in stats.workers} == {"idle"}

    with_pool(go, tmp_path)


def test_big_preload_files_and_result_body_travel_outside_json(tmp_path: Path) -> None:
    """Preload files go to node as raw blobs after the request line, in their order, and a
    result body bigger than the full-check size comes back as raw bytes after the reply line
    (checked without being decoded); with ``release_inputs`` the pool drops the inputs."""
    big = os.urandom(5 << 20)  # its base64 makes a body over package.FULL_CHECK_MAX
    files = {"/in/big.bin": b64(big), "/in/empty.bin": "", "/in/small.txt": b64(b"small")}

    async def go(pool: WorkerPool) -> None:
        outputs = {"/out/big.bin": "x", "/out/empty.bin": "x", "/out/small.txt": "x"}
        spec = TaskSpec(package("add"), TaskBody(params=[1, 2], preload_files=dict(files), result_files=outputs),
                        release_inputs=True)
        result = await pool.run(spec)
        assert result.ok, result.stderr_text
        assert spec.body.preload_files is None
        out = result.body
        assert out["data"] == 3
        assert base64.b64decode(out["/out/big.bin"]) == big
        assert out["/out/empty.bin"] == "" and base64.b64decode(out["/out/small.txt"]) == b"small"
        # a spec without release_inputs keeps its inputs, and the process still speaks the
        # line protocol after the blobs
        again = TaskSpec(package("add"), TaskBody(params=[3, 4], preload_files={"/in/a.txt": b64(b"a")}))
        result = await pool.run(again)
        assert result.ok and result.body["data"] == 7
        assert again.body.preload_files == {"/in/a.txt": b64(b"a")}

    with_pool(go, tmp_path, workers=1)
