"""`resolve` (the driver's side) against a real local marketplace: verified downloads,
cache by hash, refusal of tampered bytes, clear errors for unknown names and versions."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from marketplace_helpers import TINY_LOADER, RunningServer, Seed, build_package, data_zip, minimal_wasm

from motivus_dev.errors import MarketplaceError
from motivus_dev.marketplace.client.push import push
from motivus_dev.marketplace.client.resolve import resolve
from motivus_dev.reporter import NullReporter, RecordingReporter


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
def registry(tmp_path: Path) -> Iterator[tuple]:
    seed = Seed(tmp_path / "data")
    holder: List[Downloads] = []

    def wrap(app: Any) -> Any:
        holder.append(Downloads(app))
        return holder[0]

    server = RunningServer(seed.data_dir, app_wrapper=wrap)
    wasm = minimal_wasm(5000)
    data = data_zip({"etc/config.txt": b"x"})
    for version, payload in (("0.0.1", None), ("0.0.2", data)):
        pkg = build_package(tmp_path / version, "algo", version, wasm=wasm, data=payload)
        push(pkg, "algo", version, {}, server.url, seed.alice, "T", NullReporter())
    try:
        yield server, seed, holder[0], wasm
    finally:
        server.stop()


def test_resolve_downloads_verifies_and_caches(registry: tuple, tmp_path: Path) -> None:
    server, seed, downloads, wasm = registry
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


def test_resolve_refuses_a_download_that_does_not_match_its_hash(registry: tuple, tmp_path: Path) -> None:
    server, seed, downloads, wasm = registry
    downloads.tamper = True
    cache = tmp_path / "cache"
    with pytest.raises(MarketplaceError, match=r"algo-0.0.2.wasm does not match its published sha256"):
        resolve(server.url, seed.app, "algo", "0.0.2", cache)
    assert not (cache / "sha256" / hashlib.sha256(wasm).hexdigest()).exists()


def test_resolve_errors(registry: tuple, tmp_path: Path) -> None:
    server, seed, downloads, wasm = registry
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
