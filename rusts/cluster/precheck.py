"""Field kinds of a write body read from its text, so that the coordinator can skip its full parse.

The coordinator needs two things from a body before it forwards it: lines it must refuse, and each
field's kind, to keep a field's first type cluster-wide (rusts.cluster.schema). Bad lines are
refused by the holders too (the same parser; their refusals come back with the client's line
numbers), so for a body whose kinds are plain to see, the coordinator's parse is not needed. It is
most of a coordinator's CPU in pure Python.

`scan_kinds(body)` reads each record of a body in the simple form, one record per line:

    measurement[,tag=value...] field=value[,field=value...] [timestamp]

with no backslash, CR or tab anywhere, single spaces between sections, no quote in the series
section and no space, comma or equals sign inside a quoted string. A value's kind follows the
parser's rules for the values it accepts: a leading quote is a string, a final `i` an integer, a
final `u` an unsigned integer, `t T true True TRUE f F false False FALSE` a boolean, anything else a
float. (For a value the parser refuses the kind may be wrong: the holders refuse that line, and
the coordinator registers nothing from refused lines.) Any record outside the simple form makes it
return None: the caller parses the body fully.
"""

import re

from rusts.cluster.sharding import series_of
from rusts.core.kinds import KIND_BOOLEAN, KIND_FLOAT, KIND_INTEGER, KIND_STRING, KIND_UNSIGNED

_VALUE = r'(?:"[^"\\,= ]*"|[^,"= ]*)'
_FIELDS = re.compile(rf"[^=,\" ]+={_VALUE}(?:,[^=,\" ]+={_VALUE})*")
_FIELD = re.compile(rf"([^=,\" ]+)=({_VALUE})")
_TIMESTAMP = re.compile(r"-?[0-9]+")
_BOOLEANS = frozenset(("t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"))


class ScannedRecord:
    """One record of a simple body: its line, series and fields with their kinds."""

    __slots__ = ("line", "measurement", "tags", "key", "fields")

    def __init__(self, line: int, measurement: str, tags: list[tuple[str, str]], key: str, fields: list[tuple[str, int]]) -> None:
        self.line = line
        self.measurement = measurement
        self.tags = tags
        self.key = key
        self.fields = fields


def kind_of(value: str) -> int:
    """The kind the parser gives `value` when it accepts it."""
    if value.startswith('"'):
        return KIND_STRING
    if value.endswith("i"):
        return KIND_INTEGER
    if value.endswith("u"):
        return KIND_UNSIGNED
    if value in _BOOLEANS:
        return KIND_BOOLEAN
    return KIND_FLOAT


def scan_kinds(body: bytes) -> list[ScannedRecord] | None:
    """Every record's series and field kinds, or None when the body is not all in the simple form."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\\" in text or "\r" in text or "\t" in text:
        return None
    records: list[ScannedRecord] = []
    series: dict[str, tuple[str, list[tuple[str, str]], str]] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line or line[0] == "#":
            continue
        tokens = line.split(" ")
        if len(tokens) not in (2, 3) or not tokens[0] or '"' in tokens[0]:
            return None
        if len(tokens) == 3 and _TIMESTAMP.fullmatch(tokens[2]) is None:
            return None
        known = series.get(tokens[0])
        if known is None:
            found = series_of(tokens[0], number)
            if found is None:
                return None
            known = series[tokens[0]] = found
        section = tokens[1]
        if _FIELDS.fullmatch(section) is None:
            return None
        fields = [(name, kind_of(value)) for name, value in _FIELD.findall(section)]
        records.append(ScannedRecord(number, known[0], known[1], known[2], fields))
    return records
