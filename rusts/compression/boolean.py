"""Bit-packed booleans: one bit a value.

Format:

    0x06 | uvarint count | ceil(count / 8) bytes, value i at bit 7 - i % 8 of byte i // 8
                           (most significant bit first), unused low bits of the last byte zero

Runs of equal values are left to the zstd/LZ4 block wrappers (see block.py), which the
column registry tries on top.
"""

from typing import Final

import numpy as np
import numpy.typing as npt
from librt.strings import BytesWriter
from mypy_extensions import i64, u8

from rusts.compression.varint import check_header, read_count, write_uvarint
from rusts.core.errors import CodecError

CODEC_ID: Final = 0x06
CODEC: Final = "boolean"


def encode(values: npt.NDArray[np.bool_]) -> bytes:
    """A bit-packed block (id 0x06) for booleans."""
    flags = np.ascontiguousarray(values, dtype=np.bool_)
    out = BytesWriter()
    out.append(u8(CODEC_ID))
    write_uvarint(out, len(flags))
    out.write(np.packbits(flags).tobytes())
    return out.getvalue()


def decode(data: bytes) -> npt.NDArray[np.bool_]:
    """The booleans of a bit-packed block (id 0x06)."""
    check_header(data, CODEC_ID, CODEC)
    count, pos = read_count(data, 1, CODEC)
    packed_size: i64 = (count + 7) // 8
    if len(data) - pos != packed_size:
        raise CodecError(CODEC, f"{len(data) - pos} bytes for {count} values", pos)
    if count == 0:
        return np.empty(0, dtype=np.bool_)
    packed = np.frombuffer(data, dtype=np.uint8, offset=pos)
    spare_bits: i64 = packed_size * 8 - count
    last: i64 = data[len(data) - 1]
    if last & (0xFF >> (8 - spare_bits)) != 0:
        raise CodecError(CODEC, "padding bits are set", len(data) - 1)
    return np.unpackbits(packed, count=count).astype(np.bool_)
