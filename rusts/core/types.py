"""The data model: Timestamp, SeriesId, Tag, Field, FieldValue, Point, Series, TimeRange.

These msgspec Structs are both the Python model and the wire format (JSON and
MessagePack) at the edges. This module stays interpreted: a Struct defined in
a mypyc-compiled module silently loses its class options (frozen, array_like).
Hot paths do not build Points one by one; the line-protocol parser produces
columnar batches (rusts.api.line_protocol) and converts to Points only on request.
"""

import enum
import math
from typing import Annotated, TypeAlias

import msgspec

from rusts.core.hashing import series_id as _series_id
from rusts.core.hashing import series_key as _series_key

# Nanoseconds since the Unix epoch, UTC. Fits i64: years 1677 to 2262.
Timestamp: TypeAlias = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
# u64 hash of the canonical series key; see rusts.core.hashing.
SeriesId: TypeAlias = Annotated[int, msgspec.Meta(ge=0, le=2**64 - 1)]

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1
U64_MAX = 2**64 - 1


class FieldType(enum.Enum):
    """The five field types, named as InfluxDB names them."""

    FLOAT = "float"
    INTEGER = "integer"
    UNSIGNED = "unsigned"
    STRING = "string"
    BOOLEAN = "boolean"


class FieldValue(msgspec.Struct, frozen=True):
    """One typed field value. `type` decides how `value` is read.

    Encoded as {"type": "float", "value": 1.5}. Construction checks that the
    value fits its type (an unsigned value is an int in [0, 2**64-1], ...).
    """

    type: FieldType
    value: float | int | str | bool

    def __post_init__(self) -> None:
        problem = _check_value(self.type, self.value)
        if problem:
            raise ValueError(f"bad {self.type.value} field value {self.value!r}: {problem}")

    @classmethod
    def float(cls, value: float) -> "FieldValue":
        return cls(FieldType.FLOAT, float(value))

    @classmethod
    def integer(cls, value: int) -> "FieldValue":
        return cls(FieldType.INTEGER, value)

    @classmethod
    def unsigned(cls, value: int) -> "FieldValue":
        return cls(FieldType.UNSIGNED, value)

    @classmethod
    def string(cls, value: str) -> "FieldValue":
        return cls(FieldType.STRING, value)

    @classmethod
    def boolean(cls, value: bool) -> "FieldValue":
        return cls(FieldType.BOOLEAN, value)


def _check_value(kind: FieldType, value: object) -> str:
    """Empty when `value` is valid for `kind`, else what is wrong."""
    if kind is FieldType.FLOAT:
        if isinstance(value, bool) or not isinstance(value, (float, int)):
            return "expected a float"
        if isinstance(value, float) and not math.isfinite(value):
            return "NaN and infinity cannot be stored"
        return ""
    if kind is FieldType.BOOLEAN:
        return "" if isinstance(value, bool) else "expected a boolean"
    if kind is FieldType.STRING:
        return "" if isinstance(value, str) else "expected a string"
    if isinstance(value, bool) or not isinstance(value, int):
        return "expected an integer"
    if kind is FieldType.INTEGER and not I64_MIN <= value <= I64_MAX:
        return "out of range for a signed 64-bit integer"
    if kind is FieldType.UNSIGNED and not 0 <= value <= U64_MAX:
        return "out of range for an unsigned 64-bit integer"
    return ""


class Tag(msgspec.Struct, frozen=True, order=True):
    """A tag: an indexed string key/value pair that identifies a series."""

    key: str
    value: str


class Field(msgspec.Struct, frozen=True):
    """A named field value of one point."""

    key: str
    value: FieldValue


class TimeRange(msgspec.Struct, frozen=True):
    """The half-open range [start, end) of timestamps in nanoseconds."""

    start: Timestamp = I64_MIN
    end: Timestamp = I64_MAX

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"time range start {self.start} is after its end {self.end}")

    def contains(self, ts: int) -> bool:
        return self.start <= ts < self.end

    def overlaps(self, other: "TimeRange") -> bool:
        return self.start < other.end and other.start < self.end

    @property
    def is_empty(self) -> bool:
        return self.start >= self.end


class Series(msgspec.Struct, frozen=True):
    """A measurement and tag set, with the id derived from them."""

    id: SeriesId
    measurement: str
    tags: tuple[Tag, ...]

    @classmethod
    def of(cls, measurement: str, tags: dict[str, str] | list[Tag] | tuple[Tag, ...]) -> "Series":
        pairs = sorted(tags.items()) if isinstance(tags, dict) else sorted((t.key, t.value) for t in tags)
        return cls(
            _series_id(measurement, pairs),
            measurement,
            tuple(Tag(k, v) for k, v in pairs),
        )

    @property
    def key(self) -> str:
        return _series_key(self.measurement, [(t.key, t.value) for t in self.tags])


class Point(msgspec.Struct, frozen=True):
    """One point: a measurement, its tags (sorted by key), fields and a timestamp."""

    measurement: str
    tags: tuple[Tag, ...]
    fields: tuple[Field, ...]
    timestamp: Timestamp

    def __post_init__(self) -> None:
        if not self.measurement:
            raise ValueError("a point needs a measurement name")
        if not self.fields:
            raise ValueError("a point needs at least one field")

    @property
    def series_id(self) -> int:
        return _series_id(self.measurement, [(t.key, t.value) for t in self.tags])

    @property
    def series_key(self) -> str:
        return _series_key(self.measurement, [(t.key, t.value) for t in self.tags])

    def field_dict(self) -> dict[str, FieldValue]:
        return {f.key: f.value for f in self.fields}
