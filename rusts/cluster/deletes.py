"""Deletes in cluster mode: what a coordinator sends each holder of each shard, and how a holder applies it.

A delete names series by their canonical keys, never by id: ids are chosen by
each engine's index (a hash collision gives an alternate id), so only the key
means the same series on every node. Wire format (the body of
POST /internal/delete?shard=N and of a delete hint, rusts.cluster.handoff):
msgpack of ShardDelete, a map

    measurement  str        the measurement dropped ("" for a delete of rows)
    keys         [str]      series keys whose rows in [start, end) go (empty for a drop)
    start, end   int        nanoseconds, end exclusive
    drop         bool       drop the measurement: every point, its series and fields

Applying one is idempotent (deleting what is gone changes nothing), which is
what makes hint replay and the client's resend safe, as for writes. A shard
that never saw a key or the measurement has nothing to do.
"""

import msgspec

from rusts.core.errors import RustsError
from rusts.core.types import I64_MAX, I64_MIN
from rusts.storage.engine import StorageEngine


class ShardDelete(msgspec.Struct, forbid_unknown_fields=True):
    measurement: str = ""
    keys: list[str] = []
    start: int = I64_MIN
    end: int = I64_MAX
    drop: bool = False

    def describe(self) -> str:
        if self.drop:
            return f"drop of measurement {self.measurement}"
        return f"delete of {len(self.keys)} series"


class DeleteBodyError(RustsError):
    """An /internal/delete body that is not a ShardDelete (HTTP 400)."""


def delete_of_keys(keys: list[str], start: int, end: int) -> ShardDelete:
    return ShardDelete(keys=sorted(keys), start=start, end=end)


def drop_of(measurement: str) -> ShardDelete:
    return ShardDelete(measurement=measurement, drop=True)


def encode_delete(operation: ShardDelete) -> bytes:
    return msgspec.msgpack.encode(operation)


def decode_delete(body: bytes) -> ShardDelete:
    try:
        return msgspec.msgpack.decode(body, type=ShardDelete)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise DeleteBodyError(f"unreadable delete: {error}") from None


def apply_delete(engine: StorageEngine, operation: ShardDelete) -> int:
    """Apply a delete to one shard's engine; the series it touched there."""
    if operation.drop:
        if operation.measurement not in engine.fields and not engine.series_ids(operation.measurement):
            return 0
        return engine.drop_measurement(operation.measurement)
    ids = [found for found in (engine.index.id_of(key) for key in operation.keys) if found is not None]
    engine.delete(ids, operation.start, operation.end, notify=False)
    return len(ids)
