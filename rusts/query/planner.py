"""The planner: checks a Query against the catalogue and turns it into a Plan the executor runs.

It resolves the series from the tag index (rusts.query.filters), orders them
by series key (the tie-break of rows with equal times), compiles field
predicates, names and types the output columns, and chooses the strategy:

    aggregate   series by series into per-group partial states; block headers
                answer COUNT/SUM/MEAN/MIN/MAX/SPREAD of whole blocks when the
                query has no field predicate (the scan decides per block)
    top-k       raw rows with a LIMIT: per series only the blocks nearest the
                end asked for (ORDER BY time [DESC] LIMIT n)
    raw         every matching row
"""

from typing import Final

from rusts.core.kinds import KIND_BOOLEAN, KIND_FLOAT, KIND_INTEGER, KIND_NAMES, KIND_STRING, KIND_UNSIGNED
from rusts.query.aggregate import NUMERIC_ONLY, ORDERED_ONLY, PUSHABLE, AggregateSpec
from rusts.query.errors import FieldTypeError, InvalidQueryError, UnknownFieldError, UnknownMeasurementError
from rusts.query.filters import FieldCondition, TagResolver
from rusts.query.model import Fill, Query
from rusts.storage.engine import StorageEngine

TIME_MIN: Final = -(2**63)
TIME_MAX: Final = 2**63 - 1
NUMERIC_KINDS: Final = frozenset({KIND_FLOAT, KIND_INTEGER, KIND_UNSIGNED})


class SeriesRef:
    """A series the query reads: id, key (the tie-break), rank in key order, tags."""

    __slots__ = ("series_id", "key", "rank", "tags")

    def __init__(self, series_id: int, key: str, rank: int, tags: dict[str, str]) -> None:
        self.series_id = series_id
        self.key = key
        self.rank = rank
        self.tags = tags


class Plan:
    """Everything the executor needs, checked."""

    def __init__(self) -> None:
        self.measurement = ""
        self.start = TIME_MIN
        self.end = TIME_MAX
        self.range_start: int | None = None
        self.range_end: int | None = None
        self.series: list[SeriesRef] = []
        self.kinds: dict[str, int] = {}
        self.tag_keys: list[str] = []
        self.projection: list[str] = []
        self.read_columns: list[str] = []
        self.conditions: list[FieldCondition] = []
        self.aggregations: list[AggregateSpec] = []
        self.group_tags: list[str] = []
        self.interval: int | None = None
        self.offset_ns = 0
        self.fill: Fill = "none"
        self.descending = False
        self.limit: int | None = None
        self.offset = 0
        self.strategy = "raw"
        self.pushdown = False


def plan_query(engine: StorageEngine, query: Query) -> Plan:
    plan = Plan()
    plan.measurement = query.measurement
    kinds = dict(engine.fields.get(query.measurement, {}))
    if not kinds:
        raise UnknownMeasurementError(query.measurement)
    plan.kinds = kinds
    plan.tag_keys = engine.tag_keys(query.measurement)
    _plan_range(plan, query)
    _plan_paging(plan, query)
    plan.conditions = [_condition(plan, p.field, p.op, p.value) for p in query.field_filter]
    plan.projection = _projection(plan, query)
    if query.aggregations:
        _plan_aggregate(plan, query)
    elif query.group_by is not None:
        raise InvalidQueryError("group_by needs at least one aggregation")
    else:
        plan.read_columns = list(dict.fromkeys(plan.projection + [c.field for c in plan.conditions]))
        plan.strategy = "top-k" if plan.limit is not None else "raw"
    plan.series = _series(engine, query)
    return plan


def _plan_range(plan: Plan, query: Query) -> None:
    if query.time_range is None:
        return
    plan.range_start, plan.range_end = query.time_range.start, query.time_range.end
    if plan.range_start is not None:
        plan.start = plan.range_start
    if plan.range_end is not None:
        plan.end = plan.range_end
    if plan.start >= plan.end:
        raise InvalidQueryError(f"time_range: start {plan.start} is not before end {plan.end}: the range is empty")


def _plan_paging(plan: Plan, query: Query) -> None:
    if query.limit is not None and query.limit < 0:
        raise InvalidQueryError(f"limit must be at least 0, got {query.limit}")
    if query.offset < 0:
        raise InvalidQueryError(f"offset must be at least 0, got {query.offset}")
    plan.limit, plan.offset = query.limit, query.offset
    plan.descending = query.order == "desc"


def _kind(plan: Plan, field: str, where: str) -> int:
    kind = plan.kinds.get(field)
    if kind is None:
        raise UnknownFieldError(plan.measurement, field, where)
    return kind


def _condition(plan: Plan, field: str, op: str, value: bool | int | float | str) -> FieldCondition:
    where = f"field_filter {field} {op} {value!r}"
    kind = _kind(plan, field, where)
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    fits = (
        (kind in NUMERIC_KINDS and is_number)
        or (kind == KIND_STRING and isinstance(value, str))
        or (kind == KIND_BOOLEAN and isinstance(value, bool))
    )
    if not fits:
        raise FieldTypeError(field, KIND_NAMES[kind], f"{where}: cannot compare with a {type(value).__name__}")
    return FieldCondition(field, op, float(value) if kind == KIND_FLOAT else value, kind)


def _projection(plan: Plan, query: Query) -> list[str]:
    if query.fields is None:
        return sorted(plan.kinds)
    for field in query.fields:
        _kind(plan, field, "fields")
    return list(dict.fromkeys(query.fields))


def _plan_aggregate(plan: Plan, query: Query) -> None:
    plan.strategy = "aggregate"
    group = query.group_by
    if group is not None:
        plan.group_tags = list(group.tags)
        plan.fill = group.fill
        if group.time is not None:
            if group.time.interval <= 0:
                raise InvalidQueryError(f"group_by.time.interval must be positive, got {group.time.interval}")
            plan.interval, plan.offset_ns = group.time.interval, group.time.offset
    specs = [_spec(plan, a.function, a.field, a.alias, a.p) for a in query.aggregations]
    plan.aggregations = specs
    fields = [s.field for s in specs if s.field != "*" and not s.is_tag]
    plan.read_columns = list(dict.fromkeys(fields + [c.field for c in plan.conditions]))
    plan.pushdown = not plan.conditions and all(s.function in PUSHABLE for s in specs)


def _spec(plan: Plan, function: str, field: str, alias: str | None, p: float | None) -> AggregateSpec:
    where = f"aggregation {function}({field})"
    if field == "*":
        if function != "count":
            raise InvalidQueryError(f"{where}: only count takes '*'")
        return AggregateSpec(function, field, alias or "count", KIND_INTEGER, False, 0.0, "integer")
    if function == "count_distinct" and field not in plan.kinds and field in plan.tag_keys:
        return AggregateSpec(function, field, alias or f"count_distinct_{field}", KIND_STRING, True, 0.0, "integer")
    kind = _kind(plan, field, where)
    if function in NUMERIC_ONLY and kind not in NUMERIC_KINDS:
        raise FieldTypeError(field, KIND_NAMES[kind], f"{where}: {function} needs a numeric field")
    if function in ORDERED_ONLY and kind not in NUMERIC_KINDS and kind != KIND_STRING:
        raise FieldTypeError(field, KIND_NAMES[kind], f"{where}: {function} needs a numeric or string field")
    percentile = 0.0
    if function == "percentile":
        if p is None or not 0.0 <= p <= 100.0:
            raise InvalidQueryError(f"{where}: p must be within [0, 100], got {p}")
        percentile = float(p)
    name = alias or (f"percentile_{percentile:g}_{field}" if function == "percentile" else f"{function}_{field}")
    if function in ("count", "count_distinct"):
        result_type = "integer"
    elif function in ("mean", "stddev", "median", "percentile"):
        result_type = "float"
    else:
        result_type = KIND_NAMES[kind]
    return AggregateSpec(function, field, name, kind, False, percentile, result_type)


def _series(engine: StorageEngine, query: Query) -> list[SeriesRef]:
    resolver = TagResolver(engine.index.tags, query.measurement)
    numbers = resolver.resolve(query.tag_filter)
    found: list[SeriesRef] = []
    for series_id in engine.index.ids_of(numbers).tolist():
        entry = engine.index.lookup(int(series_id))
        if entry is not None:
            found.append(SeriesRef(int(series_id), entry.key, 0, dict(entry.tags)))
    found.sort(key=lambda ref: ref.key)
    for rank, ref in enumerate(found):
        ref.rank = rank
    return found
