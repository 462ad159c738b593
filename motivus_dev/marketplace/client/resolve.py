"""Resolve ``algorithm`` + ``algorithm_version`` of a task through a marketplace.

The platform's marketplace never computes ``hash``: it stores what the uploader sent, and
the published 2.4.0 CLI sends none, so versions on the hosted marketplace have
``"hash": null``. Such versions must run. What can be verified is verified, and the
resolver says which check applied (:attr:`ResolvedAlgorithm.verified_by`):

1. ``wasm_hash``/``loader_hash`` (our marketplace serves the sha256 of each file): both
   downloads must match;
2. else a non-null ``hash`` (``motivus push`` publishes the sha256 of the ``.wasm``): the
   wasm must match it;
3. in every case, a lock of the digests seen before for the same registry, name and version
   (``CACHE_DIR/locks.json``): versions are immutable, so a change is refused;
4. a version with no hash, seen for the first time, is accepted and its digests recorded
   (trust on first use), and the resolver says so.

Cache: ``CACHE_DIR/sha256/<hex>`` holds verified files by content; a file already there (and
still matching its name) is used without downloading. The version listing itself is always
asked for (it is small, and it is what tells which bytes to expect).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from motivus_dev.errors import MarketplaceError
from motivus_dev.layout import PackageLayout
from motivus_dev.marketplace.client.api import RegistryClient, redact
from motivus_dev.packing import atomic_write
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
    verified_by: str = ""  # which check applied, in words


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
    atomic_write(_cache_path(cache_dir, digest), data)  # a concurrent reader sees all or nothing


def _locks_path(cache_dir: Path) -> Path:
    return Path(cache_dir) / "locks.json"


def _read_locks(cache_dir: Path) -> Dict[str, Dict[str, str]]:
    try:
        value = json.loads(_locks_path(cache_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _record_lock(cache_dir: Path, key: str, digests: Dict[str, str]) -> None:
    """Add one entry to the lock file (atomically: a concurrent reader sees old or new)."""
    locks = _read_locks(cache_dir)
    locks[key] = digests
    atomic_write(_locks_path(cache_dir), json.dumps(locks, indent=1, sort_keys=True).encode("utf-8"))


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
    transport: Optional[Any] = None,
) -> ResolvedAlgorithm:
    """Find ``name``/``version`` on the registry and return its verified wasm and loader.

    ``transport`` (an ``httpx`` transport) replaces the network, for tests."""
    rep = reporter or NullReporter()
    if not token:
        raise MarketplaceError(
            f"no application token to read algorithm {name!r} from the marketplace",
            hint=f"set {token_source_var}",
        )
    try:
        with RegistryClient(registry_url, token, timeout_s=timeout_s, transport=transport) as client:
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
    layout = PackageLayout.of(name, str(chosen.get("name")))
    wasm_url, loader_url = chosen.get("wasm_url"), chosen.get("loader_url")
    if not wasm_url or not loader_url:
        raise MarketplaceError(
            f"the marketplace gave no download URLs for {layout.stem}",
            hint=f"downloads need an application token; check {token_var}",
        )
    package_hash = chosen.get("hash")
    wasm_expected = chosen.get("wasm_hash")
    loader_expected = chosen.get("loader_hash")
    lock_key = f"{client.registry_url} {name} {chosen.get('name')}"
    locked = _read_locks(cache_dir).get(lock_key) or {}
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

    wasm = fetch(str(wasm_url), wasm_expected or locked.get("wasm"), layout.wasm)
    loader = fetch(str(loader_url), loader_expected or locked.get("loader"), layout.loader)
    digests = {"wasm": _sha256(wasm), "loader": _sha256(loader)}
    checks: List[Tuple[str, str, Optional[str]]] = []
    if wasm_expected or loader_expected:
        verified_by = "matched the marketplace's sha256 of each file"
        checks += [
            (layout.wasm, digests["wasm"], wasm_expected),
            (layout.loader, digests["loader"], loader_expected),
        ]
    elif package_hash:
        verified_by = "matched the version's published hash"
        checks.append((layout.wasm, digests["wasm"], str(package_hash)))
    else:
        verified_by = ""
    for what, actual, expected in checks:
        if expected is None or actual != str(expected).lower():
            raise MarketplaceError(
                f"{what} does not match its published sha256 (expected {expected}, got {actual}); not used",
                hint="the download was corrupted or tampered with; try again, or report it to the marketplace",
            )
    if locked:
        changed = [role for role in ("wasm", "loader") if locked.get(role) != digests[role]]
        if changed:
            raise MarketplaceError(
                f"{layout.stem} changed since this machine first used it ({', '.join(changed)} differ from "
                f"{_locks_path(cache_dir)}); published versions are immutable, so it is not used",
                hint="report it to the marketplace; if you trust the new files, remove the entry "
                f"{lock_key!r} from {_locks_path(cache_dir)}",
            )
        verified_by = (verified_by + "; " if verified_by else "") + "matched the digests recorded on first use"
    else:
        _record_lock(cache_dir, lock_key, digests)
        if not verified_by:
            verified_by = (
                "no hash published (the marketplace computes none): trusted on first use, digests recorded "
                f"in {_locks_path(cache_dir)}"
            )
    _store(cache_dir, digests["wasm"], wasm)
    _store(cache_dir, digests["loader"], loader)
    reporter.info(f"{layout.stem}: {verified_by}" + ("" if downloaded else " (cached files)"))
    return ResolvedAlgorithm(
        name=name,
        version=str(chosen.get("name")),
        wasm=wasm,
        loader=loader,
        data_url=chosen.get("data_url") or None,
        hash=package_hash,
        wasm_sha256=digests["wasm"],
        loader_sha256=digests["loader"],
        data_sha256=chosen.get("data_hash"),
        downloaded=downloaded,
        verified_by=verified_by,
    )
