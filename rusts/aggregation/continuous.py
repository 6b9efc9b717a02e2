"""Continuous aggregates: materialized incrementally from new writes, restored at start.

State, in `<data_dir>/AGGREGATES` (JSON, replaced atomically):

    {"version": 1, "aggregates": [{"name": n, "sql": defining SELECT, "watermark": seq,
      "stale": [[start, end], ...], "complete": bool, "realtime": bool}],
     "downsampling": [policy, ...]}

("realtime" and "downsampling" were added later; a file without them reads as false and none.
rusts.aggregation.policy has a policy's JSON.)

How it stays equal to its defining query:

- Every write to the engine reaches `_on_write` (under the engine's write lock, in WAL
  sequence order): the buckets of the source measurement it touched become pending.
- Every delete reaches `_on_delete`: the range becomes stale for aggregates over that
  measurement, and the state file records it before the delete returns.
- `refresh` recomputes exactly the pending and stale buckets: the defining query bounded to
  each run of buckets, compared with the rows already materialized there; changed rows are
  written (columnar batches, rusts.aggregation.materialize, through the WAL like any write), rows that disappeared or lost a
  field are deleted. Then `watermark` = the last WAL sequence whose buckets are done.
- At start, WAL records after the watermark are read again for the buckets they touched (a
  crash between a write and the refresh, or during a refresh). When the WAL no longer reaches
  back that far (removed after wal_retention_secs, or wal_durability none), the aggregate is
  recomputed whole (`complete` false until then).

Refresh cost is the bounded queries plus writes of changed rows: proportional to the buckets
touched, not to the data kept. Rows that retention removes from the source are not removed
from the aggregate (retention does not notify): that is how downsampled data outlives raw data.
A downsampling tier is sealed before its source's retention horizon: buckets that start before
now - the raw period are never recomputed (their raw rows may be gone, and a recompute would
replace a whole bucket's aggregate by one of its late points), so a point later than the raw
period reaches the raw measurement (until retention drops it) but not the tiers.

Real-time mode (`realtime`): a SELECT that reads the aggregate first recomputes its pending and
stale buckets (rusts.sql.statement calls `bring_up_to_date`), so it answers the materialized
buckets together with the not-yet-materialized tail: always equal to the defining query.
"""

import json
import logging
import math
import os
import threading
import time
import weakref
from typing import Any, Final

import numpy as np
from sqlglot import exp

from rusts.aggregation import materialize
from rusts.aggregation.definition import AggregateDefinition, check_definition
from rusts.aggregation.policy import DownsamplingPolicy
from rusts.core.errors import CorruptDataError, RustsError
from rusts.core.hashing import series_key
from rusts.query.executor import execute
from rusts.sql.errors import SqlError
from rusts.query.model import QueryResult
from rusts.retention.manager import manager_of
from rusts.sql.translator import parse_statement, translate_select
from rusts.storage import wal as wal_log
from rusts.storage.engine import I64_MAX, I64_MIN, AggregateHolders, StorageEngine
from rusts.storage.partition import fsync_directory

STATE_FILE: Final = "AGGREGATES"
STATE_VERSION: Final = 1
# Pending buckets closer than this many buckets are refreshed by one query: recomputing an
# untouched bucket costs far less than a query's fixed cost (translation, planning).
_GAP_BUCKETS: Final = 64
# The state file's watermark is written at most this often when nothing else changed (two fsyncs).
_SAVE_INTERVAL_SECS: Final = 1.0
_ALONE: Final = AggregateHolders("", True, False)
_log = logging.getLogger("rusts.aggregation")


class AggregateExistsError(SqlError):
    """CREATE of a name already taken (duplicate_table)."""

    sqlstate = "42P07"


class UnknownAggregateError(SqlError):
    """An aggregate that does not exist (undefined_table)."""

    sqlstate = "42P01"


class _Aggregate:
    """One aggregate's definition and refresh state."""

    def __init__(
        self, definition: AggregateDefinition, watermark: int, stale: list[tuple[int, int]], complete: bool, realtime: bool = False
    ) -> None:
        self.definition = definition
        self.watermark = watermark
        self.stale = stale
        self.complete = complete
        self.realtime = realtime
        # The source measurement whose retention seals this aggregate (a downsampling tier), else None.
        self.sealed_by: str | None = None
        self.pending: set[int] = set()
        self.seen_sequence = watermark
        # Every materialized row is before this time (None: unknown, e.g. after a restart); ranges
        # at or after it have nothing to compare with, which saves reading them back.
        self.materialized_end: int | None = None
        self.refreshes = 0
        self.rows_written = 0
        self.rows_deleted = 0


class ContinuousAggregates:
    """The aggregates of one engine. Thread-safe; one refresh at a time."""

    def __init__(self, engine: StorageEngine) -> None:
        self.engine = engine
        self.path = os.path.join(engine.options.data_dir, STATE_FILE)
        self.aggregates: dict[str, _Aggregate] = {}
        self.policies: dict[str, DownsamplingPolicy] = {}
        self._lock = threading.Lock()  # guards pending/stale/seen_sequence (taken under the engine's write lock)
        self._refresh_lock = threading.Lock()
        self._saved_at = 0.0

    @classmethod
    def open(cls, engine: StorageEngine) -> "ContinuousAggregates":
        """Load the saved aggregates, start listening, and mark what the WAL says changed since."""
        registry = cls(engine)
        state = registry._read_state()
        for saved in state.get("aggregates", []):
            definition = check_definition(engine, saved["name"], saved["sql"])
            stale = [(int(s), int(e)) for s, e in saved.get("stale", [])]
            registry.aggregates[definition.name] = _Aggregate(
                definition, int(saved["watermark"]), stale, bool(saved["complete"]), bool(saved.get("realtime", False))
            )
        for saved in state.get("downsampling", []):
            policy = DownsamplingPolicy.from_json(saved)
            registry.policies[policy.measurement] = policy
        registry.seal_tiers()
        engine.write_listeners.append(registry._on_write)
        engine.delete_listeners.append(registry._on_delete)
        registry._catch_up_from_wal()
        return registry

    def close(self) -> None:
        """Stop listening (the engine keeps running) and save the watermarks."""
        self._save()
        if self._on_write in self.engine.write_listeners:
            self.engine.write_listeners.remove(self._on_write)
        if self._on_delete in self.engine.delete_listeners:
            self.engine.delete_listeners.remove(self._on_delete)

    # --- definitions -----------------------------------------------------------

    def create(self, name: str, sql: str, realtime: bool = False) -> AggregateDefinition:
        """Define an aggregate and materialize it whole; AggregateExistsError when the name is taken.

        In a cluster, a measurement of that name is taken over when a live peer defines the aggregate
        alike (the same rusts.yml on every node): its rows are that aggregate's. Unless this node is the
        one that refreshes it, nothing is recomputed now; it is recomputed whole when this node becomes
        the refresher."""
        definition = check_definition(self.engine, name, sql)
        with self._refresh_lock:
            if name in self.aggregates:
                raise AggregateExistsError(f"continuous aggregate {name!r} already exists")
            holders = self.holders(definition)
            if self.engine.field_types(name) and not holders.elsewhere:
                raise AggregateExistsError(f"measurement {name!r} already exists; a continuous aggregate needs a new name")
            with self._lock:
                aggregate = _Aggregate(definition, self._last_sequence(), [], False, realtime)
                self.aggregates[name] = aggregate
            self.seal_tiers()
            self._save()
            if holders.here:
                # Whole, sealed or not: at creation every raw row still there counts.
                self._refresh_one(aggregate, sealed=False)
        return definition

    def set_policy(self, policy: DownsamplingPolicy | None, measurement: str = "") -> None:
        """Keep (or with None, forget) the downsampling policy of a measurement; its tiers are
        created and dropped by rusts.aggregation.downsampling."""
        with self._refresh_lock:
            with self._lock:
                if policy is None:
                    self.policies.pop(measurement, None)
                    for aggregate in self.aggregates.values():
                        if aggregate.sealed_by == measurement:
                            aggregate.sealed_by = None
                else:
                    self.policies[policy.measurement] = policy
            self.seal_tiers()
            self._save()

    def set_realtime(self, name: str, realtime: bool) -> None:
        """Turn real-time mode on or off (see the module docstring)."""
        with self._refresh_lock:
            aggregate = self.aggregates.get(name)
            if aggregate is None:
                raise UnknownAggregateError(f"continuous aggregate {name!r} does not exist")
            aggregate.realtime = realtime
            self._save()

    def bring_up_to_date(self, name: str) -> bool:
        """For a SELECT reading measurement `name`: when it is a real-time aggregate with pending or
        stale buckets, recompute them (and those of the aggregates it reads) first; True when it did."""
        aggregate = self.aggregates.get(name)
        if aggregate is None or not aggregate.realtime:
            return False
        chain: list[str] = []
        current: _Aggregate | None = aggregate
        while current is not None and current.definition.name not in chain:
            chain.append(current.definition.name)
            current = self.aggregates.get(current.definition.source)
        dirty = [n for n in reversed(chain) if self.dirty_from(n) is not None]
        for dirty_name in dirty:
            self.refresh(dirty_name)
        return bool(dirty)

    def dirty_from(self, name: str) -> int | None:
        """The start of the earliest bucket of aggregate `name` that may differ from its defining
        query (pending or stale; I64_MIN before its first whole materialization); None when none."""
        aggregate = self.aggregates[name]
        seal = self._seal(aggregate)
        floor = I64_MIN if seal is None else seal
        with self._lock:
            if not aggregate.complete:
                return I64_MIN
            definition = aggregate.definition
            # Pending buckets before the seal are never recomputed: they do not make the tier differ.
            late = [b for b in aggregate.pending if definition.offset + b * definition.interval >= floor]
            starts = [definition.offset + min(late) * definition.interval] if late else []
            for start, end in aggregate.stale:
                if end > floor:
                    starts.append(max(floor, I64_MIN if start <= I64_MIN else definition.bucket_start(start)))
            return min(starts) if starts else None

    def seal_tiers(self) -> None:
        """Mark each downsampling tier with the measurement whose retention seals it."""
        with self._lock:
            for policy in self.policies.values():
                for tier in policy.tiers:
                    aggregate = self.aggregates.get(policy.tier_name(tier))
                    if aggregate is not None:
                        aggregate.sealed_by = policy.measurement

    def _seal(self, aggregate: _Aggregate) -> int | None:
        """Buckets of a tier starting before this time are never recomputed (None: no seal)."""
        source = aggregate.sealed_by
        if source is None:
            return None
        policy = self.policies.get(source)
        period = policy.raw if policy is not None else None
        manager = manager_of(self.engine)
        if period is None and manager is not None:
            period = manager.policy.retention_of(source)  # raw kept as storage.retention says
        if period is None:
            return None
        horizon = self.engine.options.clock() - period
        definition = aggregate.definition
        start = definition.bucket_start(horizon)
        return start if start >= horizon else start + definition.interval

    def ensure(self, name: str, sql: str) -> bool:
        """Make aggregate `name` have query `sql` (from the configuration): create it, or re-create
        it when its query differs; False when it already had that query."""
        existing = self.aggregates.get(name)
        if existing is not None and existing.definition.sql == sql:
            return False
        if existing is not None:
            _log.info("continuous aggregate %s: query changed in the configuration; re-creating it", name)
            self.drop(name)
        self.create(name, sql)
        return True

    def drop(self, name: str, if_exists: bool = False) -> bool:
        """Forget an aggregate and drop its measurement; False when there was none (with if_exists). In a
        cluster, the measurement stays while a live peer still defines the aggregate alike (it refreshes it
        on): drop it on each node that defines it."""
        with self._refresh_lock:
            if name not in self.aggregates:
                if if_exists:
                    return False
                raise UnknownAggregateError(f"continuous aggregate {name!r} does not exist")
            with self._lock:
                dropped = self.aggregates.pop(name)
            self._save()
        if self.engine.field_types(name) and not self.holders(dropped.definition).elsewhere:
            self.engine.drop_measurement(name)
        return True

    def rows(self) -> list[list[Any]]:
        """[name, source, bucket ns, definition, watermark, pending buckets, stale ranges, realtime, refreshes,
        refreshed by] per aggregate (refreshes: background and explicit ones since this node opened it;
        refreshed by: the cluster node whose background refresh recomputes it, "" on a single node)."""
        refreshers = {name: self.holders(a.definition).refresher for name, a in list(self.aggregates.items())}
        with self._lock:
            return [
                [a.definition.name, a.definition.source, a.definition.interval, a.definition.sql, a.watermark,
                 len(a.pending), len(a.stale) + (0 if a.complete else 1), a.realtime, a.refreshes, refreshers.get(name, "")]
                for name, a in sorted(self.aggregates.items())
            ]

    # --- change tracking ---------------------------------------------------------

    def _on_write(self, sequence: int, written: list[tuple[str, Any]]) -> None:
        with self._lock:
            for aggregate in self.aggregates.values():
                aggregate.seen_sequence = max(aggregate.seen_sequence, sequence)
            if self.aggregates:
                self._mark_all(written)

    def _on_delete(self, series_ids: list[int], start: int, end: int) -> None:
        measurements = set()
        for series_id in series_ids:
            entry = self.engine.index.lookup(series_id)
            if entry is not None:
                measurements.add(entry.measurement)
        changed = False
        with self._lock:
            for aggregate in self.aggregates.values():
                if aggregate.definition.source in measurements:
                    aggregate.stale.append((start, end))
                    changed = True
        if changed:
            self._save()

    def _catch_up_from_wal(self) -> None:
        """Mark the buckets of WAL records after each watermark; recompute whole when the WAL has a gap."""
        if not self.aggregates:
            return
        options = self.engine.options
        oldest = min(a.watermark for a in self.aggregates.values())
        first_seen: int | None = None
        if options.wal_durability != "none" and os.path.isdir(options.wal_dir):
            for sequence, payload in wal_log.read_records(options.wal_dir, oldest + 1):
                first_seen = sequence if first_seen is None else first_seen
                batches, _ = self.engine.record_batches(payload)
                written = [(batch.measurement, batch.timestamps) for batch in batches]
                with self._lock:
                    self._mark_all(written, after=sequence)
        last = self._last_sequence()
        logged = options.wal_durability != "none"
        with self._lock:
            for aggregate in self.aggregates.values():
                # Without a WAL nothing says what changed before a crash: recompute whole.
                reaches_back = logged and (
                    aggregate.watermark >= last or (first_seen is not None and first_seen <= aggregate.watermark + 1)
                )
                if not reaches_back:
                    aggregate.complete = False
                aggregate.seen_sequence = max(aggregate.seen_sequence, last)

    def _mark_all(self, written: list[tuple[str, Any]], after: int | None = None) -> None:
        """Make the buckets `written` touched pending in every aggregate over those measurements
        (with `after`, only in aggregates whose watermark is before that sequence). One np.unique
        per aggregate over all of a write's series (a write holds one batch per series)."""
        times: dict[str, Any] = {}
        for measurement, timestamps in written:
            if len(timestamps):
                times.setdefault(measurement, []).append(timestamps)
        for aggregate in self.aggregates.values():
            definition = aggregate.definition
            parts = times.get(definition.source)
            if not parts or (after is not None and after <= aggregate.watermark):
                continue
            stamps = parts[0] if len(parts) == 1 else np.concatenate(parts)
            aggregate.pending.update(np.unique((np.asarray(stamps) - definition.offset) // definition.interval).tolist())

    def _last_sequence(self) -> int:
        return self.engine.last_sequence()

    # --- refresh -------------------------------------------------------------------

    def refresh(self, name: str | None = None) -> int:
        """Bring one aggregate (or all) up to date; the number of bucket ranges recomputed. All of them
        (the background refresh) leaves out those another cluster node refreshes (`refreshed_by`): their
        changes stay pending here, and are recomputed once this node is the one that refreshes them."""
        with self._refresh_lock:
            if name is not None and name not in self.aggregates:
                raise UnknownAggregateError(f"continuous aggregate {name!r} does not exist")
            if name is not None:
                targets = [self.aggregates[name]]
            else:
                targets = [aggregate for aggregate in self.aggregates.values() if self.holders(aggregate.definition).here]
            return sum(self._refresh_one(aggregate) for aggregate in targets)

    def holders(self, definition: AggregateDefinition) -> AggregateHolders:
        """Which cluster node refreshes this aggregate, and whether other nodes define it alike (a single
        node: this one, alone)."""
        seam = self.engine.aggregate_holders
        return _ALONE if seam is None else seam(definition.name, definition.sql)

    def _refresh_one(self, aggregate: _Aggregate, sealed: bool = True) -> int:
        definition = aggregate.definition
        with self._lock:
            pending, aggregate.pending = aggregate.pending, set()
            stale = list(aggregate.stale)
            complete = aggregate.complete
            upto = aggregate.seen_sequence
        try:
            ranges = [(I64_MIN, I64_MAX)] if not complete else self._ranges(definition, pending, stale)
            seal = self._seal(aggregate) if sealed else None
            if seal is not None:
                ranges = [(max(start, seal), end) for start, end in ranges if end > seal]
            for start, end in ranges:
                self._recompute(aggregate, start, end)
        except BaseException:
            with self._lock:
                aggregate.pending |= pending
            raise
        with self._lock:
            aggregate.stale = [s for s in aggregate.stale if s not in stale]
            aggregate.complete = True
            aggregate.watermark = max(aggregate.watermark, upto)
            aggregate.refreshes += 1
        # A watermark saved late only makes a restart re-read more of the WAL; anything else is saved now.
        if stale or not complete or time.monotonic() - self._saved_at >= _SAVE_INTERVAL_SECS:
            self._save()
        return len(ranges)

    @staticmethod
    def _ranges(definition: AggregateDefinition, pending: set[int], stale: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Whole-bucket [start, end) ranges covering the pending buckets and stale ranges, merged."""
        spans: list[tuple[int, int]] = []
        interval, offset = definition.interval, definition.offset
        for bucket in sorted(pending):
            start = offset + bucket * interval
            if spans and start - spans[-1][1] <= _GAP_BUCKETS * interval:
                spans[-1] = (spans[-1][0], start + interval)
            else:
                spans.append((start, start + interval))
        for start, end in stale:
            low = I64_MIN if start <= I64_MIN else definition.bucket_start(start)
            high = I64_MAX if end >= I64_MAX else definition.bucket_start(end - 1) + interval
            spans.append((low, high))
        spans.sort()
        merged: list[tuple[int, int]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged

    def _recompute(self, aggregate: _Aggregate, start: int, end: int) -> None:
        """Make the materialized rows in [start, end) equal to the defining query's there."""
        definition = aggregate.definition
        bounded = definition.sql if (start, end) == (I64_MIN, I64_MAX) else definition.bounded_select(start, end)
        found = materialize.answer(self.engine, definition, bounded)
        newest = found.newest()
        known_end = aggregate.materialized_end
        # Nothing is materialized from known_end on: only the part before it is read back.
        compared_end = end if known_end is None else min(end, known_end)
        existing = {} if compared_end <= start else self._materialized(definition, start, compared_end)
        gone: list[tuple[Any, ...]] = []
        if existing:
            # Rows from compared_end on are new; only those before it are compared with what is there.
            wanted = found.rows_before(compared_end)
            gone = [key for key, fields in existing.items() if _loses_a_field(fields, wanted.get(key))]
            for key in gone:
                self._delete_point(definition, key)
            dropped = set(gone)
            found.keep_before(compared_end, {key for key, fields in wanted.items() if key in dropped or existing.get(key) != fields})
        batches = found.batches()
        if batches:
            result = self.engine.write_batches(batches)
            if result.errors:
                raise AssertionError(f"BUG: materialized rows of {definition.name!r} refused: {result.errors[0]}")
        aggregate.rows_written += sum(len(batch) for batch in batches)
        aggregate.rows_deleted += len(gone)
        if (start, end) == (I64_MIN, I64_MAX):
            aggregate.materialized_end = I64_MIN if newest is None else newest + definition.interval
        elif known_end is not None:
            aggregate.materialized_end = max(known_end, end)

    def _materialized(self, definition: AggregateDefinition, start: int, end: int) -> dict[tuple[Any, ...], dict[str, Any]]:
        if not self.engine.field_types(definition.name):
            return {}
        columns = ", ".join(['"time"', *(f'"{t}"' for t in definition.tag_columns), *(f'"{c.name}"' for c in definition.field_columns)])
        where = "" if (start, end) == (I64_MIN, I64_MAX) else f" WHERE time >= {start} AND time < {end}"
        known = set(self.engine.field_types(definition.name)) | set(self.engine.tag_keys(definition.name))
        if not all(name in known for name in [*definition.tag_columns, *(c.name for c in definition.field_columns)]):
            columns = "*"
        answer = _select(self.engine, f'SELECT {columns} FROM "{definition.name}"{where}')
        names = [c.name for c in answer.columns]
        out: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in answer.rows:
            values = dict(zip(names, row))
            key = (values["time"], *(values.get(t) for t in definition.tag_columns))
            out[key] = {c.name: values.get(c.name) for c in definition.field_columns}
        return out

    def _delete_point(self, definition: AggregateDefinition, key: tuple[Any, ...]) -> None:
        tags = sorted((t, v) for t, v in zip(definition.tag_columns, key[1:]) if v is not None)
        series_id = self.engine.index.id_of(series_key(definition.name, tags))
        if series_id is not None:
            self.engine.delete([series_id], key[0], key[0] + 1)

    # --- state -----------------------------------------------------------------

    def _read_state(self) -> dict[str, Any]:
        if not os.path.exists(self.path):
            return {}
        try:
            with open(self.path, "rb") as handle:
                state: dict[str, Any] = json.loads(handle.read())
            version = state["version"]
            if not isinstance(state["aggregates"], list) or not isinstance(state.get("downsampling", []), list):
                raise TypeError("aggregates and downsampling must be lists")
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptDataError(self.path, f"unreadable: {exc}") from exc
        if version > STATE_VERSION:
            raise CorruptDataError(self.path, f"version {version} is newer than this build reads ({STATE_VERSION})")
        return state

    def _save(self) -> None:
        self._saved_at = time.monotonic()
        with self._lock:
            state = {
                "version": STATE_VERSION,
                "aggregates": [
                    {"name": a.definition.name, "sql": a.definition.sql, "watermark": a.watermark,
                     "stale": [list(s) for s in a.stale], "complete": a.complete, "realtime": a.realtime}
                    for _, a in sorted(self.aggregates.items())
                ],
                "downsampling": [p.as_json() for _, p in sorted(self.policies.items())],
            }
        temporary = self.path + ".tmp"
        with open(temporary, "wb") as handle:
            handle.write(json.dumps(state).encode())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        fsync_directory(os.path.dirname(self.path))


def _loses_a_field(existing: dict[str, Any], wanted: dict[str, Any] | None) -> bool:
    """Whether a materialized row must be deleted before rewriting: it is no longer wanted, or a
    field it has would stay behind (a write cannot remove a field)."""
    if wanted is None:
        return True
    return any(value is not None and _absent(wanted.get(name)) for name, value in existing.items())


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _select(engine: StorageEngine, sql: str | exp.Select) -> QueryResult:
    """A SELECT's answer (as execute_sql gives it; rusts.sql.statement imports this package)."""
    statement = parse_statement(sql) if isinstance(sql, str) else sql
    assert isinstance(statement, exp.Select), "BUG: only SELECTs are run here"
    translation = translate_select(engine, statement, time.time_ns())
    return translation.finish(execute(engine, translation.query, None))


_REGISTRIES: "weakref.WeakKeyDictionary[StorageEngine, ContinuousAggregates]" = weakref.WeakKeyDictionary()
_REGISTRIES_LOCK = threading.Lock()
_UNOPENED: "weakref.WeakSet[StorageEngine]" = weakref.WeakSet()  # engines whose registry failed to open, logged once


def registry_if_any(engine: StorageEngine, quiet: bool = False) -> ContinuousAggregates | None:
    """The engine's aggregates when it has (or had) any, without opening an empty registry.

    With `quiet`, a registry that cannot open (an unreadable state file, a definition that no
    longer translates) is logged and None: a SELECT on anything else must not fail for it. Retention
    asks without `quiet`, so it stops rather than drop tiers whose periods it cannot read."""
    registry = _REGISTRIES.get(engine)
    if registry is not None:
        return registry
    if not os.path.exists(os.path.join(engine.options.data_dir, STATE_FILE)):
        return None
    if not quiet:
        return aggregates_of(engine)
    try:
        return aggregates_of(engine)
    except RustsError as exc:
        if engine not in _UNOPENED:
            _UNOPENED.add(engine)
            _log.error("continuous aggregates cannot be opened (queries answer from raw rows only): %s", exc)
        return None


def bring_up_to_date(engine: StorageEngine, measurement: str) -> bool:
    """Before a query reads `measurement`: when it is a real-time aggregate, recompute what is pending
    (ContinuousAggregates.bring_up_to_date); True when something was."""
    registry = registry_if_any(engine, quiet=True)
    return registry is not None and registry.bring_up_to_date(measurement)


def aggregates_of(engine: StorageEngine) -> ContinuousAggregates:
    """The engine's aggregates, opened (and listening) on first use."""
    with _REGISTRIES_LOCK:
        registry = _REGISTRIES.get(engine)
        if registry is None:
            registry = ContinuousAggregates.open(engine)
            _REGISTRIES[engine] = registry
        return registry
