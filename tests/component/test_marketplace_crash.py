"""A server killed (SIGKILL) during an upload leaves no partial version visible, and the
same version can be pushed again after a restart."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, List, Optional
from urllib.parse import urlsplit

import httpx
import pytest
from marketplace_helpers import Seed, build_package, minimal_wasm

import motivus_dev
from motivus_dev.marketplace.server.location import RegistryLocation
from motivus_dev.marketplace.server.store import Store

ALGOS = "/api/package_registry/algorithms/"
REPO_ROOT = Path(motivus_dev.__file__).resolve().parent.parent
LAUNCHER = Path(__file__).resolve().parents[1] / "marketplace_launcher.py"


class ServerProcess:
    def __init__(self, where: RegistryLocation, pause_before_commit: Optional[Path] = None) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
        pause = ["--pause-before-commit", str(pause_before_commit)] if pause_before_commit else []
        self.proc = subprocess.Popen(
            [sys.executable, str(LAUNCHER), "--port", "0", *_location_args(where), *pause],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
        assert self.proc.stdout is not None
        seen = []
        match = None
        while match is None:
            line = self.proc.stdout.readline()
            assert line, f"server did not start: {''.join(seen)}"
            seen.append(line)
            match = re.search(r"listening on (http://\S+)", line)
        self.url = match.group(1)
        self.output = seen

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc.stdout:
            self.proc.stdout.close()


def _location_args(where: RegistryLocation) -> List[str]:
    if where.data_dir is not None:
        return ["--data-dir", str(where.data_dir)]
    return ["--database", where.database, "--blobs", where.blobs]


@pytest.fixture()
def servers() -> Iterator[List[ServerProcess]]:
    started: List[ServerProcess] = []
    yield started
    for server in started:
        server.stop()


def _post_request(url: str, token: str, algorithm_id: int, pkg: Path, version: str) -> httpx.Request:
    return httpx.Request(
        "POST",
        f"{url}{ALGOS}{algorithm_id}/versions",
        data={"version": json.dumps({"name": version, "metadata": {}})},
        files={"package": (pkg.name, pkg.read_bytes(), "application/zip")},
        headers={"authorization": f"Bearer {token}"},
    )


def _assert_nothing_visible(url: str, seed: Seed, wasm_sha: str, killed_pid: int) -> None:
    listed = httpx.get(f"{url}{ALGOS}?name=algo", headers={"authorization": f"Bearer {seed.app}"})
    assert listed.status_code == 200
    assert listed.json()["data"][0]["versions"] == []
    wasm_url = f"{url}/api/package_registry/files/{wasm_sha}/algo-1.0.0.wasm"
    assert httpx.get(wasm_url).status_code == 404  # an orphan blob is never served
    with Store(seed.where) as store:
        if store.location.blobs_in_s3:  # the killed server's own scratch dir, named by its pid
            root = store.blobs.scratch_root().parent
            assert [entry.name for entry in root.iterdir() if entry.name.startswith(f"{killed_pid}-")] == []
        else:
            assert list(store.blobs.scratch_root().iterdir()) == []  # the restart removed the scratch files
        assert not store.blobs.has(wasm_sha)  # and the orphan blobs
        assert store.integrity_problems() == []


def _push_again(url: str, seed: Seed, pkg: Path, wasm: bytes) -> None:
    with httpx.Client(timeout=120) as http:
        response = http.send(_post_request(url, seed.alice, seed.algorithm_id, pkg, "1.0.0"))
    assert response.status_code == 201, response.text
    [version] = httpx.get(f"{url}{ALGOS}?name=algo", headers={"authorization": f"Bearer {seed.app}"}).json()["data"][0][
        "versions"
    ]
    assert hashlib.sha256(httpx.get(version["wasm_url"]).content).hexdigest() == hashlib.sha256(wasm).hexdigest()
    with Store(seed.where) as store:
        assert store.integrity_problems() == []


def test_kill_during_the_request_body(
    tmp_path: Path, registry: RegistryLocation, servers: List[ServerProcess]
) -> None:
    seed = Seed(registry)
    wasm = minimal_wasm(24 * 1024 * 1024)  # random bytes: the zip stays ~24 MiB
    pkg = build_package(tmp_path / "build", "algo", "1.0.0", wasm=wasm)
    server = ServerProcess(seed.where)
    servers.append(server)
    request = _post_request(server.url, seed.alice, seed.algorithm_id, pkg, "1.0.0")
    body = request.read()
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        head = f"POST {request.url.raw_path.decode()} HTTP/1.1\r\nhost: {parts.netloc}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in request.headers.items() if k.lower() != "host")
        sock.sendall(head.encode() + b"\r\n")
        sock.sendall(body[: int(len(body) * 0.7)])
        time.sleep(0.5)
        server.kill()
    restarted = ServerProcess(seed.where)
    servers.append(restarted)
    _assert_nothing_visible(restarted.url, seed, hashlib.sha256(wasm).hexdigest(), server.proc.pid)
    _push_again(restarted.url, seed, pkg, wasm)


def test_kill_after_the_blobs_are_written_before_the_commit(
    tmp_path: Path, registry: RegistryLocation, servers: List[ServerProcess]
) -> None:
    seed = Seed(registry)
    wasm = minimal_wasm(4 * 1024 * 1024)
    pkg = build_package(tmp_path / "build", "algo", "1.0.0", wasm=wasm)
    flag = tmp_path / "paused"
    server = ServerProcess(seed.where, pause_before_commit=flag)
    servers.append(server)
    outcome: List[object] = []

    def upload() -> None:
        try:
            with httpx.Client(timeout=120) as http:
                outcome.append(http.send(_post_request(server.url, seed.alice, seed.algorithm_id, pkg, "1.0.0")))
        except httpx.HTTPError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=upload)
    thread.start()
    deadline = time.monotonic() + 60
    while not flag.exists():
        assert time.monotonic() < deadline, "the server never reached the pre-commit point"
        time.sleep(0.05)
    wasm_sha = hashlib.sha256(wasm).hexdigest()
    with Store(seed.where) as store:
        assert store.blobs.has(wasm_sha)  # the blobs are in place, the row is not
    server.kill()
    thread.join(timeout=60)
    assert outcome and isinstance(outcome[0], httpx.HTTPError)  # the client saw the failure
    restarted = ServerProcess(seed.where)
    servers.append(restarted)
    assert any("leftover upload" in line for line in restarted.output)
    _assert_nothing_visible(restarted.url, seed, wasm_sha, server.proc.pid)
    _push_again(restarted.url, seed, pkg, wasm)
