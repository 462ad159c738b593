"""Checks every package's module and loader pass before they are written, whatever the
toolchain: wasmtime validates the module, the loader is 7-bit ASCII, and (for Emscripten
glue) every import is provided."""

from __future__ import annotations

import re

from motivus_dev.errors import BuildError


def validate_module(wasm: bytes, what: str) -> None:
    """Refuse a module that wasmtime does not accept as valid WebAssembly."""
    import wasmtime

    try:
        wasmtime.Module.validate(wasmtime.Engine(), wasm)
    except (wasmtime.WasmtimeError, Exception) as exc:
        raise BuildError(f"{what}.wasm is not a valid WebAssembly module: {exc}") from exc


def check_ascii_loader(loader: bytes, what: str) -> None:
    """Refuse a loader that is not 7-bit ASCII: the platform's worker decodes loaders with
    ``Buffer.from(loader, "base64").toString("ascii")``, which corrupts every other byte."""
    if loader.isascii():  # the usual case, at C speed; the loop below only finds the culprit
        return
    for offset, byte in enumerate(loader):
        if byte >= 0x80:
            line = loader.count(b"\n", 0, offset) + 1
            raise BuildError(
                f"{what}.js is not 7-bit ASCII (byte 0x{byte:02x} on line {line}): the platform's worker "
                "decodes loaders as ASCII and would corrupt it",
                hint="escape non-ASCII text in the loader (the kit's toolchains do); rebuild with a current kit",
            )


def check_emscripten_imports(wasm: bytes, loader_js: str) -> None:
    """Every import of an Emscripten module must be defined by its JS glue.

    The glue hands the module one object per import module (``env``,
    ``wasi_snapshot_preview1``) whose keys are the import names, so each name must appear as
    a key there; a name the glue never mentions would be undefined at instantiation.
    """
    from motivus_dev.wasm_bindgen.wasmfile import parse_module

    missing = sorted(
        f"{imp.module}.{imp.name}"
        for imp in parse_module(wasm).imports
        if imp.kind == "func" and not re.search(r"[\"'\s,{]" + re.escape(imp.name) + r"[\"']?\s*:", loader_js)
    )
    if missing:
        raise BuildError(
            f"the module imports {len(missing)} function(s) that the loader does not provide: {', '.join(missing)}",
            hint="a library function is declared but not linked: check the sources and build.ldflags",
        )
