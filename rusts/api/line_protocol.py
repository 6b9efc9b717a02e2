"""InfluxDB line protocol parser producing per-series columnar batches.

Grammar (one point per line; the InfluxDB line protocol reference):

    measurement[,tag_key=tag_value...] field_key=field_value[,...] [timestamp]

- Measurement: ends at an unescaped comma or space; `\\,`, `\\ ` and `\\\\`
  escape (two backslashes are one, even before a comma or space).
- Tag keys, tag values, field keys: end at an unescaped comma, equals sign or
  space; `\\,`, `\\=`, `\\ ` and `\\\\` escape. A backslash before any other
  character is kept literally together with that character. A tab is part
  of a name, not a separator (as InfluxDB reads it).
- Names starting with `_` (measurement, tag keys, field keys) are reserved,
  as InfluxDB reserves them; `time` is refused as a tag or field key.
- Field values: `1.5`, `-1e3` (float), `7i` (integer), `7u` (unsigned),
  `t T true True TRUE f F false False FALSE` (boolean), `"text"` (string;
  inside quotes `\\"` and `\\\\` escape, other backslashes are literal, and
  a newline inside the quotes is part of the value; at most 64 KB of UTF-8).
  NaN and infinity are not numbers in line protocol.
- Timestamp: optional signed integer in the request's precision (ns, us, ms,
  s); without one the server's clock stamps the point. In nanoseconds it
  must lie in -9223372036854775806..9223372036854775806 (the i64 ends mean
  "no bound" to queries).
- Sections are separated by a space, after which more spaces and tabs are skipped;
  blank lines and lines starting with `#` are skipped; CRLF is accepted.
- Rejected per line, never per batch: missing measurement, fields or values,
  empty keys, duplicate tag keys, the reserved key `time`, numbers out of
  range, malformed numbers or booleans, an unterminated string, a trailing
  backslash, invalid UTF-8, and a field whose type differs from the type it
  has earlier in the same batch for the same series. A field key repeated in
  one line keeps its last value.

How it is fast: most lines carry no backslash. Those take a split-based path
that stores only the raw text of each line's field set per series; at the
end each series decodes all its rows at once with numpy and pyarrow
(rusts.api.lp_columns), skipping per-value Python objects. Anything that
does not fit that path, or fails its checks, is parsed again line by line by
the general scanner below, which is the reference for every error message.
"""

from typing import Any

import numpy as np
from librt.vecs import append, vec
from mypy_extensions import i64
from numpy.typing import NDArray

from rusts.api import parse_pool
from rusts.core.errors import LineProtocolError
from rusts.core.hashing import KEY_SPECIALS, NAME_SPECIALS, scan_token, series_id_of_key, series_key, tags_of_key, unescape
from rusts.core.kinds import (
    KIND_BOOLEAN,
    KIND_FLOAT,
    KIND_INTEGER,
    KIND_NAMES,
    KIND_STRING,
    KIND_UNSIGNED,
    POINT_TIME_MAX,
    POINT_TIME_MIN,
)
from rusts.storage.columns import Column

PRECISION_MULTIPLIERS: dict[str, int] = {
    "ns": 1,
    "n": 1,
    "us": 1_000,
    "u": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
}

# The longest string field value, in UTF-8 bytes: line protocol's documented limit of 64 KB.
MAX_STRING_BYTES = 65536
# The longest series key (measurement and tags as written) and field key, in UTF-8 bytes (InfluxDB's limit).
MAX_KEY_BYTES = 65535
I64_MIN = -(2**63)
I64_MAX = 2**63 - 1
U64_MAX = 2**64 - 1

_TRUE_WORDS: frozenset[str] = frozenset(("t", "T", "true", "True", "TRUE"))
_FALSE_WORDS: frozenset[str] = frozenset(("f", "F", "false", "False", "FALSE"))


# One field of one series in a batch: the storage engine's Column (values a numpy array, or a list
# of str; `present` None when every row carries the field), so the engine keeps it as it is.
FieldColumn = Column


class SeriesBatch:
    """The rows of one series in a batch, in line order.

    `lines` holds the 1-based line number of each row, so a later stage can
    reject a row (for example a type conflict with stored data) by line.
    `tags` is None for a batch a parse worker sent: workers send series keys
    only (tags are 3 of every 4 objects of a many-series body's heads, and the
    engine needs them only for a series it does not know yet); sorted_tags()
    reads them back from the key then.
    """

    key: str
    measurement: str
    tags: list[tuple[str, str]] | None
    timestamps: NDArray[np.int64]
    lines: NDArray[np.int64]
    columns: dict[str, FieldColumn]

    def __init__(
        self,
        key: str,
        measurement: str,
        tags: list[tuple[str, str]] | None,
        timestamps: NDArray[np.int64],
        lines: NDArray[np.int64],
        columns: dict[str, FieldColumn],
    ) -> None:
        self.key = key
        self.measurement = measurement
        self.tags = tags
        self.timestamps = timestamps
        self.lines = lines
        self.columns = columns

    @property
    def series_id(self) -> int:
        """The SeriesId of the key (hashed when asked: the engine takes ids from its index)."""
        return series_id_of_key(self.key)

    def sorted_tags(self) -> list[tuple[str, str]]:
        """The series' tags, sorted by key (read from the key when the batch came without them)."""
        tags = self.tags
        if tags is None:
            tags = self.tags = tags_of_key(self.key)[1]
        return tags

    def __len__(self) -> int:
        return len(self.timestamps)

    @property
    def field_value_count(self) -> int:
        total = 0
        for column in self.columns.values():
            total += len(self.timestamps) if column.present is None else int(column.present.sum())
        return total


class ParseResult:
    """What `parse_lines_ok` found: the good rows by series, and one error per bad line."""

    series: list[SeriesBatch]
    errors: list[LineProtocolError]

    def __init__(self, series: list[SeriesBatch], errors: list[LineProtocolError]) -> None:
        self.series = series
        self.errors = errors

    @property
    def point_count(self) -> int:
        total = 0
        for batch in self.series:
            total += len(batch.timestamps)
        return total

    @property
    def field_value_count(self) -> int:
        total = 0
        for batch in self.series:
            total += batch.field_value_count
        return total

    def points(self) -> list[Any]:
        """The rows as rusts.core.types.Point objects, in line order (slow; for tests and small batches)."""
        from rusts.api.lp_columns import batch_points

        ordered: list[tuple[int, Any]] = []
        for batch in self.series:
            lines = batch.lines.tolist()
            for row, point in enumerate(batch_points(batch)):
                ordered.append((lines[row], point))
        ordered.sort(key=_first_item)
        return [point for _, point in ordered]


class ParsedLine:
    """One line parsed by the general scanner."""

    measurement: str
    tags: list[tuple[str, str]]
    fields: dict[str, tuple[int, object]]
    timestamp: int
    has_timestamp: bool

    def __init__(
        self,
        measurement: str,
        tags: list[tuple[str, str]],
        fields: dict[str, tuple[int, object]],
        timestamp: int,
        has_timestamp: bool,
    ) -> None:
        self.measurement = measurement
        self.tags = tags
        self.fields = fields
        self.timestamp = timestamp
        self.has_timestamp = has_timestamp


class _Unterminated(Exception):
    """A string field value still open at the end of the line: the next line continues it.

    `column` is the 1-based column of its opening quote.
    """

    def __init__(self, column: int) -> None:
        super().__init__(column)
        self.column = column


# ---------------------------------------------------------------------------
# The general scanner: every line it accepts or rejects is the reference.


def _is_space(c: str) -> bool:
    return c == " " or c == "\t"


def _check_trailing_backslash(line: str, start: int, end: int, lineno: int, what: str) -> None:
    """A backslash that escapes the end of a token, or of the line, is a bad escape."""
    backslashes = 0
    i = end - 1
    while i >= start and line[i] == "\\":
        backslashes += 1
        i -= 1
    if backslashes % 2 == 1 and end >= len(line):
        raise LineProtocolError(lineno, end, f"bad escape: a backslash ends the {what}")


def parse_series_part(line: str, lineno: int) -> tuple[str, list[tuple[str, str]], int]:
    """Parse `measurement[,k=v...]`; returns name, sorted tags, and the index after it."""
    end_measurement = scan_token(line, 0, ", ")
    _check_trailing_backslash(line, 0, end_measurement, lineno, "measurement")
    measurement = unescape(line[:end_measurement], NAME_SPECIALS)
    if not measurement:
        raise LineProtocolError(lineno, 1, "missing measurement name")
    if measurement[0] == "_":
        raise LineProtocolError(lineno, 1, f"measurement name {measurement!r} starts with '_', which is reserved")
    tags: list[tuple[str, str]] = []
    i = end_measurement
    n = len(line)
    while i < n and line[i] == ",":
        key_start = i + 1
        key_end = scan_token(line, key_start, ",= ")
        if key_end >= n or line[key_end] != "=":
            raise LineProtocolError(lineno, key_start + 1, "missing tag value: expected key=value after ','")
        if key_end == key_start:
            raise LineProtocolError(lineno, key_start + 1, "empty tag key")
        value_start = key_end + 1
        value_end = scan_token(line, value_start, ",= ")
        _check_trailing_backslash(line, value_start, value_end, lineno, "tag value")
        if value_end == value_start:
            raise LineProtocolError(lineno, value_start + 1, "missing tag value")
        if value_end < n and line[value_end] == "=":
            raise LineProtocolError(lineno, value_end + 1, "unescaped '=' in tag value")
        key = unescape(line[key_start:key_end], KEY_SPECIALS)
        if key == "time":
            raise LineProtocolError(lineno, key_start + 1, "tag key 'time' is reserved")
        if key[0] == "_":
            raise LineProtocolError(lineno, key_start + 1, f"tag key {key!r} starts with '_', which is reserved")
        tags.append((key, unescape(line[value_start:value_end], KEY_SPECIALS)))
        i = value_end
    if i > MAX_KEY_BYTES // 4 and len(line[:i].encode("utf-8")) > MAX_KEY_BYTES:
        raise LineProtocolError(lineno, 1, f"the measurement and tags are longer than {MAX_KEY_BYTES} bytes, the limit of a series key")
    if len(tags) > 1:
        tags.sort()
        for t in range(1, len(tags)):
            if tags[t][0] == tags[t - 1][0]:
                raise LineProtocolError(lineno, _repeated_key_column(line, end_measurement, tags[t][0]),
                                        f"duplicate tag key {tags[t][0]!r}")
    return measurement, tags, i


def _repeated_key_column(line: str, start: int, repeated: str) -> int:
    """The 1-based column of the second tag key `repeated` in the tag set starting at `start`."""
    seen = False
    i = start
    while i < len(line) and line[i] == ",":
        key_end = scan_token(line, i + 1, ",= ")
        if unescape(line[i + 1 : key_end], KEY_SPECIALS) == repeated:
            if seen:
                return i + 2
            seen = True
        i = scan_token(line, key_end + 1, ",= ")
    return 0


def _is_digits(text: str, start: int, end: int) -> bool:
    if end <= start:
        return False
    for i in range(start, end):
        c = text[i]
        if c < "0" or c > "9":
            return False
    return True


def is_decimal_float(text: str) -> bool:
    """`-?(digits[.digits*] | .digits)([eE][+-]?digits)?`: line protocol's float syntax."""
    n = len(text)
    i = 1 if n > 0 and text[0] == "-" else 0
    mantissa_end = n
    for j in range(i, n):
        if text[j] == "e" or text[j] == "E":
            mantissa_end = j
            break
    dot = text.find(".", i, mantissa_end)
    if dot < 0:
        if not _is_digits(text, i, mantissa_end):
            return False
    else:
        int_ok = dot == i or _is_digits(text, i, dot)
        frac_ok = dot + 1 == mantissa_end or _is_digits(text, dot + 1, mantissa_end)
        if not (int_ok and frac_ok) or (dot == i and dot + 1 == mantissa_end):
            return False
    if mantissa_end == n:
        return True
    k = mantissa_end + 1
    if k < n and (text[k] == "+" or text[k] == "-"):
        k += 1
    return _is_digits(text, k, n)


def parse_field_value(raw: str, lineno: int, column: int, key: str) -> tuple[int, object]:
    """Type and value of an unquoted field value (strings are handled by the caller)."""
    if not raw:
        raise LineProtocolError(lineno, column, f"missing value for field {key!r}")
    last = raw[-1]
    if last == "i" or last == "u":
        digits = raw[:-1]
        start = 1 if digits.startswith("-") else 0
        if not _is_digits(digits, start, len(digits)):
            raise LineProtocolError(lineno, column, f"invalid field value {raw!r} for field {key!r}")
        number = int(digits)
        if last == "i":
            if number < I64_MIN or number > I64_MAX:
                raise LineProtocolError(lineno, column, f"integer value {raw!r} for field {key!r} is out of range for a signed 64-bit integer")
            return KIND_INTEGER, number
        if start == 1 or number > U64_MAX:
            raise LineProtocolError(lineno, column, f"unsigned value {raw!r} for field {key!r} is out of range for an unsigned 64-bit integer")
        return KIND_UNSIGNED, number
    if raw in _TRUE_WORDS:
        return KIND_BOOLEAN, True
    if raw in _FALSE_WORDS:
        return KIND_BOOLEAN, False
    if not is_decimal_float(raw):
        raise LineProtocolError(lineno, column, f"invalid field value {raw!r} for field {key!r}")
    value = float(raw)
    if value == float("inf") or value == float("-inf"):
        raise LineProtocolError(lineno, column, f"float value {raw!r} for field {key!r} is out of range")
    return KIND_FLOAT, value


def _scan_string(line: str, start: int, lineno: int) -> tuple[str, int]:
    """Parse a quoted string whose opening quote is at `start`; returns value and index after it."""
    i = start + 1
    n = len(line)
    out: list[str] = []
    plain_from = i
    while i < n:
        c = line[i]
        if c == "\\" and i + 1 < n and (line[i + 1] == '"' or line[i + 1] == "\\"):
            out.append(line[plain_from:i])
            out.append(line[i + 1])
            i += 2
            plain_from = i
            continue
        if c == '"':
            out.append(line[plain_from:i])
            return "".join(out), i + 1
        i += 1
    raise _Unterminated(start + 1)


def parse_field_set(line: str, start: int, lineno: int) -> tuple[dict[str, tuple[int, object]], int]:
    """Parse `k=v[,k=v...]` from `start`; returns the fields and the index after them."""
    fields: dict[str, tuple[int, object]] = {}
    i = start
    n = len(line)
    while True:
        key_end = scan_token(line, i, ",= ")
        if key_end >= n or line[key_end] != "=":
            if key_end == i:
                raise LineProtocolError(lineno, i + 1, "missing field key")
            raise LineProtocolError(lineno, i + 1, "missing '=' after field key")
        if key_end == i:
            raise LineProtocolError(lineno, i + 1, "empty field key")
        key = unescape(line[i:key_end], KEY_SPECIALS)
        if len(key) > MAX_KEY_BYTES // 4 and len(key.encode("utf-8")) > MAX_KEY_BYTES:
            raise LineProtocolError(lineno, i + 1, f"field key is longer than {MAX_KEY_BYTES} bytes")
        if key == "time":
            raise LineProtocolError(lineno, i + 1, "field key 'time' is reserved")
        if key[0] == "_":
            raise LineProtocolError(lineno, i + 1, f"field key {key!r} starts with '_', which is reserved")
        value_start = key_end + 1
        if value_start < n and line[value_start] == '"':
            text, i = _scan_string(line, value_start, lineno)
            if len(text) > MAX_STRING_BYTES // 4 and len(text.encode("utf-8")) > MAX_STRING_BYTES:
                raise LineProtocolError(lineno, value_start + 1, f"string value of field {key!r} is longer than "
                                        f"the limit of {MAX_STRING_BYTES} bytes (64 KB)")
            fields[key] = (KIND_STRING, text)
        else:
            value_end = value_start
            while value_end < n and line[value_end] != "," and line[value_end] != " " and line[value_end] != "\t":
                value_end += 1
            fields[key] = parse_field_value(line[value_start:value_end], lineno, value_start + 1, key)
            i = value_end
        if i >= n or line[i] != ",":
            return fields, i
        i += 1


def parse_timestamp(raw: str, multiplier: int, lineno: int, column: int) -> int:
    """A timestamp in the request's precision, as nanoseconds."""
    start = 1 if raw.startswith("-") else 0
    if not _is_digits(raw, start, len(raw)):
        raise LineProtocolError(lineno, column, f"invalid timestamp {raw!r}")
    value = int(raw) * multiplier
    if value < POINT_TIME_MIN or value > POINT_TIME_MAX:
        raise LineProtocolError(
            lineno, column, f"timestamp {raw!r} is out of range: a point's time is {POINT_TIME_MIN} to "
            f"{POINT_TIME_MAX} nanoseconds since the epoch (1677-09-21 to 2262-04-11)")
    return value


def _tab_hint(line: str, series_end: int) -> str:
    """What to add to an error when a tab in the series section may have been meant as a separator."""
    return " (a tab in the measurement or tags is part of the name: sections are separated by spaces)" if "\t" in line[:series_end] else ""


def parse_line(line: str, lineno: int, multiplier: int) -> ParsedLine:
    """Parse one line (no leading whitespace, not a comment) or raise LineProtocolError.

    Raises _Unterminated when a quoted string runs past the end of the line.
    """
    measurement, tags, i = parse_series_part(line, lineno)
    n = len(line)
    if i >= n:
        raise LineProtocolError(lineno, i + 1, f"missing fields: expected a space after the measurement and tags{_tab_hint(line, i)}")
    series_end = i
    while i < n and _is_space(line[i]):
        i += 1
    if i >= n:
        raise LineProtocolError(lineno, i + 1, "missing fields: expected key=value after the space")
    try:
        fields, i = parse_field_set(line, i, lineno)
    except LineProtocolError as exc:
        hint = _tab_hint(line, series_end)
        if not hint:
            raise
        raise LineProtocolError(lineno, exc.column, exc.message + hint) from None
    if i < n and not _is_space(line[i]):
        raise LineProtocolError(lineno, i + 1, f"unexpected {line[i]!r} after field value")
    while i < n and _is_space(line[i]):
        i += 1
    if i >= n:
        return ParsedLine(measurement, tags, fields, 0, False)
    ts_end = i
    while ts_end < n and not _is_space(line[ts_end]):
        ts_end += 1
    timestamp = parse_timestamp(line[i:ts_end], multiplier, lineno, i + 1)
    rest = ts_end
    while rest < n and _is_space(line[rest]):
        rest += 1
    if rest < n:
        raise LineProtocolError(lineno, rest + 1, "unexpected text after the timestamp")
    return ParsedLine(measurement, tags, fields, timestamp, True)


# ---------------------------------------------------------------------------
# Batches: per-series accumulation, then columnar finalisation.


class Layout:
    """A sequence of field keys, and where each fast row with exactly those keys keeps its values.

    `values` holds, row after row, for each column the byte offset in the
    body and the length of the raw value (quotes and type suffixes
    included); `rows` holds the fast row ids. Rows of any series share a
    layout; the decoder types and checks each column as a whole.
    """

    keys: list[str]
    key_lengths: vec[i64]
    values: vec[i64]
    rows: vec[i64]

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        lengths = vec[i64]()
        for key in keys:
            lengths = append(lengths, len(key))
        self.key_lengths = lengths
        self.values = vec[i64]()
        self.rows = vec[i64]()

    def take(self, line: str, start: i64, end: i64, base: i64) -> bool:
        """Record the values of line[start:end] if its keys are this layout's; False records nothing.

        The line is ASCII and backslash-free, so string values end at the next quote.
        """
        # Character loops over i64 indexes and slice comparison, not
        # str.startswith/str.find: mypyc compiles `line[i] == "x"` to a direct
        # read, while those methods cost a generic call each (measured: the
        # take loop went from 8.5 to under 3 us a line). `values` is a local
        # copy: a failed take simply does not store it back.
        keys = self.keys
        key_lengths = self.key_lengths
        values = self.values
        count: i64 = len(keys)
        pos: i64 = start
        for j in range(count):
            key = keys[j]
            key_end: i64 = pos + key_lengths[j]
            if key_end >= end or line[key_end] != "=":
                return False
            if line[pos:key_end] != key:
                return False
            value_start: i64 = key_end + 1
            value_end: i64 = value_start
            if value_start < end and line[value_start] == '"':
                value_end += 1
                while value_end < end and line[value_end] != '"':
                    value_end += 1
                value_end = value_end + 1 if value_end < end else end
            else:
                while value_end < end and line[value_end] != ",":
                    value_end += 1
            last = j == count - 1
            if value_end == value_start or last != (value_end == end) or (not last and line[value_end] != ","):
                return False
            values = append(values, base + value_start)
            values = append(values, value_end - value_start)
            pos = value_end + 1
        self.values = values
        return True


class SeriesRows:
    """One series seen in a body: its identity, the rows the general scanner
    parsed, and the layout its last fast row used."""

    ordinal: int
    key: str
    measurement: str
    tags: list[tuple[str, str]]
    general: list[ParsedLine]
    general_lines: list[int]
    layout: Layout | None

    def __init__(self, ordinal: int, key: str, measurement: str, tags: list[tuple[str, str]]) -> None:
        self.ordinal = ordinal
        self.key = key
        self.measurement = measurement
        self.tags = tags
        self.general = []
        self.general_lines = []
        self.layout = None


class FastRows:
    """Backslash-free ASCII lines whose values are decoded later, a column at a time.

    Row r has its timestamp in nanoseconds, line number, series ordinal and
    full text (for the general scanner when decoding fails); its values sit
    in the body at the offsets its Layout recorded. The vecs hand their
    memory to numpy without a copy.
    """

    times: vec[i64]
    lines: vec[i64]
    series: vec[i64]
    texts: list[str]
    layouts: dict[str, Layout]

    def __init__(self) -> None:
        self.times = vec[i64]()
        self.lines = vec[i64]()
        self.series = vec[i64]()
        self.texts = []
        self.layouts = {}


def field_keys(fields: str) -> list[str] | None:
    """The field keys of a backslash-free field section; None when they cannot form a layout.

    Quoted values are skipped whole, so commas and equals signs in strings
    do not split keys. Keys with spaces or quotes, empty keys, repeated keys
    and `time` are left to the general scanner.
    """
    keys: list[str] = []
    pos = 0
    n = len(fields)
    while pos < n:
        equals = fields.find("=", pos)
        if equals <= pos:
            return None
        key = fields[pos:equals]
        if " " in key or '"' in key or "," in key or key == "time" or key[0] == "_" or len(key) > MAX_KEY_BYTES:
            return None
        keys.append(key)
        value = equals + 1
        if value < n and fields[value] == '"':
            closing = fields.find('"', value + 1)
            value = n if closing < 0 else closing + 1
        comma = fields.find(",", value)
        if comma < 0:
            break
        pos = comma + 1
    if not keys or len(set(keys)) != len(keys):
        return None
    return keys


class _Scanner:
    """Scans one request body into fast rows and per-series general rows, recording bad lines."""

    multiplier: int
    default_time: int
    fast: bool
    rows: FastRows
    series: list[SeriesRows]
    by_raw_series: dict[str, SeriesRows]
    by_key: dict[str, SeriesRows]
    bad_series: dict[str, LineProtocolError]
    errors: list[LineProtocolError]

    def __init__(self, multiplier: int, default_time: int, fast: bool) -> None:
        self.multiplier = multiplier
        self.default_time = default_time
        self.fast = fast
        self.rows = FastRows()
        self.series = []
        self.by_raw_series = {}
        self.by_key = {}
        self.bad_series = {}
        self.errors = []

    def rows_for(self, measurement: str, tags: list[tuple[str, str]]) -> SeriesRows:
        key = series_key(measurement, tags)
        rows = self.by_key.get(key)
        if rows is None:
            rows = SeriesRows(len(self.series), key, measurement, tags)
            self.series.append(rows)
            self.by_key[key] = rows
        return rows

    def fast_series(self, raw: str, lineno: int) -> SeriesRows | None:
        """The series of a raw series section, parsed on first sight; None if it is bad."""
        rows = self.by_raw_series.get(raw)
        if rows is not None:
            return rows
        known = self.bad_series.get(raw)
        if known is not None:
            self.errors.append(LineProtocolError(lineno, known.column, known.message))
            return None
        try:
            measurement, tags, end = parse_series_part(raw, lineno)
        except LineProtocolError as exc:
            self.bad_series[raw] = exc
            self.errors.append(exc)
            return None
        if end != len(raw):
            return None
        rows = self.rows_for(measurement, tags)
        self.by_raw_series[raw] = rows
        return rows

    def add_fast(self, line: str, lineno: int, base: int) -> bool:
        """Take a backslash-free ASCII line by offsets; False when it needs the general scanner.

        The series section ends at the first space and the timestamp follows
        the last one; the values between are located now and decoded later
        with every other row of their layout (rusts.api.lp_columns).
        """
        first_space = line.find(" ")
        if first_space <= 0:
            return False
        quote = line.find('"')
        if quote >= 0 and (quote < first_space or line.count('"') % 2 == 1):
            # Quotes in the series section, or a string that may continue on the next line.
            return False
        last_space = line.rfind(" ")
        fields_end = len(line)
        timestamp = self.default_time
        if last_space > first_space:
            raw_ts = line[last_space + 1 :]
            digits = raw_ts[1:] if raw_ts.startswith("-") else raw_ts
            if digits.isdigit():
                timestamp = int(raw_ts) * self.multiplier
                if timestamp < POINT_TIME_MIN or timestamp > POINT_TIME_MAX:
                    return False
                fields_end = last_space
            elif quote < 0:
                return False
        fields_start = first_space + 1
        if fields_end <= fields_start:
            return False
        series = self.fast_series(line[:first_space], lineno)
        if series is None:
            return line[:first_space] in self.bad_series
        layout = series.layout
        if layout is None or not layout.take(line, fields_start, fields_end, base):
            layout = self.layout_of(line[fields_start:fields_end])
            if layout is None or not layout.take(line, fields_start, fields_end, base):
                return False
            series.layout = layout
        fast = self.rows
        layout.rows = append(layout.rows, len(fast.times))
        fast.times = append(fast.times, timestamp)
        fast.lines = append(fast.lines, lineno)
        fast.series = append(fast.series, series.ordinal)
        fast.texts.append(line)
        return True

    def layout_of(self, fields: str) -> Layout | None:
        keys = field_keys(fields)
        if keys is None:
            return None
        signature = ",".join(keys)
        layout = self.rows.layouts.get(signature)
        if layout is None:
            layout = Layout(keys)
            self.rows.layouts[signature] = layout
        return layout

    def add_general(self, parsed: ParsedLine, lineno: int) -> None:
        if not parsed.has_timestamp:
            parsed.timestamp = self.default_time
        rows = self.rows_for(parsed.measurement, parsed.tags)
        rows.general.append(parsed)
        rows.general_lines.append(lineno)

    def scan(self, lines: list[str]) -> None:
        """Scan the lines of a body; fast rows point into the body's UTF-8 bytes."""
        count = len(lines)
        index = 0
        offset = 0  # byte offset of lines[index] in the body
        while index < count:
            line = lines[index]
            lineno = index + 1
            index += 1
            base = offset
            offset += _utf8_length(line) + 1
            if line.endswith("\r"):
                line = line[:-1]
            if not line:
                continue
            if line[0] == " " or line[0] == "\t":
                stripped = line.lstrip(" \t")
                base += _utf8_length(line) - _utf8_length(stripped)
                line = stripped
                if not line:
                    continue
            if line[0] == "#":
                continue
            if self.fast and line.isascii() and "\\" not in line and self.add_fast(line, lineno, base):
                continue
            while True:
                try:
                    self.add_general(parse_line(line, lineno, self.multiplier), lineno)
                    break
                except LineProtocolError as exc:
                    self.errors.append(exc)
                    break
                except _Unterminated as open_string:
                    # A newline inside a quoted string belongs to the value. Only a line holding a
                    # quote can close the string: the lines before the next one are taken at once
                    # (re-parsing after every line was quadratic in a long unterminated string).
                    parts = [line]
                    closing = index
                    while closing < count and '"' not in lines[closing]:
                        closing += 1
                    if closing >= count:
                        self.errors.append(LineProtocolError(lineno, open_string.column, "unterminated string field value: no closing quote"))
                        index = count
                        break
                    while index <= closing:
                        following = lines[index]
                        index += 1
                        offset += _utf8_length(following) + 1
                        parts.append(following)
                    line = "\n".join(parts)


def _utf8_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _decode_body(body: bytes | str, errors: list[LineProtocolError]) -> tuple[list[str], bytes]:
    """The body's lines, and the UTF-8 bytes they came from.

    A line that is not UTF-8 becomes an error and an empty line (and the
    returned bytes are rebuilt to match).
    """
    if isinstance(body, str):
        return _without_nul(body.split("\n"), body.encode("utf-8"), errors)
    try:
        return _without_nul(body.decode("utf-8").split("\n"), body, errors)
    except UnicodeDecodeError:
        pass
    lines: list[str] = []
    lineno = 0
    for raw in body.split(b"\n"):
        lineno += 1
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            errors.append(LineProtocolError(lineno, exc.start + 1, "invalid UTF-8"))
            lines.append("")
    return lines, "\n".join(lines).encode("utf-8")


def _without_nul(lines: list[str], encoded: bytes, errors: list[LineProtocolError]) -> tuple[list[str], bytes]:
    """Lines holding a NUL character become errors and empty lines (PostgreSQL text cannot carry NUL)."""
    if b"\0" not in encoded:
        return lines, encoded
    for at, line in enumerate(lines):
        column = line.find("\0")
        if column >= 0:
            errors.append(LineProtocolError(at + 1, column + 1, "NUL character (0x00) in a line"))
            lines[at] = ""
    return lines, "\n".join(lines).encode("utf-8")


def precision_multiplier(precision: str) -> int:
    """Nanoseconds per unit of `precision` (ns, us, ms, s); ValueError for anything else."""
    multiplier = PRECISION_MULTIPLIERS.get(precision)
    if multiplier is None:
        raise ValueError(f"unknown precision {precision!r}: expected ns, us, ms or s")
    return multiplier


def parse_lines_ok(
    body: bytes | str, precision: str = "ns", default_time: int = 0, fast: bool = True
) -> ParseResult:
    """Parse a body of line protocol; bad lines are reported, never fatal to the batch.

    `default_time` (nanoseconds) stamps lines without a timestamp; callers pass
    the server clock. Errors come back sorted by line number. `fast=False`
    parses every line with the general scanner (the tests compare the two).
    """
    return parse_body(body, precision_multiplier(precision), default_time, fast)


def parse_body(body: bytes | str, multiplier: int, default_time: int, fast: bool = True) -> ParseResult:
    """parse_lines_ok with the precision given as nanoseconds per unit."""
    from rusts.api.lp_columns import finalize

    encoded, rows, series, errors = scan_body(body, multiplier, default_time, fast)
    batches = finalize(encoded, rows, series, multiplier, errors)
    errors.sort(key=_error_line)
    return ParseResult(batches, errors)


def scan_body(
    body: bytes | str, multiplier: int, default_time: int, fast: bool = True
) -> tuple[bytes, FastRows, list[SeriesRows], list[LineProtocolError]]:
    """The first half of parse_body: the body's UTF-8 bytes, its fast rows (values not yet
    decoded), its series, and the errors so far (unsorted)."""
    errors: list[LineProtocolError] = []
    lines, encoded = _decode_body(body, errors)
    scanner = _Scanner(multiplier, default_time, fast)
    scanner.scan(lines)
    errors.extend(scanner.errors)
    return encoded, scanner.rows, scanner.series, errors


def engine_parser(body: bytes, multiplier: int, default_time: int) -> tuple[list[Any], list[LineProtocolError]]:
    """The parser the storage engine calls on writes and on WAL replay: large bodies go to a
    worker process (rusts.api.parse_pool) when one is free, the rest are parsed here."""
    if len(body) >= parse_pool.MIN_POOLED_BYTES:
        parsed = parse_pool.parse(body, multiplier, default_time)
        if parsed is not None:
            return parsed
    return parse_in_process(body, multiplier, default_time)


def parse_in_process(body: bytes, multiplier: int, default_time: int) -> tuple[list[Any], list[LineProtocolError]]:
    """engine_parser without the worker processes."""
    result = parse_body(body, multiplier, default_time)
    return list(result.series), result.errors


def _error_line(error: LineProtocolError) -> int:
    return error.line


def _first_item(entry: tuple[int, Any]) -> int:
    return entry[0]


def parse_lines(body: bytes | str, precision: str = "ns", default_time: int = 0) -> list[Any]:
    """Parse a body into Points, raising the first LineProtocolError if any line is bad."""
    result = parse_lines_ok(body, precision, default_time)
    if result.errors:
        raise result.errors[0]
    return result.points()
