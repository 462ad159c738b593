"""A small pure-Python reader and rewriter of the WebAssembly binary format.

Only what the Rust loader generator needs: function types, imports, exports, custom
sections, and removing exports / custom sections without touching code (so the rewrite is
safe: function indices do not change).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Set, Tuple

from motivus_dev.errors import BuildError

WASM_MAGIC = b"\x00asm\x01\x00\x00\x00"

SEC_CUSTOM = 0
SEC_TYPE = 1
SEC_IMPORT = 2
SEC_FUNCTION = 3
SEC_EXPORT = 7

VALTYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128", 0x70: "funcref", 0x6F: "externref"}
EXTERNAL_KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}


@dataclass(frozen=True)
class FuncType:
    """A wasm function type: parameter and result value types (``"i32"``, ``"f64"`` ...)."""

    params: Tuple[str, ...]
    results: Tuple[str, ...]


@dataclass(frozen=True)
class Import:
    """One import: ``module.name`` of a kind; ``func_type`` is set for function imports."""

    module: str
    name: str
    kind: str
    func_type: Optional[FuncType] = None


@dataclass(frozen=True)
class Export:
    """One export: its name, kind and index in the kind's index space."""

    name: str
    kind: str
    index: int


@dataclass(frozen=True)
class Section:
    """A raw section: id, payload bytes, and (for custom sections) its name."""

    id: int
    payload: bytes
    name: Optional[str] = None


@dataclass
class WasmModule:
    """The parts of a module the kit reads, plus its raw sections for rewriting."""

    sections: List[Section]
    types: List[FuncType] = field(default_factory=list)
    imports: List[Import] = field(default_factory=list)
    func_type_indices: List[int] = field(default_factory=list)
    exports: List[Export] = field(default_factory=list)

    def custom_section_names(self) -> List[str]:
        """The names of the custom sections, in file order."""
        return [s.name for s in self.sections if s.id == SEC_CUSTOM and s.name is not None]

    def custom_section(self, name: str) -> Optional[bytes]:
        """The payload (after the name) of the first custom section called ``name``."""
        for section in self.sections:
            if section.id == SEC_CUSTOM and section.name == name:
                reader = _Reader(section.payload)
                reader.name()
                return section.payload[reader.pos :]
        return None

    def func_imports(self) -> List[Import]:
        """Function imports, in function index order."""
        return [imp for imp in self.imports if imp.kind == "func"]

    def export_func_type(self, name: str) -> FuncType:
        """The wasm type of the exported function ``name``."""
        for export in self.exports:
            if export.name == name and export.kind == "func":
                n_imported = len(self.func_imports())
                if export.index < n_imported:
                    imported = self.func_imports()[export.index]
                    assert imported.func_type is not None
                    return imported.func_type
                return self.types[self.func_type_indices[export.index - n_imported]]
        raise BuildError(f"the module exports no function called {name!r}")

    def export_names(self, kind: str = "func") -> List[str]:
        """Names of the exports of one kind, in file order."""
        return [e.name for e in self.exports if e.kind == kind]


class _Reader:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise ValueError("unexpected end of data")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def u32(self) -> int:
        result = 0
        shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 35:
                raise ValueError("LEB128 value too long")

    def bytes(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("unexpected end of data")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def name(self) -> str:
        return self.bytes(self.u32()).decode("utf-8")

    def valtype(self) -> str:
        code = self.byte()
        if code not in VALTYPES:
            raise ValueError(f"unknown value type 0x{code:02x}")
        return VALTYPES[code]

    def limits(self) -> None:
        flags = self.byte()
        self.u32()
        if flags & 1:
            self.u32()


def encode_u32(value: int) -> bytes:
    """The unsigned LEB128 encoding of ``value`` (wasm's integer format)."""
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _encode_name(name: str) -> bytes:
    raw = name.encode("utf-8")
    return encode_u32(len(raw)) + raw


def parse_module(wasm: bytes) -> WasmModule:
    """Parse ``wasm`` (a binary module); raise :class:`BuildError` if it is malformed."""
    try:
        return _parse(wasm)
    except (ValueError, UnicodeDecodeError, IndexError) as exc:
        raise BuildError(f"the compiled module is not valid WebAssembly: {exc}") from exc


def _parse(wasm: bytes) -> WasmModule:
    if wasm[:8] != WASM_MAGIC:
        raise ValueError("missing the wasm magic number and version 1 header")
    reader = _Reader(wasm, 8)
    module = WasmModule(sections=[])
    while reader.pos < len(wasm):
        sec_id = reader.byte()
        payload = reader.bytes(reader.u32())
        name = None
        if sec_id == SEC_CUSTOM:
            name = _Reader(payload).name()
        module.sections.append(Section(sec_id, payload, name))
        body = _Reader(payload)
        if sec_id == SEC_TYPE:
            for _ in range(body.u32()):
                if body.byte() != 0x60:
                    raise ValueError("type section entry is not a function type")
                params = tuple(body.valtype() for _ in range(body.u32()))
                results = tuple(body.valtype() for _ in range(body.u32()))
                module.types.append(FuncType(params, results))
        elif sec_id == SEC_IMPORT:
            for _ in range(body.u32()):
                mod_name = body.name()
                field_name = body.name()
                kind = body.byte()
                func_type = None
                if kind == 0:
                    func_type = module.types[body.u32()]
                elif kind == 1:
                    body.byte()
                    body.limits()
                elif kind == 2:
                    body.limits()
                elif kind == 3:
                    body.valtype()
                    body.byte()
                elif kind == 4:
                    body.byte()
                    body.u32()
                else:
                    raise ValueError(f"unknown import kind {kind}")
                module.imports.append(Import(mod_name, field_name, EXTERNAL_KINDS[kind], func_type))
        elif sec_id == SEC_FUNCTION:
            module.func_type_indices = [body.u32() for _ in range(body.u32())]
        elif sec_id == SEC_EXPORT:
            for _ in range(body.u32()):
                export_name = body.name()
                kind = body.byte()
                if kind not in EXTERNAL_KINDS:
                    raise ValueError(f"unknown export kind {kind}")
                module.exports.append(Export(export_name, EXTERNAL_KINDS[kind], body.u32()))
    return module


def rewrite_module(
    wasm: bytes,
    drop_exports: Iterable[str] = (),
    drop_custom_sections: Iterable[str] = (),
) -> bytes:
    """Return ``wasm`` without the named exports and custom sections.

    Only the export section and custom sections change; code and index spaces stay as they
    are, so the result is valid whenever the input was.
    """
    module = parse_module(wasm)
    exports_to_drop: Set[str] = set(drop_exports)
    customs_to_drop: Set[str] = set(drop_custom_sections)
    out = bytearray(WASM_MAGIC)
    for section in module.sections:
        payload = section.payload
        if section.id == SEC_CUSTOM and section.name in customs_to_drop:
            continue
        if section.id == SEC_EXPORT and exports_to_drop:
            kept = [e for e in module.exports if e.name not in exports_to_drop]
            kind_codes: Dict[str, int] = {v: k for k, v in EXTERNAL_KINDS.items()}
            body = bytearray(encode_u32(len(kept)))
            for export in kept:
                body += _encode_name(export.name) + bytes([kind_codes[export.kind]]) + encode_u32(export.index)
            payload = bytes(body)
        out.append(section.id)
        out += encode_u32(len(payload)) + payload
    return bytes(out)
