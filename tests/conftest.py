"""Shared test set-up: every test session gets its own kit cache, so template repositories
and toolchain caches of the developer's machine neither leak in nor get modified."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from backends import PostgresCluster, SeaweedS3

    from motivus_dev.marketplace.server.location import RegistryLocation

REPO_ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    if "MOTIVUS_CACHE_DIR" not in os.environ or not os.environ.get("MOTIVUS_KEEP_CACHE"):
        base = Path(config.rootpath) / ".pytest_cache" / "motivus-cache"
        os.environ["MOTIVUS_CACHE_DIR"] = str(base)


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Clears the variables the kit reads, so a developer's shell does not change results."""
    for name in list(os.environ):
        if name in {"APPLICATION_TOKEN", "WEBSOCKET_URI", "MOTIVUS_PERSONAL_ACCESS_TOKEN",
                    "PERSONAL_ACCESS_TOKEN", "MOTIVUS_MARKETPLACE_URL", "MOTIVUS_TEMPLATES_DIR"}:
            monkeypatch.delenv(name)
    yield


@pytest.fixture
def templates_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the shipped templates that a test may change."""
    copy = tmp_path / "templates"
    shutil.copytree(REPO_ROOT / "templates", copy)
    monkeypatch.setenv("MOTIVUS_TEMPLATES_DIR", str(copy))
    monkeypatch.setenv("MOTIVUS_CACHE_DIR", str(tmp_path / "cache"))
    return copy


@pytest.fixture(scope="session")
def motivus24() -> Path:
    """The bin directory of a python3.9 venv with the published motivus 2.4.0."""
    from published_client import motivus24_bin

    return motivus24_bin()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """With MOTIVUS_STRICT_SKIPS=1 (set by .ci/run) a skipped test fails: CI must have every
    tool, so a skip there means a missing install step, not a test that may be left out."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and os.environ.get("MOTIVUS_STRICT_SKIPS") == "1" and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped, but MOTIVUS_STRICT_SKIPS=1 forbids skips: {reason}"


@pytest.fixture(scope="session")
def docker_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Docker registry (Debian's ``docker-registry``) on 127.0.0.1: ``host:port``.
    The engine talks plain HTTP to it, as it does to any registry on 127.0.0.0/8."""
    import socket
    import subprocess
    import time
    import urllib.request

    exe = shutil.which("docker-registry")
    if exe is None:
        pytest.skip("needs `docker-registry` (Debian package docker-registry) for the image pull tests")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = tmp_path_factory.mktemp("docker-registry")
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
    )
    log = (root / "registry.log").open("wb")
    proc = subprocess.Popen([exe, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2):
                    break
            except OSError as exc:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log_text = (root / "registry.log").read_text()
                    raise RuntimeError(f"docker-registry did not start: {log_text}") from exc
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[str]:
    """A static HTTP server on 127.0.0.1 for ``tmp_path / "www"``: its base URL."""
    import http.server
    import threading
    from typing import Any

    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def postgres() -> Iterator["PostgresCluster"]:
    """A throw-away PostgreSQL cluster for the whole run (tests/backends.py)."""
    from backends import PostgresCluster, Unavailable

    try:
        cluster = PostgresCluster()
    except Unavailable as exc:
        pytest.skip(str(exc))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def seaweed() -> Iterator["SeaweedS3"]:
    """SeaweedFS's S3 server for the whole run, the AWS variables pointing at it meanwhile."""
    from backends import SeaweedS3, Unavailable, aws_environment

    try:
        server = SeaweedS3()
    except Unavailable as exc:
        pytest.skip(str(exc))
    try:
        with aws_environment(server):
            yield server
    finally:
        server.stop()


#: The marketplace's backends every registry test runs on: the embedded default and the
#: distributed one (PostgreSQL + S3).
REGISTRY_BACKENDS = ("sqlite-dir", "postgresql-s3")


@pytest.fixture(params=REGISTRY_BACKENDS)
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> "RegistryLocation":
    """An empty registry: a data directory, or a new PostgreSQL database and S3 prefix."""
    from motivus_dev.marketplace.server.location import RegistryLocation

    if request.param == "sqlite-dir":
        return RegistryLocation.of(tmp_path / "data")
    return distributed_registry(request.getfixturevalue("postgres"), request.getfixturevalue("seaweed"))


def distributed_registry(postgres: "PostgresCluster", seaweed: "SeaweedS3") -> "RegistryLocation":
    """A new database of the cluster and a new prefix of the bucket."""
    from motivus_dev.marketplace.server.location import RegistryLocation

    return RegistryLocation.of(
        None, database=postgres.create_database(), blobs=seaweed.blobs_url(), s3_endpoint_url=seaweed.endpoint
    )
