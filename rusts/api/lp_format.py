"""Points back to line protocol: the canonical text of what was stored.

Used by `rusts wal tail` (change data capture) so that its output holds the
points a write stored, each on one line, never the lines it rejected.
"""

from rusts.core.hashing import escape_key, series_key
from rusts.core.types import FieldType, FieldValue, Point


def format_value(value: FieldValue) -> str:
    """A field value as line protocol writes it (floats in Python's shortest round-trip form)."""
    if value.type is FieldType.FLOAT:
        return repr(float(value.value))
    if value.type is FieldType.INTEGER:
        return f"{value.value}i"
    if value.type is FieldType.UNSIGNED:
        return f"{value.value}u"
    if value.type is FieldType.BOOLEAN:
        return "true" if value.value else "false"
    text = str(value.value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def format_point(point: Point) -> str:
    """One point as one line of line protocol with a nanosecond timestamp (no newline)."""
    key = series_key(point.measurement, [(t.key, t.value) for t in point.tags])
    fields = ",".join(f"{escape_key(f.key)}={format_value(f.value)}" for f in point.fields)
    return f"{key} {fields} {point.timestamp}"
