"""Delta-of-delta timestamps (after Gorilla, Pelkonen et al., VLDB 2015), bit-serial.

Format:

    0x01 | uvarint count | [first timestamp, int64 LE, when count >= 1] | bit stream

The bit stream holds count - 1 values z = zigzag(dod), most significant bit first, where
dod[i] = (t[i+1] - t[i]) - (t[i] - t[i-1]) with 64-bit wrap-around and the delta before
the first is taken as 0 (so the first z is the zigzagged first delta). Each z is one of:

    0                 z == 0        (a regular interval costs one bit)
    10    + 8 bits    z < 2**8
    110   + 16 bits   z < 2**16
    1110  + 24 bits   z < 2**24     (+-8 ms of jitter on nanoseconds)
    11110 + 40 bits   z < 2**40     (irregular events up to ~9 minutes apart in ns)
    11111 + 64 bits   anything else

Buckets are wider than the paper's because RusTs timestamps are nanoseconds. Timestamps
may be unsorted or repeated: only the size suffers. numpy does the wrap-around
differencing and running sums; the compiled loops only pack and unpack z.
"""

from typing import Final

import numpy as np
import numpy.typing as npt
from librt.strings import BytesWriter, read_i64_le, write_i64_le
from mypy_extensions import i64, u8

from rusts.compression.varint import (
    BitWriter,
    check_header,
    delta,
    pad_for_reading,
    read_bits,
    read_count,
    undelta,
    unzigzag,
    write_uvarint,
    zigzag,
)
from rusts.core.errors import CodecError

CODEC_ID: Final = 0x01
CODEC: Final = "timestamp-dod"


def encode(timestamps: npt.NDArray[np.int64]) -> bytes:
    """A delta-of-delta block (id 0x01) for int64 timestamps, in any order."""
    values = np.ascontiguousarray(timestamps, dtype=np.int64)
    count: i64 = len(values)
    out = BytesWriter()
    out.append(u8(CODEC_ID))
    write_uvarint(out, count)
    if count == 0:
        return out.getvalue()
    write_i64_le(out, int(values[0]))
    patterns = zigzag(delta(delta(values)[1:]))
    pack_buckets(BitWriter(out), patterns.tobytes(), count - 1)
    return out.getvalue()


def pack_buckets(bits: BitWriter, patterns: bytes, count: i64) -> None:
    """Append `count` zigzagged values with the bucket prefixes of the module docstring."""
    for i in range(count):
        z = read_i64_le(patterns, i * 8)
        # z < 0 is a pattern >= 2**63: only the 64-bit bucket holds it.
        if z == 0:
            bits.write_short(0, 1)
        elif 0 < z < 0x100:
            bits.write_short(0x200 | z, 10)
        elif 0 < z < 0x10000:
            bits.write_short(0x60000 | z, 19)
        elif 0 < z < 0x1000000:
            bits.write_short(0xE, 4)
            bits.write_short(z, 24)
        elif 0 < z < 0x10000000000:
            bits.write_short(0x1E, 5)
            bits.write(z, 40)
        else:
            bits.write_short(0x1F, 5)
            bits.write(z, 64)
    bits.flush()


def decode(data: bytes) -> npt.NDArray[np.int64]:
    """The timestamps of a delta-of-delta block (id 0x01)."""
    check_header(data, CODEC_ID, CODEC)
    count, pos = read_count(data, 1, CODEC)
    if count == 0:
        if pos != len(data):
            raise CodecError(CODEC, "bytes after an empty block", pos)
        return np.empty(0, dtype=np.int64)
    if len(data) - pos < 8:
        raise CodecError(CODEC, "truncated first timestamp", pos)
    first = read_i64_le(data, pos)
    stream_bits: i64 = (len(data) - pos - 8) * 8
    if count - 1 > stream_bits:
        raise CodecError(CODEC, f"{count} timestamps cannot fit in {stream_bits} bits", pos)
    patterns = unpack_buckets(pad_for_reading(data, pos + 8), stream_bits, count - 1)
    deltas = undelta(unzigzag(np.frombuffer(patterns, dtype=np.int64)))
    out = np.empty(count, dtype=np.int64)
    out[0] = first
    # An array op: the sum wraps around like the encoder's differences did.
    out[1:] = undelta(deltas) + np.int64(first)
    return out


def unpack_buckets(padded: bytes, stream_bits: i64, count: i64) -> bytes:
    """`count` zigzagged values from a padded bit stream, as little-endian 64-bit patterns."""
    out = BytesWriter()
    pos: i64 = 0
    for value_index in range(count):
        prefix = read_bits(padded, pos, 5)
        if prefix < 0x10:
            pos += 1
            z: i64 = 0
        elif prefix < 0x18:
            z = read_bits(padded, pos + 2, 8)
            pos += 10
        elif prefix < 0x1C:
            z = read_bits(padded, pos + 3, 16)
            pos += 19
        elif prefix < 0x1E:
            z = read_bits(padded, pos + 4, 24)
            pos += 28
        elif prefix == 0x1E:
            z = read_bits(padded, pos + 5, 40)
            pos += 45
        else:
            z = read_bits(padded, pos + 5, 64)
            pos += 69
        if pos > stream_bits:
            raise CodecError(CODEC, "truncated bit stream", (pos >> 3) - 1)
        write_i64_le(out, z)
    return out.getvalue()
