"""Zigzag + varint integers, and the bit and varint primitives the other codecs share.

Formats (all integers little-endian; "uvarint" is unsigned LEB128, 7 bits a byte, low
group first, high bit set on every byte but the last, at most 10 bytes for 64 bits):

    signed int64 block    0x03 | mode u8 | uvarint count | count x uvarint(zigzag(v))
    unsigned uint64 block 0x04 | mode u8 | uvarint count | count x uvarint(...)

    mode 0 (raw):   signed values are zigzagged; unsigned values are written as they are.
    mode 1 (delta): v[0] and then v[i] - v[i-1] with 64-bit wrap-around, zigzagged
                    (for uint64 the difference is taken on the same 64 bits as int64).

zigzag(v) = (v << 1) ^ (v >> 63) maps 0, -1, 1, -2 ... to 0, 1, 2, 3 ... so small
magnitudes of either sign take one byte.

Bit streams (used by gorilla, timestamp and dictionary) are written most significant bit
first; the last byte is padded with zero bits. Readers take a copy padded with
READ_PADDING zero bytes so that a 64-bit word can be loaded anywhere up to the end.

Compiled by mypyc. numpy does the wrap-around arithmetic (delta, zigzag) so compiled and
interpreted runs agree: compiled i64 wraps on overflow, interpreted ints do not. The
compiled loops only ever see 64-bit patterns as signed i64 and use right shifts + masks.
"""

from typing import Final, final

import numpy as np
import numpy.typing as npt
from librt.strings import BytesWriter, read_i64_be, read_i64_le, write_i64_le
from mypy_extensions import i64, mypyc_attr, u8

from rusts.core.errors import CodecError

SIGNED_ID: Final = 0x03
UNSIGNED_ID: Final = 0x04
MODE_RAW: Final = 0
MODE_DELTA: Final = 1
# Bytes of zeros appended to a bit stream before reading, so a 64-bit load never runs off.
READ_PADDING: Final = 16
# No block holds more values than this; a larger count is corruption, refused before allocating.
MAX_BLOCK_VALUES: Final = 1 << 30
# 2**7, 2**14 ... 2**63: each one a value reaches adds a byte to its uvarint.
UVARINT_BOUNDS: Final = (
    0x80,
    0x4000,
    0x200000,
    0x10000000,
    0x800000000,
    0x40000000000,
    0x2000000000000,
    0x100000000000000,
    0x8000000000000000,
)


def low_mask(width: i64) -> i64:
    """The `width` lowest bits set, for 0 <= width <= 63."""
    # A shifted-down mask, not (1 << width) - 1: mypyc compiles `1 << n` as a 32-bit shift.
    # The literal stays below 2**62 so mypyc keeps it unboxed (a larger one is a boxed int
    # converted on every use); hot paths inline it for widths <= 62.
    half: i64 = 0x3FFFFFFFFFFFFFFF
    if width == 63:
        return (half << 1) | 1
    return half >> (62 - width)


def leading_zeros(x: i64) -> i64:
    """Leading zero bits of the 64-bit pattern x (64 for 0)."""
    if x < 0:
        return 0
    length: i64 = 0
    # Right shifts only: a left shift would overflow differently compiled and interpreted.
    if x >> 32 != 0:
        x = x >> 32
        length += 32
    if x >> 16 != 0:
        x = x >> 16
        length += 16
    if x >> 8 != 0:
        x = x >> 8
        length += 8
    if x >> 4 != 0:
        x = x >> 4
        length += 4
    if x >> 2 != 0:
        x = x >> 2
        length += 2
    if x >> 1 != 0:
        x = x >> 1
        length += 1
    return 64 - length - x


def trailing_zeros(x: i64) -> i64:
    """Trailing zero bits of the 64-bit pattern x (64 for 0)."""
    if x == 0:
        return 64
    count: i64 = 0
    if x & 0xFFFFFFFF == 0:
        x = x >> 32
        count += 32
    if x & 0xFFFF == 0:
        x = x >> 16
        count += 16
    if x & 0xFF == 0:
        x = x >> 8
        count += 8
    if x & 0xF == 0:
        x = x >> 4
        count += 4
    if x & 0x3 == 0:
        x = x >> 2
        count += 2
    if x & 0x1 == 0:
        count += 1
    return count


@final
@mypyc_attr(acyclic=True)
class BitWriter:
    """Appends bit fields, most significant bit first, to a BytesWriter."""

    out: BytesWriter
    pending: i64  # bits not yet written out, right-aligned; fewer than 8 between calls
    pending_count: i64

    def __init__(self, out: BytesWriter) -> None:
        self.out = out
        self.pending = 0
        self.pending_count = 0

    def write(self, value: i64, width: i64) -> None:
        """Append the `width` (0..64) low bits of value."""
        if width > 32:
            self.write_short(value >> 32, width - 32)
            self.write_short(value, 32)
        else:
            self.write_short(value, width)

    def write_short(self, value: i64, width: i64) -> None:
        """Append the `width` (0..32) low bits of value."""
        # pending < 2**7, so the shifted accumulator stays below 2**39: no overflow either way.
        acc = (self.pending << width) | (value & (0x3FFFFFFFFFFFFFFF >> (62 - width)))
        count = self.pending_count + width
        while count >= 8:
            count -= 8
            self.out.append(u8((acc >> count) & 0xFF))
        self.pending = acc & (0x3FFFFFFFFFFFFFFF >> (62 - count))
        self.pending_count = count

    def flush(self) -> None:
        """Pad the last partial byte with zero bits and write it."""
        if self.pending_count > 0:
            self.write_short(0, 8 - self.pending_count)


def read_bits(padded: bytes, bit_pos: i64, width: i64) -> i64:
    """The `width` (0..64) bits at bit_pos of a padded stream; width 64 gives a signed pattern.

    The caller checks bit_pos against the unpadded length; the padding keeps the loads in range.
    """
    if width <= 57:
        word = read_i64_be(padded, bit_pos >> 3)
        return (word >> (64 - (bit_pos & 7) - width)) & (0x3FFFFFFFFFFFFFFF >> (62 - width))
    high = read_bits(padded, bit_pos, width - 32)
    low = read_bits(padded, bit_pos + width - 32, 32)
    if width == 64:
        # Fold the top half to signed first, so the shift below cannot overflow interpreted.
        high = high - ((high >> 31) << 32)
    return (high << 32) | low


def pad_for_reading(data: bytes, start: i64) -> bytes:
    """The bit stream starting at data[start], with READ_PADDING zero bytes appended."""
    return data[start:] + bytes(READ_PADDING)


def write_uvarint(out: BytesWriter, value: i64) -> None:
    """Append value's 64-bit pattern as unsigned LEB128 (negative patterns take 10 bytes)."""
    while value < 0 or value >= 128:
        out.append(u8((value & 0x7F) | 0x80))
        # A logical right shift, written as arithmetic shift + mask.
        value = (value >> 7) & 0x01FFFFFFFFFFFFFF
    out.append(u8(value))


def uvarint_size(value: int) -> int:
    """Bytes write_uvarint takes for a non-negative value."""
    size = 1
    while value >= 128:
        value >>= 7
        size += 1
    return size


def uvarints_size(patterns: npt.NDArray[np.int64]) -> int:
    """Bytes append_uvarints takes for these 64-bit patterns, computed with array ops."""
    unsigned = patterns.view(np.uint64)
    size = len(unsigned)
    for bound in UVARINT_BOUNDS:
        size += int(np.count_nonzero(unsigned >= np.uint64(bound)))
    return size


def read_uvarint(data: bytes, pos: i64, codec: str) -> tuple[i64, i64]:
    """(value as a 64-bit pattern, position after it) for the uvarint at data[pos]."""
    end: i64 = len(data)
    value: i64 = 0
    shift: i64 = 0
    while True:
        if pos >= end:
            raise CodecError(codec, "truncated varint", pos)
        byte: i64 = data[pos]
        pos += 1
        if shift == 63:
            if byte > 1:
                raise CodecError(codec, "varint longer than 64 bits", pos - 1)
            if byte == 1:
                # -2**63 written out: `1 << 63` would differ compiled (wraps) and interpreted.
                value = value | (-0x7FFFFFFFFFFFFFFF - 1)
            return value, pos
        value = value | ((byte & 0x7F) << shift)
        if byte < 128:
            return value, pos
        shift += 7


def read_count(data: bytes, pos: i64, codec: str) -> tuple[i64, i64]:
    """A block's value count, refused when negative or beyond MAX_BLOCK_VALUES."""
    count, after = read_uvarint(data, pos, codec)
    if count < 0 or count > MAX_BLOCK_VALUES:
        raise CodecError(codec, f"implausible value count {count}", pos)
    return count, after


def check_header(data: bytes, codec_id: i64, codec: str) -> None:
    """Refuse a block that is empty or tagged with another codec's id."""
    if len(data) == 0:
        raise CodecError(codec, "empty block", 0)
    if data[0] != codec_id:
        raise CodecError(codec, f"block id 0x{data[0]:02x} is not 0x{codec_id:02x}", 0)


def append_uvarints(out: BytesWriter, patterns: bytes, count: i64) -> None:
    """Append `count` little-endian 64-bit patterns from `patterns` as uvarints."""
    for i in range(count):
        value = read_i64_le(patterns, i * 8)
        if 0 <= value < 128:
            out.append(u8(value))
        else:
            write_uvarint(out, value)


def read_uvarints(data: bytes, pos: i64, count: i64, codec: str) -> bytes:
    """`count` uvarints from data[pos:] as little-endian 64-bit patterns; all bytes must be used."""
    end: i64 = len(data)
    if end - pos < count:
        raise CodecError(codec, f"{count} values cannot fit in {end - pos} bytes", pos)
    out = BytesWriter()
    for value_index in range(count):
        if pos + 8 <= end:
            # One load for up to 8 bytes: stop bits are the bytes whose high bit is clear.
            word = read_i64_le(data, pos)
            if word & 0x80 == 0:
                write_i64_le(out, word & 0x7F)
                pos += 1
                continue
            stops = ~(word >> 7) & 0x0101010101010101
            if stops & 0x100 != 0:
                write_i64_le(out, (word & 0x7F) | ((word >> 1) & 0x3F80))
                pos += 2
                continue
            if stops != 0:
                length = (trailing_zeros(stops) >> 3) + 1
                pos += length
                if length < 8:
                    word = word & (0x3FFFFFFFFFFFFFFF >> (62 - 8 * length))
                write_i64_le(out, gather_groups(word))
                continue
        value, pos = read_uvarint(data, pos, codec)
        write_i64_le(out, value)
    if pos != end:
        raise CodecError(codec, f"{end - pos} bytes left after the last value", pos)
    return out.getvalue()


def gather_groups(word: i64) -> i64:
    """The 7-bit groups of up to 8 little-endian varint bytes, packed (stop bits dropped)."""
    return (
        (word & 0x7F)
        | ((word >> 1) & 0x3F80)
        | ((word >> 2) & 0x1FC000)
        | ((word >> 3) & 0xFE00000)
        | ((word >> 4) & 0x7F0000000)
        | ((word >> 5) & 0x3F800000000)
        | ((word >> 6) & 0x1FC0000000000)
        | ((word >> 7) & 0xFE000000000000)
    )


def zigzag(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Zigzag as a 64-bit pattern: 0, -1, 1, -2 ... -> 0, 1, 2, 3 ... (wraps like C)."""
    return (values << 1) ^ (values >> 63)


def unzigzag(patterns: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The inverse of zigzag, as a new array (patterns is left alone)."""
    # In place on one new array: each 1 M-value temporary costs ~1 ms in page faults, and
    # `uint64(0) - array` took a slow path (~3 ms).
    out = patterns & 1
    np.negative(out, out=out)
    out ^= (patterns.view(np.uint64) >> np.uint64(1)).view(np.int64)
    return out


def delta(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """v[0], v[1] - v[0], ... with 64-bit wrap-around."""
    out = np.empty_like(values)
    if len(values) > 0:
        out[0] = values[0]
        np.subtract(values[1:], values[:-1], out=out[1:])
    return out


def undelta(deltas: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The inverse of delta (a running sum with 64-bit wrap-around), as a new array."""
    return np.cumsum(deltas, dtype=np.int64)


def undelta_in_place(deltas: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """undelta overwriting `deltas` (which must be writable); returns it."""
    return np.cumsum(deltas, dtype=np.int64, out=deltas)


def encode_signed(values: npt.NDArray[np.int64], mode: i64 = MODE_DELTA) -> bytes:
    """A signed block (id 0x03) for int64 values."""
    return _encode(np.ascontiguousarray(values, dtype=np.int64), SIGNED_ID, mode, True)


def encode_unsigned(values: npt.NDArray[np.uint64], mode: i64 = MODE_DELTA) -> bytes:
    """An unsigned block (id 0x04) for uint64 values."""
    patterns = np.ascontiguousarray(values, dtype=np.uint64).view(np.int64)
    return _encode(patterns, UNSIGNED_ID, mode, False)


def _encode(patterns: npt.NDArray[np.int64], codec_id: i64, mode: i64, signed: bool) -> bytes:
    if mode == MODE_DELTA:
        patterns = zigzag(delta(patterns))
    elif mode == MODE_RAW:
        if signed:
            patterns = zigzag(patterns)
    else:
        raise ValueError(f"unknown varint mode {mode}")
    count: i64 = len(patterns)
    out = BytesWriter()
    out.append(u8(codec_id))
    out.append(u8(mode))
    write_uvarint(out, count)
    append_uvarints(out, patterns.tobytes(), count)
    return out.getvalue()


def encoded_size(values: npt.NDArray[np.int64] | npt.NDArray[np.uint64], mode: i64) -> int:
    """The exact length of encode_signed / encode_unsigned (by dtype) of values, without encoding."""
    if values.dtype == np.uint64:
        patterns = np.ascontiguousarray(values).view(np.int64)
        signed = False
    else:
        patterns = np.ascontiguousarray(values, dtype=np.int64)
        signed = True
    if mode == MODE_DELTA:
        patterns = zigzag(delta(patterns))
    elif signed:
        patterns = zigzag(patterns)
    return 2 + uvarint_size(len(patterns)) + uvarints_size(patterns)


def decode_signed(data: bytes) -> npt.NDArray[np.int64]:
    """The int64 values of a signed block (id 0x03)."""
    return _decode(data, SIGNED_ID, "varint-signed", True)


def decode_unsigned(data: bytes) -> npt.NDArray[np.uint64]:
    """The uint64 values of an unsigned block (id 0x04)."""
    return _decode(data, UNSIGNED_ID, "varint-unsigned", False).view(np.uint64)


def _decode(data: bytes, codec_id: i64, codec: str, signed: bool) -> npt.NDArray[np.int64]:
    check_header(data, codec_id, codec)
    if len(data) < 2:
        raise CodecError(codec, "truncated header", 1)
    mode: i64 = data[1]
    if mode != MODE_RAW and mode != MODE_DELTA:
        raise CodecError(codec, f"unknown mode {mode}", 1)
    count, pos = read_count(data, 2, codec)
    patterns = np.frombuffer(read_uvarints(data, pos, count, codec), dtype=np.int64)
    if mode == MODE_DELTA:
        return undelta_in_place(unzigzag(patterns))
    if signed:
        return unzigzag(patterns)
    return patterns.copy()
