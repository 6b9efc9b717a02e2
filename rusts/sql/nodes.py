"""Reading sqlglot nodes: where a node is, what a column names, and literal values, times and intervals."""

import re
from collections.abc import Callable

from sqlglot import exp

from rusts.sql.errors import UNDEFINED_COLUMN, AmbiguousColumnError, InvalidTextError, SqlError, UnsupportedSqlError
from rusts.sql.times import DAY, TimestampInputError, parse_interval, parse_timestamp, truncate

Literal = bool | int | float | str
TIMESTAMP_TYPES = frozenset({exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.DATE})


class MissingTableError(SqlError):
    """A column qualified by a table the FROM does not name (42P01)."""

    sqlstate = "42P01"

    def __init__(self, table: str) -> None:
        self.table = table
        super().__init__(f'missing FROM-clause entry for table "{table}"')


class UnknownColumnError(SqlError):
    sqlstate = UNDEFINED_COLUMN

    def __init__(self, name: str, measurement: str, fragment: str) -> None:
        self.name = name
        self.measurement = measurement
        if not measurement:  # a SELECT without FROM
            super().__init__(f'column "{name}" does not exist: {fragment}')
            return
        super().__init__(f"measurement {measurement!r} has no column {name!r} (time, a tag or a field): {fragment}")


def position(node: exp.Expression) -> tuple[int, int]:
    """(line, column) where the first token of `node` sqlglot recorded starts, or (0, 0)."""
    for child in node.walk(bfs=False):
        meta = child.meta
        if "line" in meta and "col" in meta:
            # sqlglot's col is the token's last character; start and end are offsets into the text
            width = int(meta.get("end", 0)) - int(meta.get("start", 0))
            return int(meta["line"]), max(1, int(meta["col"]) - width)
    return 0, 0


def unsupported(construct: str, node: exp.Expression) -> UnsupportedSqlError:
    line, column = position(node)
    return UnsupportedSqlError(construct, node.sql(dialect="postgres"), line, column)


def unparen(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


class Scope:
    """The measurement a SELECT reads, its catalogue, and the `now()` it answers at."""

    def __init__(
        self, measurement: str, alias: str, tags: list[str], fields: dict[str, str], now: int, sparse_tags: frozenset[str] = frozenset(),
        has_time: bool = True, star: list[tuple[str, str]] | None = None,
    ) -> None:
        self.measurement = measurement
        self.alias = alias
        self.tags = set(tags)
        # tag keys some series lack (NULL there, as a missing value in a table)
        self.sparse_tags = sparse_tags
        self.tag_order = list(tags)
        self.fields = fields
        self.now = now
        # A subquery's scope (rusts.sql.translator.Subquery): whether it has a `time` column, and its
        # columns in its own order, which `*` gives (name, type; None: time, tags, fields by name)
        self.has_time = has_time
        self.star = star
        # The joined rows of a FROM with JOINs (rusts.sql.joins): per table alias its columns' names
        # and keys here, the names one table alone has (and USING columns), the ambiguous ones, and
        # the name each key is shown as. None: one table.
        self.tables: dict[str, dict[str, str]] | None = None
        self.unqualified: dict[str, str] = {}
        self.ambiguous: set[str] = set()
        self.shown: dict[str, str] = {}

    def column(self, node: exp.Expression) -> str | None:
        """The column `node` names, or None when it is not a column reference."""
        node = unparen(node)
        if not isinstance(node, exp.Column):
            return None
        if self.tables is not None:
            return self._joined_column(node)
        if node.table and node.table.lower() not in (self.measurement.lower(), self.alias.lower()):
            raise MissingTableError(node.table)
        name = node.name
        if not is_quoted(node.this) and not self.knows(name) and self.knows(name.lower()):
            return name.lower()  # PostgreSQL folds an unquoted name to lower case (an exact match comes first)
        return name

    def _joined_column(self, node: exp.Column) -> str:
        """A column of joined tables: `alias.name`, or a name one table alone has (42702 when several do)."""
        assert self.tables is not None
        name = node.name
        if node.table:
            columns = self.tables.get(node.table) or self.tables.get(node.table.lower())
            if columns is None:
                raise MissingTableError(node.table)
            key = columns.get(name) or columns.get(name.lower())
            if key is None:
                raise UnknownColumnError(name, node.table, node.sql(dialect="postgres"))
            return key
        for candidate in (name, name.lower()):
            if candidate in self.ambiguous:
                raise AmbiguousColumnError(f'column reference "{candidate}" is ambiguous')
            key = self.unqualified.get(candidate)
            if key is not None:
                return key
        return name  # no column: an output alias (GROUP BY h), or unknown when its role is asked

    def knows(self, name: str) -> bool:
        return (name == "time" and self.has_time) or name in self.tags or name in self.fields

    def role(self, name: str, node: exp.Expression) -> str:
        """'time', 'tag' or 'field'; UnknownColumnError for anything else."""
        if name == "time" and self.has_time:
            return "time"
        if name in self.tags:
            return "tag"
        if name in self.fields:
            return "field"
        raise UnknownColumnError(name, self.measurement, node.sql(dialect="postgres"))


def is_quoted(identifier: object) -> bool:
    return isinstance(identifier, exp.Identifier) and bool(identifier.args.get("quoted"))


def measurement_table(node: object, what: str, where: exp.Expression) -> exp.Table:
    """`node` as the measurement a FROM, INSERT INTO, DELETE FROM or CREATE TABLE names: a table name,
    unqualified or in public; `what` names anything else in the refusal."""
    if not isinstance(node, exp.Table) or not node.name:
        raise unsupported(what, where)
    if node.args.get("catalog") or (node.db and node.db != "public"):
        raise unsupported("a schema-qualified measurement (only public)", node)
    return node


def folded_name(engine_has: Callable[[str], bool], table: exp.Table) -> str:
    """The measurement an identifier names: as written, else (unquoted) its lower case when that exists."""
    name = table.name
    if not is_quoted(table.this) and not engine_has(name) and engine_has(name.lower()):
        return name.lower()
    return name


def literal(node: exp.Expression) -> Literal:
    """The value of a literal (string, number, boolean, negated number)."""
    inner = unparen(node)
    if isinstance(inner, exp.Boolean):
        return bool(inner.this)
    if isinstance(inner, exp.Neg):
        value = literal(inner.this)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value
        raise unsupported("negation of a non-number", node)
    if isinstance(inner, exp.Literal):
        if inner.is_string:
            return str(inner.this)
        text = str(inner.this)
        try:
            return int(text)
        except ValueError:
            return float(text)
    raise unsupported("a comparison with something other than a literal", node)


_INTEGER_TEXT = re.compile(r"\s*[+-]?[0-9]+\s*")
_TRUE_TEXTS = frozenset({"t", "tr", "tru", "true", "y", "ye", "yes", "on", "1"})
_FALSE_TEXTS = frozenset({"f", "fa", "fal", "fals", "false", "n", "no", "of", "off", "0"})
_PG_NAMES = {"integer": "bigint", "unsigned": "bigint", "float": "double precision", "boolean": "boolean"}


def coerce_text(value: Literal, kind: str) -> Literal:
    """A string literal compared with a number or boolean column, read as PostgreSQL reads an untyped
    literal of that type ('3' against a bigint is 3); any other value as it is."""
    if not isinstance(value, str) or kind not in _PG_NAMES:
        return value
    text = value.strip()
    if kind in ("integer", "unsigned") and _INTEGER_TEXT.fullmatch(value):
        return int(text)
    if kind == "float" and "_" not in text:
        try:
            return float(text)
        except ValueError:
            pass
    if kind == "boolean" and text.lower() in _TRUE_TEXTS | _FALSE_TEXTS:
        return text.lower() in _TRUE_TEXTS
    raise InvalidTextError(f'invalid input syntax for type {_PG_NAMES[kind]}: "{value}"')


def integer(node: exp.Expression, what: str) -> int:
    value = literal(node)
    if not isinstance(value, int) or isinstance(value, bool):
        raise unsupported(f"{what} that is not an integer literal", node)
    return value


def is_interval(node: exp.Expression) -> bool:
    """INTERVAL '...', or a cast to interval ('...'::interval, what drivers send for a duration)."""
    return isinstance(node, exp.Interval) or (isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.INTERVAL)


def interval_text_of(node: exp.Expression) -> str | None:
    """The text of an interval constant: INTERVAL '5 minutes', INTERVAL '5' MINUTE, '...'::interval (also
    cast again, as a parameter is), or the string '5 minutes'; None when `node` is none of those."""
    inner = unparen(node)
    while isinstance(inner, exp.Cast) and is_interval(inner) and is_interval(unparen(inner.this)):
        inner = unparen(inner.this)
    if isinstance(inner, exp.Interval) and isinstance(unparen(inner.this), exp.Literal):
        unit = inner.args.get("unit")
        return str(unparen(inner.this).this) + (f" {unit.name}" if isinstance(unit, exp.Expression) else "")
    if isinstance(inner, exp.Literal) and inner.is_string:
        return str(inner.this)
    if is_interval(inner) and isinstance(unparen(inner.this), exp.Literal):  # '3 days 0.5 seconds'::interval
        return str(unparen(inner.this).this)
    return None


def duration(node: exp.Expression) -> int:
    """Nanoseconds of a fixed, positive interval constant (interval_text_of)."""
    text = interval_text_of(node)
    nanoseconds = None if text is None else parse_interval(text)
    if nanoseconds is None:
        raise unsupported("an interval that is not a fixed duration (ns up to weeks)", node)
    if nanoseconds <= 0:
        raise unsupported("an interval that is not positive", node)
    return nanoseconds


def instant(node: exp.Expression, now: int) -> int:
    """Nanoseconds since the epoch: a timestamp string, epoch nanoseconds, now(), or those plus/minus an interval."""
    inner = unparen(node)
    if isinstance(inner, exp.CurrentTimestamp) or (isinstance(inner, exp.Anonymous) and inner.name.lower() == "now"):
        return now
    if isinstance(inner, exp.CurrentDate):
        return now - now % DAY  # today's midnight, UTC
    if isinstance(inner, (exp.TimestampTrunc, exp.DateTrunc)) and not inner.args.get("zone"):
        unit = inner.args.get("unit")  # date_trunc('day', now()): a constant time
        truncated = truncate(instant(inner.this, now), unit.name.lower()) if isinstance(unit, exp.Expression) else None
        if truncated is None:
            raise unsupported(f"date_trunc to {unit.name if isinstance(unit, exp.Expression) else '?'!r}", node)
        return truncated
    if isinstance(inner, (exp.Add, exp.Sub)) and is_interval(unparen(inner.expression)):
        step = duration(inner.expression)
        return instant(inner.this, now) + (step if isinstance(inner, exp.Add) else -step)
    if isinstance(inner, exp.Add) and is_interval(unparen(inner.this)):
        return instant(inner.expression, now) + duration(inner.this)
    while isinstance(inner, exp.Cast) and inner.to.this in TIMESTAMP_TYPES:  # '...'::timestamptz::timestamptz too
        inner = unparen(inner.this)
    if isinstance(inner, (exp.Add, exp.Sub)) and inner is not unparen(node):
        return instant(inner, now)
    if isinstance(inner, exp.Var):
        inner = exp.Literal.string(inner.name)
    if isinstance(inner, (exp.Literal, exp.Neg)):
        value = literal(inner)
        if isinstance(value, str):
            parsed = parse_timestamp(value)
            if parsed is None:
                raise TimestampInputError(value)
            return parsed
        elif isinstance(value, int) and not isinstance(value, bool):
            return value
    raise unsupported("a time that is not a timestamp literal, epoch nanoseconds or now() +/- an interval", node)
