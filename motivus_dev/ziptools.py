"""What a zip entry really inflates to, whatever its directory says.

Python's ``zipfile`` stops reading an entry at the size the central directory declares, so
a zip that declares 100 bytes and a CRC of the first 100 bytes passes ``testzip`` while its
deflate stream goes on to 1 GiB; a loader that inflates the whole stream (node's
``zlib.inflateRawSync``) then runs out of memory. :func:`size_lie` reads the raw stream
with a bound of one byte past the declared size, so it costs at most the declared size.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from typing import BinaryIO, Optional

_LOCAL_HEADER = b"PK\x03\x04"
_PIECE = 1 << 16


def size_lie(fp: BinaryIO, info: zipfile.ZipInfo) -> Optional[str]:
    """None when ``info``'s data (in the archive file ``fp``) inflates to exactly its
    declared ``file_size``; else why not, in words."""
    declared = info.file_size
    if info.compress_type == zipfile.ZIP_STORED:
        if info.compress_size != declared:
            return f"is stored with {info.compress_size} bytes but declares {declared}"
        return None
    if info.compress_type != zipfile.ZIP_DEFLATED:
        return f"uses compression method {info.compress_type} (only stored and deflate are read)"
    fp.seek(info.header_offset)
    header = fp.read(30)
    if len(header) < 30 or header[:4] != _LOCAL_HEADER:
        return "has no local header"
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    fp.seek(info.header_offset + 30 + name_len + extra_len)
    inflater = zlib.decompressobj(-15)
    produced = 0
    left = info.compress_size
    try:
        while left > 0:
            chunk = fp.read(min(left, _PIECE))
            if not chunk:
                return "is truncated"
            left -= len(chunk)
            while chunk:
                out = inflater.decompress(chunk, declared - produced + 1)
                produced += len(out)
                if produced > declared:
                    return f"inflates to more than the {declared} bytes it declares"
                chunk = inflater.unconsumed_tail
    except zlib.error as exc:
        return f"is not a valid deflate stream ({exc})"
    if produced != declared:
        return f"inflates to {produced} bytes but declares {declared}"
    return None
