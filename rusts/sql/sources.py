"""What a SELECT reads other than a measurement, and subqueries used as values.

- `Subquery`: FROM (SELECT ...) [AS s(a, b)], a WITH query, or VALUES (...): the subquery's answer
  is the table the outer SELECT reads (its columns by name, a `time` timestamp column as the time),
  every row of it read, in the layout a SELECT of rows reads (time, then the fields by name).
- `Combined`: UNION, INTERSECT or EXCEPT [ALL] of two queries, answered from both answers.
- `Joined`: tables joined (rusts.sql.joins), each read as SELECT * FROM it.
- `inline_subqueries`: subqueries used as values (IN, EXISTS, ANY/ALL, scalar) answered first and
  replaced by their answer's values, since an uncorrelated subquery has one value for every row.

The translator (rusts.sql.translator) asks `subquery_of` for a SELECT's source and calls
`inline_subqueries` before it translates; both read queries through translate_select again.
"""

import math
from collections import Counter
from collections.abc import Callable
from typing import Any, Final, cast

from sqlglot import exp

from rusts.core.pgtext import timestamp_text
from rusts.query.model import Column, QueryResult
from rusts.sql.errors import (
    CardinalityError, DatatypeMismatchError, DuplicateAliasError, GroupingError, InvalidTextError, PositionError,
    SqlSyntaxError, UnsupportedSqlError, WindowingError,
)
from rusts.sql.expressions import NUMERIC, PG_TYPE_NAMES, Compare
from rusts.sql.functions import boolean_argument
from rusts.sql.intervals import Interval
from rusts.sql.joins import JoinSource, Step, Table, conjuncts, equality_keys, join_scope, key_of, side_of, tables_of
from rusts.sql.nodes import MissingTableError, Scope, UnknownColumnError, coerce_text, is_quoted, unparen, unsupported
from rusts.sql.normalize import normalize
from rusts.sql.times import TimestampInputError, parse_timestamp
from rusts.sql.translator import (
    COMPARISONS, Select, Translation, answer, interval_constant, mentions_aggregate, select_of_set_operation, translate_select,
)
from rusts.query.executor import execute
from rusts.storage.engine import StorageEngine

MAX_QUANTIFIED: Final = 10_000  # distinct values of a subquery under ANY / ALL (other than = ANY, an IN)
_SET_NAMES: Final = {exp.Union: "UNION", exp.Intersect: "INTERSECT", exp.Except: "EXCEPT"}


class Combined:
    """UNION, INTERSECT or EXCEPT [ALL] of two queries (SELECTs or other such), answered from both
    answers as PostgreSQL does: the columns are the first query's names, each of the type both sides
    resolve to (bigint with double precision: double precision; NULL with anything: that); without
    ALL the answer has each row once; INTERSECT keeps rows both have, EXCEPT the left's rows the
    right lacks (with ALL, as many times as the counts allow)."""

    def __init__(self, engine: StorageEngine, node: exp.SetOperation, now: int, probe: bool, with_: exp.Expression | None) -> None:
        self.name = _SET_NAMES.get(type(node), "UNION")
        self.every = not node.args.get("distinct")
        self.left = _query_of(engine, node.this, now, probe, with_)
        self.right = _query_of(engine, node.expression, now, probe, with_)
        left, right = self.left.columns(), self.right.columns()
        if len(left) != len(right):
            raise SqlSyntaxError(f"each {self.name} query must have the same number of columns")
        self.sides = (self.left.kinds(), self.right.kinds())
        self.types = [_set_type(self.name, a, b) for a, b in zip(*self.sides)]
        self._columns = [Column(column.name, "string" if kind in ("unknown", "literal") else kind) for column, kind in zip(left, self.types)]

    def columns(self) -> list[Column]:
        return self._columns

    def kinds(self) -> list[str]:
        return list(self.types)

    def answer(self, execute_query: Callable[[Translation], QueryResult]) -> QueryResult:
        left = self._rows(self.left, execute_query)
        right = self._rows(self.right, execute_query)
        if self.name == "UNION":
            rows = left + right
            if not self.every:
                firsts: dict[tuple[Any, ...], list[Any]] = {}
                for row in rows:
                    firsts.setdefault(key_of(row), row)
                rows = list(firsts.values())
            return QueryResult(self._columns, rows)
        counts = Counter(key_of(row) for row in right)
        kept: list[list[Any]] = []
        seen: set[tuple[Any, ...]] = set()
        for row in left:
            key = key_of(row)
            present = counts.get(key, 0) > 0
            if self.every:
                if present == (self.name == "INTERSECT"):
                    kept.append(row)
                if present:
                    counts[key] -= 1
            elif key not in seen and present == (self.name == "INTERSECT"):
                seen.add(key)
                kept.append(row)
        return QueryResult(self._columns, kept)

    def _rows(self, query: "Translation | Combined", execute_query: Callable[[Translation], QueryResult]) -> list[list[Any]]:
        found = query_answer(query, execute_query)
        kinds = self.sides[0] if query is self.left else self.sides[1]
        floats = [at for at, (kind, column) in enumerate(zip(self.types, found.columns)) if kind == "float" and column.type != "float"]
        literals = [at for at, (mine, kind) in enumerate(zip(kinds, self.types)) if mine == "literal" and kind not in ("literal", "string")]
        if not floats and not literals:
            return found.rows
        rows = [list(row) for row in found.rows]
        for row in rows:
            for at in floats:
                if row[at] is not None:
                    row[at] = float(row[at])
            for at in literals:  # SELECT n ... UNION SELECT '3': the literal is read as a bigint
                if row[at] is not None:
                    row[at] = _literal_as(str(row[at]), self.types[at])
        return rows


def _literal_as(text: str, kind: str) -> Any:
    """A string literal of a set operation read as the other side's type (22P02 when it is none)."""
    if kind == "timestamp":
        moment = parse_timestamp(text)
        if moment is None:
            raise TimestampInputError(text)
        return moment
    if kind == "interval":
        return interval_constant(exp.Literal.string(text))
    value = coerce_text(text, kind)
    if isinstance(value, str):
        raise InvalidTextError(f'invalid input syntax for type {PG_TYPE_NAMES.get(kind, kind)}: "{text}"')
    return value


def _set_type(name: str, left: str, right: str) -> str:
    """The type both sides of a set operation's column resolve to; 42804 when PostgreSQL has none."""
    if left == right or right in ("unknown", "literal"):
        return left
    if left in ("unknown", "literal"):
        return right
    if "literal" in (left, right):
        return left if right == "literal" else right
    if left in NUMERIC and right in NUMERIC:
        return "float" if "float" in (left, right) or "numeric" in (left, right) else "integer"
    raise DatatypeMismatchError(f"{name} types {PG_TYPE_NAMES.get(left, left)} and {PG_TYPE_NAMES.get(right, right)} cannot be matched")


def _query_of(engine: StorageEngine, node: exp.Expression, now: int, probe: bool, with_: exp.Expression | None) -> "Translation | Combined":
    """A subquery's query: a SELECT's translation, or a set operation (its WITH given to each part)."""
    node = unparen(node)
    if isinstance(node, exp.Subquery):
        node = node.this
    if isinstance(node, exp.Values):
        node = _values_select(node)
    if isinstance(node, exp.SetOperation):
        if any(node.args.get(part) is not None for part in ("order", "limit", "offset")):  # (a UNION b ORDER BY 1 LIMIT 3)
            return _query_of(engine, select_of_set_operation(node), now, probe, with_)
        return Combined(engine, node, now, probe, with_ if with_ is not None else node.args.get("with_"))
    if not isinstance(node, exp.Select):
        raise unsupported("a subquery that is not a SELECT, UNION, INTERSECT or EXCEPT (VALUES)", node)
    if with_ is not None and node.args.get("with_") is None:
        node = node.copy()
        node.set("with_", with_.copy())
    return translate_select(engine, node, now, probe)


def query_answer(query: "Translation | Combined", execute_query: Callable[[Translation], QueryResult]) -> QueryResult:
    return query.answer(execute_query) if isinstance(query, Combined) else answer(query, execute_query)


class Subquery:
    """The SELECT a FROM (SELECT ...) or a WITH query names, as the outer SELECT reads it: a table
    whose columns are the subquery's answer columns (a `time` timestamp column is the time; every
    other one is a field of its type, strings included), every row of it read (nothing is pushed
    down), in the layout a SELECT of rows reads: time, then the fields by name."""

    def __init__(self, translation: "Translation | Combined", alias: str, now: int, names: list[str] | None = None) -> None:
        """`names`: the column aliases of `AS s(a, b)` (or WITH s(a, b)), naming the first columns."""
        self.translation = translation
        columns = translation.columns()
        if names:
            if len(names) > len(columns):
                raise PositionError(f'table "{alias}" has {len(columns)} columns available but {len(names)} columns specified')
            columns = [Column(name, column.type) for name, column in zip(names, columns)] + columns[len(names) :]
        seen: set[str] = set()
        for column in columns:
            if column.name in seen:
                raise UnsupportedSqlError(f'a subquery with two columns named "{column.name}" (name them apart)', alias)
            seen.add(column.name)
        kinds = {column.name: column.type for column in columns}
        has_time = kinds.get("time") == "timestamp"
        fields = {name: kind for name, kind in kinds.items() if not (has_time and name == "time")}
        self.scope = Scope(alias, alias, [], fields, now, has_time=has_time, star=[(c.name, c.type) for c in columns])
        position = {column.name: at for at, column in enumerate(columns)}
        self.picks: list[int | None] = [position["time"] if has_time else None] + [position[name] for name in sorted(fields)]
        self.columns = [Column("time", "timestamp")] + [Column(name, fields[name]) for name in sorted(fields)]

    def answer(self, execute_query: Callable[[Translation], QueryResult]) -> QueryResult:
        """The rows the outer SELECT reads: the subquery answered, reshaped."""
        return self.rows(query_answer(self.translation, execute_query))

    def rows(self, answer: QueryResult) -> QueryResult:
        """The subquery's answer as the rows the outer SELECT reads."""
        picks = self.picks
        return QueryResult(self.columns, [[None if at is None else row[at] for at in picks] for row in answer.rows])


class Joined:
    """Joined tables as the outer SELECT reads them (rusts.sql.joins.JoinSource)."""

    def __init__(self, source: JoinSource) -> None:
        self.join = source
        self.scope = source.scope

    def answer(self, execute_query: Callable[[Translation], QueryResult]) -> QueryResult:
        return self.join.answer(lambda query: query_answer(cast("Translation | Combined", query), execute_query))


def _join_source(engine: StorageEngine, select: exp.Select, now: int, probe: bool) -> tuple[exp.Select, Joined]:
    """A SELECT whose FROM joins tables: the SELECT reading a placeholder table instead, and the join
    (each table read as SELECT * FROM it, with the WHERE terms only it reads pushed down when no outer
    join extends it with NULLs; see rusts.sql.joins)."""
    with_ = select.args.get("with_")
    joins = list(select.args.get("joins") or [])
    sources = [select.args["from_"].this] + [join.this for join in joins]
    sides = [""] + [side_of(join) for join in joins]
    aliases: list[str] = []
    for source in sources:
        alias = source.alias_or_name if isinstance(source, (exp.Table, exp.Subquery, exp.Values)) else ""
        if not alias:
            raise unsupported("a joined table without a name (give the subquery an alias)", source)
        named = source.args.get("alias").this if isinstance(source.args.get("alias"), exp.TableAlias) else source.this
        if not is_quoted(named):
            alias = alias.lower()  # an unquoted name folds to lower case, as PostgreSQL folds it
        if alias in aliases:
            raise DuplicateAliasError(f'table name "{alias}" specified more than once')
        aliases.append(alias)
    for k, join in enumerate(joins, start=1):  # a, b RIGHT JOIN c is a CROSS (b RIGHT JOIN c): only LEFT/INNER read the same
        comma = not join.args.get("kind") and not join.args.get("side") and join.args.get("on") is None and not join.args.get("using") and not join.args.get("method")
        if comma and any(sides[later] in ("right", "full") for later in range(k + 1, len(sides))):
            raise unsupported("a comma-separated FROM list before a RIGHT or FULL JOIN (write CROSS JOIN, or a subquery)", join)
    nulled = {aliases[k] for k, side in enumerate(sides) if side in ("left", "full")}
    for k, side in enumerate(sides):
        if side in ("right", "full"):
            nulled.update(aliases[:k])

    def table_query(source: exp.Expression, where: list[exp.Expression]) -> Any:
        inner = exp.select("*").from_(source.copy())
        if where:
            inner.set("where", exp.Where(this=exp.and_(*[term.copy() for term in where])))
        if with_ is not None:
            inner.set("with_", with_.copy())
        return _query_of(engine, inner, now, probe, None)

    bare: list[Table] = []
    offset = 0
    for alias, source in zip(aliases, sources):
        bare.append(Table(alias, table_query(source, []), offset))
        offset += len(bare[-1].columns)
    clause = select.args.get("where")
    pushed: dict[str, list[exp.Expression]] = {alias: [] for alias in aliases}
    for term in conjuncts(clause.this if clause is not None else None):
        if any(isinstance(n, (exp.Subquery, exp.Exists, exp.Window)) for n in term.walk()) or mentions_aggregate(term):
            continue
        owners = tables_of(term, bare)
        if owners is not None and len(owners) == 1 and next(iter(owners)) not in nulled:
            pushed[next(iter(owners))].append(term)
    tables: list[Table] = []
    offset = 0
    for alias, source in zip(aliases, sources):
        tables.append(Table(alias, table_query(source, pushed[alias]) if pushed[alias] else bare[len(tables)].query, offset))
        offset += len(tables[-1].columns)
    using: list[str] = []
    steps: list[Step] = []
    for k, join in enumerate(joins, start=1):
        terms = conjuncts(join.args.get("on"))
        names = [identifier.name for identifier in join.args.get("using") or []]
        if str(join.args.get("method") or "").upper() == "NATURAL":  # USING every column both sides have
            earlier = {c.name for t in tables[:k] for c in t.columns}
            names = [c.name for c in tables[k].columns if c.name in earlier]
        for name in names:
            owner = next((t.alias for t in tables[:k] if any(c.name == name for c in t.columns)), None)
            if owner is None or not any(c.name == name for c in tables[k].columns):
                raise UnknownColumnError(name, "", f"USING ({name})")
            if name not in using:
                using.append(name)
            terms.append(exp.EQ(this=exp.column(name, table=owner), expression=exp.column(name, table=tables[k].alias)))
        for term in terms:
            if mentions_aggregate(term):
                raise GroupingError("aggregate functions are not allowed in JOIN conditions")
            if any(isinstance(node, exp.Window) for node in term.walk()):
                raise WindowingError("window functions are not allowed in JOIN conditions")
        pairs, rest = equality_keys(terms, tables[:k], tables[k])
        if sides[k] == "cross" and clause is not None:  # FROM a, b WHERE a.x = b.y: its equalities are keys
            pairs += equality_keys(conjuncts(clause.this), tables[:k], tables[k])[0]
        scope = join_scope(tables[: k + 1], now, using, merged=False)
        built = Select(scope, None, False, False)
        positions = {key: at for at, key in enumerate(["time", *sorted(scope.fields)])}
        # the key columns' types must compare (text = bigint is 42883); bigint against double precision as floats
        as_floats = [Compare("=", built.expr(a), built.expr(b)).as_floats for a, b in pairs]
        left_keys = [positions[scope.column(a) or ""] for a, _ in pairs]
        right_keys = [positions[scope.column(b) or ""] for _, b in pairs]
        residual = boolean_argument("JOIN/ON", built.expr(cast(exp.Expression, exp.and_(*rest)))) if rest else None
        built.bind()
        steps.append(Step(tables[k], sides[k], left_keys, right_keys, residual, as_floats))
    outer = select.copy()
    outer.set("with_", None)
    outer.set("joins", None)
    outer.set("from_", exp.From(this=exp.Table(this=exp.to_identifier("?join?"))))
    return outer, Joined(JoinSource(tables, steps, join_scope(tables, now, using), using))


def subquery_of(engine: StorageEngine, select: exp.Select, now: int, probe: bool) -> tuple[exp.Select, Subquery | Joined] | None:
    """When the SELECT reads a subquery (FROM (SELECT ...) [AS] s, or FROM a WITH query's name) or
    joins tables: the SELECT reading a placeholder table of that name instead, and the source; None
    otherwise."""
    if select.args.get("joins"):
        return _join_source(engine, select, now, probe)
    source = select.args.get("from_")
    node = source.this if source is not None else None
    with_ = select.args.get("with_")
    named = {cte.alias.lower(): cte for cte in (with_.expressions if with_ is not None else [])}
    names: list[str] = []
    if isinstance(node, (exp.Subquery, exp.Values)):
        inner, alias = (node.this if isinstance(node, exp.Subquery) else node), node.alias or (
            "unnamed_subquery" if isinstance(node, exp.Subquery) else "*VALUES*"
        )
        names = _column_aliases(node)
    elif isinstance(node, exp.Table) and not node.db and node.name.lower() in named:
        inner, alias = named[node.name.lower()].this, node.alias or node.name
        names = _column_aliases(node) or _column_aliases(named[node.name.lower()])
    else:
        return None
    if with_ is not None and with_.args.get("recursive"):
        raise unsupported("WITH RECURSIVE", with_)
    earlier = None
    if with_ is not None:  # a WITH query may read the ones before it; a FROM subquery all of them
        before = with_.expressions[: list(named).index(node.name.lower())] if isinstance(node, exp.Table) else with_.expressions
        earlier = exp.With(expressions=[cte.copy() for cte in before]) if before else None
    outer = select.copy()
    outer.set("with_", None)
    outer.set("from_", exp.From(this=exp.Table(this=exp.to_identifier(alias))))
    return outer, Subquery(_query_of(engine, inner, now, probe, earlier), alias, now, names)


def _column_aliases(node: exp.Expression) -> list[str]:
    """The column names of `AS t(a, b)` on a subquery, VALUES or a WITH query (none: [])."""
    alias = node.args.get("alias")
    return [column.name for column in alias.columns] if isinstance(alias, exp.TableAlias) else []


def _values_select(values: exp.Values) -> exp.Expression:
    """VALUES (a, b), (c, d) as SELECT a AS column1, b AS column2 UNION ALL SELECT c, d (PostgreSQL's names)."""
    rows = [row.expressions if isinstance(row, exp.Tuple) else [row] for row in values.expressions]
    if not rows or any(len(row) != len(rows[0]) for row in rows):
        raise SqlSyntaxError("VALUES lists must all be the same length")
    selects: list[exp.Expression] = [
        exp.select(*[value.copy().as_(f"column{at + 1}") if number == 0 else value.copy() for at, value in enumerate(row)])
        for number, row in enumerate(rows)
    ]
    combined = selects[0]
    for select in selects[1:]:
        combined = exp.union(combined, select, distinct=False)
    return combined


def inline_subqueries(engine: StorageEngine, select: exp.Select, now: int, probe: bool) -> exp.Select:
    """The SELECT with each subquery used as a value (in the SELECT list, WHERE, HAVING, ORDER BY)
    answered first and replaced by its answer, as an uncorrelated subquery's value is the same for
    every row: `x IN (SELECT c ...)` by `x IN (values...)`, `EXISTS (SELECT ...)` by TRUE or FALSE,
    `(SELECT c ...)` by its one value (NULL for no row; 21000 for more than one). A subquery reading
    the outer SELECT's columns (a correlated one) is refused, as an unknown column of its own FROM."""
    parts = ("expressions", "where", "having", "order")
    conditions = [join.args["on"] for join in select.args.get("joins") or [] if join.args.get("on") is not None]
    if not any(
        isinstance(node, (exp.Subquery, exp.Exists, exp.Values, exp.Any, exp.All))
        for value in [*(v for part in parts for v in _as_list(select.args.get(part))), *conditions] for node in value.walk()
    ):
        return select
    with_ = select.args.get("with_")

    def answered(inner: exp.Expression) -> QueryResult:
        try:
            query = _query_of(engine, inner, now, probe, with_)
        except MissingTableError:
            raise unsupported("a correlated subquery (one that reads the outer SELECT's columns)", inner) from None
        return query_answer(query, lambda translation: execute(engine, translation.query, None))

    def one_column(result: QueryResult, node: exp.Expression) -> list[Any]:
        if len(result.columns) != 1:
            raise SqlSyntaxError(f"subquery must return only one column: {node.sql(dialect='postgres')}")
        return [row[0] for row in result.rows]

    def replace(node: exp.Expression) -> exp.Expression:
        quantified = node.expression if type(node) in COMPARISONS else None
        if isinstance(quantified, (exp.Any, exp.All)):  # x > ANY (SELECT ...), x <> ALL (SELECT ...)
            inner = unparen(quantified.this)
            inner = inner.this if isinstance(inner, exp.Subquery) else inner
            if isinstance(inner, (exp.Select, exp.SetOperation)):
                result = answered(inner)
                values = list(dict.fromkeys(one_column(result, node)))
                every = isinstance(quantified, exp.All)
                if not values:  # ANY of no row is false, ALL of none true
                    return exp.Boolean(this=every)
                if len(values) > MAX_QUANTIFIED:
                    raise unsupported(f"ANY / ALL of a subquery of more than {MAX_QUANTIFIED:,} distinct values", node)
                terms = [type(node)(this=node.this.copy(), expression=_value_node(v, result.columns[0].type)) for v in values]
                combined = terms[0]
                for term in terms[1:]:  # three-valued: NULL where no term decides, as SQL's ANY and ALL
                    combined = exp.And(this=combined, expression=term) if every else exp.Or(this=combined, expression=term)
                return exp.Paren(this=combined)
        listed = node.expressions if isinstance(node, exp.In) else []
        if len(listed) == 1 and isinstance(unparen(listed[0]), exp.Values):  # x IN (VALUES ('a'), ('b'))
            node = exp.In(this=node.this, query=exp.Subquery(this=unparen(listed[0])))
        if isinstance(node, exp.In) and isinstance(node.args.get("query"), exp.Subquery):
            result = answered(node.args["query"].this)
            values = one_column(result, node)
            if not values:  # IN of no row is false, even for NULL (NOT IN: true)
                return exp.Boolean(this=False)
            kind = result.columns[0].type
            return exp.In(this=node.this, expressions=[_value_node(value, kind) for value in dict.fromkeys(values)])
        if isinstance(node, exp.Exists):
            named.append("exists")
            return exp.Boolean(this=bool(answered(node.this).rows))
        if isinstance(node, exp.Subquery):
            result = answered(node.this)
            values = one_column(result, node)
            if len(values) > 1:
                raise CardinalityError("more than one row returned by a subquery used as an expression")
            named.append(result.columns[0].name)
            return _value_node(values[0] if values else None, result.columns[0].type)
        return node

    named: list[str] = []  # the name of the last subquery answered (an unaliased SELECT item takes it)

    select = select.copy()
    for part in parts:
        value = select.args.get(part)
        if isinstance(value, list):
            items = []
            for item in value:
                bare = isinstance(unparen(item), (exp.Subquery, exp.Exists))
                named.clear()
                replaced = normalize(item.transform(replace))
                # (SELECT max(n) ...) is named max, EXISTS (...) exists, as PostgreSQL names them
                items.append(exp.alias_(replaced, named[-1]) if bare and named and part == "expressions" else replaced)
            select.set(part, items)
        elif value is not None:
            if part == "order":  # a subquery's value there is a constant key, not a position: ORDER BY (SELECT 2)
                for ordered in value.expressions:
                    if isinstance(unparen(ordered.this), exp.Subquery):
                        ordered.set("this", exp.Coalesce(this=ordered.this))
            select.set(part, normalize(value.transform(replace)))
    for join in select.args.get("joins") or []:  # JOIN ... ON x IN (SELECT ...)
        if join.args.get("on") is not None:
            join.set("on", normalize(join.args["on"].transform(replace)))
    return select


def _as_list(value: Any) -> list[exp.Expression]:
    if isinstance(value, list):
        return [item for item in value if isinstance(item, exp.Expression)]
    return [value] if isinstance(value, exp.Expression) else []


def _value_node(value: Any, kind: str) -> exp.Expression:
    """A literal of a subquery's answer value, typed as the translator reads literals (a NULL of a
    timestamp, an interval or a number keeps its type)."""
    if value is None:
        typed = {"timestamp": "timestamptz", "interval": "interval", "float": "double", "integer": "bigint"}.get(kind)
        return exp.Null() if typed is None else exp.Cast(this=exp.Null(), to=exp.DataType.build(typed))
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, Interval):
        return exp.Cast(this=exp.Literal.string(f"{value.days} days {value.ns // 1000} microseconds"), to=exp.DataType.build("interval"))
    if kind == "timestamp" and isinstance(value, int):
        seconds, fraction = divmod(value, 1_000_000_000)
        text = timestamp_text(seconds * 1_000_000_000)[:-3] + (f".{fraction:09d}".rstrip("0") if fraction else "") + "+00"
        return exp.Cast(this=exp.Literal.string(text), to=exp.DataType.build("timestamptz"))
    if isinstance(value, float):
        spelled = repr(value) if math.isfinite(value) else {"inf": "Infinity", "-inf": "-Infinity"}.get(repr(value), "NaN")
        return exp.Cast(this=exp.Literal.string(spelled), to=exp.DataType.build("double"))
    if isinstance(value, int):
        return exp.Literal.number(value) if value >= 0 else exp.Neg(this=exp.Literal.number(-value))
    return exp.Literal.string(str(value))

