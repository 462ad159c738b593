"""Test helpers for the marketplace and what uses it (drivers, e2e): small real packages,
seeded data directories and :class:`RunningServer`, a real server in a background thread.

:func:`minimal_wasm` is a valid WebAssembly module (the 8-byte header), optionally with a
custom section of ``padding`` bytes to make it large; :func:`build_package` writes a
``NAME-VERSION.zip`` the way ``motivus build`` lays it out.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import zipfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

from motivus_dev.errors import MarketplaceError
from motivus_dev.layout import PackageLayout
from motivus_dev.marketplace.server.app import ASGIApp, _bind, _url, create_app
from motivus_dev.marketplace.server.location import RegistryLocation, as_location
from motivus_dev.marketplace.server.store import Store
from motivus_dev.marketplace.validation import PackageLimits
from motivus_dev.wasm.module import encode_u32

WASM_HEADER = b"\x00asm\x01\x00\x00\x00"
TINY_LOADER = b"// tiny test loader\nonmessage = () => postMessage({body: '', stdout: '', stderr: '', exitCode: 0});\n"


def minimal_wasm(padding: int = 0, *, random_padding: bool = True) -> bytes:
    """A valid module; ``padding`` > 0 adds a custom section of that many bytes (random
    bytes by default, so the zip cannot compress them)."""
    if padding <= 0:
        return WASM_HEADER
    name = b"pad"
    payload = encode_u32(len(name)) + name + (os.urandom(padding) if random_padding else b"\x00" * padding)
    return WASM_HEADER + b"\x00" + encode_u32(len(payload)) + payload


def data_zip(files: Dict[str, bytes]) -> bytes:
    """A ``.data.zip`` (starting filesystem) holding ``files``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def build_package(
    directory: Path,
    name: str,
    version: str,
    *,
    wasm: Optional[bytes] = None,
    loader: bytes = TINY_LOADER,
    data: Optional[bytes] = None,
    extra: Optional[Dict[str, bytes]] = None,
    file_name: Optional[str] = None,
) -> Path:
    """Write ``directory/NAME-VERSION.zip`` (or ``file_name``) and return its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    layout = PackageLayout.of(name, version)
    path = directory / (file_name or layout.archive)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(layout.loader, loader)
        archive.writestr(layout.wasm, minimal_wasm() if wasm is None else wasm)
        if data is not None:
            archive.writestr(layout.data_zip, data)
        for entry, content in (extra or {}).items():
            archive.writestr(entry, content)
    return path


class Seed:
    """A registry (a data directory or a location) with users ``alice`` (owner of ``algo``)
    and ``bob`` (no rights), each with a personal and an application token."""

    def __init__(self, where: Union[Path, RegistryLocation], algorithm: str = "algo") -> None:
        from motivus_dev.marketplace.server import admin

        self.where = as_location(where)
        self.algorithm = algorithm
        self.tokens: Dict[str, str] = {}
        with Store(self.where) as store:
            for user in ("alice", "bob"):
                store.add_user(user)
                for kind in ("personal", "application"):
                    self.tokens[f"{user}_{kind}"] = store.create_token(user, kind)
        self.algorithm_id = admin.create_algorithm(self.where, algorithm, "alice").id

    @property
    def alice(self) -> str:
        """alice's personal token (publishes to ``algo``)."""
        return self.tokens["alice_personal"]

    @property
    def app(self) -> str:
        """alice's application token (reads, downloads)."""
        return self.tokens["alice_application"]

    @property
    def bob(self) -> str:
        """bob's personal token (may not publish to ``algo``)."""
        return self.tokens["bob_personal"]


class CountingApp:
    """An ASGI layer in front of the marketplace app that records every request it forwards
    (tests check what reached the server, e.g. nothing on --dry-run)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: List[str] = []

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.requests.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)


class RunningServer:
    """A marketplace server running in a background thread, for tests (the CLI's `serve`
    runs in the foreground)."""

    def __init__(
        self,
        where: Union[Path, RegistryLocation],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        public_url: Optional[str] = None,
        limits: Optional[PackageLimits] = None,
        app_wrapper: Optional[Callable[[ASGIApp], ASGIApp]] = None,
        presign: Optional[int] = None,
    ) -> None:
        """Start serving a registry on ``host:port`` (0: a free port, see ``.port``).

        ``app_wrapper`` wraps the ASGI app (tests put a flaky or tampering layer in front).
        """
        import uvicorn

        self.where = as_location(where)
        self.store = store = Store(self.where)
        store.clean_scratch()
        store.gc_blobs()
        self._sock = _bind(host, port)
        self.port = int(self._sock.getsockname()[1])
        self.url = _url(host, self.port)
        app = create_app(store, public_url=public_url, limits=limits, presign=presign)
        if app_wrapper is not None:
            app = app_wrapper(app)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="marketplace", daemon=True
        )
        self._thread.start()
        self._wait_started()

    def _wait_started(self, timeout: float = 20.0) -> None:
        import time

        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise MarketplaceError("the marketplace server thread stopped during start-up")
            if time.monotonic() > deadline:
                raise MarketplaceError("the marketplace server did not start in time")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=20)
        with contextlib.suppress(OSError):
            self._sock.close()
        self.store.close()

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
