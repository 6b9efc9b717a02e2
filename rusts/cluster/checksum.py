"""A fingerprint of what one shard's engine holds: points per measurement and a digest of every row.

Replicas of a shard must converge to the same data (after hinted handoff);
comparing fingerprints says whether they did without shipping the data. The
digest is BLAKE2b over each measurement's name and its raw rows in the
executor's answer order (time, then series key), encoded with msgpack, so
equal data gives equal digests whatever order and batches it was written in.
Served by the next engineer as part of /cluster/status or an internal endpoint.
"""

from hashlib import blake2b

import msgspec

from rusts.query.executor import execute_batches
from rusts.query.model import Query
from rusts.storage.engine import StorageEngine


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
