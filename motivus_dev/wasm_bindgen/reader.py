"""Running a module's ``__wbindgen_describe_*`` exports with wasmtime to read its ABI.

This is the part of the wasm-bindgen CLI's job that needs an interpreter: each describe
export, when called, reports its function's descriptor word by word through the import
``__wbindgen_placeholder__.__wbindgen_describe``. Every other import is stubbed (describe
functions never call them; a stub that is called anyway fails loudly).
"""

from __future__ import annotations

from typing import Dict, List

from motivus_dev.errors import BuildError
from motivus_dev.wasm_bindgen.descriptor import FunctionSig, decode_function
from motivus_dev.wasm_bindgen.wasmfile import parse_module

DESCRIBE_PREFIX = "__wbindgen_describe_"
PLACEHOLDER_MODULE = "__wbindgen_placeholder__"


def read_descriptors(wasm: bytes) -> Dict[str, List[int]]:
    """Run every ``__wbindgen_describe_<f>`` export; map ``f`` to its descriptor words.

    Only exports whose ``<f>`` is itself an exported function are read (describe exports of
    imported JS functions, ``__wbindgen_describe___wbg_*``, are skipped).
    """
    try:
        import wasmtime
    except ImportError as exc:  # pragma: no cover - wasmtime is a dependency of the kit
        raise BuildError(
            "the Python package 'wasmtime' is required to read the module's ABI", hint="pip install wasmtime"
        ) from exc

    module_info = parse_module(wasm)
    func_exports = set(module_info.export_names("func"))
    targets = sorted(
        name[len(DESCRIBE_PREFIX) :]
        for name in func_exports
        if name.startswith(DESCRIBE_PREFIX) and name[len(DESCRIBE_PREFIX) :] in func_exports
    )
    if not targets:
        return {}

    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    try:
        module = wasmtime.Module(engine, wasm)
    except wasmtime.WasmtimeError as exc:
        raise BuildError(f"wasmtime rejects the compiled module: {exc}") from exc

    words: List[int] = []

    def describe(value: int) -> None:
        words.append(value & 0xFFFFFFFF)

    def make_stub(module_name: str, name: str):  # type: ignore[no-untyped-def]
        def stub(*_args: object) -> None:
            raise BuildError(f"the describe functions called the import {module_name}.{name} at build time")

        return stub

    imports: List[wasmtime.Func] = []
    for imp in module.imports:
        ty = imp.type
        if not isinstance(ty, wasmtime.FuncType):
            raise BuildError(
                f"the module imports a non-function {imp.module}.{imp.name}; only function imports are supported"
            )
        if imp.module == PLACEHOLDER_MODULE and imp.name == "__wbindgen_describe":
            imports.append(wasmtime.Func(store, ty, describe))
        else:
            imports.append(wasmtime.Func(store, ty, make_stub(imp.module, str(imp.name))))
    try:
        instance = wasmtime.Instance(store, module, imports)
    except wasmtime.WasmtimeError as exc:
        raise BuildError(f"the module cannot be instantiated to read its ABI: {exc}") from exc
    exports = instance.exports(store)

    result: Dict[str, List[int]] = {}
    for target in targets:
        words.clear()
        fn = exports[DESCRIBE_PREFIX + target]
        assert isinstance(fn, wasmtime.Func)
        try:
            fn(store)
        except (wasmtime.Trap, wasmtime.WasmtimeError) as exc:
            raise BuildError(f"running {DESCRIBE_PREFIX}{target} failed: {exc}") from exc
        result[target] = list(words)
    return result


def read_signatures(wasm: bytes) -> Dict[str, FunctionSig]:
    """The signatures of the module's ``#[wasm_bindgen]`` exports, by export name."""
    return {name: decode_function(name, words) for name, words in read_descriptors(wasm).items()}
