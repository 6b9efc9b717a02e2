"""Line-protocol parsing in worker processes (rusts.core.workers).

Parsing a large body is the biggest share of a write's CPU. `engine_parser` sends bodies of at
least MIN_POOLED_BYTES to a worker and parses smaller ones (and everything when no worker can
take it) in process. Answers are the same either way: the worker runs the same parser, its
batches travel as plain tuples and arrays and are rebuilt as the same SeriesBatch objects.
"""

from typing import Any

from rusts.core import workers
from rusts.core.errors import LineProtocolError

MIN_POOLED_BYTES = 64 * 1024  # also written in line_protocol.engine_parser (compiled: no import at load)

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
    packed = pool.call("rusts.api.parse_pool:parse_packed", body, multiplier, default_time)
    return None if packed is None else unpack(packed)
