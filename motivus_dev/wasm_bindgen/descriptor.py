"""Decoding wasm-bindgen 0.2.83 type descriptors into a typed signature model.

A ``#[wasm_bindgen]`` export ``f`` comes with an export ``__wbindgen_describe_f`` that, when
run, calls the import ``__wbindgen_describe(u32)`` once per word of a descriptor stream.
The words and their grammar are defined by the crate's ``src/describe.rs`` (the constants
below, in that order) and by ``wasm-bindgen-backend``'s ``codegen.rs`` for functions:
``FUNCTION, shim index, argument count, argument types..., return type, inner return type``.
This module is pure: it turns a list of ints into :class:`FunctionSig`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence

from motivus_dev.errors import BuildError

# The order of `tys!` in wasm-bindgen 0.2.83 src/describe.rs.
TAG_NAMES = [
    "I8", "U8", "I16", "U16", "I32", "U32", "I64", "U64", "F32", "F64", "BOOLEAN",
    "FUNCTION", "CLOSURE", "CACHED_STRING", "STRING", "REF", "REFMUT", "SLICE", "VECTOR",
    "EXTERNREF", "NAMED_EXTERNREF", "ENUM", "RUST_STRUCT", "CHAR", "OPTIONAL", "RESULT",
    "UNIT", "CLAMPED",
]  # fmt: skip
TAGS = {name: i for i, name in enumerate(TAG_NAMES)}

I8, U8, I16, U16, I32, U32, I64, U64, F32, F64, BOOLEAN = range(11)
FUNCTION = TAGS["FUNCTION"]
CLOSURE = TAGS["CLOSURE"]
CACHED_STRING = TAGS["CACHED_STRING"]
STRING = TAGS["STRING"]
REF = TAGS["REF"]
REFMUT = TAGS["REFMUT"]
SLICE = TAGS["SLICE"]
VECTOR = TAGS["VECTOR"]
EXTERNREF = TAGS["EXTERNREF"]
NAMED_EXTERNREF = TAGS["NAMED_EXTERNREF"]
ENUM = TAGS["ENUM"]
RUST_STRUCT = TAGS["RUST_STRUCT"]
CHAR = TAGS["CHAR"]
OPTIONAL = TAGS["OPTIONAL"]
RESULT = TAGS["RESULT"]
UNIT = TAGS["UNIT"]
CLAMPED = TAGS["CLAMPED"]

#: Number tags and their Rust names (isize/usize describe as I32/U32).
NUMBER_NAMES = {I8: "i8", U8: "u8", I16: "i16", U16: "u16", I32: "i32", U32: "u32",
                I64: "i64", U64: "u64", F32: "f32", F64: "f64"}  # fmt: skip

_LEAVES = set(NUMBER_NAMES) | {BOOLEAN, CHAR, UNIT, EXTERNREF, STRING, CACHED_STRING}
_WRAPPERS = {REF, REFMUT, SLICE, VECTOR, OPTIONAL, RESULT, CLAMPED}


@dataclass(frozen=True)
class WbType:
    """One wasm-bindgen type: a tag, an optional inner type, and tag-specific data."""

    tag: int
    inner: Optional["WbType"] = None
    name: str = ""  # NAMED_EXTERNREF / RUST_STRUCT names
    function: Optional["FunctionSig"] = None  # FUNCTION / CLOSURE

    def render(self) -> str:
        """A Rust-like spelling of the type, for error messages."""
        tag = self.tag
        inner = self.inner.render() if self.inner is not None else "?"
        if tag in NUMBER_NAMES:
            return NUMBER_NAMES[tag]
        simple = {BOOLEAN: "bool", CHAR: "char", UNIT: "()", EXTERNREF: "JsValue", STRING: "String",
                  CACHED_STRING: "String (interned: wasm-bindgen feature enable-interning)"}  # fmt: skip
        if tag in simple:
            return simple[tag]
        if tag == REF:
            if self.inner is not None and self.inner.tag in (STRING, CACHED_STRING):
                return "&str"
            return f"&{inner}"
        wrapped = {REFMUT: "&mut {}", SLICE: "[{}]", VECTOR: "Vec<{}>", OPTIONAL: "Option<{}>",
                   RESULT: "Result<{}, JsValue>", CLAMPED: "Clamped<{}>"}  # fmt: skip
        if tag in wrapped:
            return wrapped[tag].format(inner)
        named = {NAMED_EXTERNREF: "imported JS type {}", RUST_STRUCT: "exported struct {}"}
        if tag in named:
            return named[tag].format(self.name)
        other = {ENUM: "C-style enum", FUNCTION: "function", CLOSURE: "closure"}
        if tag in other:
            return other[tag]
        return TAG_NAMES[tag] if tag < len(TAG_NAMES) else f"tag {tag}"


@dataclass(frozen=True)
class FunctionSig:
    """The signature of one exported function, as its descriptor states it."""

    name: str
    args: List[WbType] = field(default_factory=list)
    ret: WbType = WbType(UNIT)
    inner_ret: WbType = WbType(UNIT)

    def render(self) -> str:
        """``fn name(T1, T2) -> R`` in Rust-like spelling."""
        args = ", ".join(a.render() for a in self.args)
        ret = "" if self.ret.tag == UNIT else f" -> {self.ret.render()}"
        return f"fn {self.name}({args}){ret}"


class _Stream:
    def __init__(self, words: Sequence[int], what: str) -> None:
        self.words = list(words)
        self.pos = 0
        self.what = what

    def next(self) -> int:
        if self.pos >= len(self.words):
            raise BuildError(f"the wasm-bindgen descriptor of {self.what} ends early: {self.words}")
        word = self.words[self.pos]
        self.pos += 1
        return word

    def string(self) -> str:
        length = self.next()
        return "".join(chr(self.next()) for _ in range(length))


def _decode_type(stream: _Stream) -> WbType:
    tag = stream.next()
    if tag in _LEAVES:
        return WbType(tag)
    if tag in _WRAPPERS:
        return WbType(tag, inner=_decode_type(stream))
    if tag in (NAMED_EXTERNREF, RUST_STRUCT):
        return WbType(tag, name=stream.string())
    if tag == ENUM:
        stream.next()  # the "hole" value used for Option<Enum>
        return WbType(tag)
    if tag == FUNCTION:
        return WbType(tag, function=_decode_function_body(stream, ""))
    if tag == CLOSURE:
        # closure.rs: CLOSURE, invoke shim, destroy shim, REF|REFMUT, then the FUNCTION.
        stream.next()
        stream.next()
        stream.next()
        return WbType(tag, inner=_decode_type(stream))
    raise BuildError(
        f"unknown wasm-bindgen descriptor tag {tag} in {stream.what}",
        hint="the module was built with a wasm-bindgen other than 0.2.83",
    )


def _decode_function_body(stream: _Stream, name: str) -> FunctionSig:
    stream.next()  # shim index: always 0 for exports
    nargs = stream.next()
    args = [_decode_type(stream) for _ in range(nargs)]
    ret = _decode_type(stream)
    inner_ret = _decode_type(stream)
    return FunctionSig(name=name, args=args, ret=ret, inner_ret=inner_ret)


def decode_function(name: str, words: Sequence[int]) -> FunctionSig:
    """Decode the descriptor stream of the export ``name`` into its signature.

    Raises :class:`BuildError` when the stream is not a complete function descriptor.
    """
    stream = _Stream(words, f"function {name!r}")
    tag = stream.next()
    if tag != FUNCTION:
        raise BuildError(f"the descriptor of {name!r} does not start with FUNCTION ({FUNCTION}): {list(words)}")
    sig = _decode_function_body(stream, name)
    if stream.pos != len(stream.words):
        raise BuildError(f"the descriptor of {name!r} has {len(stream.words) - stream.pos} extra words: {list(words)}")
    return sig
