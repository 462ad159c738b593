"""Which WebAssembly proposals a module uses that node 16 cannot load.

The platform's oldest workers run node 16.16 (V8 9.4): it has SIMD, bulk memory,
sign-extension, mutable globals, non-trapping float-to-int, multi-value and threads, and
not reference types (V8 9.6), tail calls, exception handling, GC, relaxed SIMD, memory64 or
multi-memory. A module that uses one of those fails to compile there, on the cluster, after
it passed every local test under a newer node: so the build refuses it, naming the feature.

Types and sections are not enough. rustc >= 1.82 turns reference-types on for wasm32 by
default, and then LLVM encodes the table index of every ``call_indirect`` as a padded
5-byte LEB (a relocation), not the single ``0x00`` byte an MVP decoder requires: a module
with no externref anywhere still fails on node 16. Seeing that takes a walk over the code,
instruction by instruction, which is what :func:`unsupported_features` does.
"""

from __future__ import annotations

from typing import Dict, List

from motivus_dev.wasm.module import WASM_MAGIC, Reader, parse_module

REFERENCE_TYPES = "reference-types"
TAIL_CALL = "tail-call"
EXCEPTIONS = "exception-handling"
GC = "gc (typed function references)"
RELAXED_SIMD = "relaxed-simd"
MEMORY64 = "memory64"
MULTI_MEMORY = "multi-memory"

#: What each feature is, for the error message.
WHY: Dict[str, str] = {
    REFERENCE_TYPES: "V8 9.6 / node 17.2",
    TAIL_CALL: "V8 11.2 / node 20",
    EXCEPTIONS: "V8 9.5 / node 17",
    GC: "V8 11.9 / node 22",
    RELAXED_SIMD: "V8 11.4 / node 21",
    MEMORY64: "node 24",
    MULTI_MEMORY: "V8 12 / node 22",
}

_NUM = {0x7F, 0x7E, 0x7D, 0x7C, 0x7B}  # i32 i64 f32 f64 v128
_REF = {0x70, 0x6F}  # funcref externref
_GC_TYPES = {0x5E, 0x5F, 0x4E, 0x50, 0x4F}  # array struct rec sub sub-final


class _Walk:
    """The walk over one module, collecting features (with where each was first seen)."""

    def __init__(self) -> None:
        self.found: Dict[str, str] = {}
        self.tables = 0
        self.memories = 0

    def use(self, feature: str, where: str) -> None:
        self.found.setdefault(feature, where)

    def valtype(self, r: Reader, where: str) -> None:
        code = r.byte()
        if code in _NUM:
            return
        if code in _REF:
            self.use(REFERENCE_TYPES, where)
        elif code in (0x63, 0x64):  # (ref null ht) (ref ht)
            r.leb(signed=True, bits=33)
            self.use(GC, where)
        elif 0x65 <= code <= 0x74:  # the GC proposal's abbreviated heap types
            self.use(GC, where)
        else:
            raise ValueError(f"unknown value type 0x{code:02x} ({where})")

    def limits(self, r: Reader, where: str, memory: bool) -> None:
        flags = r.byte()
        if memory and flags & 0x04:
            self.use(MEMORY64, where)
        r.leb()
        if flags & 0x01:
            r.leb()

    def table(self, r: Reader, where: str) -> None:
        self.tables += 1
        if self.tables > 1:
            self.use(REFERENCE_TYPES, f"{where}: a second table")
        kind = r.byte()
        if kind != 0x70:
            self.use(REFERENCE_TYPES if kind == 0x6F else GC, f"{where}: a table of 0x{kind:02x}")
        self.limits(r, where, memory=False)

    def memory(self, r: Reader, where: str) -> None:
        self.memories += 1
        if self.memories > 1:
            self.use(MULTI_MEMORY, f"{where}: a second memory")
        self.limits(r, where, memory=True)

    def const_expr(self, r: Reader, where: str) -> None:
        self.code(r, where, r.end, expression=True)

    # -- sections -----------------------------------------------------------------------

    def types(self, r: Reader) -> None:
        for index in range(r.u32()):
            form = r.byte()
            if form in _GC_TYPES:
                self.use(GC, f"type {index}")
                return  # GC type syntax is not walked further: the feature is found
            if form != 0x60:
                raise ValueError(f"unknown type form 0x{form:02x} (type {index})")
            for _ in range(r.u32()):
                self.valtype(r, f"type {index}")
            for _ in range(r.u32()):
                self.valtype(r, f"type {index}")

    def imports(self, r: Reader) -> None:
        for index in range(r.u32()):
            r.skip(r.u32())  # module and field names: not needed here
            r.skip(r.u32())
            kind = r.byte()
            where = f"import {index}"
            if kind == 0:
                r.u32()
            elif kind == 1:
                self.table(r, "an imported table")
            elif kind == 2:
                self.memory(r, "an imported memory")
            elif kind == 3:
                self.valtype(r, "an imported global")
                r.byte()
            elif kind == 4:
                self.use(EXCEPTIONS, "an imported tag")
                r.byte()
                r.u32()
            else:
                raise ValueError(f"unknown import kind {kind} ({where})")

    def globals(self, r: Reader) -> None:
        for index in range(r.u32()):
            self.valtype(r, f"global {index}")
            r.byte()
            self.const_expr(r, f"global {index}")

    def elements(self, r: Reader) -> None:
        for index in range(r.u32()):
            where = f"element segment {index}"
            flags = r.u32()
            if flags > 7:
                raise ValueError(f"unknown element segment flags {flags} ({where})")
            if flags & 0x02 and not flags & 0x01:  # active, with an explicit table index
                if r.u32() != 0:
                    self.use(REFERENCE_TYPES, f"{where}: a table other than the first")
            if not flags & 0x01:
                self.const_expr(r, where)  # the offset
            if flags & 0x04:  # element expressions
                if flags & 0x03:
                    kind = r.byte()
                    if kind != 0x70:
                        self.use(REFERENCE_TYPES, f"{where}: elements of 0x{kind:02x}")
                for _ in range(r.u32()):
                    self.const_expr(r, where)
            else:
                if flags & 0x03:
                    r.byte()  # elemkind: 0x00 funcref
                for _ in range(r.u32()):
                    r.u32()

    def data(self, r: Reader) -> None:
        for index in range(r.u32()):
            flags = r.u32()
            if flags == 2 and r.u32() != 0:
                self.use(MULTI_MEMORY, f"data segment {index}: a memory other than the first")
            if flags in (0, 2):
                self.const_expr(r, f"data segment {index}")
            r.skip(r.u32())

    def bodies(self, r: Reader, imported_functions: int) -> None:
        for index in range(r.u32()):
            size = r.u32()
            end = r.pos + size
            where = f"function {imported_functions + index}"
            body = Reader(r.data, r.pos, end)
            for _ in range(body.u32()):
                body.u32()
                self.valtype(body, f"{where}, a local")
            self.code(body, where, end)
            r.pos = end

    # -- instructions -------------------------------------------------------------------

    def blocktype(self, r: Reader, where: str) -> None:
        first = r.data[r.pos] if r.pos < r.end else -1
        if first == 0x40 or first in _NUM:
            r.pos += 1
        elif first in _REF:
            r.pos += 1
            self.use(REFERENCE_TYPES, where)
        else:
            r.leb(signed=True, bits=33)  # a type index: multi-value, which node 16 has

    def memarg(self, r: Reader, where: str) -> None:
        align = r.u32()
        if align & 0x40:
            self.use(MULTI_MEMORY, where)
            r.u32()
        r.leb()

    def code(self, r: Reader, where: str, end: int, expression: bool = False) -> None:
        depth = 1
        while r.pos < end:
            at = r.pos
            op = r.byte()
            here = f"{where}, byte {at}"
            if op == 0x0B:  # end
                depth -= 1
                if depth == 0 and expression:
                    return
                continue
            if op in (0x02, 0x03, 0x04):
                depth += 1
                self.blocktype(r, here)
            elif op in (0x00, 0x01, 0x05, 0x0F, 0x1A, 0x1B) or 0x45 <= op <= 0xC4:
                pass
            elif op in (0x0C, 0x0D, 0x10) or 0x20 <= op <= 0x24:
                r.u32()
            elif op == 0x0E:
                for _ in range(r.u32()):
                    r.u32()
                r.u32()
            elif op == 0x11:  # call_indirect: type, then the table as one 0x00 byte in MVP
                r.u32()
                table, size = r.leb(bits=32)
                if table != 0 or size != 1:
                    self.use(REFERENCE_TYPES, f"{here}: call_indirect with its table index in {size} "
                             "byte(s) (LLVM's relocatable form: compile without reference-types)")
            elif op in (0x12, 0x13):
                self.use(TAIL_CALL, here)
                r.u32()
                if op == 0x13:
                    r.u32()
            elif op in (0x06, 0x1F):
                self.use(EXCEPTIONS, here)
                depth += 1
                self.blocktype(r, here)
                if op == 0x1F:
                    for _ in range(r.u32()):
                        kind = r.byte()
                        if kind in (0, 1):
                            r.u32()
                        r.u32()
            elif op in (0x07, 0x08, 0x09, 0x18):
                self.use(EXCEPTIONS, here)
                r.u32()
                if op == 0x18:
                    depth -= 1
            elif op in (0x19, 0x0A):
                self.use(EXCEPTIONS, here)
            elif op == 0x1C:  # select with types
                self.use(REFERENCE_TYPES, here)
                for _ in range(r.u32()):
                    self.valtype(r, here)
            elif op in (0x25, 0x26):  # table.get/set
                self.use(REFERENCE_TYPES, here)
                r.u32()
            elif 0x28 <= op <= 0x3E:
                self.memarg(r, here)
            elif op in (0x3F, 0x40):
                if r.u32() != 0:
                    self.use(MULTI_MEMORY, here)
            elif op == 0x41:
                r.leb(signed=True, bits=32)
            elif op == 0x42:
                r.leb(signed=True, bits=64)
            elif op == 0x43:
                r.skip(4)
            elif op == 0x44:
                r.skip(8)
            elif op in (0xD0, 0xD1, 0xD2):
                self.use(REFERENCE_TYPES, here)
                if op == 0xD0:
                    r.leb(signed=True, bits=33)
                elif op == 0xD2:
                    r.u32()
            elif op in (0x14, 0x15, 0xD3, 0xD4, 0xD5, 0xD6, 0xFB):
                self.use(GC, here)
                return  # not walked further: the feature is found
            elif op == 0xFC:
                self.prefixed_fc(r, here)
            elif op == 0xFD:
                self.simd(r, here)
            elif op == 0xFE:
                sub = r.u32()
                if sub == 0x03:
                    r.byte()
                else:
                    self.memarg(r, here)
            else:
                raise ValueError(f"unknown instruction 0x{op:02x} ({here})")

    def prefixed_fc(self, r: Reader, here: str) -> None:
        sub = r.u32()
        if sub <= 7:
            return  # non-trapping float-to-int
        if sub == 8:
            r.u32()
            if r.u32() != 0:
                self.use(MULTI_MEMORY, here)
        elif sub in (9, 13):
            r.u32()
        elif sub == 10:
            if r.u32() != 0 or r.u32() != 0:
                self.use(MULTI_MEMORY, here)
        elif sub == 11:
            if r.u32() != 0:
                self.use(MULTI_MEMORY, here)
        elif sub in (12, 14):
            first, second = r.u32(), r.u32()
            table_indices = (second,) if sub == 12 else (first, second)
            if any(table_indices):
                self.use(REFERENCE_TYPES, f"{here}: a table other than the first")
        elif sub in (15, 16, 17):
            self.use(REFERENCE_TYPES, here)
            r.u32()
        else:
            raise ValueError(f"unknown instruction 0xfc {sub} ({here})")

    def simd(self, r: Reader, here: str) -> None:
        sub = r.u32()
        if sub <= 11 or sub in (92, 93):
            self.memarg(r, here)
        elif sub in (12, 13):
            r.skip(16)
        elif 21 <= sub <= 34:
            r.byte()
        elif 84 <= sub <= 91:
            self.memarg(r, here)
            r.byte()
        elif 0x100 <= sub <= 0x113:
            self.use(RELAXED_SIMD, here)


def unsupported_features(wasm: bytes) -> Dict[str, str]:
    """The features of ``wasm`` that node 16 lacks: feature -> where it was first seen.

    Raises :class:`ValueError` for a module this walk cannot read.
    """
    if wasm[:8] != WASM_MAGIC:
        raise ValueError("missing the wasm magic number and version 1 header")
    walk = _Walk()
    r = Reader(wasm, 8)
    imported_functions = 0
    while r.pos < len(wasm):
        section = r.byte()
        size = r.u32()
        end = r.pos + size
        if end > len(wasm):
            raise ValueError(f"section {section} runs past the end of the module")
        body = Reader(wasm, r.pos, end)
        if section == 1:
            walk.types(body)
        elif section == 2:
            imported_functions = len(parse_module(wasm).func_imports())
            walk.imports(body)
        elif section == 4:
            for index in range(body.u32()):
                walk.table(body, f"table {index}")
        elif section == 5:
            for index in range(body.u32()):
                walk.memory(body, f"memory {index}")
        elif section == 6:
            walk.globals(body)
        elif section == 9:
            walk.elements(body)
        elif section == 10:
            walk.bodies(body, imported_functions)
        elif section == 11:
            walk.data(body)
        elif section == 13:
            walk.use(EXCEPTIONS, "a tag section")
        r.pos = end
    return walk.found


def describe(found: Dict[str, str]) -> List[str]:
    """One line per feature: what, where first seen, which engine first has it."""
    return [f"{feature} (first at {where}; needs {WHY[feature]})" for feature, where in sorted(found.items())]

