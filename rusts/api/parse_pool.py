"""Line-protocol parsing in worker processes (rusts.core.workers).

Parsing a large body is the biggest share of a write's CPU. `engine_parser` sends bodies of at
least MIN_POOLED_BYTES to a worker and parses smaller ones (and everything when no worker can
take it) in process. Answers are the same either way: the worker runs the same parser, its
batches travel as plain tuples and arrays and are rebuilt as the same SeriesBatch objects.

A body of SPLIT_MIN_BYTES or more, while several workers are free, is cut at newlines into one
part per free worker and the parts are parsed at once (one client's large writes then use every
core). Line numbers of later parts are shifted back to the body's. A series present in two parts
comes back as two batches, which the engine takes in line order, as one. A cut inside a quoted
string leaves its part with an unterminated string, so any error in any part (or a part that
cannot be parsed) sends the whole body to one worker instead: every error, and every field-type
conflict inside a series, is then judged over the whole body exactly as in process.
"""

from typing import Any

import numpy as np

from rusts.core import workers
from rusts.core.errors import LineProtocolError
from rusts.storage.columns import RowsTable, joined_values

MIN_POOLED_BYTES = 64 * 1024
SPLIT_MIN_BYTES = 512 * 1024
_TASK = "rusts.api.parse_pool:parse_packed"

# A body's batches as a few long arrays, whatever the number of series: (per batch its key,
# measurement, tags (None: read them from the key), row count and columns as (column number, has a presence mask); the
# timestamps and line numbers of every batch's rows, batch after batch; per column its name,
# kind, values of the batches that carry it (a list for strings) and their presence), and the
# errors. One array per column pickles in microseconds where one per series and field (a body
# of 5,000 series of ten fields: 110,000 arrays) took half a second each way.
Head = tuple[str, str, list[tuple[str, str]] | None, int, list[tuple[int, bool]]]
PackedColumn = tuple[str, int, Any, Any]
Packed = tuple[list[Head], Any, Any, list[PackedColumn], list[tuple[int, int, str]]]


def pack(batches: list[Any], errors: list[LineProtocolError]) -> Packed:
    """Parser output as a few long arrays and plain tuples (see Packed)."""
    heads: list[Head] = []
    numbers: dict[tuple[str, int], int] = {}
    parts: list[tuple[str, int, list[Any], list[Any]]] = []
    for batch in batches:
        refs: list[tuple[int, bool]] = []
        rows = len(batch.timestamps)
        for name, column in batch.columns.items():
            number = numbers.setdefault((name, column.kind), len(parts))
            if number == len(parts):
                parts.append((name, column.kind, [], []))
            parts[number][2].append(column.values)
            parts[number][3].append(column.present if column.present is not None else rows)
            refs.append((number, column.present is not None))
        heads.append((batch.key, batch.measurement, None, rows, refs))
    columns: list[PackedColumn] = []
    for name, kind, values, presence in parts:
        joined: Any = joined_values(kind, values)
        present = None
        if not all(isinstance(mask, int) for mask in presence):
            present = np.concatenate([np.ones(mask, dtype=np.bool_) if isinstance(mask, int) else mask for mask in presence])
        columns.append((name, kind, joined, present))
    times = np.concatenate([batch.timestamps for batch in batches]) if batches else np.zeros(0, dtype=np.int64)
    lines = np.concatenate([batch.lines for batch in batches]) if batches else np.zeros(0, dtype=np.int64)
    return heads, times, lines, columns, [(error.line, error.column, error.message) for error in errors]


def unpack(packed: Packed, line_shift: int = 0) -> tuple[list[Any], list[LineProtocolError]]:
    """The parser's own objects again (views into the packed arrays); line numbers moved on by
    `line_shift` (a part of a body that starts past its first line)."""
    from rusts.api.line_protocol import FieldColumn, SeriesBatch

    heads, times, lines, columns, error_tuples = packed
    if line_shift:
        lines = lines + line_shift
    cursors = [0] * len(columns)
    at = 0
    batches = []
    for key, measurement, tags, rows, refs in heads:
        fields: dict[str, FieldColumn] = {}
        for number, masked in refs:
            name, kind, values, present = columns[number]
            lo = cursors[number]
            cursors[number] = lo + rows
            fields[name] = FieldColumn(kind, values[lo : lo + rows], present[lo : lo + rows] if masked else None)
        batches.append(SeriesBatch(key, measurement, tags, times[at : at + rows], lines[at : at + rows], fields))
        at += rows
    return batches, [LineProtocolError(line, column, message) for line, column, message in error_tuples]


def parse_packed(body: bytes, multiplier: int, default_time: int) -> Packed:
    """The worker's task: the in-process parser, packed. A body whose every line took the fast
    path is packed straight from its decoded table (lp_columns.packed_table), without the
    per-series objects; any other goes through them (the same answer either way)."""
    from rusts.api.line_protocol import scan_body
    from rusts.api.lp_columns import decode, packed_table, split

    encoded, rows, series, errors = scan_body(body, multiplier, default_time)
    table = decode(encoded, rows, series, multiplier, errors)
    if not errors:
        direct = packed_table(table, series)
        if direct is not None:
            heads, times, lines, columns = direct
            return heads, times, lines, columns, []
    batches = split(table, rows, series, multiplier, errors)
    errors.sort(key=lambda error: error.line)
    return pack(batches, errors)


def parse(body: bytes, multiplier: int, default_time: int, pool: workers.WorkerPool | None = None) -> tuple[list[Any], list[LineProtocolError]] | None:
    """`body` parsed by a worker (of `pool`, else the shared pool), or None when none could."""
    pool = pool if pool is not None else workers.shared_pool()
    parts = None if pool is None else _parts(pool, body, multiplier, default_time)
    return None if parts is None else _unpacked(*parts)


def parse_for_write(
    body: bytes, multiplier: int, default_time: int, pool: workers.WorkerPool | None = None
) -> RowsTable | tuple[list[Any], list[LineProtocolError]]:
    """The engine's rows parser (StorageEngine.rows_parser): a body a worker parsed on its fast
    path, one measurement and every series carrying every field, comes back as one RowsTable
    (no per-series object is made); anything else as engine_parser answers it."""
    from rusts.api.line_protocol import parse_in_process

    pool = pool if pool is not None else workers.shared_pool()
    parts = None if pool is None or len(body) < MIN_POOLED_BYTES else _parts(pool, body, multiplier, default_time)
    if parts is None:
        return parse_in_process(body, multiplier, default_time)
    return rows_table(*parts) or _unpacked(*parts)


def _parts(pool: workers.WorkerPool, body: bytes, multiplier: int, default_time: int) -> tuple[list[Packed], list[int]] | None:
    """The body's packed parts and the line count before each: cut at newlines and parsed by
    every free worker at once when it is large, else (or when any part holds an error, which is
    then judged over the whole body) parsed whole by one worker; None when no worker could."""
    free = pool.idle()
    if len(body) >= SPLIT_MIN_BYTES and free >= 2:
        starts = cut_points(body, min(free, len(body) // (SPLIT_MIN_BYTES // 2)))
        if len(starts) >= 2:
            bounds = list(zip(starts, [*starts[1:], len(body)]))
            answers = pool.call_many(_TASK, [(body[lo:hi], multiplier, default_time) for lo, hi in bounds])
            if answers is not None and not any(packed[4] for packed in answers):
                return answers, [body.count(b"\n", 0, lo) for lo, _ in bounds]
    packed = pool.call(_TASK, body, multiplier, default_time)
    return None if packed is None else ([packed], [0])


def _unpacked(answers: list[Packed], shifts: list[int]) -> tuple[list[Any], list[LineProtocolError]]:
    if len(answers) == 1:
        return unpack(answers[0], shifts[0])
    merged: list[Any] = []
    for packed, shift in zip(answers, shifts):
        merged.extend(unpack(packed, shift)[0])
    return merged, []


def rows_table(answers: list[Packed], shifts: list[int]) -> RowsTable | None:
    """The packed parts of one body as a RowsTable, when they hold no error, one measurement, the
    same fields (unique names) and every series carries every field on every row; else None."""
    first = answers[0]
    layout = [(name, kind) for name, kind, _, _ in first[3]]
    if not first[0] or len({name for name, _ in layout}) != len(layout):
        return None
    measurement = first[0][0][1]
    everywhere = [(number, False) for number in range(len(layout))]
    keys: list[str] = []
    rows: list[int] = []
    checked: object = None  # heads share one refs list when every series carries every field
    for heads, _, _, columns, errors in answers:
        if errors or [(name, kind) for name, kind, _, _ in columns] != layout:
            return None
        for key, head_measurement, _, count, refs in heads:
            if head_measurement != measurement:
                return None
            if refs is not checked:
                if refs != everywhere:
                    return None
                checked = refs
            keys.append(key)
            rows.append(count)
    times = np.concatenate([packed[1] for packed in answers])
    fields: dict[str, tuple[int, Any]] = {}
    for number, (name, kind) in enumerate(layout):
        parts = [packed[3][number][2] for packed in answers]
        values: Any = parts[0] if len(parts) == 1 else joined_values(kind, parts)
        if len(values) != len(times):
            return None
        fields[name] = (kind, values)
    return RowsTable(measurement, keys, np.array(rows, dtype=np.int64), times, fields, lambda: _unpacked(answers, shifts))


def cut_points(body: bytes, parts: int) -> list[int]:
    """Offsets where `parts` pieces of `body` start: 0, then just after a newline near each
    equal share (fewer pieces when the body has too few newlines)."""
    starts = [0]
    for share in range(1, parts):
        newline = body.find(b"\n", max(starts[-1], len(body) * share // parts))
        if newline < 0 or newline + 1 >= len(body):
            break
        starts.append(newline + 1)
    return starts
