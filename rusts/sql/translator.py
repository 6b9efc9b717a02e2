"""SQL SELECT onto the JSON query model, so SQL and JSON answer the same question identically.

A SELECT becomes a rusts.query.model.Query and runs through the executor;
there is no second evaluator of the data. What the model has no room for is
done on the executor's result rows, in this order (rusts.sql.expressions):
HAVING keeps the rows whose condition is
true, ORDER BY sorts (stable; NULLs last ascending and first descending
unless NULLS FIRST/LAST says otherwise; strings by code point), OFFSET and
LIMIT page, and the SELECT list's expressions give the answer's columns.
ORDER BY time alone (and no HAVING) is pushed into the Query with LIMIT and
OFFSET, so the executor's top-k reads only the blocks it needs. A
non-aggregating SELECT asks the executor for every field, so that a row
lacking the fields it names is still answered (with NULLs), as in a table;
a WHERE whose time range is empty answers no rows (an ungrouped aggregate:
one row, counts 0 and the rest NULL), as PostgreSQL does.

Aggregates referenced anywhere (SELECT list, HAVING, ORDER BY, inside
arithmetic) become the Query's aggregations, once each; a GROUP BY without
any aggregate counts rows so the groups exist. Gap filling is TimescaleDB's
form: `time_bucket_gapfill(width, time)` in GROUP BY with a WHERE time range
bounded on both sides, aggregates plain (NULL in empty buckets), in `locf()`
(fill "previous") or in `interpolate()` (fill "linear"); counts are 0 in
empty buckets; one fill per query.

Catalog statements (SHOW ..., DESCRIBE) are matched by rusts.sql.catalog
before sqlglot sees the text. Anything else RusTs cannot answer exactly
raises UnsupportedSqlError naming the construct and quoting it.
"""

import re
import time
from operator import itemgetter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

import numpy as np
import sqlglot
from sqlglot import TokenType, exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import ParseError, SqlglotError

from rusts.query.aggregate import NUMERIC_ONLY, ORDERED_ONLY
from rusts.query.errors import UnknownFieldError, UnknownMeasurementError
from rusts.query.executor import execute
from rusts.query.model import Aggregation, AggregateFunction, Column, GroupBy, Query, QueryResult, TimeGroup, TimeRange
from rusts.sql.buckets import bucket_of, bucket_parts, calendar_unit, epoch_bucket, is_epoch_of_time, is_gapfill
from rusts.sql.catalog import CatalogStatement, answer_catalog, looks_like_catalog, parse_catalog
from rusts.sql.errors import (
    AggregateArgumentError, AmbiguousColumnError, DatatypeMismatchError, GroupingError, InvalidRegexError, NeedsRowsError,
    InvalidTextError, OperatorTypeError, OutOfRangeError, PagingError, PositionError, SqlSyntaxError, UnsupportedSqlError, WindowArgumentError,
    UndefinedWindowError, WindowingError, WrongObjectTypeError,
)
from rusts.sql.expressions import (
    Arithmetic,
    CastNumber,
    Compare,
    Const,
    EpochSeconds,
    Expr,
    InList,
    IsNull,
    Logic,
    Match,
    Negate,
    Not,
    I64_MAX,
    I64_MIN,
    NUMERIC,
    PG_TYPE_NAMES,
    Ref,
    float_input,
    output_type,
)
from rusts.sql.functions import (
    boolean_argument, boolean_integer, calendar_trunc, cast_text, fit_text, fixed_trunc, is_boolean, not_distinct, round_to,
    start_of_day, translate_call,
)
from rusts.sql.functions import default_name as function_name
from rusts.sql.normalize import FLOAT8, normalize
from rusts.sql.regroup import Regroup, RowAggregate, ordered_positions
from rusts.sql.nodes import (
    TIMESTAMP_TYPES,
    MissingTableError,
    interval_text_of,
    is_interval,
    Scope,
    UnknownColumnError,
    coerce_text,
    folded_name,
    instant,
    integer,
    literal,
    measurement_table,
    unparen,
    unsupported,
)
from rusts.sql.times import DAY, TimestampInputError, parse_timestamp
from rusts.sql.intervals import Interval, parse_interval_text
from rusts.sql.where import like_pattern, python_regex, row_where, translate_where
from rusts.sql.windows import (
    CURRENT, FOLLOWING, PRECEDING, UNBOUNDED, Bound, Frame, DEFAULT_FRAME, WindowCall, WindowKey, WindowRef, with_windows,
)
from rusts.storage.engine import StorageEngine

if TYPE_CHECKING:
    from rusts.sql.sources import Joined, Subquery

__all__ = ["CatalogStatement", "Translation", "parse_statement", "run_sql", "translate", "translate_select"]

T = TypeVar("T")
UNION_ALIAS: Final = "?union?"  # the subquery a top-level UNION / INTERSECT / EXCEPT is read from
_ALLOWED_CLAUSES: Final = frozenset({"expressions", "from_", "where", "group", "having", "order", "limit", "offset"})
_CLAUSE_NAMES: Final = {
    "joins": "JOIN", "distinct": "SELECT DISTINCT", "with_": "WITH", "windows": "WINDOW",
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
_FILLS: Final = {"locf": "previous", "interpolate": "linear"}
# Aggregates only the row path computes (rusts.sql.regroup), by sqlglot class and by name
_ROW_ONLY: Final[dict[type[exp.Expression], str]] = {
    exp.Variance: "var_samp", exp.VariancePop: "var_pop", exp.StddevPop: "stddev_pop", exp.LogicalAnd: "bool_and",
    exp.LogicalOr: "bool_or", exp.GroupConcat: "string_agg",
}
_ROW_ONLY_NAMES: Final = {"var_samp": "var_samp", "var_pop": "var_pop", "stddev_pop": "stddev_pop", "every": "bool_and"}
# sqlglot's class of each function that exists only as a window function -> its name
_WINDOW_ONLY: Final = {
    "RowNumber": "row_number", "Rank": "rank", "DenseRank": "dense_rank", "PercentRank": "percent_rank",
    "CumeDist": "cume_dist", "Ntile": "ntile", "Lag": "lag", "Lead": "lead", "FirstValue": "first_value",
    "LastValue": "last_value", "NthValue": "nth_value",
}
ROW_ONLY_FUNCTIONS: Final = frozenset(
    {*_ROW_ONLY.values(), "sum_distinct", "mean_distinct", "percentile_disc", "percentile_disc_desc"}
)
_ARITHMETIC: Final[dict[type[exp.Expression], str]] = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.Mod: "%"}
COMPARISONS: Final[dict[type[exp.Expression], str]] = {
    exp.EQ: "=", exp.NEQ: "!=", exp.LT: "<", exp.LTE: "<=", exp.GT: ">", exp.GTE: ">=",
}
FLOAT_CASTS: Final = frozenset({exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT})
INTEGER_CASTS: Final = frozenset({exp.DataType.Type.BIGINT, exp.DataType.Type.INT, exp.DataType.Type.SMALLINT})
NUMERIC_CASTS: Final = frozenset({exp.DataType.Type.DECIMAL})
TEXT_CASTS: Final = frozenset({exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR, exp.DataType.Type.CHAR})
_TOKEN: Final = re.compile(r"<Token token_type: [^,]+, text: ([^,]*), [^>]*>")
_ANSI: Final = re.compile(r"\x1b\[[0-9;]*m")
_NUMERIC_ONLY_NAMES: Final = frozenset({"mean", "stddev", "median", "percentile"})


class OrderKey:
    def __init__(self, expr: Expr, descending: bool, nulls_first: bool) -> None:
        self.expr = expr
        self.descending = descending
        self.nulls_first = nulls_first


class Translation:
    """A SELECT as the model sees it (`query`), and the work on its result rows the model has no room for.

    `layout` is the executor's result columns as predicted from the catalogue
    (no data read); `outputs` and `names` are the answer's columns.
    """

    def __init__(self, query: Query, layout: list[Column], outputs: list[Expr], names: list[str]) -> None:
        self.query = query
        self.layout = layout
        self.outputs = outputs
        self.names = names
        self.having: Expr | None = None
        self.order: list[OrderKey] = []
        self.limit: int | None = None
        self.offset = 0
        # set when WHERE's time range is empty: the executor's rows are replaced by this answer
        self.empty: list[list[Any]] | None = None
        # WHERE terms the model cannot take (a SELECT of rows): rows where it is not true are left out
        self.residual: Expr | None = None
        # float aggregate columns: stored floats are finite, so infinity there is an overflow
        self.float_aggregates: list[int] = []
        # set when the aggregates are computed from the executor's rows (rusts.sql.regroup)
        self.regroup: Regroup | None = None
        # a SELECT without FROM: nothing to execute, its one row is computed from `empty`
        self.constant = False
        # SELECT DISTINCT ON (...): only the first row (after ORDER BY) of each value of these is answered
        self.distinct_on: list[Expr] = []
        # window functions (rusts.sql.windows): their values are appended to the rows after HAVING
        self.windows: list[WindowCall] = []
        # FROM (SELECT ...), a WITH query or joined tables: the rows are theirs, not the executor's
        self.source: "Subquery | Joined | None" = None

    def columns(self) -> list[Column]:
        return [Column(name, output_type(expr)) for name, expr in zip(self.names, self.outputs)]

    def kinds(self) -> list[str]:
        """Each answer column's type before a client sees it ("unknown" for a bare NULL, "literal" for
        a string literal, which a set operation reads as the other side's type)."""
        return [
            "unknown" if expr.type == "unknown" else "literal" if isinstance(expr, Const) and isinstance(expr.constant, str)
            else column.type
            for expr, column in zip(self.outputs, self.columns())
        ]

    def finish(self, result: QueryResult) -> QueryResult:
        """The answer from the executor's result: HAVING, ORDER BY, paging, SELECT list."""
        if self.regroup is not None:
            empty = self.empty is not None or self.limit == 0
            result = QueryResult(self.layout, []) if empty else self.regroup.apply(result)
        if len(result.columns) != len(self.layout):
            raise AssertionError(f"BUG: executor answered columns {result.columns}, expected {self.layout}")
        if self.limit == 0:
            return QueryResult(self.columns(), [])  # PostgreSQL computes nothing for LIMIT 0
        rows = result.rows if self.empty is None else self.empty
        self._check_overflow(rows)
        if self.residual is not None:
            residual = self.residual
            rows = [row for row in rows if residual.value(row) is True]
        if self.having is not None:
            having = self.having
            rows = [row for row in rows if having.value(row) is True]
        rows = with_windows(rows, self.windows)
        if not self.order:
            rows = self._firsts(rows, lambda row: row)
            if self.offset or self.limit is not None:
                rows = rows[self.offset : None if self.limit is None else self.offset + self.limit]
            return QueryResult(self.columns(), self._projected(rows))
        # every row's SELECT list is computed before the sort, as PostgreSQL does: an error in a row
        # that paging leaves out is still an error
        pairs = list(zip(rows, self._projected(rows)))
        keys = [[key.expr.value(row) for row in rows] for key in self.order]
        directions = [(key.descending, key.nulls_first) for key in self.order]
        pairs = [pairs[at] for at in ordered_positions(list(range(len(pairs))), keys, directions)]
        pairs = self._firsts(pairs, itemgetter(0))
        if self.offset or self.limit is not None:
            pairs = pairs[self.offset : None if self.limit is None else self.offset + self.limit]
        return QueryResult(self.columns(), [answer for _, answer in pairs])

    def _firsts(self, items: list[T], row_of: Callable[[T], list[Any]]) -> list[T]:
        """`items` (rows, or pairs holding them) without those whose DISTINCT ON values came before."""
        if not self.distinct_on:
            return items
        seen: set[tuple[Any, ...]] = set()
        kept: list[T] = []
        for item in items:
            row = row_of(item)
            key = tuple(expr.value(row) for expr in self.distinct_on)
            if key not in seen:
                seen.add(key)
                kept.append(item)
        return kept

    def streamable(self) -> bool:
        """Whether each executor row maps to one answer row on its own (no filter, sort or paging
        here), so the answer can be produced batch by batch."""
        return (
            self.regroup is None and self.empty is None and self.residual is None and self.having is None
            and not self.order and not self.offset and self.limit is None and not self.distinct_on and not self.windows
            and self.source is None
        )

    def _check_overflow(self, rows: list[list[Any]]) -> None:
        """PostgreSQL's error where a float aggregate overflowed (SUM, AVG, STDDEV of huge values)."""
        for index in self.float_aggregates:
            # v - v is 0.0 for a finite float, NaN for infinity and NaN; None is skipped
            if any(value - value != 0.0 for value in map(itemgetter(index), rows) if value is not None):
                raise OutOfRangeError("value out of range: overflow")

    def check_overflow_column(self, index: int, values: Any, present: Any) -> None:
        """_check_overflow for one executor column given as a float array (rows where `present`,
        every row when None)."""
        if index in self.float_aggregates:
            finite = np.isfinite(values)
            if not bool((finite if present is None else finite | ~present).all()):
                raise OutOfRangeError("value out of range: overflow")

    def refs(self) -> list[int] | None:
        """The executor column of each answer column when the SELECT list only names columns and
        each executor row is one answer row as it is (streamable); None otherwise."""
        if not self.streamable() or not all(isinstance(expr, Ref) for expr in self.outputs):
            return None
        return [expr.index for expr in self.outputs if isinstance(expr, Ref)]

    def column_picks(self) -> list[int] | None:
        """The executor columns the answer's columns are, in order, when the SELECT list only names
        columns (a columnar stream can then pass them through); None otherwise."""
        if self.regroup is not None or self.float_aggregates or self.windows or not all(isinstance(expr, Ref) for expr in self.outputs):
            return None
        return [expr.index for expr in self.outputs if isinstance(expr, Ref)]

    def project(self, rows: list[list[Any]]) -> list[list[Any]]:
        """Executor rows as answer rows: the SELECT list's columns and expressions."""
        self._check_overflow(rows)
        return self._projected(rows)

    def _projected(self, rows: list[list[Any]]) -> list[list[Any]]:
        """project() of rows already checked for overflow."""
        if all(isinstance(expr, Ref) for expr in self.outputs):
            picks = [expr.index for expr in self.outputs if isinstance(expr, Ref)]
            if picks == list(range(len(self.layout))):
                return rows
            if len(picks) == 1:
                only = picks[0]
                return [[row[only]] for row in rows]
            return list(map(list, map(itemgetter(*picks), rows)))  # C loops: 2-3x the list comprehension
        return [[expr.value(row) for expr in self.outputs] for row in rows]


def run_sql(engine: StorageEngine, text: str, timeout: float | None = None, now: int | None = None) -> QueryResult:
    """Answer one SELECT or catalog statement; QueryError subclasses for anything it cannot answer exactly."""
    statement = _statement(engine, text, now)
    if isinstance(statement, CatalogStatement):
        return answer_catalog(engine, statement)
    return answer(statement, lambda translation: execute(engine, translation.query, timeout))


def answer(translation: Translation, execute_query: Callable[[Translation], QueryResult]) -> QueryResult:
    """A translated SELECT's answer; `execute_query` runs a translation's model query (the
    executor, or a downsampling tier first). A subquery is answered first and its answer read as
    the rows, and a SELECT without FROM reads nothing."""
    return translation.finish(source_rows(translation, execute_query))


def source_rows(translation: Translation, execute_query: Callable[[Translation], QueryResult]) -> QueryResult:
    """The rows `translation.finish` takes: the executor's, a subquery's, or none."""
    if translation.constant:
        return QueryResult(translation.layout, [])
    if translation.source is not None:
        return translation.source.answer(execute_query)
    return execute_query(translation)


def translate(engine: StorageEngine, text: str, now: int | None = None) -> Query | CatalogStatement:
    """The Query (or catalog statement) `text` asks; `now` (epoch ns) pins now() for tests."""
    statement = _statement(engine, text, now)
    return statement if isinstance(statement, CatalogStatement) else statement.query


def _statement(engine: StorageEngine, text: str, now: int | None) -> Translation | CatalogStatement:
    stripped = text.strip().rstrip(";").strip()
    if looks_like_catalog(stripped):
        return catalog_statement(stripped)
    statement = parse_statement(text)
    if not isinstance(statement, exp.Select):
        raise unsupported(f"{statement.key.upper()} statement (only SELECT, SHOW and DESCRIBE)", statement)
    return translate_select(engine, statement, time.time_ns() if now is None else now)


def catalog_statement(stripped: str) -> CatalogStatement:
    catalog = parse_catalog(stripped)
    if catalog is None:
        raise UnsupportedSqlError(
            "catalog statement (supported: SHOW TABLES, SHOW MEASUREMENTS, SHOW TAG KEYS FROM m, "
            "SHOW TAG VALUES FROM m WITH KEY = k, SHOW FIELD KEYS FROM m, DESCRIBE m)",
            stripped,
        )
    return catalog


_INTERVAL_UNITS: Final = frozenset({"YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND", "YEARS", "MONTHS", "DAYS", "HOURS", "MINUTES", "SECONDS"})


def _interval_literals_as_casts(text: str) -> str:
    """`INTERVAL '1 day 02:00:00'` as `CAST('1 day 02:00:00' AS INTERVAL)`: sqlglot reads the keyword
    form as its first number and unit only (`INTERVAL '5' MINUTE`, with a unit after it, is left alone)."""
    if "interval" not in text.lower():
        return text
    try:
        tokens = Postgres().tokenize(text)
    except SqlglotError:
        return text  # the parser says what is wrong
    out: list[str] = []
    done = 0
    for at, token in enumerate(tokens[:-1]):
        following = tokens[at + 1]
        after = tokens[at + 2] if at + 2 < len(tokens) else None
        if token.token_type != TokenType.INTERVAL or following.token_type != TokenType.STRING:
            continue
        if after is not None and after.text.upper() in _INTERVAL_UNITS:
            continue
        out.append(text[done : token.start])
        out.append(f"CAST({text[following.start : following.end + 1]} AS INTERVAL)")
        done = following.end + 1
    return "".join(out) + text[done:] if out else text


def parse_statement(text: str) -> exp.Expression:
    """The one statement of `text`, parsed by sqlglot (postgres dialect); SqlSyntaxError when it cannot be."""
    text = _interval_literals_as_casts(text)
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
    statement = normalize(statements[0])
    if isinstance(statement, exp.Values):  # VALUES (1, 'a'), (2, 'b') alone: its rows
        return exp.select("*").from_(exp.Subquery(this=statement, alias=exp.TableAlias(this=exp.to_identifier("*VALUES*"))))
    return select_of_set_operation(statement) if isinstance(statement, exp.SetOperation) else statement


def select_of_set_operation(operation: exp.SetOperation) -> exp.Select:
    """`a UNION b ORDER BY ... LIMIT n` as `SELECT * FROM (a UNION b) AS "?union?" ORDER BY ... LIMIT n`:
    ORDER BY names or positions of the answer's columns (named by the first SELECT), paging after it."""
    inner = operation.copy()
    outer = exp.select("*").from_(exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(UNION_ALIAS))))
    for part in ("with_", "order", "limit", "offset"):
        value = inner.args.get(part)
        if value is not None:
            inner.set(part, None)
            outer.set(part, value)
    return outer


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
    for clause, shown in (("where", "WHERE"), ("group", "GROUP BY"), ("having", "HAVING")):
        part = select.args.get(clause)
        if part is not None and any(isinstance(node, exp.Window) for node in part.walk()):
            raise WindowingError(f"window functions are not allowed in {shown}")


def select_scope(engine: StorageEngine, select: exp.Select, now: int) -> Scope:
    source = select.args.get("from_")
    if source is None:
        raise UnsupportedSqlError("SELECT without FROM", select.sql(dialect="postgres"))
    return table_scope(engine, source.this, source, now)


def table_scope(engine: StorageEngine, node: exp.Expression, where: exp.Expression, now: int) -> Scope:
    """The Scope of an existing measurement named by `node`; UnknownMeasurementError when it has no data."""
    table = measurement_table(node, "FROM something other than a measurement", where)
    name = folded_name(lambda candidate: bool(engine.field_types(candidate)), table)
    fields = engine.field_types(name)
    if not fields:
        raise UnknownMeasurementError(table.name)
    keys = engine.tag_keys(name)
    sparse = frozenset(key for key in keys if engine.index.tags.without_key(name, key))
    return Scope(name, table.alias, keys, fields, now, sparse)


# ---- building the SELECT ----


def _is_fill(node: exp.Expression) -> bool:
    return isinstance(node, exp.Anonymous) and node.name.lower() in _FILLS


def is_aggregate(node: exp.Expression) -> bool:
    """Whether `node` is an aggregate call (or a locf/interpolate around one)."""
    if isinstance(node, (exp.Count, exp.WithinGroup)) or type(node) in _PLAIN_AGGREGATES or type(node) in _ROW_ONLY:
        return True
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        return name in _NAMED_AGGREGATES or name == "percentile" or name in _FILLS or name in _ROW_ONLY_NAMES
    return False


def mentions_aggregate(node: exp.Expression | None) -> bool:
    """Whether `node` holds an aggregate call; a window function's own aggregate (sum(x) OVER ...)
    is not one, an aggregate in its arguments or keys (rank() OVER (ORDER BY avg(x))) is."""
    if node is None:
        return False
    if isinstance(node, exp.Window):
        return any(mentions_aggregate(part) for part in _window_parts(node))
    if is_aggregate(node):
        return True
    return any(mentions_aggregate(child) for child in node.iter_expressions())


def _window_parts(node: exp.Window) -> list[exp.Expression]:
    """A window call's arguments (and FILTER condition), partition and order keys."""
    call = unparen(node.this)
    parts: list[exp.Expression] = []
    if isinstance(call, exp.Filter):
        parts.append(call.expression)
        call = unparen(call.this)
    parts += list(call.iter_expressions())
    parts += list(node.args.get("partition_by") or [])
    order = node.args.get("order")
    return parts + ([order] if order is not None else [])


def _aggregate_name(aggregation: Aggregation) -> str:
    """The executor's name of an aggregation without an alias."""
    if aggregation.field == "*":
        return "count"
    if aggregation.function == "percentile":
        return f"percentile_{aggregation.p or 0.0:g}_{aggregation.field}"
    return f"{aggregation.function}_{aggregation.field}"


def aggregate_type(scope: Scope, aggregation: Aggregation) -> str:
    """The executor's result type of an aggregation, from the catalogue (its planner's rules and errors)."""
    function, field = aggregation.function, aggregation.field
    if function in ("count", "count_distinct") and (field == "*" or (function == "count_distinct" and field in scope.tags)):
        return "integer"
    where = f"aggregation {function}({field})"
    kind = scope.fields.get(field)
    if kind is None and field in scope.tags:  # count(tag), min(tag): the executor aggregates fields; rows can
        raise NeedsRowsError(f"{function} of the tag {field!r}")
    if kind is None:
        raise UnknownFieldError(scope.measurement, field, where)
    if function in NUMERIC_ONLY and kind not in NUMERIC:
        raise AggregateArgumentError(field, kind, f"{where}: {function} needs a numeric field")
    if function in ORDERED_ONLY and kind not in NUMERIC and kind != "string":
        raise AggregateArgumentError(field, kind, f"{where}: {function} needs a numeric or string field")
    if function in ("count", "count_distinct"):
        return "integer"
    if function in _NUMERIC_ONLY_NAMES:
        return "float"
    return kind


def row_aggregate_type(function: str, kind: str, node: exp.Expression) -> str:
    """aggregate_type for an aggregate of a row expression of type `kind` (the row path)."""
    shown = PG_TYPE_NAMES.get(kind, kind)
    if function in ("count", "count_distinct"):
        return "integer"
    if kind == "interval":
        if function in ("count", "count_distinct"):
            return "integer"
        if function not in ("sum", "mean", "min", "max", "first", "last", "sum_distinct", "mean_distinct"):
            raise OperatorTypeError(f"function {node.key}(interval) does not exist")
        return "interval"
    if function == "string_agg":
        if kind not in ("string", "unknown"):
            raise OperatorTypeError(f"function string_agg({shown}, unknown) does not exist")
        return "string"
    if function in ("bool_and", "bool_or"):
        if kind not in ("boolean", "unknown"):
            raise OperatorTypeError(f"function {function}({shown}) does not exist")
        return "boolean"
    if function in ("var_samp", "var_pop", "stddev_pop"):
        if kind not in NUMERIC and kind != "unknown":
            raise OperatorTypeError(f"function {function}({shown}) does not exist")
        return "float"
    if function in ("percentile_disc", "percentile_disc_desc"):  # a value of the group: its type
        if not (kind in NUMERIC or kind in ("string", "timestamp", "unknown")):
            raise OperatorTypeError(f"function percentile_disc({shown}) does not exist")
        return "float" if kind == "numeric" else kind
    function = {"sum_distinct": "sum", "mean_distinct": "mean"}.get(function, function)
    if kind == "unknown":
        return "float" if function in _NUMERIC_ONLY_NAMES else "string"
    numeric = kind in NUMERIC
    if function in NUMERIC_ONLY and not numeric:
        raise OperatorTypeError(f"function {node.key}({shown}) does not exist")
    if function in ORDERED_ONLY and not (numeric or kind in ("string", "timestamp")):
        raise OperatorTypeError(f"function {node.key}({shown}) does not exist")
    if function in _NUMERIC_ONLY_NAMES:
        return "float"
    return "float" if kind == "numeric" else kind


class Select:
    """The state of one SELECT's translation: what the Query must compute and the expressions over it."""

    def __init__(self, scope: Scope, group: GroupBy | None, gapfill: bool, aggregating: bool) -> None:
        self.scope = scope
        self.group = group
        self.gapfill = gapfill
        self.aggregating = aggregating
        self.aggregations: list[Aggregation] = []
        self.fields: list[str] = []
        self.star = False
        self.fills: set[str] = set()
        self.refs: list[Ref] = []
        self.aliases: dict[str, Expr] = {}
        self.named_only = False
        # The row path (rusts.sql.regroup): aggregates over rows, their arguments translated by `rows`
        self.rows: Select | None = None
        self.row_aggregates: list[RowAggregate] = []
        # GROUP BY keys other than tags and a time bucket (row path only): their text and value per row
        self.group_keys: list[tuple[str, Expr]] = []
        # window function calls, and the column of each after the executor's (rusts.sql.windows)
        self.windows: list[tuple[WindowCall, WindowRef]] = []

    def ref(self, key: tuple[str, str | int], type_: str, shown: str = "") -> Ref:
        ref = Ref(key, type_, shown)
        self.refs.append(ref)
        return ref

    def layout(self) -> list[Column]:
        """The executor's result columns for the Query this SELECT becomes."""
        columns = [Column("time", "timestamp")]
        if self.aggregating:
            tags = self.group.tags if self.group is not None else []
            columns += [Column(tag, "string") for tag in tags]
            columns += [Column(f"?key{k}?", key.type) for k, (_, key) in enumerate(self.group_keys)]
            for k, aggregation in enumerate(self.aggregations):
                name = aggregation.alias or _aggregate_name(aggregation)
                kind = self.row_aggregates[k].result_type if self.rows is not None else aggregate_type(self.scope, aggregation)
                columns.append(Column(name, kind))
            return columns
        columns += [Column(tag, "string") for tag in self.scope.tag_order]
        return columns + [Column(name, self.scope.fields[name]) for name in self.projected()]

    def keys(self) -> list[tuple[str, str | int]]:
        keys: list[tuple[str, str | int]] = [("time", "time")]
        if self.aggregating:
            keys += [("tag", tag) for tag in (self.group.tags if self.group is not None else [])]
            keys += [("key", k) for k in range(len(self.group_keys))]
            return keys + [("aggregate", k) for k in range(len(self.aggregations))]
        keys += [("tag", tag) for tag in self.scope.tag_order]
        return keys + [("field", name) for name in self.projected()]

    def projected(self) -> list[str]:
        """The fields a SELECT of rows asks the executor for: every field (so that a row lacking the
        named ones still answers, with NULLs), or only the named ones where every row has one of them."""
        return self.fields if self.named_only else sorted(self.scope.fields)

    def bind(self) -> None:
        """Point every column reference at its index in the executor's result."""
        positions = {key: i for i, key in enumerate(self.keys())}
        for ref in self.refs:
            index = positions.get(ref.key)
            if index is None:
                raise AssertionError(f"BUG: {ref.key} is not in the result layout {list(positions)}")
            ref.index = index
        self.bind_windows(len(positions))

    def bind_windows(self, base: int) -> None:
        """Point the window calls' references at their columns, appended after `base` columns."""
        for k, (_, window) in enumerate(self.windows):
            window.index = base + k

    def star_outputs(self, table: str | None = None, node: exp.Expression | None = None) -> tuple[list[Expr], list[str]]:
        """The columns `*` gives, or `table.*` (one joined table's, or the one table's)."""
        self.star = True
        star = self.scope.star
        if table is not None and self.scope.tables is not None:
            keys = self.scope.tables.get(table) or self.scope.tables.get(table.lower())
            if keys is None:
                raise MissingTableError(table)
            star = [(key, self.scope.fields[key]) for key in keys.values()]
        elif table is not None and table.lower() not in (self.scope.measurement.lower(), self.scope.alias.lower()):
            raise MissingTableError(table)
        if star is not None:  # a subquery's or joined tables' columns, in their order
            columns = [("time" if name == "time" and self.scope.has_time else "field", name, kind) for name, kind in star]
            shown = self.scope.shown
            return [self.ref((role, role if role == "time" else name), kind) for role, name, kind in columns], [
                shown.get(name, name) for _, name, _ in columns
            ]
        columns = [("time", "time", "timestamp")] + [("tag", t, "string") for t in self.scope.tag_order]
        columns += [("field", f, kind) for f, kind in sorted(self.scope.fields.items())]
        return [self.ref((role, name), kind) for role, name, kind in columns], [name for _, name, _ in columns]

    # -- leaves --

    def column(self, name: str, node: exp.Expression) -> Expr:
        role = self.scope.role(name, node)
        if role == "time":
            if self.aggregating and (self.group is None or self.group.time is None):
                raise _ungrouped(self.scope, "time", "time beside aggregates without a time bucket in GROUP BY")
            return self.ref(("time", "time"), "timestamp")
        if role == "tag":
            if self.aggregating and (self.group is None or name not in self.group.tags):
                raise _ungrouped(self.scope, name, f"tag {name!r} in the SELECT list but not in GROUP BY")
            return self.ref(("tag", name), "string")
        if self.aggregating:
            raise _ungrouped(self.scope, name, f"field {name!r} outside an aggregate in an aggregating SELECT")
        if name not in self.fields:
            self.fields.append(name)
        return self.ref(("field", name), self.scope.fields[name])

    def bucket(self, bucket: TimeGroup, node: exp.Expression) -> Expr:
        if not self.aggregating:  # each row's bucket
            return fixed_trunc(self.column("time", node), bucket.interval, bucket.offset)
        if self.group is None:
            raise unsupported("a time bucket in an aggregating SELECT without it in GROUP BY", node)
        if bucket != self.group.time or is_gapfill(node) != self.gapfill:
            raise unsupported("a time bucket that differs from the one in GROUP BY", node)
        return self.ref(("time", "time"), "timestamp")

    def aggregate(self, node: exp.Expression, alias: str | None, fill: str) -> Expr:
        assert self.aggregating, "BUG: an aggregate in a SELECT not seen as aggregating"
        _no_window_inside(node)
        if self.rows is not None:
            return self.row_aggregate(node, alias)
        aggregation = aggregation_of(self.scope, node, alias)
        result_type = aggregate_type(self.scope, aggregation)
        numeric = aggregation.function in ("sum", "mean") and self.scope.fields.get(aggregation.field) == "integer"
        if aggregation.function not in ("count", "count_distinct"):
            self.fills.add(fill)
        found = None
        if alias is None:
            found = next(
                (k for k, a in enumerate(self.aggregations)
                 if (a.function, a.field, a.p) == (aggregation.function, aggregation.field, aggregation.p)),
                None,
            )
        if found is None:
            found = len(self.aggregations)
            self.aggregations.append(aggregation)
        if numeric:  # PostgreSQL's SUM(bigint) and AVG(bigint) are numeric: see rusts.sql.expressions
            return self.ref(("aggregate", found), "numeric", result_type)
        return self.ref(("aggregate", found), result_type)

    def row_aggregate(self, node: exp.Expression, alias: str | None, condition: Expr | None = None) -> Expr:
        """An aggregate of the row path: of any row expression, over the rows where `condition`
        (FILTER (WHERE ...)) is true (rusts.sql.regroup)."""
        assert self.rows is not None
        _no_window_inside(node)
        if condition is not None:
            boolean_argument("FILTER", condition)
        function, argument_node, p = aggregate_parts(node)
        if argument_node is not None and mentions_aggregate(argument_node):
            raise unsupported("an aggregate inside an aggregate", node)
        argument = None if argument_node is None else self.rows.expr(argument_node)
        kind = "integer" if argument is None else argument.type
        result_type = row_aggregate_type(function, kind, node)
        found = len(self.aggregations)
        shown = "*" if argument_node is None else argument_node.sql(dialect="postgres")
        # the Aggregation only names the column here; a row-only aggregate is NULL over no rows, as sum is
        described = "sum" if function in ROW_ONLY_FUNCTIONS else function
        self.aggregations.append(Aggregation(cast(AggregateFunction, described), shown, alias, p))
        aggregate = RowAggregate(function, argument, p, result_type, condition)
        if function == "string_agg":
            aggregate.separator, aggregate.order = self._string_agg_parts(node)
        self.row_aggregates.append(aggregate)
        if function in ("sum", "mean", "sum_distinct", "mean_distinct") and kind == "integer":  # numeric, as in aggregate()
            return self.ref(("aggregate", found), "numeric", result_type)
        return self.ref(("aggregate", found), result_type)

    def window(self, node: exp.Window) -> Expr:
        """A window function call (rusts.sql.windows): computed over the rows this SELECT produces."""
        if node.args.get("alias") is not None:
            raise unsupported("a named window (OVER name, WINDOW clause)", node)
        if any(isinstance(inner, exp.Window) for part in _window_parts(node) for inner in part.walk()):
            raise WindowingError("window function calls cannot be nested")
        call = unparen(node.this)
        condition = None
        if isinstance(call, exp.Filter):
            condition = boolean_argument("FILTER", self.expr(call.expression.this))
            call = unparen(call.this)
        partition = [self.expr(key) for key in node.args.get("partition_by") or []]
        clause = node.args.get("order")
        order = [WindowKey(self.expr(unparen(ordered.this)), *_ordering(ordered)) for ordered in (clause.expressions if clause else [])]
        frame = _frame(node.args.get("spec"), node)
        function, arguments, type_, shown = self._window_function(call, node)
        if condition is not None and function in _WINDOW_ONLY.values():
            raise unsupported("FILTER on a window function that is not an aggregate", node)
        window = WindowRef(type_, shown)
        self.windows.append((WindowCall(function, arguments, partition, order, frame, shown or type_, condition), window))
        return window

    def _window_function(self, call: exp.Expression, node: exp.Window) -> tuple[str, list[Expr], str, str]:
        """The window call's function, its arguments, its type and (for numeric) its shown type."""
        named = _WINDOW_ONLY.get(type(call).__name__)
        if named is not None:
            arguments = [self.expr(argument) for argument in call.iter_expressions()]
            if named in ("row_number", "rank", "dense_rank", "percent_rank", "cume_dist"):
                if arguments:
                    shown = ", ".join(PG_TYPE_NAMES.get(a.type, a.type) for a in arguments)
                    raise OperatorTypeError(f"function {named}({shown}) does not exist")
                return named, [], "float" if named in ("percent_rank", "cume_dist") else "integer", ""
            if named == "ntile":
                return named, arguments, "integer", ""
            value = self.expr(call.this)
            if named in ("lag", "lead"):
                offset = call.args.get("offset")
                default = call.args.get("default")
                parts = [value, self.expr(offset) if offset is not None else Const(1, "integer")]
                if default is not None:  # an untyped literal is read as value's type (a number is no time)
                    given = self.expr(default)
                    parts.append(self._like(value, given, epoch=False))
                _offset_arguments(named, parts)
                return named, parts, value.type, ""
            if named == "nth_value":
                return named, [value, self.expr(call.args["offset"])], value.type, ""
            return named, [value], value.type, ""
        if not is_aggregate(call) or isinstance(call, exp.WithinGroup):
            raise unsupported(f"{call.sql(dialect='postgres').split('(')[0]} as a window function", node)
        function, argument_node, p = aggregate_parts(call)
        if function.endswith("_distinct") or function.startswith("percentile") or function == "string_agg":
            raise unsupported("DISTINCT, a percentile or string_agg in a window function", node)
        argument = None if argument_node is None else self.expr(argument_node)
        kind = "integer" if argument is None else argument.type
        result_type = row_aggregate_type(function, kind, call)
        if function in ("sum", "mean") and kind == "integer":  # numeric, as the aggregates are
            return function, [] if argument is None else [argument], "numeric", result_type
        return function, [] if argument is None else [argument], result_type, ""

    def _string_agg_parts(self, node: exp.Expression) -> tuple[str, list[tuple[Expr, bool, bool]]]:
        """string_agg's separator (a constant; NULL joins with nothing) and its ORDER BY over the rows."""
        assert self.rows is not None
        separator_node = node.args.get("separator")
        separator = None if separator_node is None or isinstance(unparen(separator_node), exp.Null) else literal(separator_node)
        if separator is not None and not isinstance(separator, str):
            raise unsupported("string_agg with a separator that is not a string constant", node)
        inner = unparen(node.this)
        order = [
            (self.rows.expr(unparen(ordered.this)), *_ordering(ordered))
            for ordered in (inner.expressions if isinstance(inner, exp.Order) else [])
        ]
        return separator or "", [(expr, descending, nulls_first) for expr, descending, nulls_first in order]

    def filled(self, node: exp.Anonymous, alias: str | None) -> Expr:
        name = node.name.lower()
        if not self.gapfill:
            raise unsupported(f"{name}() without time_bucket_gapfill in GROUP BY", node)
        if len(node.expressions) != 1 or not is_aggregate(unparen(node.expressions[0])) or _is_fill(unparen(node.expressions[0])):
            raise unsupported(f"{name}() of other than one aggregate", node)
        return self.aggregate(unparen(node.expressions[0]), alias, _FILLS[name])

    # -- expressions --

    def expr(self, node: exp.Expression, alias: str | None = None) -> Expr:
        """The Expr of a SELECT-list, HAVING or ORDER BY expression; `alias` names a top-level aggregate."""
        node = unparen(node)
        if self.group_keys:
            text = _key_text(node)
            for k, (key_text, key) in enumerate(self.group_keys):
                if key_text == text:
                    return self.ref(("key", k), key.type)
        name = self.scope.column(node)
        if name is not None:
            real = name == "time" or name in self.scope.tags or name in self.scope.fields
            if not real and name in self.aliases:
                return self.aliases[name]
            return self.column(name, node)
        if isinstance(node, exp.Window):
            return self.window(node)
        if type(node).__name__ in _WINDOW_ONLY:
            raise WrongObjectTypeError(f"window function {_WINDOW_ONLY[type(node).__name__]} requires an OVER clause")
        if _is_constant_time(node):  # current_date, date_trunc('day', now())
            return Const(instant(node, self.scope.now), "timestamp")
        epoch_group = epoch_bucket(self.scope, node)
        if epoch_group is not None:
            return EpochSeconds(self.bucket(epoch_group, node))
        bucket = bucket_of(self.scope, node)
        if bucket is not None:
            return self.bucket(bucket, node)
        parts = bucket_parts(self.scope, node)
        if parts is not None:  # a bucket of another timestamp (a joined table's time): each row's
            moment = self.expr(parts[1])
            if moment.type != "timestamp":
                raise OperatorTypeError(f"a time bucket of {PG_TYPE_NAMES.get(moment.type, moment.type)}, not a timestamp")
            return fixed_trunc(moment, parts[0].interval, parts[0].offset)
        if is_epoch_of_time(self.scope, node):
            return EpochSeconds(self.column("time", node))
        if _is_fill(node):
            assert isinstance(node, exp.Anonymous)
            return self.filled(node, alias)
        if is_aggregate(node):
            return self.aggregate(node, alias, "null")
        if isinstance(node, exp.Filter) and is_aggregate(unparen(node.this)):
            if self.rows is None:
                raise needs_rows("an aggregate with FILTER", node)
            return self.row_aggregate(unparen(node.this), alias, self.rows.expr(node.expression.this))
        if _is_now(node) or (isinstance(node, (exp.Add, exp.Sub)) and _is_now(unparen(node.this)) and is_interval(unparen(node.expression))):
            return Const(instant(node, self.scope.now), "timestamp")  # now() +/- an interval
        if is_interval(node):
            inner = unparen(node.this) if isinstance(node, exp.Cast) else None
            if isinstance(inner, exp.Null):
                return Const(None, "interval")
            if inner is not None and not isinstance(inner, (exp.Literal, exp.Cast, exp.Interval)):
                value = self.expr(inner)  # an interval already (a subquery's column)
                if value.type == "interval":
                    return value
            return Const(interval_constant(node), "interval")
        op = _ARITHMETIC.get(type(node))
        if op is not None:  # an untyped string literal is read as the other side's type: n + '1'
            left, right = self.expr(node.this), self.expr(node.expression)
            return Arithmetic(op, self._operand(op, right, left), self._operand(op, left, right))
        if isinstance(node, exp.Neg):
            inner = unparen(node.this)
            return self.constant(node) if isinstance(inner, exp.Literal) else Negate(self.expr(inner))
        if isinstance(node, (exp.Literal, exp.Boolean, exp.Null)):
            return self.constant(node)
        if isinstance(node, exp.Cast):
            return self.cast(node)
        unit = calendar_unit(node)
        if unit is not None:
            return calendar_trunc(self.expr(node.this), unit)
        called = translate_call(node, self.expr, self._like)
        return called if called is not None else self.condition(node)

    def constant(self, node: exp.Expression) -> Expr:
        if isinstance(unparen(node), exp.Null):
            return Const(None, "unknown")
        value = literal(node)
        if isinstance(value, bool):
            return Const(value, "boolean")
        if isinstance(value, int):
            if not I64_MIN <= value <= I64_MAX:
                raise OutOfRangeError(f"integer literal {value} is out of the bigint range")
            return Const(value, "integer")
        if isinstance(value, float):  # a decimal literal is numeric in PostgreSQL; 2.5::float8 is not
            number = unparen(node)
            number = unparen(number.this) if isinstance(number, exp.Neg) else number
            return Const(value, "float", decimal=not number.meta.get(FLOAT8, False))
        return Const(value, "string")

    def cast(self, node: exp.Cast) -> Expr:
        target = node.to.this
        operand = unparen(node.this)
        if isinstance(operand, exp.Null):  # a typed NULL: NULL::timestamptz
            for types, kind in ((TIMESTAMP_TYPES, "timestamp"), (FLOAT_CASTS, "float"), (INTEGER_CASTS, "integer"),
                                (NUMERIC_CASTS, "float"), (TEXT_CASTS, "string")):
                if target in types:
                    return Const(None, kind)
            if target == exp.DataType.Type.BOOLEAN:
                return Const(None, "boolean")
        if target in FLOAT_CASTS and isinstance(operand, exp.Literal) and operand.is_string:
            return Const(float_input(str(operand.this)), "float")  # 'NaN', 'Infinity' (normalize folds the rest)
        if target in FLOAT_CASTS:
            return CastNumber(self.expr(node.this), "float")
        if target in INTEGER_CASTS:
            number = self.expr(node.this)
            if number.type == "boolean" and target == exp.DataType.Type.INT:  # true::int is 1 (not ::bigint)
                return boolean_integer(number)
            return CastNumber(number, "integer")
        modifiers = [int(str(p.this.this)) for p in node.to.expressions if isinstance(p, exp.DataTypeParam) and str(p.this.this).isdigit()]
        if target in NUMERIC_CASTS:  # numeric is float8 here (rusts.sql.functions); numeric(p, s) rounds to s places
            number = CastNumber(self.expr(node.this), "float", numeric=True)
            return number if not modifiers else round_to(number, modifiers[1] if len(modifiers) > 1 else 0)
        if target in TEXT_CASTS:
            text = cast_text(self.expr(node.this))
            return text if not modifiers else fit_text(text, modifiers[0], padded=target == exp.DataType.Type.CHAR)
        if target in TIMESTAMP_TYPES:
            if not isinstance(operand, exp.Literal):
                moment = self.expr(operand)
                if moment.type == "timestamp":
                    # a date is its day's midnight (UTC), still answered as a timestamptz
                    return start_of_day(moment) if target == exp.DataType.Type.DATE else moment
            moment_ns = instant(node, self.scope.now)
            return Const(moment_ns - moment_ns % DAY if target == exp.DataType.Type.DATE else moment_ns, "timestamp")
        raise unsupported(
            f"cast to {node.to.sql(dialect='postgres')} (only to double precision, bigint, numeric, text, timestamptz)", node
        )

    def condition(self, node: exp.Expression) -> Expr:
        op = COMPARISONS.get(type(node))
        if op is not None:
            return self.compare(op, node.this, node.expression)
        if isinstance(node, (exp.And, exp.Or)):
            return Logic(isinstance(node, exp.And), [self.expr(node.this), self.expr(node.expression)])
        if isinstance(node, exp.Not):
            return Not(self.expr(node.this))
        if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
            return IsNull(self.expr(node.this), bool(node.args.get("negate")))
        if isinstance(node, exp.Is) and isinstance(node.expression, exp.Boolean):
            return is_boolean(self.expr(node.this), bool(node.expression.this))
        if isinstance(node, (exp.NullSafeEQ, exp.NullSafeNEQ)):
            left, right = self.expr(node.this), self.expr(node.expression)
            return not_distinct(self._like(right, left), self._like(left, right), isinstance(node, exp.NullSafeEQ))
        if isinstance(node, exp.In):
            subject = self.expr(node.this)
            return InList(subject, [self._like(subject, self.expr(option)) for option in node.expressions])
        if isinstance(node, (exp.Like, exp.ILike, exp.RegexpLike, exp.RegexpILike)):
            return self.match(node)
        if isinstance(node, exp.Between):
            subject = node.this
            low = self.compare(">=", subject, node.args["low"])
            return Logic(True, [low, self.compare("<=", subject, node.args["high"])])
        if isinstance(node, (exp.Func, exp.Anonymous)):
            raise unsupported(f"function {node.sql(dialect='postgres').split('(')[0]}", node)
        raise unsupported(
            f"expression {node.key.upper()} (only columns, constants, aggregates, time buckets, + - * / %, "
            "casts to double precision or bigint, comparisons, AND/OR/NOT, IS NULL, IN, BETWEEN)",
            node,
        )

    def match(self, node: exp.Expression) -> Expr:
        """LIKE / ILIKE / ~ / ~* with a constant pattern."""
        extra = [k for k, v in node.args.items() if v and k not in ("this", "expression", "flag", "negate")]
        pattern = literal(node.expression)
        if extra or not isinstance(pattern, str) or node.args.get("flag"):
            raise unsupported(f"{node.key.upper()} other than with one string constant pattern", node)
        like = isinstance(node, (exp.Like, exp.ILike))
        flags = re.IGNORECASE if isinstance(node, (exp.ILike, exp.RegexpILike)) else 0
        try:
            compiled = re.compile(like_pattern(pattern) if like else python_regex(pattern), flags)
        except re.error as error:
            raise InvalidRegexError(f"invalid regular expression: {error}") from None
        matched = Match(self.expr(node.this), compiled, "~~" if like else "~")
        return Not(matched) if node.args.get("negate") else matched

    def compare(self, op: str, left_node: exp.Expression, right_node: exp.Expression) -> Expr:
        left, right = self.expr(left_node), self.expr(right_node)
        return Compare(op, self._like(right, left), self._like(left, right))

    def _operand(self, op: str, other: Expr, expr: Expr) -> Expr:
        """An arithmetic operand beside `other`: as _like reads it (but an integer beside a timestamp
        stays an integer: time - 1 has no operator), except that a string beside a timestamp in + is
        an interval (time + '1 hour') and beside an interval in * or / a number, as PostgreSQL reads them."""
        if isinstance(expr, Const) and isinstance(expr.constant, str):
            if other.type == "timestamp" and op == "+":
                return Const(interval_constant(exp.Literal.string(expr.constant)), "interval")
            if other.type == "interval" and op in ("*", "/"):
                return Const(coerce_text(expr.constant, "float"), "float")
        return self._like(other, expr, epoch=False)

    def _like(self, other: Expr, expr: Expr, epoch: bool = True) -> Expr:
        """A string constant compared with a timestamp is a timestamp, and so is an integer one (epoch
        nanoseconds, as in WHERE) where `epoch`; a string constant beside an interval is an interval,
        beside a number or boolean one of those, as PostgreSQL reads an untyped literal."""
        if other.type == "interval" and isinstance(expr, Const) and isinstance(expr.constant, str):
            return Const(interval_constant(exp.Literal.string(expr.constant)), "interval")
        if other.type == "timestamp" and isinstance(expr, Const) and (expr.type == "string" or (epoch and expr.type == "integer")):
            if isinstance(expr.constant, str):
                parsed = parse_timestamp(expr.constant)
                if parsed is None:
                    raise TimestampInputError(expr.constant)
                return Const(parsed, "timestamp")
            return Const(expr.constant, "timestamp")
        if isinstance(expr, Const) and expr.type == "string" and other.type in ("integer", "unsigned", "float", "numeric", "boolean"):
            kind = "float" if other.type == "numeric" else other.type
            return Const(coerce_text(expr.constant, kind), "integer" if kind == "unsigned" else kind)
        return expr


# PostgreSQL's name of a type, which names an unaliased cast of something without a name
_CAST_NAMES: Final = {
    exp.DataType.Type.TEXT: "text", exp.DataType.Type.VARCHAR: "varchar", exp.DataType.Type.CHAR: "bpchar",
    exp.DataType.Type.BIGINT: "int8", exp.DataType.Type.INT: "int4", exp.DataType.Type.SMALLINT: "int2",
    exp.DataType.Type.DOUBLE: "float8", exp.DataType.Type.FLOAT: "float4", exp.DataType.Type.DECIMAL: "numeric",
    exp.DataType.Type.TIMESTAMPTZ: "timestamptz", exp.DataType.Type.TIMESTAMP: "timestamp", exp.DataType.Type.DATE: "date",
    exp.DataType.Type.INTERVAL: "interval", exp.DataType.Type.BOOLEAN: "bool",
}


def _default_name(scope: Scope, node: exp.Expression) -> str:
    """PostgreSQL's name of an unaliased SELECT item."""
    node = unparen(node)
    if isinstance(node, exp.Cast):  # the name of what is cast, else the type's: 1::text is text
        inner = _default_name(scope, node.this)
        return inner if inner != "?column?" else _CAST_NAMES.get(node.to.this, "?column?")
    if isinstance(node, exp.Cast):
        node = unparen(node.this)
    name = scope.column(node)
    if name is not None:
        return scope.shown.get(name, name)
    if epoch_bucket(scope, node) is not None:
        return "?column?"
    if is_epoch_of_time(scope, node):
        return "extract"
    if isinstance(node, (exp.TimestampTrunc, exp.DateTrunc)):
        return "date_trunc"
    if isinstance(node, exp.DateBin):
        return "date_bin"
    if bucket_of(scope, node) is not None and isinstance(node, exp.Anonymous):
        return node.name.lower()  # time_bucket, time_bucket_gapfill
    if isinstance(node, exp.Window):  # named after its function: row_number, lag, sum
        call = unparen(node.this)
        call = unparen(call.this) if isinstance(call, exp.Filter) else call
        return _WINDOW_ONLY.get(type(call).__name__) or _default_name(scope, call)
    if isinstance(node, exp.Filter):
        node = unparen(node.this)
    if is_aggregate(node):  # PostgreSQL names it after the function: avg, count, percentile_cont, locf
        if isinstance(node, exp.WithinGroup):
            node = unparen(node.this)
        if isinstance(node, exp.Anonymous):
            return node.name.lower()
        if isinstance(node, (exp.LogicalAnd, exp.LogicalOr, exp.VariancePop, exp.StddevPop, exp.GroupConcat)):
            return _ROW_ONLY[type(node)]  # sqlglot's names for them are not PostgreSQL's
        return node.sql_name().lower() if isinstance(node, exp.Func) else node.key
    return function_name(node) or "?column?"


def translate_select(
    engine: StorageEngine, select: exp.Select, now: int, probe: bool = True, from_rows: bool = False
) -> Translation:
    """The Translation of a parsed SELECT; `now` (epoch ns) is what now() means. `probe` lets a SELECT of
    rows count its rows first (cheap: block totals) to ask for only the fields it names when that loses
    no row; without it (describe) the Translation reads no data. An aggregating SELECT the executor's
    model cannot take is answered from its rows (rusts.sql.regroup) when it can be; `from_rows` asks
    for that way for any aggregating SELECT (tests compare the two)."""
    from rusts.sql.sources import inline_subqueries  # it reads queries through this module

    select = inline_subqueries(engine, select, now, probe)
    if select.args.get("from_") is None:
        return _translate_without_from(select, now)
    if from_rows:
        return _translate_select(engine, select, now, probe, True)
    try:
        return _translate_select(engine, select, now, probe, False)
    except NeedsRowsError as refusal:
        try:
            return _translate_select(engine, select, now, probe, True)
        except NeedsRowsError:
            raise refusal from None


def _named_windows(select: exp.Select) -> exp.Select:
    """The SELECT with each `OVER name` / `OVER (name ORDER BY ...)` spelled out from its WINDOW
    clause definition, as PostgreSQL reads them (a reference adds an ORDER BY or a frame to the
    definition, never another PARTITION BY, nor an ORDER BY over the definition's)."""
    clause = select.args.get("windows")
    named = [node for node in select.find_all(exp.Window) if node.args.get("alias") is not None]
    if not clause and not named:
        return select
    select = select.copy()
    definitions: dict[str, exp.Window] = {}
    for definition in select.args.get("windows") or []:
        name = definition.this.name
        if name in definitions:
            raise WindowingError(f'window "{name}" is already defined')
        if definition.args.get("alias") is not None:  # WINDOW w2 AS (w1 ORDER BY ...): w1 spelled out
            _spell_out(definition, definitions)
        definitions[name] = definition
    select.set("windows", None)
    for node in select.find_all(exp.Window):
        if node.args.get("alias") is not None:
            _spell_out(node, definitions)
    return select


def _spell_out(node: exp.Window, definitions: dict[str, exp.Window]) -> None:
    """A window that names another (OVER w, OVER (w ...), WINDOW w2 AS (w ...)) with that one's parts."""
    name = node.args["alias"].name
    base = definitions.get(name)
    if base is None:
        raise UndefinedWindowError(f'window "{name}" does not exist')
    if node.args.get("partition_by"):
        raise WindowingError(f'cannot override PARTITION BY clause of window "{name}"')
    if node.args.get("order") and base.args.get("order"):
        raise WindowingError(f'cannot override ORDER BY clause of window "{name}"')
    if (node.args.get("order") or node.args.get("spec")) and base.args.get("spec"):
        raise WindowingError(f'cannot copy window "{name}" because it has a frame clause')
    node.set("partition_by", [key.copy() for key in base.args.get("partition_by") or []] or None)
    for part in ("order", "spec"):
        if not node.args.get(part) and base.args.get(part):
            node.set(part, base.args[part].copy())
    node.set("alias", None)


def _select_items(select: exp.Select) -> list[tuple[exp.Expression, str]]:
    """Each SELECT-list item without its alias, and the alias ("" for none)."""
    return [
        (unparen(n.this if isinstance(n, exp.Alias) else n), n.alias if isinstance(n, exp.Alias) else "")
        for n in select.expressions
    ]


def _translate_without_from(select: exp.Select, now: int) -> Translation:
    """A SELECT of constants and functions without FROM (`SELECT 1`, `SELECT round(2.5)`, `SELECT now()`,
    `SELECT 'a' || 'b' WHERE false`): one row (or none), computed without reading anything. Aggregates
    there aggregate that one row (`SELECT count(*)` is 1; with `WHERE false`, 0)."""
    select = _named_windows(select)
    if isinstance(select.args.get("distinct"), exp.Distinct):
        select = select.copy()
        select.set("distinct", None)  # of one row
    _check_shape(select)
    for clause in ("group", "having"):
        if select.args.get(clause):
            raise unsupported(f"{clause.upper()} without FROM", select.args[clause])
    scope = Scope("", "", [], {}, now)
    named = [select.args.get("where"), *select.expressions]
    for column in (n for part in named if part is not None for n in part.walk() if isinstance(n, exp.Column)):
        raise UnknownColumnError(column.name, "", column.sql(dialect="postgres"))
    items = _select_items(select)
    if any(isinstance(node, exp.Star) for node, _ in items):
        raise SqlSyntaxError("SELECT * with no tables specified is not valid")
    aggregating = any(mentions_aggregate(node) for node, _ in items) or mentions_aggregate(select.args.get("order"))
    built = Select(scope, None, False, aggregating)
    if aggregating:
        built.rows = Select(scope, None, False, False)
    outputs = [built.expr(node, alias or None) for node, alias in items]
    names = [alias or _default_name(scope, node) for node, alias in items]
    where = select.args.get("where")
    condition = None if where is None else boolean_argument("WHERE", (built.rows or built).expr(where.this))
    order = _order_keys(built, select.args.get("order"), outputs, names)
    translation = Translation(Query(""), built.layout() if aggregating else [], outputs, names)
    translation.constant = True
    translation.empty = [[]]
    if aggregating:
        built.bind()
        translation.empty = _regroup(built, 0, condition, translation.layout).apply(QueryResult([Column("time", "timestamp")], [[None]])).rows
    else:
        translation.residual = condition
        built.bind_windows(0)
    translation.order = order
    translation.windows = [call for call, _ in built.windows]
    translation.limit, translation.offset = _paging(select)
    return translation


def _translate_select(engine: StorageEngine, select: exp.Select, now: int, probe: bool, row_path: bool) -> Translation:
    from rusts.sql.sources import subquery_of  # it reads queries through this module

    found = subquery_of(engine, select, now, probe)
    source = None if found is None else found[1]
    if found is not None:
        select, row_path = found[0], True  # a subquery's rows are all read: its aggregates come from them
    elif select.args.get("with_") is not None:  # WITH queries only subqueries read (or none)
        select = select.copy()
        select.set("with_", None)
    select = _named_windows(select)
    distinct = select.args.get("distinct")
    distinct_on: list[exp.Expression] = []
    every_output = False  # SELECT DISTINCT over window functions: the rows they give, each once
    if isinstance(distinct, exp.Distinct) and isinstance(distinct.args.get("on"), exp.Tuple):
        distinct_on = list(distinct.args["on"].expressions)
        select = select.copy()
        select.set("distinct", None)
    elif isinstance(distinct, exp.Distinct) and any(isinstance(node, exp.Window) for node in select.walk()):
        every_output = True  # (normalize made any other plain DISTINCT a GROUP BY)
        select = select.copy()
        select.set("distinct", None)
    _check_shape(select)
    scope = select_scope(engine, select, now) if source is None else source.scope
    items = _select_items(select)
    group, gapfill, group_keys = _group_by(scope, select, items, row_path)
    having_clause = select.args.get("having")
    order_clause = select.args.get("order")
    mentioned = [node for node, _ in items] + [having_clause, order_clause]
    aggregating = group is not None or any(mentions_aggregate(node) for node in mentioned)
    clause = select.args.get("where")
    condition = None if clause is None else clause.this
    where = translate_where(scope, condition, rows=True) if source is None else row_where(condition)
    first_refusal = where.residual[0][1] if where.residual else None
    if aggregating and first_refusal is not None and not row_path:
        raise needing_rows(first_refusal)
    built = Select(scope, group, gapfill, aggregating)
    if row_path and aggregating:
        if gapfill:
            raise unsupported("time_bucket_gapfill where the aggregates are computed from rows", select)
        built.rows = Select(scope, None, False, False)
        built.group_keys = [(_key_text(node), built.rows.expr(node)) for node in group_keys]
    outputs: list[Expr] = []
    names: list[str] = []
    for node, alias in items:
        table_star = isinstance(node, exp.Column) and isinstance(node.this, exp.Star)  # t.*
        if isinstance(node, exp.Star) or table_star:
            if aggregating:
                raise unsupported("* beside aggregates", node)
            expanded, expanded_names = built.star_outputs(str(node.args["table"].name) if table_star else None, node)
            outputs += expanded
            names += expanded_names
            continue
        outputs.append(built.expr(node, alias or None))
        names.append(alias or _default_name(scope, node))
    residual = _residual(built if built.rows is None else built.rows, where.residual)
    built.aliases = {alias: expr for (_, alias), expr in zip(items, outputs) if alias}
    having: Expr | None = None
    if having_clause is not None:
        if not aggregating:
            raise unsupported("HAVING without GROUP BY or an aggregate", having_clause)
        having = boolean_argument("HAVING", built.expr(having_clause.this))
    order = _order_keys(built, order_clause, outputs, names)
    firsts = [_output_or_expr(built, unparen(node), outputs, names, "SELECT DISTINCT ON") for node in distinct_on]
    if every_output:
        firsts = list(outputs)
    if aggregating and not built.aggregations:
        built.aggregations.append(Aggregation("count", "*"))  # so that the groups exist; not answered
        built.row_aggregates.append(RowAggregate("count", None, None, "integer"))
    time_range = where.time_range()
    empty = time_range is not None and time_range.start is not None and time_range.end is not None and (
        time_range.start >= time_range.end
    )
    if empty:
        assert time_range is not None and time_range.start is not None
        time_range.end = time_range.start + 1  # the executor refuses an empty range; its rows are not used
    query = Query(scope.measurement, time_range=time_range, tag_filter=where.tag_filter(), field_filter=where.fields)
    if not aggregating and not built.star and not empty and probe and source is None:
        built.named_only = _every_row_named(engine, query, built.fields)
    if aggregating and built.rows is None:
        query.aggregations = built.aggregations
        query.group_by = group
        if gapfill:
            _gapfill(built, where.start, where.end, select)
    else:
        query.fields = built.fields if built.named_only else None
    translation = Translation(query, built.layout(), outputs, names)
    translation.distinct_on = firsts
    translation.source = source
    built.bind()
    translation.windows = [call for call, _ in built.windows]
    translation.float_aggregates = [
        i for i, (key, column) in enumerate(zip(built.keys(), translation.layout)) if key[0] == "aggregate" and column.type == "float"
    ]
    if empty:
        translation.empty = [_empty_aggregate_row(built, time_range)] if aggregating and group is None else []
    limit, offset = _paging(select)
    if built.rows is not None:  # the aggregates are computed from the rows `query` reads: nothing is pushed down
        translation.regroup = _regroup(built, where.start, residual, translation.layout)
        translation.order, translation.having, translation.limit, translation.offset = order, having, limit, offset
        return translation
    translation.residual = residual
    # PostgreSQL computes every group's SELECT list before it sorts: an error in a group the page leaves out counts
    computed = aggregating and bool(order) and not all(isinstance(expr, Ref) for expr in outputs)
    if residual is None and not computed and not firsts and not built.windows and source is None and _pushable(order, having, group):
        query.order = "desc" if order and order[0].descending else "asc"
        query.limit, query.offset = limit, offset
    else:
        translation.order, translation.having, translation.limit, translation.offset = order, having, limit, offset
    return translation


def _regroup(built: Select, start: int | None, residual: Expr | None, layout: list[Column]) -> Regroup:
    """How the row path turns the rows (every field of every row the pushed-down WHERE parts select)
    into the aggregate layout (rusts.sql.regroup)."""
    rows = built.rows
    assert rows is not None
    rows.bind()
    row_keys = rows.keys()
    tags = built.group.tags if built.group is not None else []
    time_group = built.group.time if built.group is not None else None
    keys = [key for _, key in built.group_keys]
    tag_indexes = [row_keys.index(("tag", tag)) for tag in tags]
    return Regroup(layout, tag_indexes, keys, time_group, start or 0, residual, built.row_aggregates)


def _every_row_named(engine: StorageEngine, query: Query, fields: list[str]) -> bool:
    """Whether every row `query` selects carries one of `fields` (one of them is on every row), so that
    asking for only those loses no row; counted from block totals where the executor can."""
    if not fields:
        return False
    if set(fields) == set(engine.field_types(query.measurement)):
        return True
    counts = Query(
        query.measurement, time_range=query.time_range, tag_filter=query.tag_filter, field_filter=query.field_filter,
        aggregations=[Aggregation("count", "*")] + [Aggregation("count", name) for name in fields],
    )
    rows = execute(engine, counts).rows
    return not rows or any(count == rows[0][1] for count in rows[0][2:])


def _residual(built: Select, terms: list[tuple[exp.Expression, UnsupportedSqlError | None]]) -> Expr | None:
    """The WHERE terms the model cannot take, as one condition tested on each row (a SELECT of rows);
    a term that is no row condition either is refused with the model's reason."""
    conditions: list[Expr] = []
    for term, refusal in terms:
        if mentions_aggregate(term):
            raise unsupported("an aggregate in WHERE (use HAVING)", term)
        try:
            condition = built.expr(term)
        except UnsupportedSqlError as error:
            raise (error if refusal is None else refusal) from None
        conditions.append(boolean_argument("WHERE", condition))
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else Logic(True, conditions)


def _empty_aggregate_row(built: Select, time_range: TimeRange | None) -> list[Any]:
    """What an aggregate without GROUP BY answers over no rows: counts 0, everything else NULL."""
    start = 0 if time_range is None or time_range.start is None else time_range.start
    return [start] + [0 if a.function in ("count", "count_distinct") else None for a in built.aggregations]


def _pushable(order: list[OrderKey], having: Expr | None, group: GroupBy | None) -> bool:
    """Whether the executor's order, LIMIT and OFFSET answer the SELECT's (ORDER BY time alone, no HAVING)."""
    if having is not None:
        return False
    if not order:
        return True
    if len(order) > 1 or not isinstance(order[0].expr, Ref) or order[0].expr.key != ("time", "time"):
        return False
    # rows grouped by tag and bucket come tag by tag, so only a sort after the executor orders them by time
    return group is None or not (group.tags and group.time is not None)


def _gapfill(built: Select, start: int | None, end: int | None, select: exp.Select) -> None:
    assert built.group is not None, "BUG: gap filling without GROUP BY"
    if start is None or end is None:
        raise unsupported(
            "time_bucket_gapfill without a time range bounded on both sides (WHERE time >= a AND time < b)", select
        )
    if len(built.fills) > 1:
        raise unsupported(
            "different gap fills in one query (aggregates must all be plain, all in locf() or all in interpolate(); "
            "counts may sit beside any)",
            select,
        )
    fill = next(iter(built.fills), "null")
    built.group.fill = "null" if fill == "null" else ("previous" if fill == "previous" else "linear")


def _order_keys(built: Select, clause: exp.Expression | None, outputs: list[Expr], names: list[str]) -> list[OrderKey]:
    """ORDER BY keys: a position, an output column's name (as PostgreSQL prefers), or an expression."""
    if clause is None:
        return []
    return [
        OrderKey(_output_or_expr(built, unparen(ordered.this), outputs, names, "ORDER BY"), *_ordering(ordered))
        for ordered in clause.expressions
    ]


def interval_constant(node: exp.Expression) -> Interval:
    """The value of INTERVAL '1 day 2 hours', INTERVAL '5' MINUTE, '...'::interval or a string
    read as an interval; months and years are refused (their length depends on the calendar)."""
    text = interval_text_of(node)
    found = None if text is None else parse_interval_text(text)
    if found is None:
        if text is not None and any(word in text.lower() for word in ("mon", "year", "yr", "decade", "centur", "millen")):
            raise unsupported("an interval of months or years (its length depends on the calendar)", node)
        raise InvalidTextError(f'invalid input syntax for type interval: "{text}"') if text is not None else unsupported(
            "an interval that is not a constant", node
        )
    return found


def _offset_arguments(name: str, parts: list[Expr]) -> None:
    """lag/lead(value, offset integer, default of value's type), as PostgreSQL's signatures take them."""
    value, offset = parts[0], parts[1]
    default = parts[2] if len(parts) > 2 else None
    fits = offset.type in ("integer", "unknown") and (
        default is None or default.type in (value.type, "unknown") or (value.type in NUMERIC and default.type in NUMERIC)
        or value.type == "unknown"
    )
    if not fits:
        shown = ", ".join(PG_TYPE_NAMES.get(part.type, part.type) for part in parts)
        raise OperatorTypeError(f"function {name}({shown}) does not exist")


def _no_window_inside(node: exp.Expression) -> None:
    if any(isinstance(inner, exp.Window) for inner in node.walk()):
        raise GroupingError("aggregate function calls cannot contain window function calls")


def _ordering(ordered: exp.Expression) -> tuple[bool, bool]:
    """An ORDER BY item's direction and NULL placement: (descending, NULLs first)."""
    descending = bool(ordered.args.get("desc"))
    nulls_first = ordered.args.get("nulls_first")
    return descending, descending if nulls_first is None else bool(nulls_first)


def _frame(spec: exp.Expression | None, node: exp.Window) -> Frame:
    """A window's frame clause (the default without one: RANGE UNBOUNDED PRECEDING to CURRENT ROW)."""
    if spec is None:
        return DEFAULT_FRAME
    kind = str(spec.args.get("kind") or "").upper()
    if kind not in ("ROWS", "RANGE") or spec.args.get("exclude"):
        raise unsupported(f"a {kind or 'GROUPS'} frame or a frame exclusion (ROWS and RANGE frames only)", node)
    start = _frame_bound(spec.args.get("start"), spec.args.get("start_side"), "starting", node)
    end = _frame_bound(spec.args.get("end"), spec.args.get("end_side"), "ending", node) if spec.args.get("end") else (CURRENT, 0)
    if start == (UNBOUNDED, 1):
        raise WindowingError("frame start cannot be UNBOUNDED FOLLOWING")
    if end == (UNBOUNDED, -1):
        raise WindowingError("frame end cannot be UNBOUNDED PRECEDING")
    if start[0] == CURRENT and end[0] == PRECEDING:
        raise WindowingError("frame starting from current row cannot have preceding rows")
    if start[0] == FOLLOWING and end[0] in (CURRENT, PRECEDING):
        raise WindowingError("frame starting from following row cannot have preceding rows")
    if kind == "RANGE" and {start[0], end[0]} & {PRECEDING, FOLLOWING}:
        raise unsupported("RANGE with an offset (n PRECEDING or FOLLOWING): use ROWS", node)
    return Frame(kind == "ROWS", (start[0], max(start[1], 0)), (end[0], max(end[1], 0)))


def _frame_bound(value: Any, side: Any, which: str, node: exp.Window) -> Bound:
    """One frame bound; UNBOUNDED comes back as (UNBOUNDED, -1 for PRECEDING, 1 for FOLLOWING)."""
    following = str(side or "").upper() == "FOLLOWING"
    text = value.upper() if isinstance(value, str) else value.name.upper() if isinstance(value, exp.Var) else ""
    if text == "UNBOUNDED":
        return UNBOUNDED, 1 if following else -1
    if text == "CURRENT ROW":
        return CURRENT, 0
    offset = literal(value) if isinstance(value, exp.Expression) else None
    if not isinstance(offset, int) or isinstance(offset, bool):
        raise unsupported("a frame offset that is not an integer constant", node)
    if offset < 0:
        raise WindowArgumentError(f"frame {which} offset must not be negative", "22013")
    return (FOLLOWING if following else PRECEDING), offset




def _output_or_expr(built: Select, target: exp.Expression, outputs: list[Expr], names: list[str], clause: str) -> Expr:
    """What an ORDER BY or DISTINCT ON item stands for: a position, an output column's name (as
    PostgreSQL prefers), or an expression."""
    if isinstance(target, exp.Literal) and not target.is_string:
        position = integer(target, f"an {clause} position")
        if not 1 <= position <= len(outputs):
            raise PositionError(f"{clause} position {position} is not in select list (of {len(outputs)})")
        return outputs[position - 1]
    if isinstance(target, exp.Column) and not target.table and target.name in names:
        expr = outputs[names.index(target.name)]
        if any(n == target.name and not _same_output(o, expr) for n, o in zip(names, outputs)):
            raise AmbiguousColumnError(f'{clause} "{target.name}" is ambiguous')
        return expr
    return built.expr(target)


def _is_constant_time(node: exp.Expression) -> bool:
    """current_date, or date_trunc of a time that reads no column."""
    if isinstance(node, exp.CurrentDate):
        return True
    return isinstance(node, (exp.TimestampTrunc, exp.DateTrunc)) and node.find(exp.Column) is None


def _is_now(node: exp.Expression) -> bool:
    return isinstance(node, exp.CurrentTimestamp) or (isinstance(node, exp.Anonymous) and node.name.lower() == "now")


def _same_output(a: Expr, b: Expr) -> bool:
    return a is b or (isinstance(a, Ref) and isinstance(b, Ref) and a.key == b.key)


def _resolve(items: list[tuple[exp.Expression, str]], node: exp.Expression, scope: Scope) -> exp.Expression:
    """A GROUP BY reference: a position (1-based) or an alias (not a column's name) stands for that SELECT item."""
    node = unparen(node)
    if isinstance(node, exp.Literal) and not node.is_string:
        position = integer(node, "a position")
        if not 1 <= position <= len(items):
            raise PositionError(f"GROUP BY position {position} is not in select list (of {len(items)})")
        return items[position - 1][0]
    name = scope.column(node)
    if name is not None and name not in scope.fields and name not in scope.tags and name != "time":
        for item, alias in items:
            if alias == name:
                return item
    return node


def _group_by(
    scope: Scope, select: exp.Select, items: list[tuple[exp.Expression, str]], row_path: bool
) -> tuple[GroupBy | None, bool, list[exp.Expression]]:
    """The GROUP BY clause as the model's GroupBy, whether its bucket is time_bucket_gapfill, and the
    grouping keys that are neither tags nor a time bucket (a field, the time itself, `lower(host)`,
    `time::date`, `date_trunc('month', time)`), which only the row path groups by."""
    clause = select.args.get("group")
    if clause is None:
        return None, False, []
    extra = [k for k, v in clause.args.items() if v and k != "expressions"]
    if extra:
        raise unsupported(f"GROUP BY {extra[0].upper()}", clause)
    group = GroupBy()
    gapfill = False
    keys: list[exp.Expression] = []
    for node in clause.expressions:
        target = unparen(_resolve(items, node, scope))
        if mentions_aggregate(target):
            raise GroupingError("aggregate functions are not allowed in GROUP BY")
        bucket = bucket_of(scope, target)
        if bucket is not None:
            if group.time is not None and (group.time != bucket or gapfill != is_gapfill(target)):
                raise unsupported("GROUP BY two different time buckets", node)
            group.time = bucket
            gapfill = is_gapfill(target)
            continue
        name = scope.column(target)
        if name is not None and scope.role(name, node) == "tag":
            if name not in group.tags:
                group.tags.append(name)
            continue
        if not row_path:
            raise needs_rows("GROUP BY an expression, a field or the time itself", node)
        if all(_key_text(target) != _key_text(key) for key in keys):
            keys.append(target)
    return group, gapfill, keys


def _key_text(node: exp.Expression) -> str:
    """What identifies a GROUP BY expression in the SELECT list, HAVING and ORDER BY."""
    return unparen(node).sql(dialect="postgres")


def aggregation_of(scope: Scope, node: exp.Expression, alias: str | None) -> Aggregation:
    function, argument, p = aggregate_parts(node)
    if function in ROW_ONLY_FUNCTIONS:
        raise needs_rows(f"the aggregate {function}", node)
    field = "*" if argument is None else _argument(scope, node, argument)
    if function == "count_distinct" and field == "*":
        raise unsupported("COUNT(DISTINCT *)", node)
    return Aggregation(cast(AggregateFunction, function), field, alias, p)


def aggregate_parts(node: exp.Expression) -> tuple[str, exp.Expression | None, float | None]:
    """An aggregate call's function (the model's, or one of ROW_ONLY_FUNCTIONS), argument (None for
    count(*)) and percentile p (0-100)."""
    if isinstance(node, exp.Count):
        arg = node.this
        if isinstance(arg, exp.Star):
            _no_extra(node, ("this", "big_int"))
            return "count", None, None
        if isinstance(arg, exp.Distinct):
            if len(arg.expressions) != 1:
                raise unsupported("COUNT(DISTINCT ...) of other than one column", node)
            return "count_distinct", arg.expressions[0], None
        _no_extra(node, ("this", "big_int"))
        return "count", arg, None
    if isinstance(node, exp.WithinGroup):
        return _percentile_cont(node)
    if isinstance(node, exp.GroupConcat):  # string_agg(x, separator [ORDER BY ...]): see _Select.row_aggregate
        _no_extra(node, ("this", "separator"))
        inner = unparen(node.this)
        inner = inner.this if isinstance(inner, exp.Order) else inner
        if isinstance(inner, exp.Distinct):
            raise unsupported("string_agg(DISTINCT ...)", node)
        return "string_agg", inner, None
    row_only = _ROW_ONLY.get(type(node))
    if row_only is not None:
        _no_extra(node, ("this",))
        return row_only, node.this, None
    function = _PLAIN_AGGREGATES.get(type(node))
    if function is not None and isinstance(node.this, exp.Distinct):  # sum(DISTINCT j), min(DISTINCT j)
        if len(node.this.expressions) != 1 or function not in ("sum", "mean", "min", "max"):
            raise unsupported(f"{function.upper()}(DISTINCT ...) (only sum, avg, min, max and count of one argument)", node)
        _no_extra(node, ("this", "expressions"))
        distinct = {"sum": "sum_distinct", "mean": "mean_distinct"}.get(function, function)
        return distinct, node.this.expressions[0], None
    if function is not None:
        _no_extra(node, ("this",))
        return function, node.this, None
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        if name == "percentile" and len(node.expressions) == 2:
            p = literal(node.expressions[1])
            if not isinstance(p, (int, float)) or isinstance(p, bool):
                raise unsupported("percentile p that is not a number", node)
            return "percentile", node.expressions[0], float(p)
        named: str | None = _NAMED_AGGREGATES.get(name) or _ROW_ONLY_NAMES.get(name)
        if named is not None and len(node.expressions) == 1:
            return named, node.expressions[0], None
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
        raise needs_rows("an aggregate of an expression (only of a column)", node)
    if scope.role(name, node) == "time":
        raise needs_rows("an aggregate of the time column", node)
    return name


def needs_rows(construct: str, node: exp.Expression) -> NeedsRowsError:
    return needing_rows(unsupported(construct, node))


def needing_rows(refusal: UnsupportedSqlError) -> NeedsRowsError:
    """The refusal, as one the row path may still answer (translate_select tries it)."""
    return NeedsRowsError(refusal.construct, refusal.fragment, refusal.line, refusal.column)


def _percentile_cont(node: exp.WithinGroup) -> tuple[str, exp.Expression, float]:
    """percentile_cont(p) (interpolated) or percentile_disc(p) (a value of the group) WITHIN GROUP (ORDER BY x)."""
    inner = node.this
    order = node.expression
    discrete = isinstance(inner, exp.PercentileDisc)
    if not isinstance(inner, (exp.PercentileCont, exp.PercentileDisc)) or not isinstance(order, exp.Order) or len(order.expressions) != 1:
        raise unsupported("WITHIN GROUP other than PERCENTILE_CONT/PERCENTILE_DISC(p) WITHIN GROUP (ORDER BY x)", node)
    ordered = order.expressions[0]
    p = literal(inner.this)
    if not isinstance(p, (int, float)) or isinstance(p, bool):
        raise unsupported("PERCENTILE_CONT of other than a constant fraction", node)
    if not 0.0 <= p <= 1.0:
        raise OutOfRangeError(f"percentile value {p:g} is not between 0 and 1")
    if discrete:
        return ("percentile_disc_desc" if ordered.args.get("desc") else "percentile_disc"), ordered.this, float(p) * 100.0
    fraction = 1.0 - float(p) if ordered.args.get("desc") else float(p)  # the same rank counted from the top
    return "percentile", ordered.this, fraction * 100.0


def _paging(select: exp.Select) -> tuple[int | None, int]:
    limit: int | None = None
    clause = select.args.get("limit")
    if clause is not None:
        if isinstance(clause, exp.Fetch):  # FETCH FIRST n ROWS ONLY
            options = clause.args.get("limit_options")
            if options is not None and (options.args.get("percent") or options.args.get("with_ties")):
                raise unsupported("FETCH ... PERCENT or WITH TIES", clause)
            value = clause.args.get("count") or exp.Literal.number(1)
        elif isinstance(clause, exp.Limit):
            value = clause.expression
        else:
            raise unsupported(f"{clause.key.upper()} (use LIMIT)", clause)
        if not (isinstance(value, exp.Var) and value.name.upper() == "ALL"):
            limit = _paging_count(value, "LIMIT")
    offset = 0
    clause = select.args.get("offset")
    if clause is not None:
        offset = _paging_count(clause.expression, "OFFSET") or 0
    return limit, offset


def _paging_count(node: exp.Expression, clause: str) -> int | None:
    """A LIMIT or OFFSET: an integer constant expression (`LIMIT 2 * 5`); NULL means none."""
    if isinstance(unparen(node), exp.Literal):
        value: Any = integer(node, clause)
    else:
        if node.find(exp.Column) is not None:
            raise PositionError(f"argument of {clause} must not contain variables")
        computed = Select(Scope("", "", [], {}, 0), None, False, False).expr(node)
        if computed.type not in ("integer", "unsigned", "unknown"):
            raise DatatypeMismatchError(f"argument of {clause} must be type bigint, not type {PG_TYPE_NAMES[computed.type]}")
        value = computed.value([])
        if value is None:
            return None
    if value < 0:
        raise PagingError(clause)
    return int(value)


def _ungrouped(scope: Scope, name: str, detail: str) -> GroupingError:
    return GroupingError(
        f'column "{scope.measurement}.{name}" must appear in the GROUP BY clause or be used in an aggregate function ({detail})'
    )
