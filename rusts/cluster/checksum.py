"""Fingerprints of what one shard's engine holds: of the whole copy, or of one measurement's time range.

Replicas of a shard must converge to the same data (after hinted handoff, a
repair, or rusts.cluster.convergence); comparing fingerprints says whether they
did without shipping the data.

`fingerprint` (the whole copy, GET /internal/fingerprint?shard=N) is BLAKE2b
over each measurement's name, its columns and its raw rows in the executor's
answer order (time, then series key), encoded with msgpack, so equal data gives
equal digests whatever order and batches it was written in.

`range_fingerprint` (one measurement in [start, end)) digests the same rows as
`points_in` gives them: each point as its time, its tags and its fields with a
value there, by name. It leaves out the columns no point of the range has, so
two copies whose ranges hold equal points agree even when one of them knows a
field or tag from elsewhere in time that the other does not.
"""

from collections.abc import Iterator
from hashlib import blake2b
from typing import Any

import msgspec

from rusts.query.errors import UnknownMeasurementError
from rusts.query.executor import execute_batches
from rusts.query.model import Query, TimeRange
from rusts.query.planner import plan_query
from rusts.storage.engine import StorageEngine

# One point of a copy: time, tags [(key, value)] by key, fields {name: value} by name (only those with a value).
Point = tuple[int, list[tuple[str, str]], dict[str, Any]]

ROWS_PER_READ = 50_000


class ShardFingerprint(msgspec.Struct, frozen=True):
    points: dict[str, int]  # rows per measurement
    digest: str  # hex BLAKE2b-128 over every measurement's rows


def fingerprint(engine: StorageEngine, timeout: float | None = None) -> ShardFingerprint:
    """Points and digest of everything `engine` holds (reads it all: an operator's tool, not a hot path)."""
    digest = blake2b(digest_size=16)
    encoder = msgspec.msgpack.Encoder()
    points: dict[str, int] = {}
    for measurement in sorted(engine.fields):
        columns, batches = execute_batches(engine, Query(measurement=measurement), timeout)
        digest.update(encoder.encode([measurement, [(c.name, c.type) for c in columns]]))
        count = 0
        for rows in batches:
            for row in rows:
                digest.update(encoder.encode(row))
            count += len(rows)
        points[measurement] = count
    return ShardFingerprint(points, digest.hexdigest())


def range_fingerprint(engine: StorageEngine, measurement: str, start: int, end: int, timeout: float | None = None) -> ShardFingerprint:
    """Points and digest of `measurement`'s points in [start, end) on this copy (zero points when it has none)."""
    digest = blake2b(digest_size=16)
    encoder = msgspec.msgpack.Encoder()
    count = 0
    for point in points_in(engine, measurement, start, end, timeout):
        digest.update(encoder.encode(point))
        count += 1
    return ShardFingerprint({measurement: count}, digest.hexdigest())


def points_in(
    engine: StorageEngine, measurement: str, start: int | None, end: int | None, timeout: float | None = None
) -> Iterator[Point]:
    """`measurement`'s points in [start, end) (None: open) in answer order (time, then series key), as Points."""
    query = Query(measurement=measurement, time_range=TimeRange(start, end))
    try:
        plan = plan_query(engine, query)
    except UnknownMeasurementError:
        return
    tags, fields = plan.tag_keys, plan.projection
    tag_order = sorted(range(len(tags)), key=lambda at: tags[at])
    field_order = sorted(range(len(fields)), key=lambda at: fields[at])
    first_field = 1 + len(tags)
    _, batches = execute_batches(engine, query, timeout, batch_rows=ROWS_PER_READ)
    for rows in batches:
        for row in rows:
            point_tags = [(tags[at], row[1 + at]) for at in tag_order if row[1 + at] is not None]
            values = {fields[at]: row[first_field + at] for at in field_order if row[first_field + at] is not None}
            yield row[0], point_tags, values
