"""Repair: make a replica's copy of a shard equal to another node's copy again.

A node is marked for resync (rusts.cluster.handoff) when it missed writes or deletes that hinted
handoff could not keep; hints alone cannot bring its copies back. `push_shard` runs on a node that
holds a good copy (the source) and pushes it to the stale replica (the target) through the
internal API every coordinator already uses:

1. the fingerprints of both copies (rusts.cluster.checksum) are compared; equal copies are left
   alone;
2. a measurement of which the target holds more rows than the source (a delete or drop it
   missed) is dropped on the target (POST /internal/delete), to be copied whole in step 3;
3. every measurement of the source's copy is sent to the target as line protocol, window by
   window in bodies of at most BODY_BYTES (POST /internal/write): a row the target lacks is
   added, one it holds with other values takes the source's (a write of the same series and time
   wins, as in any write);
4. both fingerprints are taken again: the report says whether the copies are now equal.

Writes the cluster accepts meanwhile reach both copies as usual, so they survive the repair (a
drop in step 2 only hides rows written before it, see rusts.storage.partition.Tombstone). A
write that changes a point the repair already read can leave the copies different: step 4 then
reports them unequal, and running the repair again settles it. Reads the router sends to the
target during step 3 may miss rows not yet copied (as they would miss them before the repair).
"""

from collections.abc import Iterator
from typing import Any, Final, TypeVar

import msgspec
import numpy as np

from rusts.cluster.checksum import ROWS_PER_READ, Point, ShardFingerprint, fingerprint, points_in
from rusts.cluster.client import Outcome, Peer
from rusts.cluster.deletes import drop_of, encode_delete
from rusts.core.errors import RustsError
from rusts.storage.columns import KIND_BOOLEAN, KIND_STRING, NUMPY_DTYPES, Column, WriteBatch
from rusts.storage.engine import StorageEngine
from rusts.storage.wal_batches import format_lines

# Line protocol sent to the target in one request at most (the server's max_body_size is 25 MiB).
BODY_BYTES: Final = 4 * 1024 * 1024

Answer = TypeVar("Answer")


class RepairError(RustsError):
    """The repair could not run or finish: names the node, the shard and what went wrong."""


class ShardRepair(msgspec.Struct):
    """What the repair of one shard found and did."""

    shard: int
    source: str  # the node whose copy was pushed ("" when no copy could be used)
    equal_before: bool = False  # the copies were already equal: nothing was sent
    rows_copied: int = 0
    dropped: list[str] = msgspec.field(default_factory=list)  # measurements dropped on the target first
    in_sync: bool = False  # the fingerprints agreed after the repair
    error: str = ""


class RepairReport(msgspec.Struct):
    """POST /cluster/repair's answer: every shard of the node, and whether all now agree."""

    node: str
    shards: list[ShardRepair]
    in_sync: bool


def push_shard(engine: StorageEngine, shard: int, source: str, target: Peer) -> ShardRepair:
    """Make `target`'s copy of `shard` equal to this one (`engine`, held by node `source`)."""
    mine = fingerprint(engine)
    theirs = remote_fingerprint(target, shard)
    if theirs == mine:
        return ShardRepair(shard, source, equal_before=True, in_sync=True)
    dropped = sorted(m for m, rows in theirs.points.items() if rows > mine.points.get(m, 0))
    for measurement in dropped:
        outcome = target.post(f"/internal/delete?shard={shard}", encode_delete(drop_of(measurement)), "application/msgpack")
        if not outcome.stored:
            raise RepairError(f"dropping {measurement!r} of shard {shard} on {target.node_id} failed: {outcome.error}")
    copied = 0
    for measurement in sorted(engine.fields):
        for body, rows in _bodies(engine, measurement):
            outcome = target.write(shard, body)
            if not outcome.stored or outcome.status != 204:
                said = outcome.error or outcome.body[:300].decode("utf-8", "replace")
                raise RepairError(f"copying {measurement!r} of shard {shard} to {target.node_id} failed: {said}")
            copied += rows
    in_sync = remote_fingerprint(target, shard) == fingerprint(engine)
    return ShardRepair(shard, source, rows_copied=copied, dropped=dropped, in_sync=in_sync)


def remote_fingerprint(peer: Peer, shard: int) -> ShardFingerprint:
    """The peer's fingerprint of its copy, given as long as the peer's client waits (a whole shard is read)."""
    outcome = peer.get(f"/internal/fingerprint?shard={shard}&timeout={peer.timeout:g}")
    return peer_answer(outcome, ShardFingerprint, f"the fingerprint of shard {shard}")


def peer_answer(outcome: Outcome, kind: type[Answer], what: str, packed: bool = False) -> Answer:
    """A peer's JSON (msgpack when `packed`) answer as `kind`; RepairError naming the peer and `what`
    when it failed or is unreadable."""
    if not outcome.stored:
        raise RepairError(f"{what} on {outcome.node_id} failed: {outcome.error}")
    try:
        return msgspec.msgpack.decode(outcome.body, type=kind) if packed else msgspec.json.decode(outcome.body, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise RepairError(f"{outcome.node_id} answered {what} unreadably: {error}") from None


def _bodies(engine: StorageEngine, measurement: str) -> Iterator[tuple[bytes, int]]:
    """The measurement's points on this copy as line-protocol bodies of at most ~BODY_BYTES, with
    the number of points in each."""
    kinds = dict(engine.fields.get(measurement, {}))
    parts: list[bytes] = []
    points: list[Point] = []
    size = rows = 0
    for point in points_in(engine, measurement, None, None):
        points.append(point)
        if len(points) == ROWS_PER_READ:
            parts.append(format_lines(batches_of_points(measurement, points, kinds)).encode("utf-8"))
            size += len(parts[-1])
            rows += len(points)
            points = []
            if size >= BODY_BYTES:
                yield b"".join(parts), rows
                parts, size, rows = [], 0, 0
    if points:
        parts.append(format_lines(batches_of_points(measurement, points, kinds)).encode("utf-8"))
        rows += len(points)
    if parts:
        yield b"".join(parts), rows


def batches_of_points(measurement: str, points: list[Point], kinds: dict[str, int]) -> list[WriteBatch]:
    """Points (rusts.cluster.checksum) of one measurement as one WriteBatch per series; `kinds`
    gives every field's kind."""
    by_series: dict[tuple[tuple[str, str], ...], list[Point]] = {}
    for point in points:
        by_series.setdefault(tuple(point[1]), []).append(point)
    out: list[WriteBatch] = []
    for tags, series in by_series.items():
        names = sorted({name for _, _, fields in series for name in fields})
        cells = {name: [fields.get(name) for _, _, fields in series] for name in names}
        out.append(series_batch(measurement, list(tags), [at for at, _, _ in series], cells, kinds))
    return out


def series_batch(
    measurement: str, tags: list[tuple[str, str]], times: list[int], cells: dict[str, list[Any]], kinds: dict[str, int]
) -> WriteBatch:
    """One series' points as a WriteBatch: per field its values at `times` (None where absent);
    a field without any value is left out."""
    columns: dict[str, Column] = {}
    for name, values in cells.items():
        present = np.array([cell is not None for cell in values], dtype=np.bool_)
        if not present.any():
            continue
        kind = kinds[name]
        if kind == KIND_STRING:
            data: Any = ["" if cell is None else cell for cell in values]
        else:
            zero = False if kind == KIND_BOOLEAN else 0
            data = np.array([zero if cell is None else cell for cell in values], dtype=NUMPY_DTYPES[kind])
        columns[name] = Column(kind, data, None if present.all() else present)
    return WriteBatch(measurement, tags, np.array(times, dtype=np.int64), columns)
