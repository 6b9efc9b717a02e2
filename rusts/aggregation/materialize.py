"""A continuous aggregate's answer over some buckets, as the series it materializes into.

The refresher asks the defining query for a range of buckets and writes the answer into the
aggregate's own measurement: one series per combination of grouped tags, a point per bucket,
a field per aggregate column. This module gets that answer as columns and hands it to the
engine as WriteBatches (StorageEngine.write_batches): no row per value is built, no line
protocol is formatted or parsed.

Columns come straight from the executor (execute_group_columns) when the SELECT list only
names its columns and nothing is left to do on the answer rows; a definition with HAVING or
expressions over aggregates is answered as rows, grouped here by tags. Either way the rule is
the one line protocol had: a value that is NULL or not finite is left out of its point, an
empty or missing tag is left out of its series, and a bucket without any value is no point.
"""

import time
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlglot import exp

from rusts.aggregation.definition import AggregateDefinition
from rusts.core.kinds import KIND_FLOAT, KIND_NAMES
from rusts.query.executor import execute, execute_group_columns, values_column
from rusts.query.model import QueryResult
from rusts.sql.translator import Translation, parse_statement, translate_select
from rusts.storage.columns import Column, WriteBatch
from rusts.storage.engine import StorageEngine

# A materialized row's identity: (bucket time, *the definition's tag values) and its fields.
RowKey = tuple[Any, ...]


class _Series:
    """The answer's points of one tag combination: bucket times ascending, a Column per field."""

    __slots__ = ("tag_values", "times", "fields")

    def __init__(self, tag_values: tuple[Any, ...], times: NDArray[np.int64], fields: dict[str, Column]) -> None:
        self.tag_values = tag_values
        self.times = times
        self.fields = fields


class Answer:
    """The defining query's answer over a range of buckets, series by series."""

    def __init__(self, definition: AggregateDefinition, series: list[_Series]) -> None:
        self.definition = definition
        self.series = series

    def newest(self) -> int | None:
        """The latest bucket time of the answer (None when it is empty)."""
        ends = [int(s.times[-1]) for s in self.series if len(s.times)]
        return max(ends) if ends else None

    def rows_before(self, end: int) -> dict[RowKey, dict[str, Any]]:
        """The answer's rows with a time before `end`: key -> {field: value, None where absent}."""
        out: dict[RowKey, dict[str, Any]] = {}
        for series in self.series:
            cut = int(np.searchsorted(series.times, end, side="left"))
            if not cut:
                continue
            values = {name: _python_values(column, cut) for name, column in series.fields.items()}
            names = list(values)
            for row, timestamp in enumerate(series.times[:cut].tolist()):
                out[(timestamp, *series.tag_values)] = {name: values[name][row] for name in names}
        return out

    def keep_before(self, end: int, keep: set[RowKey]) -> None:
        """Drop the rows before `end` whose key is not in `keep` (they are stored as they are)."""
        for series in self.series:
            cut = int(np.searchsorted(series.times, end, side="left"))
            if not cut:
                continue
            mask = np.ones(len(series.times), dtype=np.bool_)
            mask[:cut] = [(timestamp, *series.tag_values) in keep for timestamp in series.times[:cut].tolist()]
            if not bool(mask.all()):
                index = np.flatnonzero(mask)
                series.times = series.times[index]
                series.fields = {name: column.take(index) for name, column in series.fields.items()}

    def batches(self) -> list[WriteBatch]:
        """The points to write: one WriteBatch per series, buckets without any value left out."""
        out: list[WriteBatch] = []
        tags = self.definition.tag_columns
        for series in self.series:
            fields = {name: column for name, column in series.fields.items() if column.present_count()}
            if not fields or not len(series.times):
                continue
            carried = np.zeros(len(series.times), dtype=np.bool_)
            for column in fields.values():
                if column.present is None:
                    carried[:] = True
                    break
                carried |= column.present
            times = series.times
            if not bool(carried.all()):
                index = np.flatnonzero(carried)
                times = times[index]
                fields = {name: column.take(index) for name, column in fields.items()}
            pairs = [(tag, str(value)) for tag, value in zip(tags, series.tag_values) if value is not None and value != ""]
            out.append(WriteBatch(self.definition.name, pairs, times, fields))
        return out


def _python_values(column: Column, count: int) -> list[Any]:
    values = column.values[:count]
    listed: list[Any] = values if isinstance(values, list) else values.tolist()
    if column.present is None:
        return list(listed)
    return [value if keep else None for value, keep in zip(listed, column.present[:count].tolist())]


def answer(engine: StorageEngine, definition: AggregateDefinition, statement: str | exp.Select) -> Answer:
    """The defining query (`statement`, the definition's SELECT or a bounded copy) answered."""
    parsed = parse_statement(statement) if isinstance(statement, str) else statement
    assert isinstance(parsed, exp.Select), "BUG: a checked definition is a SELECT"
    translation = translate_select(engine, parsed, time.time_ns())
    refs = translation.refs()
    if refs is not None:
        grouped = execute_group_columns(engine, translation.query)
        if grouped is not None:
            return _from_groups(definition, translation, refs, grouped[1])
    return _from_rows(definition, translation.finish(execute(engine, translation.query, None)))


def _kind(definition: AggregateDefinition, name: str) -> int:
    column = next(c for c in definition.field_columns if c.name == name)
    return KIND_NAMES.index(column.type)


def _from_groups(definition: AggregateDefinition, translation: Translation, refs: list[int], groups: list[Any]) -> Answer:
    """The executor's groups as series; `refs[i]` is the executor column of answer column i."""
    names = translation.names
    if refs[names.index(definition.time_column)] != 0:
        raise AssertionError("BUG: the time bucket is not the executor's first column")
    # Executor columns: time, the group-by tags (a group's key), then the aggregations.
    width = len(translation.query.group_by.tags) if translation.query.group_by is not None else 0
    tag_at = [refs[names.index(tag)] - 1 for tag in definition.tag_columns]
    field_at = [(c.name, refs[names.index(c.name)]) for c in definition.field_columns]
    series: list[_Series] = []
    for group in groups:
        fields: dict[str, Column] = {}
        for name, index in field_at:
            values, present = group.columns[index - 1 - width]
            if _kind(definition, name) == KIND_FLOAT:
                translation.check_overflow_column(index, values, present)
            fields[name] = _column(_kind(definition, name), values, present)
        series.append(_Series(tuple(group.key[i] for i in tag_at), group.times, fields))
    return Answer(definition, series)


def _from_rows(definition: AggregateDefinition, result: QueryResult) -> Answer:
    """Answer rows (HAVING, expressions: whatever the SELECT computed) grouped by tags into series."""
    names = [c.name for c in result.columns]
    time_at = names.index(definition.time_column)
    tag_at = [names.index(t) for t in definition.tag_columns]
    field_at = [(c.name, names.index(c.name)) for c in definition.field_columns]
    grouped: dict[tuple[Any, ...], list[list[Any]]] = {}
    for row in result.rows:
        grouped.setdefault(tuple(row[i] for i in tag_at), []).append(row)
    series: list[_Series] = []
    for tag_values, rows in grouped.items():
        rows.sort(key=lambda row: row[time_at])
        times = np.array([row[time_at] for row in rows], dtype=np.int64)
        fields = {}
        for name, at in field_at:
            kind = _kind(definition, name)
            values, present = values_column([row[at] for row in rows], KIND_NAMES[kind])
            fields[name] = _column(kind, values, present)
        series.append(_Series(tag_values, times, fields))
    return Answer(definition, series)


def _column(kind: int, values: Any, present: NDArray[np.bool_] | None) -> Column:
    """A field column with non-finite floats marked absent (line protocol has no such value)."""
    if kind == KIND_FLOAT:
        finite = np.isfinite(values)
        if not bool(finite.all()):
            present = finite if present is None else present & finite
    if present is not None and bool(present.all()):
        present = None
    return Column(kind, values, present)
