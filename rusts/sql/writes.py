"""INSERT, DELETE and DROP: SQL statements that change the data, through the engine's own paths.

INSERT INTO m (time, col, ...) VALUES (...), ... becomes line protocol
written by engine.write_line_protocol, so it goes through the WAL like any
write. Which column is what: `time` is the timestamp (a timestamp literal,
epoch nanoseconds, now() +/- an interval; absent or NULL = now); a tag key
of the measurement is a tag (string or NULL); a known field keeps its type
(an integer literal is taken by a float field; anything else that does not
fit is refused, 42804). A new column is a tag when its values are strings
and a field when they are numbers (integer if all are integer literals,
else float) or booleans. NULL leaves the column out of that row; a row
needs at least one field value. The whole statement is checked before
anything is written.

DELETE FROM m [WHERE <time and tag conditions>] deletes through
engine.delete (tombstones); field conditions are refused, as the storage
deletes whole rows of a series by time range. The count in the command tag
is the rows that matched just before the delete.

DROP TABLE | MEASUREMENT [IF EXISTS] m forgets the measurement
(engine.drop_measurement).
"""

import re
from typing import Any, Final

from sqlglot import exp

from rusts.core.hashing import escape_key, series_key
from rusts.core.kinds import POINT_TIME_MAX, POINT_TIME_MIN
from rusts.query.errors import UnknownMeasurementError
from rusts.query.executor import execute
from rusts.query.model import Aggregation, Query
from rusts.query.planner import plan_query
from rusts.sql.errors import (
    DatatypeMismatchError,
    DuplicateColumnError,
    DuplicateTableError,
    NotNullViolationError,
    OutOfRangeError,
    UnsupportedSqlError,
    WriteRejectedError,
)
from rusts.sql.nodes import Scope, folded_name, instant, is_quoted, literal, measurement_table, unparen, unsupported
from rusts.sql.where import translate_where
from rusts.storage.engine import I64_MAX, I64_MIN, StorageEngine

U64_MAX: Final = 2**64 - 1
_DROP: Final = re.compile(
    r'DROP\s+(?P<kind>TABLE|MEASUREMENT)\s+(?P<exists>IF\s+EXISTS\s+)?(?P<m>[A-Za-z_][\w.\-]*|"(?:[^"]|"")+")',
    re.IGNORECASE,
)
_DROP_WORD: Final = re.compile(r"DROP\s+MEASUREMENT\b", re.IGNORECASE)


# ---- DROP ----


def match_drop(stripped: str) -> tuple[str, str, bool] | None:
    """(kind, measurement, if_exists) of a DROP TABLE/MEASUREMENT statement, or None when it is not one."""
    match = _DROP.fullmatch(stripped)
    if match is None:
        if _DROP_WORD.match(stripped):
            raise UnsupportedSqlError("DROP MEASUREMENT other than DROP MEASUREMENT [IF EXISTS] name", stripped)
        return None
    name = match.group("m")
    if name.startswith('"'):
        name = name[1:-1].replace('""', '"')
    return match.group("kind").upper(), name, match.group("exists") is not None


def drop(engine: StorageEngine, kind: str, measurement: str, if_exists: bool) -> str:
    """Drop a measurement (or one declared by CREATE TABLE and not written yet); the command tag."""
    declared = engine.declared.pop(measurement, None)
    if not engine.field_types(measurement):
        if not if_exists and declared is None:
            raise UnknownMeasurementError(measurement)
        return f"DROP {kind}"
    engine.drop_measurement(measurement)
    return f"DROP {kind}"


# ---- DELETE ----


def delete(engine: StorageEngine, statement: exp.Delete, now: int, timeout: float | None) -> int:
    """Delete the rows the statement matches; how many matched."""
    for name, value in statement.args.items():
        if value and name not in ("this", "where"):
            raise unsupported(f"DELETE with {name.upper()}", statement)
    scope = _existing(engine, statement.this, now)
    clause = statement.args.get("where")
    where = translate_where(scope, None if clause is None else clause.this)
    if where.fields:
        raise UnsupportedSqlError(
            f"DELETE with a condition on field {where.fields[0].field!r} (deletes take time and tag conditions)",
            statement.sql(dialect="postgres"),
        )
    query = Query(scope.measurement, time_range=where.time_range(), tag_filter=where.tag_filter(),
                  aggregations=[Aggregation("count", "*")])
    matched = int(execute(engine, query, timeout).rows[0][-1])
    ids = [ref.series_id for ref in plan_query(engine, query).series]
    start = I64_MIN if where.start is None else where.start
    end = I64_MAX if where.end is None else where.end
    engine.delete(ids, start, end)
    return matched


def _existing(engine: StorageEngine, node: exp.Expression, now: int) -> Scope:
    table = measurement_table(node, "a target other than a measurement", node)
    name = folded_name(lambda candidate: bool(engine.field_types(candidate)), table)
    fields = engine.field_types(name)
    if not fields:
        raise UnknownMeasurementError(table.name)
    return Scope(name, table.alias, engine.tag_keys(name), fields, now)


# ---- CREATE TABLE ----

_DECLARED_ROLES: Final = {
    exp.DataType.Type.TEXT: "tag", exp.DataType.Type.VARCHAR: "tag", exp.DataType.Type.CHAR: "tag",
    exp.DataType.Type.DOUBLE: "float", exp.DataType.Type.FLOAT: "float", exp.DataType.Type.DECIMAL: "float",
    exp.DataType.Type.BIGINT: "integer", exp.DataType.Type.INT: "integer", exp.DataType.Type.SMALLINT: "integer",
    exp.DataType.Type.BOOLEAN: "boolean",
}
_TIME_TYPES: Final = frozenset({exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMP})


def create_table(engine: StorageEngine, statement: exp.Create) -> str:
    """CREATE TABLE [IF NOT EXISTS] m (time timestamptz, tag text, field float8 | bigint | boolean, ...);
    CREATE INDEX is accepted and changes nothing.

    A measurement exists from its first point, so this only records the columns' roles for INSERT:
    text columns are tags, numbers and booleans fields, and `time` the point's time (what pandas'
    to_sql and other tools send before their INSERTs).
    """
    schema = statement.this
    kind = str(statement.args.get("kind") or "").upper()
    if kind == "INDEX":
        # pandas' to_sql indexes its index column: every measurement is indexed by its tags and time
        # already, so an index adds nothing and is accepted as such.
        return "CREATE INDEX"
    if kind != "TABLE" or not isinstance(schema, exp.Schema) or statement.expression is not None:
        raise unsupported("CREATE other than CREATE TABLE name (column type, ...)", statement)
    table = measurement_table(schema.this, "CREATE TABLE of something other than a measurement", statement)
    name = _stored_name(engine, table)
    _check_name("the measurement name", name)
    if engine.field_types(name):
        if statement.args.get("exists"):
            return "CREATE TABLE"
        raise DuplicateTableError(f'relation "{name}" already exists')
    roles: dict[str, str] = {}
    for column in schema.expressions:
        if not isinstance(column, exp.ColumnDef) or not isinstance(column.args.get("kind"), exp.DataType):
            raise unsupported("a table constraint in CREATE TABLE (columns only)", column)
        column_type = column.args["kind"].this
        if column.name in roles:
            raise DuplicateColumnError(f"column {column.name!r} specified more than once")
        if column_type in _TIME_TYPES:
            if column.name != "time":
                raise DatatypeMismatchError(f"column {column.name!r} is a timestamp: a measurement has one, named time")
            roles["time"] = "time"
            continue
        role = _DECLARED_ROLES.get(column_type)
        if role is None or column.name == "time":
            raise DatatypeMismatchError(
                f"column {column.name!r} has type {column.args['kind'].sql('postgres')}: a measurement takes time "
                "timestamptz, text tags and double precision, bigint or boolean fields")
        _check_name("a column name", column.name)
        roles[column.name] = role
    roles.pop("time", None)
    engine.declared[name] = roles
    return "CREATE TABLE"


# ---- INSERT ----


def _stored_name(engine: StorageEngine, table: exp.Table) -> str:
    """The measurement a CREATE or INSERT names: one that exists (or was declared) as written, else
    an unquoted name in lower case, as PostgreSQL folds it."""
    name = table.name
    if is_quoted(table.this) or engine.field_types(name) or name in engine.declared:
        return name
    return name.lower()


def _target(statement: exp.Insert, engine: StorageEngine) -> tuple[str, list[str]]:
    for name, value in statement.args.items():
        if value and name not in ("this", "expression"):
            raise unsupported(f"INSERT with {name.upper()}", statement)
    target = statement.this
    if not isinstance(target, exp.Schema) or not target.expressions:
        raise unsupported("INSERT without a column list (write INSERT INTO m (time, tag, field) VALUES ...)", statement)
    table = measurement_table(target.this, "INSERT into something other than a measurement", target)
    columns = [c.name for c in target.expressions]
    for i, name in enumerate(columns):
        if name in columns[:i]:
            raise DuplicateColumnError(f"column {name!r} specified more than once")
        if not name:
            raise unsupported("an empty column name", statement)
    return _stored_name(engine, table), columns


def _rows(statement: exp.Insert, width: int) -> list[list[exp.Expression]]:
    values = statement.expression
    if not isinstance(values, exp.Values):
        raise unsupported("INSERT ... SELECT (only VALUES)", values if isinstance(values, exp.Expression) else statement)
    rows: list[list[exp.Expression]] = []
    for number, row in enumerate(values.expressions, 1):
        cells = list(row.expressions) if isinstance(row, exp.Tuple) else [row]
        if len(cells) != width:
            raise DatatypeMismatchError(f"INSERT row {number} has {len(cells)} values for {width} columns")
        rows.append(cells)
    return rows


def _value(node: exp.Expression) -> Any:
    """A VALUES cell as a Python value: None, bool, int, float or str."""
    inner = unparen(node)
    if isinstance(inner, exp.Null):
        return None
    if isinstance(inner, exp.Cast):
        raise unsupported("a cast in VALUES other than of time", node)
    return literal(inner)


def _kind_of(name: str, values: list[Any]) -> str:
    """The role and type of a new column from its values: a string -> tag, numbers or booleans -> field."""
    present = [v for v in values if v is not None]
    if all(isinstance(v, str) for v in present):
        return "tag"
    if all(isinstance(v, bool) for v in present):
        return "boolean"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "integer" if all(isinstance(v, int) for v in present) else "float"
    raise DatatypeMismatchError(f"new column {name!r} takes values of different kinds (strings, numbers, booleans)")


def _field(name: str, kind: str, value: Any, row: int) -> str:
    """`key=value` in line protocol for a field of `kind`; DatatypeMismatchError when the value does not fit."""
    where = f"INSERT row {row}: field {name!r} is {kind}"
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "float" and is_number:
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise OutOfRangeError(f"{where}: {value!r} is not a finite number")
        text = repr(number)
    elif kind == "integer" and isinstance(value, int) and not isinstance(value, bool):
        if not I64_MIN <= value <= I64_MAX:
            raise OutOfRangeError(f"{where}: {value} is out of the bigint range")
        text = f"{value}i"
    elif kind == "unsigned" and isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= U64_MAX:
            raise OutOfRangeError(f"{where}: {value} is out of the unsigned range")
        text = f"{value}u"
    elif kind == "boolean" and isinstance(value, bool):
        text = "true" if value else "false"
    elif kind == "string" and isinstance(value, str):
        text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    else:
        raise DatatypeMismatchError(f"{where}, got {value!r}")
    return f"{escape_key(name)}={text}"


def _check_name(what: str, text: str) -> None:
    if not text:
        raise DatatypeMismatchError(f"{what} is empty")
    if "\n" in text or "\r" in text:
        raise DatatypeMismatchError(f"{what} {text!r} holds a line break, which line protocol cannot carry")


def insert(engine: StorageEngine, statement: exp.Insert, now: int) -> int:
    """Write the statement's rows; how many were written."""
    measurement, columns = _target(statement, engine)
    _check_name("the measurement name", measurement)
    if measurement.startswith("#"):
        raise DatatypeMismatchError(f"measurement name {measurement!r} starts with '#', which line protocol reads as a comment")
    rows = _rows(statement, len(columns))
    tags = set(engine.tag_keys(measurement))
    fields = engine.field_types(measurement)
    declared = engine.declared.get(measurement, {})
    roles: dict[str, str] = {}
    values: dict[str, list[Any]] = {}
    for position, name in enumerate(columns):
        if name == "time":
            continue
        _check_name("a column name", name)
        cells = [_value(row[position]) for row in rows]
        values[name] = cells
        roles[name] = "tag" if name in tags else fields.get(name) or declared.get(name) or _kind_of(name, cells)
    times = [now] * len(rows)
    if "time" in columns:
        position = columns.index("time")
        times = [now if isinstance(unparen(row[position]), exp.Null) else instant(row[position], now) for row in rows]
    lines: list[str] = []
    for number, stamp in enumerate(times, 1):
        lines.append(_line(measurement, roles, values, number, stamp))
    result = engine.write_line_protocol("\n".join(lines).encode())
    if result.errors:
        first = result.errors[0]
        raise WriteRejectedError(
            f"INSERT: {len(result.errors)} of {len(rows)} rows refused by the write path "
            f"({result.points} written); row {first.line}: {first.message}"
        )
    return len(rows)


def _line(measurement: str, roles: dict[str, str], values: dict[str, list[Any]], row: int, stamp: int) -> str:
    tag_pairs: list[tuple[str, str]] = []
    field_parts: list[str] = []
    for name, role in roles.items():
        value = values[name][row - 1]
        if value is None:
            continue
        if role == "tag":
            if not isinstance(value, str):
                raise DatatypeMismatchError(f"INSERT row {row}: {name!r} is a tag, which takes a string, got {value!r}")
            if value:
                _check_name(f"the value of tag {name!r}", value)
                tag_pairs.append((name, value))
            continue
        field_parts.append(_field(name, role, value, row))
    if not field_parts:
        raise NotNullViolationError(f"INSERT row {row} has no field value (a point needs at least one field)")
    if not POINT_TIME_MIN <= stamp <= POINT_TIME_MAX:
        raise OutOfRangeError(f"INSERT row {row}: time {stamp} is out of range (a point's time is "
                              f"{POINT_TIME_MIN} to {POINT_TIME_MAX} nanoseconds since the epoch)")
    return f"{series_key(measurement, sorted(tag_pairs))} {','.join(field_parts)} {stamp}"
