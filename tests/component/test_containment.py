"""Task code is contained: a loader run by the pool (loopback, motivus test) can start no
program, write and read no host file, see no environment and reach no local service."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path
from typing import Any, Dict, List

from listeners import accepting

from motivus_dev.runtime.package import PackageStore
from motivus_dev.runtime.pool import WorkerPool
from motivus_dev.runtime.sandbox import sandbox_notes
from motivus_dev.runtime.task import TaskResult, TaskSpec
from motivus_dev.taskbody import TaskBody

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "loaders"))
import helpers  # noqa: E402

HOSTILE = Path(helpers.__file__).with_name("hostile_loader.js")


def run(params_list: List[List[Any]]) -> List[TaskResult]:
    helpers.need_node()
    package = PackageStore().intern_files(helpers.wasm("add"), HOSTILE.read_bytes())

    async def main() -> List[TaskResult]:
        async with WorkerPool(1, 20.0, 512) as pool:
            return [await pool.run(TaskSpec(package, TaskBody(params=params))) for params in params_list]

    return asyncio.run(main())


def test_this_machine_can_contain_task_code() -> None:
    import shutil

    assert sandbox_notes(shutil.which("node") or "node") == ()


def test_a_loader_can_reach_nothing_of_the_host(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("MOTIVUS_TEST_SECRET", "s3cret")
    secret = tmp_path / "secret.txt"
    secret.write_text("private key")
    pwned = tmp_path / "pwned.txt"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    with accepting(listener) as connections:
        [result] = run([[str(pwned), str(secret), listener.getsockname()[1], False]])
        assert connections == []
    assert result.ok, result.stderr_text
    seen: Dict[str, str] = result.body["data"]
    assert seen["env"] == ""  # env: {} as on the platform
    for key in ("child", "write", "read", "environ"):
        assert seen[key].startswith("denied: ERR_ACCESS_DENIED"), (key, seen[key])
    assert seen["connect"].startswith("denied: "), seen["connect"]
    assert not pwned.exists()


def test_a_violation_fails_its_task_with_the_reason(tmp_path: Path) -> None:
    pwned = tmp_path / "pwned.txt"
    [result] = run([[str(pwned), "/etc/hostname", 9, True]])
    assert not result.ok and result.exit_code == 1
    assert "ERR_ACCESS_DENIED" in result.stderr_text or "restricted" in result.stderr_text, result.stderr_text
    assert not pwned.exists()


def test_no_worker_slot_is_lost_whatever_tasks_do(tmp_path: Path) -> None:
    """Tasks that hang, hog memory, crash, kill their process, break the contract or send
    hostile inputs, all at once on two workers; then every ordinary task is answered."""
    import os
    import signal

    from broken_loaders import HANGS, NO_BODY, SILENT_EXIT, THROWS

    helpers.need_node()
    store = PackageStore()
    wasm = helpers.wasm("add")

    def loader(text: str) -> Any:
        return store.intern_files(wasm, text.encode())

    add = store.intern_files(wasm, helpers.LOADER.read_bytes())
    loop = store.intern_files(helpers.wasm("loop"), helpers.LOADER.read_bytes())
    grow = store.intern_files(helpers.wasm("grow"), helpers.LOADER.read_bytes())
    hostile = store.intern_files(wasm, HOSTILE.read_bytes())

    async def main() -> None:
        async with WorkerPool(2, 3.0, 400) as pool:
            bad = [
                TaskSpec(loop), TaskSpec(grow), TaskSpec(loader(HANGS)), TaskSpec(loader(SILENT_EXIT)),
                TaskSpec(loader(NO_BODY)), TaskSpec(loader(THROWS)),
                TaskSpec(hostile, TaskBody(params=[str(tmp_path / "pwned"), "/etc/hostname", 9, True])),
                TaskSpec(add, TaskBody(params=[1, 1], data_link="http://[::1")),
                TaskSpec(add, TaskBody(params=[1, 1], data_link="/dev/zero")),
            ]
            running = [asyncio.ensure_future(pool.run(spec)) for spec in bad]
            await asyncio.sleep(0.5)
            for pid in pool.pids()[:1]:
                os.kill(pid, signal.SIGKILL)  # from outside, in the middle of it all
            failed = await asyncio.gather(*running)
            assert all(not r.ok for r in failed), [r.error for r in failed]
            good = await asyncio.gather(*(pool.run(TaskSpec(add, TaskBody(params=[i, i]))) for i in range(20)))
            assert [r.body["data"] for r in good] == [2 * i for i in range(20)]
            for _ in range(100):  # each task had a process of its own: fresh ones are starting
                if len(pool.pids()) == 2:
                    break
                await asyncio.sleep(0.1)
            assert len(pool.pids()) == 2
        assert not (tmp_path / "pwned").exists()

    asyncio.run(main())
