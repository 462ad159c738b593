"""`resolve` (the driver's side) against a real local marketplace: verified downloads,
cache by hash, refusal of tampered bytes, clear errors for unknown names and versions."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from marketplace_helpers import TINY_LOADER, RunningServer, Seed, build_package, data_zip, minimal_wasm

from motivus_dev.client import resolve_algorithm
from motivus_dev.errors import MarketplaceError
from motivus_dev.loopback.server import LoopbackServer
from motivus_dev.marketplace.client import api
from motivus_dev.marketplace.client.push import push
from motivus_dev.marketplace.client.resolve import resolve
from motivus_dev.marketplace.server.location import RegistryLocation
from motivus_dev.reporter import NullReporter, RecordingReporter
from motivus_dev.runtime.pool import WorkerPool


class Downloads:
    """ASGI layer: counts file downloads and, when ``tamper`` is set, flips one byte of
    every .wasm served (the length stays right, as a corrupting proxy would)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.count = 0
        self.tamper = False

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or "/files/" not in path:
            await self.app(scope, receive, send)
            return
        self.count += 1
        if not (self.tamper and path.endswith(".wasm")):
            await self.app(scope, receive, send)
            return
        flipped = False

        async def tampering_send(message: Dict[str, Any]) -> None:
            nonlocal flipped
            if message["type"] == "http.response.body" and message.get("body") and not flipped:
                body = bytearray(message["body"])
                body[-1] ^= 0xFF
                message = dict(message, body=bytes(body))
                flipped = True
            await send(message)

        await self.app(scope, receive, tampering_send)


@pytest.fixture()
def published(tmp_path: Path, registry: RegistryLocation) -> Iterator[tuple]:
    """Two versions on a server of each backend (conftest.py's ``registry``)."""
    seed = Seed(registry)
    holder: List[Downloads] = []

    def wrap(app: Any) -> Any:
        holder.append(Downloads(app))
        return holder[0]

    server = RunningServer(seed.where, app_wrapper=wrap)
    wasm = minimal_wasm(5000)
    data = data_zip({"etc/config.txt": b"x"})
    for version, payload in (("0.0.1", None), ("0.0.2", data)):
        pkg = build_package(tmp_path / version, "algo", version, wasm=wasm, data=payload)
        push(pkg, "algo", version, {}, server.url, seed.alice, "T", NullReporter())
    try:
        yield server, seed, holder[0], wasm
    finally:
        server.stop()


def test_resolve_downloads_verifies_and_caches(published: tuple, tmp_path: Path) -> None:
    server, seed, downloads, wasm = published
    cache = tmp_path / "cache"
    first = resolve(server.url, seed.app, "algo", "0.0.2", cache, RecordingReporter())
    assert (first.wasm, first.loader) == (wasm, TINY_LOADER)
    assert first.wasm_sha256 == hashlib.sha256(wasm).hexdigest()
    assert first.data_url is not None and first.data_url.endswith("/algo-0.0.2.data.zip")
    assert first.downloaded == 2 and downloads.count == 2
    assert (cache / "sha256" / first.wasm_sha256).read_bytes() == wasm
    # Cache hit: nothing is downloaded again (the server counts the requests).
    second = resolve(server.url, seed.app, "algo", "0.0.2", cache, RecordingReporter())
    assert second.downloaded == 0 and downloads.count == 2
    assert second.wasm == wasm
    # 0.0.1 has the same bytes: same hashes, still no download; and no filesystem.
    third = resolve(server.url, seed.app, "algo", "0.0.1", cache)
    assert third.downloaded == 0 and third.data_url is None
    # A cache file that no longer matches its name is not trusted.
    (cache / "sha256" / first.wasm_sha256).write_bytes(b"damaged")
    again = resolve(server.url, seed.app, "algo", "0.0.2", cache)
    assert again.downloaded == 1 and again.wasm == wasm and downloads.count == 3


def test_resolve_refuses_a_download_that_does_not_match_its_hash(published: tuple, tmp_path: Path) -> None:
    server, seed, downloads, wasm = published
    downloads.tamper = True
    cache = tmp_path / "cache"
    with pytest.raises(MarketplaceError, match=r"algo-0.0.2.wasm does not match its published sha256"):
        resolve(server.url, seed.app, "algo", "0.0.2", cache)
    assert not (cache / "sha256" / hashlib.sha256(wasm).hexdigest()).exists()


def test_resolve_errors(published: tuple, tmp_path: Path) -> None:
    server, seed, downloads, wasm = published
    cache = tmp_path / "cache"
    with pytest.raises(MarketplaceError, match=r"no version '9.9.9'.*published versions: 0.0.1, 0.0.2"):
        resolve(server.url, seed.app, "algo", "9.9.9", cache)
    with pytest.raises(MarketplaceError, match="no algorithm named 'nope'"):
        resolve(server.url, seed.app, "nope", "0.0.1", cache)
    with pytest.raises(MarketplaceError, match="APPLICATION_TOKEN") as info:
        resolve(server.url, "mva_bad_token_xyz", "algo", "0.0.1", cache)
    assert "401" in str(info.value) and "mva_bad_token_xyz" not in str(info.value)
    # A personal token does not see download URLs.
    with pytest.raises(MarketplaceError, match="no download URLs"):
        resolve(server.url, seed.alice, "algo", "0.0.1", cache)
    assert resolve(server.url, seed.app, "algo", "latest", cache).version == "0.0.2"


UNKNOWN_VERSION_DRIVER = textwrap.dedent("""
    import asyncio
    from motivus.client import Client

    async def main():
        motivus = await Client.connect()
        task = motivus.call_async({"algorithm": "algo", "algorithm_version": "9.9.9", "params": []})
        print(await motivus.select_task(task))

    asyncio.run(main())
""")


def test_a_driver_that_does_not_catch_an_unknown_version_ends_in_that_one_line(
        published: tuple, tmp_path: Path) -> None:
    """The message was right, after 30 lines of the client's and the resolver's frames."""
    server, seed, _, _ = published

    async def go() -> tuple:
        pool = WorkerPool(1, 20.0, 512)
        await pool.start()
        loopback = LoopbackServer(pool, "127.0.0.1", 0)
        await loopback.start()
        try:
            env = dict(os.environ, WEBSOCKET_URI=loopback.url, MOTIVUS_MARKETPLACE_URL=server.url,
                       APPLICATION_TOKEN=seed.app, MOTIVUS_CACHE_DIR=str(tmp_path / "cache"))
            proc = await asyncio.create_subprocess_exec(sys.executable, "-c", UNKNOWN_VERSION_DRIVER, env=env,
                                                        stderr=asyncio.subprocess.PIPE, cwd=str(tmp_path))
            _, err = await asyncio.wait_for(proc.communicate(), 60)
            return proc.returncode, err.decode()
        finally:
            await loopback.close()

    code, err = asyncio.run(go())
    lines = err.strip().splitlines()
    assert code == 1 and lines[0] == "Traceback (most recent call last):", err
    assert lines[-2].startswith("motivus_dev.errors.MarketplaceError: algorithm 'algo' has no version '9.9.9'")
    assert lines[-2].endswith("(published versions: 0.0.1, 0.0.2)") and lines[-1].strip().startswith("hint: ")
    assert "The above exception" not in err and "During handling" not in err
    assert "marketplace/client" not in err and len(lines) < 25, err


def test_no_registry_setting_names_the_variable_to_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(api.REGISTRY_URL_VAR, raising=False)
    monkeypatch.delenv(api.REPO_HOST_VAR, raising=False)
    monkeypatch.setenv("MOTIVUS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(api, "DEFAULT_REGISTRY_URL", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(api.RegistryUnreachable) as info:
        resolve_algorithm("algo", "0.0.1", "token")
    assert "cannot reach the marketplace at http://127.0.0.1:9" in info.value.message
    assert info.value.hint is not None and "MOTIVUS_MARKETPLACE_URL is not set" in info.value.hint
