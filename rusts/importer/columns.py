"""Which column of an input file becomes what: the measurement's tags, its fields and the point time.

`plan_columns` checks a file's Arrow schema against what the user asked,
before a single row is read, so a schema error writes nothing. The type of
each column decides the field kind once, for the whole file:

    float16/32/64, decimal            float (decimals converted, so rounded to a double)
    int8..int64                       integer
    uint8..uint64                     unsigned
    bool                              boolean
    string, large_string, dictionary  string (a dictionary of strings)
    date32/64, timestamp[any, any tz] integer: nanoseconds since the epoch, UTC
    null (a column with no value)     nothing (never present)

The point time is a timestamp or date column of any unit and time zone,
converted to UTC nanoseconds, or an integer column read in the unit given by
`--timestamp-unit`. Anything else is refused with the column named.
"""

from typing import Any, Final

import pyarrow as pa

from rusts.core.errors import RustsError
from rusts.core.kinds import KIND_BOOLEAN, KIND_FLOAT, KIND_INTEGER, KIND_STRING, KIND_UNSIGNED

# Nanoseconds per unit of an integer timestamp column.
TIMESTAMP_UNITS: Final[dict[str, int]] = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
# Without --timestamp-column, the first of these the file has is the point time
# ("time" is what rusts-export writes, so an export imports back as it is).
DEFAULT_TIME_COLUMNS: Final = ("time", "timestamp")


class InputError(RustsError):
    """An input file that cannot be imported as asked: names the file and the column."""


class ImportSpec:
    """What the user asked for, before any file is opened."""

    def __init__(
        self,
        measurement: str,
        tags: list[str],
        timestamp_column: str | None = None,
        timestamp_unit: str | None = None,
        fields: list[str] | None = None,
        unique_time: bool = False,
        dedup_column: str | None = None,
    ) -> None:
        if not measurement:
            raise InputError("the measurement (-m) must not be empty")
        if timestamp_unit is not None and timestamp_unit not in TIMESTAMP_UNITS:
            raise InputError(f"unknown --timestamp-unit {timestamp_unit!r}: expected s, ms, us or ns")
        self.measurement = measurement
        self.tags = tags
        self.timestamp_column = timestamp_column
        self.timestamp_unit = timestamp_unit
        self.fields = fields
        self.unique_time = unique_time
        self.dedup_column = dedup_column


class ColumnPlan:
    """The columns of one file as the import uses them."""

    def __init__(self, time_column: str, time_multiplier: int, tags: list[str], fields: list[tuple[str, int]]) -> None:
        self.time_column = time_column
        # 0 for timestamp and date columns; nanoseconds per unit for integers.
        self.time_multiplier = time_multiplier
        self.tags = tags
        self.fields = fields
        self.dedup_is_tag = False


def field_kind(data_type: Any) -> int | None:
    """The field kind an Arrow type is stored as; None for the null type; -1 when it cannot be stored."""
    t = pa.types
    if t.is_dictionary(data_type):
        return field_kind(data_type.value_type)
    if t.is_null(data_type):
        return None
    if t.is_floating(data_type) or t.is_decimal(data_type):
        return KIND_FLOAT
    if t.is_signed_integer(data_type) or t.is_timestamp(data_type) or t.is_date(data_type):
        return KIND_INTEGER
    if t.is_unsigned_integer(data_type):
        return KIND_UNSIGNED
    if t.is_boolean(data_type):
        return KIND_BOOLEAN
    if t.is_string(data_type) or t.is_large_string(data_type):
        return KIND_STRING
    return -1


def _time_multiplier(spec: ImportSpec, name: str, data_type: Any, source: str) -> int:
    """0 for time types; nanoseconds per unit for an integer column (the unit must be given)."""
    t = pa.types
    if t.is_timestamp(data_type) or t.is_date(data_type):
        if spec.timestamp_unit is not None:
            raise InputError(
                f"{source}: --timestamp-unit applies to integer timestamp columns; {name!r} is {data_type}, "
                "which carries its own unit"
            )
        return 0
    if t.is_integer(data_type):
        if spec.timestamp_unit is None:
            raise InputError(
                f"{source}: timestamp column {name!r} holds integers ({data_type}); "
                "say what they count with --timestamp-unit s|ms|us|ns"
            )
        return TIMESTAMP_UNITS[spec.timestamp_unit]
    raise InputError(
        f"{source}: timestamp column {name!r} has type {data_type}; expected a timestamp, a date, "
        "or an integer with --timestamp-unit"
    )


def plan_columns(spec: ImportSpec, schema: Any, source: str) -> ColumnPlan:
    """The plan for a file with Arrow `schema`; InputError naming `source` and the column otherwise."""
    names: list[str] = list(schema.names)
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"{source}: column names repeat: {', '.join(repeated)}")
    time_column = spec.timestamp_column
    if time_column is None:
        time_column = next((n for n in DEFAULT_TIME_COLUMNS if n in names), None)
        if time_column is None:
            raise InputError(f"{source}: no column named 'time' or 'timestamp'; name the point time with --timestamp-column")
    asked = [time_column, *spec.tags, *(spec.fields or []), *([spec.dedup_column] if spec.dedup_column else [])]
    for name in asked:
        if name not in names:
            raise InputError(f"{source}: no column {name!r} (its columns: {', '.join(names)})")
    if time_column in spec.tags:
        raise InputError(f"{source}: column {time_column!r} cannot be both the timestamp and a tag")
    multiplier = _time_multiplier(spec, time_column, schema.field(time_column).type, source)
    for name in spec.tags:
        kind = field_kind(schema.field(name).type)
        if kind is None or kind == -1 or kind == KIND_FLOAT:
            raise InputError(f"{source}: tag column {name!r} has type {schema.field(name).type}; tags take strings, integers, booleans or times")
    field_names = spec.fields if spec.fields is not None else [n for n in names if n != time_column and n not in spec.tags]
    fields: list[tuple[str, int]] = []
    for name in field_names:
        if name in spec.tags or name == time_column:
            raise InputError(f"{source}: column {name!r} is listed in --fields and is also the timestamp or a tag")
        kind = field_kind(schema.field(name).type)
        if kind == -1:
            raise InputError(
                f"{source}: column {name!r} has type {schema.field(name).type}, which cannot be stored as a field; "
                "leave it out with --fields"
            )
        if kind is not None:
            fields.append((name, kind))
    if not fields:
        raise InputError(f"{source}: no field column left (every column is the timestamp, a tag or empty)")
    plan = ColumnPlan(time_column, multiplier, list(spec.tags), fields)
    if spec.dedup_column is not None:
        if spec.dedup_column == time_column:
            raise InputError(f"{source}: --dedup-column cannot be the timestamp column")
        plan.dedup_is_tag = spec.dedup_column in spec.tags
        if not plan.dedup_is_tag and spec.dedup_column not in dict(fields):
            raise InputError(f"{source}: --dedup-column {spec.dedup_column!r} is neither a tag nor an imported field")
    return plan
