"""The cluster-wide schema on the front engine: measurements, field types, series (so tag keys and values).

In cluster mode the server's engine (the "front" engine, data_dir/schema/)
stores no points: writes and queries go to the shards through its
write_router and query_router. The SQL translator, the planner's callers, the
catalog and pgwire still read the schema from it (field_types, tag_keys,
tag_values, measurements, index.tags), so the front engine must know the whole
cluster's schema. It learns it three ways:

- writes this node coordinates: `SchemaMirror.admit` checks the parsed batches
  against the known field types (a field keeps its first type cluster-wide, as
  on one node, so two shards never disagree), and `register` records the new
  series and fields once the write was forwarded; what was new is announced to
  every live peer (POST /internal/schema) before the write is acknowledged, so
  a write acknowledged by one node is visible in the schema of every node;
- its own shard engines, at start-up and on every refresh;
- its peers: GET /internal/schema (a NodeSchema: the union of the peer's shard
  engines' schemas), fetched by the node's background loop every second and at
  once when a REST query misses (rusts.api.cluster_routes). A peer answers 204
  when the `version` the caller already has is still current.

Series go into the front engine's own SeriesIndex (so tag keys, values and
"series lacking a key" are exactly those of one engine holding all the data);
field types replace `front.fields` copy-on-write, so a reader iterating the
old dict never sees it change. The front's FIELDS file is not written: the
schema is derived again from the shards after a restart.

`version` of a node's schema is its shard engines' series plus field count: it
only grows while data is only added (a drop can repeat a value; the next
growth refreshes it).

Dropping a measurement (`SchemaMirror.forget`) removes its series and fields
from the front. The coordinator of a DROP forgets it and announces it (a
NodeSchema whose `dropped` names it); a holder forgets it when a drop reaches
its shards (also by a hint, after a restart that re-learnt it from its own
stale shards); after such a late delivery the coordinator announces it again,
since a peer may have pulled the stale schema meanwhile. A node that forgets
pulls every peer's whole schema again at its next refresh, so a measurement
written again after the drop comes back from the shards that hold it.
"""

import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec

from rusts.core.errors import LineProtocolError, RustsError
from rusts.core.types import I64_MAX, I64_MIN
from rusts.storage.engine import StorageEngine, type_conflicts


class ClusterUnsupportedError(RustsError):
    """An operation cluster mode does not do yet (HTTP 501)."""

    sqlstate = "0A000"  # pgwire reports it (feature_not_supported)


# (series keys, start, end) -> None once the mode's promise is kept (else ReplicationShortError)
DeleteRouter = Callable[[list[str], int, int], None]
DropRouter = Callable[[str], None]


class FrontEngine(StorageEngine):
    """The front engine: a StorageEngine that holds no points. Its deletes and drops go to the cluster
    (`delete_router`, `drop_router`: rusts.cluster.node.ClusterNode), which sends them to every holder of
    every shard; deleting from its own empty partitions would be a silent no-op. Without routers (not yet
    wired) they are refused. The delete listeners (continuous aggregates on the front) hear of them as on
    one node."""

    delete_router: DeleteRouter | None = None
    drop_router: DropRouter | None = None
    # The front logs no writes (they are routed), so its "WAL sequence" for the write listeners (continuous
    # aggregates) is a counter of the writes it heard of, from the clock at open: it only grows, also across
    # restarts, and an aggregate's saved watermark is always behind it after one (it then recomputes whole,
    # since no WAL says what changed).
    routed_sequence = 0
    _sequence_lock = threading.Lock()

    def last_sequence(self) -> int:
        return self.routed_sequence

    def next_sequence(self) -> int:
        with self._sequence_lock:
            self.routed_sequence = max(self.routed_sequence + 1, time.time_ns())
            return self.routed_sequence

    def delete(self, series_ids: list[int], start: int = I64_MIN, end: int = I64_MAX, notify: bool = True) -> None:
        if not series_ids or start >= end:
            return
        if self.delete_router is None:
            raise ClusterUnsupportedError("DELETE before the cluster node is open")
        keys = [found.key for found in (self.index.lookup(s) for s in series_ids) if found is not None]
        self.delete_router(keys, start, end)
        if notify:
            for listener in self.delete_listeners:
                listener(series_ids, start, end)

    def drop_measurement(self, measurement: str) -> int:
        if self.drop_router is None:
            raise ClusterUnsupportedError(f"DROP MEASUREMENT {measurement} before the cluster node is open")
        ids = self.series_ids(measurement)
        self.drop_router(measurement)
        if ids:
            for listener in self.delete_listeners:
                listener(ids, I64_MIN, I64_MAX)
        return len(ids)


class MeasurementSchema(msgspec.Struct, array_like=True):
    name: str
    fields: dict[str, int]  # field -> kind id (rusts.core.kinds)
    series: list[list[tuple[str, str]]]  # each series' tags, sorted by key


class NodeSchema(msgspec.Struct):
    version: int
    measurements: list[MeasurementSchema]
    dropped: list[str] = []  # in an announcement: measurements to forget before adding the rest


def schema_version(engines: list[StorageEngine]) -> int:
    """Series plus fields of these engines: a cheap "has anything been added" marker."""
    return sum(len(e.index) + sum(len(fields) for fields in e.fields.values()) for e in engines)


def export_schema(engines: list[StorageEngine]) -> NodeSchema:
    """The union of the engines' schemas (reads every series entry: a background chore)."""
    version = schema_version(engines)
    merged: dict[str, MeasurementSchema] = {}
    for engine in engines:
        fields_of = engine.fields
        for measurement in sorted(set(fields_of) | set(engine.index.measurements())):
            entry = merged.get(measurement)
            if entry is None:
                entry = merged[measurement] = MeasurementSchema(measurement, {}, [])
            for name, kind in fields_of.get(measurement, {}).items():
                entry.fields.setdefault(name, kind)
            for series_id in engine.series_ids(measurement):
                found = engine.index.lookup(series_id)
                if found is not None:
                    entry.series.append(list(found.tags))
    return NodeSchema(version, [merged[name] for name in sorted(merged)])


def encode_schema(schema: NodeSchema) -> bytes:
    return msgspec.msgpack.encode(schema)


def decode_schema(data: bytes) -> NodeSchema:
    return msgspec.msgpack.decode(data, type=NodeSchema)


class Admitted:
    """What the coordinator forwards of one write (from `SchemaMirror.admit`): the lines, the points,
    the lines it refused, the fields new to the cluster and the series written."""

    __slots__ = ("lines", "points", "values", "errors", "new_fields", "series")

    def __init__(self) -> None:
        self.lines: set[int] = set()
        self.points = 0
        self.values = 0
        self.errors: list[LineProtocolError] = []
        self.new_fields: dict[str, dict[str, int]] = {}
        self.series: list[tuple[str, list[tuple[str, str]], str]] = []  # measurement, sorted tags, key


class SchemaMirror:
    """Keeps the front engine's schema: the cluster-wide field types and series. Thread-safe."""

    def __init__(self, front: StorageEngine) -> None:
        self.front = front
        self._lock = threading.Lock()

    def admit(self, batches: list[Any], errors: list[LineProtocolError]) -> Admitted:
        """Check parsed batches (rusts.api.line_protocol.SeriesBatch) against the known field types,
        as the engine does on one node: a row whose field has another type than the one known (or
        first seen earlier in the body) is refused with the engine's message."""
        admitted = Admitted()
        refused = list(errors)
        known_fields = self.front.fields
        for batch in sorted(batches, key=lambda b: int(b.lines[0])):
            added = admitted.new_fields.setdefault(batch.measurement, {})
            known = {**known_fields.get(batch.measurement, {}), **added}
            kept = ~type_conflicts(batch, known, refused)
            count = int(kept.sum())
            if count == 0:
                continue
            admitted.lines.update(int(line) for line in batch.lines[kept].tolist())
            admitted.points += count
            for name, column in batch.columns.items():
                present = count if column.present is None else int((column.present & kept).sum())
                admitted.values += present
                if present and name not in known:
                    added[name] = column.kind
            admitted.series.append((batch.measurement, list(batch.sorted_tags()), batch.key))
        refused.sort(key=lambda e: e.line)
        admitted.errors = refused
        return admitted

    def register(self, admitted: Admitted) -> NodeSchema | None:
        """Record the series and new fields of a forwarded write; what was new to this node (for its
        peers), or None."""
        index = self.front.index
        new_series: dict[str, list[list[tuple[str, str]]]] = {}
        for measurement, tags, key in admitted.series:
            if index.id_of(key) is None:
                index.get_or_create(measurement, tags, key)
                new_series.setdefault(measurement, []).append(tags)
        fields = self._add_fields(admitted.new_fields)
        if not fields and not new_series:
            return None
        names = sorted(set(new_series) | set(fields))
        return NodeSchema(0, [MeasurementSchema(m, fields.get(m, {}), new_series.get(m, [])) for m in names])

    def absorb(self, schema: NodeSchema) -> bool:
        """Add what a node's schema has that the front lacks; whether anything was new."""
        index = self.front.index
        grew = False
        fields: dict[str, dict[str, int]] = {}
        for entry in schema.measurements:
            fields[entry.name] = entry.fields
            for tags in entry.series:
                before = len(index)
                index.get_or_create(entry.name, [(k, v) for k, v in tags])
                grew = grew or len(index) != before
        return bool(self._add_fields(fields)) or grew

    def forget(self, measurement: str) -> bool:
        """Remove a dropped measurement's series and fields from the front; whether it knew any."""
        index = self.front.index
        dropped = index.drop_measurement(measurement)
        if dropped:
            index.flush()
        with self._lock:
            current = self.front.fields
            if measurement not in current:
                return dropped > 0
            updated = dict(current)
            del updated[measurement]
            self.front.fields = updated  # copy-on-write, as in _add_fields
        return True

    def _add_fields(self, new_fields: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        """Add the fields the front does not know yet; those it added."""
        with self._lock:
            current = self.front.fields
            missing = {
                measurement: {name: kind for name, kind in fields.items() if name not in current.get(measurement, {})}
                for measurement, fields in new_fields.items()
            }
            missing = {measurement: fields for measurement, fields in missing.items() if fields}
            if not missing:
                return missing
            updated = dict(current)
            for measurement, fields in missing.items():
                updated[measurement] = {**current.get(measurement, {}), **fields}
            self.front.fields = updated  # copy-on-write: readers keep iterating the old dict
            return missing
