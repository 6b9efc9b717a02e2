"""Joins: `FROM a [INNER | LEFT | RIGHT | FULL] JOIN b ON ... | USING (...)`, `CROSS JOIN`, and
`FROM a, b WHERE ...`, computed from each table's rows.

Each table of the FROM (a measurement, or a subquery) is read as `SELECT * FROM it`, with the WHERE
terms that read only its columns pushed into that SELECT when SQL allows (the table is on no outer
join's NULL-extended side): a time range or a tag filter of one table still reaches the executor.
The tables are joined left to right: equalities of a column of the tables so far with one of the
new table (in ON, USING, or for a comma join in WHERE) are hash-join keys (NULL matches nothing,
as in SQL), the rest of ON is tested on each candidate pair; LEFT, RIGHT and FULL add the rows that
found no partner, NULL on the other side. The joined rows are the table the outer SELECT reads
(rusts.sql.translator.Subquery does the same for one subquery): a column is named `alias.column`,
or by its name alone when one table has it (42702 otherwise); `*` gives every table's columns in
order, a USING column once. A join may produce at most MAX_JOINED_ROWS rows (an error beyond: a
runaway cross product is refused rather than exhausting memory).
"""

from collections.abc import Callable
from typing import Any, Final, Protocol

from sqlglot import exp

from rusts.query.model import Column, QueryResult
from rusts.sql.errors import OutOfRangeError, UnsupportedSqlError
from rusts.sql.expressions import Expr
from rusts.sql.nodes import Scope, unparen

MAX_JOINED_ROWS: Final = 1_000_000


class Query(Protocol):
    """A table's query: a translated SELECT or a set operation (rusts.sql.translator)."""

    def columns(self) -> list[Column]: ...


Answer = Callable[[Query], QueryResult]


class Table:
    """One table of the FROM: its alias, its query, its columns and where they sit in a joined row."""

    def __init__(self, alias: str, query: Query, offset: int) -> None:
        self.alias = alias
        self.query = query
        self.columns = query.columns()
        self.offset = offset  # of its first column in a joined row, after the time slot
        self.keys = [column_key(offset + at, alias, column.name) for at, column in enumerate(self.columns)]


def column_key(position: int, alias: str, name: str) -> str:
    """The name a joined table's column has in the joined scope: its position first, so that the
    scope's fields by name are the joined row's columns in order."""
    return f"{position:05d}:{alias}.{name}"


class Step:
    """Joining one more table: its kind, the key columns on each side (positions in a joined row),
    and the rest of the ON condition as an Expr over a joined row (None: nothing more)."""

    def __init__(
        self, table: Table, side: str, left_keys: list[int], right_keys: list[int], residual: Expr | None, as_floats: list[bool] | None = None,
    ) -> None:
        self.table = table
        self.side = side  # "", "left", "right", "full", "cross"
        self.left_keys = left_keys
        self.right_keys = right_keys
        self.residual = residual
        self.as_floats = as_floats or [False] * len(left_keys)  # keys of bigint against double precision: compared as floats


NAN: Final = float("nan")  # one NaN object: keys holding it are equal (NaN = NaN in SQL's hashing, as PostgreSQL's)


def key_of(values: Any, as_floats: list[bool] | None = None) -> tuple[Any, ...]:
    """Values as a hash key: every NaN the same one; where `as_floats` says, numbers as floats."""
    out = []
    for at, value in enumerate(values):
        if as_floats is not None and as_floats[at] and value is not None:
            value = float(value)
        out.append(NAN if isinstance(value, float) and value != value else value)
    return tuple(out)


class JoinSource:
    """The joined rows the outer SELECT reads (see the module docstring). `scope` resolves its
    columns; `answer` joins the tables' answers into rows of `scope`'s layout (time slot first)."""

    def __init__(self, tables: list[Table], steps: list[Step], scope: Scope, using: list[str]) -> None:
        self.tables = tables
        self.steps = steps
        self.scope = scope
        self.using = using
        self.width = sum(len(table.columns) for table in tables)

    def answer(self, answer: Answer) -> QueryResult:
        first = self.tables[0]
        rows: list[list[Any]] = [[None, *row] for row in answer(first.query).rows]
        width = len(first.columns)
        for step in self.steps:
            right = answer(step.table.query).rows
            rows = _joined(rows, right, step, width)
            width += len(step.table.columns)
        merged = merged_positions(self.scope, self.using)
        if merged:
            for row in rows:
                row.extend(next((row[at] for at in positions if row[at] is not None), None) for positions in merged)
        columns = [Column("time", "timestamp")] + [Column(key, kind) for key, kind in sorted(self.scope.fields.items())]
        return QueryResult(columns, rows)


def _joined(left: list[list[Any]], right: list[list[Any]], step: Step, left_width: int) -> list[list[Any]]:
    """`left` rows (time slot, then the tables so far) joined with the new table's `right` rows."""
    residual, side = step.residual, step.side
    right_width = len(step.table.columns)
    out: list[list[Any]] = []
    matched_right: set[int] = set()

    def emit(row: list[Any]) -> None:
        out.append(row)
        if len(out) > MAX_JOINED_ROWS:
            raise OutOfRangeError(f"the join would give more than {MAX_JOINED_ROWS:,} rows: narrow it with WHERE or ON")

    index: dict[tuple[Any, ...], list[int]] = {}
    offsets = [at - 1 - left_width for at in step.right_keys]
    floats = step.as_floats if any(step.as_floats) else None
    for number, row in enumerate(right):
        key = key_of([row[at] for at in offsets], floats)
        if None not in key:  # NULL equals nothing
            index.setdefault(key, []).append(number)
    every = range(len(right))
    for row in left:
        if step.left_keys:
            key = key_of([row[at] for at in step.left_keys], floats)
            candidates: Any = index.get(key, []) if None not in key else []
        else:
            candidates = every
        found = False
        for number in candidates:
            joined = row + right[number]
            if residual is None or residual.value(joined) is True:
                found = True
                matched_right.add(number)
                emit(joined)
        if not found and side in ("left", "full"):
            emit(row + [None] * right_width)
    if side in ("right", "full"):
        for number, other in enumerate(right):
            if number not in matched_right:
                emit([None] * (1 + left_width) + other)
    return out


MERGED: Final = "~"  # the key prefix of a USING column's merged value (after every table's keys)


def join_scope(tables: list[Table], now: int, using: list[str], merged: bool = True) -> Scope:
    """The scope of the joined rows: `alias.column` for every column, and a column's name alone where
    one table has it, ambiguous (42702) otherwise. A USING column's name alone is its merged value
    (the first table's that is not NULL: COALESCE, as PostgreSQL merges them for RIGHT and FULL
    joins), appended to the rows after every table's columns when `merged` (the final scope);
    without (while joining) it is the first table's column."""
    fields: dict[str, str] = {}
    by_name: dict[str, list[str]] = {}
    star: list[tuple[str, str]] = []
    for table in tables:
        for key, column in zip(table.keys, table.columns):
            fields[key] = column.type
            by_name.setdefault(column.name, []).append(key)
            if column.name not in using:
                star.append((key, column.type))
    shared = [name for name in using if name in by_name]
    scope = Scope("", "", [], fields, now, has_time=False)
    scope.tables = {table.alias: {column.name: key for key, column in zip(table.keys, table.columns)} for table in tables}
    scope.unqualified = {name: keys[0] for name, keys in by_name.items() if len(keys) == 1 or name in using}
    scope.ambiguous = {name for name, keys in by_name.items() if len(keys) > 1 and name not in using}
    scope.shown = {key: column.name for table in tables for key, column in zip(table.keys, table.columns)}
    if merged:
        for name in shared:
            key = MERGED + name
            fields[key] = scope.fields[by_name[name][0]]
            scope.unqualified[name] = key
            scope.shown[key] = name
        star = [(MERGED + name, fields[MERGED + name]) for name in shared] + star  # as PostgreSQL: USING columns first
    else:
        star = [(by_name[name][0], fields[by_name[name][0]]) for name in shared] + star
    scope.star = star
    return scope


def merged_positions(scope: Scope, using: list[str]) -> list[list[int]]:
    """For each merged USING column, in the order the scope's keys put them, the row positions of
    the tables' columns of that name."""
    keys = sorted(scope.fields)
    positions = {key: 1 + at for at, key in enumerate(keys)}
    out: list[list[int]] = []
    for key in keys:
        if key.startswith(MERGED):
            name = key[len(MERGED):]
            out.append([positions[k] for k in keys if not k.startswith(MERGED) and scope.shown.get(k) == name])
    return out


def tables_of(node: exp.Expression, tables: list[Table]) -> set[str] | None:
    """The aliases of the tables whose columns `node` reads; None when one of its names is unknown
    or ambiguous there (it cannot be placed)."""
    found: set[str] = set()
    for column in node.find_all(exp.Column):
        if column.table:
            alias = next((t.alias for t in tables if t.alias in (column.table, column.table.lower())), None)
            if alias is None:
                return None
            found.add(alias)
            continue
        owners = [t.alias for t in tables if any(c.name in (column.name, column.name.lower()) for c in t.columns)]
        if len(owners) != 1:
            return None
        found.add(owners[0])
    return found


def conjuncts(node: exp.Expression | None) -> list[exp.Expression]:
    if node is None:
        return []
    node = unparen(node)
    if isinstance(node, exp.And):
        return conjuncts(node.this) + conjuncts(node.expression)
    return [node]


def equality_keys(
    terms: list[exp.Expression], left: list[Table], right: Table
) -> tuple[list[tuple[exp.Expression, exp.Expression]], list[exp.Expression]]:
    """The terms that are `column of the tables so far = column of the new table` (as pairs, left
    side first), and the others."""
    pairs: list[tuple[exp.Expression, exp.Expression]] = []
    rest: list[exp.Expression] = []
    for term in terms:
        if isinstance(term, exp.EQ) and isinstance(unparen(term.this), exp.Column) and isinstance(unparen(term.expression), exp.Column):
            a, b = unparen(term.this), unparen(term.expression)
            sides = tables_of(a, left + [right]), tables_of(b, left + [right])
            if sides[0] is not None and sides[1] is not None:
                if sides[0] <= {t.alias for t in left} and sides[1] == {right.alias}:
                    pairs.append((a, b))
                    continue
                if sides[1] <= {t.alias for t in left} and sides[0] == {right.alias}:
                    pairs.append((b, a))
                    continue
        rest.append(term)
    return pairs, rest


def side_of(join: exp.Join) -> str:
    """'' (inner), 'left', 'right', 'full' or 'cross' (also a comma join); UnsupportedSqlError for NATURAL and others."""
    kind = str(join.args.get("kind") or "").upper()
    side = str(join.args.get("side") or "").upper()
    method = str(join.args.get("method") or "").upper()
    if method == "NATURAL":
        return {"": "", "LEFT": "left", "RIGHT": "right", "FULL": "full"}.get(side, "")  # USING the common columns
    if method or kind in ("SEMI", "ANTI", "ASOF") or side == "" and kind not in ("", "INNER", "CROSS", "OUTER"):
        raise UnsupportedSqlError(f"{method or kind} JOIN", join.sql(dialect="postgres"))
    if kind == "CROSS" or (not side and not kind and join.args.get("on") is None and not join.args.get("using")):
        return "cross"
    return {"": "", "LEFT": "left", "RIGHT": "right", "FULL": "full"}[side] if side in ("", "LEFT", "RIGHT", "FULL") else ""
