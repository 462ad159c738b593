"""`push` against a real local marketplace: success, progress, retries of transient
failures (a real server that answers 503 twice), no retry of a 4xx, clear messages, and
the token never in any output."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import httpx
import pytest
from marketplace_helpers import RunningServer, Seed, build_package, minimal_wasm

from motivus_dev.errors import MarketplaceError, PackageError
from motivus_dev.marketplace.client.push import NewAlgorithm, PushResult, push
from motivus_dev.marketplace.server.location import RegistryLocation
from motivus_dev.marketplace.server.store import Store
from motivus_dev.reporter import RecordingReporter

VAR = "MOTIVUS_PERSONAL_ACCESS_TOKEN"


class Flaky:
    """ASGI layer in front of the real app: counts version POSTs and answers the first
    ``fail`` of them with ``status`` (after reading the body, as a proxy would)."""

    def __init__(self, app: Callable[..., Any], fail: int, status: int = 503) -> None:
        self.app = app
        self.fail = fail
        self.status = status
        self.posts = 0

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].endswith("/versions"):
            self.posts += 1
            if self.posts <= self.fail:
                more = True
                while more:
                    message = await receive()
                    more = message.get("more_body", False)
                await send(
                    {
                        "type": "http.response.start",
                        "status": self.status,
                        "headers": [(b"content-type", b"text/plain")],
                    }
                )
                await send({"type": "http.response.body", "body": b"unavailable"})
                return
        await self.app(scope, receive, send)


@pytest.fixture()
def seed(registry: RegistryLocation) -> Seed:
    """A seeded registry of each backend (conftest.py's ``registry``)."""
    return Seed(registry)


def _serve(seed: Seed, fail: int = 0, status: int = 503) -> Iterator[tuple]:
    holder: List[Flaky] = []

    def wrap(app: Any) -> Any:
        holder.append(Flaky(app, fail, status))
        return holder[0]

    server = RunningServer(seed.where, app_wrapper=wrap)
    try:
        yield server, holder[0]
    finally:
        server.stop()


def _all_text(reporter: RecordingReporter, *extra: Any) -> str:
    return json.dumps(reporter.events) + "".join(str(e) for e in extra)


def _push(
    server: RunningServer, pkg: Path, version: str, token: str, reporter: RecordingReporter, **kw: Any
) -> PushResult:
    return push(
        pkg,
        "algo",
        version,
        {"author": "me", "extra": "dropped"},
        server.url,
        token,
        VAR,
        reporter,
        backoff_s=0.01,
        **kw,
    )


def test_push_publishes_with_progress(seed: Seed, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pkg = build_package(tmp_path / "build", "algo", "1.0.0", wasm=minimal_wasm(300_000))
    for server, _flaky in _serve(seed):
        reporter = RecordingReporter()
        result = _push(server, pkg, "1.0.0", seed.alice, reporter)
        assert result.version_id is not None and result.attempts == 1 and not result.dry_run
        assert result.location == f"/api/package_registry/algorithms/{seed.algorithm_id}/versions/{result.version_id}"
        assert result.metadata == {"author": "me"}
        advanced = sum(float(v) for kind, v in reporter.events if kind == "advance")
        assert advanced == pkg.stat().st_size  # the progress covers the whole file
        assert ("step", "uploading algo-1.0.0.zip") in reporter.events
        with Store(seed.where) as store:
            versions = store.get_algorithm(seed.algorithm_id).versions
        assert [(v.name, v.package_sha256) for v in versions] == [("1.0.0", result.package_sha256)]
        assert seed.alice not in _all_text(reporter, result.to_json(), caplog.text)


def test_push_retries_503_twice_then_succeeds(seed: Seed, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pkg = build_package(tmp_path / "build", "algo", "1.0.0")
    for server, flaky in _serve(seed, fail=2):
        reporter = RecordingReporter()
        result = _push(server, pkg, "1.0.0", seed.alice, reporter, retries=3)
        assert flaky.posts == 3 and result.attempts == 3
        warnings = [m for kind, m in reporter.events if kind == "warning" and "503" in m]
        assert len(warnings) == 2 and all("retrying" in w for w in warnings)
        assert any("'extra' is not sent" in m for kind, m in reporter.events if kind == "warning")
        assert seed.alice not in _all_text(reporter, result.to_json(), caplog.text)


def test_push_gives_up_after_the_retries(seed: Seed, tmp_path: Path) -> None:
    pkg = build_package(tmp_path / "build", "algo", "1.0.0")
    for server, flaky in _serve(seed, fail=10, status=502):
        with pytest.raises(MarketplaceError, match="answered 502") as info:
            _push(server, pkg, "1.0.0", seed.alice, RecordingReporter(), retries=2)
        assert flaky.posts == 3
        assert "gave up after 3 attempts" in str(info.value)


@pytest.mark.parametrize("status", [400, 404, 409, 422, 429])
def test_push_never_retries_a_4xx(seed: Seed, tmp_path: Path, status: int) -> None:
    pkg = build_package(tmp_path / "build", "algo", "1.0.0")
    for server, flaky in _serve(seed, fail=1, status=status):
        with pytest.raises(MarketplaceError):
            _push(server, pkg, "1.0.0", seed.alice, RecordingReporter(), retries=3)
        assert flaky.posts == 1


def test_push_retries_connection_errors(tmp_path: Path) -> None:
    pkg = build_package(tmp_path / "build", "algo", "1.0.0")
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    reporter = RecordingReporter()
    with pytest.raises(MarketplaceError, match="cannot reach the marketplace") as info:
        push(
            pkg,
            "algo",
            "1.0.0",
            {},
            f"http://127.0.0.1:{port}",
            "secret-token-123",
            VAR,
            reporter,
            retries=2,
            backoff_s=0.01,
        )
    assert len([e for e in reporter.events if e[0] == "warning"]) == 2
    assert "secret-token-123" not in _all_text(reporter, info.value)


def test_push_messages(seed: Seed, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pkg = build_package(tmp_path / "build", "algo", "1.0.0")
    outputs: List[Any] = []
    for server, _flaky in _serve(seed):
        # 401: names the variable the token came from, never the token.
        with pytest.raises(MarketplaceError) as info:
            _push(server, pkg, "1.0.0", "mvp_wrong_token_value", RecordingReporter())
        assert "401" in str(info.value) and VAR in str(info.value)
        assert "mvp_wrong_token_value" not in str(info.value)
        # 403: bob is neither owner nor maintainer.
        with pytest.raises(MarketplaceError, match="not an owner or maintainer") as info:
            _push(server, pkg, "1.0.0", seed.bob, RecordingReporter())
        assert "add you as a MAINTAINER" in str(info.value)
        # 403 with an application token: the reason is the token's kind, not maintainership.
        with pytest.raises(MarketplaceError, match="application token") as info:
            _push(server, pkg, "1.0.0", seed.app, RecordingReporter())
        assert "personal access token" in str(info.value)
        outputs.append(info.value)
        # Version taken: bump package.version.
        reporter = RecordingReporter()
        _push(server, pkg, "1.0.0", seed.alice, reporter)
        outputs.append(reporter)
        other = build_package(tmp_path / "other", "algo", "1.0.0", wasm=minimal_wasm(99))
        with pytest.raises(MarketplaceError, match="already published") as info:
            _push(server, other, "1.0.0", seed.alice, reporter)
        assert "bump package.version in motivus.yml" in str(info.value)
        outputs.append(info.value)
        # Unknown algorithm, with and without --create-algorithm (the platform's required terms).
        pkg2 = build_package(tmp_path / "b2", "fresh", "0.1.0")
        with pytest.raises(MarketplaceError, match="does not exist") as info:
            push(pkg2, "fresh", "0.1.0", {}, server.url, seed.alice, VAR, RecordingReporter())
        assert "--create-algorithm" in str(info.value)
        terms = NewAlgorithm(cost=2.0, charge_schema="PER_MINUTE", is_public=True)
        made = push(
            pkg2, "fresh", "0.1.0", {}, server.url, seed.alice, VAR, RecordingReporter(), create_algorithm=terms
        )
        assert made.created_algorithm and made.version_id is not None
        [fresh] = httpx.get(f"{server.url}/api/package_registry/algorithms/?name=fresh").json()["data"]
        assert (fresh["cost"], fresh["charge_schema"], fresh["is_public"]) == (2.0, "PER_MINUTE", True)
    text = "".join(str(o.events if isinstance(o, RecordingReporter) else o) for o in outputs) + caplog.text
    assert seed.alice not in text and seed.bob not in text


def test_push_reports_the_servers_reason_for_a_bad_package(seed: Seed, tmp_path: Path) -> None:
    # Well-formed locally (the zip and names are right) but the wasm is not a module:
    # only the server's full validation finds it, and push shows its reason.
    pkg = build_package(tmp_path / "build", "algo", "1.0.0", wasm=b"\0asm\x01\0\0\0\x01\xff")
    for server, _flaky in _serve(seed):
        with pytest.raises(MarketplaceError, match="refused the package algo-1.0.0.zip: package: the .wasm is not"):
            _push(server, pkg, "1.0.0", seed.alice, RecordingReporter())


def test_local_checks_and_dry_run_send_nothing(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(PackageError, match="run `motivus build`"):
        push(tmp_path / "build/algo-1.0.0.zip", "algo", "1.0.0", {}, url, "t", VAR, RecordingReporter())
    pkg = build_package(tmp_path / "build", "algo", "1.0.0")
    reporter = RecordingReporter()
    result = push(pkg, "algo", "1.0.0", {"license": "MIT"}, url, None, VAR, reporter, dry_run=True)
    assert result.dry_run and result.version_id is None and result.attempts == 0
    assert any("dry run: would upload algo-1.0.0.zip" in m for _, m in reporter.events)
    with pytest.raises(MarketplaceError, match="no personal access token"):
        push(pkg, "algo", "1.0.0", {}, url, None, VAR, RecordingReporter())
