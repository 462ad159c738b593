"""Shared helpers for the runtime tests: compile the WAT test modules, build packages.

The loader (wat_loader.js) and modules (*.wat) are hand-written and follow the worker
contract; see the comment at the top of wat_loader.js.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Dict

import pytest

HERE = Path(__file__).resolve().parent
LOADER = HERE / "wat_loader.js"
_CACHE: Dict[str, bytes] = {}


def need_node() -> None:
    """Skip the calling test when node is not installed."""
    if shutil.which("node") is None:
        pytest.skip("needs the `node` executable (Node.js >= 16)")


def wasm(name: str) -> bytes:
    """The compiled bytes of tests/data/loaders/NAME.wat."""
    if name not in _CACHE:
        wasmtime = pytest.importorskip("wasmtime", reason="needs the wasmtime package (wat2wasm)")
        _CACHE[name] = wasmtime.wat2wasm((HERE / f"{name}.wat").read_text())
    return _CACHE[name]


def write_package(name: str, directory: Path) -> Dict[str, str]:
    """Write NAME.wasm and the loader into ``directory``; return wasm_path/loader_path."""
    directory.mkdir(parents=True, exist_ok=True)
    wasm_path = directory / f"{name}.wasm"
    wasm_path.write_bytes(wasm(name))
    loader_path = directory / f"{name}.js"
    loader_path.write_bytes(LOADER.read_bytes())
    return {"wasm_path": str(wasm_path), "loader_path": str(loader_path)}
