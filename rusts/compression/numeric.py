"""numpy-vectorized codecs: a reversible transform, a byte shuffle, then Zstd.

Formats (uvarint as in varint.py; "frame" is one Zstd frame with its content size, holding
count x 8 bytes):

    0x20 decimal floats | scale u8 | order u8 | uvarint count
                        | uvarint exceptions | exceptions x uvarint position gap
                        | exceptions x 8-byte LE float64 pattern | frame
    0x21 XOR floats     | uvarint count | frame
    0x22 integers       | dtype u8 (0 int64, 1 uint64) | order u8 | uvarint count | frame

- order: 0 the values, 1 their deltas, 2 their deltas of deltas (64-bit wrap-around, the
  value before the first taken as 0), each then zigzagged (see varint.py).
- decimal floats: the values are rint(v * 10**scale) as int64, and decode to
  ints / 10.0**scale. The encoder checks that expression reproduces every value bit for bit;
  values it does not (NaN, infinities, -0.0, too many digits) are exceptions, stored raw
  after their positions (gap = position - previous position - 1, the first from -1) and
  patched in after decoding; their slot in the frame repeats the previous integer. With
  more than 1/64 of the values as exceptions the encoder declines the block (after ALP,
  Afroozeh et al., SIGMOD 2023, which patches exceptions the same way).
- XOR floats: each value's 64 bits XOR the previous value's (the first XOR 0).
- byte shuffle: the frame holds all values' byte 0, then all byte 1, ... byte 7, so the
  near-constant high bytes become long runs for Zstd.

Interpreted: the time goes to numpy and libzstd, which mypyc cannot speed up.
"""

from typing import Final, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
from librt.strings import BytesWriter

from rusts.compression.block import block_zstd_level, zstd_compressor, zstd_decompress_exact
from rusts.compression.varint import (
    check_header,
    delta,
    read_count,
    read_uvarint,
    undelta_in_place,
    unzigzag,
    write_uvarint,
    zigzag,
)
from rusts.core.errors import CodecError

DECIMAL_FLOAT_ID: Final = 0x20
XOR_FLOAT_ID: Final = 0x21
INTEGER_ID: Final = 0x22
DTYPE_INT64: Final = 0
DTYPE_UINT64: Final = 1
ZSTD_LEVEL: Final = 3
# 10**15 is exact in float64 and keeps cent-scale amounts well inside 2**53.
MAX_DECIMAL_SCALE: Final = 15
EXACT_INTEGER_LIMIT: Final = float(2**53)
# Values tried before committing to a whole-block check of a decimal scale.
SCALE_SAMPLE: Final = 256

# _best_order picks the transform on this many chunks of this many values (a small block whole).
SAMPLE_CHUNKS: Final = 8
SAMPLE_CHUNK: Final = 4096

Int64Array: TypeAlias = npt.NDArray[np.int64]
ValueType = TypeVar("ValueType", bound=np.generic)


def _transform(values: Int64Array, order: int) -> Int64Array:
    for _ in range(order):
        values = delta(values)
    return zigzag(values)


def _untransform(patterns: Int64Array, order: int) -> Int64Array:
    values = unzigzag(patterns)  # a new array, so the running sums can overwrite it
    for _ in range(order):
        values = undelta_in_place(values)
    return values


def _shuffle(patterns: Int64Array) -> bytes:
    return patterns.view(np.uint8).reshape(-1, 8).T.tobytes()


def _unshuffle(planes: bytes, count: int) -> Int64Array:
    # One plane at a time: 2x faster than copying the whole transposed view (unlike _shuffle,
    # where the whole-view copy wins).
    by_plane = np.frombuffer(planes, dtype=np.uint8).reshape(8, count)
    values = np.empty(count, dtype=np.int64)
    by_value = values.view(np.uint8).reshape(count, 8)
    for plane in range(8):
        by_value[:, plane] = by_plane[plane]
    return values


def _compress(patterns: Int64Array, level: int | None = None) -> bytes:
    """The frame of `patterns` at `level`, else at the thread's block level (block_zstd_level)."""
    if len(patterns) == 0:
        return b""  # an empty block has no frame
    return zstd_compressor(block_zstd_level() if level is None else level).compress(_shuffle(patterns))


def sample(values: npt.NDArray[ValueType]) -> npt.NDArray[ValueType]:
    """Values to estimate a block from: all of a small block, else SAMPLE_CHUNKS spread chunks."""
    count = len(values)
    if count <= SAMPLE_CHUNKS * SAMPLE_CHUNK * 2:
        return values
    step = (count - SAMPLE_CHUNK) // (SAMPLE_CHUNKS - 1)
    return np.concatenate([values[i * step : i * step + SAMPLE_CHUNK] for i in range(SAMPLE_CHUNKS)])


def _best_order(values: Int64Array) -> tuple[int, bytes]:
    """(order, frame) for the order whose frame is smallest on a sample of the values.

    Only the winner is compressed whole: Zstd is most of the encoding time. The sample is
    judged at ZSTD_LEVEL (fast) whatever the block level; the winner is compressed at it.
    """
    part = sample(values)
    frames = [_compress(_transform(part, order), ZSTD_LEVEL) for order in (0, 1, 2)]
    sizes = [len(frame) for frame in frames]
    order = sizes.index(min(sizes))
    if part is values and block_zstd_level() == ZSTD_LEVEL:
        return order, frames[order]
    return order, _compress(_transform(values, order))


def _header(*fields: int) -> BytesWriter:
    """A block header: fields as single bytes, except the last, the count, as a uvarint."""
    out = BytesWriter()
    for field in fields[:-1]:
        out.append(field)
    write_uvarint(out, fields[-1])
    return out


def encode_integers(values: npt.NDArray[np.int64] | npt.NDArray[np.uint64], order: int = -1) -> bytes:
    """An integer block (id 0x22) for int64 or uint64 values (timestamps included), at the
    transform `order` when one is given (0..2), else at the best one on a sample."""
    unsigned = values.dtype == np.uint64
    if unsigned:
        patterns = np.ascontiguousarray(values).view(np.int64)
    else:
        patterns = np.ascontiguousarray(values, dtype=np.int64)
    if order < 0:
        order, frame = _best_order(patterns)
    else:
        frame = _compress(_transform(patterns, _check_order(order, "numeric-integer")))
    out = _header(INTEGER_ID, DTYPE_UINT64 if unsigned else DTYPE_INT64, order, len(patterns))
    out.write(frame)
    return out.getvalue()


def _read_header(data: bytes, codec_id: int, codec: str, header_bytes: int) -> tuple[bytes, int, int]:
    """(the single-byte header fields, value count, position after the count)."""
    check_header(data, codec_id, codec)
    if len(data) < 1 + header_bytes:
        raise CodecError(codec, "truncated header", len(data))
    count, pos = read_count(data, 1 + header_bytes, codec)
    return data[1 : 1 + header_bytes], count, pos


def _read_patterns(data: bytes, pos: int, count: int, codec: str) -> Int64Array:
    """The frame at data[pos:] as `count` patterns; its size is checked before allocating."""
    if count == 0:
        if pos != len(data):
            raise CodecError(codec, "bytes after an empty block", pos)
        return np.empty(0, dtype=np.int64)
    return _unshuffle(zstd_decompress_exact(data, pos, count * 8, codec), count)


def _read_frame(data: bytes, codec_id: int, codec: str, header_bytes: int) -> tuple[bytes, Int64Array]:
    """(the single-byte header fields, patterns) of a block without exceptions."""
    fields, count, pos = _read_header(data, codec_id, codec, header_bytes)
    return fields, _read_patterns(data, pos, count, codec)


def _check_order(order: int, codec: str) -> int:
    if order > 2:
        raise CodecError(codec, f"unknown order {order}", 2)
    return order


def decode_integers(data: bytes) -> npt.NDArray[np.int64] | npt.NDArray[np.uint64]:
    """The int64 or uint64 values of an integer block (id 0x22)."""
    fields, patterns = _read_frame(data, INTEGER_ID, "numeric-integer", 2)
    if fields[0] > DTYPE_UINT64:
        raise CodecError("numeric-integer", f"unknown dtype {fields[0]}", 1)
    values = _untransform(patterns, _check_order(fields[1], "numeric-integer"))
    return values.view(np.uint64) if fields[0] == DTYPE_UINT64 else values


def decimal_scale(values: npt.NDArray[np.float64]) -> tuple[int, Int64Array, npt.NDArray[np.bool_]]:
    """(smallest scale that holds all but 1/64 of the values, the scaled ints, their exception
    mask), or (-1, _, _)."""
    head = values[:SCALE_SAMPLE]
    for scale in range(MAX_DECIMAL_SCALE + 1):
        if np.count_nonzero(_decimal_ints(head, scale)[1]) > len(head) // 16:
            continue
        ints, exceptions = _decimal_ints(values, scale)
        if np.count_nonzero(exceptions) <= len(values) // 64:
            return scale, ints, exceptions
    return -1, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.bool_)


def _decimal_ints(values: npt.NDArray[np.float64], scale: int) -> tuple[Int64Array, npt.NDArray[np.bool_]]:
    """(rint(v * 10**scale) as int64, 0 where out of range; where the decoder's
    int64 -> float64 -> / 10**scale would not give the value back)."""
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = values * 10.0**scale
        np.rint(scaled, out=scaled)
        scaled[~(np.abs(scaled) < EXACT_INTEGER_LIMIT)] = 0.0  # NaN fails the test too
    ints = scaled.astype(np.int64)
    decoded = ints.astype(np.float64)
    decoded /= 10.0**scale
    return ints, np.not_equal(decoded.view(np.int64), values.view(np.int64))


def encode_decimal_floats(values: npt.NDArray[np.float64], scale: int = -1, order: int = -1) -> bytes | None:
    """A decimal float block (id 0x20), or None when the values are not short decimals.

    With `scale` (0..MAX_DECIMAL_SCALE) and `order` given, only that scale and transform are
    tried: None when too many values are exceptions at that scale."""
    floats = np.ascontiguousarray(values, dtype=np.float64)
    if scale < 0:
        scale, ints, exceptions = decimal_scale(floats)
        if scale < 0:
            return None
    else:
        if scale > MAX_DECIMAL_SCALE:
            raise ValueError(f"decimal scale {scale} beyond {MAX_DECIMAL_SCALE}")
        ints, exceptions = _decimal_ints(floats, scale)
        if np.count_nonzero(exceptions) > len(floats) // 64:
            return None
    positions = np.flatnonzero(exceptions).astype(np.int64)
    if len(positions) > 0:
        # Repeat the previous integer in an exception's slot, so its deltas stay zero.
        source = np.where(exceptions, np.int64(0), np.arange(len(ints), dtype=np.int64))
        ints = ints[np.maximum.accumulate(source)]
    if order < 0:
        order, frame = _best_order(ints)
    else:
        frame = _compress(_transform(ints, _check_order(order, "numeric-decimal")))
    out = _header(DECIMAL_FLOAT_ID, scale, order, len(floats))
    write_uvarint(out, len(positions))
    for gap in np.diff(positions, prepend=np.int64(-1)) - 1:
        write_uvarint(out, int(gap))
    out.write(floats[positions].tobytes())
    out.write(frame)
    return out.getvalue()


def decode_decimal_floats(data: bytes) -> npt.NDArray[np.float64]:
    """The float64 values of a decimal float block (id 0x20)."""
    codec = "numeric-decimal"
    fields, count, pos = _read_header(data, DECIMAL_FLOAT_ID, codec, 2)
    if fields[0] > MAX_DECIMAL_SCALE:
        raise CodecError(codec, f"scale {fields[0]} beyond {MAX_DECIMAL_SCALE}", 1)
    positions, pos = _read_positions(data, pos, count, codec)
    if len(data) - pos < 8 * len(positions):
        raise CodecError(codec, "truncated exception values", pos)
    patches = np.frombuffer(data, dtype=np.float64, count=len(positions), offset=pos)
    ints = _untransform(_read_patterns(data, pos + 8 * len(positions), count, codec), _check_order(fields[1], codec))
    floats = ints.astype(np.float64)
    floats /= 10.0 ** fields[0]
    floats[positions] = patches
    return floats


def _read_positions(data: bytes, pos: int, count: int, codec: str) -> tuple[list[int], int]:
    """Exception positions, each checked to be within the block and after the one before."""
    exception_count, pos = read_count(data, pos, codec)
    if exception_count > count:
        raise CodecError(codec, f"{exception_count} exceptions for {count} values", pos)
    positions: list[int] = []
    previous = -1
    for _ in range(exception_count):
        gap, pos = read_uvarint(data, pos, codec)
        previous += gap + 1
        if gap < 0 or previous >= count:
            raise CodecError(codec, f"exception position {previous} beyond {count} values", pos)
        positions.append(previous)
    return positions, pos


def encode_xor_floats(values: npt.NDArray[np.float64]) -> bytes:
    """An XOR float block (id 0x21): any float64 values, bit for bit."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.int64)
    xors = bits.copy()
    xors[1:] ^= bits[:-1]
    out = _header(XOR_FLOAT_ID, len(bits))
    out.write(_compress(xors))
    return out.getvalue()


def decode_xor_floats(data: bytes) -> npt.NDArray[np.float64]:
    """The float64 values of an XOR float block (id 0x21)."""
    _, xors = _read_frame(data, XOR_FLOAT_ID, "numeric-xor", 0)
    return np.bitwise_xor.accumulate(xors).view(np.float64)



def decode_concatenated(
    blocks: list[bytes], expected: list[int] | None = None
) -> npt.NDArray[np.int64] | npt.NDArray[np.float64] | None:
    """The values of many decimal float blocks (0x20), or of many int64 integer blocks (0x22),
    concatenated: the same values as decoding each and joining them, with the byte unshuffle,
    zigzag, running sums and scaling done once over all of them. None when the blocks are not
    all of one of those two kinds (the caller decodes them one by one)."""
    if not blocks or any(len(data) < 3 for data in blocks):
        return None
    codec_id = blocks[0][0]
    if codec_id not in (DECIMAL_FLOAT_ID, INTEGER_ID) or any(data[0] != codec_id for data in blocks):
        return None
    if codec_id == INTEGER_ID and any(data[1] != DTYPE_INT64 for data in blocks):
        return None
    decimal = codec_id == DECIMAL_FLOAT_ID
    codec = "numeric-decimal" if decimal else "numeric-integer"
    planes: list[npt.NDArray[np.uint8]] = []
    counts: list[int] = []
    orders: list[int] = []
    scales: list[int] = []
    patches: list[tuple[int, list[int], npt.NDArray[np.float64]]] = []
    total = 0
    for data in blocks:
        fields, count, pos = _read_header(data, codec_id, codec, 2)
        if expected is not None and count != expected[len(counts)]:
            raise CodecError(codec, f"block holds {count} values, {expected[len(counts)]} expected", 1)
        orders.append(_check_order(fields[1], codec))
        if decimal:
            if fields[0] > MAX_DECIMAL_SCALE:
                raise CodecError(codec, f"scale {fields[0]} beyond {MAX_DECIMAL_SCALE}", 1)
            scales.append(fields[0])
            positions, pos = _read_positions(data, pos, count, codec)
            if len(data) - pos < 8 * len(positions):
                raise CodecError(codec, "truncated exception values", pos)
            if positions:
                patches.append((total, positions, np.frombuffer(data, dtype=np.float64, count=len(positions), offset=pos)))
            pos += 8 * len(positions)
        if count == 0:
            if pos != len(data):
                raise CodecError(codec, "bytes after an empty block", pos)
        else:
            planes.append(np.frombuffer(zstd_decompress_exact(data, pos, count * 8, codec), dtype=np.uint8).reshape(8, count))
        counts.append(count)
        total += count
    if total == 0:
        return np.empty(0, dtype=np.float64) if decimal else np.empty(0, dtype=np.int64)
    joined = np.concatenate(planes, axis=1) if len(planes) > 1 else planes[0]
    values = unzigzag(np.ascontiguousarray(joined.T).view(np.int64).reshape(total))
    sizes = np.array(counts, dtype=np.int64)
    order_of = np.repeat(np.array(orders, dtype=np.int64), sizes)
    starts = np.cumsum(sizes) - sizes
    for step in (1, 2):
        if max(orders) < step:
            break
        running = np.cumsum(values, dtype=np.int64)
        before = np.where(starts > 0, running[np.maximum(starts - 1, 0)], np.int64(0))
        values = np.where(order_of >= step, running - np.repeat(before, sizes), values)
    if not decimal:
        integers: npt.NDArray[np.int64] = values.astype(np.int64, copy=False)
        return integers
    floats = values.astype(np.float64)
    floats /= np.repeat(10.0 ** np.array(scales, dtype=np.float64), sizes)
    for start, positions, patch in patches:
        floats[np.array(positions, dtype=np.int64) + start] = patch
    return floats
