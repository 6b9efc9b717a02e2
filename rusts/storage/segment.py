"""Immutable columnar segment files: the public API, and a reader that decodes only what a query needs.

A segment holds many series, each cut into blocks of up to `block_rows` rows; every column of
a block is its own compressed chunk, and the footer keeps per block the row count, time range
and, for numeric columns, present count, min, max and sum. So the query engine binary-searches
blocks by time, answers COUNT/MIN/MAX/SUM of whole blocks from the footer alone and decodes
only the columns it projects. The byte layout (version 3) is in segment_format's docstring.

write_segment (segment_write.py) writes files atomically: `path + ".tmp"`, fsync, rename over
`path`, fsync of the directory. Hot segments use outer="lz4" (fast to decode), cold ones outer="zstd" (smaller).

For scans of whole segments (the query engine's partition pass) a reader also gives the directory
as numpy arrays, per-series totals of a column over all its blocks (ColumnTotals, from the footer)
and every series' rows of some columns decoded and concatenated (ColumnTable). Decoded columns are
kept across queries in one cache shared by all readers, bounded in bytes (set_table_cache_budget,
256 MiB by default), least recently used dropped first, and dropped when their reader closes.

Time ranges are half-open, [start, end). Reads check every chunk's CRC32 and every decoded
length, so a damaged file raises CorruptDataError naming it, never returns garbage.
"""

import bisect
import os
import threading
import zlib
from collections import OrderedDict
from typing import Any, Final

import numpy as np

from rusts.compression import codec, numeric
from rusts.core.errors import CodecError, CorruptDataError
from rusts.storage.columns import (
    KIND_FLOAT,
    KIND_INTEGER,
    KIND_STRING,
    KIND_UNSIGNED,
    NUMPY_DTYPES,
    Column,
    SeriesData,
    StringCodes,
    joined_values,
)
from rusts.storage.segment_format import (
    HEADER,
    OUTER_IDS,
    HAS_PRESENCE,
    HAS_VALUES,
    STATS,
    TRAILER,
    BlockMeta,
    ChunkRef,
    ColumnBlockMeta,
    SUM_EXACT,
    DirectoryEntry,
    FooterTables,
    Number,
    SeriesMeta,
    check_header,
    check_trailer,
    combine_max,
    combine_min,
    decompress_footer,
    build_tables,
    numeric_stats,
    parse_directory,
    parse_series,
    parse_tables,
    unscale_times,
)
from rusts.storage.segment_write import DEFAULT_BLOCK_ROWS, SegmentInfo, write_segment

__all__ = [
    "DEFAULT_BLOCK_ROWS",
    "BlockMeta",
    "ColumnBlockMeta",
    "ColumnTable",
    "ColumnTotals",
    "SegmentInfo",
    "SegmentReader",
    "clear_table_cache",
    "set_table_cache_budget",
    "write_segment",
]

TIME_MIN: Final = -(2**63)
TIME_MAX: Final = 2**63 - 1

Aggregate = tuple[int, Number | None, Number | None, Number | None]
INT_LIMITS: Final[dict[int, tuple[int, int]]] = {KIND_UNSIGNED: (0, 2**64 - 1)}
TIMESTAMPS_KEY: Final = "\0time"


class ColumnTotals:
    """One column's totals per series of a segment, aligned with the directory, from the footer.

    present: values per series; min/max/sum over all its blocks (zero where present is 0);
    sum_ok: False where a block's integer sum was not exact or the series total does not fit.
    """

    __slots__ = ("kind", "present", "minimum", "maximum", "total", "sum_ok")

    def __init__(self, kind: int, count: int) -> None:
        dtype = NUMPY_DTYPES.get(kind, np.float64) if kind != KIND_STRING else np.float64
        self.kind = kind
        self.present = np.zeros(count, dtype=np.int64)
        self.minimum: Any = np.zeros(count, dtype=dtype)
        self.maximum: Any = np.zeros(count, dtype=dtype)
        self.total: Any = np.zeros(count, dtype=dtype)
        self.sum_ok = np.ones(count, dtype=np.bool_)


class ColumnTable:
    """Decoded rows of every series of a segment, concatenated in directory order.

    Rows of the series at directory position i are offsets[i]:offsets[i + 1].
    """

    __slots__ = ("offsets", "timestamps", "columns")

    def __init__(self, offsets: Any, timestamps: Any, columns: dict[str, Column]) -> None:
        self.offsets = offsets
        self.timestamps = timestamps
        self.columns = columns


class _TableCache:
    """Decoded whole-segment columns, least recently used dropped past a byte budget (all readers)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self.lock = threading.Lock()
        self.entries: OrderedDict[tuple[int, str], tuple[Any, int]] = OrderedDict()

    def get(self, owner: int, name: str) -> Any:
        with self.lock:
            entry = self.entries.get((owner, name))
            if entry is None:
                return None
            self.entries.move_to_end((owner, name))
            return entry[0]

    def put(self, owner: int, name: str, value: Any, size: int) -> None:
        with self.lock:
            if size > self.budget:
                return
            old = self.entries.pop((owner, name), None)
            if old is not None:
                self.used -= old[1]
            self.entries[(owner, name)] = (value, size)
            self.used += size
            while self.used > self.budget and self.entries:
                _, (_, dropped) = self.entries.popitem(last=False)
                self.used -= dropped

    def drop_owner(self, owner: int) -> None:
        with self.lock:
            for key in [key for key in self.entries if key[0] == owner]:
                self.used -= self.entries.pop(key)[1]


# Decoded columns kept for repeated scans of whole segments (the query engine's partition pass).
_TABLES = _TableCache(256 * 1024 * 1024)
_OWNERS = iter(range(1, 2**62))
_OWNERS_LOCK = threading.Lock()


def set_table_cache_budget(budget_bytes: int) -> None:
    """Bytes of decoded segment columns kept in memory across queries (0 keeps none)."""
    with _TABLES.lock:
        _TABLES.budget = budget_bytes
    _TABLES.put(0, "", None, 0)  # evicts down to the new budget


def clear_table_cache() -> None:
    """Drop every decoded segment column kept (for tests and benchmarks that count decodes)."""
    with _TABLES.lock:
        _TABLES.entries.clear()
        _TABLES.used = 0


def _column_bytes(column: Column) -> int:
    size = len(column.values) * 8 if column.kind != KIND_STRING else sum(len(v) + 56 for v in column.values)
    return size + (0 if column.present is None else len(column.present))


class SegmentReader:
    """A segment file opened for reading: the footer directory in memory, chunks read on demand.

    Safe for concurrent readers: chunks are read with os.pread and per-series metadata is
    parsed once under a lock. `blocks_decoded` and `chunks_decoded` count the blocks and
    chunks decoded (statistics for tests and benchmarks, not exact under concurrent use).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.blocks_decoded = 0
        self.chunks_decoded = 0
        self._lock = threading.Lock()
        self._parsed: dict[int, SeriesMeta] = {}
        self._totals: dict[str, ColumnTotals | None] = {}
        self._arrays: tuple[Any, Any, Any, Any] | None = None
        self._kinds_cache: dict[str, int] | None = None
        with _OWNERS_LOCK:
            self._owner = next(_OWNERS)
        self._fd = os.open(path, os.O_RDONLY)
        try:
            self._load_footer()
        except BaseException:
            os.close(self._fd)
            raise

    @classmethod
    def open(cls, path: str) -> "SegmentReader":
        return cls(path)

    def __enter__(self) -> "SegmentReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        _TABLES.drop_owner(self._owner)

    def _load_footer(self) -> None:
        size = os.fstat(self._fd).st_size
        if size < HEADER.size + TRAILER.size:
            raise CorruptDataError(self.path, f"file of {size} bytes is too short for a segment", 0)
        self._version, self._outer, footer_codec = check_header(self.path, self._pread(0, HEADER.size))
        footer_offset, stored, body_length, crc = check_trailer(
            self.path, self._pread(size - TRAILER.size, TRAILER.size), size
        )
        body = decompress_footer(
            self.path, self._pread(footer_offset, stored), footer_codec, body_length, crc, footer_offset
        )
        self._data_end = footer_offset
        if self._version >= 3:
            self._body = b""
            tables = parse_tables(self.path, body, footer_offset)
            a = tables.arrays
            self._tables: FooterTables | None = tables
            self._directory: list[DirectoryEntry] = [
                DirectoryEntry(*fields, 0)
                for fields in zip(
                    a["series_id"].tolist(),
                    a["series_rows"].tolist(),
                    a["series_min"].tolist(),
                    a["series_max"].tolist(),
                    range(len(a["series_id"])),
                )
            ]
        else:
            self._body = body
            self._tables = None
            self._directory = parse_directory(self.path, body, footer_offset)
        self._index = {entry.series_id: i for i, entry in enumerate(self._directory)}

    def _pread(self, offset: int, length: int) -> bytes:
        if self._fd < 0:
            raise ValueError(f"segment reader of {self.path} is closed")
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise CorruptDataError(self.path, f"read {len(data)} of {length} bytes (file truncated?)", offset)
        return data

    # -- directory --

    @property
    def outer(self) -> str:
        """The outer compression the file was written with: "lz4", "zstd" or "none"."""
        return next(name for name, code in OUTER_IDS.items() if code == self._outer)

    def series_ids(self) -> list[int]:
        return [entry.series_id for entry in self._directory]

    def has_series(self, series_id: int) -> bool:
        return series_id in self._index

    @property
    def time_range(self) -> tuple[int, int] | None:
        """(min time, max time) over all series, both inclusive; None for an empty segment."""
        if not self._directory:
            return None
        return min(e.min_time for e in self._directory), max(e.max_time for e in self._directory)

    @property
    def point_count(self) -> int:
        return sum(entry.rows for entry in self._directory)

    def series_time_range(self, series_id: int) -> tuple[int, int] | None:
        index = self._index.get(series_id)
        if index is None:
            return None
        entry = self._directory[index]
        return entry.min_time, entry.max_time

    def columns(self, series_id: int) -> dict[str, int]:
        """Column name -> kind of a series (empty when the segment lacks it)."""
        meta = self._series(series_id)
        return {} if meta is None else dict(meta.columns)

    def blocks(self, series_id: int) -> list[BlockMeta]:
        meta = self._series(series_id)
        return [] if meta is None else list(meta.blocks)

    def _series(self, series_id: int) -> SeriesMeta | None:
        meta = self._parsed.get(series_id)
        if meta is not None:
            return meta
        index = self._index.get(series_id)
        if index is None:
            return None
        with self._lock:
            meta = self._parsed.get(series_id)
            if meta is None:
                if self._version >= 3:
                    assert self._tables is not None, "BUG: a version 3 reader without its tables"
                    meta = self._tables.series_meta(index)
                else:
                    meta = parse_series(self.path, self._body, self._directory[index], self._data_end)
                self._parsed[series_id] = meta
        return meta

    def _whole(self) -> FooterTables:
        """The footer as arrays (built from every parsed series for files before version 3)."""
        tables = self._tables
        if tables is None:
            metas = [self._series(entry.series_id) for entry in self._directory]
            tables = build_tables([meta for meta in metas if meta is not None])
            self._tables = tables
        return tables

    # -- whole-segment views for the query engine --

    def directory_arrays(self) -> tuple[Any, Any, Any, Any]:
        """(series ids u64 ascending, rows, min times, max times) of the directory as numpy arrays."""
        arrays = self._arrays
        if arrays is None:
            if self._tables is not None:
                a = self._tables.arrays
                arrays = (a["series_id"], a["series_rows"], a["series_min"], a["series_max"])
            else:
                entries = self._directory
                arrays = (
                    np.array([e.series_id for e in entries], dtype=np.uint64),
                    np.array([e.rows for e in entries], dtype=np.int64),
                    np.array([e.min_time for e in entries], dtype=np.int64),
                    np.array([e.max_time for e in entries], dtype=np.int64),
                )
            self._arrays = arrays
        return arrays

    def column_totals(self, name: str) -> ColumnTotals | None:
        """Per-series totals of a column from the block headers; None when no series holds it."""
        if name in self._totals:
            return self._totals[name]
        tables = self._whole()
        totals = _column_totals(tables, self._one_column(tables, name)) if name in self._kinds else None
        self._totals[name] = totals
        return totals

    def _one_column(self, tables: FooterTables, name: str) -> int:
        indexes = tables.column_indexes(name)
        if len(indexes) != 1:
            raise CorruptDataError(self.path, f"column {name!r} has two kinds in one segment", self._data_end)
        return indexes[0]

    def column_table(self, names: list[str], keep: bool = True, string_codes: bool = False) -> ColumnTable:
        """Every series' rows with these columns (those a series lacks are absent in its rows),
        decoded once and kept in a shared cache bounded in bytes (not kept when `keep` is False:
        a reader passing once, like an export, would only push out what queries reuse). Names no
        series holds are left out. `string_codes` (with keep False): string columns not cached
        come as StringCodes, not lists."""
        names = [name for name in dict.fromkeys(names) if self._kind_of(name) is not None]
        timestamps = _TABLES.get(self._owner, TIMESTAMPS_KEY)
        columns: dict[str, Column] = {}
        missing: list[str] = []
        for name in names:
            column = _TABLES.get(self._owner, name)
            if column is None:
                missing.append(name)
            else:
                columns[name] = column
        if timestamps is None or missing:
            timestamps, decoded = self._decode_all(missing, string_codes and not keep)
            if keep:
                _TABLES.put(self._owner, TIMESTAMPS_KEY, timestamps, len(timestamps) * 8)
            for name, column in decoded.items():
                if keep:
                    _TABLES.put(self._owner, name, column, _column_bytes(column))
                columns[name] = column
        _, rows, _, _ = self.directory_arrays()
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(rows, out=offsets[1:])
        return ColumnTable(offsets, timestamps, columns)

    def has_table(self, names: list[str]) -> bool:
        """True when column_table(names) would decode nothing."""
        if _TABLES.get(self._owner, TIMESTAMPS_KEY) is None:
            return False
        return all(_TABLES.get(self._owner, name) is not None for name in names if self._kind_of(name) is not None)

    def _decode_all(self, names: list[str], string_codes: bool = False) -> tuple[Any, dict[str, Column]]:
        """Timestamps and the `names` columns of every block, concatenated in directory order;
        the chunks read with one pread and decoded straight into the whole-segment arrays."""
        tables = self._whole()
        a = tables.arrays
        rows = a["rows"].astype(np.int64)
        starts = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(rows, out=starts[1:])
        indexes = [self._one_column(tables, name) for name in names]
        if len(rows) == 0:
            return np.empty(0, dtype=np.int64), {name: _absent_column(self._kinds[name], 0) for name in names}
        low = int(a["offset"].min())
        high = int(a["block_end"].max())
        data = self._pread(low, high - low)
        timestamps = self._decode_times(tables, data, low, starts)
        columns = {
            name: self._decode_whole_column(tables, c, data, low, starts, timestamps, string_codes)
            for name, c in zip(names, indexes)
        }
        self.blocks_decoded += len(rows)
        return timestamps, columns

    def _decode_times(self, tables: FooterTables, data: bytes, low: int, starts: Any) -> Any:
        a = tables.arrays
        batched = self._decode_batch(data, low, a["offset"], a["ts_length"], a["ts_crc"], np.diff(starts))
        if batched is not None and batched.dtype == np.int64:
            sizes = np.diff(starts)
            exponents = a["exponent"].astype(np.int64)
            scaled = np.repeat(exponents > 0, sizes)
            with np.errstate(over="ignore"):
                units = np.repeat(np.power(np.int64(10), exponents), sizes)
                out = np.where(scaled, batched * units + np.repeat(a["min_time"], sizes), batched)
            if not (np.array_equal(out[starts[:-1]], a["min_time"]) and np.array_equal(out[starts[1:] - 1], a["max_time"])):
                raise CorruptDataError(self.path, "block timestamps disagree with the footer", int(a["offset"][0]))
            return out
        out = np.empty(int(starts[-1]), dtype=np.int64)
        fields = zip(
            a["offset"].tolist(), a["ts_length"].tolist(), a["ts_crc"].tolist(), a["exponent"].tolist(),
            a["min_time"].tolist(), a["max_time"].tolist(), starts[:-1].tolist(), starts[1:].tolist(),
        )
        for offset, length, crc, exponent, min_time, max_time, start, stop in fields:
            chunk = data[offset - low : offset - low + length]
            stored = self._decode_bytes(chunk, offset, crc, np.int64, stop - start)
            times = unscale_times(stored, exponent, min_time)
            if int(times[0]) != min_time or int(times[-1]) != max_time:
                raise CorruptDataError(self.path, "block timestamps disagree with the footer", offset)
            out[start:stop] = times
        return out

    def _decode_whole_column(
        self, tables: FooterTables, c: int, data: bytes, low: int, starts: Any, timestamps: Any, string_codes: bool
    ) -> Column:
        a = tables.arrays
        kind = tables.kinds[c]
        dtype = NUMPY_DTYPES.get(kind)
        total = int(starts[-1])
        present = a["present"][c]
        words: list[str] = []
        codes = np.zeros(total if string_codes and kind == KIND_STRING else 0, dtype=np.int64)
        values: Any = codes if len(codes) else [""] * total if kind == KIND_STRING else np.zeros(total, dtype=dtype)
        sparse = bool(np.any(present.astype(np.int64) < a["rows"]))
        mask = np.zeros(total, dtype=np.bool_) if sparse else None
        blocks = np.flatnonzero(a["flags"][c] & HAS_VALUES)
        if kind in (KIND_FLOAT, KIND_INTEGER) and not sparse and len(blocks) == len(a["rows"]):
            offsets, lengths, crcs = a["values_offset"][c], a["values_length"][c], a["values_crc"][c]
            batched = self._decode_batch(data, low, offsets, lengths, crcs, present)
            if batched is not None and batched.dtype == dtype:
                return Column(kind, batched)
        fields = zip(
            blocks.tolist(), present[blocks].tolist(), a["flags"][c][blocks].tolist(),
            a["values_offset"][c][blocks].tolist(), a["values_length"][c][blocks].tolist(), a["values_crc"][c][blocks].tolist(),
            a["presence_offset"][c][blocks].tolist(), a["presence_length"][c][blocks].tolist(), a["presence_crc"][c][blocks].tolist(),
        )
        for b, count, flags, v_offset, v_length, v_crc, p_offset, p_length, p_crc in fields:
            start, stop = int(starts[b]), int(starts[b + 1])
            block_mask = None
            if flags & HAS_PRESENCE:
                chunk = data[p_offset - low : p_offset - low + p_length]
                block_mask = self._decode_bytes(chunk, p_offset, p_crc, np.bool_, stop - start)
                if int(np.count_nonzero(block_mask)) != count:
                    raise CorruptDataError(self.path, "presence bitmap disagrees with the footer", p_offset)
            times = None
            if kind == KIND_INTEGER:
                times = timestamps[start:stop] if block_mask is None else timestamps[start:stop][block_mask]
            chunk = data[v_offset - low : v_offset - low + v_length]
            if len(codes):  # values is `codes`: the block's positions, past the words of earlier blocks
                block_words, decoded = self._decode_codes(chunk, v_offset, v_crc, count)
                decoded = decoded + len(words)
                words += block_words
            else:
                decoded = self._decode_bytes(chunk, v_offset, v_crc, dtype, count, times)
            if block_mask is None:
                values[start:stop] = decoded
                if mask is not None:
                    mask[start:stop] = True
            elif isinstance(values, list):
                source = iter(decoded)
                values[start:stop] = [next(source) if keep else "" for keep in block_mask.tolist()]
            else:
                values[start:stop][block_mask] = decoded
            if block_mask is not None and mask is not None:
                mask[start:stop] = block_mask
        if len(codes):
            return Column(kind, StringCodes(words or [""], codes), mask)  # absent rows: code 0
        return Column(kind, values, mask)

    def _decode_codes(self, chunk: bytes, offset: int, crc: int, count: int) -> tuple[list[str], Any]:
        """A string chunk as codec.decode_string_codes gives it, checked like _decode_bytes."""
        if zlib.crc32(chunk) != crc:
            raise CorruptDataError(self.path, "chunk CRC mismatch", offset)
        try:
            words, codes = codec.decode_string_codes(chunk)
        except (CodecError, ValueError, IndexError, OverflowError) as error:
            raise CorruptDataError(self.path, f"chunk does not decode: {error}", offset) from None
        self.chunks_decoded += 1
        if len(codes) != count:
            raise CorruptDataError(self.path, f"chunk holds {len(codes)} values, the footer says {count}", offset)
        return words, codes

    def _decode_batch(self, data: bytes, low: int, offsets: Any, lengths: Any, crcs: Any, counts: Any) -> Any:
        """The values of these chunks decoded at once (numeric.decode_concatenated), each CRC
        checked; None when they are not all of one batchable codec."""
        chunks: list[bytes] = []
        for offset, length, crc in zip(offsets.tolist(), lengths.tolist(), crcs.tolist()):
            chunk = data[offset - low : offset - low + length]
            if zlib.crc32(chunk) != crc:
                raise CorruptDataError(self.path, "chunk CRC mismatch", offset)
            chunks.append(chunk)
        try:
            values = numeric.decode_concatenated(chunks, counts.tolist())
        except (CodecError, ValueError, IndexError, OverflowError) as error:
            raise CorruptDataError(self.path, f"chunk does not decode: {error}", int(offsets[0])) from None
        if values is None:
            return None
        self.chunks_decoded += len(chunks)
        return values

    def _kind_of(self, name: str) -> int | None:
        """The kind of a column in this segment; None when no series holds it."""
        kinds = self._kinds_cache
        if kinds is None:
            kinds = {}
            for column, kind in self._whole().columns:
                kinds.setdefault(column, kind)
            self._kinds_cache = kinds
        return kinds.get(name)

    @property
    def _kinds(self) -> dict[str, int]:
        self._kind_of("")
        assert self._kinds_cache is not None
        return self._kinds_cache

    # -- data --

    def read(
        self, series_id: int, columns: list[str] | None = None, start: int = TIME_MIN, end: int = TIME_MAX
    ) -> SeriesData | None:
        """Rows with start <= time < end, with the `columns` asked for (all when None; names the
        series lacks are left out). None when the series is absent or has no rows in range."""
        meta = self._series(series_id)
        if meta is None:
            return None
        names = _projection(meta, columns)
        lo, hi = _overlapping(meta, start, end)
        parts = [_filter(self._decode_block(meta, i, names), start, end) for i in range(lo, hi)]
        parts = [part for part in parts if len(part) > 0]
        if not parts:
            return None
        return _concat(meta, names, parts)

    def read_limit(
        self, series_id: int, columns: list[str] | None, start: int, end: int, limit: int, descending: bool
    ) -> SeriesData:
        """The first `limit` rows of [start, end), or the last `limit` when descending, in the order
        asked (newest first when descending). Decodes blocks from that end only as far as needed."""
        meta = self._series(series_id)
        if meta is None:
            return SeriesData(series_id, np.empty(0, dtype=np.int64), {})
        names = _projection(meta, columns)
        lo, hi = _overlapping(meta, start, end)
        order = range(hi - 1, lo - 1, -1) if descending else range(lo, hi)
        parts: list[SeriesData] = []
        found = 0
        for i in order:
            if found >= limit:
                break
            part = _filter(self._decode_block(meta, i, names), start, end)
            parts.append(part)
            found += len(part)
        if descending:
            parts.reverse()
        if not parts:
            return _empty(meta, names)
        rows = _concat(meta, names, parts)
        keep = max(0, min(limit, len(rows)))
        if descending:
            return rows.take(np.arange(len(rows) - 1, len(rows) - 1 - keep, -1, dtype=np.int64))
        return rows.slice(0, keep)

    def aggregate(self, series_id: int, column: str, start: int = TIME_MIN, end: int = TIME_MAX) -> Aggregate:
        """(count, sum, min, max) of a column's values in [start, end).

        Blocks wholly inside the range are answered from the footer; only edge blocks (and
        blocks whose integer sum overflowed the header) are decoded. sum/min/max are None for
        strings and booleans and when count is 0; integer sums are exact Python ints; float
        min/max ignore NaN.
        """
        meta = self._series(series_id)
        if meta is None or column not in meta.columns:
            return 0, None, None, None
        kind = meta.columns[column]
        count = 0
        sums: list[Number] = []
        minima: list[Number] = []
        maxima: list[Number] = []
        lo, hi = _overlapping(meta, start, end)
        for i in range(lo, hi):
            block = meta.blocks[i]
            entry = block.columns[column]
            if entry.present == 0:
                continue
            inside = start <= block.min_time and block.max_time < end
            if inside and entry.sum_exact:
                count += entry.present
                if entry.min is not None and entry.max is not None and entry.sum is not None:
                    sums.append(entry.sum)
                    minima.append(entry.min)
                    maxima.append(entry.max)
                continue
            values = _present_values(_filter(self._decode_block(meta, i, [column]), start, end).columns[column])
            count += len(values)
            if kind in STATS and len(values) > 0:
                low, high, total, _ = numeric_stats(kind, values)
                sums.append(total)
                minima.append(low)
                maxima.append(high)
        if count == 0 or kind not in STATS:
            return count, None, None, None
        return count, sum(sums), combine_min(minima, kind), combine_max(maxima, kind)

    # -- decoding --

    def _decode_block(self, meta: SeriesMeta, index: int, names: list[str]) -> SeriesData:
        block = meta.blocks[index]
        refs = [block.timestamps]
        for name in names:
            entry = block.columns[name]
            refs.extend(ref for ref in (entry.presence, entry.values) if ref is not None)
        data = self._read_chunks(refs)
        stored = self._decode_chunk(data, block.timestamps, np.int64, block.rows)
        timestamps = unscale_times(stored, block.time_exponent, block.min_time)
        if int(timestamps[0]) != block.min_time or int(timestamps[-1]) != block.max_time:
            raise CorruptDataError(self.path, "block timestamps disagree with the footer", block.offset)
        columns: dict[str, Column] = {}
        for name in names:
            columns[name] = self._decode_column(data, meta.columns[name], block.columns[name], timestamps)
        self.blocks_decoded += 1
        return SeriesData(meta.series_id, timestamps, columns)

    def _read_chunks(self, refs: list[ChunkRef]) -> dict[int, bytes]:
        """The bytes of each chunk by offset, adjacent chunks read with one pread."""
        out: dict[int, bytes] = {}
        i = 0
        while i < len(refs):
            j = i + 1
            while j < len(refs) and refs[j].offset == refs[j - 1].offset + refs[j - 1].length:
                j += 1
            span = self._pread(refs[i].offset, refs[j - 1].offset + refs[j - 1].length - refs[i].offset)
            for ref in refs[i:j]:
                out[ref.offset] = span[ref.offset - refs[i].offset : ref.offset - refs[i].offset + ref.length]
            i = j
        return out

    def _decode_chunk(self, data: dict[int, bytes], ref: ChunkRef, dtype: Any, count: int, times: Any = None) -> Any:
        """The values of one chunk, checked for CRC, type (dtype None: strings) and count.
        `times`: the timestamps of the rows the values belong to (for chunks relative to them)."""
        return self._decode_bytes(data[ref.offset], ref.offset, ref.crc, dtype, count, times)

    def _decode_bytes(self, chunk: bytes, offset: int, crc: int, dtype: Any, count: int, times: Any = None) -> Any:
        if zlib.crc32(chunk) != crc:
            raise CorruptDataError(self.path, "chunk CRC mismatch", offset)
        try:
            if times is not None:
                values = codec.decode_with_reference(chunk, times)
            else:
                values = codec.decode_column(chunk)
        except (CodecError, ValueError, IndexError, OverflowError) as error:
            raise CorruptDataError(self.path, f"chunk does not decode: {error}", offset) from None
        self.chunks_decoded += 1
        if dtype is None:
            right_type = isinstance(values, list)
        else:
            right_type = isinstance(values, np.ndarray) and values.dtype == dtype
        if not right_type or len(values) != count:
            raise CorruptDataError(self.path, f"chunk holds {len(values)} values of the wrong kind or count", offset)
        return values

    def _decode_column(self, data: dict[int, bytes], kind: int, entry: ColumnBlockMeta, timestamps: Any) -> Column:
        dtype = NUMPY_DTYPES.get(kind)
        rows = len(timestamps)
        if entry.values is None:
            empty: Any = [""] * rows if kind == KIND_STRING else np.zeros(rows, dtype=dtype)
            return Column(kind, empty, np.zeros(rows, dtype=np.bool_))
        if entry.presence is None:
            times = timestamps if kind == KIND_INTEGER else None
            return Column(kind, self._decode_chunk(data, entry.values, dtype, entry.present, times))
        mask = self._decode_chunk(data, entry.presence, np.bool_, rows)
        if int(np.count_nonzero(mask)) != entry.present:
            raise CorruptDataError(self.path, "presence bitmap disagrees with the footer", entry.presence.offset)
        times = timestamps[mask] if kind == KIND_INTEGER else None
        values = self._decode_chunk(data, entry.values, dtype, entry.present, times)
        if kind == KIND_STRING:
            source = iter(values)
            return Column(kind, [next(source) if keep else "" for keep in mask.tolist()], mask)
        full = np.zeros(rows, dtype=dtype)
        full[mask] = values
        return Column(kind, full, mask)


def _absent_column(kind: int, rows: int) -> Column:
    values: Any = [""] * rows if kind == KIND_STRING else np.zeros(rows, dtype=NUMPY_DTYPES[kind])
    return Column(kind, values, np.zeros(rows, dtype=np.bool_))


def _column_totals(tables: FooterTables, c: int) -> ColumnTotals:
    """Per-series totals of column `c` of the footer arrays, reduced over each series' blocks."""
    a = tables.arrays
    kind = tables.kinds[c]
    totals = ColumnTotals(kind, len(a["series_id"]))
    if len(a["rows"]) == 0:
        return totals
    starts = a["first_block"][:-1]
    present = a["present"][c].astype(np.int64)
    totals.present[:] = np.add.reduceat(present, starts)
    if kind not in STATS:
        return totals
    has = present > 0
    held = totals.present > 0
    minima, maxima, sums = tables.stats("min", c), tables.stats("max", c), tables.stats("sum", c)
    if kind == KIND_FLOAT:
        with np.errstate(invalid="ignore"):  # inf + -inf sums to NaN, as numpy's sum does
            totals.total[held] = np.add.reduceat(np.where(has, sums, 0.0), starts)[held]
        totals.minimum[held] = np.fmin.reduceat(np.where(has, minima, np.nan), starts)[held]
        totals.maximum[held] = np.fmax.reduceat(np.where(has, maxima, np.nan), starts)[held]
        return totals
    info = np.iinfo(minima.dtype)
    totals.minimum[held] = np.minimum.reduceat(np.where(has, minima, info.max), starts)[held]
    totals.maximum[held] = np.maximum.reduceat(np.where(has, maxima, info.min), starts)[held]
    inexact = has & ((a["flags"][c] & SUM_EXACT) == 0)
    totals.sum_ok[:] = np.add.reduceat(inexact.astype(np.int64), starts) == 0
    block_sums = np.where(has, sums, 0).astype(minima.dtype)
    with np.errstate(over="ignore"):
        wrapped = np.add.reduceat(block_sums, starts)
    estimate = np.add.reduceat(block_sums.astype(np.float64), starts)
    totals.total[:] = wrapped
    low, high = INT_LIMITS.get(kind, (-(2**63), 2**63 - 1))
    bounds = a["first_block"].tolist()
    for position in np.flatnonzero(np.abs(estimate) >= 2.0**62).tolist():
        # Near or past the type's limits, the wrapped sum is not to be trusted: add exactly.
        exact = sum(int(part) for part in block_sums[bounds[position] : bounds[position + 1]].tolist())
        if low <= exact <= high:
            totals.total[position] = exact
        else:
            totals.sum_ok[position] = False
    totals.total[~totals.sum_ok] = 0
    return totals


def _projection(meta: SeriesMeta, columns: list[str] | None) -> list[str]:
    if columns is None:
        return list(meta.columns)
    return [name for name in dict.fromkeys(columns) if name in meta.columns]


def _overlapping(meta: SeriesMeta, start: int, end: int) -> tuple[int, int]:
    """The block index range [lo, hi) whose time ranges meet [start, end)."""
    if start >= end:
        return 0, 0
    lo = bisect.bisect_left(meta.block_max_times, start)
    hi = bisect.bisect_left(meta.block_min_times, end)
    return lo, max(lo, hi)


def _filter(data: SeriesData, start: int, end: int) -> SeriesData:
    first = int(np.searchsorted(data.timestamps, start, "left")) if start > int(data.timestamps[0]) else 0
    stop = len(data) if end > int(data.timestamps[-1]) else int(np.searchsorted(data.timestamps, end, "left"))
    return data if (first, stop) == (0, len(data)) else data.slice(first, stop)


def _present_values(column: Column) -> Any:
    if column.present is None:
        return column.values
    if column.kind == KIND_STRING:
        return [value for value, keep in zip(column.values, column.present.tolist()) if keep]
    return column.values[column.present]


def _empty(meta: SeriesMeta, names: list[str]) -> SeriesData:
    columns: dict[str, Column] = {}
    for name in names:
        kind = meta.columns[name]
        columns[name] = Column(kind, [] if kind == KIND_STRING else np.empty(0, dtype=NUMPY_DTYPES[kind]))
    return SeriesData(meta.series_id, np.empty(0, dtype=np.int64), columns)


def _concat(meta: SeriesMeta, names: list[str], parts: list[SeriesData]) -> SeriesData:
    if len(parts) == 1:
        return parts[0]
    timestamps = np.concatenate([part.timestamps for part in parts])
    columns: dict[str, Column] = {}
    for name in names:
        pieces = [part.columns[name] for part in parts]
        kind = meta.columns[name]
        values = joined_values(kind, [piece.values for piece in pieces])
        present = None
        if any(piece.present is not None for piece in pieces):
            present = np.concatenate(
                [np.ones(len(piece), dtype=np.bool_) if piece.present is None else piece.present for piece in pieces]
            )
        columns[name] = Column(kind, values, present)
    return SeriesData(meta.series_id, timestamps, columns)
