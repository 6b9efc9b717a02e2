"""SQL SELECT onto the JSON query model, so SQL and JSON answer the same question identically.

A SELECT becomes a rusts.query.model.Query and runs through the executor;
there is no second evaluator. The result has the executor's shape (time,
then tags, then fields or aggregates), with `AS` renames applied to its
columns; aggregate aliases travel inside the Query. `translate` gives the
Query alone (renames of time, tag and field columns are applied by
`run_sql`). Unquoted identifiers keep their case.

Catalog statements (SHOW ..., DESCRIBE) are matched by rusts.sql.catalog
before sqlglot sees the text. Anything else RusTs cannot answer exactly
raises UnsupportedSqlError naming the construct and quoting it.
"""

import re
import time
from typing import Final, Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from rusts.query.errors import UnknownMeasurementError
from rusts.query.executor import execute
from rusts.storage.engine import StorageEngine
from rusts.query.model import Aggregation, AggregateFunction, Column, GroupBy, Query, QueryResult, TimeGroup
from rusts.sql.catalog import CatalogStatement, answer_catalog, looks_like_catalog, parse_catalog
from rusts.sql.errors import SqlSyntaxError, UnsupportedSqlError
from rusts.sql.nodes import Scope, duration, instant, integer, literal, unparen, unsupported
from rusts.sql.times import DAY, UNITS
from rusts.sql.where import translate_where

__all__ = ["CatalogStatement", "run_sql", "translate"]

_ALLOWED_CLAUSES: Final = frozenset({"expressions", "from_", "where", "group", "order", "limit", "offset"})
_CLAUSE_NAMES: Final = {
    "joins": "JOIN", "having": "HAVING", "distinct": "SELECT DISTINCT", "with_": "WITH", "windows": "WINDOW",
    "qualify": "QUALIFY", "laterals": "LATERAL", "into": "SELECT INTO", "locks": "FOR UPDATE/SHARE",
}
_PLAIN_AGGREGATES: Final[dict[type[exp.Expression], AggregateFunction]] = {
    exp.Sum: "sum", exp.Avg: "mean", exp.Min: "min", exp.Max: "max", exp.First: "first", exp.Last: "last",
    exp.Stddev: "stddev", exp.StddevSamp: "stddev", exp.Median: "median",
}
_NAMED_AGGREGATES: Final[dict[str, AggregateFunction]] = {
    "sum": "sum", "avg": "mean", "mean": "mean", "min": "min", "max": "max", "first": "first", "last": "last",
    "stddev": "stddev", "stddev_samp": "stddev", "median": "median", "spread": "spread",
}
# date_trunc('week') starts weeks on Monday; 1970-01-01 was a Thursday, so Monday buckets sit 4 days later.
_WEEK_OFFSET: Final = 4 * DAY
# TimescaleDB aligns time_bucket to 2000-01-03 (a Monday), which matters for widths not dividing a day.
_TIME_BUCKET_ORIGIN: Final = 946_857_600 * 1_000_000_000
_TOKEN: Final = re.compile(r"<Token token_type: [^,]+, text: ([^,]*), [^>]*>")
_ANSI: Final = re.compile(r"\x1b\[[0-9;]*m")


class Translation:
    """A SELECT as the model sees it, plus what the model has no room for: column renames and
    the SELECT list, whose columns (in its order) are the answer, as in SQL.

    `outputs` names, per SELECT item, the result column it takes: ("column", name) for time,
    buckets, tags and fields, ("aggregate", k) for the k-th aggregation; None keeps every
    column (SELECT *).
    """

    def __init__(self, query: Query, renames: dict[str, str], outputs: list[tuple[str, str | int]] | None = None) -> None:
        self.query = query
        self.renames = renames
        self.outputs = outputs


def run_sql(engine: StorageEngine, text: str, timeout: float | None = None, now: int | None = None) -> QueryResult:
    """Answer one SQL statement; QueryError subclasses for anything it cannot answer exactly."""
    statement = _statement(engine, text, now)
    if isinstance(statement, CatalogStatement):
        return answer_catalog(engine, statement)
    result = execute(engine, statement.query, timeout)
    if statement.outputs is not None:
        result = _select_list(result, statement.outputs, len(statement.query.aggregations or []))
    if not statement.renames:
        return result
    columns = [Column(statement.renames.get(c.name, c.name), c.type) for c in result.columns]
    return QueryResult(columns, result.rows)


def _select_list(result: QueryResult, outputs: list[tuple[str, str | int]], aggregations: int) -> QueryResult:
    """The result's columns in SELECT-list order: aggregates are the last `aggregations` columns."""
    names = [column.name for column in result.columns]
    first_aggregate = len(names) - aggregations
    picks: list[int] = []
    for role, key in outputs:
        if role == "aggregate":
            picks.append(first_aggregate + int(key))
        elif key in names[:first_aggregate]:
            picks.append(names.index(str(key)))
        else:
            raise AssertionError(f"BUG: SELECT item {key!r} is not among the result columns {names}")
    return QueryResult([result.columns[i] for i in picks], [[row[i] for i in picks] for row in result.rows])


def translate(engine: StorageEngine, text: str, now: int | None = None) -> Query | CatalogStatement:
    """The Query (or catalog statement) `text` asks; `now` (epoch ns) pins now() for tests."""
    statement = _statement(engine, text, now)
    return statement if isinstance(statement, CatalogStatement) else statement.query


def _statement(engine: StorageEngine, text: str, now: int | None) -> Translation | CatalogStatement:
    stripped = text.strip().rstrip(";").strip()
    if looks_like_catalog(stripped):
        catalog = parse_catalog(stripped)
        if catalog is None:
            raise UnsupportedSqlError(
                "catalog statement (supported: SHOW TABLES, SHOW MEASUREMENTS, SHOW TAG KEYS FROM m, "
                "SHOW TAG VALUES FROM m WITH KEY = k, SHOW FIELD KEYS FROM m, DESCRIBE m)",
                stripped,
            )
        return catalog
    select = _parse(text)
    return _translate_select(engine, select, time.time_ns() if now is None else now)


def _parse(text: str) -> exp.Select:
    try:
        statements = [s for s in sqlglot.parse(text, read="postgres") if isinstance(s, exp.Expression)]
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        message = _ANSI.sub("", str(first.get("description", error)))
        raise SqlSyntaxError(_TOKEN.sub(r"'\1'", message), int(first.get("line") or 0), int(first.get("col") or 0)) from None
    except SqlglotError as error:
        raise SqlSyntaxError(_ANSI.sub("", str(error))) from None
    if not statements:
        raise SqlSyntaxError("empty statement")
    if len(statements) > 1:
        raise unsupported(f"multiple statements ({len(statements)}); send one at a time", statements[1])
    statement = statements[0]
    if not isinstance(statement, exp.Select):
        raise unsupported(f"{statement.key.upper()} statement (only SELECT, SHOW and DESCRIBE)", statement)
    return statement


def _check_shape(select: exp.Select) -> None:
    for name, value in select.args.items():
        if value and name not in _ALLOWED_CLAUSES:
            node = value[0] if isinstance(value, list) else value
            construct = _CLAUSE_NAMES.get(name, name.upper().rstrip("_"))
            raise unsupported(construct, node) if isinstance(node, exp.Expression) else UnsupportedSqlError(construct)
    for node in select.walk():
        if node is select:
            continue
        if isinstance(node, (exp.Select, exp.Subquery, exp.Union, exp.Intersect, exp.Except)):
            raise unsupported("subquery", node)
        if isinstance(node, exp.Window):
            raise unsupported("window function", node)


def _scope(engine: StorageEngine, select: exp.Select, now: int) -> Scope:
    source = select.args.get("from_")
    if source is None:
        raise UnsupportedSqlError("SELECT without FROM", select.sql(dialect="postgres"))
    table = source.this
    if not isinstance(table, exp.Table) or not table.name:
        raise unsupported("FROM something other than a measurement", source)
    if table.args.get("catalog") or (table.db and table.db != "public"):
        raise unsupported("a schema-qualified measurement (only public)", table)
    fields = engine.field_types(table.name)
    if not fields:
        raise UnknownMeasurementError(table.name)
    return Scope(table.name, table.alias, engine.tag_keys(table.name), fields, now)


class _Item:
    """One SELECT list entry: what it is, its alias, and its meaning."""

    def __init__(self, node: exp.Expression, alias: str) -> None:
        self.node = node
        self.alias = alias
        self.role = ""  # star, time, tag, field, bucket, aggregate
        self.name = ""
        self.bucket: TimeGroup | None = None
        self.aggregation: Aggregation | None = None


def _translate_select(engine: StorageEngine, select: exp.Select, now: int) -> Translation:
    _check_shape(select)
    scope = _scope(engine, select, now)
    items = [_item(scope, node) for node in select.expressions]
    clause = select.args.get("where")
    where = translate_where(scope, None if clause is None else clause.this)
    aggregations = [i.aggregation for i in items if i.aggregation is not None]
    group = _group_by(scope, select, items)
    query = Query(
        scope.measurement,
        time_range=where.time_range(),
        tag_filter=where.tag_filter(),
        field_filter=where.fields,
        order=_order(scope, select, items, group),
    )
    query.limit, query.offset = _paging(select)
    renames: dict[str, str] = {}
    if aggregations:
        _check_grouped(items, group)
        query.aggregations = aggregations
        query.group_by = group
    else:
        if group is not None:
            raise unsupported("GROUP BY without an aggregate in the SELECT list", select.args["group"])
        query.fields = _raw_fields(select, items)
    for item in items:
        if item.alias and item.role in ("time", "tag", "field", "bucket"):
            renames["time" if item.role == "bucket" else item.name] = item.alias
    return Translation(query, renames, _outputs(items))


def _outputs(items: list[_Item]) -> list[tuple[str, str | int]] | None:
    """Which result column each SELECT item takes; None when the list has a star."""
    outputs: list[tuple[str, str | int]] = []
    aggregate = 0
    for item in items:
        if item.role == "star":
            return None
        if item.role == "aggregate":
            outputs.append(("aggregate", aggregate))
            aggregate += 1
        else:
            outputs.append(("column", "time" if item.role == "bucket" else item.name))
    return outputs


def _item(scope: Scope, node: exp.Expression) -> _Item:
    alias = node.alias if isinstance(node, exp.Alias) else ""
    inner = unparen(node.this if isinstance(node, exp.Alias) else node)
    item = _Item(inner, alias)
    if isinstance(inner, exp.Star):
        item.role = "star"
        return item
    name = scope.column(inner)
    if name is not None:
        item.role, item.name = scope.role(name, inner), name
        return item
    bucket = _bucket(scope, inner)
    if bucket is not None:
        item.role, item.bucket = "bucket", bucket
        return item
    item.role, item.aggregation = "aggregate", _aggregation(scope, inner, alias or None)
    return item


def _bucket(scope: Scope, node: exp.Expression) -> TimeGroup | None:
    """The time grouping of time_bucket / date_bin / date_trunc, or None when `node` is none of them."""
    if isinstance(node, exp.Anonymous) and node.name.lower() == "time_bucket":
        if len(node.expressions) != 2:
            raise unsupported("time_bucket with other than 2 arguments (width, time)", node)
        width, source = node.expressions
        interval = duration(width)
        return _on_time(scope, node, source, TimeGroup(interval, _TIME_BUCKET_ORIGIN % interval))
    if isinstance(node, exp.DateBin):
        extra = [k for k, v in node.args.items() if v and k not in ("this", "expression", "unit", "origin")]
        if extra:
            raise unsupported(f"date_bin with {', '.join(extra)}", node)
        interval = duration(node.this)
        origin_node = node.args.get("origin") or node.args.get("unit")
        origin = 0 if origin_node is None else instant(origin_node, scope.now)
        return _on_time(scope, node, node.expression, TimeGroup(interval, origin % interval))
    if isinstance(node, (exp.TimestampTrunc, exp.DateTrunc)):
        if node.args.get("zone"):
            raise unsupported("date_trunc with a time zone (times are UTC)", node)
        unit_node = node.args.get("unit")
        unit = unit_node.name.lower() if isinstance(unit_node, exp.Expression) else ""
        interval = UNITS.get(unit, UNITS.get(unit.rstrip("s"), 0))
        if not interval or unit in ("m", "w", "d", "h", "s", "ms", "us", "ns"):
            raise unsupported(f"date_trunc to {unit or '?'!r} (fixed units up to week)", node)
        offset = _WEEK_OFFSET if interval == 7 * DAY else 0
        return _on_time(scope, node, node.this, TimeGroup(interval, offset))
    return None


def _on_time(scope: Scope, node: exp.Expression, source: exp.Expression, group: TimeGroup) -> TimeGroup:
    if scope.column(source) != "time":
        raise unsupported("a time bucket of something other than the time column", node)
    return group


def _aggregation(scope: Scope, node: exp.Expression, alias: str | None) -> Aggregation:
    if isinstance(node, exp.Count):
        arg = node.this
        if isinstance(arg, exp.Star):
            _no_extra(node, ("this", "big_int"))
            return Aggregation("count", "*", alias)
        if isinstance(arg, exp.Distinct):
            if len(arg.expressions) != 1:
                raise unsupported("COUNT(DISTINCT ...) of other than one column", node)
            return Aggregation("count_distinct", _argument(scope, node, arg.expressions[0]), alias)
        _no_extra(node, ("this", "big_int"))
        return Aggregation("count", _argument(scope, node, arg), alias)
    if isinstance(node, exp.WithinGroup):
        return _percentile_cont(scope, node, alias)
    function = _PLAIN_AGGREGATES.get(type(node))
    if function is not None:
        _no_extra(node, ("this",))
        return Aggregation(function, _argument(scope, node, node.this), alias)
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        if name == "percentile" and len(node.expressions) == 2:
            p = literal(node.expressions[1])
            if not isinstance(p, (int, float)) or isinstance(p, bool):
                raise unsupported("percentile p that is not a number", node)
            return Aggregation("percentile", _argument(scope, node, node.expressions[0]), alias, float(p))
        function = _NAMED_AGGREGATES.get(name)
        if function is not None and len(node.expressions) == 1:
            return Aggregation(function, _argument(scope, node, node.expressions[0]), alias)
    if isinstance(node, (exp.Func, exp.Anonymous)):
        raise unsupported(f"function {node.sql(dialect='postgres').split('(')[0]}", node)
    raise unsupported(f"expression {node.key.upper()} in the SELECT list (only columns, aggregates, time buckets)", node)


def _no_extra(node: exp.Expression, allowed: tuple[str, ...]) -> None:
    extra = [k for k, v in node.args.items() if v and k not in allowed]
    if extra:
        raise unsupported(f"{node.key.upper()} with extra arguments", node)


def _argument(scope: Scope, node: exp.Expression, argument: exp.Expression) -> str:
    name = scope.column(argument)
    if name is None:
        raise unsupported("an aggregate of an expression (only of a column)", node)
    if scope.role(name, node) == "time":
        raise unsupported("an aggregate of the time column", node)
    return name


def _percentile_cont(scope: Scope, node: exp.WithinGroup, alias: str | None) -> Aggregation:
    inner = node.this
    order = node.expression
    if not isinstance(inner, exp.PercentileCont) or not isinstance(order, exp.Order) or len(order.expressions) != 1:
        raise unsupported("WITHIN GROUP other than PERCENTILE_CONT(p) WITHIN GROUP (ORDER BY field)", node)
    ordered = order.expressions[0]
    if ordered.args.get("desc"):
        raise unsupported("PERCENTILE_CONT ... ORDER BY field DESC (use 1 - p)", node)
    p = literal(inner.this)
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
        raise unsupported("PERCENTILE_CONT fraction outside [0, 1]", node)
    return Aggregation("percentile", _argument(scope, node, ordered.this), alias, float(p) * 100.0)


def _resolve(select: exp.Select, items: list[_Item], node: exp.Expression, scope: Scope) -> exp.Expression:
    """A GROUP BY / ORDER BY reference: a position (1-based) or an alias stands for that SELECT entry."""
    node = unparen(node)
    if isinstance(node, exp.Literal) and not node.is_string:
        position = integer(node, "a position")
        if not 1 <= position <= len(items):
            raise unsupported(f"position {position} outside the SELECT list of {len(items)}", node)
        return items[position - 1].node
    name = scope.column(node)
    if name is not None and name not in scope.fields and name not in scope.tags and name != "time":
        for item in items:
            if item.alias == name:
                return item.node
    return node


def _group_by(scope: Scope, select: exp.Select, items: list[_Item]) -> GroupBy | None:
    clause = select.args.get("group")
    if clause is None:
        return None
    extra = [k for k, v in clause.args.items() if v and k != "expressions"]
    if extra:
        raise unsupported(f"GROUP BY {extra[0].upper()}", clause)
    group = GroupBy()
    for node in clause.expressions:
        target = _resolve(select, items, node, scope)
        bucket = _bucket(scope, target)
        if bucket is not None:
            if group.time is not None and group.time != bucket:
                raise unsupported("GROUP BY two different time buckets", node)
            group.time = bucket
            continue
        name = scope.column(target)
        if name is None:
            raise unsupported("GROUP BY an expression (only tags and a time bucket)", node)
        role = scope.role(name, node)
        if role != "tag":
            hint = " (use time_bucket('5 minutes', time))" if role == "time" else ""
            raise unsupported(f"GROUP BY the {role} column {name!r}{hint}", node)
        if name not in group.tags:
            group.tags.append(name)
    return group


def _check_grouped(items: list[_Item], group: GroupBy | None) -> None:
    for item in items:
        if item.role == "star":
            raise unsupported("* beside aggregates", item.node)
        if item.role == "field":
            raise unsupported(f"field {item.name!r} outside an aggregate in an aggregating SELECT", item.node)
        if item.role == "tag" and (group is None or item.name not in group.tags):
            raise unsupported(f"tag {item.name!r} in the SELECT list but not in GROUP BY", item.node)
        if item.role in ("time", "bucket") and (group is None or group.time is None):
            raise unsupported("time beside aggregates without a time bucket in GROUP BY", item.node)
        if item.role == "bucket" and group is not None and item.bucket != group.time:
            raise unsupported("a time bucket that differs from the one in GROUP BY", item.node)


def _raw_fields(select: exp.Select, items: list[_Item]) -> list[str] | None:
    if any(i.role == "star" for i in items):
        if len(items) > 1:
            raise unsupported("* beside other columns", select.expressions[1])
        return None
    bucket = next((i for i in items if i.role == "bucket"), None)
    if bucket is not None:
        raise unsupported("a time bucket without GROUP BY and an aggregate", bucket.node)
    fields = [i.name for i in items if i.role == "field"]
    if not fields:
        raise unsupported("a SELECT of no field (time and tags come with every row; name a field or use *)", select)
    if len(set(fields)) < len(fields):
        raise unsupported("the same field selected twice", select)
    return fields


def _order(scope: Scope, select: exp.Select, items: list[_Item], group: GroupBy | None) -> Literal["asc", "desc"]:
    clause = select.args.get("order")
    if clause is None:
        return "asc"
    if len(clause.expressions) != 1:
        raise unsupported("ORDER BY more than one column (only ORDER BY time)", clause)
    ordered = clause.expressions[0]
    target = _resolve(select, items, ordered.this, scope)
    if scope.column(target) != "time" and _bucket(scope, target) is None:
        raise unsupported("ORDER BY other than time", ordered)
    if group is not None and group.tags and group.time is not None:
        raise unsupported(
            "ORDER BY time with GROUP BY tags and a time bucket (rows come grouped by tag, then by time)", ordered
        )
    return "desc" if ordered.args.get("desc") else "asc"


def _paging(select: exp.Select) -> tuple[int | None, int]:
    limit: int | None = None
    clause = select.args.get("limit")
    if clause is not None:
        if not isinstance(clause, exp.Limit):
            raise unsupported(f"{clause.key.upper()} (use LIMIT)", clause)
        value = clause.expression
        if not (isinstance(value, exp.Var) and value.name.upper() == "ALL"):
            limit = integer(value, "LIMIT")
    offset = 0
    clause = select.args.get("offset")
    if clause is not None:
        offset = integer(clause.expression, "OFFSET")
    return limit, offset
