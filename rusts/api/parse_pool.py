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

from rusts.core import workers
from rusts.core.errors import LineProtocolError

MIN_POOLED_BYTES = 64 * 1024
SPLIT_MIN_BYTES = 512 * 1024
_TASK = "rusts.api.parse_pool:parse_packed"

Packed = tuple[list[tuple[Any, ...]], list[tuple[int, int, str]]]


def pack(batches: list[Any], errors: list[LineProtocolError]) -> Packed:
    """Parser output as plain tuples, arrays and strings (what pickles fast and without the classes)."""
    packed = [
        (
            batch.key,
            batch.measurement,
            batch.tags,
            batch.timestamps,
            batch.lines,
            [(name, column.kind, column.values, column.present) for name, column in batch.columns.items()],
        )
        for batch in batches
    ]
    return packed, [(error.line, error.column, error.message) for error in errors]


def unpack(packed: Packed) -> tuple[list[Any], list[LineProtocolError]]:
    """The parser's own objects again."""
    from rusts.api.line_protocol import FieldColumn, SeriesBatch

    batch_tuples, error_tuples = packed
    batches = [
        SeriesBatch(key, measurement, tags, timestamps, lines, {name: FieldColumn(kind, values, present) for name, kind, values, present in columns})
        for key, measurement, tags, timestamps, lines, columns in batch_tuples
    ]
    return batches, [LineProtocolError(line, column, message) for line, column, message in error_tuples]


def parse_packed(body: bytes, multiplier: int, default_time: int) -> Packed:
    """The worker's task: the in-process parser, packed."""
    from rusts.api.line_protocol import parse_in_process

    return pack(*parse_in_process(body, multiplier, default_time))


def parse(body: bytes, multiplier: int, default_time: int, pool: workers.WorkerPool | None = None) -> tuple[list[Any], list[LineProtocolError]] | None:
    """`body` parsed by a worker (of `pool`, else the shared pool), or None when none could."""
    pool = pool if pool is not None else workers.shared_pool()
    if pool is None:
        return None
    free = pool.idle()
    if len(body) >= SPLIT_MIN_BYTES and free >= 2:
        split = _parse_split(pool, body, multiplier, default_time, min(free, len(body) // (SPLIT_MIN_BYTES // 2)))
        if split is not None:
            return split
    packed = pool.call(_TASK, body, multiplier, default_time)
    return None if packed is None else unpack(packed)


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


def _parse_split(
    pool: workers.WorkerPool, body: bytes, multiplier: int, default_time: int, parts: int
) -> tuple[list[Any], list[LineProtocolError]] | None:
    starts = cut_points(body, parts)
    if len(starts) < 2:
        return None
    bounds = list(zip(starts, [*starts[1:], len(body)]))
    answers = pool.call_many(_TASK, [(body[lo:hi], multiplier, default_time) for lo, hi in bounds])
    if answers is None or any(errors for _, errors in answers):
        return None
    merged: list[tuple[Any, ...]] = []
    for (lo, _), (batch_tuples, _) in zip(bounds, answers):
        shift = body.count(b"\n", 0, lo)
        for key, measurement, tags, timestamps, lines, columns in batch_tuples:
            merged.append((key, measurement, tags, timestamps, lines + shift if shift else lines, columns))
    return unpack((merged, []))
