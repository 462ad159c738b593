"""Hostile or broken data_links fail only their own task, within its deadline; the pool's
workers all stay alive (issue: a ValueError from URL parsing used to kill a worker slot,
/dev/zero grew the server without bound, a silent server held a worker for 60 s)."""

from __future__ import annotations

import asyncio
import io
import socket
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import Any, Iterator, List

import pytest
from listeners import accepting

from motivus_dev.runtime.datalink import DataLinkError, DataLinkStore, DataZip, check_zip
from motivus_dev.runtime.package import PackageStore
from motivus_dev.runtime.paths import UnsafeInputError
from motivus_dev.runtime.pool import WorkerPool
from motivus_dev.runtime.task import TaskResult, TaskSpec
from motivus_dev.taskbody import TaskBody

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "loaders"))
import helpers  # noqa: E402
from zips import lying_zip  # noqa: E402

STORE = PackageStore()


def load(store: DataLinkStore, link: str, local: bool = True) -> DataZip:
    return asyncio.run(store.load(link, local=local))


def add() -> Any:
    return STORE.intern_files(helpers.wasm("add"), helpers.LOADER.read_bytes())


def run_all(tmp_path: Path, links: List[str], timeout: float = 3.0) -> List[TaskResult]:
    """Each link in a task of its own on ONE worker, then a plain task that must succeed."""
    helpers.need_node()

    async def main() -> List[TaskResult]:
        pool = WorkerPool(1, timeout, 512, data_store=DataLinkStore(tmp_path / "cache"))
        await pool.start()
        try:
            results = [await pool.run(TaskSpec(add(), TaskBody(params=[1, 1], data_link=link))) for link in links]
            results.append(await pool.run(TaskSpec(add(), TaskBody(params=[2, 3]))))
            return results
        finally:
            await pool.close()

    return asyncio.run(main())


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server on 127.0.0.1 that accepts and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    with accepting(listener):
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/d.zip"


def dripping_server(head: bytes, drip: bytes, every: float, times: int) -> Iterator[str]:
    """An http server on 127.0.0.1 that sends ``head`` at once, then the bytes of ``drip``
    one at a time, one every ``every`` s, ``times`` at most (bounded), over and over."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.recv(4096)
                conn.sendall(head)
                for i in range(times):
                    if stop.is_set():
                        break
                    try:
                        conn.sendall(drip[i % len(drip) : i % len(drip) + 1])
                    except OSError:
                        break
                    time.sleep(every)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/d.zip"
    stop.set()
    thread.join(5)
    listener.close()


@pytest.fixture
def drip_server() -> Iterator[str]:
    """Headers at once, then the body a byte every 0.3 s (30 s at most)."""
    yield from dripping_server(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n", b"P", 0.3, 100)


@pytest.fixture
def header_drip_server() -> Iterator[str]:
    """The status line and headers a byte every 0.2 s (60 s at most): each read gets a byte,
    so no read timeout ever fires."""
    yield from dripping_server(b"", b"HTTP/1.1 200 OK\r\nX-Drip: " + b"a" * 1000, 0.2, 300)


def test_bad_links_fail_their_task_with_the_reason_and_the_worker_lives_on(tmp_path: Path) -> None:
    (tmp_path / "lie.zip").write_bytes(lying_zip())
    results = run_all(tmp_path, [
        "http://[::1",  # an unparsable URL
        "http://[::1",  # twice: the one worker slot must still be there
        "/dev/zero",  # endless: only regular files
        str(tmp_path),  # a directory
        "ftp://127.0.0.1/x.zip",
        "http:///nohost.zip",
        str(tmp_path / "lie.zip"),
    ])
    *bad, plain = results
    reasons = [r.error or "" for r in bad]
    assert all(not r.ok for r in bad), reasons
    assert "is not a valid URL" in reasons[0] and "is not a valid URL" in reasons[1]
    assert "not a regular file" in reasons[2] and "Is a directory" in reasons[3]
    assert "unsupported scheme 'ftp'" in reasons[4] and "has no host" in reasons[5]
    assert "inflates to more than the 100 bytes it declares" in reasons[6]
    assert plain.ok and plain.body["data"] == 5


def test_a_silent_server_fails_the_task_at_its_deadline(tmp_path: Path, silent_server: str) -> None:
    started = time.monotonic()
    silent, plain = run_all(tmp_path, [silent_server], timeout=2.0)
    assert time.monotonic() - started < 15
    assert not silent.ok and "deadline exceeded" in (silent.error or ""), silent.error
    assert plain.ok


def test_a_dripping_server_fails_the_task_at_its_deadline(tmp_path: Path, drip_server: str) -> None:
    started = time.monotonic()
    drip, plain = run_all(tmp_path, [drip_server], timeout=2.0)
    assert time.monotonic() - started < 15
    assert not drip.ok and "deadline" in (drip.error or ""), drip.error
    assert plain.ok


def test_a_server_dripping_its_headers_fails_the_task_at_its_deadline(
    tmp_path: Path, header_drip_server: str
) -> None:
    started = time.monotonic()
    drip, plain = run_all(tmp_path, [header_drip_server], timeout=2.0)
    assert time.monotonic() - started < 10  # it held the slot about 90 s past a 3 s deadline
    assert not drip.ok and "deadline exceeded" in (drip.error or ""), drip.error
    assert plain.ok


def test_a_fifo_fails_its_task_at_once_and_the_slot_lives_on(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "data.zip"
    os.mkfifo(fifo)
    started = time.monotonic()
    bad, plain = run_all(tmp_path, [str(fifo)], timeout=3.0)
    assert time.monotonic() - started < 10  # no writer ever comes: it used to hang for good
    assert not bad.ok and "not a regular file" in (bad.error or ""), bad.error
    assert plain.ok


def test_local_links_are_read_only_under_the_allowed_directories(tmp_path: Path) -> None:
    """A local path names no file outside the allowed directories, and says nothing of
    whether one exists there; through a symlink neither."""
    allowed = tmp_path / "project"
    allowed.mkdir()
    good = allowed / "d.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("a.txt", b"a")
    good.write_bytes(buf.getvalue())
    secret = tmp_path / "secret.zip"
    secret.write_bytes(buf.getvalue())
    secret.chmod(0o600)
    (allowed / "link.zip").symlink_to(secret)
    store = DataLinkStore(tmp_path / "cache", local_roots=[allowed])
    assert load(store, str(good)).data == buf.getvalue()
    assert load(store, good.as_uri()).data == buf.getvalue()
    refusals = []
    for link in (str(secret), str(tmp_path / "no-such.zip"), str(allowed / "link.zip"), "/etc/shadow",
                 f"{allowed}/../secret.zip", "relative.zip"):
        with pytest.raises(DataLinkError) as refused:
            load(store, link)
        refusals.append(refused.value.message.replace(repr(link), "LINK"))
    assert len(set(refusals)) == 1 and "allowed directories" in refusals[0], refusals
    # a task from a browser page or a cluster names no local file at all
    with pytest.raises(DataLinkError, match="only http"):
        load(store, str(good), local=False)


def test_the_zip_check_counts_what_entries_really_inflate_to() -> None:
    with pytest.raises(UnsafeInputError, match="inflates to more than the 100 bytes it declares"):
        check_zip(lying_zip())
    honest = io.BytesIO()
    with zipfile.ZipFile(honest, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.txt", b"x" * 5000)
    check_zip(honest.getvalue())


def test_the_download_cache_keeps_checked_archives_by_content_and_revalidates(tmp_path: Path, http_dir: str) -> None:
    import os

    root = tmp_path / "www"
    url = f"{http_dir}/d.zip"
    store = DataLinkStore(tmp_path / "cache")
    (root / "d.zip").write_bytes(lying_zip())
    with pytest.raises(UnsafeInputError):
        load(store, url)
    assert not list((tmp_path / "cache").glob("*.zip"))  # a refused archive is never kept

    def zip_of(text: bytes, mtime: float) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as archive:
            archive.writestr("a.txt", text)
        (root / "d.zip").write_bytes(buf.getvalue())
        os.utime(root / "d.zip", (mtime, mtime))
        return buf.getvalue()

    first = zip_of(b"one", time.time() - 100)
    assert load(store, url).data == first
    assert [p.name for p in (tmp_path / "cache").glob("*.zip")] == [f"{load(store, url).sha256}.zip"]
    second = zip_of(b"two", time.time())
    assert load(store, url).data == second  # the URL is revalidated: a changed file is seen


def test_the_loopback_stops_at_once_while_a_download_drips(tmp_path: Path, drip_server: str) -> None:
    """SIGINT, then SIGTERM, used to wait for a dripping download to end."""
    import json
    import os
    import signal
    import subprocess

    helpers.need_node()
    package = helpers.write_package("add", tmp_path / "pkg")
    proc = subprocess.Popen(
        [sys.executable, "-m", "motivus_dev", "loopback", "--port", "0", "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().split("=", 1)[1]
        driver = (
            "import asyncio, json, sys\n"
            "from motivus_dev.client import Client\n"
            "async def main():\n"
            f"    c = await Client.connect({url!r}, 't')\n"
            f"    c.call_async(dict(json.loads(sys.argv[1]), data_link={drip_server!r}, params=[1, 1]))\n"
            "    await asyncio.sleep(30)\n"
            "asyncio.run(main())\n"
        )
        client = subprocess.Popen([sys.executable, "-c", driver, json.dumps(package)], cwd=tmp_path)
        time.sleep(2.0)  # the download is dripping now
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
        assert time.monotonic() - started < 10
        client.kill()
        client.wait()
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
