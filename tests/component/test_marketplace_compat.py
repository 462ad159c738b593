"""The published motivus 2.4.0 tools work unchanged against our marketplace server:
its ``motivus push -D`` (which always targets http://localhost:4000) publishes, and its
client's ``get_algorithm`` (which honours ``ALGORITHM_REPO_HOST``) downloads.

The 2.4.0 package runs on Python 3.9 only; the test makes a venv for it, cached under
``$MOTIVUS_TEST_CACHE`` (default: ``<tmp>/motivus-test-cache``).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from marketplace_helpers import TINY_LOADER, RunningServer, Seed, build_package, data_zip, minimal_wasm

from motivus_dev.marketplace.server.store import Store

DEV_PORT = 4000  # hard-coded in 2.4.0's `push -D`


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ALGORITHM_REPO_HOST")}
    env.update(extra)
    return env


@pytest.fixture()
def seed(tmp_path: Path) -> Iterator[Seed]:
    yield Seed(tmp_path / "data")


def test_published_cli_push_dev_publishes_to_our_server(motivus24: Path, seed: Seed, tmp_path: Path) -> None:
    if not _port_free(DEV_PORT):
        pytest.skip(f"port {DEV_PORT} is in use: the 2.4.0 CLI's `push -D` only targets localhost:{DEV_PORT}")
    project = tmp_path / "project"
    (project / "build").mkdir(parents=True)
    (project / "README.md").write_text("# algo\nThe long description.\n")
    (project / "motivus.yml").write_text(
        "version: 1.0\nbuild:\n  compiler: mvcc\n  source: .\npackage:\n  name: algo\n  version: 0.0.1\n"
        "  metadata:\n    short_description: 'tiny'\n    license: 'MIT'\n    author: 'me'\n"
        "    url: ''\n    upstream_url: ''\n    long_description: README.md\n"
    )
    wasm = minimal_wasm(2000)
    build_package(project / "build", "algo", "0.0.1", wasm=wasm, data=data_zip({"in.txt": b"fs"}))
    def push_dev(env: dict) -> subprocess.CompletedProcess:
        """The published CLI's `motivus push -D` (always to localhost:4000)."""
        return subprocess.run([str(motivus24 / "motivus"), "push", "-D"], cwd=project, env=env,
                              capture_output=True, text=True, timeout=120)

    with RunningServer(seed.where, port=DEV_PORT):
        env = _clean_env(MOTIVUS_PERSONAL_ACCESS_TOKEN=seed.alice)
        run = push_dev(env)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "ok: algo-0.0.1" in run.stdout
        # Pushing the same version again: the CLI reports the spec's "name taken" error.
        again = push_dev(env)
        assert again.returncode != 0
        assert "this version name has already been taken" in again.stderr
        # A user who is not a maintainer gets its "not authorized to push" error.
        bob = push_dev(_clean_env(MOTIVUS_PERSONAL_ACCESS_TOKEN=seed.bob))
        assert "not authorized to push version" in bob.stderr
    with Store(seed.where) as store:
        [version] = store.get_algorithm(seed.algorithm_id).versions
    assert version.name == "0.0.1"
    assert version.metadata["long_description"] == "# algo\nThe long description.\n"
    assert version.metadata["short_description"] == "tiny"
    assert version.data_sha256 is not None


_CLIENT_SNIPPET = """
import json, sys
from motivus.client import Client
client = Client.__new__(Client)
client.algorithm_cache = {}
print(json.dumps(client.get_algorithm(sys.argv[1], sys.argv[2])))
"""


def test_published_client_downloads_through_algorithm_repo_host(motivus24: Path, seed: Seed, tmp_path: Path) -> None:
    wasm = minimal_wasm(3000)
    data = data_zip({"in.txt": b"fs"})
    pkg = build_package(tmp_path / "build", "algo", "0.0.1", wasm=wasm, data=data)
    from motivus_dev.marketplace.client.push import push
    from motivus_dev.reporter import NullReporter

    with RunningServer(seed.where) as server:
        push(pkg, "algo", "0.0.1", {}, server.url, seed.alice, "T", NullReporter())
        env = _clean_env(ALGORITHM_REPO_HOST=f"127.0.0.1:{server.port}", APPLICATION_TOKEN=seed.app)
        run = subprocess.run(
            [str(motivus24 / "python"), "-c", _CLIENT_SNIPPET, "algo", "0.0.1"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        got = json.loads(run.stdout.strip().splitlines()[-1])
        assert base64.b64decode(got["wasm"]) == wasm
        assert base64.b64decode(got["loader"]) == TINY_LOADER
        import httpx

        assert httpx.get(got["data_link"]).content == data  # what workers fetch, without a token
        # An unknown version: the published client's own error.
        missing = subprocess.run(
            [str(motivus24 / "python"), "-c", _CLIENT_SNIPPET, "algo", "9.9.9"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert missing.returncode != 0 and "version 9.9.9 not found" in missing.stderr
