"""Unit tests of the wasm-bindgen descriptor decoder and the ABI planner (pure, fast)."""

from __future__ import annotations

from typing import List

import pytest

from motivus_dev.errors import BuildError
from motivus_dev.wasm_bindgen import descriptor as d
from motivus_dev.wasm_bindgen.abi import plan_call
from motivus_dev.wasm_bindgen.descriptor import FunctionSig, WbType, decode_function
from motivus_dev.wasm_bindgen.wasmfile import FuncType


def fn(args: List[List[int]], ret: List[int]) -> List[int]:
    """A function descriptor stream: FUNCTION, shim 0, nargs, args, ret, inner ret."""
    words = [d.FUNCTION, 0, len(args)]
    for a in args:
        words += a
    return words + ret + ret


def test_tag_numbering_matches_describe_rs() -> None:
    # The constants of wasm-bindgen 0.2.83 src/describe.rs, in order.
    assert (d.I8, d.F64, d.BOOLEAN, d.FUNCTION, d.STRING, d.REF) == (0, 9, 10, 11, 14, 15)
    assert (d.SLICE, d.VECTOR, d.EXTERNREF, d.CHAR, d.OPTIONAL, d.RESULT, d.UNIT, d.CLAMPED) == (
        17,
        18,
        19,
        23,
        24,
        25,
        26,
        27,
    )


def test_decodes_the_kmeans_main_descriptor_from_the_notes() -> None:
    sig = decode_function("main", [11, 0, 2, 15, 19, 15, 19, 18, 19, 18, 19])
    ref_js = WbType(d.REF, WbType(d.EXTERNREF))
    assert sig == FunctionSig(
        "main", [ref_js, ref_js], WbType(d.VECTOR, WbType(d.EXTERNREF)), WbType(d.VECTOR, WbType(d.EXTERNREF))
    )
    assert sig.render() == "fn main(&JsValue, &JsValue) -> Vec<JsValue>"
    plan = plan_call(sig)
    assert plan.args == ["jsref", "jsref"]
    assert plan.ret == "jsvec"
    # The notes: `main` has the wasm type (i32, i32, i32) -> (): a return pointer first.
    assert plan.wasm_type == FuncType(("i32", "i32", "i32"), ())
    assert plan.retsize == 8


def test_rejects_truncated_and_overlong_streams() -> None:
    with pytest.raises(BuildError, match="ends early"):
        decode_function("main", [11, 0, 2, 15, 19])
    with pytest.raises(BuildError, match="extra words"):
        decode_function("main", fn([], [d.UNIT]) + [7])
    with pytest.raises(BuildError, match="FUNCTION"):
        decode_function("main", [d.UNIT])
    with pytest.raises(BuildError, match="unknown wasm-bindgen descriptor tag 99"):
        decode_function("main", fn([[99]], [d.UNIT]))


@pytest.mark.parametrize(
    "arg, kind, valtypes",
    [
        ([d.I8], "num:i8", ("i32",)),
        ([d.U16], "num:u16", ("i32",)),
        ([d.U32], "num:u32", ("i32",)),
        ([d.I64], "num:i64", ("i64",)),
        ([d.U64], "num:u64", ("i64",)),
        ([d.F32], "num:f32", ("f32",)),
        ([d.F64], "num:f64", ("f64",)),
        ([d.BOOLEAN], "bool", ("i32",)),
        ([d.CHAR], "char", ("i32",)),
        ([d.EXTERNREF], "js", ("i32",)),
        ([d.REF, d.EXTERNREF], "jsref", ("i32",)),
        ([d.STRING], "str", ("i32", "i32")),
        ([d.REF, d.STRING], "str", ("i32", "i32")),
        ([d.VECTOR, d.F64], "vec:f64", ("i32", "i32")),
        ([d.REF, d.SLICE, d.I32], "vec:i32", ("i32", "i32")),
        ([d.VECTOR, d.EXTERNREF], "jsvec", ("i32", "i32")),
        ([d.OPTIONAL, d.F64], "optnum:f64", ("i32", "f64")),
        ([d.OPTIONAL, d.I64], "optnum:i64", ("i32", "i64")),
        ([d.OPTIONAL, d.U32], "optnum:u32", ("i32", "i32")),
        ([d.OPTIONAL, d.U8], "optsmall:u8", ("i32",)),
        ([d.OPTIONAL, d.BOOLEAN], "optsmall:bool", ("i32",)),
        ([d.OPTIONAL, d.STRING], "optslice:str", ("i32", "i32")),
        ([d.OPTIONAL, d.VECTOR, d.EXTERNREF], "optslice:jsvec", ("i32", "i32")),
    ],
)
def test_parameter_abi(arg: List[int], kind: str, valtypes: tuple) -> None:
    plan = plan_call(decode_function("f", fn([arg], [d.UNIT])))
    assert plan.args == [kind]
    assert plan.wasm_type == FuncType(valtypes, ())


@pytest.mark.parametrize(
    "ret, kind, params, results, retsize, erroff",
    [
        ([d.UNIT], "unit", (), (), 0, 0),
        ([d.I64], "num:i64", (), ("i64",), 0, 0),
        ([d.F32], "num:f32", (), ("f32",), 0, 0),
        ([d.EXTERNREF], "js", (), ("i32",), 0, 0),
        ([d.OPTIONAL, d.U8], "optsmall:u8", (), ("i32",), 0, 0),
        ([d.STRING], "str", ("i32",), (), 8, 0),
        ([d.OPTIONAL, d.F64], "optnum:f64", ("i32",), (), 16, 0),
        ([d.OPTIONAL, d.I32], "optnum:i32", ("i32",), (), 8, 0),
        # ResultAbi<T> = {abi: T, err: u32, is_err: u32}
        ([d.RESULT, d.UNIT], "res:unit", ("i32",), (), 8, 0),
        ([d.RESULT, d.F64], "res:num:f64", ("i32",), (), 16, 8),
        ([d.RESULT, d.U32], "res:num:u32", ("i32",), (), 16, 4),
        ([d.RESULT, d.STRING], "res:str", ("i32",), (), 16, 8),
        ([d.RESULT, d.OPTIONAL, d.F64], "res:optnum:f64", ("i32",), (), 24, 16),
    ],
)
def test_return_abi(ret: List[int], kind: str, params: tuple, results: tuple, retsize: int, erroff: int) -> None:
    plan = plan_call(decode_function("f", fn([], ret)))
    assert (plan.ret, plan.wasm_type, plan.retsize, plan.erroff) == (kind, FuncType(params, results), retsize, erroff)


def test_return_pointer_comes_before_the_arguments() -> None:
    plan = plan_call(decode_function("f", fn([[d.U8], [d.F64], [d.I64]], [d.STRING])))
    assert plan.wasm_type == FuncType(("i32", "i32", "f64", "i64"), ())


@pytest.mark.parametrize(
    "words, message",
    [
        (fn([[d.REFMUT, d.SLICE, d.F64]], [d.UNIT]), "parameter 1 has type &mut [f64]"),
        (
            fn([[d.U8], [d.RUST_STRUCT, 3, ord("F"), ord("o"), ord("o")]], [d.UNIT]),
            "parameter 2 has type exported struct Foo",
        ),
        (fn([[d.NAMED_EXTERNREF, 1, ord("X")]], [d.UNIT]), "parameter 1 has type imported JS type X"),
        (fn([[d.REF, d.FUNCTION, 0, 0, d.UNIT, d.UNIT]], [d.UNIT]), "parameter 1 has type &function"),
        (fn([[d.CLAMPED, d.VECTOR, d.U8]], [d.UNIT]), "parameter 1 has type Clamped<Vec<u8>>"),
        (fn([[d.ENUM, 3]], [d.UNIT]), "C-style enum"),
        (fn([[d.CACHED_STRING]], [d.UNIT]), "parameter 1 has type String (interned"),
        (fn([], [d.VECTOR, d.STRING]), "the return type Vec<String>"),
        (fn([], [d.OPTIONAL, d.EXTERNREF]), "the return type Option<JsValue>"),
    ],
)
def test_unsupported_types_fail_naming_type_and_function(words: List[int], message: str) -> None:
    with pytest.raises(BuildError) as info:
        plan_call(decode_function("compute", words))
    assert "'compute'" in str(info.value)
    assert message in str(info.value)
