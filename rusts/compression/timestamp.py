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
from librt.strings import BytesWriter, read_i64_be, read_i64_le, write_i64_le
from mypy_extensions import i64, u8

from rusts.compression.varint import (
    BitWriter,
    check_header,
    delta,
    leading_zeros,
    pad_for_reading,
    read_bits,
    read_count,
    undelta_in_place,
    unzigzag,
    uvarint_size,
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


def encoded_size(timestamps: npt.NDArray[np.int64]) -> int:
    """The exact length of encode(timestamps), computed with array ops, without encoding."""
    values = np.ascontiguousarray(timestamps, dtype=np.int64)
    count = len(values)
    if count == 0:
        return 1 + uvarint_size(0)
    z = zigzag(delta(delta(values)[1:])).view(np.uint64)
    bits = len(z)
    # Each bucket boundary crossed adds the next bucket's extra bits (see the module docstring).
    for bound, extra in ((1, 9), (0x100, 9), (0x10000, 9), (0x1000000, 17), (0x10000000000, 24)):
        bits += extra * int(np.count_nonzero(z >= np.uint64(bound)))
    return 1 + uvarint_size(count) + 8 + (bits + 7) // 8


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
    out = np.empty(count, dtype=np.int64)
    out[0] = first
    # Array ops, in place: the sums wrap around like the encoder's differences did.
    rest = out[1:]
    deltas = undelta_in_place(unzigzag(np.frombuffer(patterns, dtype=np.int64)))
    np.cumsum(deltas, out=rest)
    rest += np.int64(first)
    return out


def unpack_buckets(padded: bytes, stream_bits: i64, count: i64) -> bytes:
    """`count` zigzagged values from a padded bit stream, as little-endian 64-bit patterns."""
    out = BytesWriter()
    pos: i64 = 0
    done: i64 = 0
    while done < count:
        # The 57 stream bits from pos, right-aligned: one load serves every bucket but the last.
        window = (read_i64_be(padded, pos >> 3) >> (7 - (pos & 7))) & 0x1FFFFFFFFFFFFFF
        if window < 0x100000000000000:
            # A run of "0" records (regular intervals): take all its zero bits at once.
            run: i64 = 57 if window == 0 else leading_zeros(window) - 7
            if run > count - done:
                run = count - done
            pos += run
            done += run
            if pos > stream_bits:
                raise CodecError(CODEC, "truncated bit stream", (pos >> 3) - 1)
            for zero_index in range(run):
                write_i64_le(out, 0)
            continue
        prefix = window >> 52
        if prefix < 0x18:
            z: i64 = (window >> 47) & 0xFF
            pos += 10
        elif prefix < 0x1C:
            z = (window >> 38) & 0xFFFF
            pos += 19
        elif prefix < 0x1E:
            z = (window >> 29) & 0xFFFFFF
            pos += 28
        elif prefix == 0x1E:
            z = (window >> 12) & 0xFFFFFFFFFF
            pos += 45
        else:
            z = read_bits(padded, pos + 5, 64)
            pos += 69
        if pos > stream_bits:
            raise CodecError(CODEC, "truncated bit stream", (pos >> 3) - 1)
        write_i64_le(out, z)
        done += 1
    return out.getvalue()
