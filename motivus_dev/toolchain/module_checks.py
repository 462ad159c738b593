"""Checks every package's module and loader pass before they are written, whatever the
toolchain: wasmtime validates the module, node 16 can load it, the loader is 7-bit ASCII,
and the JS glue provides every import."""

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


def check_node16_features(wasm: bytes, what: str) -> None:
    """Refuse a module that uses a WebAssembly feature node 16 (the platform's oldest
    workers) cannot load, naming each feature and where it was first seen."""
    from motivus_dev.wasm.features import describe, unsupported_features

    try:
        found = unsupported_features(wasm)
    except ValueError as exc:
        raise BuildError(f"{what}.wasm could not be checked for node 16: {exc}") from exc
    if found:
        raise BuildError(
            f"{what}.wasm uses WebAssembly features that node 16 (the platform's oldest workers) cannot load: "
            + "; ".join(describe(found)),
            hint="do not enable these target features (RUSTFLAGS, -m flags, build.cflags); "
            "the kit's toolchains turn reference-types off",
        )


def check_glue_imports(wasm: bytes, glue_js: str, hint: str) -> None:
    """Every imported function of a module must be defined by its JS glue.

    Both glues (Emscripten's, wasm-bindgen's) hand the module one object per import module
    whose keys are the import names, so each name must appear as a key there (``name:`` in
    an object literal, or ``imports.wbg.name =`` as wasm-bindgen 0.2.106 writes it); a name
    the glue never mentions would be undefined at instantiation.
    """
    from motivus_dev.wasm.module import parse_module

    missing = sorted(
        f"{imp.module}.{imp.name}"
        for imp in parse_module(wasm).imports
        if imp.kind == "func" and not re.search(
            r"[\"'\s,{]" + re.escape(imp.name) + r"[\"']?\s*:|\." + re.escape(imp.name) + r"\s*=", glue_js)
    )
    if missing:
        raise BuildError(
            f"the module imports {len(missing)} function(s) that the loader does not provide: {', '.join(missing)}",
            hint=hint,
        )
