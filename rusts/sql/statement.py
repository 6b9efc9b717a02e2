"""The statement-level interface protocol layers call: execute, describe, parameter types.

    execute_sql(engine, text)      any supported statement -> SqlAnswer(columns, rows, tag)
    stream_sql(engine, text)       the same answer as columns, then rows in batches (bounded memory
                                   for SELECTs whose rows need no sort, filter or paging after the executor)
    describe_sql(engine, text)     the columns execute_sql would answer, from the catalogue only
    parameter_types(engine, text)  the type each placeholder $1..$n must have, from its context

`tag` is PostgreSQL's CommandComplete tag: "SELECT n", "INSERT 0 n",
"DELETE n", "DROP TABLE" / "DROP MEASUREMENT", "SHOW" (SHOW and DESCRIBE), "EXPLAIN".

A SELECT on a measurement with a downsampling policy may be answered (in part) from one of its
tiers (rusts.aggregation.downsampling); `EXPLAIN SELECT ...` answers one text column, QUERY
PLAN, saying which tier or raw measurement answers which range. A SELECT reading a real-time
continuous aggregate first recomputes its pending buckets (rusts.aggregation.continuous).
Placeholders stand wherever a literal may; a caller substitutes them as SQL
literals before execute_sql (a timestamp as a string literal is accepted
wherever time is compared or assigned).
"""

import re
import time
from collections.abc import Iterator
from typing import Any, Final, NamedTuple

import msgspec
from sqlglot import exp

from rusts.core.errors import QueryError
from rusts.aggregation.statements import aggregate_statement, is_aggregate_statement, statement_columns
from rusts.query.batches import ColumnBatch
from rusts.query.errors import UnknownMeasurementError
from rusts.query.executor import execute, execute_batches, execute_column_batches
from rusts.query.model import Column, QueryResult
from rusts.retention.show import retention_statement
from rusts.sql.catalog import answer_catalog, looks_like_catalog
from rusts.sql.errors import UnsupportedSqlError, WrongObjectTypeError
from rusts.sql.nodes import TIMESTAMP_TYPES, Scope, literal, unparen, unsupported
from rusts.sql.normalize import normalize
from rusts.sql.translator import (
    FLOAT_CASTS,
    INTEGER_CASTS,
    Translation,
    aggregation_of,
    aggregate_type,
    catalog_statement,
    is_aggregate,
    parse_statement,
    source_rows,
    table_scope,
    translate_select,
)
from rusts.sql.sources import Joined, Subquery
from rusts.sql.writes import create_table, delete, drop, insert, match_drop
from rusts.storage.engine import StorageEngine

__all__ = ["SqlAnswer", "SqlStream", "describe_sql", "execute_sql", "parameter_types", "stream_sql"]

_SAMPLE_TIME: Final = "2000-01-01T00:00:00Z"
_EXPLAIN: Final = re.compile(r"EXPLAIN\s+(?P<select>(?:SELECT\b|WITH\b|\().*)", re.IGNORECASE | re.DOTALL)
EXPLAIN_COLUMNS: Final = [Column("QUERY PLAN", "string")]
_TEXT_CASTS: Final = frozenset({exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR, exp.DataType.Type.CHAR})


class SqlAnswer(msgspec.Struct):
    """What a statement answers: result columns and rows (time as int ns), and its command tag."""

    columns: list[Column]
    rows: list[list[Any]]
    tag: str


def execute_sql(engine: StorageEngine, text: str, timeout: float | None = None, now: int | None = None) -> SqlAnswer:
    """Run one statement; QueryError subclasses (each with a SQLSTATE, see rusts.sql.errors.sqlstate_of)."""
    at = time.time_ns() if now is None else now
    stripped = text.strip().rstrip(";").strip()
    shown = retention_statement(engine, stripped)
    if shown is not None:
        return SqlAnswer(shown.columns, shown.rows, "SHOW")
    aggregate = aggregate_statement(engine, stripped)
    if aggregate is not None:
        return SqlAnswer(aggregate[0].columns, aggregate[0].rows, aggregate[1])
    if looks_like_catalog(stripped):
        result = answer_catalog(engine, catalog_statement(stripped))
        return SqlAnswer(result.columns, result.rows, "SHOW")
    dropped = match_drop(stripped)
    if dropped is not None:
        _refuse_dropping_an_aggregate(engine, dropped[1])
        return SqlAnswer([], [], drop(engine, *dropped))
    explained = _EXPLAIN.fullmatch(stripped)
    if explained is not None:
        return SqlAnswer(list(EXPLAIN_COLUMNS), [[line] for line in _explain(engine, explained["select"], at)], "EXPLAIN")
    statement = parse_statement(text)
    if isinstance(statement, exp.Select):
        translation = _translated(engine, statement, at)
        result = translation.finish(_executed(engine, translation, timeout))
        return SqlAnswer(result.columns, result.rows, f"SELECT {len(result.rows)}")
    if isinstance(statement, exp.Insert):
        return SqlAnswer([], [], f"INSERT 0 {insert(engine, statement, at)}")
    if isinstance(statement, exp.Delete):
        return SqlAnswer([], [], f"DELETE {delete(engine, statement, at, timeout)}")
    if isinstance(statement, exp.Create):
        return SqlAnswer([], [], create_table(engine, statement))
    raise _refused(statement)


class SqlStream(NamedTuple):
    """An answer as it is produced: columns first, then row batches; `tag` "SELECT" means
    "SELECT <rows sent>" (the count is known only at the end)."""

    columns: list[Column]
    batches: Iterator[list[list[Any]]]
    tag: str
    # Set instead of batches (which is then empty) when stream_sql was asked for columns and could.
    column_batches: Iterator[ColumnBatch] | None = None


def stream_sql(
    engine: StorageEngine, text: str, timeout: float | None = None, now: int | None = None, batch_rows: int = 65536,
    columnar: bool = False,
) -> SqlStream:
    """execute_sql's answer in batches of at most `batch_rows` rows (the same rows, in the same order).

    A SELECT whose rows go straight from the executor to the answer (no HAVING, ORDER BY other than
    time, or paging after the executor) is read as the batches are taken, so a large answer is never
    held whole; anything else is answered whole and handed out as one batch.
    """
    at = time.time_ns() if now is None else now
    stripped = text.strip().rstrip(";").strip()
    plain = not looks_like_catalog(stripped) and not is_aggregate_statement(stripped) and _EXPLAIN.fullmatch(stripped) is None
    if plain and match_drop(stripped) is None:
        statement = parse_statement(text)
        if isinstance(statement, exp.Select):
            translation = _translated(engine, statement, at)
            routed = _from_tier(engine, translation, timeout)
            if routed is None and translation.streamable():
                picks = translation.column_picks() if columnar else None
                found = None if picks is None else execute_column_batches(engine, translation.query, timeout, batch_rows)
                if found is not None and picks is not None:
                    selected = (batch.select(picks) for batch in found[1])
                    return SqlStream(translation.columns(), iter(()), "SELECT", selected)
                _, batches = execute_batches(engine, translation.query, timeout, batch_rows)
                return SqlStream(translation.columns(), map(translation.project, batches), "SELECT")
            result = translation.finish(routed if routed is not None else _executed(engine, translation, timeout))
            return SqlStream(result.columns, iter([result.rows]), "SELECT")
    answer = execute_sql(engine, text, timeout, at)
    return SqlStream(answer.columns, iter([answer.rows]), answer.tag)


def _refuse_dropping_an_aggregate(engine: StorageEngine, measurement: str) -> None:
    """A continuous aggregate's measurement goes with DROP CONTINUOUS AGGREGATE (or its downsampling
    policy's DROP): dropped alone, the aggregate would go on answering from nothing."""
    from rusts.aggregation.continuous import registry_if_any  # imports rusts.sql: not at the top

    registry = registry_if_any(engine, quiet=True)
    if registry is None or measurement not in registry.aggregates:
        return
    source = registry.aggregates[measurement].definition.source
    policy = registry.policies.get(source)
    if policy is not None and measurement in [policy.tier_name(tier) for tier in policy.tiers]:
        how = f"DROP DOWNSAMPLING POLICY ON {source} (it drops every tier)"
    else:
        how = f"DROP CONTINUOUS AGGREGATE {measurement}"
    raise WrongObjectTypeError(f"{measurement!r} is a continuous aggregate, not a measurement: use {how}")


def _translated(engine: StorageEngine, statement: exp.Select, at: int) -> Translation:
    """The SELECT's translation, after a real-time aggregate it reads was brought up to date."""
    from rusts.aggregation.continuous import bring_up_to_date  # imports rusts.sql: not at the top

    translation = translate_select(engine, statement, at)
    if bring_up_to_date(engine, translation.query.measurement):
        translation = translate_select(engine, statement, at)  # the refresh may have added fields
    return translation


def _from_tier(engine: StorageEngine, translation: Translation, timeout: float | None) -> QueryResult | None:
    """The executor's result with a downsampling tier answering what it can; None: no tier applies."""
    from rusts.aggregation import downsampling  # imports rusts.sql: not at the top

    if translation.empty is not None or translation.regroup is not None or translation.source is not None:
        return None
    return downsampling.tier_answer(engine, translation.query, translation.layout, timeout)


def _executed(engine: StorageEngine, translation: Translation, timeout: float | None) -> QueryResult:
    """The rows `translation.finish` takes (a SELECT without FROM reads nothing, one of a subquery
    reads its answer), a downsampling tier answering what it can."""

    def run(query: Translation) -> QueryResult:
        routed = _from_tier(engine, query, timeout)
        return routed if routed is not None else execute(engine, query.query, timeout)

    return source_rows(translation, run)


def _explain(engine: StorageEngine, select: str, at: int) -> list[str]:
    """EXPLAIN's lines: the model query and what answers it (a tier, the raw measurement)."""
    from rusts.aggregation import downsampling  # imports rusts.sql: not at the top

    statement = parse_statement(select)
    if not isinstance(statement, exp.Select):
        raise unsupported("EXPLAIN of anything but a SELECT", statement)
    translation = translate_select(engine, statement, at, probe=False)
    outer: list[str] = []
    while translation.source is not None:  # what is read is the innermost subquery's
        if isinstance(translation.source, Joined):
            tables = ", ".join(table.alias for table in translation.source.join.tables)
            return [f"JOIN of {tables}, each read as SELECT * FROM it (with the WHERE terms only it reads)", *outer]
        outer.append("  computed from the rows of subquery " + translation.source.scope.alias)
        inner = translation.source.translation
        if not isinstance(inner, Translation):
            return [f"{inner.name} of two queries, each answered on its own", *outer]
        translation = inner
    lines = downsampling.explain(engine, translation.query) + outer
    if translation.empty is not None:
        lines.append("  the time range is empty: no data is read")
    lines.append("  model query: " + msgspec.json.encode(translation.query).decode())
    return lines


def _refused(statement: exp.Expression) -> UnsupportedSqlError:
    if isinstance(statement, exp.Drop):
        return unsupported("DROP other than DROP TABLE | MEASUREMENT [IF EXISTS] name", statement)
    return unsupported(
        f"{statement.key.upper()} statement (only SELECT, INSERT, DELETE, CREATE TABLE, DROP TABLE, SHOW and DESCRIBE)",
        statement
    )


def describe_sql(engine: StorageEngine, text: str, now: int | None = None) -> list[Column]:
    """The columns execute_sql would answer, without reading data; [] for statements without rows."""
    at = time.time_ns() if now is None else now
    stripped = text.strip().rstrip(";").strip()
    shown = retention_statement(engine, stripped, rows=False)
    if shown is not None:
        return shown.columns
    if is_aggregate_statement(stripped):
        return statement_columns(stripped)
    if _EXPLAIN.fullmatch(stripped) is not None:
        return list(EXPLAIN_COLUMNS)
    if looks_like_catalog(stripped):
        return answer_catalog(engine, catalog_statement(stripped)).columns
    if match_drop(stripped) is not None:
        return []
    statement = parse_statement(text)
    if isinstance(statement, (exp.Insert, exp.Delete, exp.Create)):
        return []
    if not isinstance(statement, exp.Select):
        raise _refused(statement)
    types = _parameter_types(engine, statement)
    if types:
        statement = normalize(statement.transform(lambda node: _sample(node, types)))  # `$1::int` is a literal now
        assert isinstance(statement, exp.Select), "BUG: a transform changed the statement's kind"
    return translate_select(engine, statement, at, probe=False).columns()


def _sample(node: exp.Expression, types: list[str]) -> exp.Expression:
    """A literal of the placeholder's type standing in for it (describe reads no values)."""
    number = _placeholder(node)
    if number is None:
        return node
    kind = types[number - 1]
    if kind.endswith("[]"):
        element = kind[:-2]
        return exp.Literal.string("{1}" if element in ("integer", "unsigned", "float") else "{x}")
    if kind == "timestamp":
        return exp.Literal.string(_SAMPLE_TIME)
    if kind in ("integer", "unsigned"):
        return exp.Literal.number(1)
    if kind == "float":
        return exp.Literal.number("1.5")
    if kind == "boolean":
        return exp.Boolean(this=True)
    if kind == "interval":
        return exp.Literal.string("1 hour")
    return exp.Literal.string("x")


def _is_any(node: object) -> bool:
    """ANY(...) / ALL(...) around an array."""
    return isinstance(node, exp.Any) or (isinstance(node, exp.Anonymous) and node.name.upper() == "ALL")


def _placeholder(node: exp.Expression) -> int | None:
    """The n of a placeholder $n, or None when `node` is not one."""
    if isinstance(node, exp.Parameter) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return int(str(node.this.this))
    return None


def parameter_types(engine: StorageEngine, text: str) -> list[str]:
    """For $1..$n (n = the highest used), the type each must have: "timestamp" against time, "string"
    against a tag, a field's type against it, "integer" for LIMIT/OFFSET, the target column's in
    INSERT VALUES, the type of a cast around it; "string" otherwise."""
    stripped = text.strip().rstrip(";").strip()
    if looks_like_catalog(stripped) or is_aggregate_statement(stripped) or match_drop(stripped) is not None:
        return []
    explained = _EXPLAIN.fullmatch(stripped)
    return _parameter_types(engine, parse_statement(explained["select"] if explained is not None else text))


def _parameter_types(engine: StorageEngine, statement: exp.Expression) -> list[str]:
    found = [(n, number) for n in statement.walk() if isinstance(n, exp.Expression) for number in [_placeholder(n)] if number]
    if not found:
        return []
    context = _Context(engine, statement)
    types = ["string"] * max(number for _, number in found)
    for node, number in found:
        context.scope = context.scope_of(node)
        kind = context.type_of_placeholder(node)
        if kind != "string" or types[number - 1] == "string":
            types[number - 1] = kind
    return types


class _Context:
    """What the columns of a statement are, for typing its placeholders."""

    def __init__(self, engine: StorageEngine, statement: exp.Expression) -> None:
        self.engine = engine
        self.scope: Scope | None = None
        self.statement_scope: Scope | None = None
        self.insert_columns: list[str] = []
        self.insert_types: dict[str, str] = {}
        self.now = now = time.time_ns()
        self._scopes: dict[int, Scope | None] = {}
        if isinstance(statement, exp.Delete):
            self.scope = table_scope(engine, statement.this, statement, now)
        elif isinstance(statement, exp.Insert) and isinstance(statement.this, exp.Schema):
            name = statement.this.this.name if isinstance(statement.this.this, exp.Table) else ""
            self.insert_columns = [c.name for c in statement.this.expressions]
            declared = engine.declared.get(name, {})
            self.insert_types = {column: "string" if role == "tag" else role for column, role in declared.items()}
            self.insert_types.update({"time": "timestamp", **dict.fromkeys(engine.tag_keys(name), "string")})
            self.insert_types.update(engine.field_types(name))
        self.statement_scope = self.scope

    def scope_of(self, node: exp.Expression) -> Scope | None:
        """The columns a placeholder is typed by: those of the measurement its nearest SELECT reads
        (the first of a join's), the statement's own otherwise; None when that is no measurement
        (a subquery, a WITH query)."""
        select = node.parent
        while select is not None and not isinstance(select, exp.Select):
            select = select.parent
        if select is None:
            return self.statement_scope
        if id(select) not in self._scopes:
            source = select.args.get("from_")
            found: Scope | None = None
            if source is not None and isinstance(source.this, exp.Table):
                try:
                    found = table_scope(self.engine, source.this, source, self.now)
                except (UnknownMeasurementError, UnsupportedSqlError):
                    found = self._read_scope(select)  # a WITH query's name
            elif source is not None:
                found = self._read_scope(select)  # FROM (SELECT ...)
            self._scopes[id(select)] = found
        return self._scopes[id(select)]

    def _read_scope(self, select: exp.Select) -> Scope | None:
        """The columns of what `select` reads when it is no measurement (a subquery, a WITH query),
        from their translation; None when they cannot be had without the parameters' values."""
        reading = exp.select("*").from_(select.args["from_"].this.copy())
        top: exp.Expression = select
        while isinstance(top.parent, exp.Expression):
            top = top.parent
        with_ = select.args.get("with_") or (top.args.get("with_") if isinstance(top, exp.Select) else None)
        if with_ is not None:
            reading.set("with_", with_.copy())
        try:
            translation = translate_select(self.engine, reading, self.now, probe=False)
            return Subquery(translation, select.args["from_"].this.alias_or_name, self.now).scope
        except QueryError:
            return None

    def type_of_placeholder(self, node: exp.Expression) -> str:
        child, parent = node, node.parent
        while isinstance(parent, (exp.Paren, exp.Neg)):
            child, parent = parent, parent.parent
        if isinstance(parent, exp.Cast):
            return _cast_type(parent)
        if parent is not None and _is_any(parent):  # `x = ANY($1)`: an array of x's type
            comparison = parent.parent
            if isinstance(comparison, exp.Binary):
                return (self.type_of(comparison.this) or "string") + "[]"
            return "string[]"
        if isinstance(parent, (exp.Limit, exp.Offset, exp.Fetch)):
            return "integer"
        if isinstance(parent, exp.Between):
            if child is parent.this:
                return self.type_of(parent.args["low"]) or self.type_of(parent.args["high"]) or "string"
            return self.type_of(parent.this) or "string"
        if isinstance(parent, exp.In) and child is not parent.this:
            return self.type_of(parent.this) or "string"
        if isinstance(parent, exp.Tuple) and isinstance(parent.parent, exp.Values) and self.insert_columns:
            position = parent.expressions.index(child) if child in parent.expressions else -1
            if 0 <= position < len(self.insert_columns):
                return self.insert_types.get(self.insert_columns[position], "string")
            return "string"
        if isinstance(parent, exp.Binary) and not isinstance(parent, (exp.And, exp.Or)):
            other = parent.expression if child is parent.this else parent.this
            return self.type_of(other) or "string"
        return "string"

    def type_of(self, node: exp.Expression) -> str | None:
        """The type of an expression a placeholder is compared with, or None when it cannot say."""
        node = unparen(node)
        if _placeholder(node) is not None:
            return None
        if isinstance(node, exp.Cast):
            return _cast_type(node)
        if isinstance(node, exp.CurrentTimestamp) or (isinstance(node, exp.Anonymous) and node.name.lower() == "now"):
            return "timestamp"
        scope = self.scope
        if scope is not None:
            name = scope.column(node) if isinstance(node, exp.Column) else None
            if name is not None:
                if name == "time":
                    return "timestamp"
                if name in scope.tags:
                    return "string"
                return scope.fields.get(name)
            if is_aggregate(node) and not (isinstance(node, exp.Anonymous) and node.name.lower() in ("locf", "interpolate")):
                try:
                    return aggregate_type(scope, aggregation_of(scope, node, None))
                except QueryError:  # a bad aggregate is reported when the statement runs
                    return None
        if isinstance(node, (exp.Literal, exp.Boolean)):
            value = literal(node)
            return {bool: "boolean", int: "integer", float: "float", str: "string"}[type(value)]
        if isinstance(node, exp.Binary):
            return self.type_of(node.this) or self.type_of(node.expression)
        return None


def _cast_type(node: exp.Cast) -> str:
    return _type_of_cast(node.to)


def _type_of_cast(to: exp.DataType) -> str:
    target = to.this
    if target == exp.DataType.Type.ARRAY:  # `$1::float8[]`
        elements = [e for e in to.expressions if isinstance(e, exp.DataType)]
        return (_type_of_cast(elements[0]) if elements else "string") + "[]"
    if target in TIMESTAMP_TYPES:
        return "timestamp"
    if target in FLOAT_CASTS or target == exp.DataType.Type.DECIMAL:
        return "float"
    if target in INTEGER_CASTS:
        return "integer"
    if target == exp.DataType.Type.BOOLEAN:
        return "boolean"
    if target == exp.DataType.Type.INTERVAL:
        return "interval"
    return "string"
