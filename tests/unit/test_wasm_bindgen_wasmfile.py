"""Unit tests of the wasm reader/rewriter, the import check and the runtime's intrinsic list."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List

import pytest

from motivus_dev.errors import BuildError
from motivus_dev.wasm_bindgen.loader import RUST_PROVIDED_IMPORTS, RUST_PROVIDED_INTRINSICS, check_imports
from motivus_dev.wasm_bindgen.wasmfile import FuncType, parse_module, rewrite_module

RUNTIME = Path(__file__).resolve().parents[2] / "motivus_dev" / "loader_js" / "rust.js"


def leb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def name(s: str) -> bytes:
    return leb(len(s.encode())) + s.encode()


def section(sec_id: int, payload: bytes) -> bytes:
    return bytes([sec_id]) + leb(len(payload)) + payload


def vec(items: List[bytes]) -> bytes:
    return leb(len(items)) + b"".join(items)


def tiny_module() -> bytes:
    """(type (func (param i32))) (type (func (param i32 f64) (result i64))),
    two imports, one defined function exported twice, a custom section."""
    types = vec([b"\x60\x01\x7f\x00", b"\x60\x02\x7f\x7c\x01\x7e"])
    imports = vec(
        [
            name("__wbindgen_placeholder__") + name("__wbindgen_describe") + b"\x00" + leb(0),
            name("env") + name("mystery") + b"\x00" + leb(0),
        ]
    )
    funcs = vec([leb(1)])
    exports = vec(
        [
            name("main") + b"\x00" + leb(2),
            name("__wbindgen_describe_main") + b"\x00" + leb(2),
        ]
    )
    body = b"\x00" + b"\x42\x00\x0b"  # no locals; i64.const 0; end
    code = vec([leb(len(body)) + body])
    custom = name("__wasm_bindgen_unstable") + b"payload"
    return (
        b"\x00asm\x01\x00\x00\x00"
        + section(1, types)
        + section(2, imports)
        + section(3, funcs)
        + section(7, exports)
        + section(10, code)
        + section(0, custom)
    )


def test_parse_reads_types_imports_exports_and_custom_sections() -> None:
    module = parse_module(tiny_module())
    assert [(i.module, i.name, i.func_type) for i in module.imports] == [
        ("__wbindgen_placeholder__", "__wbindgen_describe", FuncType(("i32",), ())),
        ("env", "mystery", FuncType(("i32",), ())),
    ]
    assert module.export_names() == ["main", "__wbindgen_describe_main"]
    assert module.export_func_type("main") == FuncType(("i32", "f64"), ("i64",))
    assert module.custom_section("__wasm_bindgen_unstable") == b"payload"


def test_rewrite_drops_exports_and_custom_sections_only() -> None:
    original = tiny_module()
    out = rewrite_module(original, ["__wbindgen_describe_main"], ["__wasm_bindgen_unstable"])
    module = parse_module(out)
    assert module.export_names() == ["main"]
    assert module.custom_section_names() == []
    assert module.export_func_type("main") == FuncType(("i32", "f64"), ("i64",))
    # Code is untouched and a no-op rewrite is the identity.
    assert [s.payload for s in module.sections if s.id == 10] == [
        s.payload for s in parse_module(original).sections if s.id == 10
    ]
    assert rewrite_module(original) == original


def test_parse_rejects_non_wasm() -> None:
    with pytest.raises(BuildError, match="not valid WebAssembly"):
        parse_module(b"\x7fELF\x02\x01\x01\x00")
    with pytest.raises(BuildError, match="not valid WebAssembly"):
        parse_module(tiny_module()[:-3])


def test_check_imports_lists_what_nobody_provides() -> None:
    with pytest.raises(BuildError) as info:
        check_imports(tiny_module(), RUST_PROVIDED_IMPORTS)
    assert "env.mystery" in str(info.value)
    assert "__wbindgen_describe" not in str(info.value)
    check_imports(tiny_module(), set(RUST_PROVIDED_IMPORTS) | {("env", "mystery")})


def test_runtime_implements_exactly_the_declared_intrinsics() -> None:
    source = RUNTIME.read_text(encoding="utf-8")
    block = source[source.index("var I = {") : source.index("var imports = {")]
    implemented = set(re.findall(r"^\s*(__wbindgen_\w+):", block, re.MULTILINE))
    assert implemented == set(RUST_PROVIDED_INTRINSICS)
    assert "motivus: { log: logBytes }" in source


def test_intrinsics_cover_the_crate_externs() -> None:
    """Every intrinsic wasm-bindgen 0.2.83 declares is provided (when the crate is on disk)."""
    lib = Path("/usr/share/cargo/registry/wasm-bindgen-0.2.83/src/lib.rs")
    if not lib.exists():
        pytest.skip("the Debian package librust-wasm-bindgen-dev (wasm-bindgen 0.2.83 sources) is not installed")
    declared = set(re.findall(r"fn (__wbindgen_\w+)\(", lib.read_text()))
    exported_by_wasm = {"__wbindgen_malloc", "__wbindgen_realloc", "__wbindgen_free", "__wbindgen_exn_store"}
    assert declared - exported_by_wasm == set(RUST_PROVIDED_INTRINSICS)
