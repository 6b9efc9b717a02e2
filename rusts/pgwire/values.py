"""Values on the wire: result columns in text and binary format, parameters back into SQL literals.

Result types follow the seed's table: float -> FLOAT8, integer and unsigned -> INT8, string -> TEXT,
boolean -> BOOL, timestamp -> TIMESTAMPTZ. PostgreSQL timestamps hold microseconds, so RusTs's
nanosecond times are truncated (toward the past) to the microsecond on the wire; HTTP keeps all nine
digits. Parameters are turned into SQL literals of the type the statement needs, so the SQL layer
sees one language whether a value came inline or through Bind.
"""

import math
import struct
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Final

from rusts.core.pgtext import float_text, timestamp_text
from rusts.sql import intervals
from rusts.pgwire import types as t

Encoder = Callable[[object], bytes]

PG_EPOCH_US: Final = 946_684_800_000_000  # 2000-01-01T00:00:00Z in Unix microseconds
_I8: Final = struct.Struct("!q")
_I4: Final = struct.Struct("!i")
_U4: Final = struct.Struct("!I")
_I2: Final = struct.Struct("!h")
_F8: Final = struct.Struct("!d")
_F4: Final = struct.Struct("!f")
_INTERVAL: Final = struct.Struct("!qii")

COLUMN_OIDS: Final = {
    "timestamp": t.TIMESTAMPTZ, "string": t.TEXT, "float": t.FLOAT8, "integer": t.INT8, "unsigned": t.INT8,
    "boolean": t.BOOL, "interval": t.INTERVAL,
}
_INTEGERS: Final = frozenset({t.INT2, t.INT4, t.INT8, t.OID})
_FLOATS: Final = frozenset({t.FLOAT4, t.FLOAT8})
_TEXTS: Final = frozenset({t.TEXT, t.VARCHAR, t.BPCHAR, t.NAME, t.CHAR, t.UNKNOWN})
_TIMES: Final = frozenset({t.TIMESTAMPTZ, t.TIMESTAMP})
NUMERIC: Final = 1700
_ARRAY_ELEMENTS: Final = {
    t.BOOL_ARRAY: t.BOOL, t.NAME_ARRAY: t.NAME, t.INT2_ARRAY: t.INT2, t.INT4_ARRAY: t.INT4, t.TEXT_ARRAY: t.TEXT,
    t.INT8_ARRAY: t.INT8, t.FLOAT8_ARRAY: t.FLOAT8, t.OID_ARRAY: t.OID, t.INT2VECTOR: t.INT2, t.OIDVECTOR: t.OID,
}
# array parameters (`host = ANY($1)`): the types clients send a list as, and each one's element
_PARAMETER_ARRAYS: Final = {
    **_ARRAY_ELEMENTS, t.FLOAT4_ARRAY: t.FLOAT4, t.VARCHAR_ARRAY: t.VARCHAR, t.TIMESTAMPTZ_ARRAY: t.TIMESTAMPTZ,
    1115: t.TIMESTAMP,  # timestamp[]
}


class ValueError22(Exception):
    """A value that cannot be represented as asked (SQLSTATE given)."""

    def __init__(self, sqlstate: str, text: str) -> None:
        super().__init__(text)
        self.sqlstate = sqlstate


# ---- text format -------------------------------------------------------------------------------


def _text_of(oid: int) -> Encoder:
    if oid == t.BOOL:
        return lambda v: b"t" if v else b"f"
    if oid in _FLOATS:
        return lambda v: float_text(float(v)).encode()  # type: ignore[arg-type]
    if oid in _TIMES:
        return lambda v: timestamp_text(v).encode() if isinstance(v, int) else str(v).encode()
    if oid in _ARRAY_ELEMENTS:
        element = _text_of(_ARRAY_ELEMENTS[oid])
        if oid in (t.INT2VECTOR, t.OIDVECTOR):
            return lambda v: b" ".join(element(x) for x in v)  # type: ignore[attr-defined]
        return lambda v: _array_text(v, element)
    return lambda v: str(v).encode("utf-8")


def _array_text(values: object, element: Encoder) -> bytes:
    if not isinstance(values, (list, tuple)):
        return str(values).encode("utf-8")
    parts: list[bytes] = []
    for item in values:
        if item is None:
            parts.append(b"NULL")
            continue
        raw = element(item)
        if raw == b"" or raw.upper() == b"NULL" or any(c in raw for c in b' ,{}"\\\t\n'):
            raw = b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
        parts.append(raw)
    return b"{" + b",".join(parts) + b"}"


# ---- binary format -----------------------------------------------------------------------------


def _int8_binary(value: object) -> bytes:
    number = int(value)  # type: ignore[call-overload]
    if not -(1 << 63) <= number < (1 << 63):
        raise ValueError22("22003", f"value {number} is out of range for type bigint")
    return _I8.pack(number)


def _binary_of(oid: int) -> Encoder:
    if oid == t.BOOL:
        return lambda v: b"\x01" if v else b"\x00"
    if oid == t.INT8:
        return _int8_binary
    if oid == t.INT4:
        return lambda v: _I4.pack(int(v))  # type: ignore[call-overload]
    if oid == t.INT2:
        return lambda v: _I2.pack(int(v))  # type: ignore[call-overload]
    if oid in (t.OID, t.XID, t.REGCLASS, t.REGTYPE, t.REGPROC):
        return lambda v: _U4.pack(int(v))  # type: ignore[call-overload]
    if oid == t.FLOAT8:
        return lambda v: _F8.pack(float(v))  # type: ignore[arg-type]
    if oid == t.FLOAT4:
        return lambda v: _F4.pack(float(v))  # type: ignore[arg-type]
    if oid in _TIMES:
        return lambda v: _I8.pack(int(v) // 1000 - PG_EPOCH_US)  # type: ignore[call-overload]
    if oid == NUMERIC:
        return _numeric_binary
    if oid == t.INTERVAL:
        return lambda v: _INTERVAL.pack(*intervals.wire_parts(v)) if isinstance(v, intervals.Interval) else str(v).encode("utf-8")
    if oid in _ARRAY_ELEMENTS:
        element_oid = _ARRAY_ELEMENTS[oid]
        element = _binary_of(element_oid)
        return lambda v: _array_binary(v, element_oid, element)
    return lambda v: str(v).encode("utf-8")


def _numeric_binary(value: object) -> bytes:
    """numeric_send: digit count, weight and sign, display scale, then base-10000 digits."""
    number = Decimal(repr(value) if isinstance(value, float) else str(value))
    if number.is_nan():
        return struct.pack("!hhHh", 0, 0, 0xC000, 0)
    if number.is_infinite():
        return struct.pack("!hhHh", 0, 0, 0xD000 if number > 0 else 0xF000, 0)
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    scale = max(0, -exponent)
    text = "".join(map(str, digits))
    # Pad so that the decimal point falls on a 4-digit group boundary.
    integer_len = len(text) + exponent  # digits before the point (may be <= 0)
    left_pad = (-integer_len) % 4
    text = "0" * left_pad + text
    integer_groups = (integer_len + left_pad) // 4
    text += "0" * ((-len(text)) % 4)
    groups = [int(text[i:i + 4]) for i in range(0, len(text), 4)]
    weight = integer_groups - 1
    while groups and groups[0] == 0:
        groups.pop(0)
        weight -= 1
    while groups and groups[-1] == 0:
        groups.pop()
    if not groups:
        weight = 0
    header = struct.pack("!hhHh", len(groups), weight, 0x4000 if sign and groups else 0, scale)
    return header + b"".join(struct.pack("!H", group) for group in groups)


def _array_binary(values: object, element_oid: int, element: Encoder) -> bytes:
    items = list(values) if isinstance(values, (list, tuple)) else []
    has_null = any(item is None for item in items)
    parts = [_I4.pack(1 if items else 0), _I4.pack(1 if has_null else 0), _I4.pack(element_oid)]
    if items:
        parts.append(_I4.pack(len(items)) + _I4.pack(1))
    for item in items:
        if item is None:
            parts.append(_I4.pack(-1))
        else:
            raw = element(item)
            parts.append(_I4.pack(len(raw)) + raw)
    return b"".join(parts)


def encoders(oids: list[int], formats: list[int]) -> list[Encoder]:
    """One encoder per result column, for its format (0 text, 1 binary)."""
    return [_binary_of(oid) if fmt == 1 else _text_of(oid) for oid, fmt in zip(oids, formats)]


def data_row(row: list[object], encode: list[Encoder]) -> bytes:
    """The body of a DataRow message (without its type byte and length)."""
    parts = [_I2.pack(len(row))]
    for value, encoder in zip(row, encode):
        if value is None:
            parts.append(b"\xff\xff\xff\xff")
        else:
            raw = encoder(value)
            parts.append(_I4.pack(len(raw)) + raw)
    return b"".join(parts)


def result_formats(codes: list[int], count: int) -> list[int]:
    """The Bind message's result format codes expanded to one per column."""
    if not codes:
        return [0] * count
    if len(codes) == 1:
        return [codes[0]] * count
    if len(codes) != count:
        raise ValueError22("08P01", f"bind message has {len(codes)} result formats but the query has {count} columns")
    return list(codes)


# ---- parameters --------------------------------------------------------------------------------


def decode_binary_parameter(oid: int, raw: bytes, number: int) -> object:
    """A binary-format parameter as a Python value (int ns for timestamps)."""
    try:
        if oid == t.INT8:
            return int(_I8.unpack(raw)[0])
        if oid == t.INT4:
            return int(_I4.unpack(raw)[0])
        if oid == t.INT2:
            return int(_I2.unpack(raw)[0])
        if oid == t.OID:
            return int(_U4.unpack(raw)[0])
        if oid == t.FLOAT8:
            return float(_F8.unpack(raw)[0])
        if oid == t.FLOAT4:
            return float(_F4.unpack(raw)[0])
        if oid == t.BOOL:
            if len(raw) != 1:
                raise struct.error("bool is one byte")
            return raw != b"\x00"
        if oid in _TIMES:
            return Timestamp((int(_I8.unpack(raw)[0]) + PG_EPOCH_US) * 1000)
        if oid == t.DATE:  # days since 2000-01-01: that day's midnight (UTC)
            return Timestamp((int(_I4.unpack(raw)[0]) * 86_400_000_000 + PG_EPOCH_US) * 1000)
        if oid == t.INTERVAL:  # microseconds, days, months
            micros, days, months = _INTERVAL.unpack(raw)
            if months:
                raise ValueError22("0A000", f"parameter ${number}: an interval of months is not a fixed duration")
            return Interval(f"{int(days) * 86_400_000_000 + int(micros)} microseconds")
        if oid in _TEXTS or oid == 0:
            return raw.decode("utf-8")
        if oid in _PARAMETER_ARRAYS:
            return _binary_array(_PARAMETER_ARRAYS[oid], raw, number)
    except (struct.error, UnicodeDecodeError, IndexError):
        raise ValueError22("22P03", f"parameter ${number}: invalid binary value for type oid {oid}") from None
    raise ValueError22("0A000", f"parameter ${number}: binary format of type oid {oid} is not supported")


def _binary_array(element_oid: int, raw: bytes, number: int) -> list[object]:
    """A one-dimensional binary array: dimensions, has-null flag, element type, (length, lower bound) per
    dimension, then each element as a length (-1: NULL) and its bytes."""
    dimensions, _, sent_oid = struct.unpack_from("!iiI", raw, 0)
    if dimensions == 0:
        return []
    if dimensions != 1:
        raise ValueError22("0A000", f"parameter ${number}: an array of {dimensions} dimensions (only one)")
    if sent_oid != element_oid:
        raise struct.error("element type differs from the array's")
    length = int(_I4.unpack_from(raw, 12)[0])
    offset = 20
    values: list[object] = []
    for _ in range(length):
        size = int(_I4.unpack_from(raw, offset)[0])
        offset += 4
        if size < 0:
            values.append(None)
            continue
        if offset + size > len(raw):
            raise struct.error("element past the end")
        values.append(decode_binary_parameter(element_oid, raw[offset:offset + size], number))
        offset += size
    if offset != len(raw):
        raise struct.error("bytes after the last element")
    return values


def _array_literal(values: list[object]) -> str:
    """A list parameter as an array literal, '{a,"b c",NULL}' (each element as its text)."""
    parts: list[str] = []
    for value in values:
        if value is None:
            parts.append("NULL")
            continue
        if isinstance(value, Timestamp):
            text = timestamp_text(int(value))
        elif isinstance(value, bool):
            text = "t" if value else "f"
        elif isinstance(value, float):
            text = float_text(value)  # NaN and Infinity as PostgreSQL spells them
        else:
            text = str(value)
        parts.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "'{" + ",".join(parts).replace("'", "''") + "}'"


class Timestamp(int):
    """Nanoseconds since the epoch that arrived as a binary timestamp (or date) parameter."""


class Interval(str):
    """A fixed duration that arrived as a binary interval parameter, as interval text ('90 microseconds')."""


def _non_finite(value: float) -> str:
    """NaN or an infinity as PostgreSQL spells it, typed (a bare 'NaN' would be text)."""
    return f"'{float_text(value)}'::float8"


def literal(value: object, oid: int, number: int) -> str:
    """`value` (text-format str or decoded binary value) as an SQL literal of type `oid`."""
    if value is None:
        return "NULL"
    if isinstance(value, Timestamp):  # typed, so that `SELECT $1` answers a timestamptz
        return "'" + timestamp_text(int(value)) + "'::timestamptz"
    if isinstance(value, Interval):
        return f"'{value}'::interval"
    if isinstance(value, list):
        return _array_literal(value)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return _non_finite(value)
        if isinstance(value, float) and oid in _FLOATS:
            return f"{value!r}::float8"  # a double precision (it rounds halves to even), not a numeric
        return repr(value)
    text = str(value)
    if oid in _INTEGERS:
        try:
            return str(int(text.strip()))
        except ValueError:
            raise ValueError22("22P02", f'parameter ${number}: invalid input syntax for type bigint: "{text}"') from None
    if oid in _FLOATS or oid == NUMERIC:
        try:
            number_value = Decimal(text.strip())
        except InvalidOperation:
            raise ValueError22("22P02", f'parameter ${number}: invalid input syntax for type double precision: "{text}"') from None
        if not number_value.is_finite():
            return _non_finite(float(number_value))
        return f"{number_value}::float8" if oid in _FLOATS else str(number_value)
    if oid == t.BOOL:
        word = text.strip().lower()
        if word in ("t", "true", "yes", "y", "on", "1"):
            return "TRUE"
        if word in ("f", "false", "no", "n", "off", "0"):
            return "FALSE"
        raise ValueError22("22P02", f'parameter ${number}: invalid input syntax for type boolean: "{text}"')
    quoted = "'" + text.replace("'", "''") + "'"
    return quoted + "::timestamptz" if oid == t.TIMESTAMPTZ else quoted
