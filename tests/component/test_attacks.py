"""Task code as an attacker writes it, through every door it comes in by: the pool as
`motivus test` runs it, `motivus loopback` (a driver's tasks), `motivus worker` (a
cluster's tasks) and, for the containment attacks, a Dask worker of `motivus loopback
--cluster`. Each test names the attack and what must stop it; everything runs on
127.0.0.1 and is bounded in time. The loader is tests/data/loaders/attacker_loader.js.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Iterator, List, Optional, Tuple

import pytest
from cluster_double import ClusterDouble
from listeners import accepting

from motivus_dev.client import Client, TaskFailedError
from motivus_dev.loopback.server import LoopbackServer
from motivus_dev.runtime.package import PackageStore
from motivus_dev.runtime.pool import WorkerPool
from motivus_dev.runtime.sandbox import SandboxUnavailable, probe
from motivus_dev.runtime.task import TaskSpec
from motivus_dev.taskbody import TaskBody
from motivus_dev.waterbear import decode_body, decode_output
from motivus_dev.worker_client import ClusterWorker, WorkerOptions

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "loaders"))
import helpers  # noqa: E402

ATTACKER = Path(helpers.__file__).with_name("attacker_loader.js")
DOORS = ["test", "loopback", "worker"]
#: The doors of the containment attacks: also a Dask worker of `motivus loopback --cluster`.
ATTACK_DOORS = [*DOORS, "cluster"]


class Outcome:
    """What one task gave: ok, its data, and its error or stderr text."""

    def __init__(self, ok: bool, data: Any, text: str) -> None:
        self.ok, self.data, self.text = ok, data, text

    def __repr__(self) -> str:
        return f"Outcome(ok={self.ok}, data={self.data!r}, text={self.text[-300:]!r})"


Attack = Tuple[str, Any]  # (attack, argument); ("add", [a, b]) is an honest task


def _files(attack: str) -> Tuple[bytes, bytes]:
    if attack == "add":
        return helpers.wasm("add"), helpers.LOADER.read_bytes()
    return helpers.wasm("add"), ATTACKER.read_bytes()


def _params(attack: Attack) -> Any:
    return attack[1] if attack[0] == "add" else list(attack)


def through_test(attacks: List[Attack], timeout: Optional[float] = 20.0, **task: Any) -> List[Outcome]:
    """The pool as `motivus test` runs it: one owner, one slot."""
    helpers.need_node()
    store = PackageStore()

    async def main() -> List[Outcome]:
        async with WorkerPool(1, timeout, 512, data_dirs=[]) as pool:
            out = []
            for attack in attacks:
                spec = TaskSpec(store.intern_files(*_files(attack[0])), TaskBody(params=_params(attack)),
                                owner="motivus test", **task)
                result = await pool.run(spec)
                text = result.error or result.stderr_text
                out.append(Outcome(result.ok, result.body.get("data"), text))
            return out

    return asyncio.run(main())


@contextlib.asynccontextmanager
async def loopback_with_one_slot(
    data_dir: Path, timeout: Optional[float], cluster: bool = False
) -> AsyncIterator[Tuple[Any, LoopbackServer]]:
    """A loopback on a free port, one worker slot, local data_links under ``data_dir``; with
    ``cluster``, the slot is a Dask worker process (``--cluster local:1``)."""
    pool: Any
    if cluster:
        from motivus_dev.cluster.pool import ClusterPool

        pool = ClusterPool("local:1", timeout, 512, data_dirs=[data_dir])
    else:
        pool = WorkerPool(1, timeout, 512, data_dirs=[data_dir])
    await pool.start()
    server = LoopbackServer(pool, "127.0.0.1", 0)
    await server.start()
    try:
        yield pool, server
    finally:
        await server.close()


def through_loopback(attacks: List[Attack], tmp_path: Path, timeout: Optional[float] = 20.0, cluster: bool = False,
                     **task: Any) -> List[Outcome]:
    """A driver program on this machine sends the tasks to a loopback with one slot (on a
    Dask worker with ``cluster``)."""
    helpers.need_node()

    async def main() -> List[Outcome]:
        async with loopback_with_one_slot(tmp_path, timeout, cluster) as (pool, server):
            out = []
            async with await Client.connect(server.url, "t") as client:
                for i, attack in enumerate(attacks):
                    directory = tmp_path / f"pkg-{i}"
                    directory.mkdir(parents=True, exist_ok=True)
                    wasm, loader = _files(attack[0])
                    (directory / "a.wasm").write_bytes(wasm)
                    (directory / "a.js").write_bytes(loader)
                    task_id = client.call_async(dict(task, wasm_path=str(directory / "a.wasm"),
                                                     loader_path=str(directory / "a.js"), params=_params(attack)))
                    try:
                        value = await asyncio.wait_for(client.select_task(task_id), 60)
                        out.append(Outcome(True, value, ""))  # the client gives the body's data
                    except TaskFailedError as exc:
                        out.append(Outcome(False, None, exc.stderr))
            return out

    return asyncio.run(main())


def through_worker(attacks: List[Attack], timeout: Optional[float] = 20.0, **task: Any) -> List[Outcome]:
    """A cluster sends the tasks to `motivus worker` with one slot."""
    helpers.need_node()

    async def main() -> List[Outcome]:
        async with ClusterDouble(set()) as cluster:
            options = WorkerOptions(threads=1, backend_host=cluster.host, tls=False, token=None, memory_mb=512,
                                    timeout=timeout, reconnect_seconds=0.2, heartbeat_seconds=0.3)
            worker = ClusterWorker(options)
            running = asyncio.ensure_future(worker.run())
            try:
                out = []
                for attack in attacks:
                    tid = (await cluster.next("input_request"))["payload"]["tid"]
                    wasm, loader = _files(attack[0])
                    body = dict({"run_type": "wasm", "params": _params(attack), "arguments": None,
                                 "preload_files": None, "result_files": None, "data_link": None}, **task)
                    body.update(wasm=base64.b64encode(wasm).decode(), loader=base64.b64encode(loader).decode())
                    await cluster.send("input", {"type": "work", "tid": tid, "ref": tid, "body": body})
                    payload = (await cluster.next("result", timeout=60))["payload"]
                    ok = not payload.get("exitCode")
                    out.append(Outcome(ok, decode_body(payload["body"]).get("data"),
                                       decode_output(payload.get("stderr"))))
                return out
            finally:
                worker.stop()
                await asyncio.wait_for(running, 20)

    return asyncio.run(main())


def through(door: str, attacks: List[Attack], tmp_path: Path, **options: Any) -> List[Outcome]:
    if door == "test":
        return through_test(attacks, **options)
    if door == "loopback":
        return through_loopback(attacks, tmp_path, **options)
    if door == "cluster":
        return through_loopback(attacks, tmp_path, cluster=True, **options)
    return through_worker(attacks, **options)


HONEST: Attack = ("add", [2, 3])


def assert_slot_lives(outcome: Outcome) -> None:
    assert outcome.ok and outcome.data == 5, outcome


@pytest.fixture
def unix_listener(tmp_path: Path) -> Iterator[Tuple[str, List[Any]]]:
    """A Unix socket listening by path, as the Docker engine's does; logs each connection."""
    path = str(tmp_path / "engine.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(4)
    with accepting(listener) as seen:
        yield path, seen


@pytest.mark.parametrize("door", ATTACK_DOORS)
def test_a_unix_socket_by_path_is_not_there(door: str, tmp_path: Path, unix_listener: Tuple[str, List[Any]]) -> None:
    """The critical one: `net.connect({path: '/var/run/docker.sock'})` got HTTP 200. The
    sandbox's filesystem binds no socket: the path does not exist for the task."""
    path, seen = unix_listener
    docker = "/var/run/docker.sock"
    *answers, honest = through(door, [("unix", path), ("unix", docker), HONEST], tmp_path)
    assert os.path.exists(docker), "the Docker engine's socket is there to be attacked (setup starts the engine)"
    for answer in answers:
        assert answer.ok and answer.data == "denied: ENOENT", answer
    assert seen == []
    assert_slot_lives(honest)


@pytest.mark.parametrize("door", ATTACK_DOORS)
def test_the_host_is_out_of_reach(door: str, tmp_path: Path) -> None:
    """A service on the host's 127.0.0.1, a program, a file of the host to read and one to
    write, the server's environment: none of them, through every door."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.2)
    secret, pwned = tmp_path / "secret.txt", tmp_path / "pwned.txt"
    secret.write_text("private key")
    os.environ["MOTIVUS_TEST_SECRET"] = "s3cret"
    try:
        [seen, honest] = through(door, [("host", [listener.getsockname()[1], str(secret), str(pwned)]), HONEST],
                                 tmp_path)
        with pytest.raises(OSError):
            listener.accept()  # nobody connected
    finally:
        del os.environ["MOTIVUS_TEST_SECRET"]
        listener.close()
    assert seen.ok and seen.data["env"] == "", seen  # env: {} as on the platform
    for key in ("spawn", "read", "write"):
        assert seen.data[key].startswith("denied: ERR_ACCESS_DENIED"), (key, seen)
    assert seen.data["tcp"].startswith("denied: "), seen
    assert not pwned.exists()
    assert_slot_lives(honest)


@pytest.mark.parametrize("door", ATTACK_DOORS)
def test_a_host_process_cannot_be_signalled(door: str, tmp_path: Path) -> None:
    """`process.kill(PID, 'SIGKILL')` killed a host `sleep`: the task has its own PID namespace."""
    victim = subprocess.Popen(["sleep", "60"])
    try:
        kill, honest = through(door, [("kill", victim.pid), HONEST], tmp_path)
        time.sleep(0.2)
        assert victim.poll() is None, "the host process was killed"
        assert kill.data.startswith("denied: ESRCH"), kill
        assert_slot_lives(honest)
    finally:
        victim.kill()
        victim.wait()


FORGERIES = [
    # the wedge: a body announced that never comes (no deadline: the slot was lost for good)
    '{"op":"warning","text":"x","body_bytes":1000000000}\n',
    # a result for this task and one for the next task
    '{"op":"result","id":1,"error":"forged"}\n{"op":"result","id":2,"error":"forged"}\n',
    # half a line, to break the framing of what node writes next
    '{"op":"res',
]


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("forgery", FORGERIES, ids=["wedge", "results", "half-line"])
def test_a_forged_pool_message_fails_only_the_forging_task(door: str, forgery: str, tmp_path: Path) -> None:
    """A loader wrote to fd 1, the pool's channel. Replies carry a key the task cannot read:
    a forgery is a protocol violation, its process is killed, only its task fails (at once,
    without a deadline), and the slot serves the next task."""
    started = time.monotonic()
    forged, honest = through(door, [("forge", forgery), HONEST], tmp_path, timeout=None)
    assert time.monotonic() - started < 30
    assert not forged.ok and "broke the worker process's protocol" in forged.text, forged
    assert_slot_lives(honest)


def test_no_descriptor_of_the_host_reaches_the_task(tmp_path: Path) -> None:
    """Descriptors other than the pool's channels are closed: even one the parent marked
    inheritable does not reach the sandbox."""
    secret = tmp_path / "secret.txt"
    secret.write_text("the host's secret")
    fd = os.open(secret, os.O_RDONLY)
    os.set_inheritable(fd, True)
    try:
        [seen, honest] = through_test([("fds", None), HONEST])
    finally:
        os.close(fd)
    assert seen.ok and "secret" not in json.dumps(seen.data), seen
    assert_slot_lives(honest)


def test_the_task_sees_only_node_its_libraries_and_an_empty_tmp(tmp_path: Path) -> None:
    """Each layer alone: node's permission model denies the look outright; under it, the
    bubblewrap layer shows a filesystem of node, its libraries and an empty /tmp."""
    import dataclasses
    import shutil

    [look] = through_test([("look", None)])
    assert all(v.startswith("denied: ERR_ACCESS_DENIED") for k, v in look.data.items() if k.startswith("/")), look
    sandbox = probe(shutil.which("node") or "node")
    assert sandbox.contained and sandbox.permission_flag is not None, sandbox.missing
    script = tmp_path / "look.js"
    script.write_text(
        "const fs = require('fs'); const out = {};\n"
        "for (const p of ['/', '/proc', '/etc', '/run', '/var', '/root', '/home', '/tmp', '/usr/bin', '/dev']) {\n"
        "  try { out[p] = fs.readdirSync(p).sort(); } catch (e) { out[p] = e.code; } }\n"
        "out.uid = process.getuid(); out.env = Object.keys(process.env).sort();\n"
        "out.write = ['/usr/x', '/tmp/x', '/x'].map((p) => { try { fs.writeFileSync(p, 'x'); return 'ok'; }\n"
        "  catch (e) { return e.code; } });\n"
        "console.log(JSON.stringify(out));\n"
    )
    bare = dataclasses.replace(sandbox, permission_flag=None)
    done = subprocess.run(bare.command(script, {}), capture_output=True, text=True, timeout=30)
    seen = json.loads(done.stdout)
    assert seen["/"] == ["dev", "lib", "lib64", "motivus", "tmp", "usr"], seen
    for path in ("/proc", "/etc", "/run", "/var", "/root", "/home"):
        assert seen[path] == "ENOENT", (path, seen)
    assert seen["/tmp"] == [] and seen["/usr/bin"] == ["node"] and seen["write"] == ["EROFS"] * 3
    assert "docker.sock" not in json.dumps(seen) and seen["uid"] == 65534 and seen["env"] == ["PATH", "PWD"]


def test_one_drivers_output_never_reaches_another(tmp_path: Path) -> None:
    """Driver A's task wrote to stderr; driver B's task then crashed its node process: B's
    error showed A's output. Each driver's tasks get processes of their own, and a crash
    reports only the crashing task's output."""
    helpers.need_node()

    async def main() -> Tuple[str, str]:
        async with loopback_with_one_slot(tmp_path, 20.0) as (pool, server):
            wasm, loader = _files("say")
            (tmp_path / "a.wasm").write_bytes(wasm)
            (tmp_path / "a.js").write_bytes(loader)
            task = {"wasm_path": str(tmp_path / "a.wasm"), "loader_path": str(tmp_path / "a.js")}
            async with await Client.connect(server.url, "a") as a, await Client.connect(server.url, "b") as b:
                await a.select_task(a.call_async(dict(task, params=["say", "SECRET-OF-DRIVER-A"])))
                with pytest.raises(TaskFailedError) as crashed:
                    await b.select_task(b.call_async(dict(task, params=["crash", "B-IS-CRASHING"])))
                # and A's next task still runs (its process was replaced for B, then for A)
                assert await a.select_task(a.call_async(dict(task, params=["say", "again"]))) == "said"
            return crashed.value.stderr, str(crashed.value)

    stderr, message = asyncio.run(main())
    assert "SECRET-OF-DRIVER-A" not in stderr and "SECRET-OF-DRIVER-A" not in message
    assert "B-IS-CRASHING" in stderr and "SIGKILL" in stderr, stderr


@pytest.mark.parametrize("door", ["loopback", "worker"])
def test_a_cancelled_task_frees_its_slot_at_once(door: str, tmp_path: Path) -> None:
    """A task that never answers, no deadline: the driver goes away (loopback) or the
    cluster aborts it (worker); the one slot must serve the next task straight away."""
    helpers.need_node()
    hang = {"wasm": base64.b64encode(helpers.wasm("add")).decode(), "loader": base64.b64encode(ATTACKER.read_bytes())
            .decode()}

    async def loopback() -> float:
        async with loopback_with_one_slot(tmp_path, None) as (pool, server):
            wasm, loader = _files("hang")
            (tmp_path / "a.wasm").write_bytes(wasm)
            (tmp_path / "a.js").write_bytes(loader)
            task = {"wasm_path": str(tmp_path / "a.wasm"), "loader_path": str(tmp_path / "a.js")}
            gone = await Client.connect(server.url, "gone")
            lost = gone.select_task(gone.call_async(dict(task, params=["hang", None])))
            while pool.stats().running == 0:
                await asyncio.sleep(0.05)
            await gone.close()
            await asyncio.gather(lost, return_exceptions=True)
            started = time.monotonic()
            async with await Client.connect(server.url, "next") as nxt:
                wasm, loader = _files("add")
                (tmp_path / "b.wasm").write_bytes(wasm)
                (tmp_path / "b.js").write_bytes(loader)
                value = await asyncio.wait_for(nxt.select_task(nxt.call_async(
                    {"wasm_path": str(tmp_path / "b.wasm"), "loader_path": str(tmp_path / "b.js"), "params": [2, 3]})),
                    30)
            assert value == 5
            return time.monotonic() - started

    async def worker() -> float:
        async with ClusterDouble(set()) as cluster:
            options = WorkerOptions(threads=1, backend_host=cluster.host, tls=False, token=None, memory_mb=512,
                                    timeout=None, reconnect_seconds=0.2, heartbeat_seconds=0.3)
            cw = ClusterWorker(options)
            running = asyncio.ensure_future(cw.run())
            try:
                tid = (await cluster.next("input_request"))["payload"]["tid"]
                body = dict({"run_type": "wasm", "params": ["hang", None], "data_link": None}, **hang)
                await cluster.send("input", {"type": "work", "tid": tid, "ref": tid, "body": body})
                while not cw.stats.running:
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.3)
                await cluster.send("abort_task", {"tid": tid})
                started = time.monotonic()
                tid = (await cluster.next("input_request"))["payload"]["tid"]
                wasm, loader = _files("add")
                body = {"run_type": "wasm", "params": [2, 3], "data_link": None,
                        "wasm": base64.b64encode(wasm).decode(), "loader": base64.b64encode(loader).decode()}
                await cluster.send("input", {"type": "work", "tid": tid, "ref": tid, "body": body})
                payload = (await cluster.next("result", timeout=30))["payload"]
                assert decode_body(payload["body"])["data"] == 5
                return time.monotonic() - started
            finally:
                cw.stop()
                await asyncio.wait_for(running, 20)

    seconds = asyncio.run(loopback() if door == "loopback" else worker())
    assert seconds < 15  # forever before: the hanging task kept the only slot


def test_a_browser_page_cannot_name_a_local_file(tmp_path: Path) -> None:
    """A page on http://localhost read a 0600 root file through data_link: tasks from a
    browser (an Origin header) may only give http(s) URLs."""
    import websockets

    helpers.need_node()
    secret = tmp_path / "secret.zip"
    secret.write_bytes(b"PK not really")
    secret.chmod(0o600)

    async def main() -> str:
        async with loopback_with_one_slot(tmp_path, 20.0) as (pool, server):
            ws = await websockets.connect(f"{server.url}?token=t", origin="http://localhost:8000")  # type: ignore
            await ws.send(json.dumps({"topic": "room:client?", "event": "phx_join", "payload": {}, "ref": "1"}))
            user = json.loads(await ws.recv())["payload"]["response"]["uuid"]
            await ws.send(json.dumps({"topic": "room:client?", "event": "phx_leave", "payload": {}, "ref": None}))
            await ws.recv()
            channel = f"room:client:{user}:{uuid.uuid4()}"
            await ws.send(json.dumps({"topic": channel, "event": "phx_join", "payload": {}, "ref": "2"}))
            await ws.recv()
            body = {"run_type": "wasm", "params": [1, 1], "data_link": str(secret),
                    "wasm": base64.b64encode(helpers.wasm("add")).decode(),
                    "loader": base64.b64encode(helpers.LOADER.read_bytes()).decode()}
            await ws.send(json.dumps({"topic": channel, "event": "task", "ref": "t1",
                                      "payload": {"body": body, "type": "work", "ref": "t1", "client_id": "c"}}))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if frame["event"] == "result":
                    await ws.close()
                    return decode_output(frame["payload"]["stderr"])

    stderr = asyncio.run(main())
    assert "only http(s) URLs" in stderr and "not really" not in stderr, stderr


def test_a_driver_names_no_file_outside_the_allowed_directories(tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside.zip"
    outside.write_bytes(b"PK")
    allowed = tmp_path / "project"
    allowed.mkdir()
    try:
        results = [
            through_loopback([("add", [1, 1])], allowed, data_link=str(outside))[0],
            through_loopback([("add", [1, 1])], allowed, data_link=str(tmp_path / "nothing-here.zip"))[0],
        ]
    finally:
        outside.unlink()
    texts = [r.text.replace(str(outside), "X").replace(str(tmp_path / "nothing-here.zip"), "X") for r in results]
    assert all(not r.ok for r in results) and texts[0] == texts[1] and "allowed directories" in texts[0], texts


def test_the_worker_reads_no_local_file(tmp_path: Path) -> None:
    secret = tmp_path / "d.zip"
    secret.write_bytes(b"PK")
    [refused, honest] = through_worker([("add", [1, 1]), HONEST], data_link=str(secret))
    assert not refused.ok and "only http(s) URLs" in refused.text, refused
    assert not honest.ok  # the same body: it names the file too


def test_escape_sequences_from_a_loader_reach_the_log_escaped(tmp_path: Path) -> None:
    """`ESC[2J` in a failing task's stderr reached the loopback's log raw."""
    helpers.need_node()
    wasm, loader = _files("escape")
    (tmp_path / "a.wasm").write_bytes(wasm)
    (tmp_path / "a.js").write_bytes(loader)
    proc = subprocess.Popen([sys.executable, "-m", "motivus_dev", "loopback", "--port", "0", "--workers", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().split("=", 1)[1]
        driver = (
            "import asyncio, sys\n"
            "from motivus_dev.client import Client, TaskFailedError\n"
            "async def main():\n"
            f"    async with await Client.connect({url!r}, 't') as c:\n"
            "        try:\n"
            "            await c.select_task(c.call_async({'wasm_path': 'a.wasm', 'loader_path': 'a.js',\n"
            "                'params': ['escape', 'boom\\x1b[2J\\x1b]0;pwned\\x07\\u202egnp.exe']}))\n"
            "        except TaskFailedError:\n"
            "            pass\n"
            "asyncio.run(main())\n"
        )
        subprocess.run([sys.executable, "-c", driver], cwd=tmp_path, timeout=60, check=True)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "boom" in err, err
    assert "\x1b[2J" not in err and "\x07" not in err and "\u202e" not in err, repr(err)
    assert "boom\\x1b[2J\\x1b]0;pwned\\x07\\u202egnp.exe" in err, err


def test_without_a_sandbox_task_code_is_refused_unless_the_risk_is_named(tmp_path: Path) -> None:
    """A machine where bubblewrap cannot work: the pool refuses to start, and says how to fix
    it; `--insecure-no-sandbox` runs anyway; `motivus worker` has no such flag."""
    import shutil

    helpers.need_node()
    node_dir = tmp_path / "bin"
    node_dir.mkdir()
    (node_dir / "node").symlink_to(shutil.which("node") or "node")
    old = os.environ["PATH"]
    os.environ["PATH"] = str(node_dir)  # no bwrap on this PATH
    try:
        sandbox = probe(str(node_dir / "node"))

        async def start(allow: bool) -> None:
            async with WorkerPool(1, 5.0, 512, node=str(node_dir / "node"), allow_unsandboxed=allow):
                pass

        with pytest.raises(SandboxUnavailable) as refused:
            asyncio.run(start(False))
        asyncio.run(start(True))
    finally:
        os.environ["PATH"] = old
    assert not sandbox.contained and "bubblewrap is not installed" in " ".join(sandbox.missing)
    assert "--insecure-no-sandbox" in (refused.value.hint or "")
    out = subprocess.run([sys.executable, "-m", "motivus_dev", "worker", "--help"], capture_output=True, text=True)
    assert "insecure" not in out.stdout
