"""The query model: what a query asks for and what it returns, as msgspec Structs.

These Structs are also the JSON body of POST /query and its answer, so field
names are part of the wire contract. Example:

    {"measurement": "trips",
     "time_range": {"start": 1761955200000000000, "end": 1764547200000000000},
     "tag_filter": {"type": "eq", "key": "hvfhs_license_num", "value": "HV0003"},
     "fields": ["trip_miles", "tips"],
     "field_filter": [{"field": "tips", "op": ">", "value": 0}],
     "aggregations": [{"function": "mean", "field": "trip_miles", "alias": "avg_miles"}],
     "group_by": {"tags": ["hvfhs_license_num"], "time": {"interval": 3600000000000, "offset": 0},
                  "fill": "none"},
     "order": "asc", "limit": 10, "offset": 0}

Times are int64 nanoseconds; ranges are half-open [start, end). This module
stays interpreted: compiled Structs lose their class options.
"""

from typing import Any, Literal

import msgspec

from rusts.core.errors import QueryError


class _Model(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Common options: a misspelt key is an error, not silently ignored."""


class TimeRange(_Model):
    start: int | None = None
    end: int | None = None


class TagEq(_Model, tag="eq", tag_field="type"):
    key: str
    value: str


class TagNeq(_Model, tag="neq", tag_field="type"):
    key: str
    value: str


class TagRegex(_Model, tag="regex", tag_field="type"):
    key: str
    pattern: str


class TagNotRegex(_Model, tag="not_regex", tag_field="type"):
    key: str
    pattern: str


class TagIn(_Model, tag="in", tag_field="type"):
    key: str
    values: list[str]


class TagAnd(_Model, tag="and", tag_field="type"):
    predicates: "list[TagPredicate]"


class TagOr(_Model, tag="or", tag_field="type"):
    predicates: "list[TagPredicate]"


class TagNot(_Model, tag="not", tag_field="type"):
    predicate: "TagPredicate"


TagPredicate = TagEq | TagNeq | TagRegex | TagNotRegex | TagIn | TagAnd | TagOr | TagNot

ComparisonOp = Literal["=", "!=", "<", "<=", ">", ">="]


class FieldPredicate(_Model):
    """`field op value`; a row without the field does not match."""

    field: str
    op: ComparisonOp
    value: bool | int | float | str


AggregateFunction = Literal[
    "count", "sum", "mean", "min", "max", "first", "last", "stddev", "median", "percentile", "spread",
    "count_distinct",
]


class Aggregation(_Model):
    """An aggregate of one field ("*" for count of rows); count_distinct also takes a tag key."""

    function: AggregateFunction
    field: str
    alias: str | None = None
    p: float | None = None


class TimeGroup(_Model):
    """Buckets [offset + k * interval, offset + (k + 1) * interval)."""

    interval: int
    offset: int = 0


class FillValue(_Model):
    value: float | int


Fill = Literal["none", "null", "previous", "linear"] | FillValue


class GroupBy(_Model):
    tags: list[str] = msgspec.field(default_factory=list)
    time: TimeGroup | None = None
    fill: Fill = "none"


class Query(_Model):
    measurement: str
    time_range: TimeRange | None = None
    tag_filter: TagPredicate | None = None
    fields: list[str] | None = None
    field_filter: list[FieldPredicate] = msgspec.field(default_factory=list)
    aggregations: list[Aggregation] = msgspec.field(default_factory=list)
    group_by: GroupBy | None = None
    order: Literal["asc", "desc"] = "asc"
    limit: int | None = None
    offset: int = 0


class Column(msgspec.Struct):
    """A result column: name and type ("timestamp", "string", "float", "integer", "unsigned", "boolean")."""

    name: str
    type: str


class QueryResult(msgspec.Struct):
    columns: list[Column]
    rows: list[list[Any]]


_decoder = msgspec.json.Decoder(Query)


def parse_query(body: bytes | str) -> Query:
    """A Query from its JSON; QueryError saying what is wrong and where for bad JSON or shape."""
    try:
        return _decoder.decode(body)
    except msgspec.ValidationError as error:
        raise QueryError(f"invalid query: {error}") from None
    except msgspec.DecodeError as error:
        raise QueryError(f"query is not valid JSON: {error}") from None


def encode_result(result: QueryResult) -> bytes:
    return msgspec.json.encode(result)
