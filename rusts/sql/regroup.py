"""Aggregating SELECTs the executor's model has no room for, computed from its rows instead.

The executor aggregates fields, with WHERE as a time range, a tag predicate and field comparisons
ANDed together. An aggregating SELECT that asks more (an aggregate of an expression, as
`max(abs(x))` or `sum(price * qty)`; `min(time)` / `max(time)`; a WHERE term such as
`f > 1 OR j < 0`, `lower(host) = 'a'` or `s LIKE 'x%'`; `agg(x) FILTER (WHERE ...)`) is answered here: the executor reads the
rows (time range, tag predicate and field comparisons still pushed down), each row passing the
remaining WHERE terms is put in its group (the GROUP BY tags, time bucket and any other
GROUP BY expression: a field, `lower(host)`, `time::date`, `date_trunc('month', time)`) and every aggregate is
reduced over its argument's values. The result has the executor's aggregate layout (time, group
tags, aggregates), so HAVING, ORDER BY, paging and the SELECT list run on it unchanged.

The functions mean what the executor's do (rusts.query.aggregate): NULLs are skipped; min, max and
spread skip NaN; stddev is the sample standard deviation; percentile interpolates between the
closest ranks; an integer sum outside int64 is 22003; first and last follow row (time) order.
Groups come out sorted by tag values (a missing tag first) and then time, as the executor's do.
This reads every row the pushed-down parts select, so it costs what a SELECT of those rows costs.
"""

import math
from collections.abc import Callable
from typing import Any, Final

from rusts.query.errors import SumOutOfRangeError
from rusts.query.model import Column, QueryResult, TimeGroup
from rusts.sql import intervals
from rusts.sql.expressions import I64_MAX, I64_MIN, Expr
from rusts.sql.intervals import Interval
from rusts.sql.times import floor_to


class RowAggregate:
    """One aggregate of the SELECT: function, argument over a result row (None for count(*)), p for percentile;
    for string_agg its separator and the ORDER BY inside the call (expressions, (descending, NULLs first))."""

    def __init__(
        self, function: str, argument: Expr | None, p: float | None, result_type: str, condition: Expr | None = None,
        separator: str = "", order: list[tuple[Expr, bool, bool]] | None = None,
    ) -> None:
        self.function = function
        self.argument = argument
        self.p = p
        self.result_type = result_type
        self.condition = condition  # FILTER (WHERE condition): only rows where it is true count
        self.separator = separator
        self.order = order or []


def _percentile(values: list[Any], fraction: float) -> Any:
    ordered = sorted(float(v) for v in values)
    if any(math.isnan(v) for v in ordered):
        return math.nan
    rank = fraction * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _percentile_disc(values: list[Any], fraction: float, descending: bool) -> Any:
    """The first value, in order, at or past `fraction` of the group (PostgreSQL's percentile_disc)."""
    ordered = sorted(values, reverse=descending)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def _not_nan(values: list[Any]) -> list[Any]:
    kept = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    return kept if kept else values  # only NaN: the answer is NaN


def _extreme(values: list[Any], largest: bool) -> Any:
    """min or max (NaN only when there is nothing else); of equal intervals the last one, as
    PostgreSQL's interval_larger and interval_smaller keep it (1 day and 24 hours print apart)."""
    if isinstance(values[0], Interval):
        found = values[0]
        for value in values[1:]:
            if (value >= found) if largest else (value <= found):
                found = value
        return found
    return max(_not_nan(values)) if largest else min(_not_nan(values))


def _sum(values: list[Any]) -> Any:
    if isinstance(values[0], Interval):
        return intervals.total(values)
    if all(isinstance(v, int) for v in values):
        total = sum(values)
        if not I64_MIN <= total <= I64_MAX:
            raise SumOutOfRangeError("an expression", "bigint")
        return total
    total_float = 0.0
    for v in values:
        total_float += float(v)
    return total_float


def _mean(values: list[Any]) -> Any:
    if isinstance(values[0], Interval):
        return intervals.mean(values)
    if all(isinstance(v, int) for v in values):
        exact: int = sum(values)
        return exact / len(values)  # exact integers, one rounding
    return float(_sum(values)) / len(values)


def _stddev(values: list[Any]) -> Any:
    if len(values) < 2:
        return None
    numbers = [float(v) for v in values]
    mean = sum(numbers) / len(numbers)
    return math.sqrt(sum((x - mean) ** 2 for x in numbers) / (len(numbers) - 1))


def _variance(values: list[Any], sample: bool) -> Any:
    if len(values) < (2 if sample else 1):
        return None
    numbers = [float(v) for v in values]
    mean = sum(numbers) / len(numbers)
    return sum((x - mean) ** 2 for x in numbers) / (len(numbers) - (1 if sample else 0))


def _stddev_pop(values: list[Any]) -> Any:
    variance = _variance(values, False)
    return None if variance is None else math.sqrt(variance)


REDUCE: Final[dict[str, Callable[[list[Any], float], Any]]] = {
    "var_samp": lambda v, p: _variance(v, True),
    "var_pop": lambda v, p: _variance(v, False),
    "stddev_pop": lambda v, p: _stddev_pop(v),
    "bool_and": lambda v, p: all(v),
    "bool_or": lambda v, p: any(v),
    "percentile_disc": lambda v, p: _percentile_disc(v, p / 100.0, False),
    "percentile_disc_desc": lambda v, p: _percentile_disc(v, p / 100.0, True),
    "sum_distinct": lambda v, p: _sum(list(set(v))),
    "mean_distinct": lambda v, p: _mean(list(set(v))),
    "count": lambda v, p: len(v),
    "count_distinct": lambda v, p: len(set(v)),
    "sum": lambda v, p: _sum(v),
    "mean": lambda v, p: _mean(v),
    "min": lambda v, p: _extreme(v, False),
    "max": lambda v, p: _extreme(v, True),
    "spread": lambda v, p: max(_not_nan(v)) - min(_not_nan(v)),
    "first": lambda v, p: v[0],
    "last": lambda v, p: v[-1],
    "stddev": lambda v, p: _stddev(v),
    "median": lambda v, p: _percentile(v, 0.5),
    "percentile": lambda v, p: _percentile(v, p / 100.0),
}
_COUNTS: Final = frozenset({"count", "count_distinct"})


class Regroup:
    """Turns the executor's rows (`row layout`) into the aggregate layout of an aggregating SELECT."""

    def __init__(
        self, layout: list[Column], tag_indexes: list[int], keys: list[Expr], time_group: TimeGroup | None, start: int,
        residual: Expr | None, aggregates: list[RowAggregate],
    ) -> None:
        self.layout = layout  # the aggregate layout answered
        self.tag_indexes = tag_indexes  # of the GROUP BY tags in a row
        self.keys = keys  # the other GROUP BY expressions, over a row
        self.time_group = time_group
        self.start = start  # the time column of an aggregate without a time bucket (the range's start, or 0)
        self.residual = residual
        self.aggregates = aggregates

    def apply(self, result: QueryResult) -> QueryResult:
        groups: dict[tuple[Any, ...], list[list[Any]]] = {}
        residual, bucketed, keys = self.residual, self.time_group, self.keys
        for row in result.rows:
            if residual is not None and residual.value(row) is not True:
                continue
            key = tuple(row[i] for i in self.tag_indexes)
            if keys:
                key += tuple(expression.value(row) for expression in keys)
            if bucketed is not None:
                key += (floor_to(row[0], bucketed.interval, bucketed.offset),)
            groups.setdefault(key, []).append(row)
        if not groups and not self.tag_indexes and not keys and bucketed is None:
            groups[()] = []  # an aggregate without GROUP BY answers one row, even over no rows
        rows: list[list[Any]] = []
        for key in sorted(groups, key=_group_order):
            members = groups[key]
            tags, time = (key[:-1], key[-1]) if bucketed is not None else (key, self.start)
            rows.append([time, *tags, *(self._reduce(aggregate, members) for aggregate in self.aggregates)])
        return QueryResult(self.layout, rows)

    @staticmethod
    def _reduce(aggregate: RowAggregate, members: list[list[Any]]) -> Any:
        argument, condition = aggregate.argument, aggregate.condition
        if condition is not None:
            members = [row for row in members if condition.value(row) is True]
        if argument is None:
            return len(members)
        if aggregate.order:
            keys = [[expr.value(row) for row in members] for expr, _, _ in aggregate.order]
            directions = [(descending, nulls_first) for _, descending, nulls_first in aggregate.order]
            members = [members[at] for at in ordered_positions(list(range(len(members))), keys, directions)]
        values = [value for value in (argument.value(row) for row in members) if value is not None]
        if aggregate.function == "string_agg":
            return aggregate.separator.join(values) if values else None
        if not values:
            return 0 if aggregate.function in _COUNTS else None
        result = REDUCE[aggregate.function](values, aggregate.p or 0.0)
        return float(result) if aggregate.result_type == "float" and result is not None else result


def ordered_positions(members: list[int], keys: list[list[Any]], directions: list[tuple[bool, bool]]) -> list[int]:
    """`members` (positions into each of `keys`' columns) stably sorted by those columns, each
    (descending, NULLs first) as `directions` says: as ORDER BY sorts."""
    ordered = members
    for column, (descending, nulls_first) in zip(reversed(keys), reversed(directions)):
        nulls = [at for at in ordered if column[at] is None]
        present = [at for at in ordered if column[at] is not None] if nulls else list(ordered)
        present.sort(key=column.__getitem__, reverse=descending)
        ordered = nulls + present if nulls_first else present + nulls
    return ordered


def _group_order(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((value is not None, value) for value in key)
