"""The marketplace beyond one machine, with real servers: several `motivus marketplace serve`
processes sharing one PostgreSQL database and one S3 bucket, presigned downloads straight
from the bucket, `motivus marketplace migrate` there and back, the schema Alembic makes on
both databases, and clear errors for every backend mistake."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional

import httpx
import pytest
from click.testing import CliRunner, Result
from conftest import distributed_registry
from marketplace_helpers import TINY_LOADER, CountingApp, RunningServer, Seed, build_package, data_zip, minimal_wasm

from motivus_dev.cli import main
from motivus_dev.marketplace.client.push import push
from motivus_dev.marketplace.client.resolve import resolve
from motivus_dev.marketplace.server.location import RegistryLocation
from motivus_dev.marketplace.server.store import Store
from motivus_dev.reporter import NullReporter

ALGOS = "/api/package_registry/algorithms/"
REGISTRY_VARS = ("MOTIVUS_MARKETPLACE_DATA", "MOTIVUS_MARKETPLACE_DATABASE", "MOTIVUS_MARKETPLACE_BLOBS")


def motivus(*args: str, **env: Optional[str]) -> Result:
    environment: Dict[str, Optional[str]] = {name: None for name in REGISTRY_VARS}
    environment.update(env)
    return CliRunner().invoke(main, list(args), env=environment)


def location_args(where: RegistryLocation) -> List[str]:
    if where.data_dir is not None:
        return ["--data-dir", str(where.data_dir)]
    return ["--database", where.database, "--blobs", where.blobs]


class ServeProcess:
    """`motivus marketplace serve --port 0` in a process of its own."""

    def __init__(self, *args: str, env: Optional[Dict[str, str]] = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "motivus_dev", "marketplace", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})},
        )
        assert self.proc.stdout is not None
        seen: List[str] = []
        while True:
            line = self.proc.stdout.readline()
            assert line, f"the server did not start: {''.join(seen)}"
            seen.append(line)
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                self.url = match.group(1)
                break

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture()
def shared(postgres: Any, seaweed: Any) -> RegistryLocation:
    """An empty PostgreSQL + S3 registry."""
    return distributed_registry(postgres, seaweed)


def _push(url: str, token: str, algorithm_id: int, pkg: Path, version: str) -> httpx.Response:
    with httpx.Client(timeout=120) as http:
        return http.post(
            f"{url}{ALGOS}{algorithm_id}/versions",
            data={"version": json.dumps({"name": version, "metadata": {}})},
            files={"package": (pkg.name, pkg.read_bytes(), "application/zip")},
            headers={"authorization": f"Bearer {token}"},
        )


def _versions(url: str, token: str) -> List[Dict[str, Any]]:
    listed = httpx.get(f"{url}{ALGOS}?name=algo", headers={"authorization": f"Bearer {token}"})
    assert listed.status_code == 200, listed.text
    versions: List[Dict[str, Any]] = listed.json()["data"][0]["versions"]
    return versions


def test_two_servers_on_one_database_and_bucket_are_one_registry(shared: RegistryLocation, tmp_path: Path) -> None:
    # The administration goes through the variables, the servers through the flags.
    env = {"MOTIVUS_MARKETPLACE_DATABASE": shared.database, "MOTIVUS_MARKETPLACE_BLOBS": shared.blobs}
    assert motivus("marketplace", "user", "add", "alice", **env).exit_code == 0
    token = motivus("marketplace", "token", "create", "--user", "alice", "--kind", "personal", **env)
    app = motivus("marketplace", "token", "create", "--user", "alice", "--kind", "application", **env)
    created = motivus("marketplace", "algorithm", "create", "algo", "--owner", "alice", **env)
    assert (token.exit_code, app.exit_code, created.exit_code) == (0, 0, 0), created.output
    personal, application = token.stdout.strip(), app.stdout.strip()
    algorithm_id = int(re.search(r"id (\d+)", created.stdout).group(1))  # type: ignore[union-attr]
    servers = [ServeProcess(*location_args(shared)) for _ in range(2)]
    try:
        first, second = (server.url for server in servers)
        wasm = minimal_wasm(300_000)
        pkg = build_package(tmp_path / "a", "algo", "1.0.0", wasm=wasm, data=data_zip({"in.txt": b"x"}))
        assert _push(first, personal, algorithm_id, pkg, "1.0.0").status_code == 201
        # Read and download through the other server.
        [version] = _versions(second, application)
        assert hashlib.sha256(httpx.get(version["wasm_url"]).content).hexdigest() == hashlib.sha256(wasm).hexdigest()
        assert version["wasm_url"].startswith(second)
        # Concurrent pushes of one version through both servers: exactly one 201.
        statuses: List[int] = []
        barrier = threading.Barrier(6)

        def racer(n: int) -> None:
            racing = build_package(tmp_path / f"race{n}", "algo", "2.0.0", wasm=minimal_wasm(50_000 + n))
            barrier.wait()
            statuses.append(_push(servers[n % 2].url, personal, algorithm_id, racing, "2.0.0").status_code)

        threads = [threading.Thread(target=racer, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert sorted(statuses) == [201] + [422] * 5
        assert [v["name"] for v in _versions(first, application)] == ["1.0.0", "2.0.0"]
        # The same versions and files through either (each server names itself in its URLs).
        seen = [json.dumps(_versions(url, application)).replace(url, "SERVER") for url in (first, second)]
        assert seen[0] == seen[1]
        # A racer that lost after storing its files left orphans (one that lost before, at the
        # server's check of the name, stored nothing); gc beside the running servers leaves
        # exactly the files of the versions.
        gc = motivus("marketplace", "gc", **env)
        assert gc.exit_code == 0 and re.search(r"removed \d+ orphan", gc.stdout), gc.output
        with Store(shared) as store:
            assert store.integrity_problems() == []
            assert {digest for digest, _ in store.blobs.digests()} == store.referenced_digests()
    finally:
        for server in servers:
            server.stop()


def test_presigned_downloads_never_pass_through_the_server(
    shared: RegistryLocation, motivus24: Path, tmp_path: Path
) -> None:
    seed = Seed(shared)
    counting: List[CountingApp] = []

    def wrap(app: Any) -> Any:
        counting.append(CountingApp(app))
        return counting[0]

    wasm, data = minimal_wasm(200_000), data_zip({"etc/in.txt": b"fs"})
    with RunningServer(shared, app_wrapper=wrap, presign=600) as server:
        pkg = build_package(tmp_path / "b", "algo", "0.0.1", wasm=wasm, data=data)
        push(pkg, "algo", "0.0.1", {}, server.url, seed.alice, "T", NullReporter())
        [version] = _versions(server.url, seed.app)
        s3 = os.environ["AWS_ENDPOINT_URL"]
        for key in ("wasm_url", "loader_url", "data_url", "package_url"):
            assert version[key].startswith(s3) and "X-Amz-Signature=" in version[key], version[key]
        # Our client follows them (and checks each sha256).
        resolved = resolve(server.url, seed.app, "algo", "0.0.1", tmp_path / "cache")
        assert (resolved.wasm, resolved.loader, resolved.downloaded) == (wasm, TINY_LOADER, 2)
        # The published 2.4.0 client follows them too.
        snippet = (
            "import json, sys\nfrom motivus.client import Client\nclient = Client.__new__(Client)\n"
            "client.algorithm_cache = {}\nprint(json.dumps(client.get_algorithm('algo', '0.0.1')))\n"
        )
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update(ALGORITHM_REPO_HOST=f"127.0.0.1:{server.port}", APPLICATION_TOKEN=seed.app)
        run = subprocess.run([str(motivus24 / "python"), "-c", snippet], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        import base64

        got = json.loads(run.stdout.strip().splitlines()[-1])
        assert base64.b64decode(got["wasm"]) == wasm and httpx.get(got["data_link"]).content == data
        # An old URL to the server is redirected to the store.
        old = f"{server.url}/api/package_registry/files/{version['wasm_hash']}/algo-0.0.1.wasm"
        redirect = httpx.get(old)
        assert redirect.status_code == 307 and redirect.headers["location"].startswith(s3)
        assert httpx.get(old, follow_redirects=True).content == wasm
    served = [request for request in counting[0].requests if "/files/" in request]
    assert served == [f"GET /api/package_registry/files/{version['wasm_hash']}/algo-0.0.1.wasm"] * 2
    # An expired or altered signature is refused by the store.
    tampered = version["wasm_url"].replace("X-Amz-Expires=600", "X-Amz-Expires=6000")
    assert httpx.get(tampered).status_code == 403


def test_without_presign_s3_files_stream_through_the_server(shared: RegistryLocation, tmp_path: Path) -> None:
    seed = Seed(shared)
    wasm = minimal_wasm(3 * 1024 * 1024)  # several chunks
    with RunningServer(shared) as server:
        pkg = build_package(tmp_path / "c", "algo", "0.0.1", wasm=wasm)
        push(pkg, "algo", "0.0.1", {}, server.url, seed.alice, "T", NullReporter())
        [version] = _versions(server.url, seed.app)
        assert version["wasm_url"].startswith(server.url)
        response = httpx.get(version["wasm_url"])
        assert response.content == wasm and response.headers["content-type"] == "application/wasm"
        head = httpx.head(version["wasm_url"])
        assert head.status_code == 200 and int(head.headers["content-length"]) == len(wasm)


def _seed_versions(where: Any, tmp_path: Path) -> Seed:
    seed = Seed(where)
    with RunningServer(where) as server:
        for version, payload in (("0.0.1", None), ("0.0.2", data_zip({"etc/a.txt": b"a"}))):
            pkg = build_package(tmp_path / "m" / version, "algo", version, wasm=minimal_wasm(10_000), data=payload)
            push(pkg, "algo", version, {"author": "A"}, server.url, seed.alice, "T", NullReporter())
    return seed


def _snapshot(where: RegistryLocation, token: str) -> List[Dict[str, Any]]:
    """What a driver sees (URLs aside) and every file's bytes, through a server of ``where``."""
    with RunningServer(where) as server:
        versions = _versions(server.url, token)
        for version in versions:
            for key in ("wasm_url", "loader_url", "data_url", "package_url"):
                url = version.pop(key)
                version[key.replace("_url", "_bytes")] = httpx.get(url).content if url else None
        return versions


def test_migrate_a_data_directory_to_postgresql_and_s3_and_back(
    shared: RegistryLocation, tmp_path: Path
) -> None:
    source = tmp_path / "registry"
    seed = _seed_versions(source, tmp_path)
    before = _snapshot(RegistryLocation.of(source), seed.app)
    with Store(source) as store:
        files = len(store.referenced_digests())
    rows = 2 + 4 + 1 + 1 + 2  # users, tokens, algorithm, its owner, versions
    there = ["marketplace", "migrate", "--from", str(source), "--to", shared.database, "--blobs", shared.blobs]
    first = motivus(*there)
    assert first.exit_code == 0, first.output
    assert f"copied {rows} row(s) (0 already there) and {files} file(s)" in first.output
    assert _snapshot(shared, seed.app) == before  # the same tokens work, the same ids and bytes
    again = motivus(*there)
    assert again.exit_code == 0 and f"copied 0 row(s) ({rows} already there) and 0 file(s)" in again.output
    assert f"({files} already there, checked)" in again.output
    # A push to the new home continues the ids where the old one stopped.
    with RunningServer(shared) as server:
        pkg = build_package(tmp_path / "n", "algo", "0.0.3")
        push(pkg, "algo", "0.0.3", {}, server.url, seed.alice, "T", NullReporter())
        assert [v["id"] for v in _versions(server.url, seed.app)] == [1, 2, 3]
    back = tmp_path / "back"
    home = motivus("marketplace", "migrate", "--from", shared.database, "--from-blobs", shared.blobs,
                   "--to", str(back))
    assert home.exit_code == 0, home.output
    assert _snapshot(RegistryLocation.of(back), seed.app)[:2] == before


def test_migrate_checks_every_file_and_refuses_another_registry(
    shared: RegistryLocation, tmp_path: Path
) -> None:
    source = tmp_path / "registry"
    seed = _seed_versions(source, tmp_path)
    with Store(source) as store:
        [first, _] = store.get_algorithm(seed.algorithm_id).versions
        blob = store.location.blobs + f"/{first.wasm_sha256[:2]}/{first.wasm_sha256}"
    Path(blob).write_bytes(b"flipped")
    refused = motivus("marketplace", "migrate", "--from", str(source), *location_args(shared))
    assert refused.exit_code != 0 and "Traceback" not in refused.output
    assert f"the source's file {first.wasm_sha256} is corrupt" in refused.stderr
    with Store(shared) as target:
        assert target.list_algorithms() == [] and target.user_names() == {}  # nothing copied
    # A target that is another registry is refused before anything is written.
    other = tmp_path / "other"
    Seed(other, algorithm="different")
    clash = motivus("marketplace", "migrate", "--from", str(other), "--to", str(tmp_path / "registry2"))
    assert clash.exit_code == 0, clash.output
    mixed = motivus("marketplace", "migrate", "--from", str(tmp_path / "registry2"), "--to", str(source))
    assert mixed.exit_code != 0 and "the target already holds another registry" in mixed.stderr


def test_alembic_schema_matches_the_tables_on_both_databases(postgres: Any, tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from motivus_dev.marketplace.server.schema import metadata

    for url in (f"sqlite:///{tmp_path / 'm.sqlite3'}", postgres.create_database()):
        location = RegistryLocation.of(tmp_path / "unused", database=url)
        with Store(location) as store, store.engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
        assert differences == [], (url, differences)


#: The schema a kit before Alembic made (users of algorithms in algorithm_users, no hash).
LEGACY_SCHEMA = """
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, inserted_at TEXT NOT NULL);
CREATE TABLE tokens (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL, token_sha256 TEXT NOT NULL UNIQUE, inserted_at TEXT NOT NULL);
CREATE TABLE algorithms (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, is_public INTEGER NOT NULL DEFAULT 1,
    cost REAL NOT NULL DEFAULT 0, charge_schema TEXT NOT NULL DEFAULT 'PER_EXECUTION', inserted_at TEXT NOT NULL);
CREATE UNIQUE INDEX algorithms_name_nocase ON algorithms(name COLLATE NOCASE);
CREATE TABLE algorithm_users (algorithm_id INTEGER NOT NULL, user_id INTEGER NOT NULL, role TEXT NOT NULL);
CREATE TABLE versions (id INTEGER PRIMARY KEY, algorithm_id INTEGER NOT NULL REFERENCES algorithms(id),
    name TEXT NOT NULL, metadata TEXT NOT NULL, package_sha256 TEXT NOT NULL, package_size INTEGER NOT NULL,
    loader_sha256 TEXT NOT NULL, loader_size INTEGER NOT NULL, wasm_sha256 TEXT NOT NULL,
    wasm_size INTEGER NOT NULL, data_sha256 TEXT, data_size INTEGER, inserted_at TEXT NOT NULL,
    UNIQUE (algorithm_id, name));
INSERT INTO users VALUES (1, 'alice', '2026-01-01T00:00:00');
INSERT INTO algorithms VALUES (1, 'algo', 1, 0, 'PER_EXECUTION', '2026-01-01T00:00:00');
INSERT INTO algorithm_users VALUES (1, 1, 'OWNER');
"""


def test_a_data_directory_of_an_earlier_kit_is_adopted(tmp_path: Path) -> None:
    data = tmp_path / "old"
    data.mkdir()
    conn = sqlite3.connect(str(data / "marketplace.sqlite3"))
    conn.executescript(LEGACY_SCHEMA)
    conn.close()
    with Store(data) as store:
        algorithm = store.get_algorithm_by_name("algo")
        assert algorithm.roles == {1: "OWNER"}
    added = motivus("marketplace", "algorithm", "add-maintainer", "algo", "alice", "--data-dir", str(data))
    assert added.exit_code != 0 and "already OWNER" in added.stderr  # the role moved over
    columns = [row[1] for row in sqlite3.connect(str(data / "marketplace.sqlite3")).execute(
        "PRAGMA table_info(versions)")]
    assert "hash" in columns


@pytest.mark.parametrize(
    "args,message",
    [
        (["--database", "mysql://db/registry"], "unsupported database URL 'mysql://db/registry'"),
        (["--database", "postgresql://kit:secret@127.0.0.1:9/none"], "postgresql://kit:***@127.0.0.1:9/none failed"),
        (["--blobs", "gs://bucket"], "unsupported blob store 'gs://bucket'"),
        (["--blobs", "s3://no-such-bucket/x"], "cannot reach the bucket 'no-such-bucket'"),
    ],
)
def test_backend_mistakes_are_one_clear_error(
    seaweed: Any, tmp_path: Path, args: List[str], message: str
) -> None:
    result = motivus("marketplace", "user", "add", "alice", "--data-dir", str(tmp_path / "d"), *args)
    assert result.exit_code != 0 and "Traceback" not in result.output, result.output
    assert message in result.stderr and "error:" in result.stderr
    assert "secret" not in result.output


def test_migrate_names_what_is_missing(tmp_path: Path) -> None:
    to_url = motivus("marketplace", "migrate", "--from", str(tmp_path / "a"), "--to", "postgresql://x@127.0.0.1/r")
    assert to_url.exit_code != 0 and "--to is a database URL: say where its files go with --blobs" in to_url.stderr
    from_url = motivus("marketplace", "migrate", "--from", "postgresql://x@127.0.0.1/r", "--to", str(tmp_path / "b"))
    assert from_url.exit_code != 0 and "--from-blobs" in from_url.stderr
    assert "Traceback" not in to_url.output + from_url.output


def test_presign_needs_s3_blobs(tmp_path: Path) -> None:
    result = motivus("marketplace", "serve", "--port", "0", "--presign", "--data-dir", str(tmp_path / "d"))
    assert result.exit_code != 0 and "--presign needs package files in S3" in result.stderr
