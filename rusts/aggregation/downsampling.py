"""Downsampling: tiers of a measurement as continuous aggregates, and queries answered from them.

Each tier of a policy (rusts.aggregation.policy) is a continuous aggregate over the raw
measurement, named `<measurement>_<interval>`, grouping by every tag key the measurement has
when the policy is created:

    SELECT time_bucket('1m', time) AS time, <tags>, avg(f) AS f, sum(f) AS f__sum, count(f) AS f__count,
           max(g) AS g, ..., count(*) AS __points FROM m GROUP BY 1, <tags>

A float field kept with avg also keeps its sum and count (`f__sum`, `f__count`), so a coarser
bucket is computed exactly from finer ones; an integer field kept with avg keeps only its count
(an integer sum may leave bigint, ns timestamps do, and would stop every refresh), so its mean
is answered from the tier only where each query row is one tier row. `__points` counts rows
(for count(*)). The raw measurement
keeps the policy's raw period and each tier its own (rusts.retention.manager reads `periods`).

Answering from a tier (`route`, `answer`): an aggregating query on the raw measurement whose
time bucket is a whole multiple of a tier's (and aligned with it), grouping and filtering only
by tags the tier keeps, with no field filter or gap filling, and asking only what the tier can
give back exactly:

    count(*)        sum(__points)
    count(f)        sum(f__count) (f kept with avg) or sum(f) (kept with count)
    sum(f)          sum(f__sum) (avg) or sum(f) (sum)
    avg(f)          sum(f__sum) / sum(f__count) (avg, floats); for integers avg(f) where the query's
                    buckets are the tier's and it groups by every tag the tier keeps
    min, max of f   the same function, when f is kept with it
    first, last     the same, when f is kept with it and the query groups by every tag the tier
                    keeps (tier rows of several series share bucket times)

is answered from the coarsest such tier for every bucket before the tier's first pending or
stale bucket (rounded down to the query's buckets), and from the raw measurement after it; the
two parts' rows are merged in the executor's order. Results equal the raw query's where both
exist (floating-point sums may differ in the last bits: the sum of per-bucket sums is added in
another order). `explain` says which tier answered which range; `/stats` counts the answers.
"""

import threading
import weakref
from collections import Counter
from typing import Any, NamedTuple

import msgspec

from rusts.aggregation.continuous import ContinuousAggregates, UnknownAggregateError, aggregates_of, bring_up_to_date, registry_if_any
from rusts.aggregation.policy import NUMERIC_ONLY, DownsamplingError, DownsamplingPolicy, Tier, format_duration
from rusts.core.errors import RustsError
from rusts.query.executor import execute, result_columns
from rusts.query.model import Aggregation, Column, GroupBy, Query, QueryResult, TimeRange
from rusts.storage.engine import I64_MAX, I64_MIN, StorageEngine

POINTS: str = "__points"
_NUMERIC = frozenset({"float", "integer", "unsigned"})


# --- policies ------------------------------------------------------------------------


def tier_sql(policy: DownsamplingPolicy, tier: Tier, tags: list[str], fields: dict[str, str]) -> str:
    """The defining SELECT of one tier over the measurement's current tags and fields (name -> kind)."""
    columns = [f"time_bucket('{tier.label}', time) AS time", *(_quoted(tag) for tag in tags)]
    for name, kind in sorted(fields.items()):
        function = policy.function_of(tier, name)
        if function == "none":
            continue
        if kind not in _NUMERIC:
            if name in policy.fields and function in NUMERIC_ONLY:
                raise DownsamplingError(f"field {name!r} of {policy.measurement!r} is {kind}: {function} needs numbers (use first, last or count)", name)
            if function in NUMERIC_ONLY:
                function = "last"
        field = _quoted(name)
        if function == "mean" and kind == "float":
            columns += [f"avg({field}) AS {field}", f"sum({field}) AS {_quoted(name + '__sum')}", f"count({field}) AS {_quoted(name + '__count')}"]
        elif function == "mean":
            # An integer sum may leave bigint (ns timestamps do): no __sum, so the refresh cannot fail.
            columns += [f"avg({field}) AS {field}", f"count({field}) AS {_quoted(name + '__count')}"]
        else:
            columns.append(f"{function}({field}) AS {field}")
    columns.append(f"count(*) AS {_quoted(POINTS)}")
    group = ", ".join(str(i) for i in range(1, len(tags) + 2))
    return f"SELECT {', '.join(columns)} FROM {_quoted(policy.measurement)} GROUP BY {group}"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_policy(engine: StorageEngine, policy: DownsamplingPolicy) -> list[str]:
    """Create the policy's tiers (materialized from the raw rows there are) and keep the policy;
    the tier names. DownsamplingError when the measurement has no fields yet or a name is taken."""
    registry = aggregates_of(engine)
    if policy.measurement in registry.policies:
        raise DownsamplingError(f"measurement {policy.measurement!r} already has a downsampling policy (DROP DOWNSAMPLING POLICY ON {policy.measurement} first)", policy.measurement)
    fields = engine.field_types(policy.measurement)
    if not fields:
        raise DownsamplingError(f"measurement {policy.measurement!r} has no data yet: a downsampling policy takes its fields from it", policy.measurement)
    for name in policy.fields:
        if name not in fields:
            raise DownsamplingError(f"field {name!r} is not a field of {policy.measurement!r} (fields: {', '.join(sorted(fields))})", name)
    tags = engine.tag_keys(policy.measurement)
    statements = [(policy.tier_name(tier), tier_sql(policy, tier, tags, fields)) for tier in policy.tiers]
    created: list[str] = []
    try:
        for name, sql in statements:
            registry.create(name, sql)
            created.append(name)
    except BaseException:
        for name in created:
            registry.drop(name, if_exists=True)
        raise
    registry.set_policy(policy)
    return created


def ensure_policy(engine: StorageEngine, policy: DownsamplingPolicy) -> bool:
    """Make the policy of rusts.yml hold: create it, or take its new periods; False when nothing
    changed. A stored policy with other tiers or functions is not replaced (that would drop data
    the raw measurement no longer has): DownsamplingError says to drop it first."""
    registry = aggregates_of(engine)
    existing = registry.policies.get(policy.measurement)
    if existing is None:
        create_policy(engine, policy)
        return True
    if existing.shape() != policy.shape():
        raise DownsamplingError(
            f"the downsampling policy of {policy.measurement!r} is stored as '{existing.text()}' with other tiers or "
            f"field functions than '{policy.text()}'; changing them would drop data the raw measurement no longer has: "
            f"DROP DOWNSAMPLING POLICY ON {policy.measurement} to start over",
            policy.measurement,
        )
    if existing == policy:
        return False
    registry.set_policy(policy)
    return True


def ensure_configured(engine: StorageEngine, policies: list[DownsamplingPolicy]) -> list[tuple[DownsamplingPolicy, RustsError]]:
    """Make each policy of rusts.yml hold (ensure_policy); those that could not, with why (e.g. the
    measurement has no data yet: the caller retries them later)."""
    failed: list[tuple[DownsamplingPolicy, RustsError]] = []
    for policy in policies:
        try:
            ensure_policy(engine, policy)
        except RustsError as exc:
            failed.append((policy, exc))
    return failed


def drop_policy(engine: StorageEngine, measurement: str, if_exists: bool = False) -> bool:
    """Forget the policy and drop its tiers (their data too); False when there was none (if_exists)."""
    registry = registry_if_any(engine)
    policy = None if registry is None else registry.policies.get(measurement)
    if registry is None or policy is None:
        if if_exists:
            return False
        raise UnknownAggregateError(f"measurement {measurement!r} has no downsampling policy")
    registry.set_policy(None, measurement)
    for tier in policy.tiers:
        registry.drop(policy.tier_name(tier), if_exists=True)
    return True


def periods(engine: StorageEngine) -> dict[str, int | None]:
    """Retention per measurement that downsampling policies set: raw (when given) and every tier."""
    registry = registry_if_any(engine)
    if registry is None:
        return {}
    found: dict[str, int | None] = {}
    for policy in registry.policies.values():
        if policy.raw is not None:
            found[policy.measurement] = policy.raw
        for tier in policy.tiers:
            found[policy.tier_name(tier)] = tier.period
    return found


POLICY_COLUMNS = [
    Column("measurement", "string"), Column("tier", "string"), Column("bucket", "string"), Column("function", "string"),
    Column("retention", "string"), Column("fields", "string"), Column("up_to_date_before", "timestamp"),
]


def policy_rows(engine: StorageEngine) -> list[list[Any]]:
    """SHOW DOWNSAMPLING POLICIES: one row for the raw measurement, one per tier."""
    registry = registry_if_any(engine)
    if registry is None:
        return []
    rows: list[list[Any]] = []
    for measurement, policy in sorted(registry.policies.items()):
        overrides = ", ".join(f"{name}: {function}" for name, function in sorted(policy.fields.items()))
        rows.append([measurement, measurement, "raw", "", format_duration(policy.raw), overrides, None])
        for tier in policy.tiers:
            name = policy.tier_name(tier)
            dirty = registry.dirty_from(name) if name in registry.aggregates else I64_MIN
            rows.append([measurement, name, tier.label, "avg" if tier.function == "mean" else tier.function,
                         format_duration(tier.period), overrides, None if dirty is None else dirty])
    return rows


# --- answering from a tier -----------------------------------------------------------------


class Route(NamedTuple):
    """A query answered by `tier` in [low, high) (whole buckets of the query; I64_MIN/I64_MAX: no
    bound), by the raw measurement outside it: before `low` when the query's range starts inside a
    bucket, from `high` on where the tier has pending buckets or the range ends inside one."""

    tier: str
    interval: int
    low: int
    high: int
    query: Query  # on the tier, for [low, high)
    combine: list[tuple[str, list[int]]]  # per original aggregation: how, from which tier columns


def route(engine: StorageEngine, query: Query) -> Route | None:
    """How a tier answers part of `query`, or None when the raw measurement answers all of it."""
    registry = registry_if_any(engine, quiet=True)
    if registry is None or not registry.policies:
        return None
    policy = registry.policies.get(query.measurement)
    group = query.group_by
    if policy is None or group is None or group.time is None or group.fill != "none" or not query.aggregations or query.field_filter:
        return None
    start = query.time_range.start if query.time_range is not None else None
    best: Route | None = None
    for tier in reversed(policy.tiers):  # coarsest first
        found = _tier_route(registry, policy, tier, query)
        if found is not None:
            best = found
            break
    return best


def _tier_route(registry: ContinuousAggregates, policy: DownsamplingPolicy, tier: Tier, query: Query) -> Route | None:
    name = policy.tier_name(tier)
    aggregate = registry.aggregates.get(name)
    group = query.group_by
    assert group is not None and group.time is not None, "BUG: route checked the query groups by time"
    if aggregate is None:
        return None
    definition = aggregate.definition
    if group.time.interval % definition.interval or (group.time.offset - definition.offset) % definition.interval:
        return None
    tags = set(definition.tag_columns)
    if not set(group.tags) <= tags or not _filter_keys(query.tag_filter) <= tags:
        return None
    stored = {c.name: c for c in definition.field_columns}
    wanted: list[Aggregation] = []
    combine: list[tuple[str, list[int]]] = []
    # first/last of tier rows that merge several tier series would pick among equal bucket times
    whole_series = tags <= set(group.tags)
    for aggregation in query.aggregations:
        plan = _reaggregation(policy, tier, stored, aggregation, whole_series, group.time.interval == definition.interval)
        if plan is None:
            return None
        how, sources = plan
        combine.append((how, list(range(len(wanted), len(wanted) + len(sources)))))
        wanted += sources
    dirty = registry.dirty_from(name)
    if dirty == I64_MIN:
        return None
    interval, offset = group.time.interval, group.time.offset
    start = query.time_range.start if query.time_range is not None else None
    end = query.time_range.end if query.time_range is not None else None
    # A tier row stands for its whole bucket: only query buckets inside the range come from it.
    low = I64_MIN if start is None else offset - (offset - start) // interval * interval  # rounded up
    high = I64_MAX if end is None else offset + (end - offset) // interval * interval  # rounded down
    if tier.period is not None:
        # The tier holds data only for its own period; before that the raw rows answer (if any are left).
        horizon = registry.engine.options.clock() - tier.period
        low = max(low, offset - (offset - horizon) // interval * interval)
    if dirty is not None:
        high = min(high, offset + (dirty - offset) // interval * interval)
    if low >= high:
        return None
    tier_query = Query(
        measurement=name, time_range=TimeRange(None if low == I64_MIN else low, None if high == I64_MAX else high),
        tag_filter=query.tag_filter, aggregations=wanted, group_by=GroupBy(tags=list(group.tags), time=group.time),
    )
    return Route(name, definition.interval, low, high, tier_query, combine)


def _filter_keys(predicate: Any) -> set[str]:
    if predicate is None:
        return set()
    keys: set[str] = set()
    key = getattr(predicate, "key", None)
    if isinstance(key, str):
        keys.add(key)
    for child in getattr(predicate, "predicates", None) or []:
        keys |= _filter_keys(child)
    inner = getattr(predicate, "predicate", None)
    if inner is not None:
        keys |= _filter_keys(inner)
    return keys


def _reaggregation(
    policy: DownsamplingPolicy, tier: Tier, stored: dict[str, Column], aggregation: Aggregation, whole_series: bool,
    same_buckets: bool,
) -> tuple[str, list[Aggregation]] | None:
    """(how to combine, aggregations over the tier) giving `aggregation` exactly, or None."""
    function, field = aggregation.function, aggregation.field
    if aggregation.p is not None:
        return None
    if field == "*":
        return ("same", [Aggregation("sum", POINTS)]) if function == "count" and POINTS in stored else None
    if field not in stored:
        return None
    averaged = f"{field}__sum" in stored and f"{field}__count" in stored
    counted = f"{field}__count" in stored
    kept = "mean" if counted else policy.function_of(tier, field)
    if function == "mean" and counted and not averaged:
        # an integer mean: exact only where each query row is one tier row
        return ("same", [Aggregation("mean", field)]) if same_buckets and whole_series else None
    if function == "count" and counted:
        return "same", [Aggregation("sum", f"{field}__count")]
    if function == "mean" and averaged:
        return "divide", [Aggregation("sum", f"{field}__sum"), Aggregation("sum", f"{field}__count")]
    if function == "sum" and averaged:
        return "same", [Aggregation("sum", f"{field}__sum")]
    if function in ("sum", "count") and kept == function:
        return "same", [Aggregation("sum", field)]
    if function in ("min", "max") and kept == function:
        return "same", [Aggregation(function, field)]
    if function in ("first", "last") and kept == function and whole_series:
        return "same", [Aggregation(function, field)]
    return None


def answer(engine: StorageEngine, query: Query, layout: list[Column], timeout: float | None = None) -> tuple[QueryResult, Route] | None:
    """The executor's result for `query` with a tier answering what it can (see the module
    docstring), or None when no tier applies (the caller runs the query as it is)."""
    found = route(engine, query)
    if found is None:
        return None
    start = query.time_range.start if query.time_range is not None else None
    end = query.time_range.end if query.time_range is not None else None
    tier_result = execute(engine, found.query, timeout)
    groups = len(query.group_by.tags) if query.group_by is not None else 0
    rows = _combined_rows(tier_result.rows, groups, found.combine)
    parts: list[tuple[int | None, int | None]] = []
    if found.low != I64_MIN and (start is None or start < found.low):
        parts.append((start, found.low))
    if found.high < (I64_MAX if end is None else end):
        parts.append((found.high, end))
    for part_start, part_end in parts:
        raw = msgspec.structs.replace(query, time_range=TimeRange(part_start, part_end), limit=None, offset=0, order="asc")
        rows += execute(engine, raw, timeout).rows
    _count(engine, found.tier)
    # The tier's rows alone come in the executor's order already (ascending: reversed per group for desc).
    ordered = _in_executor_order(rows, groups, query.order == "desc") if parts or query.order == "desc" else rows
    stop = None if query.limit is None else query.offset + query.limit
    return QueryResult(list(layout), ordered[query.offset : stop]), found


def tier_answer(engine: StorageEngine, query: Query, layout: list[Column], timeout: float | None = None) -> QueryResult | None:
    """answer()'s result, or None (counted as answered by the raw rows) when no tier applies."""
    routed = answer(engine, query, layout, timeout)
    if routed is None:
        count_raw_answer(engine, query.measurement)
        return None
    return routed[0]


def execute_model(engine: StorageEngine, query: Query, timeout: float | None = None) -> QueryResult:
    """A JSON-model query (POST /query) answered as SQL SELECTs are: a real-time aggregate it reads is
    brought up to date first, and a downsampling tier answers what it can (counted in /stats)."""
    bring_up_to_date(engine, query.measurement)
    routed = tier_answer(engine, query, result_columns(engine, query), timeout)
    return routed if routed is not None else execute(engine, query, timeout)


def _combined_rows(tier_rows: list[list[Any]], groups: int, combine: list[tuple[str, list[int]]]) -> list[list[Any]]:
    """The tier query's rows with each original aggregate's value (column by column: zip runs in C)."""
    if not tier_rows:
        return []
    columns = list(zip(*tier_rows))
    values = columns[1 + groups :]
    outputs: list[Any] = []
    for how, at in combine:
        if how == "same":
            outputs.append(values[at[0]])
        else:
            outputs.append([None if total is None or not count else float(total) / count for total, count in zip(values[at[0]], values[at[1]])])
    return [list(row) for row in zip(*columns[: 1 + groups], *outputs)]


def _in_executor_order(rows: list[list[Any]], groups: int, descending: bool) -> list[list[Any]]:
    """Rows by group (NULL tags first, as the executor sorts them), then by bucket time."""
    rows.sort(key=lambda row: row[0], reverse=descending)
    rows.sort(key=lambda row: [(v is not None, v or "") for v in row[1 : 1 + groups]])
    return rows


# --- reports ------------------------------------------------------------------------------

_ANSWERS: "weakref.WeakKeyDictionary[StorageEngine, Counter[str]]" = weakref.WeakKeyDictionary()
_ANSWERS_LOCK = threading.Lock()


def _count(engine: StorageEngine, tier: str) -> None:
    with _ANSWERS_LOCK:
        _ANSWERS.setdefault(engine, Counter())[tier] += 1


def count_raw_answer(engine: StorageEngine, measurement: str) -> None:
    """Count a query on a downsampled measurement that its raw rows answered whole."""
    registry = registry_if_any(engine, quiet=True)
    if registry is not None and measurement in registry.policies:
        _count(engine, measurement)


def report(engine: StorageEngine) -> dict[str, Any]:
    """Policies and how many queries each tier (or the raw measurement) answered, for /stats."""
    registry = registry_if_any(engine, quiet=True)
    if registry is None:
        return {"policies": [], "answered_by": {}}
    with _ANSWERS_LOCK:
        answered = dict(_ANSWERS.get(engine, Counter()))
    return {
        "policies": [
            {"measurement": m, "policy": p.text(), "fields": dict(p.fields), "tiers": [p.tier_name(t) for t in p.tiers]}
            for m, p in sorted(registry.policies.items())
        ],
        "answered_by": answered,
    }


def explain(engine: StorageEngine, query: Query) -> list[str]:
    """Lines saying what answers `query`: which tier for which range, and the raw measurement."""
    found = route(engine, query)
    lines = [f"Query on {query.measurement}"]
    if query.group_by is not None and query.group_by.time is not None:
        lines.append(f"  time buckets: {format_duration(query.group_by.time.interval)}")
    registry = registry_if_any(engine, quiet=True)
    if registry is not None and query.measurement in registry.aggregates:
        aggregate = registry.aggregates[query.measurement]
        mode = "real time (pending buckets recomputed before reading)" if aggregate.realtime else "materialized only"
        lines.append(f"  continuous aggregate {query.measurement} of {aggregate.definition.source}: {mode}")
    if found is None:
        lines.append(f"  answered by: raw {query.measurement}")
        return lines
    start = query.time_range.start if query.time_range is not None else None
    end = query.time_range.end if query.time_range is not None else None
    head = found.low != I64_MIN and (start is None or start < found.low)
    tail = found.high < (I64_MAX if end is None else end)
    tier = f"  answered by: tier {found.tier} ({format_duration(found.interval)} buckets)"
    if not head and not tail:
        lines.append(f"{tier} for the whole range")
        return lines
    bounds = [f"time >= {found.low}"] if head else []
    bounds += [f"time < {found.high}"] if found.high != I64_MAX else []
    lines.append(f"{tier} for {' and '.join(bounds)}")
    if head:
        why = "the range starts inside a bucket" if start is not None and found.low == _round_up(query, start) else "before the tier's period"
        lines.append(f"  answered by: raw {query.measurement} for time < {found.low} ({why})")
    if tail:
        end_bound = end is not None and found.high == offset_floor(query, end)
        why = "the range ends inside a bucket" if end_bound else "not yet materialized in the tier"
        lines.append(f"  answered by: raw {query.measurement} for time >= {found.high} ({why})")
    return lines


def _round_up(query: Query, at: int) -> int:
    """`at` rounded up to the query's bucket grid."""
    group = query.group_by
    assert group is not None and group.time is not None, "BUG: a routed query groups by time"
    offset, interval = group.time.offset, group.time.interval
    return offset - (offset - at) // interval * interval


def offset_floor(query: Query, at: int) -> int:
    """`at` rounded down to the query's bucket grid."""
    group = query.group_by
    assert group is not None and group.time is not None, "BUG: a routed query groups by time"
    return group.time.offset + (at - group.time.offset) // group.time.interval * group.time.interval

