"""Unit tests of the wasm reader, the glue import check and the node 16 feature walk."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import List

import pytest

from motivus_dev.errors import BuildError
from motivus_dev.toolchain.module_checks import check_glue_imports, check_node16_features
from motivus_dev.wasm.features import EXCEPTIONS, MEMORY64, REFERENCE_TYPES, TAIL_CALL, unsupported_features
from motivus_dev.wasm.module import FuncType, parse_module


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


def test_parse_rejects_non_wasm() -> None:
    with pytest.raises(BuildError, match="not valid WebAssembly"):
        parse_module(b"\x7fELF\x02\x01\x01\x00")
    with pytest.raises(BuildError, match="not valid WebAssembly"):
        parse_module(tiny_module()[:-3])


def test_glue_import_check_lists_what_the_glue_does_not_define() -> None:
    glue = "const import0 = { __proto__: null, __wbindgen_describe: function(arg0) {} };"
    with pytest.raises(BuildError) as info:
        check_glue_imports(tiny_module(), glue, hint="rebuild")
    assert "env.mystery" in str(info.value) and "__wbindgen_describe" not in str(info.value)
    check_glue_imports(tiny_module(), glue + " var env = { 'mystery': 1 };", hint="rebuild")
    # wasm-bindgen 0.2.106 assigns instead: imports.wbg.NAME = function ...
    check_glue_imports(tiny_module(), glue + " imports.env.mystery = function() {};", hint="rebuild")


# --------------------------------------------------------------------------- node 16 features


def wat(text: str, tmp_path: Path, *flags: str) -> bytes:
    """Assemble ``text`` with wabt's wat2wasm (Debian package wabt)."""
    source = tmp_path / "m.wat"
    source.write_text(text)
    subprocess.run(["wat2wasm", *flags, str(source), "-o", str(tmp_path / "m.wasm")], check=True)
    return (tmp_path / "m.wasm").read_bytes()


NODE16_OK = """(module
  (type $t (func (param i32) (result i32)))
  (memory 1) (table 2 funcref) (elem (i32.const 0) $id $id)
  (global $g (mut i32) (i32.const 0))
  (func $id (type $t) local.get 0)
  (func (export "main") (param i32 i64 f32 f64) (result i32 i32)
    (local v128)
    (memory.copy (i32.const 0) (i32.const 8) (i32.const 4))
    (memory.fill (i32.const 0) (i32.const 0) (i32.const 4))
    (local.set 4 (i32x4.splat (i32.const 1)))
    (drop (i8x16.extract_lane_s 3 (local.get 4)))
    (drop (i32.extend8_s (i32.const 255)))
    (drop (i32.trunc_sat_f64_s (local.get 3)))
    (drop (i64.load offset=8 align=4 (i32.const 0)))
    (block $b (br_table $b $b (i32.const 1)))
    (call_indirect (type $t) (i32.const 7) (i32.const 1))
    (global.set $g)
    (if (result i32) (global.get $g) (then (i32.const 1)) (else (i32.const 2)))
    (i32.const 3)))
"""


def test_a_module_of_what_node_16_has_passes(tmp_path: Path) -> None:
    wasm = wat(NODE16_OK, tmp_path)
    assert unsupported_features(wasm) == {}
    check_node16_features(wasm, "ok-1.0.0")


@pytest.mark.parametrize(
    "body, feature",
    [
        ("(table 1 externref) (func)", REFERENCE_TYPES),
        ("(table 1 funcref) (table 1 funcref) (func)", REFERENCE_TYPES),
        ("(func (param externref))", REFERENCE_TYPES),
        ("(table 1 funcref) (func (drop (table.size 0)))", REFERENCE_TYPES),
        ("(func (drop (ref.null func)))", REFERENCE_TYPES),
        ("(func $f (return_call $f))", TAIL_CALL),
        ("(tag $e) (func (throw $e))", EXCEPTIONS),
        ("(memory i64 1) (func)", MEMORY64),
    ],
)
def test_each_feature_node_16_lacks_is_named(body: str, feature: str, tmp_path: Path) -> None:
    wasm = wat(f"(module {body})", tmp_path, "--enable-all")
    found = unsupported_features(wasm)
    assert feature in found, found
    with pytest.raises(BuildError) as info:
        check_node16_features(wasm, "pkg-1.0.0")
    assert feature in info.value.message and "node 16" in info.value.message


def padded_call_indirect_module(table_index: bytes = b"\x80\x80\x80\x80\x00") -> bytes:
    """What rustc >= 1.82 leaves in a module (reference-types on by default): a
    call_indirect whose table index 0 is a padded 5-byte LEB, in a module that has no
    externref anywhere."""
    types = vec([b"\x60\x00\x00"])
    funcs = vec([leb(0)])
    table = vec([b"\x70\x00\x01"])
    body = b"\x00" + b"\x41\x00" + b"\x11\x00" + table_index + b"\x0b"
    code = vec([leb(len(body)) + body])
    return (b"\x00asm\x01\x00\x00\x00" + section(1, types) + section(3, funcs) + section(4, table)
            + section(10, code))


def test_a_padded_call_indirect_table_index_is_reference_types() -> None:
    wasm = padded_call_indirect_module()
    found = unsupported_features(wasm)
    assert list(found) == [REFERENCE_TYPES]
    assert "call_indirect" in found[REFERENCE_TYPES] and "5 byte" in found[REFERENCE_TYPES]
    # the same module with the MVP's one-byte index is fine
    assert unsupported_features(padded_call_indirect_module(b"\x00")) == {}


def test_an_unreadable_module_is_an_error_not_a_pass() -> None:
    with pytest.raises(BuildError, match="could not be checked"):
        check_node16_features(padded_call_indirect_module()[:-4], "cut-1.0.0")
