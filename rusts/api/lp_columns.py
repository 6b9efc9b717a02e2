"""Columnar finalisation of line-protocol rows, one series at a time.

Fast rows (see rusts.api.line_protocol) arrive as raw field sections such as
`a=1.5,b=7i,c=""`. When every row of a series has the same field keys in the
same order, all rows are decoded together: the sections are joined into one
buffer, the positions of `=` and `,` found with numpy, keys checked against
the first row's layout, and each column's values gathered into an Arrow
string array and cast to its type in one call. Any irregularity sends those
rows back to the general scanner, which owns every error message. This
module is interpreted on purpose: it is a handful of large numpy and pyarrow
calls per series, which mypyc cannot speed up.
"""

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from rusts.api.line_protocol import (
    KIND_BOOLEAN,
    KIND_FLOAT,
    KIND_INTEGER,
    KIND_NAMES,
    KIND_STRING,
    KIND_UNSIGNED,
    FastRows,
    FieldColumn,
    ParsedLine,
    SeriesBatch,
    SeriesRows,
    field_layout,
    parse_line,
)
from rusts.core.errors import LineProtocolError
from rusts.core.types import Field, FieldType, FieldValue, Point, Tag

_EQUALS = 61
_COMMA = 44
_QUOTE = 34
_LOWER_I = 105
_LOWER_U = 117
_MINUS = 45
_DOT = 46
_BOOL_FIRST_BYTES = frozenset(ord(c) for c in "tTfF")
_TRUE_WORDS = pa.array(["t", "T", "true", "True", "TRUE"])
_FALSE_WORDS = pa.array(["f", "F", "false", "False", "FALSE"])
_NUMPY_DTYPES: dict[int, Any] = {
    KIND_FLOAT: np.float64,
    KIND_INTEGER: np.int64,
    KIND_UNSIGNED: np.uint64,
    KIND_BOOLEAN: np.bool_,
}

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


class _FastContext:
    """Arrays of a FastRows built once and shared by every group decode."""

    def __init__(self, fast: FastRows) -> None:
        self.fast = fast
        self.series = np.array(fast.series, dtype=np.int64)
        self.times = np.array(fast.times, dtype=np.int64)
        self.lines = np.array(fast.lines, dtype=np.int64)
        self.string_starts = np.array(fast.string_starts, dtype=np.int64)
        strings = np.empty(len(fast.strings), dtype=object)
        strings[:] = fast.strings
        self.strings = strings


def finalize(
    fast: FastRows, series: list[SeriesRows], multiplier: int, errors: list[LineProtocolError]
) -> list[SeriesBatch]:
    """Every series of a body as a SeriesBatch, rows in line order; bad rows become errors."""
    table: _Table | None = None
    if fast.fields:
        context = _FastContext(fast)
        tables = _decode_all(context, series, multiplier, errors)
        table = _concat(tables) if tables else None
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


def _decode_all(
    context: _FastContext, series: list[SeriesRows], multiplier: int, errors: list[LineProtocolError]
) -> list[_Table]:
    """Decode fast rows grouped by field layout; rows that will not decode go to their series' general rows."""
    fast = context.fast
    everything = np.arange(len(fast.fields), dtype=np.int64)
    whole = _decode_group(context, everything)
    if whole is not None:
        return [whole]
    groups: dict[str, list[int]] = {}
    for r, fields in enumerate(fast.fields):
        layout = field_layout(fields)
        group = groups.get(layout)
        if group is None:
            groups[layout] = [r]
        else:
            group.append(r)
    tables: list[_Table] = []
    pending = [np.array(rows, dtype=np.int64) for rows in groups.values()]
    while pending:
        rows = pending.pop()
        table = _decode_group(context, rows)
        if table is not None:
            tables.append(table)
        elif len(rows) > _SPLIT_LIMIT:
            half = len(rows) // 2
            pending.append(rows[:half])
            pending.append(rows[half:])
        else:
            for r in rows.tolist():
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
        values = np.empty(total, dtype=object) if kind == KIND_STRING else np.zeros(total, dtype=_NUMPY_DTYPES[kind])
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
    dtype = _NUMPY_DTYPES[kind]
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
    data = _ranges(buf, starts, lengths)
    offsets = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pa.LargeStringArray.from_buffers(len(starts), pa.py_buffer(offsets), pa.py_buffer(data))


def _layout(first_row: str) -> list[str] | None:
    """Field keys of a row, or None when the row is not a plain layout."""
    keys: list[str] = []
    for token in first_row.split(","):
        key, sep, _ = token.partition("=")
        if not sep or not key or key == "time":
            return None
        keys.append(key)
    if len(set(keys)) != len(keys):
        return None
    return keys


def _decode_group(context: _FastContext, rows: NDArray[np.int64]) -> _Table | None:
    """The rows decoded as columns, or None when any of them needs the general scanner."""
    fast = context.fast
    row_list = rows.tolist()
    keys = _layout(fast.fields[row_list[0]])
    if keys is None:
        return None
    field_count = len(keys)
    row_count = len(row_list)
    if row_count == len(fast.fields):
        sections = fast.fields
    else:
        sections = [fast.fields[r] for r in row_list]
    buf = np.frombuffer(",".join(sections).encode("utf-8"), dtype=np.uint8)
    equals = np.flatnonzero(buf == _EQUALS)
    commas = np.flatnonzero(buf == _COMMA)
    tokens = field_count * row_count
    if len(equals) != tokens or len(commas) != tokens - 1:
        return None
    token_starts = np.empty(tokens, dtype=np.int64)
    token_starts[0] = 0
    token_starts[1:] = commas + 1
    token_ends = np.empty(tokens, dtype=np.int64)
    token_ends[:-1] = commas
    token_ends[-1] = len(buf)
    # Counts are equal, so each token holds exactly one '=' iff each '=' lies inside its token.
    if not (bool((equals > token_starts).all()) and bool((equals + 1 < token_ends).all())):
        return None
    if not _keys_match(buf, token_starts, equals - token_starts, keys, row_count):
        return None
    string_count = sum(1 for j in range(field_count) if buf[equals[j] + 1] == _QUOTE)
    string_starts = context.string_starts[rows]
    if not bool((context.string_starts[rows + 1] - string_starts == string_count).all()):
        return None
    if int(np.count_nonzero(buf == _QUOTE)) != 2 * string_count * row_count:
        return None
    value_starts = equals + 1
    value_lengths = token_ends - value_starts
    columns: dict[tuple[str, int], _Values] = {}
    string_index = 0
    for j, key in enumerate(keys):
        starts = value_starts[j::field_count]
        lengths = value_lengths[j::field_count]
        if buf[starts[0]] == _QUOTE:
            first = buf[starts]
            if not (bool((first == _QUOTE).all()) and bool((lengths == 2).all())):
                return None
            columns[(key, KIND_STRING)] = (context.strings[string_starts + string_index], None)
            string_index += 1
            continue
        column = _decode_column(buf, starts, lengths)
        if column is None:
            return None
        columns[(key, column[0])] = (column[1], None)
    return _Table(rows, context.series[rows], context.times[rows], context.lines[rows], columns)


def _keys_match(
    buf: NDArray[np.uint8], starts: NDArray[np.int64], lengths: NDArray[np.int64], keys: list[str], rows: int
) -> bool:
    encoded = [key.encode("utf-8") for key in keys]
    expected_lengths = np.tile(np.array([len(k) for k in encoded], dtype=np.int64), rows)
    if not np.array_equal(lengths, expected_lengths):
        return False
    expected = np.tile(np.frombuffer(b"".join(encoded), dtype=np.uint8), rows)
    return bool(np.array_equal(_ranges(buf, starts, lengths), expected))


def _decode_column(
    buf: NDArray[np.uint8], starts: NDArray[np.int64], lengths: NDArray[np.int64]
) -> tuple[int, Any] | None:
    """Kind and values of one unquoted column; None when any value is irregular."""
    first = buf[starts]
    last = buf[starts + lengths - 1]
    if int(last[0]) in (_LOWER_I, _LOWER_U):
        return _decode_integers(buf, starts, lengths, first, last)
    if int(first[0]) in _BOOL_FIRST_BYTES:
        return _decode_booleans(buf, starts, lengths)
    return _decode_floats(buf, starts, lengths, first)


def _decode_integers(
    buf: NDArray[np.uint8],
    starts: NDArray[np.int64],
    lengths: NDArray[np.int64],
    first: NDArray[np.uint8],
    last: NDArray[np.uint8],
) -> tuple[int, Any] | None:
    suffix = int(last[0])
    if not bool((last == suffix).all()):
        return None
    # Line protocol integers are -?digits; Arrow's cast would also take a leading '+'.
    digits_ok = ((first >= 48) & (first <= 57)) | ((first == _MINUS) & (lengths > 2))
    if not bool(digits_ok.all()):
        return None
    kind = KIND_INTEGER if suffix == _LOWER_I else KIND_UNSIGNED
    target = pa.int64() if kind == KIND_INTEGER else pa.uint64()
    try:
        array = _string_array(buf, starts, lengths - 1).cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return (kind, array.to_numpy(zero_copy_only=False))


def _decode_booleans(
    buf: NDArray[np.uint8], starts: NDArray[np.int64], lengths: NDArray[np.int64]
) -> tuple[int, Any] | None:
    words = _string_array(buf, starts, lengths)
    is_true = pc.is_in(words, value_set=_TRUE_WORDS).to_numpy(zero_copy_only=False)
    is_false = pc.is_in(words, value_set=_FALSE_WORDS).to_numpy(zero_copy_only=False)
    if not bool((is_true | is_false).all()):
        return None
    return (KIND_BOOLEAN, is_true.astype(np.bool_))


def _decode_floats(
    buf: NDArray[np.uint8], starts: NDArray[np.int64], lengths: NDArray[np.int64], first: NDArray[np.uint8]
) -> tuple[int, Any] | None:
    # Arrow also reads "nan", "inf" and "+1"; line protocol does not, so the
    # first byte must be a digit, '-' or '.', a '-' must be followed by a
    # digit or '.', and the result must be finite.
    first_ok = ((first >= 48) & (first <= 57)) | (first == _MINUS) | (first == _DOT)
    if not bool(first_ok.all()):
        return None
    second = buf[np.minimum(starts + 1, len(buf) - 1)]
    after_minus_ok = (first != _MINUS) | ((((second >= 48) & (second <= 57)) | (second == _DOT)) & (lengths > 1))
    if not bool(after_minus_ok.all()):
        return None
    try:
        array = _string_array(buf, starts, lengths).cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    values = array.to_numpy(zero_copy_only=False)
    if not bool(np.isfinite(values).all()):
        return None
    return (KIND_FLOAT, values)


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
        values: Any = np.empty(total, dtype=object) if is_string else np.zeros(total, dtype=_NUMPY_DTYPES[kind])
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
    tags = tuple(Tag(key, value) for key, value in batch.tags)
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
