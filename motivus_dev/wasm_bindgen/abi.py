"""From a decoded signature to the wasm-level ABI and the loader's conversion plan.

wasm-bindgen 0.2.83 on ``wasm32-unknown-unknown`` (rustc's legacy "bindgen-compatible" C ABI)
passes each Rust argument as its ``*WasmAbi::Abi`` with structs flattened into their scalar
fields, and returns aggregates through a return pointer passed as the first argument (see
``src/convert/impls.rs`` and ``src/convert/slices.rs`` of the crate). This module states
that mapping for every supported type and computes the wasm function type the export must
have, so that the kit can check its model against the real module before trusting it.

Conversion kinds (understood by ``motivus_dev/loader_js/rust.js``):
``jsref`` ``js`` ``str`` ``num:T`` ``bool`` ``char`` ``vec:T`` ``jsvec`` ``optnum:T``
``optsmall:T`` ``optslice:K`` ``unit``, and for returns ``res:K``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

from motivus_dev.errors import BuildError
from motivus_dev.wasm_bindgen import descriptor as d
from motivus_dev.wasm_bindgen.descriptor import FunctionSig, WbType
from motivus_dev.wasm_bindgen.wasmfile import FuncType

# Option<T> of these is WasmOption<T> = (present flag, value); the others use a sentinel.
_NATIVE_OPTION = {d.I32, d.U32, d.I64, d.U64, d.F32, d.F64}
_SMALL_OPTION = {d.I8: "i8", d.U8: "u8", d.I16: "i16", d.U16: "u16", d.BOOLEAN: "bool", d.CHAR: "char"}


def _valtype(num_tag: int) -> str:
    if num_tag in (d.I64, d.U64):
        return "i64"
    if num_tag == d.F32:
        return "f32"
    if num_tag == d.F64:
        return "f64"
    return "i32"


@dataclass(frozen=True)
class Conv:
    """How one value crosses the boundary: its kind and its flattened wasm value types.

    ``size``/``align`` are those of its ``Abi`` in memory (for return areas).
    """

    kind: str
    valtypes: Tuple[str, ...]
    size: int
    align: int
    indirect: bool  # returned through a return pointer when it is the whole return value


_SLICE = ("i32", "i32")


def _base(ty: WbType, *, param: bool) -> Conv:
    """The conversion of a non-Option, non-Result type; raises ValueError if unsupported."""
    tag = ty.tag
    if tag in d.NUMBER_NAMES:
        vt = _valtype(tag)
        size = 8 if vt in ("i64", "f64") else 4
        return Conv(f"num:{d.NUMBER_NAMES[tag]}", (vt,), size, size, False)
    if tag in (d.BOOLEAN, d.CHAR):
        return Conv("bool" if tag == d.BOOLEAN else "char", ("i32",), 4, 4, False)
    if tag == d.EXTERNREF:
        return Conv("js", ("i32",), 4, 4, False)
    if tag == d.STRING:
        return Conv("str", _SLICE, 8, 4, True)
    if tag == d.VECTOR and ty.inner is not None:
        if ty.inner.tag in d.NUMBER_NAMES:
            return Conv(f"vec:{d.NUMBER_NAMES[ty.inner.tag]}", _SLICE, 8, 4, True)
        if ty.inner.tag == d.EXTERNREF:
            return Conv("jsvec", _SLICE, 8, 4, True)
    if param and tag == d.REF and ty.inner is not None:
        inner = ty.inner
        if inner.tag == d.EXTERNREF:
            return Conv("jsref", ("i32",), 4, 4, False)
        if inner.tag == d.STRING:
            return Conv("str", _SLICE, 8, 4, True)
        if inner.tag == d.SLICE and inner.inner is not None and inner.inner.tag in d.NUMBER_NAMES:
            return Conv(f"vec:{d.NUMBER_NAMES[inner.inner.tag]}", _SLICE, 8, 4, True)
    raise ValueError(ty.render())


def _option(ty: WbType, *, param: bool) -> Conv:
    assert ty.inner is not None
    inner = ty.inner
    if inner.tag in _NATIVE_OPTION:
        vt = _valtype(inner.tag)
        value_size = 8 if vt in ("i64", "f64") else 4
        # repr(C, u32) enum: u32 tag, then the value at its own alignment.
        return Conv(f"optnum:{d.NUMBER_NAMES[inner.tag]}", ("i32", vt), 2 * value_size, value_size, True)
    if inner.tag in _SMALL_OPTION:
        return Conv(f"optsmall:{_SMALL_OPTION[inner.tag]}", ("i32",), 4, 4, False)
    if inner.tag in (d.STRING, d.VECTOR):
        base = _base(inner, param=param)
        return Conv(f"optslice:{base.kind}", _SLICE, 8, 4, True)
    raise ValueError(ty.render())


def param_conv(ty: WbType) -> Conv:
    """The conversion of a parameter type; raises ValueError naming it if unsupported."""
    if ty.tag == d.OPTIONAL and ty.inner is not None:
        return _option(ty, param=True)
    return _base(ty, param=True)


def return_conv(ty: WbType) -> Conv:
    """The conversion of a return type (``Result`` included); ValueError if unsupported."""
    if ty.tag == d.UNIT:
        return Conv("unit", (), 0, 1, False)
    if ty.tag == d.RESULT and ty.inner is not None:
        inner = ty.inner
        ok = return_conv(inner) if inner.tag != d.RESULT else None
        if ok is None:
            raise ValueError(ty.render())
        # ResultAbi<T> = {abi: T::Abi (size/align of T), err: u32, is_err: u32}
        err_off = _round_up(ok.size, 4)
        size = _round_up(err_off + 8, max(ok.align, 4))
        return Conv(f"res:{ok.kind}", (), size, max(ok.align, 4), True)
    if ty.tag == d.OPTIONAL and ty.inner is not None:
        return _option(ty, param=False)
    return _base(ty, param=False)


def _round_up(value: int, align: int) -> int:
    return (value + align - 1) // align * align


@dataclass(frozen=True)
class CallPlan:
    """What the loader needs to call one export, and the wasm type that implies."""

    name: str
    rust: str
    args: List[str]
    ret: str
    retsize: int
    erroff: int
    wasm_type: FuncType

    def to_json(self) -> Dict[str, object]:
        """The JSON object embedded in the loader for this function."""
        return {
            "name": self.name,
            "rust": self.rust,
            "args": list(self.args),
            "ret": self.ret,
            "retsize": self.retsize,
            "erroff": self.erroff,
        }


def plan_call(sig: FunctionSig) -> CallPlan:
    """Plan the call of ``sig``; raise :class:`BuildError` naming any unsupported type."""
    args: List[str] = []
    params: List[str] = []
    for i, arg in enumerate(sig.args):
        try:
            conv = param_conv(arg)
        except ValueError as exc:
            raise _unsupported(sig, f"parameter {i + 1} has type {exc}") from None
        args.append(conv.kind)
        params.extend(conv.valtypes)
    try:
        ret = return_conv(sig.ret)
    except ValueError as exc:
        raise _unsupported(sig, f"the return type {exc}") from None
    results: Tuple[str, ...] = ()
    retsize = 0
    erroff = 0
    if ret.indirect:
        params.insert(0, "i32")
        retsize = _round_up(ret.size, 8)
        if ret.kind.startswith("res:"):
            erroff = ret.size - 8
    else:
        results = ret.valtypes
    return CallPlan(
        name=sig.name,
        rust=sig.render(),
        args=args,
        ret=ret.kind,
        retsize=retsize,
        erroff=erroff,
        wasm_type=FuncType(tuple(params), results),
    )


def _unsupported(sig: FunctionSig, what: str) -> BuildError:
    return BuildError(
        f"#[wasm_bindgen] function {sig.name!r} cannot be called by the Motivus loader: {what}, which is not supported",
        hint=(
            "use &JsValue/JsValue (with into_serde/from_serde), String/&str, numbers, bool, "
            "char, Vec or slices of numbers, Vec<JsValue>/Box<[JsValue]>, Option<T> of those, "
            "or Result<T, JsValue>"
        ),
    )
