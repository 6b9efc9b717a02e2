"""Byte layout of segment files, version 3: chunk encoding, block statistics, footer and trailer.

Version 3 (written now) differs from version 2 in the footer body only: fixed-width arrays,
laid out at "columnar footer (version 3)" below, that a reader maps with np.frombuffer. The
footer body described next is that of versions 1 and 2, which are still read.

A segment file holds many series; each series' rows are cut into blocks of up to
`block_rows` rows, and every block stores each column as its own chunk, so a query decodes
only the blocks and columns it needs. All integers are little-endian.

    file     = header | chunks ... | footer | trailer
    header   = magic "RTSG" | version u8 (1, 2 or 3) | flags u8 | reserved u16 (0)     8 bytes
               flags bits 0-1: outer compression, 0 none, 1 lz4, 2 zstd; bit 2 (version 2
               and later): the footer is a Zstd frame whatever the outer compression; bits 3-7 zero
    chunks   = the chunks of every block of every series, back to back from offset 8, in
               write order; a block's chunks are contiguous, in this order:
                 timestamps, then per column in name order: presence (if any), values (if any)
    footer   = the footer body, compressed as flags say (a Zstd frame with flag bit 2 or
               for zstd, else a bare LZ4 block for lz4, the body itself for none)
    trailer  = footer offset u64 | footer stored length u32 | footer body length u32
               | footer CRC32 u32 (of the stored bytes) | magic "RTSG"                  24 bytes

A chunk is one self-describing column block of rusts.compression.codec (first byte the codec
id). Outer compression says which wrapper may go around a bare codec block, kept only where it
makes the chunk smaller: lz4 -> the LZ4 wrapper (0x10), zstd -> the Zstd wrapper (0x11) at
the writer's level, none -> no wrapper. Codecs that end in Zstd themselves (0x20-0x22) are
never wrapped. Timestamps are a "timestamp" block of the block's rows; presence is a
"boolean" block of the block's rows, stored only when some but not all rows carry the field;
values hold the present rows' values only, absent when no row carries the field.
Version 2 adds codec 0x23 (factored integers): an integer values chunk may be stored relative
to the timestamps of the rows that carry the field (a reader passes them to
codec.decode_with_reference); version 1 files never hold it.
With time exponent e > 0 the timestamps chunk holds (time - min time) / 10**e, e being the
largest that divides every gap between the block's timestamps exactly (second-resolution
nanosecond times store as seconds); e = 0 stores the times themselves.

    footer body    = series count u32 | directory | series details
    directory      = per series, by series id ascending (40 bytes each):
                     series id u64 | rows u64 | min time i64 | max time i64
                     | detail offset u32 (from the start of the body) | detail length u32
    series detail  = column count u16 | block count u32
                     | columns: kind u8 | name length u16 | UTF-8 name      (by name, unique)
                     | blocks: block header | column entries (in column order)
    block header   = rows u32 | min time i64 | max time i64 | time exponent u8 (0..18)
                     | offset u64 (of its first chunk) | timestamps length u32
                     | timestamps CRC32 u32                                          37 bytes
    column entry   = present u32 (rows that carry the field) | flags u8
                     | [presence length u32 | presence CRC32 u32]   if flags bit 0
                     | [values length u32 | values CRC32 u32]       if flags bit 1
                     | [min | max | sum, 8 bytes each]   numeric kinds with present > 0
               flags: bit 0 presence chunk, bit 1 values chunk, bit 2 sum exact; others zero.
               Stats are f64 for floats, i64 for integers, u64 for unsigned. min/max ignore
               NaN (NaN only when every value is NaN); a float sum is the float64 sum of the
               block (NaN if any value is). An integer sum is exact: stored when it fits its
               type (bit 2 set), else stored as 0 with bit 2 clear and recomputed from the data.

Chunk offsets are not stored: each is its block's offset plus the lengths before it. CRC32
is zlib.crc32. A reader refuses any version above FORMAT_VERSION; it reads versions 1 to 3.
Writers write version 3 with flag bit 2 set unless the outer compression is none (Zstd makes
footers, which hold many small integers and CRCs, about a quarter smaller than LZ4 does).
"""

import struct
import zlib
from typing import Any, Final, TypeAlias

import lz4.block
import numpy as np
import zstandard
from numpy.typing import NDArray

from rusts.compression import block, codec, gorilla, numeric, relative, timestamp, varint
from rusts.compression.plans import ChunkPlans
from rusts.core.errors import CorruptDataError
from rusts.storage.columns import KIND_FLOAT, KIND_INTEGER, KIND_NAMES, KIND_UNSIGNED, NUMPY_DTYPES, StringCodes

Number: TypeAlias = int | float

MAGIC: Final = b"RTSG"
FORMAT_VERSION: Final = 3
HEADER: Final = struct.Struct("<4sBBH")
TRAILER: Final = struct.Struct("<QIII4s")
OUTER_IDS: Final[dict[str, int]] = {"none": 0, "lz4": 1, "zstd": 2}
OUTER_MASK: Final = 0x03
FOOTER_ZSTD: Final = 0x04
# Integer values at most this far from their rows' times are tried relative to them.
NEAR_TIME: Final = float(2**52)
# Chunks of at most this many values take the cheap codecs only (_small_chunk).
SMALL_CHUNK: Final = 32

FOOTER_HEAD: Final = struct.Struct("<I")
DIRECTORY_ENTRY: Final = struct.Struct("<QQqqII")
SERIES_HEAD: Final = struct.Struct("<HI")
COLUMN_HEAD: Final = struct.Struct("<BH")
BLOCK_HEAD: Final = struct.Struct("<IqqBQII")
COLUMN_ENTRY: Final = struct.Struct("<IB")
CHUNK_ENTRY: Final = struct.Struct("<II")
STATS: Final[dict[int, struct.Struct]] = {
    KIND_FLOAT: struct.Struct("<ddd"),
    KIND_INTEGER: struct.Struct("<qqq"),
    KIND_UNSIGNED: struct.Struct("<QQQ"),
}
HAS_PRESENCE: Final = 0x01
HAS_VALUES: Final = 0x02
SUM_EXACT: Final = 0x04
MAX_TIME_EXPONENT: Final = 18
MAX_COLUMNS: Final = 0xFFFF
MAX_CHUNK: Final = 0xFFFFFFFF
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
UINT64_MAX: Final = 2**64 - 1
# Footers beyond this are corruption, refused before allocating the buffer.
MAX_FOOTER: Final = 1 << 31

_SELF_COMPRESSED: Final = frozenset(
    {numeric.DECIMAL_FLOAT_ID, numeric.XOR_FLOAT_ID, numeric.INTEGER_ID, relative.CODEC_ID}
)
_CHUNK_DTYPES: Final[dict[str, Any]] = {"timestamp": np.int64} | {
    KIND_NAMES[kind]: dtype for kind, dtype in NUMPY_DTYPES.items()
}


class ChunkRef:
    """Where one chunk lies in the file, and its CRC32."""

    __slots__ = ("offset", "length", "crc")

    def __init__(self, offset: int, length: int, crc: int) -> None:
        self.offset = offset
        self.length = length
        self.crc = crc


class ColumnBlockMeta:
    """One column in one block: how many rows carry it, its chunks and, for numeric kinds, stats.

    min/max/sum are None for strings, booleans and when present is 0; sum is None too
    when the exact integer sum did not fit its type (sum_exact False).
    """

    __slots__ = ("present", "presence", "values", "min", "max", "sum", "sum_exact")

    def __init__(
        self,
        present: int,
        presence: ChunkRef | None,
        values: ChunkRef | None,
        minimum: Number | None = None,
        maximum: Number | None = None,
        total: Number | None = None,
        sum_exact: bool = True,
    ) -> None:
        self.present = present
        self.presence = presence
        self.values = values
        self.min = minimum
        self.max = maximum
        self.sum = total
        self.sum_exact = sum_exact


class BlockMeta:
    """One block of one series: row count, time range, chunks and per-column stats."""

    __slots__ = ("rows", "min_time", "max_time", "time_exponent", "offset", "length", "timestamps", "columns")

    def __init__(
        self,
        rows: int,
        min_time: int,
        max_time: int,
        time_exponent: int,
        timestamps: ChunkRef,
        columns: dict[str, ColumnBlockMeta],
    ) -> None:
        self.rows = rows
        self.min_time = min_time
        self.max_time = max_time
        self.time_exponent = time_exponent
        self.timestamps = timestamps
        self.columns = columns
        self.offset = timestamps.offset
        end = timestamps.offset + timestamps.length
        for entry in columns.values():
            for ref in (entry.presence, entry.values):
                if ref is not None:
                    end = ref.offset + ref.length
        self.length = end - self.offset


class SeriesMeta:
    """One series of a segment: columns (name -> kind, by name) and its blocks in time order."""

    __slots__ = ("series_id", "rows", "min_time", "max_time", "columns", "blocks", "block_min_times", "block_max_times")

    def __init__(self, series_id: int, columns: dict[str, int], blocks: list[BlockMeta]) -> None:
        self.series_id = series_id
        self.columns = columns
        self.blocks = blocks
        # Blocks cover disjoint, ascending time ranges, so both lists are sorted for bisect.
        self.block_min_times = [b.min_time for b in blocks]
        self.block_max_times = [b.max_time for b in blocks]
        self.rows = sum(b.rows for b in blocks)
        self.min_time = blocks[0].min_time if blocks else 0
        self.max_time = blocks[-1].max_time if blocks else 0


class DirectoryEntry:
    """A series in the footer directory, its detail not yet parsed."""

    __slots__ = ("series_id", "rows", "min_time", "max_time", "detail_offset", "detail_length")

    def __init__(
        self, series_id: int, rows: int, min_time: int, max_time: int, detail_offset: int, detail_length: int
    ) -> None:
        self.series_id = series_id
        self.rows = rows
        self.min_time = min_time
        self.max_time = max_time
        self.detail_offset = detail_offset
        self.detail_length = detail_length


# ---- chunks and stats (writer side) ----


def encode_chunk(
    kind_name: str,
    values: Any,
    outer: int,
    zstd_level: int,
    times: NDArray[np.int64] | None = None,
    plans: ChunkPlans | None = None,
    key: str = "",
) -> bytes:
    """The smallest codec block for `values`, inside the outer wrapper when that is smaller.

    `times`: for an integer column, the timestamps of its values' rows; values near them are
    also tried as factored offsets from them (codec 0x23, mode 1).
    `plans`: the segment's codec plans; the chunk of column `key` reuses the codec of that
    column's last trial while it holds up (compression/plans.py), else is tried and recorded.
    """
    dtype = _CHUNK_DTYPES.get(kind_name)
    if dtype is not None:
        values = np.ascontiguousarray(values, dtype=dtype)
    if len(values) <= SMALL_CHUNK:
        return _small_chunk(kind_name, values)
    if plans is None:
        return _tried_chunk(kind_name, values, outer, zstd_level, times)
    chunk = plans.replay(key, kind_name, values, times, zstd_level)
    if chunk is None:
        chunk = _tried_chunk(kind_name, values, outer, zstd_level, times)
        plans.learn(key, kind_name, chunk, len(values))
    return chunk


def _bare_chunk(kind_name: str, values: Any) -> bytes:
    """The chosen codec's block; strings given as StringCodes are encoded from their codes (the
    same block as from the strings)."""
    if isinstance(values, StringCodes):
        return codec.encode_string_codes(values.words, values.codes)
    return codec.CHOOSERS[kind_name](values)


def _tried_chunk(kind_name: str, values: Any, outer: int, zstd_level: int, times: NDArray[np.int64] | None) -> bytes:
    bare = _bare_chunk(kind_name, values)
    if times is not None and kind_name == "integer" and len(values) > 0 and _near(values, times):
        offsets = codec.encode_factored(values, times, relative.common_factor(values))
        if offsets is not None and len(offsets) < len(bare):
            bare = offsets
    if outer == 0 or bare[0] in _SELF_COMPRESSED:
        return bare
    wrapped = block.wrap_lz4(bare) if outer == 1 else block.wrap_zstd(bare, zstd_level)
    return wrapped if len(wrapped) < len(bare) else bare


def _small_chunk(kind_name: str, values: Any) -> bytes:
    """The block of a few values (many series with a few rows each: a flush of a high-cardinality
    write): the bit-serial and varint codecs only, unwrapped. Trying the Zstd codecs and the
    wrappers costs far more than the bytes they might save here (a frame and its header outweigh
    a few values); compaction re-encodes merged blocks with every codec."""
    if kind_name in ("integer", "unsigned"):
        encode = varint.encode_signed if kind_name == "integer" else varint.encode_unsigned
        delta, raw = encode(values, varint.MODE_DELTA), encode(values, varint.MODE_RAW)
        return delta if len(delta) <= len(raw) else raw
    if kind_name == "float":
        return gorilla.encode(values)
    if kind_name == "timestamp":
        return timestamp.encode(values)
    return _bare_chunk(kind_name, values)  # strings (dictionary), booleans (bit-packed)


def _near(values: NDArray[np.int64], times: NDArray[np.int64]) -> bool:
    distance = np.abs(values.astype(np.float64) - times.astype(np.float64))
    return bool(distance.max() < NEAR_TIME)


def time_exponent(timestamps: NDArray[np.int64]) -> int:
    """The largest e <= 18 with 10**e dividing every gap of sorted, unique timestamps."""
    if len(timestamps) < 2 or int(timestamps[-1]) - int(timestamps[0]) > INT64_MAX:
        return 0
    gaps = int(np.gcd.reduce(np.diff(timestamps)))
    exponent = 0
    while exponent < MAX_TIME_EXPONENT and gaps % 10 ** (exponent + 1) == 0:
        exponent += 1
    return exponent


def scale_times(timestamps: NDArray[np.int64], exponent: int) -> NDArray[np.int64]:
    """What the timestamps chunk stores for a block with this time exponent."""
    if exponent == 0:
        return timestamps
    unit: int = 10**exponent
    scaled: NDArray[np.int64] = (timestamps - timestamps[0]) // np.int64(unit)
    return scaled


def unscale_times(stored: NDArray[np.int64], exponent: int, min_time: int) -> NDArray[np.int64]:
    """The timestamps of a block from its stored chunk (exact: the block spans less than 2**63)."""
    if exponent == 0:
        return stored
    unit: int = 10**exponent
    return stored * np.int64(unit) + np.int64(min_time)


SMALL_STATS: Final = 64


def exact_integer_sum(values: NDArray[Any]) -> int:
    """The exact sum of int64 or uint64 values, summed as 32-bit halves so numpy cannot wrap."""
    if len(values) == 0:
        return 0
    if values.dtype == np.uint64:
        high = (values >> np.uint64(32)).astype(np.int64)
        low = (values & np.uint64(0xFFFFFFFF)).astype(np.int64)
    else:
        high = values >> 32
        low = values & 0xFFFFFFFF
    return int(high.sum()) * 2**32 + int(low.sum())


def numeric_stats(kind: int, values: NDArray[Any]) -> tuple[Number, Number, Number, bool]:
    """(min, max, sum, sum exact) of a non-empty numeric array, as the block header keeps them."""
    if kind == KIND_FLOAT:
        return float(np.fmin.reduce(values)), float(np.fmax.reduce(values)), float(np.sum(values)), True
    low, high = (0, UINT64_MAX) if kind == KIND_UNSIGNED else (INT64_MIN, INT64_MAX)
    if len(values) <= SMALL_STATS:
        # A block of a few values (a flush of many small series): Python ints are exact and,
        # at this size, several times faster than the four numpy reductions below.
        listed = values.tolist()
        total = sum(listed)
        return min(listed), max(listed), total, low <= total <= high
    total = exact_integer_sum(values)
    return int(values.min()), int(values.max()), total, low <= total <= high


def combine_min(values: list[Number], kind: int) -> Number | None:
    """The least of per-block minima; for floats NaN only when all are NaN."""
    if not values:
        return None
    if kind == KIND_FLOAT:
        return float(np.fmin.reduce(np.array(values, dtype=np.float64)))
    return min(values)


def combine_max(values: list[Number], kind: int) -> Number | None:
    if not values:
        return None
    if kind == KIND_FLOAT:
        return float(np.fmax.reduce(np.array(values, dtype=np.float64)))
    return max(values)


# ---- footer (writer side) ----


def encode_series_detail(series: SeriesMeta) -> bytes:
    parts = [SERIES_HEAD.pack(len(series.columns), len(series.blocks))]
    for name, kind in series.columns.items():
        encoded = name.encode("utf-8", "surrogatepass")
        parts.append(COLUMN_HEAD.pack(kind, len(encoded)))
        parts.append(encoded)
    for meta in series.blocks:
        ts = meta.timestamps
        parts.append(
            BLOCK_HEAD.pack(meta.rows, meta.min_time, meta.max_time, meta.time_exponent, ts.offset, ts.length, ts.crc)
        )
        for name, kind in series.columns.items():
            parts.append(_encode_column_entry(kind, meta.columns[name]))
    return b"".join(parts)


def _encode_column_entry(kind: int, entry: ColumnBlockMeta) -> bytes:
    flags = (HAS_PRESENCE if entry.presence is not None else 0) | (HAS_VALUES if entry.values is not None else 0)
    if entry.sum_exact:
        flags |= SUM_EXACT
    parts = [COLUMN_ENTRY.pack(entry.present, flags)]
    for ref in (entry.presence, entry.values):
        if ref is not None:
            parts.append(CHUNK_ENTRY.pack(ref.length, ref.crc))
    stats = STATS.get(kind)
    if stats is not None and entry.present > 0:
        total = entry.sum if entry.sum_exact else 0
        parts.append(stats.pack(entry.min, entry.max, total))
    return b"".join(parts)


def encode_footer(series: list[SeriesMeta]) -> bytes:
    """The footer body of series already sorted by id."""
    details = [encode_series_detail(s) for s in series]
    offset = FOOTER_HEAD.size + DIRECTORY_ENTRY.size * len(series)
    parts = [FOOTER_HEAD.pack(len(series))]
    for meta, detail in zip(series, details):
        parts.append(DIRECTORY_ENTRY.pack(meta.series_id, meta.rows, meta.min_time, meta.max_time, offset, len(detail)))
        offset += len(detail)
    return b"".join(parts + details)


def compress_footer(body: bytes, outer: int, zstd_level: int) -> bytes:
    """The stored footer of a version 2 file (flag FOOTER_ZSTD set unless outer is none)."""
    if outer != 0:
        return bytes(block.zstd_compressor(zstd_level).compress(body))
    return body


def header_flags(outer: int) -> int:
    return outer | (FOOTER_ZSTD if outer != 0 else 0)


# ---- header, trailer and footer (reader side) ----


def check_header(path: str, data: bytes) -> tuple[int, int, int]:
    """(version, outer compression id, footer compression id) of a file whose first 8 bytes are `data`."""
    if len(data) < HEADER.size:
        raise CorruptDataError(path, "file too short for a segment header", 0)
    magic, version, flags, reserved = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise CorruptDataError(path, "not a segment file (bad magic)", 0)
    if version > FORMAT_VERSION:
        raise CorruptDataError(
            path, f"segment format version {version} is newer than this reader supports ({FORMAT_VERSION})", 4
        )
    if version == 0:
        raise CorruptDataError(path, "segment format version 0 does not exist", 4)
    known = OUTER_MASK | (FOOTER_ZSTD if version >= 2 else 0)
    if flags & ~known or flags & OUTER_MASK == 3 or reserved != 0:
        raise CorruptDataError(path, f"unknown header flags 0x{flags:02x}/0x{reserved:04x}", 5)
    outer = int(flags & OUTER_MASK)
    return int(version), outer, OUTER_IDS["zstd"] if flags & FOOTER_ZSTD else outer


def check_trailer(path: str, data: bytes, file_size: int) -> tuple[int, int, int, int]:
    """(footer offset, stored length, body length, CRC) of a trailer, checked against the file size."""
    offset, stored, body_length, crc, magic = TRAILER.unpack_from(data, 0)
    where = file_size - TRAILER.size
    if magic != MAGIC:
        raise CorruptDataError(path, "no segment trailer (truncated or not a segment)", where)
    if offset < HEADER.size or offset + stored != where or body_length > MAX_FOOTER:
        raise CorruptDataError(path, f"trailer places the footer at {offset}+{stored} in a file of {file_size}", where)
    return int(offset), int(stored), int(body_length), int(crc)


def decompress_footer(path: str, stored: bytes, outer: int, body_length: int, crc: int, offset: int) -> bytes:
    if zlib.crc32(stored) != crc:
        raise CorruptDataError(path, "footer CRC mismatch", offset)
    try:
        if outer == 1:
            body = bytes(lz4.block.decompress(stored, uncompressed_size=body_length))
        elif outer == 2:
            body = bytes(block.zstd_decompressor().decompress(stored, max_output_size=body_length))
        else:
            body = stored
    except (lz4.block.LZ4BlockError, zstandard.ZstdError) as error:
        raise CorruptDataError(path, f"footer does not decompress: {error}", offset) from None
    if len(body) != body_length:
        raise CorruptDataError(path, f"footer holds {len(body)} bytes, trailer says {body_length}", offset)
    return body


def parse_directory(path: str, body: bytes, footer_offset: int) -> list[DirectoryEntry]:
    try:
        (count,) = FOOTER_HEAD.unpack_from(body, 0)
        if FOOTER_HEAD.size + count * DIRECTORY_ENTRY.size > len(body):
            raise CorruptDataError(path, f"footer too short for {count} series", footer_offset)
        entries = [
            DirectoryEntry(*DIRECTORY_ENTRY.unpack_from(body, FOOTER_HEAD.size + i * DIRECTORY_ENTRY.size))
            for i in range(count)
        ]
    except struct.error as error:
        raise CorruptDataError(path, f"footer directory: {error}", footer_offset) from None
    previous = -1
    for entry in entries:
        if entry.series_id <= previous or entry.rows == 0 or entry.min_time > entry.max_time:
            raise CorruptDataError(path, f"footer directory entry of series {entry.series_id} is invalid", footer_offset)
        if entry.detail_offset + entry.detail_length > len(body):
            raise CorruptDataError(path, f"series {entry.series_id} detail lies outside the footer", footer_offset)
        previous = entry.series_id
    return entries


def parse_series(path: str, body: bytes, entry: DirectoryEntry, data_end: int) -> SeriesMeta:
    """The detail of one directory entry, every offset checked to lie in [8, data_end)."""
    detail = body[entry.detail_offset : entry.detail_offset + entry.detail_length]
    try:
        series = _parse_detail(detail, entry.series_id, data_end)
    except (struct.error, UnicodeDecodeError, ValueError, IndexError, KeyError) as error:
        raise CorruptDataError(path, f"footer detail of series {entry.series_id}: {error}", data_end) from None
    if (series.rows, series.min_time, series.max_time) != (entry.rows, entry.min_time, entry.max_time):
        raise CorruptDataError(path, f"series {entry.series_id}: blocks disagree with the directory", data_end)
    return series


def _parse_detail(detail: bytes, series_id: int, data_end: int) -> SeriesMeta:
    column_count, block_count = SERIES_HEAD.unpack_from(detail, 0)
    pos = SERIES_HEAD.size
    columns: dict[str, int] = {}
    for _ in range(column_count):
        kind, length = COLUMN_HEAD.unpack_from(detail, pos)
        pos += COLUMN_HEAD.size
        name = detail[pos : pos + length].decode("utf-8", "surrogatepass")
        if len(name.encode("utf-8", "surrogatepass")) != length or kind >= len(KIND_NAMES) or name in columns:
            raise ValueError(f"bad column {name!r} of kind {kind}")
        if columns and name < list(columns)[-1]:
            raise ValueError("columns out of order")
        columns[name] = kind
        pos += length
    blocks: list[BlockMeta] = []
    previous_end = HEADER.size - 1
    previous_time: int | None = None
    for _ in range(block_count):
        rows, min_time, max_time, exponent, offset, ts_length, ts_crc = BLOCK_HEAD.unpack_from(detail, pos)
        pos += BLOCK_HEAD.size
        if rows == 0 or exponent > MAX_TIME_EXPONENT or min_time > max_time or (previous_time is not None and min_time <= previous_time):
            raise ValueError(f"block {len(blocks)} has rows {rows}, time {min_time}..{max_time}")
        if rows == 1 and min_time != max_time:
            raise ValueError(f"single-row block {len(blocks)} spans time {min_time}..{max_time}")
        end = offset + ts_length
        timestamps = ChunkRef(offset, ts_length, ts_crc)
        entries: dict[str, ColumnBlockMeta] = {}
        for name, kind in columns.items():
            column_entry, pos, end = _parse_column_entry(detail, pos, end, kind, rows)
            entries[name] = column_entry
        if offset < HEADER.size or offset <= previous_end or end > data_end:
            raise ValueError(f"block {len(blocks)} lies at {offset}..{end}, outside the data region")
        blocks.append(BlockMeta(rows, min_time, max_time, exponent, timestamps, entries))
        previous_end, previous_time = end - 1, max_time
    if pos != len(detail) or not blocks:
        raise ValueError(f"{len(detail) - pos} bytes left over after {len(blocks)} blocks")
    return SeriesMeta(series_id, columns, blocks)


def _parse_column_entry(detail: bytes, pos: int, end: int, kind: int, rows: int) -> tuple[ColumnBlockMeta, int, int]:
    """(entry, next position in detail, end of its chunks in the file)."""
    present, flags = COLUMN_ENTRY.unpack_from(detail, pos)
    pos += COLUMN_ENTRY.size
    want = (HAS_PRESENCE if 0 < present < rows else 0) | (HAS_VALUES if present > 0 else 0)
    if present > rows or flags & ~SUM_EXACT != want:
        raise ValueError(f"column entry flags 0x{flags:02x} for {present} of {rows} rows")
    refs: list[ChunkRef | None] = []
    for bit in (HAS_PRESENCE, HAS_VALUES):
        if flags & bit:
            length, crc = CHUNK_ENTRY.unpack_from(detail, pos)
            pos += CHUNK_ENTRY.size
            refs.append(ChunkRef(end, length, crc))
            end += length
        else:
            refs.append(None)
    stats = STATS.get(kind)
    if stats is None or present == 0:
        return ColumnBlockMeta(present, refs[0], refs[1]), pos, end
    minimum, maximum, total = stats.unpack_from(detail, pos)
    pos += stats.size
    exact = bool(flags & SUM_EXACT)
    return ColumnBlockMeta(present, refs[0], refs[1], minimum, maximum, total if exact else None, exact), pos, end


# ---- columnar footer (version 3) ----
#
# Version 3 keeps header, chunks and trailer of version 2 and replaces the footer body by
# fixed-width arrays, so a reader takes them with np.frombuffer instead of parsing per block:
#
#     footer body = series count S u32 | block count B u32 | column count C u16
#                   | columns: kind u8 | name length u16 | UTF-8 name   (by name then kind, unique)
#                   | the arrays of FOOTER_ARRAYS back to back, each little-endian, of the length
#                     it names: S, B, S x C (series-major) or C x B (column-major)
#
# Series are by id ascending and each series' blocks are contiguous, in time order, in the
# series' order. A column entry of a series that lacks the column is all zero. min/max/sum hold
# the 8 bytes of the column kind's f64/i64/u64, zero where the block has no stats (as in
# version 2). Chunk offsets follow from block offset and lengths, in column order, as before.

FOOTER3_HEAD: Final = struct.Struct("<IIH")
FOOTER_ARRAYS: Final[tuple[tuple[str, Any, str], ...]] = (
    ("series_id", np.uint64, "S"),
    ("series_blocks", np.uint32, "S"),
    ("holds", np.uint8, "SC"),
    ("rows", np.uint32, "B"),
    ("min_time", np.int64, "B"),
    ("max_time", np.int64, "B"),
    ("exponent", np.uint8, "B"),
    ("offset", np.uint64, "B"),
    ("ts_length", np.uint32, "B"),
    ("ts_crc", np.uint32, "B"),
    ("present", np.uint32, "CB"),
    ("flags", np.uint8, "CB"),
    ("presence_length", np.uint32, "CB"),
    ("presence_crc", np.uint32, "CB"),
    ("values_length", np.uint32, "CB"),
    ("values_crc", np.uint32, "CB"),
    ("min", np.uint64, "CB"),
    ("max", np.uint64, "CB"),
    ("sum", np.uint64, "CB"),
)
_STAT_DTYPES: Final[dict[int, Any]] = {KIND_FLOAT: np.float64, KIND_INTEGER: np.int64, KIND_UNSIGNED: np.uint64}


class FooterTables:
    """A whole footer as numpy arrays (version 3 reads them from the file; older versions build
    them from their parsed series). Per-column arrays are C x B; `arrays` holds every array of
    FOOTER_ARRAYS plus: first_block (S + 1), block_series (B), series_rows, series_min,
    series_max (S), presence_offset, values_offset (C x B) and block_end (B)."""

    __slots__ = ("columns", "kinds", "arrays")

    def __init__(self, columns: list[tuple[str, int]], arrays: dict[str, Any]) -> None:
        self.columns = columns
        self.kinds = [kind for _, kind in columns]
        self.arrays = arrays
        _derive(arrays, len(columns))

    def column_indexes(self, name: str) -> list[int]:
        return [i for i, (column, _) in enumerate(self.columns) if column == name]

    def stats(self, which: str, column: int) -> Any:
        """The min/max/sum row of a column viewed as its kind's dtype (u64 patterns otherwise)."""
        dtype = _STAT_DTYPES.get(self.kinds[column], np.uint64)
        return self.arrays[which][column].view(dtype)

    def series_meta(self, position: int) -> SeriesMeta:
        """The SeriesMeta of the series at directory position `position` (Python objects)."""
        a = self.arrays
        first, stop = int(a["first_block"][position]), int(a["first_block"][position + 1])
        held = [c for c in range(len(self.columns)) if a["holds"][position, c]]
        columns = {self.columns[c][0]: self.columns[c][1] for c in held}
        block_fields = [a[name][first:stop].tolist() for name in ("rows", "min_time", "max_time", "exponent", "offset", "ts_length", "ts_crc")]
        entries_by_column = []
        for c in held:
            fields = [a[name][c, first:stop].tolist() for name in ("present", "flags", "presence_offset", "presence_length", "presence_crc", "values_offset", "values_length", "values_crc")]
            stats = [self.stats(which, c)[first:stop].tolist() for which in ("min", "max", "sum")]
            entries_by_column.append((self.columns[c][0], self.kinds[c] in STATS, fields, stats))
        blocks: list[BlockMeta] = []
        for i, (rows, low, high, exponent, offset, ts_length, ts_crc) in enumerate(zip(*block_fields)):
            entries: dict[str, ColumnBlockMeta] = {}
            for name, has_stats, fields, stats in entries_by_column:
                present, flags = fields[0][i], fields[1][i]
                presence = ChunkRef(fields[2][i], fields[3][i], fields[4][i]) if flags & HAS_PRESENCE else None
                values = ChunkRef(fields[5][i], fields[6][i], fields[7][i]) if flags & HAS_VALUES else None
                if has_stats and present > 0:
                    exact = bool(flags & SUM_EXACT)
                    entries[name] = ColumnBlockMeta(present, presence, values, stats[0][i], stats[1][i], stats[2][i] if exact else None, exact)
                else:
                    entries[name] = ColumnBlockMeta(present, presence, values)
            blocks.append(BlockMeta(rows, low, high, exponent, ChunkRef(offset, ts_length, ts_crc), entries))
        return SeriesMeta(int(a["series_id"][position]), columns, blocks)


def _derive(a: dict[str, Any], column_count: int) -> None:
    counts = a["series_blocks"].astype(np.int64)
    first = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=first[1:])
    a["first_block"] = first
    a["block_series"] = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    a["holds"] = a["holds"].reshape(len(counts), column_count).astype(np.bool_)
    blocks = len(a["rows"])
    for name, _, shape in FOOTER_ARRAYS:
        if shape == "CB":
            a[name] = a[name].reshape(column_count, blocks)
    rows = a["rows"].astype(np.int64)
    if len(counts) and blocks:
        a["series_rows"] = np.add.reduceat(rows, first[:-1])
        a["series_min"] = a["min_time"][first[:-1]]
        a["series_max"] = a["max_time"][first[1:] - 1]
    else:
        a["series_rows"] = np.zeros(len(counts), dtype=np.int64)
        a["series_min"] = a["series_max"] = np.zeros(len(counts), dtype=np.int64)
    sizes = a["presence_length"].astype(np.int64) + a["values_length"].astype(np.int64)
    before = np.cumsum(sizes, axis=0) - sizes
    start = a["offset"].astype(np.int64) + a["ts_length"].astype(np.int64)
    a["presence_offset"] = start + before
    a["values_offset"] = a["presence_offset"] + a["presence_length"].astype(np.int64)
    a["block_end"] = start + sizes.sum(axis=0)


def build_tables(series: list[SeriesMeta]) -> FooterTables:
    """The footer arrays of series sorted by id (the writer's and older versions' way in)."""
    columns = sorted({(name, kind) for meta in series for name, kind in meta.columns.items()})
    index = {column: i for i, column in enumerate(columns)}
    blocks = sum(len(meta.blocks) for meta in series)
    sizes = {"S": len(series), "B": blocks, "SC": len(series) * len(columns), "CB": len(columns) * blocks}
    a: dict[str, Any] = {name: np.zeros(sizes[shape], dtype=dtype) for name, dtype, shape in FOOTER_ARRAYS}
    for name in ("holds", "present", "flags", "presence_length", "presence_crc", "values_length", "values_crc", "min", "max", "sum"):
        a[name] = a[name].reshape(len(series), len(columns)) if name == "holds" else a[name].reshape(len(columns), blocks)
    b = 0
    for s, meta in enumerate(series):
        a["series_id"][s] = meta.series_id
        a["series_blocks"][s] = len(meta.blocks)
        held = [(index[(name, kind)], name, kind) for name, kind in meta.columns.items()]
        for c, _, _ in held:
            a["holds"][s, c] = 1
        for block in meta.blocks:
            ts = block.timestamps
            a["rows"][b], a["min_time"][b], a["max_time"][b], a["exponent"][b] = block.rows, block.min_time, block.max_time, block.time_exponent
            a["offset"][b], a["ts_length"][b], a["ts_crc"][b] = ts.offset, ts.length, ts.crc
            for c, name, kind in held:
                _fill_entry(a, c, b, kind, block.columns[name])
            b += 1
    for name, _, shape in FOOTER_ARRAYS:
        a[name] = a[name].reshape(-1)
    return FooterTables(columns, a)


def _fill_entry(a: dict[str, Any], c: int, b: int, kind: int, entry: ColumnBlockMeta) -> None:
    flags = (HAS_PRESENCE if entry.presence is not None else 0) | (HAS_VALUES if entry.values is not None else 0)
    a["present"][c, b] = entry.present
    if entry.presence is not None:
        a["presence_length"][c, b], a["presence_crc"][c, b] = entry.presence.length, entry.presence.crc
    if entry.values is not None:
        a["values_length"][c, b], a["values_crc"][c, b] = entry.values.length, entry.values.crc
    if entry.sum_exact:
        flags |= SUM_EXACT
    a["flags"][c, b] = flags
    stats = STATS.get(kind)
    if stats is not None and entry.present > 0:
        total = entry.sum if entry.sum_exact else 0
        packed = np.frombuffer(stats.pack(entry.min, entry.max, total), dtype=np.uint64)
        a["min"][c, b], a["max"][c, b], a["sum"][c, b] = packed


def encode_tables(tables: FooterTables) -> bytes:
    """A version 3 footer body."""
    a = tables.arrays
    parts = [FOOTER3_HEAD.pack(len(a["series_id"]), len(a["rows"]), len(tables.columns))]
    for name, kind in tables.columns:
        encoded = name.encode("utf-8", "surrogatepass")
        parts.append(COLUMN_HEAD.pack(kind, len(encoded)))
        parts.append(encoded)
    for name, dtype, _ in FOOTER_ARRAYS:
        array = a[name].astype(np.uint8) if name == "holds" else a[name]
        parts.append(np.ascontiguousarray(array, dtype=dtype).reshape(-1).astype(np.dtype(dtype).newbyteorder("<")).tobytes())
    return b"".join(parts)


def parse_tables(path: str, body: bytes, data_end: int) -> FooterTables:
    """The arrays of a version 3 footer body, every count, order, flag and offset checked."""
    try:
        series_count, block_count, column_count = FOOTER3_HEAD.unpack_from(body, 0)
        pos = FOOTER3_HEAD.size
        columns: list[tuple[str, int]] = []
        for _ in range(column_count):
            kind, length = COLUMN_HEAD.unpack_from(body, pos)
            pos += COLUMN_HEAD.size
            name = body[pos : pos + length].decode("utf-8", "surrogatepass")
            pos += length
            if len(name.encode("utf-8", "surrogatepass")) != length or kind >= len(KIND_NAMES):
                raise ValueError(f"bad column {name!r} of kind {kind}")
            if columns and (name, kind) <= columns[-1]:
                raise ValueError("columns out of order or repeated")
            columns.append((name, kind))
        sizes = {"S": series_count, "B": block_count, "SC": series_count * column_count, "CB": column_count * block_count}
        arrays: dict[str, Any] = {}
        for name, dtype, shape in FOOTER_ARRAYS:
            count = sizes[shape]
            width = np.dtype(dtype).itemsize * count
            if pos + width > len(body):
                raise ValueError(f"footer ends inside array {name}")
            arrays[name] = np.frombuffer(body, dtype=np.dtype(dtype).newbyteorder("<"), count=count, offset=pos).astype(dtype)
            pos += width
        if pos != len(body):
            raise ValueError(f"{len(body) - pos} bytes left over after the arrays")
        if int(arrays["series_blocks"].astype(np.int64).sum()) != block_count or (series_count and not arrays["series_blocks"].all()):
            raise ValueError("series block counts do not add up to the blocks")
        tables = FooterTables(columns, arrays)
    except (struct.error, UnicodeDecodeError, ValueError) as error:
        raise CorruptDataError(path, f"footer: {error}", data_end) from None
    problem = _check_tables(tables, data_end)
    if problem:
        raise CorruptDataError(path, f"footer: {problem}", data_end)
    return tables


def _check_tables(tables: FooterTables, data_end: int) -> str:
    """What is wrong with a footer's arrays, or "" when nothing is."""
    a = tables.arrays
    ids = a["series_id"]
    if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        return "series ids not ascending"
    rows = a["rows"].astype(np.int64)
    low, high = a["min_time"], a["max_time"]
    if not (bool(np.all(rows > 0)) and bool(np.all(low <= high)) and bool(np.all(a["exponent"] <= MAX_TIME_EXPONENT))):
        return "a block with no rows, a reversed time range or an unknown time exponent"
    if bool(np.any((rows == 1) & (low != high))):
        return "a single-row block spans a time range"
    follows = np.ones(len(rows), dtype=np.bool_)
    follows[a["first_block"][:-1]] = False
    later = np.flatnonzero(follows)
    if bool(np.any(low[later] <= high[later - 1])) or bool(np.any(a["offset"][later].astype(np.int64) < a["block_end"][later - 1])):
        return "blocks of a series out of time or file order"
    if bool(np.any(a["offset"] < HEADER.size)) or bool(np.any(a["offset"] > data_end)) or bool(np.any(a["block_end"] > data_end)):
        return "a block lies outside the data region"
    present = a["present"].astype(np.int64)
    held = a["holds"][a["block_series"]].T  # C x B
    dense = np.where((present > 0) & (present < rows), HAS_PRESENCE, 0) | np.where(present > 0, HAS_VALUES, 0)
    flags = a["flags"].astype(np.int64)
    if bool(np.any(present > rows)) or bool(np.any((flags & ~SUM_EXACT) != dense)):
        return "column entry flags disagree with the present counts"
    if bool(np.any(~held & ((present > 0) | (flags != 0)))):
        return "a column entry for a column its series lacks"
    chunks_ok = ((a["presence_length"] > 0) == ((flags & HAS_PRESENCE) > 0)) & ((a["values_length"] > 0) == ((flags & HAS_VALUES) > 0))
    if not bool(np.all(chunks_ok)):
        return "chunk lengths disagree with the flags"
    return ""
