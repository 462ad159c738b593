"""docs/marketplace.md's deployment commands, run as written: PostgreSQL from Debian's
packages in a cluster of its own, SeaweedFS with a bucket, the admin commands on the
variables, two servers with --presign; then a push through one server, a read and a
presigned download through the other, the backup command, and the stop commands.

Only ``REGISTRY_HOME`` differs (a temporary directory instead of /srv/motivus-registry).
The commands are a server administrator's, as root (pg_createcluster, runuser).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import httpx
import pytest
from doc_blocks import doc_block
from marketplace_helpers import build_package, minimal_wasm

from motivus_dev.marketplace.client.push import push
from motivus_dev.marketplace.client.resolve import resolve
from motivus_dev.reporter import NullReporter

ROOT = Path(__file__).resolve().parents[2]


def run_block(script: str, env: Dict[str, str], timeout: float = 600) -> str:
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{script}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    return done.stdout


def running(pid: int) -> bool:
    """Alive and not a zombie (an ended process that a container's init has not reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_listening(log: Path) -> None:
    deadline = time.monotonic() + 60
    while "listening on" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, log.read_text() if log.exists() else f"no {log}"
        time.sleep(0.2)


@pytest.mark.skipif(os.geteuid() != 0, reason="the deployment commands are root's (pg_createcluster, runuser)")
def test_the_deployment_commands_work_as_written(tmp_path: Path) -> None:
    home = tmp_path / "registry-home"
    os.chmod(tmp_path, 0o755)  # runuser -u postgres writes the dump beside the other files
    setup = doc_block("marketplace.md", "deployment: set up")
    assert setup.startswith("export REGISTRY_HOME=/srv/motivus-registry\n")
    setup = setup.replace("/srv/motivus-registry", str(home), 1)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               REGISTRY_HOME=str(home))
    for key in ("MOTIVUS_MARKETPLACE_DATABASE", "MOTIVUS_MARKETPLACE_BLOBS", "MOTIVUS_MARKETPLACE_DATA"):
        env.pop(key, None)
    try:
        run_block(setup, env)
        for port in (4001, 4002):
            wait_listening(home / f"serve-{port}.log")
        variables = dict(re.findall(r"^export (MOTIVUS_MARKETPLACE_\w+)=(\S+)$", setup, re.M))
        aws = dict(re.findall(r"(AWS_\w+)=(\S+)", setup))
        admin_env = {**env, **variables, **aws}
        app = subprocess.run(
            [sys.executable, "-m", "motivus_dev", "marketplace", "token", "create", "--user", "alice",
             "--kind", "application"], env=admin_env, capture_output=True, text=True, check=True,
        ).stdout.strip()
        personal = (home / "alice.token").read_text().strip()
        wasm = minimal_wasm(100_000)
        pkg = build_package(tmp_path / "build", "kmeans", "1.0.0", wasm=wasm)
        push(pkg, "kmeans", "1.0.0", {}, "http://127.0.0.1:4001", personal, "T", NullReporter())
        listed = httpx.get("http://127.0.0.1:4002/api/package_registry/algorithms/?name=kmeans",
                           headers={"authorization": f"Bearer {app}"}).json()["data"][0]["versions"]
        assert listed[0]["wasm_url"].startswith(aws["AWS_ENDPOINT_URL"])  # presigned, to the bucket
        assert hashlib.sha256(httpx.get(listed[0]["wasm_url"]).content).hexdigest() == hashlib.sha256(wasm).hexdigest()
        resolved = resolve("http://127.0.0.1:4002", app, "kmeans", "1.0.0", tmp_path / "cache")
        assert resolved.wasm == wasm
        run_block(doc_block("marketplace.md", "deployment: back up"), env)
        dump = home / "registry.dump"
        assert dump.stat().st_size > 0 and b"PGDMP" in dump.read_bytes()[:5]
    finally:
        stop = doc_block("marketplace.md", "deployment: stop")
        stopped = subprocess.run(["bash", "-uo", "pipefail", "-c", stop], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    for pid_file in home.glob("*.pid"):  # every process the commands started has ended
        assert not running(int(pid_file.read_text())), pid_file.name
    clusters = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout
    assert " registry " not in clusters
