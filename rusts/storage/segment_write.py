"""Writing segment files: series cut into blocks, each column a compressed chunk, footer last.

Layout in segment_format's docstring; readers in segment.py. Written atomically: `path + ".tmp"`,
fsync, rename over `path`, fsync of the directory, so a crash leaves the old file or the new
one (plus at most a stray .tmp), never a torn one.
"""

import os
import zlib
from collections.abc import Iterable
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from rusts.compression.plans import ChunkPlans
from rusts.storage.columns import KIND_INTEGER, KIND_NAMES, KIND_STRING, NUMPY_DTYPES, SeriesData, StringCodes
from rusts.storage.segment_format import (
    FORMAT_VERSION,
    HEADER,
    MAGIC,
    MAX_CHUNK,
    MAX_COLUMNS,
    OUTER_IDS,
    STATS,
    TRAILER,
    BlockMeta,
    ChunkRef,
    ColumnBlockMeta,
    SeriesMeta,
    compress_footer,
    encode_chunk,
    build_tables,
    encode_tables,
    header_flags,
    numeric_stats,
    scale_times,
    time_exponent,
)

# Larger blocks compress better and keep the footer small; 8,192 rows still decode in well
# under a millisecond a column. Measured in benchmarks/segment.py.
DEFAULT_BLOCK_ROWS: Final = 8192
MAX_BLOCK_ROWS: Final = 1 << 20
WRITE_BUFFER: Final = 1 << 20
# The codec plan key of the timestamp chunks (field names are never empty nor hold NUL).
TIME_KEY: Final = "\x00time"


class SegmentInfo:
    """What write_segment wrote. min_time/max_time are 0 for a segment without series."""

    __slots__ = ("path", "series_count", "point_count", "field_value_count", "min_time", "max_time", "bytes")

    def __init__(
        self, path: str, series_count: int, point_count: int, field_value_count: int, min_time: int, max_time: int, size: int
    ) -> None:
        self.path = path
        self.series_count = series_count
        self.point_count = point_count
        self.field_value_count = field_value_count
        self.min_time = min_time
        self.max_time = max_time
        self.bytes = size

    def __repr__(self) -> str:
        return (
            f"SegmentInfo({self.path!r}, series={self.series_count}, points={self.point_count}, "
            f"field_values={self.field_value_count}, time={self.min_time}..{self.max_time}, bytes={self.bytes})"
        )


def write_segment(
    path: str,
    series: Iterable[SeriesData],
    *,
    outer: str = "lz4",
    zstd_level: int = 3,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    temporary: str | None = None,
    publish: bool = True,
) -> SegmentInfo:
    """Write `series` (each with sorted, unique timestamps; ids unique) as a segment at `path`.

    Series without rows are left out. Replaces `path` atomically: the file is written and synced
    as `temporary` (default `path + ".tmp"`), then renamed, unless `publish` is False (the caller
    renames it: a worker process's file becomes live only in the process that owns the partition).
    """
    outer_id = OUTER_IDS.get(outer)
    if outer_id is None:
        raise ValueError(f"outer compression must be one of {sorted(OUTER_IDS)}, not {outer!r}")
    if not 1 <= block_rows <= MAX_BLOCK_ROWS:
        raise ValueError(f"block_rows must be in 1..{MAX_BLOCK_ROWS}, not {block_rows}")
    tmp = path + ".tmp" if temporary is None else temporary
    try:
        with open(tmp, "wb", buffering=WRITE_BUFFER) as out:
            metas, field_values = _write_body(out, series, outer_id, zstd_level, block_rows)
            offset = out.tell()
            body = encode_tables(build_tables(metas))
            stored = compress_footer(body, outer_id, zstd_level)
            out.write(stored)
            out.write(TRAILER.pack(offset, len(stored), len(body), zlib.crc32(stored), MAGIC))
            out.flush()
            os.fsync(out.fileno())
            size = out.tell()
        if publish:
            os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if publish:
        _fsync_directory(path)
    rows = sum(m.rows for m in metas)
    if not metas:
        return SegmentInfo(path, 0, 0, 0, 0, 0, size)
    low, high = min(m.min_time for m in metas), max(m.max_time for m in metas)
    return SegmentInfo(path, len(metas), rows, field_values, low, high, size)


def write_segment_at(path: str, series: list[SeriesData], outer: str, zstd_level: int) -> tuple[SegmentInfo, str]:
    """The task a worker process runs (rusts.core.workers): the segment written and synced under a
    name of its own (path.<pid>.tmp), and that name; the partition's process renames it to `path`.
    A worker orphaned by a killed server can then only leave a temporary file (removed at the next
    open), never a segment under a generation the next server may give to another flush."""
    temporary = f"{path}.{os.getpid()}.tmp"
    return write_segment(path, series, outer=outer, zstd_level=zstd_level, temporary=temporary, publish=False), temporary


def _fsync_directory(path: str) -> None:
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_body(
    out: Any, series: Iterable[SeriesData], outer: int, zstd_level: int, block_rows: int
) -> tuple[list[SeriesMeta], int]:
    """Write header and chunks; (series metadata sorted by id, field values written)."""
    out.write(HEADER.pack(MAGIC, FORMAT_VERSION, header_flags(outer), 0))
    offset = HEADER.size
    metas: dict[int, SeriesMeta] = {}
    field_values = 0
    plans = ChunkPlans()
    for data in series:
        if len(data) == 0:
            continue
        timestamps = _check_series(data, metas)
        names = sorted(data.columns)
        blocks: list[BlockMeta] = []
        for start in range(0, len(timestamps), block_rows):
            stop = min(start + block_rows, len(timestamps))
            chunks, meta = _encode_block(data, timestamps, names, start, stop, offset, outer, zstd_level, plans)
            for chunk in chunks:
                out.write(chunk)
            offset += meta.length
            field_values += sum(entry.present for entry in meta.columns.values())
            blocks.append(meta)
        metas[data.series_id] = SeriesMeta(data.series_id, {n: data.columns[n].kind for n in names}, blocks)
    return [metas[series_id] for series_id in sorted(metas)], field_values


def _check_series(data: SeriesData, seen: dict[int, SeriesMeta]) -> NDArray[np.int64]:
    """The series' timestamps as int64; AssertionError on what the caller guarantees."""
    if data.series_id in seen or not 0 <= data.series_id < 2**64:
        raise AssertionError(f"BUG: series id {data.series_id} repeated or outside u64")
    timestamps = np.ascontiguousarray(data.timestamps, dtype=np.int64)
    if len(timestamps) > 1 and not bool(np.all(timestamps[1:] > timestamps[:-1])):
        raise AssertionError(f"BUG: timestamps of series {data.series_id} are not sorted and unique")
    if len(data.columns) > MAX_COLUMNS:
        raise ValueError(f"series {data.series_id} has {len(data.columns)} columns, at most {MAX_COLUMNS} fit")
    for name, column in data.columns.items():
        misaligned = len(column.values) != len(timestamps) or (
            column.present is not None and len(column.present) != len(timestamps)
        )
        if misaligned or not 0 <= column.kind < len(KIND_NAMES):
            raise AssertionError(f"BUG: column {name!r} of series {data.series_id} is misaligned or of no kind")
    return timestamps


def _encode_block(
    data: SeriesData,
    timestamps: NDArray[np.int64],
    names: list[str],
    start: int,
    stop: int,
    offset: int,
    outer: int,
    zstd_level: int,
    plans: ChunkPlans,
) -> tuple[list[bytes], BlockMeta]:
    """The chunks of rows [start, stop) in file order, and their block metadata at `offset`."""
    rows = stop - start
    block_times = timestamps[start:stop]
    exponent = time_exponent(block_times)
    chunks = [encode_chunk("timestamp", scale_times(block_times, exponent), outer, zstd_level, None, plans, TIME_KEY)]
    refs = [ChunkRef(offset, len(chunks[0]), zlib.crc32(chunks[0]))]
    entries: dict[str, ColumnBlockMeta] = {}
    for name in names:
        column = data.columns[name]
        mask = None if column.present is None else column.present[start:stop]
        if mask is not None and bool(mask.all()):
            mask = None
        present = rows if mask is None else int(np.count_nonzero(mask))
        chunk_refs: list[ChunkRef | None] = [None, None]
        if present == 0:
            entries[name] = ColumnBlockMeta(0, None, None)
            continue
        values = column.values[start:stop]
        times = block_times if column.kind == KIND_INTEGER else None
        if mask is not None:
            chunks.append(encode_chunk("boolean", mask, outer, zstd_level))
            chunk_refs[0] = _next_ref(refs, chunks[-1])
            values = _compress(column.kind, values, mask)
            times = None if times is None else times[mask]
        chunks.append(encode_chunk(KIND_NAMES[column.kind], values, outer, zstd_level, times, plans, name))
        chunk_refs[1] = _next_ref(refs, chunks[-1])
        entry = ColumnBlockMeta(present, chunk_refs[0], chunk_refs[1])
        if column.kind in STATS:
            array = np.asarray(values, dtype=NUMPY_DTYPES[column.kind])
            entry.min, entry.max, entry.sum, entry.sum_exact = numeric_stats(column.kind, array)
        entries[name] = entry
    meta = BlockMeta(rows, int(block_times[0]), int(block_times[-1]), exponent, refs[0], entries)
    return chunks, meta


def _next_ref(refs: list[ChunkRef], chunk: bytes) -> ChunkRef:
    if len(chunk) > MAX_CHUNK:
        raise ValueError(f"a chunk of {len(chunk)} bytes does not fit the format; use smaller blocks")
    ref = ChunkRef(refs[-1].offset + refs[-1].length, len(chunk), zlib.crc32(chunk))
    refs.append(ref)
    return ref


def _compress(kind: int, values: Any, mask: NDArray[np.bool_]) -> Any:
    """The values of the rows `mask` marks."""
    if isinstance(values, StringCodes):
        return values[mask]
    if kind == KIND_STRING:
        return [value for value, keep in zip(values, mask.tolist()) if keep]
    return np.asarray(values)[mask]
