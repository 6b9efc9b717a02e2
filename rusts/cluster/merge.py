"""Scatter-gather for queries: each shard answers a partial, the router merges them into the answer.

Shard side: `partial_answer(engine, query)` gives a PartialAnswer.
- Raw queries: the shard's own answer to the query with OFFSET folded into
  LIMIT (limit + offset rows, offset 0), so a shard never ships more rows than
  can place.
- Aggregate queries: per group (the group_by tag values) the mergeable states
  of rusts.query.aggregate (one for "which buckets hold rows", one per
  aggregation): count; sum; mean as sum + count; min; max; spread as min + max;
  first/last as value + time + series key; stddev as count, mean and sum of
  squared deviations (Chan et al.: exact to merge, unlike raw sums of squares);
  median/percentile as the values themselves (exact); count_distinct as the
  distinct values. They are the executor's own states, computed as it computes
  them (header-totals and block pushdown, the partition pass), taken before it
  finishes them; first/last ranks and distinct codes are shipped as series keys
  and values, which the router maps to its own numbering.
- A shard that does not know the measurement or a field answers `known=False`
  with the planner's message; it holds no rows of them.

Router side: `merge_partials(query, partials)`.
- Raw: columns are time, the union of tag keys (sorted), then the projected
  fields (query.fields, or the sorted union of field names); rows are merged by
  (time, series key) (DESC: the exact reverse) as one engine orders them,
  then OFFSET and LIMIT apply.
- Aggregates: states are merged per group with rusts.query.aggregate.merge and
  finished by the executor's own result builder, so fill, group order, paging
  and the empty-ungrouped row are those of a single engine.
- When no shard knows the measurement (or field) the first shard's error is
  raised again, as one engine would; the same field with different types on
  two shards is a QueryError naming both.

Wire form: `encode_partial`/`decode_partial` (msgpack; arrays as dtype + list,
so NaN and uint64 survive). The router must ask every shard the query needs and
report shards it could not reach; this module merges what it is given.
"""

from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

from rusts.core.errors import QueryError
from rusts.core.hashing import series_key
from rusts.query import aggregate as agg
from rusts.query import executor
from rusts.query.errors import UnknownFieldError, UnknownMeasurementError
from rusts.query.executor import execute
from rusts.query.model import Column, Query, QueryResult
from rusts.query.planner import Plan, plan_query
from rusts.query.window_rows import Deadline
from rusts.storage.engine import StorageEngine
from rusts.storage.scan import ScanSnapshot

ROWS_SPEC = agg.AggregateSpec("count", "*", "", 0, False, 0.0, "integer")
WireState = dict[str, tuple[str, list[Any] | bytes]]


class SpecInfo(msgspec.Struct, array_like=True, frozen=True):
    """An AggregateSpec on the wire."""

    function: str
    field: str
    name: str
    kind: int
    is_tag: bool
    p: float
    result_type: str

    def spec(self) -> agg.AggregateSpec:
        return agg.AggregateSpec(self.function, self.field, self.name, self.kind, self.is_tag, self.p, self.result_type)


class GroupStates(msgspec.Struct, array_like=True):
    """One group's states: its tag values, the row-count state, one state (or None) per aggregation."""

    key: list[str | None]
    rows: WireState
    states: list[WireState | None]


class PartialAnswer(msgspec.Struct):
    """What one shard answers. `series_keys` and `distinct` give meaning to the "r" (series rank) and
    "code" (distinct value) arrays of the states: indexes into them."""

    known: bool
    error: str = ""
    error_kind: str = ""
    columns: list[Column] = msgspec.field(default_factory=list)
    rows: list[list[Any]] = msgspec.field(default_factory=list)
    tag_keys: list[str] = msgspec.field(default_factory=list)
    specs: list[SpecInfo] = msgspec.field(default_factory=list)
    groups: list[GroupStates] = msgspec.field(default_factory=list)
    series_keys: list[str] = msgspec.field(default_factory=list)
    distinct: list[str] = msgspec.field(default_factory=list)


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(PartialAnswer)


def encode_partial(partial: PartialAnswer) -> bytes:
    return _encoder.encode(partial)


def decode_partial(data: bytes) -> PartialAnswer:
    """A PartialAnswer from its wire form; QueryError when it is not one."""
    try:
        return _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise QueryError(f"malformed partial answer from a shard: {error}") from None


def _wire(state: agg.State) -> WireState:
    """Arrays as (dtype, raw bytes); object arrays (strings of first/last) as (\"object\", list)."""
    wired: WireState = {}
    for key, values in state.items():
        if values.dtype == object:
            wired[key] = ("object", values.tolist())
        else:
            wired[key] = (values.dtype.str, np.ascontiguousarray(values).tobytes())
    return wired


def _unwire(state: WireState) -> agg.State:
    out: agg.State = {}
    for key, (dtype, values) in state.items():
        if dtype == "object":
            if not isinstance(values, list):
                raise ValueError(f"state {key!r}: an object array must be a list")
            out[key] = np.array(values, dtype=object)
            continue
        if not isinstance(values, bytes):
            raise ValueError(f"state {key!r}: expected raw bytes")
        kind = np.dtype(dtype)
        if kind.hasobject or kind.itemsize == 0 or len(values) % kind.itemsize:
            raise ValueError(f"state {key!r}: {len(values)} bytes do not hold {dtype} values")
        out[key] = np.frombuffer(values, dtype=kind).copy()
    return out


# ---- shard side ----


def partial_answer(engine: StorageEngine, query: Query, timeout: float | None = None) -> PartialAnswer:
    """This shard's part of `query` (`engine` holds the shard; one engine per shard, see docs/cluster.md)."""
    try:
        plan = plan_query(engine, query)
    except (UnknownMeasurementError, UnknownFieldError) as error:
        return PartialAnswer(known=False, error=str(error), error_kind=type(error).__name__)
    if plan.strategy != "aggregate":
        limit = None if query.limit is None else query.limit + query.offset
        pushed = msgspec.structs.replace(query, limit=limit, offset=0)
        result = execute(engine, pushed, timeout)
        return PartialAnswer(known=True, columns=result.columns, rows=result.rows, tag_keys=plan.tag_keys)
    return _aggregate_partial(engine, query, plan, timeout)


def _aggregate_partial(engine: StorageEngine, query: Query, plan: Plan, timeout: float | None) -> PartialAnswer:
    groups, distinct_codes = _executor_groups(engine, plan, timeout)
    # The executor's ranks are positions in plan.series, which is in series-key order: ship the keys.
    series_keys = [ref.key for ref in plan.series]
    distinct = [""] * len(distinct_codes)
    for value, code in distinct_codes.items():
        distinct[code] = value
    shipped: list[GroupStates] = []
    for key, group in groups.items():
        assert group.rows is not None, "BUG: a group without rows"
        states = [None if state is None else _wire(state) for state in group.states]
        shipped.append(GroupStates(list(key), _wire(group.rows), states))
    specs = [SpecInfo(s.function, s.field, s.name, s.kind, s.is_tag, s.p, s.result_type) for s in plan.aggregations]
    return PartialAnswer(
        known=True, tag_keys=plan.tag_keys, specs=specs, groups=shipped, series_keys=series_keys, distinct=distinct
    )


def _executor_groups(
    engine: StorageEngine, plan: Plan, timeout: float | None
) -> tuple[dict[tuple[str | None, ...], executor._Group], dict[str, int]]:
    """The executor's per-group partial states before it finishes them (block-header pushdown, the
    partition pass and all)."""
    return executor.aggregate_groups(plan, ScanSnapshot(engine, plan.start, plan.end), Deadline(timeout))


# ---- router side ----


def merge_partials(query: Query, partials: list[PartialAnswer]) -> QueryResult:
    """The answer to `query` from the partial answers of every shard it needs."""
    known = [p for p in partials if p.known]
    if not known:
        _raise_unknown(query, partials)
    if query.aggregations:
        return _merge_aggregates(query, known)
    return _merge_raw(query, known)


def _raise_unknown(query: Query, partials: list[PartialAnswer]) -> None:
    first = next((p for p in partials if p.error), None)
    if first is None or first.error_kind == "UnknownMeasurementError":
        raise UnknownMeasurementError(query.measurement)
    raise QueryError(first.error)


def _merged_types(partials: list[PartialAnswer]) -> dict[str, str]:
    types: dict[str, str] = {}
    for partial in partials:
        for column in partial.columns:
            seen = types.setdefault(column.name, column.type)
            if seen != column.type:
                raise QueryError(f"column {column.name!r} is {seen} on one shard and {column.type} on another")
    return types


def _merge_raw(query: Query, partials: list[PartialAnswer]) -> QueryResult:
    tag_keys = sorted({key for p in partials for key in p.tag_keys})
    types = _merged_types(partials)
    fields = list(dict.fromkeys(query.fields)) if query.fields is not None else sorted(set(types) - set(tag_keys) - {"time"})
    columns = [Column("time", "timestamp")] + [Column(k, "string") for k in tag_keys] + [Column(f, types[f]) for f in fields if f in types]
    names = [c.name for c in columns]
    keyed: list[tuple[int, str, list[Any]]] = []
    for partial in partials:
        at = {c.name: i for i, c in enumerate(partial.columns)}
        picks = [at.get(name) for name in names]
        for row in partial.rows:
            out: list[Any] = [None if i is None else row[i] for i in picks]
            tags: list[tuple[str, str]] = [(key, out[1 + j]) for j, key in enumerate(tag_keys) if out[1 + j] is not None]
            keyed.append((out[0], series_key(query.measurement, tags), out))
    keyed.sort(key=lambda item: (item[0], item[1]), reverse=query.order == "desc")
    stop = None if query.limit is None else query.offset + query.limit
    return QueryResult(columns, [row for _, _, row in keyed[query.offset : stop]])


def _merge_aggregates(query: Query, partials: list[PartialAnswer]) -> QueryResult:
    specs = partials[0].specs
    for partial in partials[1:]:
        for mine, theirs in zip(specs, partial.specs):
            if mine != theirs:
                raise QueryError(
                    f"aggregation {mine.function}({mine.field}) is typed {mine.result_type} on one shard and "
                    f"{theirs.result_type} on another: the field has different types across shards"
                )
    plan = _merge_plan(query, [s.spec() for s in specs])
    keys = sorted({key for p in partials for key in p.series_keys})
    rank_of = {key: rank for rank, key in enumerate(keys)}
    codes: dict[str, int] = {}
    collected: dict[tuple[str | None, ...], tuple[list[agg.State], list[list[agg.State]]]] = {}
    for partial in partials:
        ranks = np.array([rank_of[key] for key in partial.series_keys], dtype=np.int64)
        recode = np.array([codes.setdefault(value, len(codes)) for value in partial.distinct], dtype=np.int64)
        for group in partial.groups:
            rows, states = collected.setdefault(tuple(group.key), ([], [[] for _ in specs]))
            if len(group.states) != len(specs):
                raise QueryError(f"malformed partial answer from a shard: {len(group.states)} states for {len(specs)} aggregations")
            try:
                rows.append(_unwire(group.rows))
                for held, wire in zip(states, group.states):
                    if wire is not None:
                        held.append(_remapped(_unwire(wire), ranks, recode))
            except (ValueError, TypeError, IndexError) as error:
                raise QueryError(f"malformed partial answer from a shard: {error}") from None
    groups: dict[tuple[str | None, ...], executor._Group] = {}
    for key, (rows, states) in collected.items():
        # The executor's own group holder and result builder: fill, ordering and paging as on one engine.
        holder = executor._Group(len(specs))
        try:
            holder.rows = agg.merge(ROWS_SPEC, rows)
            holder.states = [agg.merge(spec, held) for spec, held in zip(plan.aggregations, states)]
        except (KeyError, ValueError, TypeError, IndexError) as error:
            raise QueryError(f"malformed partial answer from a shard: state does not fit its aggregation ({error!r})") from None
        if holder.rows is None:
            raise QueryError("malformed partial answer from a shard: a group without rows")
        groups[key] = holder
    return executor._aggregate_result(plan, groups)


def _remapped(state: agg.State, ranks: NDArray[np.int64], recode: NDArray[np.int64]) -> agg.State:
    if "r" in state:
        state["r"] = ranks[state["r"]] if len(state["r"]) else state["r"]
    if "code" in state:
        state["code"] = recode[state["code"]] if len(state["code"]) else state["code"]
    return state


def _merge_plan(query: Query, specs: list[agg.AggregateSpec]) -> Plan:
    """The parts of a Plan the executor's result builder reads, from the query itself."""
    plan = Plan()
    plan.measurement = query.measurement
    plan.aggregations = specs
    plan.strategy = "aggregate"
    if query.time_range is not None:
        plan.range_start, plan.range_end = query.time_range.start, query.time_range.end
    plan.limit, plan.offset = query.limit, query.offset
    plan.descending = query.order == "desc"
    group = query.group_by
    if group is not None:
        plan.group_tags = list(group.tags)
        plan.fill = group.fill
        if group.time is not None:
            plan.interval, plan.offset_ns = group.time.interval, group.time.offset
    return plan
