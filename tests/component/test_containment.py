"""Task code is contained: a loader run by the pool (loopback, motivus test) can start no
program, write and read no host file, see no environment and reach no local service."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
from pathlib import Path
from typing import Any, Dict, List

from motivus_dev.runtime.package import PackageStore
from motivus_dev.runtime.pool import WorkerPool
from motivus_dev.runtime.sandbox import sandbox_notes
from motivus_dev.runtime.task import TaskResult, TaskSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "loaders"))
import helpers  # noqa: E402

HOSTILE = Path(helpers.__file__).with_name("hostile_loader.js")


def run(params_list: List[List[Any]]) -> List[TaskResult]:
    helpers.need_node()
    package = PackageStore().intern_files(helpers.wasm("add"), HOSTILE.read_bytes())

    async def main() -> List[TaskResult]:
        async with WorkerPool(1, 20.0, 512) as pool:
            return [await pool.run(TaskSpec(package, params=params)) for params in params_list]

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
    listener.settimeout(0.2)
    connections: List[Any] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connections.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        [result] = run([[str(pwned), str(secret), listener.getsockname()[1], False]])
    finally:
        stop.set()
        thread.join(5)
        listener.close()
    assert result.ok, result.stderr_text
    seen: Dict[str, str] = result.body_value()["data"]
    assert seen["env"] == ""  # env: {} as on the platform
    for key in ("child", "write", "read", "environ"):
        assert seen[key].startswith("denied: ERR_ACCESS_DENIED"), (key, seen[key])
    assert seen["connect"].startswith("denied: "), seen["connect"]
    assert connections == [] and not pwned.exists()


def test_a_violation_fails_its_task_with_the_reason(tmp_path: Path) -> None:
    pwned = tmp_path / "pwned.txt"
    [result] = run([[str(pwned), "/etc/hostname", 9, True]])
    assert not result.ok and result.exit_code == 1
    assert "ERR_ACCESS_DENIED" in result.stderr_text or "restricted" in result.stderr_text, result.stderr_text
    assert not pwned.exists()
