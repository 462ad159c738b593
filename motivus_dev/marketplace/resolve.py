"""Resolve ``algorithm`` + ``algorithm_version`` of a task through a marketplace.

What ``hash`` covers (our server; docs/marketplace.md): ``hash`` is the sha256 (hex) of the
package zip as published; ``wasm_hash``, ``loader_hash`` and ``data_hash`` are the sha256 of
each served file. Downloads are checked against ``wasm_hash``/``loader_hash``. A registry that
gives only ``hash`` is accepted when ``hash`` is the sha256 of the downloaded ``.wasm``;
otherwise the download cannot be verified and is refused.

Cache: ``CACHE_DIR/sha256/<hex>`` holds verified files by content; a file already there (and
still matching its name) is used without downloading. The version listing itself is always
asked for (it is small, and it is what tells which bytes to expect).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from motivus_dev.errors import MarketplaceError
from motivus_dev.marketplace.api import RegistryClient, redact
from motivus_dev.reporter import NullReporter, Reporter


@dataclass
class ResolvedAlgorithm:
    """A published version's files, verified. ``data_url`` goes to the task's ``data_link``."""

    name: str
    version: str
    wasm: bytes
    loader: bytes
    data_url: Optional[str]
    hash: Optional[str]
    wasm_sha256: str
    loader_sha256: str
    data_sha256: Optional[str]
    downloaded: int  # how many files were downloaded (0: everything came from the cache)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cache_path(cache_dir: Path, digest: str) -> Path:
    return Path(cache_dir) / "sha256" / digest


def _cached(cache_dir: Path, digest: Optional[str]) -> Optional[bytes]:
    if not digest:
        return None
    path = _cache_path(cache_dir, digest)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    # A cache file that no longer matches its name (disk trouble, a hand edit) is dropped.
    if _sha256(data) != digest:
        try:
            path.unlink()
        except OSError:
            pass
        return None
    return data


def _store(cache_dir: Path, digest: str, data: bytes) -> None:
    path = _cache_path(cache_dir, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)  # atomic: a concurrent reader sees all or nothing
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def pick_version(versions: List[Dict[str, Any]], name: str, version: str, registry: str) -> Dict[str, Any]:
    """The version called ``version`` (``latest``: the newest), else an error listing them."""
    if version == "latest" and versions:
        return versions[-1]
    for candidate in versions:
        if candidate.get("name") == version:
            return candidate
    existing = ", ".join(str(v.get("name")) for v in versions) or "none"
    raise MarketplaceError(
        f"algorithm {name!r} has no version {version!r} on {registry} (published versions: {existing})",
        hint="set algorithm_version to one of the published versions",
    )


def resolve(
    registry_url: str,
    token: Optional[str],
    name: str,
    version: str,
    cache_dir: Path,
    reporter: Optional[Reporter] = None,
    *,
    token_source_var: str = "APPLICATION_TOKEN",
    timeout_s: float = 120.0,
) -> ResolvedAlgorithm:
    """Find ``name``/``version`` on the registry and return its verified wasm and loader."""
    rep = reporter or NullReporter()
    if not token:
        raise MarketplaceError(
            f"no application token to read algorithm {name!r} from the marketplace",
            hint=f"set {token_source_var}",
        )
    try:
        with RegistryClient(registry_url, token, timeout_s=timeout_s) as client:
            return _resolve_with(client, name, version, Path(cache_dir), rep, token_source_var)
    except MarketplaceError as exc:
        exc.message = redact(exc.message, token)
        exc.args = (exc.message,)
        raise


def _resolve_with(
    client: RegistryClient, name: str, version: str, cache_dir: Path, reporter: Reporter, token_var: str
) -> ResolvedAlgorithm:
    response, algorithm = client.find_algorithm(name)
    if response.status_code == 401:
        raise MarketplaceError(
            f"the marketplace refused the token while looking up {name!r} (401 unauthorized)",
            hint=f"check the token read from {token_var}: it must be an application token",
        )
    client.check(response, f"looking up algorithm {name!r}")
    if algorithm is None:
        raise MarketplaceError(
            f"no algorithm named {name!r} on {client.registry_url}",
            hint="check the task's 'algorithm' (and the marketplace URL)",
        )
    versions = [v for v in algorithm.get("versions") or [] if isinstance(v, dict)]
    chosen = pick_version(versions, name, version, client.registry_url)
    label = f"{name}-{chosen.get('name')}"
    wasm_url, loader_url = chosen.get("wasm_url"), chosen.get("loader_url")
    if not wasm_url or not loader_url:
        raise MarketplaceError(
            f"the marketplace gave no download URLs for {label}",
            hint=f"downloads need an application token; check {token_var}",
        )
    package_hash = chosen.get("hash")
    wasm_expected = chosen.get("wasm_hash")
    loader_expected = chosen.get("loader_hash")
    downloaded = 0

    def fetch(url: str, expected: Optional[str], what: str) -> bytes:
        nonlocal downloaded
        cached = _cached(cache_dir, expected)
        if cached is not None:
            return cached
        reporter.info(f"downloading {what}")
        data = client.download(url)
        downloaded += 1
        return data

    wasm = fetch(str(wasm_url), wasm_expected, f"{label}.wasm")
    loader = fetch(str(loader_url), loader_expected, f"{label}.js")
    wasm_sha, loader_sha = _sha256(wasm), _sha256(loader)
    if wasm_expected or loader_expected:
        checks = [(f"{label}.wasm", wasm_sha, wasm_expected), (f"{label}.js", loader_sha, loader_expected)]
    else:
        # A registry that only gives `hash`: accept it only if it is the wasm's digest.
        checks = [(f"{label}.wasm", wasm_sha, package_hash)]
        if not package_hash:
            raise MarketplaceError(
                f"the marketplace gave no sha256 for {label}: the download cannot be verified",
                hint="use a marketplace that publishes the version's hash",
            )
    for what, actual, expected in checks:
        if expected is None or actual != str(expected).lower():
            raise MarketplaceError(
                f"{what} does not match its published sha256 (expected {expected}, got {actual}); not used",
                hint="the download was corrupted or tampered with; try again, or report it to the marketplace",
            )
    _store(cache_dir, wasm_sha, wasm)
    _store(cache_dir, loader_sha, loader)
    if downloaded == 0:
        reporter.info(f"{label}: using cached files")
    return ResolvedAlgorithm(
        name=name,
        version=str(chosen.get("name")),
        wasm=wasm,
        loader=loader,
        data_url=chosen.get("data_url") or None,
        hash=package_hash,
        wasm_sha256=wasm_sha,
        loader_sha256=loader_sha,
        data_sha256=chosen.get("data_hash"),
        downloaded=downloaded,
    )
