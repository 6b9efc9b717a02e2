"""In-memory columnar data of one series: what the memtable holds, segments store and scans return.

Kinds are the field kinds of rusts.api.line_protocol (0 float, 1 integer,
2 unsigned, 3 string, 4 boolean). Values are numpy arrays (float64, int64,
uint64, bool) or, for strings, list[str]; `present` marks the rows that carry
the field, None meaning all of them. Rows are aligned with `timestamps`.
"""

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rusts.core.hashing import series_key

# Re-exported: the storage modules take the kinds from here.
from rusts.core.kinds import KIND_BOOLEAN as KIND_BOOLEAN
from rusts.core.kinds import KIND_FLOAT as KIND_FLOAT
from rusts.core.kinds import KIND_INTEGER as KIND_INTEGER
from rusts.core.kinds import KIND_NAMES as KIND_NAMES
from rusts.core.kinds import KIND_STRING as KIND_STRING
from rusts.core.kinds import KIND_UNSIGNED as KIND_UNSIGNED
from rusts.core.kinds import NUMPY_DTYPES as NUMPY_DTYPES


class StringCodes:
    """A string column as its distinct strings and each row's position among them, without a
    Python str per row: how a segment's dictionary blocks decode for an export (which hands them
    to Arrow), and how a direct import's dictionary columns (Parquet's) go through the memtable to
    the segment writer (which encodes the codes). Slices and takes like a list of the strings;
    strings() makes that list. The memtable gives readers lists (MemTable.read)."""

    __slots__ = ("words", "codes")

    def __init__(self, words: list[str], codes: NDArray[np.int64]) -> None:
        self.words = words
        self.codes = codes

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, index: Any) -> "StringCodes":
        """The rows a slice or an index array selects (a single row is not asked for)."""
        return StringCodes(self.words, self.codes[index])

    def strings(self) -> list[str]:
        if len(self.codes) == 0:
            return []
        return np.array(self.words, dtype=object)[self.codes].tolist()  # type: ignore[no-any-return]


def string_list(values: Any) -> Any:
    """A string column's values as a list (StringCodes made into their strings); other values as they are."""
    return values.strings() if isinstance(values, StringCodes) else values


def joined_values(kind: int, parts: list[Any]) -> Any:
    """Pieces of one column's values end to end: one array; for strings one StringCodes when every
    piece is one (and their words do not outnumber the rows), else one list (joined with
    list.extend, a C loop ten times faster than a comprehension over an import's strings)."""
    if kind != KIND_STRING:
        return np.concatenate(parts)
    if parts and all(isinstance(part, StringCodes) for part in parts):
        coded = joined_codes(parts)
        if len(coded.words) <= len(coded):  # else strings of high cardinality: cheaper as a list
            return coded
    joined: list[Any] = []
    for part in parts:
        joined.extend(string_list(part))
    return joined


def joined_codes(parts: list[Any]) -> StringCodes:
    """Pieces of a string column (StringCodes, or lists: a list is its own words) as one
    StringCodes, each distinct words list joined once."""
    words: list[str] = []
    offsets: dict[int, int] = {}  # id of a piece's words list -> where it starts in `words`
    codes: list[NDArray[np.int64]] = []
    for part in parts:
        if not isinstance(part, StringCodes):
            part = StringCodes(part, np.arange(len(part), dtype=np.int64))
        start = offsets.get(id(part.words))
        if start is None:
            start = offsets[id(part.words)] = len(words)
            words += part.words
        codes.append(part.codes + start)
    return StringCodes(words, np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64))


class Column:
    """One field of one series: kind, values and presence, aligned with the series' timestamps."""

    __slots__ = ("kind", "values", "present")

    def __init__(self, kind: int, values: Any, present: NDArray[np.bool_] | None = None) -> None:
        self.kind = kind
        self.values = values
        self.present = present

    def __len__(self) -> int:
        return len(self.values)

    def take(self, index: NDArray[np.int64]) -> "Column":
        """The rows at `index`, in that order."""
        if isinstance(self.values, StringCodes):
            values: Any = self.values[index]
        elif self.kind == KIND_STRING:
            values = [self.values[i] for i in index.tolist()]
        else:
            values = self.values[index]
        present = None if self.present is None else self.present[index]
        if present is not None and bool(present.all()):
            present = None
        return Column(self.kind, values, present)

    def slice(self, start: int, stop: int) -> "Column":
        present = None if self.present is None else self.present[start:stop]
        if present is not None and bool(present.all()):
            present = None
        return Column(self.kind, self.values[start:stop], present)

    def present_count(self) -> int:
        return len(self.values) if self.present is None else int(self.present.sum())


class SeriesData:
    """Rows of one series: timestamps and columns by field name, aligned row for row."""

    __slots__ = ("series_id", "timestamps", "columns")

    def __init__(self, series_id: int, timestamps: NDArray[np.int64], columns: dict[str, Column]) -> None:
        self.series_id = series_id
        self.timestamps = timestamps
        self.columns = columns

    def __len__(self) -> int:
        return len(self.timestamps)

    def take(self, index: NDArray[np.int64]) -> "SeriesData":
        return SeriesData(
            self.series_id, self.timestamps[index], {name: column.take(index) for name, column in self.columns.items()}
        )

    def slice(self, start: int, stop: int) -> "SeriesData":
        return SeriesData(
            self.series_id,
            self.timestamps[start:stop],
            {name: column.slice(start, stop) for name, column in self.columns.items()},
        )

    def project(self, names: list[str] | None) -> "SeriesData":
        """The same rows with only the fields in `names` (all of them when None); rows stay even
        where none of those fields is present."""
        if names is None:
            return self
        return SeriesData(self.series_id, self.timestamps, {n: c for n, c in self.columns.items() if n in names})


class WriteBatch:
    """Rows of one series for StorageEngine.write_batches, given as columns (no line protocol).

    It carries what the line-protocol parser's batches carry, so one path checks and stores
    both: measurement, tags (sorted here by key), the canonical series key, timestamps in
    nanoseconds (any order; duplicates resolve as in a line-protocol write, the last row wins
    per field) and the fields as Columns aligned with them. `lines` numbers the rows for error
    messages (1-based, across one write_batches call; the engine fills it in). The engine keeps
    references to the arrays: a caller must not change them afterwards.
    """

    __slots__ = ("measurement", "tags", "key", "timestamps", "lines", "columns")

    def __init__(
        self, measurement: str, tags: list[tuple[str, str]], timestamps: NDArray[np.int64], columns: dict[str, Column]
    ) -> None:
        self.measurement = measurement
        self.tags = sorted(tags)
        self.key = series_key(measurement, self.tags)
        self.timestamps = timestamps
        self.lines: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self.columns = columns

    def __len__(self) -> int:
        return len(self.timestamps)

    def sorted_tags(self) -> list[tuple[str, str]]:
        """The tags, sorted by key (as a parser's SeriesBatch answers)."""
        return self.tags


class RowsTable:
    """A write of many series as one table, the way a parse worker's fast path lays it out: per
    series its key and row count (`keys`, `rows`; a series' rows are contiguous, series in the
    order their first line came), per row its time, and per field one column over every row
    (`fields`: name -> (kind, values), values a numpy array or a list of str). Every row carries
    every field and the write holds one measurement, so the engine can check and store it without
    a per-series object (StorageEngine.write_line_protocol). `batches()` gives the same write as
    the parser's per-series batches, for a write the table path does not take."""

    __slots__ = ("measurement", "keys", "rows", "times", "fields", "batches")

    def __init__(
        self,
        measurement: str,
        keys: list[str],
        rows: NDArray[np.int64],
        times: NDArray[np.int64],
        fields: dict[str, tuple[int, Any]],
        batches: Callable[[], tuple[list[Any], list[Any]]],
    ) -> None:
        self.measurement = measurement
        self.keys = keys
        self.rows = rows
        self.times = times
        self.fields = fields
        self.batches = batches

    def __len__(self) -> int:
        return len(self.times)
