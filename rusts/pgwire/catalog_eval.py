"""A small evaluator of SELECT statements over the virtual catalog (catalog_tables).

It runs what clients send to introspect a database: FROM with joins (inner, left, cross), WHERE,
scalar and correlated subqueries, IN / EXISTS / = ANY(ARRAY[...]), CASE, casts including ::regclass
and ::regtype, regular-expression matches, GROUP BY with a few aggregates, UNION, ORDER BY, LIMIT,
and the PostgreSQL functions those queries call (catalog_functions). Columns get the names and type
OIDs PostgreSQL gives them (an unaliased function column is named after the function, a cast after
its operand, anything else "?column?").

Also: row_number()/rank()/dense_rank() OVER (PARTITION BY ... ORDER BY ...) (pgjdbc's getColumns),
set-returning functions in FROM (`generate_series(1, 32) pos(n)`), JOIN ... USING, and the system
column xmin (DataGrip reads it as a version stamp; every catalog row answers 1).

Anything it cannot evaluate raises Unsupported; the caller then answers with the right columns and
no rows, which clients treat as "nothing there".
"""

import functools
import re
from typing import Callable, Final, NamedTuple, Sequence

from sqlglot import exp

from rusts.core.pgtext import timestamp_text
from rusts.pgwire import types as t
from rusts.pgwire.catalog_tables import TYPES_BY_NAME, Context, Table, build_table


class Unsupported(Exception):
    """A construct the catalog evaluator does not know."""


class EvaluationError(Exception):
    """An error PostgreSQL itself raises for the expression (division by zero): reported with its SQLSTATE."""

    def __init__(self, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.message = message


class NotCatalog(Exception):
    """The statement reads something that is not a catalog table (a measurement)."""


class RegClass(int):
    """An oid that prints as a relation name (::regclass)."""

    label: str = ""


def regclass(oid: int, label: str) -> RegClass:
    value = RegClass(oid)
    value.label = label
    return value


class Moment(int):
    """A timestamptz value (nanoseconds since the epoch): printed as PostgreSQL prints one."""


class RegType(int):
    """An oid that prints as a type name (::regtype)."""


class SetValue(list[object]):
    """The rows of a set-returning function in a SELECT list (unnest, generate_series)."""


XID: Final = 28  # pg_type.oid of xid, the type of the system columns xmin and xmax
_SYSTEM_COLUMNS: Final = frozenset({"xmin", "xmax"})
_SAME_TYPE_AS_ARGUMENT: Final = frozenset({"nullif", "coalesce", "greatest", "least"})
_WINDOW_FUNCTIONS: Final = frozenset({"row_number", "rank", "dense_rank"})


class Source(NamedTuple):
    columns: dict[str, int]  # name -> position
    types: list[int]
    row: Sequence[object] | None  # None: the NULL side of a LEFT JOIN, or typing only


class Env:
    """The rows visible to an expression: one per FROM item, then the enclosing query's."""

    def __init__(self, sources: dict[str, Source], parent: "Env | None") -> None:
        self.sources = sources
        self.parent = parent

    def find(self, table: str, name: str) -> tuple[Source, int] | None:
        env: Env | None = self
        while env is not None:
            if table:
                source = env.sources.get(table)
                if source is not None and name in source.columns:
                    return source, source.columns[name]
            else:
                for source in env.sources.values():
                    if name in source.columns:
                        return source, source.columns[name]
            env = env.parent
        return None


Function = Callable[["Evaluator", list[object]], object]


class Evaluator:
    """Evaluates one statement; `functions` maps a lower-case name to (implementation, result type OID)."""

    def __init__(self, ctx: Context, functions: dict[str, tuple[Function, int]]) -> None:
        self.ctx = ctx
        self.functions = functions
        self.tables: dict[tuple[str, str], Table] = {}
        self.changed: list[str] = []  # reported parameters a set_config() changed
        self.ctes: dict[str, Table] = {}
        self.column_names: dict[int, tuple[str, str]] = {}  # id of an exp.Column -> (table, name)  # WITH name AS (...): evaluated once per statement
        # (id of an exp.Window, id of the Env of one row) -> that row's value of the window function
        self.window_values: dict[tuple[int, int], object] = {}

    # ---- statements ------------------------------------------------------------------------
    def run(self, node: exp.Expr, parent: Env | None = None) -> Table:
        with_ = node.args.get("with_") or node.args.get("with")
        if isinstance(with_, exp.With):
            self._with(with_, parent)
        if isinstance(node, exp.Union):
            return self._union(node, parent)
        if isinstance(node, exp.Subquery):
            return self.run(node.this, parent)
        if not isinstance(node, exp.Select):
            raise Unsupported(type(node).__name__)
        envs, typing = self._from(node, parent)
        where = node.args.get("where")
        if where is not None:
            envs = [env for env in envs if self.value(where.this, env) is True]
        columns, rows, order_envs = self._project(node, envs, typing)
        if node.args.get("distinct") is not None:
            rows, order_envs = _distinct(rows, order_envs)
        rows = self._order(node, columns, rows, order_envs)
        return Table(columns, _page(node, rows))

    def _with(self, node: exp.With, parent: Env | None) -> None:
        """Evaluate each common table expression once, in order (a later one may read an earlier one)."""
        if node.args.get("recursive"):
            raise Unsupported("WITH RECURSIVE")
        for cte in node.expressions:
            table = self.run(cte.this, parent)
            alias = cte.args.get("alias")
            renamed = [c.name for c in alias.args.get("columns") or []] if isinstance(alias, exp.TableAlias) else []
            if renamed:
                columns = [(renamed[i] if i < len(renamed) else name, oid) for i, (name, oid) in enumerate(table.columns)]
                table = Table(columns, table.rows)
            self.ctes[cte.alias_or_name.lower()] = table

    def _union(self, node: exp.Union, parent: Env | None) -> Table:
        left = self.run(node.this, parent)
        right = self.run(node.expression, parent)
        rows = [list(row) for row in left.rows] + [list(row) for row in right.rows]
        if node.args.get("distinct", True):
            rows, _ = _distinct(rows, [None] * len(rows))
        envs: list[Env | None] = [None] * len(rows)
        return Table(left.columns, _page(node, self._order(node, left.columns, rows, envs)))

    def _table(self, node: exp.Table) -> Table:
        if not isinstance(node.this, exp.Identifier):
            raise Unsupported("a function in FROM")
        key = (node.db.lower(), node.name.lower())
        if not key[0] and key[1] in self.ctes:
            return self.ctes[key[1]]
        if key not in self.tables:
            table = build_table(self.ctx, key[0], key[1])
            if table is None:
                if key[0] in ("pg_catalog", "information_schema") or key[1].startswith("pg_"):
                    raise Unsupported(f"catalog table {node.sql()}")
                raise NotCatalog(node.sql())
            self.tables[key] = table
        return self.tables[key]

    def _source(self, node: exp.Expr, parent: Env | None) -> tuple[str, Table]:
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Func):
            return self._function_source(node, node.this, parent)
        if isinstance(node, exp.Unnest):  # its arguments sit beside the alias: call it without the alias
            return self._function_source(node, exp.Anonymous(this="unnest", expressions=list(node.expressions)), parent)
        if isinstance(node, exp.Table):
            return (node.alias_or_name.lower(), self._table(node))
        if isinstance(node, exp.Subquery):
            return (node.alias_or_name.lower(), self.run(node.this, parent))
        raise Unsupported(f"FROM {type(node).__name__}")

    def _function_source(self, node: exp.Expr, call: exp.Expr, parent: Env | None) -> tuple[str, Table]:
        """A set-returning function in FROM: one column named by the alias list, else the alias, else the function."""
        name = function_name(call)
        entry = self.functions.get(name)
        if entry is None:
            raise Unsupported(f"function {name}() in FROM")
        values = self._call(call, Env({}, parent), None)
        if not isinstance(values, SetValue):  # a function of one value in FROM is a table of one row
            values = SetValue([values])
        alias = node.args.get("alias")
        alias_name = alias.name.lower() if isinstance(alias, exp.TableAlias) and alias.name else name
        columns = alias.args.get("columns") if isinstance(alias, exp.TableAlias) else None
        column = columns[0].name.lower() if columns else alias_name
        oid = entry[1]
        if name == "unnest":
            oid = _ELEMENT_OF.get(self._type_of(function_args(call)[0], Env({}, parent)), t.TEXT)
        return alias_name, Table([(column, oid)], [[value] for value in values])

    def _from(self, node: exp.Select, parent: Env | None) -> tuple[list[Env], Env]:
        items: list[tuple[exp.Join | None, exp.Expr]] = []
        from_ = node.args.get("from") or node.args.get("from_")
        if from_ is not None:
            items.append((None, from_.this))
        for join in node.args.get("joins") or []:
            items.append((join, join.this))
        envs = [Env({}, parent)]
        typing = Env({}, parent)
        where = node.args.get("where")
        # WHERE terms are applied as soon as the FROM items they read are joined (the full WHERE still runs
        # afterwards): pgjdbc's getImportedKeys joins nine catalog tables with commas
        pending = _conjuncts(where.this) if where is not None else []
        sources = [(join, *self._source(item, parent)) for join, item in items]
        for join, alias, table in sources:
            if (join is None or join.side.upper() != "LEFT") and not table.rows:
                envs = []  # an inner or cross join with an empty table: nothing, whatever the rest holds
        for join, alias, table in sources:
            index = {name: i for i, (name, _oid) in enumerate(table.columns)}
            types = [oid for _name, oid in table.columns]
            typing.sources[alias] = Source(index, types, None)
            on = join.args.get("on") if join is not None else None
            left = join is not None and join.side.upper() == "LEFT"
            if not envs:
                continue  # typing only from here on
            rows = table.rows
            if not left:  # WHERE terms on this table alone filter its rows before they meet the others
                own = [term for term in pending if _reads_only_alias(term, alias)]
                if own:
                    rows = [row for row in rows if self._keeps(own, Env({alias: Source(index, types, row)}, parent))]
            if join is not None and join.side.upper() in ("RIGHT", "FULL"):
                raise Unsupported("RIGHT/FULL JOIN")
            using = [ident.name.lower() for ident in (join.args.get("using") or [])] if join is not None else []
            if using and on is not None:
                raise Unsupported("JOIN with both ON and USING")
            ready = [term for term in pending if _reads_only(term, typing)]
            pending = [term for term in pending if not any(term is r for r in ready)]
            equalities = (_conjuncts(on) if on is not None else []) + ([] if left else ready)
            candidates_of = _hash_join(self, equalities, alias, index, rows)
            joined: list[Env] = []
            for env in envs:
                matched = False
                for row in candidates_of(env) if candidates_of is not None else rows:
                    candidate = Env({**env.sources, alias: Source(index, types, row)}, parent)
                    if using and not _using_matches(env, index, row, using):
                        continue
                    if on is None or self.value(on, candidate) is True:
                        joined.append(candidate)
                        matched = True
                if left and not matched:
                    joined.append(Env({**env.sources, alias: Source(index, types, None)}, parent))
            envs = [env for env in joined if all(self._holds(term, env) for term in ready)] if ready else joined
        return envs, typing

    def _keeps(self, terms: list[exp.Expr], env: Env) -> bool:
        return all(self._holds(term, env) for term in terms)

    def _holds(self, term: exp.Expr, env: Env) -> bool:
        """Whether a WHERE term may keep this partial row (a term it cannot evaluate yet keeps it)."""
        try:
            return self.value(term, env) is True
        except Unsupported:
            return True

    def _project(
        self, node: exp.Select, envs: list[Env], typing: Env
    ) -> tuple[list[tuple[str, int]], list[list[object]], list[Env | None]]:
        items = self.select_items(node, typing)
        columns = [(column_name(item), self.type_of(item, typing)) for item in items]
        group = node.args.get("group")
        grouped = group is not None or any(_has_aggregate(item) for item in items)
        rows: list[list[object]] = []
        order_envs: list[Env | None] = []
        if grouped:
            keys = group.expressions if group is not None else []
            groups: dict[tuple[object, ...], list[Env]] = {}
            for env in envs:
                groups.setdefault(tuple(_hashable(self.value(k, env)) for k in keys), []).append(env)
            if not groups and not keys:
                groups[()] = []
            for members in groups.values():
                first = members[0] if members else typing
                rows.append([self.value(item, first, members) for item in items])
                order_envs.append(first)
            having = node.args.get("having")
            if having is not None:
                kept = [
                    (row, env)
                    for row, env, members in zip(rows, order_envs, groups.values())
                    if env is not None and self.value(having.this, env, members) is True
                ]
                rows, order_envs = [r for r, _e in kept], [e for _r, e in kept]
            return columns, rows, order_envs
        self._windows(items, envs)
        for env in envs:
            values = [self.value(item, env) for item in items]
            for expanded in _expand(values):
                rows.append(expanded)
                order_envs.append(env)
        return columns, rows, order_envs

    def select_items(self, node: exp.Select, typing: Env) -> list[exp.Expr]:
        """The SELECT list with `*` and `alias.*` expanded to the columns of the FROM items."""
        items: list[exp.Expr] = []
        for item in node.expressions:
            if isinstance(item, exp.Star) or (isinstance(item, exp.Column) and isinstance(item.this, exp.Star)):
                table = item.table.lower() if isinstance(item, exp.Column) else ""
                for alias, source in typing.sources.items():
                    if table in ("", alias):
                        items += [exp.column(name, alias, quoted=True) for name in source.columns]
            else:
                items.append(item)
        return items

    def _windows(self, items: list[exp.Expr], envs: list[Env]) -> None:
        """Number the rows of each window function in the SELECT list (outside subqueries)."""
        for item in items:
            for window in _windows_in(item):
                name = function_name(window.this)
                if name not in _WINDOW_FUNCTIONS or window.args.get("spec") is not None:
                    raise Unsupported(f"window function {name}()")
                partitions: dict[tuple[object, ...], list[Env]] = {}
                for env in envs:
                    key = tuple(_hashable(self.value(p, env)) for p in window.args.get("partition_by") or [])
                    partitions.setdefault(key, []).append(env)
                order = window.args.get("order")
                keys: list[exp.Ordered] = list(order.expressions) if order is not None else []
                for members in partitions.values():
                    ranked = [(tuple(_sortable_ordered(self.value(k.this, env), k) for k in keys), env) for env in members]
                    ranked.sort(key=lambda pair: pair[0])
                    rank = dense = 0
                    previous: tuple[object, ...] | None = None
                    for number, (sort_key, env) in enumerate(ranked, start=1):
                        if sort_key != previous:
                            rank, dense, previous = number, dense + 1, sort_key
                        value = number if name == "row_number" else rank if name == "rank" else dense
                        self.window_values[(id(window), id(env))] = value

    def _order(
        self, node: exp.Expr, columns: list[tuple[str, int]], rows: list[list[object]], envs: list[Env | None]
    ) -> list[list[object]]:
        order = node.args.get("order")
        if order is None:
            return rows
        names = [name for name, _oid in columns]
        pairs = list(zip(rows, envs))
        for ordered in reversed(order.expressions):
            key = ordered.this
            descending = bool(ordered.args.get("desc"))
            nulls_first = ordered.args.get("nulls_first")
            if nulls_first is None:
                nulls_first = descending

            def sort_key(pair: tuple[list[object], Env | None], key: exp.Expr = key) -> object:
                return self._order_value(key, names, pair[0], pair[1])

            present = [p for p in pairs if sort_key(p) is not None]
            absent = [p for p in pairs if sort_key(p) is None]
            present.sort(key=lambda p: _sortable(sort_key(p)), reverse=descending)
            pairs = absent + present if nulls_first else present + absent
        return [row for row, _env in pairs]

    def _order_value(self, key: exp.Expr, names: list[str], row: list[object], env: Env | None) -> object:
        if isinstance(key, exp.Literal) and not key.is_string:
            return row[int(key.this) - 1]
        if isinstance(key, exp.Column) and not key.table and key.name in names:
            return row[names.index(key.name)]
        if env is None:
            raise Unsupported("ORDER BY an expression over a UNION")
        return self.value(key, env)

    # ---- expressions -----------------------------------------------------------------------
    def value(self, node: exp.Expr, env: Env, group: list[Env] | None = None) -> object:
        handler = _VALUES.get(type(node))
        if handler is not None:
            return handler(self, node, env, group)
        if isinstance(node, exp.Binary) and type(node) in _COMPARISONS:
            return self._compare(node, env, group)
        if isinstance(node, (exp.Func, exp.Dot)):
            return self._call(node, env, group)
        raise Unsupported(type(node).__name__)

    def _compare(self, node: exp.Binary, env: Env, group: list[Env] | None) -> object:
        left = self.value(node.this, env, group)
        right_node = node.expression
        compare = _COMPARISONS[type(node)]
        if isinstance(right_node, exp.Any):
            values = self.value(_unparen(right_node.this), env, group)
            if left is None or values is None:
                return None
            if not isinstance(values, list):
                raise Unsupported("ANY of a non-array")
            results = [_compare(compare, left, v) for v in values]
            return True if True in results else (None if None in results else False)
        return _compare(compare, left, self.value(right_node, env, group))

    def _call(self, node: exp.Expr, env: Env, group: list[Env] | None) -> object:
        name = function_name(node)
        target = node.expression if isinstance(node, exp.Dot) else node
        if name in _AGGREGATES:
            if group is None:
                raise Unsupported(f"{name} outside GROUP BY")
            return _aggregate(self, name, target, group)
        entry = self.functions.get(name)
        if entry is None:
            raise Unsupported(f"function {name}()")
        args = [self.value(arg, env, group) for arg in function_args(target)]
        sets = [a for a in args if isinstance(a, SetValue)]
        if sets:
            return SetValue(entry[0](self, [a[i] if isinstance(a, SetValue) else a for a in args]) for i in range(len(sets[0])))
        return entry[0](self, args)

    def type_of(self, node: exp.Expr, env: Env) -> int:
        """The type OID PostgreSQL gives this expression's column (text when it cannot tell)."""
        try:
            return self._type_of(node, env)
        except (Unsupported, NotCatalog):
            return t.TEXT

    def _type_of(self, node: exp.Expr, env: Env) -> int:
        if isinstance(node, (exp.Alias, exp.Paren, exp.Collate)):
            return self._type_of(node.this, env)
        if isinstance(node, exp.Column):
            found = env.find(node.table.lower(), node.name)
            if found is None:
                if node.name.lower() in _SYSTEM_COLUMNS:
                    return XID
                return t.NAME if node.name.lower() == "user" else t.TEXT
            return found[0].types[found[1]]
        if isinstance(node, exp.Cast):
            return cast_type(node)[0]
        if isinstance(node, exp.Window):
            return t.INT8
        if isinstance(node, exp.Literal):
            if node.is_string:
                return t.TEXT
            return _number_type(str(node.this))
        if isinstance(node, exp.Boolean) or type(node) in _COMPARISONS or isinstance(node, _PREDICATES):
            return t.BOOL
        if isinstance(node, exp.Case):
            for branch in node.args.get("ifs") or []:
                if not isinstance(branch.args.get("true"), exp.Null):
                    return self._type_of(branch.args["true"], env)
            default = node.args.get("default")
            return self._type_of(default, env) if default is not None else t.TEXT
        if isinstance(node, exp.Subquery):
            inner = node.this
            if isinstance(inner, exp.Select):
                _envs, typing = self._from(inner, env)
                return self._type_of(inner.expressions[0], typing)
            return t.TEXT
        if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div)):
            # the wider side's type, as PostgreSQL resolves int4 * numeric (numeric) or int4 + int8 (int8)
            sides = (self._type_of(node.this, env), self._type_of(node.expression, env))
            return max(sides, key=lambda oid: _WIDTH.get(oid, 0))
        if isinstance(node, exp.Array):
            element = self._type_of(node.expressions[0], env) if node.expressions else t.TEXT
            return _ARRAY_OF.get(element, t.TEXT_ARRAY)
        if isinstance(node, (exp.Func, exp.Dot)):
            name = function_name(node)
            if name in _AGGREGATES:
                return _aggregate_type(self, name, node.expression if isinstance(node, exp.Dot) else node, env)
            if name in _SAME_TYPE_AS_ARGUMENT and function_args(node):
                return self._type_of(function_args(node.expression if isinstance(node, exp.Dot) else node)[0], env)
            entry = self.functions.get(name)
            if entry is not None:
                return entry[1]
        return t.TEXT


# ---- expression handlers ---------------------------------------------------------------------------


def _column(ev: Evaluator, node: exp.Expr, env: Env, group: list[Env] | None) -> object:
    assert isinstance(node, exp.Column)
    names = ev.column_names.get(id(node))
    if names is None:  # sqlglot's .table and .name cost microseconds each, and a join reads a column per row pair
        names = ev.column_names[id(node)] = (node.table.lower(), node.name)
    found = env.find(names[0], names[1])
    if found is None:
        if not node.table and node.name.lower() in ("user", "current_user", "session_user", "current_role"):
            return ev.ctx.user
        if node.name.lower() in _SYSTEM_COLUMNS and _names_source(env, node.table.lower()):
            return 1
        raise Unsupported(f"column {node.sql()}")
    source, position = found
    return None if source.row is None else source.row[position]


def _literal(ev: Evaluator, node: exp.Expr, env: Env, group: list[Env] | None) -> object:
    assert isinstance(node, exp.Literal)
    if node.is_string:
        return str(node.this)
    text = str(node.this)
    return float(text) if any(c in text for c in ".eE") else int(text)


def _and(ev: Evaluator, node: exp.Expr, env: Env, group: list[Env] | None) -> object:
    left = ev.value(node.this, env, group)
    if left is False:
        return False
    right = ev.value(node.expression, env, group)
    if right is False:
        return False
    return None if left is None or right is None else True


def _or(ev: Evaluator, node: exp.Expr, env: Env, group: list[Env] | None) -> object:
    left = ev.value(node.this, env, group)
    if left is True:
        return True
    right = ev.value(node.expression, env, group)
    if right is True:
        return True
    return None if left is None or right is None else False


def _not(ev: Evaluator, node: exp.Expr, env: Env, group: list[Env] | None) -> object:
    value = ev.value(node.this, env, group)
    return None if value is None else not value


def _is(ev: Evaluator, node: exp.Expr, env: Env, group: list[Env] | None) -> object:
    value = ev.value(node.this, env, group)
    other = node.expression
    result = value is None if isinstance(other, exp.Null) else value is ev.value(other, env, group)
    return not result if node.args.get("negate") else result


def _in(ev: Evaluator, node: exp.Expr, env: Env, group: list[Env] | None) -> object:
    value = ev.value(node.this, env, group)
    query = node.args.get("query")
    if query is not None:
        table = ev.run(query, env)
        candidates = [row[0] for row in table.rows]
    else:
        candidates = [ev.value(item, env, group) for item in node.expressions]
    if value is None:
        return None
    results = [_compare(_EQ, value, c) for c in candidates]
    return True if True in results else (None if None in results else False)


def _exists(ev: Evaluator, node: exp.Expr, env: Env, group: list[Env] | None) -> object:
    return bool(ev.run(node.this, env).rows)


def _subquery(ev: Evaluator, node: exp.Expr, env: Env, group: list[Env] | None) -> object:
    table = ev.run(node.this, env)
    if len(table.rows) > 1:
        raise Unsupported("a scalar subquery returning more than one row")
    return table.rows[0][0] if table.rows else None


def _array(ev: Evaluator, node: exp.Expr, env: Env, group: list[Env] | None) -> object:
    items = node.expressions
    if len(items) == 1 and isinstance(items[0], (exp.Select, exp.Union)):
        return [row[0] for row in ev.run(items[0], env).rows]
    return [ev.value(item, env, group) for item in items]


def _case(ev: Evaluator, node: exp.Expr, env: Env, group: list[Env] | None) -> object:
    operand = node.this
    subject = ev.value(operand, env, group) if operand is not None else None
    for branch in node.args.get("ifs") or []:
        condition = ev.value(branch.this, env, group)
        if (operand is not None and _compare(_EQ, subject, condition) is True) or (operand is None and condition is True):
            return ev.value(branch.args["true"], env, group)
    default = node.args.get("default")
    return ev.value(default, env, group) if default is not None else None


def _cast(ev: Evaluator, node: exp.Expr, env: Env, group: list[Env] | None) -> object:
    assert isinstance(node, exp.Cast)
    value = ev.value(node.this, env, group)
    return cast_value(ev, value, cast_type(node)[1])


def _regexp(ev: Evaluator, node: exp.Expr, env: Env, group: list[Env] | None) -> object:
    value = ev.value(node.this, env, group)
    pattern = ev.value(node.expression, env, group)
    if value is None or pattern is None:
        return None
    flags = re.IGNORECASE if isinstance(node, exp.RegexpILike) else 0
    return re.search(str(pattern), str(value), flags) is not None


# numeric types by width: arithmetic answers the widest of its sides
_WIDTH: Final = {t.INT2: 1, t.INT4: 2, t.INT8: 3, t.NUMERIC: 4, t.FLOAT4: 5, t.FLOAT8: 6}


def _number_type(text: str) -> int:
    """A numeric literal's type: int4, int8 when larger, numeric with a point or an exponent (or beyond int8)."""
    if "." in text or "e" in text.lower():
        return t.NUMERIC
    magnitude = abs(int(text))
    return t.INT4 if magnitude < 2**31 else t.INT8 if magnitude < 2**63 else t.NUMERIC


def _like(ev: Evaluator, node: exp.Expr, env: Env, group: list[Env] | None, escape: str = "\\") -> object:
    value = ev.value(node.this, env, group)
    pattern = ev.value(node.expression, env, group)
    if value is None or pattern is None:
        return None
    matched = _like_regex(str(pattern), isinstance(node, exp.ILike), escape).fullmatch(str(value)) is not None
    return not matched if node.args.get("negate") else matched  # sqlglot reads NOT LIKE as Like(negate=True)


def _escaped_like(ev: Evaluator, node: exp.Expr, env: Env, group: list[Env] | None) -> object:
    """`x LIKE p ESCAPE e` (SQLAlchemy's inspector: `nspname NOT LIKE 'pg/_' || '%' ESCAPE '/'`)."""
    assert isinstance(node, exp.Escape)
    like = node.this
    if not isinstance(like, (exp.Like, exp.ILike)):
        raise Unsupported(f"ESCAPE after {like.key.upper()}")
    escape = ev.value(node.expression, env, group)
    if escape is None:
        return None
    if len(str(escape)) > 1:
        raise Unsupported("an ESCAPE of more than one character")
    return _like(ev, like, env, group, str(escape))


@functools.lru_cache(maxsize=256)
def _like_regex(pattern: str, ignore_case: bool, escape: str = "\\") -> "re.Pattern[str]":
    parts: list[str] = []
    escaped = False
    for c in pattern:  # the escape character (a backslash unless ESCAPE says; none for '') makes the next literal
        if escaped:
            parts.append(re.escape(c))
            escaped = False
        elif escape and c == escape:
            escaped = True
        else:
            parts.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
    if escaped:
        parts.append(re.escape("\\"))
    regex = "".join(parts)
    return re.compile(regex, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _concat(ev: Evaluator, node: exp.Expr, env: Env, group: list[Env] | None) -> object:
    left = ev.value(node.this, env, group)
    right = ev.value(node.expression, env, group)
    return None if left is None or right is None else text_of(left) + text_of(right)


def _arithmetic(ev: Evaluator, node: exp.Expr, env: Env, group: list[Env] | None) -> object:
    left = ev.value(node.this, env, group)
    right = ev.value(node.expression, env, group)
    if left is None or right is None:
        return None
    if not isinstance(left, (int, float)) or not isinstance(right, (int, float)):
        raise Unsupported("arithmetic on non-numbers")
    if isinstance(node, exp.Add):
        return left + right
    if isinstance(node, exp.Sub):
        return left - right
    if isinstance(node, exp.Mul):
        return left * right
    if right == 0:
        raise EvaluationError("22012", "division by zero")
    if isinstance(node, exp.Mod):
        return left % right
    return left // right if isinstance(left, int) and isinstance(right, int) else left / right


def _neg(ev: Evaluator, node: exp.Expr, env: Env, group: list[Env] | None) -> object:
    value = ev.value(node.this, env, group)
    if value is None:
        return None
    if not isinstance(value, (int, float)):
        raise Unsupported("minus of a non-number")
    return -value


def _bracket(ev: Evaluator, node: exp.Expr, env: Env, group: list[Env] | None) -> object:
    array = ev.value(node.this, env, group)
    index = ev.value(node.expressions[0], env, group)
    if not isinstance(array, list) or not isinstance(index, int):
        return None
    if isinstance(node.expressions[0], exp.Literal):
        index += 1  # sqlglot reads a literal subscript 0-based (`a[1]` as 0); PostgreSQL's are 1-based
    return array[index - 1] if 1 <= index <= len(array) else None


def _window(ev: Evaluator, node: exp.Expr, env: Env, group: list[Env] | None) -> object:
    found = ev.window_values.get((id(node), id(env)), _MISSING)
    if found is _MISSING:
        raise Unsupported("a window function outside the SELECT list")
    return found


_MISSING: Final = object()


def _names_source(env: Env, table: str) -> bool:
    """Whether `table` (or, when empty, any FROM item) is a row source visible in env: it has system columns."""
    scope: Env | None = env
    while scope is not None:
        if (table and table in scope.sources) or (not table and scope.sources):
            return True
        scope = scope.parent
    return False


def _using_matches(env: Env, index: dict[str, int], row: Sequence[object], using: list[str]) -> bool:
    for name in using:
        found = env.find("", name)
        if found is None or name not in index:
            raise Unsupported(f"USING ({name})")
        source, position = found
        left = None if source.row is None else source.row[position]
        if _compare(_EQ, left, row[index[name]]) is not True:
            return False
    return True


def _conjuncts(node: exp.Expr) -> list[exp.Expr]:
    """The terms of an AND chain (parentheses dropped)."""
    if isinstance(node, exp.Paren):
        return _conjuncts(node.this)
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    return [node]


def _reads_only(term: exp.Expr, typing: Env) -> bool:
    """Whether a WHERE term reads only columns of the FROM items joined so far (or of an enclosing query)."""
    if term.find(exp.Subquery, exp.Select, exp.Exists, exp.Window) is not None or _has_aggregate(term):
        return False
    for column in term.find_all(exp.Column):
        if isinstance(column.this, exp.Star) or typing.find(column.table.lower(), column.name) is None:
            return False
    return True


def _reads_only_alias(term: exp.Expr, alias: str) -> bool:
    """Whether a WHERE term reads columns, all qualified with this FROM item's alias (and nothing else)."""
    if term.find(exp.Subquery, exp.Select, exp.Exists, exp.Window) is not None or _has_aggregate(term):
        return False
    columns = list(term.find_all(exp.Column))
    return bool(columns) and all(c.table.lower() == alias and not isinstance(c.this, exp.Star) for c in columns)


class _NoHash(Exception):
    """A join key whose equality _compare decides by more than plain values (regclass names, booleans)."""


def _join_key(value: object) -> object:
    """A hashable key equal for values _compare calls equal: '16385' and 16385 meet; None never does."""
    if isinstance(value, (bool, RegClass, RegType)):
        raise _NoHash
    if isinstance(value, str):
        return int(value) if value.lstrip("-").isdigit() else value
    if isinstance(value, list):
        return tuple(_join_key(v) for v in value)
    return value


def _hash_join(
    ev: "Evaluator", terms: list[exp.Expr], alias: str, index: dict[str, int], rows: Sequence[Sequence[object]]
) -> Callable[[Env], Sequence[Sequence[object]]] | None:
    """For `new.x = old.y` terms: a function giving, for a row so far, the rows of the new FROM item whose
    keys match (a superset: the ON and WHERE terms still decide). None when no term is of that shape."""
    new_positions: list[int] = []
    old_columns: list[exp.Column] = []
    for term in terms:
        if not (isinstance(term, exp.EQ) and isinstance(term.this, exp.Column) and isinstance(term.expression, exp.Column)):
            continue
        first, second = term.this, term.expression
        for new, old in ((first, second), (second, first)):
            if new.table.lower() == alias and old.table and old.table.lower() != alias and new.name in index:
                new_positions.append(index[new.name])
                old_columns.append(old)
                break
    if not new_positions:
        return None
    buckets: dict[tuple[object, ...], list[Sequence[object]]] = {}
    try:
        for row in rows:
            key = tuple(_join_key(row[position]) for position in new_positions)
            if None not in key:
                buckets.setdefault(key, []).append(row)
    except _NoHash:
        return None
    none: list[Sequence[object]] = []

    def candidates(env: Env) -> Sequence[Sequence[object]]:
        try:
            key = tuple(_join_key(ev.value(column, env)) for column in old_columns)
        except (_NoHash, Unsupported):
            return rows
        return none if None in key else buckets.get(key, none)

    return candidates


def _windows_in(node: exp.Expr) -> list[exp.Window]:
    if isinstance(node, (exp.Subquery, exp.Select)):
        return []
    if isinstance(node, exp.Window):
        return [node]
    found: list[exp.Window] = []
    for child in node.iter_expressions():
        found += _windows_in(child)
    return found


def _sortable_ordered(value: object, ordered: exp.Ordered) -> object:
    """A sort key for one ORDER BY term of a window: NULLs last ascending, first descending; DESC inverts."""
    descending = bool(ordered.args.get("desc"))
    key = (1, (0, 0)) if value is None else (0, _sortable(value))
    return _Reversed(key) if descending else key


class _Reversed:
    """Orders opposite to the wrapped key (DESC inside a tuple key)."""

    def __init__(self, key: object) -> None:
        self.key = key

    def __lt__(self, other: "_Reversed") -> bool:
        return bool(other.key < self.key)  # type: ignore[operator]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and bool(self.key == other.key)

    def __hash__(self) -> int:
        return hash(self.key)


def _inner(ev: Evaluator, node: exp.Expr, env: Env, group: list[Env] | None) -> object:
    return ev.value(node.this, env, group)


def _constant(value: object) -> Callable[[Evaluator, exp.Expr, Env, list[Env] | None], object]:
    return lambda ev, node, env, group: value


_VALUES: Final[dict[type, Callable[[Evaluator, exp.Expr, Env, list[Env] | None], object]]] = {
    exp.Column: _column,
    exp.Literal: _literal,
    exp.Boolean: lambda ev, node, env, group: bool(node.this),
    exp.Null: _constant(None),
    exp.ByteString: lambda ev, node, env, group: str(node.this),
    exp.RawString: lambda ev, node, env, group: str(node.this),
    exp.And: _and,
    exp.Or: _or,
    exp.Not: _not,
    exp.Is: _is,
    exp.In: _in,
    exp.Exists: _exists,
    exp.Subquery: _subquery,
    exp.Array: _array,
    exp.Case: _case,
    exp.Cast: _cast,
    exp.RegexpLike: _regexp,
    exp.RegexpILike: _regexp,
    exp.Like: _like,
    exp.ILike: _like,
    exp.Escape: _escaped_like,
    exp.DPipe: _concat,
    exp.Add: _arithmetic,
    exp.Sub: _arithmetic,
    exp.Mul: _arithmetic,
    exp.Div: _arithmetic,
    exp.Mod: _arithmetic,
    exp.Neg: _neg,
    exp.Bracket: _bracket,
    exp.Window: _window,
    exp.Tuple: _array,
    exp.Paren: _inner,
    exp.Alias: _inner,
    exp.Collate: _inner,
}
_PREDICATES: Final = (exp.And, exp.Or, exp.Not, exp.Is, exp.In, exp.Exists, exp.RegexpLike, exp.RegexpILike, exp.Like, exp.ILike, exp.Escape)


def _sortable(value: object) -> tuple[int, object]:
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, list):
        return (2, tuple(_sortable(v) for v in value))
    return (1, str(value))


def _coerce(left: object, right: object) -> tuple[object, object]:
    """PostgreSQL reads an untyped literal as the other side's type: '16385' beside an oid is a number."""
    if isinstance(left, str) and isinstance(right, int) and not isinstance(right, bool):
        right, left = _coerce(right, left)
        return left, right
    if isinstance(left, RegClass) and isinstance(right, str) and not right.lstrip("-").isdigit():
        return text_of(left), right
    if isinstance(left, int) and not isinstance(left, bool) and isinstance(right, str):
        try:
            return left, int(right)
        except ValueError:
            raise Unsupported(f"comparing a number with {right!r}") from None
    if isinstance(left, bool) and isinstance(right, str):
        return left, right.lower() in ("t", "true", "y", "yes", "on", "1")
    return left, right


def _eq(a: object, b: object) -> bool:
    return a == b


_EQ: Final[Callable[[object, object], bool]] = _eq
_COMPARISONS: Final[dict[type, Callable[[object, object], bool]]] = {
    exp.EQ: _eq,
    exp.NEQ: lambda a, b: a != b,
    exp.GT: lambda a, b: _sortable(a) > _sortable(b),
    exp.GTE: lambda a, b: _sortable(a) >= _sortable(b),
    exp.LT: lambda a, b: _sortable(a) < _sortable(b),
    exp.LTE: lambda a, b: _sortable(a) <= _sortable(b),
}


def _compare(compare: Callable[[object, object], bool], left: object, right: object) -> bool | None:
    if left is None or right is None:
        return None
    left, right = _coerce(left, right)
    return compare(left, right)


def _unparen(node: exp.Expr) -> exp.Expr:
    return node.this if isinstance(node, exp.Paren) else node


def _hashable(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def _distinct(rows: list[list[object]], envs: list[Env | None]) -> tuple[list[list[object]], list[Env | None]]:
    seen: set[tuple[object, ...]] = set()
    kept_rows: list[list[object]] = []
    kept_envs: list[Env | None] = []
    for row, env in zip(rows, envs):
        key = tuple(_hashable(v) for v in row)
        if key not in seen:
            seen.add(key)
            kept_rows.append(row)
            kept_envs.append(env)
    return kept_rows, kept_envs


def _page(node: exp.Expr, rows: list[list[object]]) -> list[list[object]]:
    offset = node.args.get("offset")
    limit = node.args.get("limit")
    start = int(offset.expression.this) if offset is not None and isinstance(offset.expression, exp.Literal) else 0
    if limit is not None and isinstance(limit.expression, exp.Literal):
        return rows[start : start + int(limit.expression.this)]
    return rows[start:]


def _expand(values: list[object]) -> list[list[object]]:
    sets = [v for v in values if isinstance(v, SetValue)]
    if not sets:
        return [values]
    length = max(len(s) for s in sets)
    return [
        [(v[i] if i < len(v) else None) if isinstance(v, SetValue) else v for v in values] for i in range(length)
    ]


# ---- functions, aggregates, casts, names --------------------------------------------------------------

_CLASS_NAMES: Final[dict[str, str]] = {
    "CurrentUser": "current_user",
    "SessionUser": "session_user",
    "CurrentSchema": "current_schema",
    "CurrentCatalog": "current_catalog",
    "CurrentSchemas": "current_schemas",
    "CurrentDatabase": "current_database",
    "CurrentTimestamp": "now",
    "Explode": "unnest",
    "Unnest": "unnest",
    "ExplodingGenerateSeries": "generate_series",
    "GenerateSeries": "generate_series",
    "GroupConcat": "string_agg",
    "ArrayAgg": "array_agg",
    "LogicalAnd": "bool_and",
    "LogicalOr": "bool_or",
    "ArrayToString": "array_to_string",
    "ArraySize": "array_length",
    "JSONObject": "json_build_object",
    "CurrentDate": "current_date",
    "Version": "version",
    "CurrentVersion": "version",
}
_AGGREGATES: Final = frozenset({"count", "min", "max", "sum", "array_agg", "bool_and", "bool_or", "string_agg"})
_ARRAY_OF: Final[dict[int, int]] = {
    t.TEXT: t.TEXT_ARRAY,
    t.NAME: t.NAME_ARRAY,
    t.VARCHAR: t.VARCHAR_ARRAY,
    t.INT2: t.INT2_ARRAY,
    t.INT4: t.INT4_ARRAY,
    t.INT8: t.INT8_ARRAY,
    t.OID: t.OID_ARRAY,
    t.BOOL: t.BOOL_ARRAY,
    t.FLOAT8: t.FLOAT8_ARRAY,
    t.CHAR: t.CHAR_ARRAY,
}
_ELEMENT_OF: Final[dict[int, int]] = {array: element for element, array in _ARRAY_OF.items()}


def function_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Dot):
        return function_name(node.expression)
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    name = _CLASS_NAMES.get(type(node).__name__)
    if name is not None:
        return name
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return "?"


def function_args(node: exp.Expr) -> list[exp.Expr]:
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    args: list[exp.Expr] = []
    for key in node.arg_types:
        value = node.args.get(key)
        if isinstance(value, list):
            args += value
        elif isinstance(value, exp.Expr):
            args.append(value)
    return args


def _aggregate(ev: Evaluator, name: str, node: exp.Expr, group: list[Env]) -> object:
    argument = node.this
    ordering: list[exp.Ordered] = []
    if isinstance(argument, exp.Order):
        ordering = list(argument.expressions)
        argument = argument.this
    if isinstance(argument, exp.Distinct):
        raise Unsupported("DISTINCT in an aggregate")
    if name == "count" and (argument is None or isinstance(argument, exp.Star)):
        return len(group)
    members = group
    if ordering:
        key = ordering[0].this
        members = sorted(group, key=lambda env: _sortable(ev.value(key, env)), reverse=bool(ordering[0].args.get("desc")))
    values = [ev.value(argument, env) for env in members]
    present = [v for v in values if v is not None]
    if name == "count":
        return len(present)
    if name == "array_agg":
        return values if values else None
    if not present:
        return None
    if name == "min":
        return min(present, key=_sortable)
    if name == "max":
        return max(present, key=_sortable)
    if name == "sum":
        return sum(v for v in present if isinstance(v, (int, float)))
    if name == "bool_and":
        return all(bool(v) for v in present)
    if name == "bool_or":
        return any(bool(v) for v in present)
    separator = node.args.get("separator")
    joiner = text_of(ev.value(separator, group[0])) if separator is not None else ","
    return joiner.join(text_of(v) for v in present)


def _aggregate_type(ev: Evaluator, name: str, node: exp.Expr, env: Env) -> int:
    if name == "count":
        return t.INT8
    if name in ("bool_and", "bool_or"):
        return t.BOOL
    if name == "string_agg":
        return t.TEXT
    argument = node.this.this if isinstance(node.this, exp.Order) else node.this
    inner = ev._type_of(argument, env)
    return _ARRAY_OF.get(inner, t.TEXT_ARRAY) if name == "array_agg" else inner


_CAST_TYPES: Final[dict[str, tuple[int, str]]] = {
    "regclass": (t.REGCLASS, "regclass"),
    "regtype": (t.REGTYPE, "regtype"),
    "regnamespace": (t.REGNAMESPACE, "regnamespace"),
    "regproc": (t.REGPROC, "regproc"),
    "text": (t.TEXT, "text"),
    "varchar": (t.VARCHAR, "text"),
    "character varying": (t.VARCHAR, "text"),
    "char": (t.BPCHAR, "text"),
    '"char"': (t.CHAR, "text"),
    "name": (t.NAME, "text"),
    "oid": (t.OID, "int"),
    "int": (t.INT4, "int"),
    "integer": (t.INT4, "int"),
    "int4": (t.INT4, "int"),
    "bigint": (t.INT8, "int"),
    "int8": (t.INT8, "int"),
    "smallint": (t.INT2, "int"),
    "int2": (t.INT2, "int"),
    "boolean": (t.BOOL, "bool"),
    "bool": (t.BOOL, "bool"),
    "double precision": (t.FLOAT8, "float"),
    "float8": (t.FLOAT8, "float"),
    "real": (t.FLOAT4, "float"),
    "json": (t.JSON, "text"),
    "text[]": (t.TEXT_ARRAY, "array"),
    "int2[]": (t.INT2_ARRAY, "array"),
    "oid[]": (t.OID_ARRAY, "array"),
    "name[]": (t.NAME_ARRAY, "array"),
}


def cast_type(node: exp.Cast) -> tuple[int, str]:
    """(result type OID, how to convert) of a cast."""
    target = node.to
    name = str(target.this).lower() if isinstance(target, exp.ObjectIdentifier) else target.sql(dialect="postgres").lower()
    name = name.removeprefix("pg_catalog.")
    found = _CAST_TYPES.get(name)
    if found is None:
        raise Unsupported(f"cast to {name}")
    return found


def text_of(value: object) -> str:
    """The text form PostgreSQL prints for a value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, RegClass):
        return value.label or str(int(value))
    if isinstance(value, RegType):
        found = next((p for p in TYPES_BY_NAME.values() if p.oid == value), None)
        return found.formatted if found is not None else str(int(value))
    if isinstance(value, list):
        return "{" + ",".join("NULL" if v is None else text_of(v) for v in value) + "}"
    if isinstance(value, Moment):
        return timestamp_text(int(value))
    return str(value)


def cast_value(ev: Evaluator, value: object, how: str) -> object:
    if value is None:
        return None
    if how == "text":
        return text_of(value)
    if how == "int":
        if isinstance(value, (int, str)):
            return int(value)
        raise Unsupported("cast to an integer")
    if how == "float":
        if isinstance(value, (int, float, str)):
            return float(value)
        raise Unsupported("cast to a float")
    if how == "bool":
        return value if isinstance(value, bool) else str(value).lower() in ("t", "true", "y", "yes", "on", "1")
    if how == "array":
        if isinstance(value, list):
            return value
        raise Unsupported("cast to an array")
    if how == "regclass":
        return ev.functions["to_regclass_strict"][0](ev, [value])
    if how == "regtype":
        return ev.functions["to_regtype_strict"][0](ev, [value])
    if how == "regproc":
        return text_of(value).removeprefix("pg_catalog.")
    if how == "regnamespace":
        return ev.functions["regnamespace"][0](ev, [value])
    raise Unsupported(f"cast {how}")


def column_name(node: exp.Expr) -> str:
    """The column name PostgreSQL gives a SELECT item."""
    if isinstance(node, exp.Alias):
        return node.alias
    if isinstance(node, exp.Column):
        return node.name
    if isinstance(node, exp.Paren):
        return column_name(node.this)
    if isinstance(node, exp.Cast):
        inner = node.this
        if isinstance(inner, (exp.Column, exp.Func, exp.Dot, exp.Cast)):
            return column_name(inner)
        return _cast_column(node)
    if isinstance(node, exp.Case):
        # PostgreSQL names a CASE after its ELSE branch when that is a column, function or cast
        default = node.args.get("default")
        if isinstance(default, (exp.Column, exp.Func, exp.Dot, exp.Cast)):
            return column_name(default)
        return "case"
    if isinstance(node, exp.Array):
        return "array"
    if isinstance(node, exp.Boolean):
        return "bool"
    if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Select) and node.this.expressions:
        return column_name(node.this.expressions[0])
    if isinstance(node, exp.Exists):
        return "exists"
    if isinstance(node, exp.Window):
        return column_name(node.this)
    if isinstance(node, exp.Binary) and not isinstance(node, exp.Dot):  # OR, AND, =: sqlglot makes some Funcs
        return "?column?"
    if isinstance(node, (exp.Func, exp.Dot)):
        name = function_name(node)
        return "?column?" if name == "?" else name
    return "?column?"


def _cast_column(node: exp.Cast) -> str:
    try:
        oid = cast_type(node)[0]
    except Unsupported:
        return "?column?"
    found = next((p for p in TYPES_BY_NAME.values() if p.oid == oid), None)
    return found.name if found is not None else "?column?"


def _has_aggregate(node: exp.Expr) -> bool:
    """Whether an aggregate call appears in `node` outside any subquery."""
    if isinstance(node, (exp.Subquery, exp.Select)):
        return False
    if isinstance(node, (exp.Func, exp.Dot)) and function_name(node) in _AGGREGATES:
        return True
    return any(_has_aggregate(child) for child in node.iter_expressions())
