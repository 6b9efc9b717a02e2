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
from librt.strings import BytesWriter, read_i64_le, write_i64_le
from mypy_extensions import i64, u8

from rusts.compression.varint import (
    BitWriter,
    check_header,
    leading_zeros,
    pad_for_reading,
    read_bits,
    read_count,
    trailing_zeros,
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
    window_lead: i64 = -1
    window_bits: i64 = 0
    for value_index in range(1, count):
        control = read_bits(padded, pos, 2)
        if control < 2:
            pos += 1
        else:
            if control == 3:
                header = read_bits(padded, pos + 2, 11)
                pos += 13
                window_lead = header >> 6
                window_bits = header & 63
                if window_bits == 0:
                    window_bits = 64
                if window_lead + window_bits > 64:
                    raise CodecError(CODEC, "window wider than 64 bits", pos >> 3)
            else:
                pos += 2
                if window_lead < 0:
                    raise CodecError(CODEC, "window reused before one was set", pos >> 3)
            current = current ^ read_window(padded, pos, window_lead, window_bits)
            pos += window_bits
        if pos > stream_bits:
            raise CodecError(CODEC, "truncated bit stream", (stream_bits >> 3) - 1)
        write_i64_le(out, current)
    return out.getvalue()


def read_window(padded: bytes, pos: i64, lead: i64, width: i64) -> i64:
    """The XOR whose `width` meaningful bits sit at pos, below `lead` leading zeros."""
    meaningful = read_bits(padded, pos, width)
    if lead == 0 and width < 64:
        # The top bit is the sign: fold it now so the shift below cannot overflow interpreted.
        meaningful = meaningful - ((meaningful >> (width - 1)) << width)
    return meaningful << (64 - lead - width)
