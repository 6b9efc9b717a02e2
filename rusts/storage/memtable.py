"""The in-memory write buffer: per-series columnar chunks, merged on read and on flush.

A write appends one SeriesData chunk per series (numpy arrays straight from
the line-protocol batch, no per-point objects). Reading a series, or
flushing it, concatenates its chunks, orders rows by time and resolves
duplicate timestamps: the last write wins per field, so a later point that
carries only some fields overwrites just those (InfluxDB's rule).

A write of many series with a row or two each (write_rows, from a parse
worker's table) is kept whole until FOLD_ROWS rows of such writes are pending,
then folded into the series buffers at once; every read, and every other
write, folds first, so nothing sees the buffers without the writes before it.

The engine keeps one mutable MemTable and hands full ones to the flusher as
immutable; the flush triggers are size, point count and age.
"""

import threading
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rusts.storage.columns import KIND_STRING, NUMPY_DTYPES, Column, SeriesData, StringCodes, joined_values, string_list

# Per-row bookkeeping on top of the values themselves (timestamp + chunk overhead).
_ROW_OVERHEAD_BYTES = 16
_STRING_OVERHEAD_BYTES = 56
_STRING_SAMPLE = 128


def data_bytes(data: SeriesData) -> int:
    """An estimate of the memory a chunk holds."""
    total = len(data.timestamps) * _ROW_OVERHEAD_BYTES
    for column in data.columns.values():
        total += _values_bytes(column.kind, column.values)
        if column.present is not None:
            total += column.present.nbytes
    return total


def _values_bytes(kind: int, values: Any) -> int:
    if isinstance(values, StringCodes):
        # The codes, and the words at most once per row (one chunk's words list is shared by its series).
        words = values.words[: len(values)]
        return int(values.codes.nbytes) + _string_bytes(words) + _STRING_OVERHEAD_BYTES * len(words)
    if kind == KIND_STRING:
        return _string_bytes(values) + _STRING_OVERHEAD_BYTES * len(values)
    size: int = values.nbytes
    return size


def _string_bytes(values: list[str]) -> int:
    """The characters of `values`, counted on at most ~_STRING_SAMPLE of them when there are many
    (an import's chunks hold hundreds of thousands of strings, and the count is an estimate)."""
    count = len(values)
    if count <= 2 * _STRING_SAMPLE:
        return sum(map(len, values))  # map: C loop, 3x a generator
    sample = values[:: count // _STRING_SAMPLE]
    return sum(map(len, sample)) * count // len(sample)


def concat(parts: list[SeriesData]) -> SeriesData:
    """Rows of several chunks of one series, in order; fields missing in a chunk become absent."""
    if len(parts) == 1:
        return parts[0]
    sizes = [len(part) for part in parts]
    total = sum(sizes)
    names: dict[str, int] = {}
    for part in parts:
        for name, column in part.columns.items():
            names.setdefault(name, column.kind)
    columns: dict[str, Column] = {}
    for name, kind in names.items():
        pieces = [part.columns.get(name) for part in parts]
        if all(piece is not None and piece.present is None for piece in pieces):
            # Every chunk carries the field on every row (the usual case): one join, no mask.
            columns[name] = Column(kind, joined_values(kind, [piece.values for piece in pieces if piece is not None]))
            continue
        present = np.zeros(total, dtype=np.bool_)
        values: Any = [""] * total if kind == KIND_STRING else np.zeros(total, dtype=NUMPY_DTYPES[kind])
        offset = 0
        for piece, size in zip(pieces, sizes):
            if piece is not None:
                values[offset : offset + size] = string_list(piece.values)
                present[offset : offset + size] = True if piece.present is None else piece.present
            offset += size
        columns[name] = Column(kind, values, None if bool(present.all()) else present)
    return SeriesData(parts[0].series_id, np.concatenate([part.timestamps for part in parts]), columns)


def resolve(data: SeriesData) -> SeriesData:
    """Rows sorted by time with one row per timestamp: per field, the last written value wins."""
    timestamps = data.timestamps
    if len(timestamps) < 2:
        return data
    ordered = bool((timestamps[1:] > timestamps[:-1]).all())
    if ordered:
        return data
    order = np.argsort(timestamps, kind="stable")
    sorted_ts = timestamps[order]
    is_first = np.empty(len(sorted_ts), dtype=np.bool_)
    is_first[0] = True
    np.not_equal(sorted_ts[1:], sorted_ts[:-1], out=is_first[1:])
    if bool(is_first.all()):
        return data.take(order)
    group = np.cumsum(is_first) - 1
    groups = int(group[-1]) + 1
    columns: dict[str, Column] = {}
    for name, column in data.columns.items():
        columns[name] = _last_per_group(column, order, group, groups)
    return SeriesData(data.series_id, sorted_ts[is_first], columns)


def _last_per_group(column: Column, order: NDArray[np.int64], group: NDArray[np.int64], groups: int) -> Column:
    """For each timestamp group, the value of its last row (in write order) that carries the field."""
    present = np.ones(len(order), dtype=np.bool_) if column.present is None else column.present[order]
    rows = np.flatnonzero(present)
    # Reversed, np.unique's first index of each group is the group's last present row.
    reversed_rows = rows[::-1]
    found_groups, first_in_reversed = np.unique(group[reversed_rows], return_index=True)
    source = order[reversed_rows[first_in_reversed]]
    carried = np.zeros(groups, dtype=np.bool_)
    carried[found_groups] = True
    if column.kind == KIND_STRING:
        strings = [""] * groups
        listed = string_list(column.values)
        for target, row in zip(found_groups.tolist(), source.tolist()):
            strings[target] = listed[row]
        values: Any = strings
    else:
        values = np.zeros(groups, dtype=column.values.dtype)
        values[found_groups] = column.values[source]
    return Column(column.kind, values, None if bool(carried.all()) else carried)


# Chunks a series keeps before a read joins them all (SeriesBuffer.overlapping).
MAX_CHUNKS_KEPT = 64
# A write of many series adds a chunk of a row or two to each, and a chunk's objects (its
# SeriesData, dict, one Column and one array view per field) weigh some 2 KB against its 100
# bytes of values. So once a series holds JOIN_CHUNKS chunks, its newest chunks of fewer than
# SMALL_CHUNK_ROWS rows are joined into one, in write order (nothing is resolved: later rows
# still win at a read or the flush): a row is copied a few times at most, and large chunks
# (bulk writes) are never copied.
JOIN_CHUNKS = 16
SMALL_CHUNK_ROWS = 64


class SeriesBuffer:
    """The chunks of one series in a memtable."""

    __slots__ = ("series_id", "chunks", "bounds", "rows", "min_time", "max_time")

    def __init__(self, series_id: int) -> None:
        self.series_id = series_id
        self.chunks: list[SeriesData] = []
        self.bounds: list[tuple[int, int]] = []  # (min, max) time of each chunk
        self.rows = 0
        self.min_time = 2**63 - 1
        self.max_time = -(2**63)

    def append(self, data: SeriesData) -> None:
        stamps = data.timestamps
        if len(stamps) <= 8:  # a few rows (many series per write): Python's min/max beat two numpy calls
            listed = stamps.tolist()
            low, high = min(listed), max(listed)
        else:
            low, high = int(stamps.min()), int(stamps.max())
        self.chunks.append(data)
        self.bounds.append((low, high))
        self.rows += len(data)
        self.min_time = min(self.min_time, low)
        self.max_time = max(self.max_time, high)
        if len(self.chunks) >= JOIN_CHUNKS:
            self._join_small_tail()

    def _join_small_tail(self) -> None:
        first = len(self.chunks)
        while first > 0 and len(self.chunks[first - 1]) < SMALL_CHUNK_ROWS:
            first -= 1
        if len(self.chunks) - first < 2:
            return
        tail = self.bounds[first:]
        self.chunks[first:] = [concat(self.chunks[first:])]
        self.bounds[first:] = [(min(low for low, _ in tail), max(high for _, high in tail))]

    def snapshot(self) -> SeriesData:
        """All rows, sorted by time and deduplicated; compacts the chunks into one."""
        merged = resolve(concat(self.chunks))
        self.chunks = [merged]
        self.bounds = [(self.min_time, self.max_time)]
        return merged

    def overlapping(self, start: int, end: int, columns: list[str] | None = None) -> SeriesData | None:
        """Rows in [start, end) resolved from only the chunks whose times reach into it (later chunks
        still win), with only the fields in `columns` (all when None); None when no chunk reaches in.
        A read of the newest minutes of a long-lived series (a continuous aggregate's refresh) then
        joins the rows it needs of the chunks it needs, and only the fields it reads."""
        if len(self.chunks) > MAX_CHUNKS_KEPT:
            return self.snapshot().project(columns)  # many small writes: join them once, so this loop stays short
        parts = [chunk for chunk, (low, high) in zip(self.chunks, self.bounds) if high >= start and low < end]
        if not parts:
            return None
        if len(parts) == len(self.chunks) and (columns is None or len(parts) == 1):
            # A read of everything joins the chunks for good: the flush needs that join anyway.
            return self.snapshot().project(columns)
        # Rows outside the range, and other fields, never meet the ones read: duplicates resolve
        # per field and by time alone.
        return resolve(concat([_within(part.project(columns), start, end) for part in parts]))


def _listed(data: SeriesData) -> SeriesData:
    """The rows with string columns as lists, as readers of the memtable get them (StringCodes
    stay inside, for the flush)."""
    if not any(isinstance(column.values, StringCodes) for column in data.columns.values()):
        return data
    columns = {name: Column(c.kind, string_list(c.values), c.present) for name, c in data.columns.items()}
    return SeriesData(data.series_id, data.timestamps, columns)


def _within(data: SeriesData, start: int, end: int) -> SeriesData:
    """The rows of a chunk (in write order, not necessarily sorted) with times in [start, end)."""
    inside = (data.timestamps >= start) & (data.timestamps < end)
    return data if bool(inside.all()) else data.take(np.flatnonzero(inside))


# Rows of many-series writes (MemTable.write_rows) kept as whole tables until this many are
# pending, then sorted into the series buffers at once (MemTable._fold).
FOLD_ROWS = 65_536


class _Staged:
    """A many-series write waiting to be folded: per row its series id and time, per field one column."""

    __slots__ = ("series", "times", "fields")

    def __init__(self, series: NDArray[np.uint64], times: NDArray[np.int64], fields: dict[str, tuple[int, Any]]) -> None:
        self.series = series
        self.times = times
        self.fields = fields


class MemTable:
    """Series buffers plus the counters the flush triggers read. Thread-safe.

    Writes of many series with a row or two each (write_rows) are not split per series when they
    arrive: they wait as whole tables, up to FOLD_ROWS rows, and are folded into the buffers in one
    pass (one stable sort by series, one gather per field, one chunk per series), before anything
    reads the buffers and before any other write, so every reader sees every write in order.
    """

    def __init__(self, now: float | None = None) -> None:
        self._series: dict[int, SeriesBuffer] = {}
        self._staged: list[_Staged] = []
        self._staged_rows = 0
        self.points = 0
        self.bytes = 0
        self.created = time.monotonic() if now is None else now
        self.first_sequence = 0
        self.last_sequence = 0
        self._lock = threading.Lock()

    @property
    def series(self) -> dict[int, SeriesBuffer]:
        """The series buffers (pending many-series writes folded in first)."""
        with self._lock:
            self._fold()
            return self._series

    def write(self, batches: list[SeriesData], sequence: int) -> None:
        """Append a write's chunks; `sequence` is its WAL sequence number (0 when there is no WAL)."""
        added_points = 0
        added_bytes = 0
        for data in batches:
            added_points += len(data)
            added_bytes += data_bytes(data)
        with self._lock:
            self._fold()
            for data in batches:
                buffer = self._series.get(data.series_id)
                if buffer is None:
                    buffer = SeriesBuffer(data.series_id)
                    self._series[data.series_id] = buffer
                buffer.append(data)
            self._count(added_points, added_bytes, sequence)

    def write_rows(self, series: NDArray[np.uint64], times: NDArray[np.int64], fields: dict[str, tuple[int, Any]], sequence: int) -> None:
        """Append a write given as one table: per row its series id and time, per field (name ->
        (kind, values)) one column that every row carries; rows of one series in write order."""
        added_bytes = len(times) * _ROW_OVERHEAD_BYTES + sum(_values_bytes(kind, values) for kind, values in fields.values())
        with self._lock:
            self._staged.append(_Staged(series, times, fields))
            self._staged_rows += len(times)
            if self._staged_rows >= FOLD_ROWS:
                self._fold()
            self._count(len(times), added_bytes, sequence)

    def _count(self, points: int, size: int, sequence: int) -> None:
        self.points += points
        self.bytes += size
        if sequence:
            if not self.first_sequence:
                self.first_sequence = sequence
            self.last_sequence = max(self.last_sequence, sequence)

    def _fold(self) -> None:
        """Sort the pending table writes into the series buffers (the caller holds the lock)."""
        staged, self._staged, self._staged_rows = self._staged, [], 0
        if not staged:
            return
        series = np.concatenate([table.series for table in staged])
        order = np.argsort(series, kind="stable")  # stable: a series' rows stay in write order
        series = series[order]
        times = np.concatenate([table.times for table in staged])[order]
        columns: dict[str, tuple[int, Any, NDArray[np.bool_] | None]] = {}
        for name, kind in _field_kinds(staged).items():
            values, present = _joined_field(staged, name, kind)
            if kind == KIND_STRING:
                values = [values[i] for i in order.tolist()]
            else:
                values = values[order]
            columns[name] = (kind, values, None if present is None else present[order])
        starts = np.flatnonzero(np.concatenate(([True], series[1:] != series[:-1])))
        ends = np.append(starts[1:], len(series))
        carried: dict[str, NDArray[np.int64]] = {
            name: np.add.reduceat(present.astype(np.int64), starts) for name, (_, _, present) in columns.items() if present is not None
        }
        ids = series[starts].tolist()
        for at, (series_id, lo, hi) in enumerate(zip(ids, starts.tolist(), ends.tolist())):
            chunk: dict[str, Column] = {}
            for name, (kind, values, present) in columns.items():
                if present is None:
                    chunk[name] = Column(kind, values[lo:hi])
                    continue
                count = int(carried[name][at])
                if count:
                    chunk[name] = Column(kind, values[lo:hi], None if count == hi - lo else present[lo:hi])
            buffer = self._series.get(series_id)
            if buffer is None:
                buffer = self._series[series_id] = SeriesBuffer(series_id)
            buffer.append(SeriesData(series_id, times[lo:hi], chunk))

    def read(self, series_id: int, start: int, end: int, columns: list[str] | None = None) -> SeriesData | None:
        """The series' rows in [start, end), resolved, with only the fields in `columns` (all when
        None); None when it has none."""
        with self._lock:
            self._fold()
            buffer = self._series.get(series_id)
            if buffer is None or buffer.max_time < start or buffer.min_time >= end:
                return None
            data = buffer.overlapping(start, end, columns)
            if data is None:
                return None
        lo = int(np.searchsorted(data.timestamps, start, side="left"))
        hi = int(np.searchsorted(data.timestamps, end, side="left"))
        return _listed(data.slice(lo, hi)) if hi > lo else None

    def series_ids(self) -> list[int]:
        with self._lock:
            self._fold()
            return list(self._series)

    def is_empty(self) -> bool:
        return self.points == 0

    def should_flush(self, max_bytes: int, max_points: int, max_age_secs: float, now: float | None = None) -> bool:
        if self.points == 0:
            return False
        age = (time.monotonic() if now is None else now) - self.created
        return self.bytes > max_bytes or self.points > max_points or age > max_age_secs


def _field_kinds(staged: list[_Staged]) -> dict[str, int]:
    """Every field name of the pending tables with its kind (a name with two kinds is the caller's bug)."""
    kinds: dict[str, int] = {}
    for table in staged:
        for name, (kind, _) in table.fields.items():
            if kinds.setdefault(name, kind) != kind:
                raise AssertionError(f"BUG: field {name!r} staged as two kinds")
    return kinds


def _joined_field(staged: list[_Staged], name: str, kind: int) -> tuple[Any, NDArray[np.bool_] | None]:
    """One field's values over every pending row (zeros or "" where a table lacks it) and its
    presence (None when every table has it)."""
    if all(name in table.fields for table in staged):
        return joined_values(kind, [table.fields[name][1] for table in staged]), None
    values: list[Any] = []
    present: list[NDArray[np.bool_]] = []
    for table in staged:
        rows = len(table.times)
        field = table.fields.get(name)
        if kind == KIND_STRING:
            values.append([""] * rows if field is None else field[1])
        else:
            values.append(np.zeros(rows, dtype=NUMPY_DTYPES[kind]) if field is None else field[1])
        present.append(np.full(rows, field is not None, dtype=np.bool_))
    return joined_values(kind, values), np.concatenate(present)
