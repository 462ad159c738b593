"""A small pure-Python reader of the WebAssembly binary format: function types, imports,
exports and custom sections, what the build's checks of a package need (which imports
its loader must provide, which functions it exports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

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
                reader = Reader(section.payload)
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


class Reader:
    """Reads the binary format from ``data[pos:end]``: bytes, LEB128 integers, names."""

    def __init__(self, data: bytes, pos: int = 0, end: int = -1) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end < 0 else end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise ValueError("unexpected end of data")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def leb(self, signed: bool = False, bits: int = 64) -> Tuple[int, int]:
        """A LEB128 integer and the number of bytes it took (a padded encoding takes more
        than it needs, which matters to :mod:`.features`)."""
        result = shift = size = 0
        while True:
            b = self.byte()
            size += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
            if shift > bits + 7:
                raise ValueError("LEB128 value too long")
        if signed and b & 0x40:
            result -= 1 << shift
        return result, size

    def u32(self) -> int:
        return self.leb(bits=32)[0]

    def skip(self, n: int) -> None:
        if self.pos + n > self.end:
            raise ValueError("unexpected end of data")
        self.pos += n

    def bytes(self, n: int) -> bytes:
        start = self.pos
        self.skip(n)
        return self.data[start:self.pos]

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


def parse_module(wasm: bytes) -> WasmModule:
    """Parse ``wasm`` (a binary module); raise :class:`BuildError` if it is malformed."""
    try:
        return _parse(wasm)
    except (ValueError, UnicodeDecodeError, IndexError) as exc:
        raise BuildError(f"the compiled module is not valid WebAssembly: {exc}") from exc


def _parse(wasm: bytes) -> WasmModule:
    if wasm[:8] != WASM_MAGIC:
        raise ValueError("missing the wasm magic number and version 1 header")
    reader = Reader(wasm, 8)
    module = WasmModule(sections=[])
    while reader.pos < len(wasm):
        sec_id = reader.byte()
        payload = reader.bytes(reader.u32())
        name = None
        if sec_id == SEC_CUSTOM:
            name = Reader(payload).name()
        module.sections.append(Section(sec_id, payload, name))
        body = Reader(payload)
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
