"""Factored integers: int64 values stored as quotients by their common factor, optionally
relative to a reference column (the block's timestamps), so that integer fields holding times
close to the point's time ("request time", "drop-off time" in ns) cost what their offsets cost.

Format:

    0x23 | mode u8 | uvarint factor (>= 1) | inner block

- mode 0: value = quotient * factor.
- mode 1: value = quotient * factor + (reference - reference mod factor), the reference (one
  int64 per value, given by the caller: the segment passes the timestamps of the rows that
  carry the field) rounded down to a multiple of the factor. A block of mode 1 cannot be
  decoded without its reference; codec.decode_column refuses it.
- inner block: the quotients as any int64 column block of the registry (wrappers included),
  never another 0x23 block.

Arithmetic is int64 with wrap-around, and the encoder keeps a block only when decoding it
gives every value back bit for bit, so overflow can never change a value.
Interpreted: a few numpy calls per block.
"""

from typing import Final

import numpy as np
import numpy.typing as npt
from librt.strings import BytesWriter

from rusts.compression.varint import read_uvarint, write_uvarint
from rusts.core.errors import CodecError

CODEC_ID: Final = 0x23
MODE_FACTOR: Final = 0
MODE_REFERENCE: Final = 1
MAX_FACTOR: Final = 2**62

Int64Array = npt.NDArray[np.int64]


def common_factor(values: Int64Array) -> int:
    """The greatest common divisor of the values (1 for none, all zero, or one out of range)."""
    if len(values) == 0:
        return 1
    factor = int(np.gcd.reduce(values))
    return factor if 1 <= factor <= MAX_FACTOR else 1


def quotients(values: Int64Array, factor: int, reference: Int64Array | None) -> Int64Array | None:
    """What the inner block stores, or None when decoding it would not give the values back."""
    with np.errstate(over="ignore"):
        base = _base(reference, factor)
        shifted = values if base is None else values - base
        stored: Int64Array = shifted // np.int64(factor)
        if not np.array_equal(restore(stored, factor, reference), values):
            return None
    return stored


def restore(stored: Int64Array, factor: int, reference: Int64Array | None) -> Int64Array:
    """The values of decoded quotients (reference None for mode 0)."""
    with np.errstate(over="ignore"):
        values: Int64Array = stored * np.int64(factor)
        base = _base(reference, factor)
        if base is not None:
            values += base
    return values


def _base(reference: Int64Array | None, factor: int) -> Int64Array | None:
    if reference is None:
        return None
    if factor == 1:
        return reference
    base: Int64Array = reference - reference % np.int64(factor)
    return base


def pack(mode: int, factor: int, inner: bytes) -> bytes:
    """A 0x23 block around an encoded block of the quotients."""
    out = BytesWriter()
    out.append(CODEC_ID)
    out.append(mode)
    write_uvarint(out, factor)
    out.write(inner)
    return out.getvalue()


def unpack(data: bytes) -> tuple[int, int, bytes]:
    """(mode, factor, inner block) of a 0x23 block, header checked."""
    if len(data) < 3 or data[0] != CODEC_ID:
        raise CodecError("factored", "not a factored integer block", 0)
    mode = data[1]
    if mode not in (MODE_FACTOR, MODE_REFERENCE):
        raise CodecError("factored", f"unknown mode {mode}", 1)
    factor, pos = read_uvarint(data, 2, "factored")
    if not 1 <= factor <= MAX_FACTOR:
        raise CodecError("factored", f"factor {factor} out of range", 2)
    if pos >= len(data) or data[pos] == CODEC_ID:
        raise CodecError("factored", "missing inner block or a factored block inside another", pos)
    return mode, int(factor), data[pos:]
