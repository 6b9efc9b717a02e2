"""Gorilla XOR floats (Pelkonen et al., VLDB 2015, section 4.1.2), bit-serial.

Format:

    0x02 | uvarint count | bit stream

The bit stream, most significant bit first, zero-padded to a byte:

    first value: its 64 IEEE-754 bits
    then, for each next value, x = bits(v[i]) XOR bits(v[i-1]):
      0                                        x == 0 (value repeated)
      10 + m bits                              x fits the previous window: m = 64 - lead - trail
                                               of the last "11" record; the window's bits of x
      11 + 5 bits lead + 6 bits m + m bits     a new window: lead = leading zeros of x (capped
                                               at 31), m = meaningful bits (64 stored as 0),
                                               trail = 64 - lead - m

Values travel as their 64-bit patterns, never as floats, so NaN payloads, -0.0 and
infinities round-trip bit for bit.
"""

from typing import Final

import numpy as np
import numpy.typing as npt
from librt.strings import BytesWriter, read_i64_be, read_i64_le, write_i64_le
from mypy_extensions import i64, u8

from rusts.compression.varint import (
    BitWriter,
    check_header,
    leading_zeros,
    pad_for_reading,
    read_bits,
    read_count,
    trailing_zeros,
    uvarint_size,
    write_uvarint,
)
from rusts.core.errors import CodecError

CODEC_ID: Final = 0x02
CODEC: Final = "gorilla"


def encode(values: npt.NDArray[np.float64]) -> bytes:
    """A Gorilla block (id 0x02) for float64 values."""
    raw = np.ascontiguousarray(values, dtype=np.float64).tobytes()
    count: i64 = len(raw) // 8
    out = BytesWriter()
    out.append(u8(CODEC_ID))
    write_uvarint(out, count)
    if count > 0:
        pack_xors(BitWriter(out), raw, count)
    return out.getvalue()


def size_lower_bound(values: npt.NDArray[np.float64]) -> int:
    """A length encode(values) cannot go below, computed with array ops, without encoding.

    Each XOR costs at least 2 bits + its meaningful bits (1 bit when zero). The bit length
    comes from the float exponent, which may round up by one: hence the - 1.
    """
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    count = len(bits)
    if count <= 1:
        return 1 + uvarint_size(count) + 8 * count
    xors = bits[1:] ^ bits[:-1]
    xors = xors[xors != 0]
    zero_count = count - 1 - len(xors)
    lowest = xors & (~xors + np.uint64(1))
    # bit length of x, possibly + 1, minus (trailing zeros + 1): meaningful bits, possibly - 1.
    meaningful = np.frexp(xors.astype(np.float64))[1] - np.frexp(lowest.astype(np.float64))[1]
    total = 64 + zero_count + 2 * len(xors) + int(meaningful.sum())
    return 1 + uvarint_size(count) + (total + 7) // 8


def pack_xors(bits: BitWriter, raw: bytes, count: i64) -> None:
    """Append the bit stream of the module docstring for `count` float64 patterns."""
    previous = read_i64_le(raw, 0)
    bits.write(previous, 64)
    window_lead: i64 = -1  # no window until the first "11" record
    window_trail: i64 = 0
    for i in range(1, count):
        current = read_i64_le(raw, i * 8)
        x = current ^ previous
        previous = current
        if x == 0:
            bits.write_short(0, 1)
            continue
        lead = leading_zeros(x)
        trail = trailing_zeros(x)
        if lead > 31:
            lead = 31  # the field has 5 bits; the window just starts higher
        if window_lead >= 0 and lead >= window_lead and trail >= window_trail:
            bits.write_short(2, 2)
            bits.write(x >> window_trail, 64 - window_lead - window_trail)
            continue
        meaningful = 64 - lead - trail
        bits.write_short(0x1800 | (lead << 6) | (meaningful & 63), 13)
        bits.write(x >> trail, meaningful)
        window_lead = lead
        window_trail = trail
    bits.flush()


def decode(data: bytes) -> npt.NDArray[np.float64]:
    """The float64 values of a Gorilla block (id 0x02)."""
    check_header(data, CODEC_ID, CODEC)
    count, pos = read_count(data, 1, CODEC)
    stream_bits: i64 = (len(data) - pos) * 8
    if count == 0:
        if stream_bits != 0:
            raise CodecError(CODEC, "bytes after an empty block", pos)
        return np.empty(0, dtype=np.float64)
    if stream_bits < 64 + count - 1:
        raise CodecError(CODEC, f"{count} values cannot fit in {stream_bits} bits", pos)
    raw = unpack_xors(pad_for_reading(data, pos), stream_bits, count)
    return np.frombuffer(raw, dtype=np.float64).copy()


def unpack_xors(padded: bytes, stream_bits: i64, count: i64) -> bytes:
    """`count` float64 patterns, little-endian, from a padded Gorilla bit stream."""
    out = BytesWriter()
    current = read_bits(padded, 0, 64)
    write_i64_le(out, current)
    pos: i64 = 64
    done: i64 = 1
    window_lead: i64 = -1
    window_bits: i64 = 0
    window_shift: i64 = 0  # trailing zeros below the window
    while done < count:
        # The 57 stream bits from pos, right-aligned: the control bits and an 11-bit header.
        window = (read_i64_be(padded, pos >> 3) >> (7 - (pos & 7))) & 0x1FFFFFFFFFFFFFF
        if window < 0x100000000000000:
            # A run of "0" records (repeated values): take all its zero bits at once.
            run: i64 = 57 if window == 0 else leading_zeros(window) - 7
            if run > count - done:
                run = count - done
            pos += run
            done += run
            if pos > stream_bits:
                raise CodecError(CODEC, "truncated bit stream", (stream_bits >> 3) - 1)
            for repeat_index in range(run):
                write_i64_le(out, current)
            continue
        if window >= 0x180000000000000:
            window_lead = (window >> 50) & 31
            window_bits = (window >> 44) & 63
            pos += 13
            if window_bits == 0:
                window_bits = 64
            if window_lead + window_bits > 64:
                raise CodecError(CODEC, "window wider than 64 bits", pos >> 3)
            window_shift = 64 - window_lead - window_bits
        else:
            pos += 2
            if window_lead < 0:
                raise CodecError(CODEC, "window reused before one was set", pos >> 3)
        if window_bits <= 57:
            # read_bits inlined: one load holds any window up to 57 bits wide.
            meaningful = (read_i64_be(padded, pos >> 3) >> (64 - (pos & 7) - window_bits)) & (
                0x3FFFFFFFFFFFFFFF >> (62 - window_bits)
            )
            if window_lead == 0:
                # The top bit is the sign: fold it now so the shift below cannot overflow interpreted.
                meaningful = meaningful - ((meaningful >> (window_bits - 1)) << window_bits)
            current = current ^ (meaningful << window_shift)
        else:
            # Wider windows: a high part of 26..32 bits and a low part of 32 bits, one load each.
            high_bits = window_bits - 32
            high = (read_i64_be(padded, pos >> 3) >> (64 - (pos & 7) - high_bits)) & (
                0x3FFFFFFFFFFFFFFF >> (62 - high_bits)
            )
            low_pos = pos + high_bits
            low = (read_i64_be(padded, low_pos >> 3) >> (32 - (low_pos & 7))) & 0xFFFFFFFF
            if window_lead == 0:
                high = high - ((high >> (high_bits - 1)) << high_bits)
            current = current ^ (((high << 32) | low) << window_shift)
        pos += window_bits
        if pos > stream_bits:
            raise CodecError(CODEC, "truncated bit stream", (stream_bits >> 3) - 1)
        write_i64_le(out, current)
        done += 1
    return out.getvalue()
