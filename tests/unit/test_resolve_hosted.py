"""`resolve` against a marketplace shaped like the hosted one (httpx MockTransport): versions
whose `hash` is null run, what can be verified is verified, and the resolver says which
check applied."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Dict, List, Optional

import httpx
import pytest

from motivus_dev.errors import MarketplaceError
from motivus_dev.marketplace.client.resolve import resolve
from motivus_dev.reporter import RecordingReporter

REGISTRY = "https://market.example"
BUCKET = "https://bucket.example"


class Hosted:
    """The hosted marketplace's answers: hash as uploaded (null by default), files in a bucket."""

    def __init__(self) -> None:
        self.files: Dict[str, bytes] = {"/km-1.wasm": b"\0asm\1\0\0\0", "/km-1.js": b"// loader"}
        self.hash: Optional[str] = None
        self.requests: List[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host == "bucket.example":
            return httpx.Response(200, content=self.files[request.url.path])
        version = {"id": 7, "name": "1", "metadata": {}, "inserted_at": "2024-01-01T00:00:00", "hash": self.hash,
                   "wasm_url": f"{BUCKET}/km-1.wasm", "loader_url": f"{BUCKET}/km-1.js", "data_url": None}
        return httpx.Response(200, json={"data": [{"id": 3, "name": "km", "versions": [version]}]})

    def resolve(self, cache: Path) -> Any:
        reporter = RecordingReporter()
        found = resolve(REGISTRY, "MWBatapp", "km", "1", cache, reporter, transport=httpx.MockTransport(self))
        return found, [m for kind, m in reporter.events if kind == "info"]


def test_a_version_with_no_hash_runs_trusted_on_first_use_then_locked(tmp_path: Path) -> None:
    hosted = Hosted()
    first, said = hosted.resolve(tmp_path)
    assert first.wasm == hosted.files["/km-1.wasm"] and first.loader == hosted.files["/km-1.js"]
    assert "trusted on first use" in first.verified_by and any("trusted on first use" in m for m in said)
    assert (tmp_path / "locks.json").is_file()
    # the token goes to the registry only, never to the bucket
    assert all(("authorization" in r.headers) == (r.url.host == "market.example") for r in hosted.requests)

    again, _ = hosted.resolve(tmp_path)
    assert again.downloaded == 0 and "recorded on first use" in again.verified_by

    hosted.files["/km-1.wasm"] = b"\0asm\1\0\0\0tampered"
    for cached in (tmp_path / "sha256").iterdir():
        cached.unlink()  # the cache would otherwise serve the bytes seen first
    with pytest.raises(MarketplaceError, match="changed since this machine first used it"):
        hosted.resolve(tmp_path)


def test_a_published_hash_is_checked_against_the_wasm(tmp_path: Path) -> None:
    hosted = Hosted()
    hosted.hash = hashlib.sha256(hosted.files["/km-1.wasm"]).hexdigest()
    found, _ = hosted.resolve(tmp_path / "a")
    assert found.verified_by.startswith("matched the version's published hash")
    hosted.hash = "0" * 64
    with pytest.raises(MarketplaceError, match="does not match its published sha256"):
        hosted.resolve(tmp_path / "b")
