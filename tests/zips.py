"""Zip archives for the tests that the kit must refuse."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib


def lying_zip(real: int = 4 << 20, declared: int = 100) -> bytes:
    """A zip whose one entry declares ``declared`` bytes (and the CRC of its first bytes)
    but inflates to ``real``: zipfile's own check stops at the declared size."""
    content = b"A" * declared + b"\0" * (real - declared)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.bin", content)
    data = bytearray(buf.getvalue())
    crc = zlib.crc32(content[:declared])
    local = data.index(b"PK\x03\x04")
    struct.pack_into("<I", data, local + 14, crc)
    struct.pack_into("<I", data, local + 22, declared)
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 16, crc)
    struct.pack_into("<I", data, central + 24, declared)
    return bytes(data)
