"""Columnar decoding of line-protocol rows, a layout at a time.

The scanner (rusts.api.line_protocol) locates, for each backslash-free line,
the byte range of every value in the body and files it under the line's
field layout (its keys in order). Here each column of a layout is decoded
for all its rows at once: the value bytes gathered with numpy into an Arrow
string array, checked and cast to the column's type in one call. Any
irregularity sends those rows back to the general scanner, which owns every
error message. Then the rows are split by series, merged with the series'
general rows in line order, and type conflicts resolved in line order.
This module is interpreted on purpose: it is a handful of large numpy and
pyarrow calls per layout, which mypyc cannot speed up.
"""

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from librt.vecs import vec
from mypy_extensions import i64
from numpy.typing import NDArray

from rusts.api.line_protocol import (
    MAX_STRING_BYTES,
    FastRows,
    FieldColumn,
    Layout,
    ParsedLine,
    SeriesBatch,
    SeriesRows,
    parse_line,
)
from rusts.core.errors import LineProtocolError
from rusts.core.kinds import (
    KIND_BOOLEAN,
    KIND_FLOAT,
    KIND_INTEGER,
    KIND_NAMES,
    KIND_STRING,
    KIND_UNSIGNED,
    NUMPY_DTYPES,
)
from rusts.core.types import Field, FieldType, FieldValue, Point, Tag

_QUOTE = 34
_LOWER_I = 105
_LOWER_U = 117
_MINUS = 45
_DOT = 46
_BOOLEAN_FIRST_BYTES = frozenset(b"tTfF")
_TRUE_WORDS = pa.array(["t", "T", "true", "True", "TRUE"])
_FALSE_WORDS = pa.array(["f", "F", "false", "False", "FALSE"])

# A column before it becomes a FieldColumn: kind, values, presence (None = all rows).
# A decoded column: values (numpy; object dtype for strings) and the rows
# that carry it (None = every row).
_Values = tuple[Any, NDArray[np.bool_] | None]
# Below this many rows a group that fails to decode goes to the general
# scanner; above it, it is split in two to find the bad rows.
_SPLIT_LIMIT = 64


class _Table:
    """Fast rows decoded as columns keyed by (field name, kind)."""

    def __init__(
        self,
        row_ids: NDArray[np.int64],
        series: NDArray[np.int64],
        times: NDArray[np.int64],
        lines: NDArray[np.int64],
        columns: dict[tuple[str, int], _Values],
    ) -> None:
        self.row_ids = row_ids
        self.series = series
        self.times = times
        self.lines = lines
        self.columns = columns


def _int64s(values: "vec[i64]") -> NDArray[np.int64]:
    """A vec's memory as a numpy array, without a copy."""
    return np.frombuffer(memoryview(values), dtype=np.int64)


class _FastContext:
    """The body's bytes and the fast rows' arrays, built once and shared by every layout decode."""

    def __init__(self, body: bytes, fast: FastRows) -> None:
        self.buf = np.frombuffer(body, dtype=np.uint8)
        self.fast = fast
        self.series = _int64s(fast.series)
        self.times = _int64s(fast.times)
        self.lines = _int64s(fast.lines)


def finalize(
    body: bytes, fast: FastRows, series: list[SeriesRows], multiplier: int, errors: list[LineProtocolError]
) -> list[SeriesBatch]:
    """Every series of a body as a SeriesBatch, rows in line order; bad rows become errors."""
    return split(decode(body, fast, series, multiplier, errors), fast, series, multiplier, errors)


def decode(
    body: bytes, fast: FastRows, series: list[SeriesRows], multiplier: int, errors: list[LineProtocolError]
) -> "_Table | None":
    """The fast rows decoded as one table (None when there are none); rows the decoding gives
    back join their series' general rows, bad ones become errors."""
    if not len(fast.times):
        return None
    context = _FastContext(body, fast)
    tables: list[_Table] = []
    for layout in fast.layouts.values():
        if len(layout.rows):
            tables.extend(_decode_layout(context, layout, series, multiplier, errors))
    return _concat(tables) if tables else None


def packed_table(table: "_Table | None", series: list[SeriesRows]) -> Any:
    """The batches `split` would make, in rusts.api.parse_pool's packed form, made straight from
    the table without one object per series and field; None when some series needs `split`
    (general rows, or a field name in two kinds). Read only: `split` can still follow."""
    if table is None or any(rows.general for rows in series):
        return None
    order = np.lexsort((table.lines, table.series))
    sorted_series = table.series[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_series[1:] != sorted_series[:-1])))
    lengths = np.diff(np.append(starts, len(order)))
    names = [name for name, _ in table.columns]
    if len(set(names)) < len(names):
        return None  # a field in two kinds: only split can tell whether one series has both
    columns: list[tuple[str, int, Any, Any]] = []
    carried_by: list[Any] = []  # per column: rows carried per series, or None (every row)
    for (name, kind), (values, present) in table.columns.items():
        values = values[order]
        if present is None:
            carried_by.append(None)
        else:
            present = present[order]
            counts = np.add.reduceat(present.astype(np.int64), starts)
            carried_by.append(counts)
            keep = np.repeat(counts > 0, lengths)
            if not bool(keep.all()):
                values, present = values[keep], present[keep]
        columns.append((name, kind, values.tolist() if kind == KIND_STRING else values, present))
    everywhere = [(number, False) for number in range(len(columns))]
    heads: list[Any] = []
    size_list = lengths.tolist()
    owners = sorted_series[starts].tolist()
    per_series: list[list[tuple[int, bool]]] | None = None
    if any(counts is not None for counts in carried_by):
        per_series = [[] for _ in owners]
        for number, counts in enumerate(carried_by):
            if counts is None:
                for refs in per_series:
                    refs.append((number, False))
                continue
            for index, (carried, rows) in enumerate(zip(counts.tolist(), size_list)):
                if carried:
                    per_series[index].append((number, carried < rows))
    # Keys only, no tags (SeriesBatch.sorted_tags reads them back), and one object per measurement
    # name, so the pickle refers back to it instead of repeating it per series.
    measurements: dict[str, str] = {}
    for index, (owner, rows) in enumerate(zip(owners, size_list)):
        info = series[owner]
        measurement = measurements.setdefault(info.measurement, info.measurement)
        heads.append((info.key, measurement, None, rows, everywhere if per_series is None else per_series[index]))
    return heads, table.times[order], table.lines[order], columns


def split(
    table: "_Table | None", fast: FastRows, series: list[SeriesRows], multiplier: int, errors: list[LineProtocolError]
) -> list[SeriesBatch]:
    """Every series as a SeriesBatch: its fast rows of `table` and its general rows, in line order."""
    batches: list[SeriesBatch] = []
    fast_parts = _split_by_series(table, series) if table is not None else {}
    for rows in series:
        part = fast_parts.get(rows.ordinal)
        batch = _series_batch(rows, part, fast, multiplier, errors)
        if batch is not None:
            batches.append(batch)
    return batches


def _series_batch(
    rows: SeriesRows,
    part: tuple[SeriesBatch | None, NDArray[np.int64]] | None,
    fast: FastRows,
    multiplier: int,
    errors: list[LineProtocolError],
) -> SeriesBatch | None:
    general = list(zip(rows.general_lines, rows.general))
    if part is None:
        # Rows the fast path gave back were appended after the scan: restore line order.
        general.sort(key=_entry_line)
        return _batch_from_general(rows, general, errors)
    fast_batch, row_ids = part
    if fast_batch is None:
        general.extend(_reparse(fast, row_ids.tolist(), multiplier, errors))
        general.sort(key=_entry_line)
        return _batch_from_general(rows, general, errors)
    if not general:
        return fast_batch
    fast_kinds = {name: column.kind for name, column in fast_batch.columns.items()}
    if _conflicts(general, fast_kinds):
        # Which line loses a type conflict depends on line order: redo the series in order.
        general.extend(_reparse(fast, row_ids.tolist(), multiplier, errors))
        general.sort(key=_entry_line)
        return _batch_from_general(rows, general, errors)
    general.sort(key=_entry_line)
    general_batch = _batch_from_general(rows, general, errors)
    assert general_batch is not None, "BUG: conflict-free general rows cannot all fail"
    return _merge(fast_batch, general_batch)


def _entry_line(entry: tuple[int, ParsedLine]) -> int:
    return entry[0]


def _reparse_row(fast: FastRows, r: int, multiplier: int, errors: list[LineProtocolError]) -> ParsedLine | None:
    """A fast row parsed again by the general scanner, which owns the error messages."""
    try:
        line = parse_line(fast.texts[r], fast.lines[r], multiplier)
    except LineProtocolError as exc:
        errors.append(exc)
        return None
    if not line.has_timestamp:
        line.timestamp = fast.times[r]
    return line


def _reparse(fast: FastRows, row_ids: list[int], multiplier: int, errors: list[LineProtocolError]) -> list[tuple[int, ParsedLine]]:
    parsed: list[tuple[int, ParsedLine]] = []
    for r in row_ids:
        line = _reparse_row(fast, r, multiplier, errors)
        if line is not None:
            parsed.append((fast.lines[r], line))
    return parsed


def _conflicts(general: list[tuple[int, ParsedLine]], kinds: dict[str, int]) -> bool:
    for _, line in general:
        for name, (kind, _) in line.fields.items():
            known = kinds.get(name)
            if known is not None and known != kind:
                return True
    return False


def _decode_layout(
    context: _FastContext, layout: Layout, series: list[SeriesRows], multiplier: int, errors: list[LineProtocolError]
) -> list[_Table]:
    """Decode the rows of one layout; rows that will not decode go to their series' general rows.

    A failing set of rows is halved until the halves decode or are small
    enough to hand, row by row, to the general scanner.
    """
    fast = context.fast
    row_ids = _int64s(layout.rows)
    values = _int64s(layout.values).reshape(len(row_ids), 2 * len(layout.keys))
    starts = [values[:, 2 * j] for j in range(len(layout.keys))]
    lengths = [values[:, 2 * j + 1] for j in range(len(layout.keys))]
    tables: list[_Table] = []
    pending = [np.arange(len(row_ids), dtype=np.int64)]
    while pending:
        picked = pending.pop()
        whole = len(picked) == len(row_ids)
        columns = _decode_columns(
            context.buf,
            layout.keys,
            [s if whole else s[picked] for s in starts],
            [n if whole else n[picked] for n in lengths],
        )
        if columns is not None:
            rows = row_ids if whole else row_ids[picked]
            tables.append(_Table(rows, context.series[rows], context.times[rows], context.lines[rows], columns))
        elif len(picked) > _SPLIT_LIMIT:
            half = len(picked) // 2
            pending.append(picked[:half])
            pending.append(picked[half:])
        else:
            for r in row_ids[picked].tolist():
                line = _reparse_row(fast, r, multiplier, errors)
                if line is not None:
                    owner = series[fast.series[r]]
                    owner.general.append(line)
                    owner.general_lines.append(fast.lines[r])
    return tables


def _concat(tables: list[_Table]) -> _Table:
    """One table from several, columns filled with presence masks where a table lacks them."""
    if len(tables) == 1:
        return tables[0]
    sizes = [len(t.row_ids) for t in tables]
    total = sum(sizes)
    offsets = np.cumsum([0] + sizes)
    columns: dict[tuple[str, int], _Values] = {}
    keys: list[tuple[str, int]] = []
    for t in tables:
        keys.extend(k for k in t.columns if k not in keys)
    for key in keys:
        kind = key[1]
        values = np.full(total, "", dtype=object) if kind == KIND_STRING else np.zeros(total, dtype=NUMPY_DTYPES[kind])
        present = np.zeros(total, dtype=np.bool_)
        for index, t in enumerate(tables):
            column = t.columns.get(key)
            if column is None:
                continue
            lo, hi = int(offsets[index]), int(offsets[index + 1])
            values[lo:hi] = column[0]
            present[lo:hi] = True if column[1] is None else column[1]
        columns[key] = (values, present)
    return _Table(
        np.concatenate([t.row_ids for t in tables]),
        np.concatenate([t.series for t in tables]),
        np.concatenate([t.times for t in tables]),
        np.concatenate([t.lines for t in tables]),
        columns,
    )


def _split_by_series(
    table: _Table, series: list[SeriesRows]
) -> dict[int, tuple[SeriesBatch | None, NDArray[np.int64]]]:
    """Per series ordinal: its fast rows as a SeriesBatch, and their fast row ids.

    The batch is None when one field of the series came in two types: only
    the general scanner, in line order, can say which line is wrong.
    """
    order = np.lexsort((table.lines, table.series))
    sorted_series = table.series[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_series[1:] != sorted_series[:-1])))
    ends = np.append(starts[1:], len(order))
    times = table.times[order]
    lines = table.lines[order]
    row_ids = table.row_ids[order]
    reordered: list[tuple[str, int, Any, Any, list[int] | None]] = []
    for (name, kind), (values, present) in table.columns.items():
        counts = None if present is None else np.add.reduceat(present[order].astype(np.int64), starts).tolist()
        reordered.append((name, kind, values[order], None if present is None else present[order], counts))
    parts: dict[int, tuple[SeriesBatch | None, NDArray[np.int64]]] = {}
    for index, (lo, hi) in enumerate(zip(starts.tolist(), ends.tolist())):
        columns: dict[str, FieldColumn] = {}
        conflict = False
        for name, kind, values, present, counts in reordered:
            carried = hi - lo if counts is None else counts[index]
            if carried == 0:
                continue
            if name in columns:
                conflict = True
                break
            column_values = values[lo:hi]
            if kind == KIND_STRING:
                column_values = column_values.tolist()
            mask = None if present is None or carried == hi - lo else present[lo:hi]
            columns[name] = FieldColumn(kind, column_values, mask)
        owner = series[int(sorted_series[lo])]
        if conflict:
            parts[owner.ordinal] = (None, row_ids[lo:hi])
            continue
        batch = SeriesBatch(owner.key, owner.measurement, owner.tags, times[lo:hi], lines[lo:hi], columns)
        parts[owner.ordinal] = (batch, row_ids[lo:hi])
    return parts


# ---------------------------------------------------------------------------
# Rows through the general scanner.


def _batch_from_general(
    rows: SeriesRows, entries: list[tuple[int, ParsedLine]], errors: list[LineProtocolError]
) -> SeriesBatch | None:
    """Build columns in line order; a field whose type differs from its first type rejects that line."""
    kinds: dict[str, int] = {}
    values: dict[str, list[object]] = {}
    positions: dict[str, list[int]] = {}
    times: list[int] = []
    lines: list[int] = []
    for lineno, line in entries:
        conflict = _first_conflict(line, kinds)
        if conflict:
            errors.append(LineProtocolError(lineno, 0, conflict.replace("{m}", rows.measurement)))
            continue
        row = len(times)
        for name, (kind, value) in line.fields.items():
            if name not in kinds:
                kinds[name] = kind
                values[name] = []
                positions[name] = []
            values[name].append(value)
            positions[name].append(row)
        times.append(line.timestamp)
        lines.append(lineno)
    if not times:
        return None
    count = len(times)
    columns: dict[str, FieldColumn] = {}
    for name, kind in kinds.items():
        columns[name] = _column_from_values(kind, values[name], positions[name], count)
    return SeriesBatch(
        rows.key,
        rows.measurement,
        rows.tags,
        np.array(times, dtype=np.int64),
        np.array(lines, dtype=np.int64),
        columns,
    )


def _first_conflict(line: ParsedLine, kinds: dict[str, int]) -> str:
    for name, (kind, _) in line.fields.items():
        known = kinds.get(name)
        if known is not None and known != kind:
            return (
                f"field type conflict: field {name!r} of measurement '{{m}}' is "
                f"{KIND_NAMES[known]} earlier in this batch, got {KIND_NAMES[kind]}"
            )
    return ""


def _column_from_values(kind: int, values: list[object], positions: list[int], count: int) -> FieldColumn:
    full = len(positions) == count
    present: NDArray[np.bool_] | None = None
    if not full:
        present = np.zeros(count, dtype=np.bool_)
        present[positions] = True
    if kind == KIND_STRING:
        if full:
            return FieldColumn(kind, values, None)
        strings = [""] * count
        for position, value in zip(positions, values):
            strings[position] = str(value)
        return FieldColumn(kind, strings, present)
    dtype = NUMPY_DTYPES[kind]
    if full:
        return FieldColumn(kind, np.array(values, dtype=dtype), None)
    array = np.zeros(count, dtype=dtype)
    array[positions] = np.array(values, dtype=dtype)
    return FieldColumn(kind, array, present)


# ---------------------------------------------------------------------------
# A group of fast rows with one field layout, decoded together.


def _ranges(buf: NDArray[np.uint8], starts: NDArray[np.int64], lengths: NDArray[np.int64]) -> NDArray[np.uint8]:
    """The bytes of buf[starts[i]:starts[i]+lengths[i]] for every i, concatenated."""
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.uint8)
    output_starts = np.cumsum(lengths) - lengths
    index = np.arange(total, dtype=np.int64) - np.repeat(output_starts - starts, lengths)
    return buf[index]


def _string_array(buf: NDArray[np.uint8], starts: NDArray[np.int64], lengths: NDArray[np.int64]) -> Any:
    """An Arrow string array of the given byte ranges (ASCII, so always valid UTF-8)."""
    offsets = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = _ranges(buf, starts, lengths)
    return pa.LargeStringArray.from_buffers(len(starts), pa.py_buffer(offsets), pa.py_buffer(data))


def _decode_columns(
    buf: NDArray[np.uint8], keys: list[str], starts: list[NDArray[np.int64]], lengths: list[NDArray[np.int64]]
) -> dict[tuple[str, int], _Values] | None:
    """Every column of a set of rows, keyed by (name, kind); None when any value is irregular."""
    columns: dict[tuple[str, int], _Values] = {}
    for key, column_starts, column_lengths in zip(keys, starts, lengths):
        decoded = _decode_column(buf, column_starts, column_lengths)
        if decoded is None:
            return None
        columns[(key, decoded[0])] = (decoded[1], None)
    return columns


def _decode_column(buf: NDArray[np.uint8], starts: NDArray[np.int64], lengths: NDArray[np.int64]) -> tuple[int, Any] | None:
    """Kind and values of one column of raw values; None unless all are valid and of one kind.

    The kind follows the first value: a quote opens a string, a trailing `i`
    or `u` marks an integer, t/T/f/F a boolean, anything else a float.
    """
    first = buf[starts]
    last = buf[starts + lengths - 1]
    lead = int(first[0])
    tail = int(last[0])
    if lead == _QUOTE:
        if not (bool((first == _QUOTE).all()) and bool((last == _QUOTE).all()) and bool((lengths >= 2).all())):
            return None
        if bool((lengths > MAX_STRING_BYTES + 2).any()):
            return None  # the general scanner names the line
        return (KIND_STRING, _string_array(buf, starts + 1, lengths - 2).to_numpy(zero_copy_only=False))
    if tail == _LOWER_I or tail == _LOWER_U:
        if not bool((last == tail).all()):
            return None
        kind = KIND_INTEGER if tail == _LOWER_I else KIND_UNSIGNED
        return _decode_integers(buf, starts, lengths - 1, first, kind)
    if lead in _BOOLEAN_FIRST_BYTES:
        return _decode_booleans(buf, starts, lengths)
    return _decode_floats(buf, starts, lengths, first)


def _decode_integers(
    buf: NDArray[np.uint8], starts: NDArray[np.int64], lengths: NDArray[np.int64], first: NDArray[np.uint8], kind: int
) -> tuple[int, Any] | None:
    # Line protocol integers are -?digits; Arrow's cast would also take a leading '+'.
    ok = ((first >= 48) & (first <= 57) & (lengths > 0)) | ((first == _MINUS) & (lengths > 1))
    if not bool(ok.all()):
        return None
    target = pa.int64() if kind == KIND_INTEGER else pa.uint64()
    try:
        values = _string_array(buf, starts, lengths).cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return (kind, values.to_numpy(zero_copy_only=False))


def _decode_booleans(buf: NDArray[np.uint8], starts: NDArray[np.int64], lengths: NDArray[np.int64]) -> tuple[int, Any] | None:
    words = _string_array(buf, starts, lengths)
    is_true = pc.is_in(words, value_set=_TRUE_WORDS).to_numpy(zero_copy_only=False)
    is_false = pc.is_in(words, value_set=_FALSE_WORDS).to_numpy(zero_copy_only=False)
    if not bool((is_true | is_false).all()):
        return None
    return (KIND_BOOLEAN, is_true.astype(np.bool_))


def _decode_floats(
    buf: NDArray[np.uint8], starts: NDArray[np.int64], lengths: NDArray[np.int64], first: NDArray[np.uint8]
) -> tuple[int, Any] | None:
    # Arrow also reads "nan", "inf" and "+1"; line protocol does not: the first
    # byte must be a digit or '.', or a '-' followed by a digit or '.', and
    # the result must be finite.
    second = buf[np.minimum(starts + 1, len(buf) - 1)]
    digit_or_dot = ((second >= 48) & (second <= 57)) | (second == _DOT)
    ok = ((first >= 48) & (first <= 57)) | (first == _DOT) | ((first == _MINUS) & digit_or_dot & (lengths > 1))
    if not bool(ok.all()):
        return None
    try:
        values = _string_array(buf, starts, lengths).cast(pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return (KIND_FLOAT, values) if bool(np.isfinite(values).all()) else None


# ---------------------------------------------------------------------------
# Fast and general rows of one series, merged in line order.


def _merge(fast: SeriesBatch, general: SeriesBatch) -> SeriesBatch:
    fast_count = len(fast.timestamps)
    total = fast_count + len(general.timestamps)
    lines = np.concatenate([fast.lines, general.lines])
    order = np.argsort(lines, kind="stable")
    times = np.concatenate([fast.timestamps, general.timestamps])[order]
    names = list(fast.columns) + [name for name in general.columns if name not in fast.columns]
    columns: dict[str, FieldColumn] = {}
    for name in names:
        parts = (fast.columns.get(name), general.columns.get(name))
        kind = next(part.kind for part in parts if part is not None)
        is_string = kind == KIND_STRING
        values: Any = np.full(total, "", dtype=object) if is_string else np.zeros(total, dtype=NUMPY_DTYPES[kind])
        present = np.zeros(total, dtype=np.bool_)
        for part, lo, hi in ((parts[0], 0, fast_count), (parts[1], fast_count, total)):
            if part is None:
                continue
            values[lo:hi] = part.values
            present[lo:hi] = True if part.present is None else part.present
        values = values[order]
        present = present[order]
        columns[name] = FieldColumn(
            kind, values.tolist() if is_string else values, None if bool(present.all()) else present
        )
    return SeriesBatch(fast.key, fast.measurement, fast.tags, times, lines[order], columns)


def batch_points(batch: SeriesBatch) -> list[Point]:
    """The rows of a batch as Points (slow; for tests and small batches)."""
    tags = tuple(Tag(key, value) for key, value in batch.sorted_tags())
    kinds = list(FieldType)
    fields_by_row: list[list[Field]] = [[] for _ in range(len(batch.timestamps))]
    for name, column in batch.columns.items():
        kind = kinds[column.kind]
        values = column.values if column.kind == KIND_STRING else column.values.tolist()
        present = None if column.present is None else column.present.tolist()
        for row, value in enumerate(values):
            if present is None or present[row]:
                fields_by_row[row].append(Field(name, FieldValue(kind, value)))
    return [
        Point(batch.measurement, tags, tuple(fields), ts)
        for fields, ts in zip(fields_by_row, batch.timestamps.tolist())
    ]
