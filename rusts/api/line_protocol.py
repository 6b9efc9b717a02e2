"""InfluxDB line protocol parser producing per-series columnar batches.

Grammar (one point per line; the InfluxDB line protocol reference):

    measurement[,tag_key=tag_value...] field_key=field_value[,...] [timestamp]

- Measurement: ends at an unescaped comma or space; `\\,` and `\\ ` escape.
- Tag keys, tag values, field keys: end at an unescaped comma, equals sign or
  space; `\\,`, `\\=` and `\\ ` escape. A backslash before any other
  character is kept literally together with that character.
- Field values: `1.5`, `-1e3` (float), `7i` (integer), `7u` (unsigned),
  `t T true True TRUE f F false False FALSE` (boolean), `"text"` (string;
  inside quotes `\\"` and `\\\\` escape, other backslashes are literal, and
  a newline inside the quotes is part of the value). NaN and infinity are
  not numbers in line protocol.
- Timestamp: optional signed integer in the request's precision (ns, us, ms,
  s); without one the server's clock stamps the point.
- Sections are separated by spaces (runs of spaces and tabs are accepted);
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
from numpy.typing import NDArray

from rusts.core.errors import LineProtocolError
from rusts.core.hashing import series_id_of_key, series_key

# Field kinds, also the order of rusts.core.types.FieldType.
KIND_FLOAT = 0
KIND_INTEGER = 1
KIND_UNSIGNED = 2
KIND_STRING = 3
KIND_BOOLEAN = 4
KIND_NAMES: tuple[str, ...] = ("float", "integer", "unsigned", "string", "boolean")

PRECISION_MULTIPLIERS: dict[str, int] = {
    "ns": 1,
    "n": 1,
    "us": 1_000,
    "u": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
}

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1
U64_MAX = 2**64 - 1

_TRUE_WORDS: frozenset[str] = frozenset(("t", "T", "true", "True", "TRUE"))
_FALSE_WORDS: frozenset[str] = frozenset(("f", "F", "false", "False", "FALSE"))


class FieldColumn:
    """One field of one series in a batch.

    `values` is a numpy array (float64, int64, uint64 or bool) or, for
    strings, a list of str; `present` marks the rows that carry the field,
    or is None when every row does.
    """

    kind: int
    values: Any
    present: NDArray[np.bool_] | None

    def __init__(self, kind: int, values: Any, present: NDArray[np.bool_] | None) -> None:
        self.kind = kind
        self.values = values
        self.present = present

    @property
    def kind_name(self) -> str:
        return KIND_NAMES[self.kind]


class SeriesBatch:
    """The rows of one series in a batch, in line order.

    `lines` holds the 1-based line number of each row, so a later stage can
    reject a row (for example a type conflict with stored data) by line.
    """

    key: str
    series_id: int
    measurement: str
    tags: list[tuple[str, str]]
    timestamps: NDArray[np.int64]
    lines: NDArray[np.int64]
    columns: dict[str, FieldColumn]

    def __init__(
        self,
        key: str,
        measurement: str,
        tags: list[tuple[str, str]],
        timestamps: NDArray[np.int64],
        lines: NDArray[np.int64],
        columns: dict[str, FieldColumn],
    ) -> None:
        self.key = key
        self.series_id = series_id_of_key(key)
        self.measurement = measurement
        self.tags = tags
        self.timestamps = timestamps
        self.lines = lines
        self.columns = columns

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
    """A string field value still open at the end of the line: the next line continues it."""


# ---------------------------------------------------------------------------
# The general scanner: every line it accepts or rejects is the reference.


def _is_space(c: str) -> bool:
    return c == " " or c == "\t"


def _scan_token(line: str, start: int, stops: str) -> int:
    """Index of the first unescaped character of `stops` at or after `start`."""
    i = start
    n = len(line)
    while i < n:
        c = line[i]
        if c == "\\":
            i += 2
            continue
        if c in stops:
            return i
        i += 1
    return n


def _unescape(raw: str, specials: str) -> str:
    """Resolve `\\X` for X in `specials`; any other backslash stays as written."""
    if "\\" not in raw:
        return raw
    out: list[str] = []
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i]
        if c == "\\" and i + 1 < n and raw[i + 1] in specials:
            out.append(raw[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


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
    end_measurement = _scan_token(line, 0, ", ")
    _check_trailing_backslash(line, 0, end_measurement, lineno, "measurement")
    measurement = _unescape(line[:end_measurement], ", ")
    if not measurement:
        raise LineProtocolError(lineno, 1, "missing measurement name")
    tags: list[tuple[str, str]] = []
    i = end_measurement
    n = len(line)
    while i < n and line[i] == ",":
        key_start = i + 1
        key_end = _scan_token(line, key_start, ",= ")
        if key_end >= n or line[key_end] != "=":
            raise LineProtocolError(lineno, key_start + 1, "missing tag value: expected key=value after ','")
        if key_end == key_start:
            raise LineProtocolError(lineno, key_start + 1, "empty tag key")
        value_start = key_end + 1
        value_end = _scan_token(line, value_start, ",= ")
        _check_trailing_backslash(line, value_start, value_end, lineno, "tag value")
        if value_end == value_start:
            raise LineProtocolError(lineno, value_start + 1, "missing tag value")
        if value_end < n and line[value_end] == "=":
            raise LineProtocolError(lineno, value_end + 1, "unescaped '=' in tag value")
        key = _unescape(line[key_start:key_end], ",= ")
        if key == "time":
            raise LineProtocolError(lineno, key_start + 1, "tag key 'time' is reserved")
        tags.append((key, _unescape(line[value_start:value_end], ",= ")))
        i = value_end
    if len(tags) > 1:
        tags.sort()
        for t in range(1, len(tags)):
            if tags[t][0] == tags[t - 1][0]:
                raise LineProtocolError(lineno, 0, f"duplicate tag key {tags[t][0]!r}")
    return measurement, tags, i


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
    raise _Unterminated()


def parse_field_set(line: str, start: int, lineno: int) -> tuple[dict[str, tuple[int, object]], int]:
    """Parse `k=v[,k=v...]` from `start`; returns the fields and the index after them."""
    fields: dict[str, tuple[int, object]] = {}
    i = start
    n = len(line)
    while True:
        key_end = _scan_token(line, i, ",= ")
        if key_end >= n or line[key_end] != "=":
            if key_end == i:
                raise LineProtocolError(lineno, i + 1, "missing field key")
            raise LineProtocolError(lineno, i + 1, "missing '=' after field key")
        if key_end == i:
            raise LineProtocolError(lineno, i + 1, "empty field key")
        key = _unescape(line[i:key_end], ",= ")
        if key == "time":
            raise LineProtocolError(lineno, i + 1, "field key 'time' is reserved")
        value_start = key_end + 1
        if value_start < n and line[value_start] == '"':
            text, i = _scan_string(line, value_start, lineno)
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
    if value < I64_MIN or value > I64_MAX:
        raise LineProtocolError(lineno, column, f"timestamp {raw!r} is out of range for nanoseconds since the epoch")
    return value


def parse_line(line: str, lineno: int, multiplier: int) -> ParsedLine:
    """Parse one line (no leading whitespace, not a comment) or raise LineProtocolError.

    Raises _Unterminated when a quoted string runs past the end of the line.
    """
    measurement, tags, i = parse_series_part(line, lineno)
    n = len(line)
    if i >= n:
        raise LineProtocolError(lineno, 0, "missing fields")
    while i < n and _is_space(line[i]):
        i += 1
    if i >= n:
        raise LineProtocolError(lineno, 0, "missing fields")
    fields, i = parse_field_set(line, i, lineno)
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


class SeriesRows:
    """One series seen in a body: its identity and the rows the general scanner parsed."""

    ordinal: int
    key: str
    measurement: str
    tags: list[tuple[str, str]]
    general: list[ParsedLine]
    general_lines: list[int]

    def __init__(self, ordinal: int, key: str, measurement: str, tags: list[tuple[str, str]]) -> None:
        self.ordinal = ordinal
        self.key = key
        self.measurement = measurement
        self.tags = tags
        self.general = []
        self.general_lines = []


class FastRows:
    """Backslash-free lines kept as raw text, in line order, for columnar decoding.

    Row r has its field section in `fields[r]` (each quoted string replaced by
    `""`), its strings at `strings[string_starts[r]:string_starts[r + 1]]`,
    its timestamp in nanoseconds, its line number, its series ordinal and
    its full text (for the general scanner when decoding fails).
    """

    fields: list[str]
    strings: list[str]
    string_starts: list[int]
    times: list[int]
    lines: list[int]
    series: list[int]
    texts: list[str]

    def __init__(self) -> None:
        self.fields = []
        self.strings = []
        self.string_starts = [0]
        self.times = []
        self.lines = []
        self.series = []
        self.texts = []


def field_layout(fields: str) -> str:
    """The field keys of a fast row's field section joined by commas: rows with equal layouts decode together."""
    keys: list[str] = []
    for token in fields.split(","):
        keys.append(token[: token.find("=")])
    return ",".join(keys)


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

    def add_fast(self, line: str, lineno: int) -> bool:
        """Take a backslash-free line by splitting; False when it needs the general scanner."""
        skeleton = line
        pieces: list[str] = []
        if '"' in line:
            pieces = line.split('"')
            if len(pieces) % 2 == 0 or " " not in pieces[0]:
                return False
            skeleton = '""'.join(pieces[0::2])
        parts = skeleton.split(" ")
        count = len(parts)
        if count < 2 or count > 3 or not parts[0] or not parts[1]:
            return False
        if count == 3:
            raw_ts = parts[2]
            if not raw_ts or not raw_ts.isascii():
                return False
            digits = raw_ts[1:] if raw_ts[0] == "-" else raw_ts
            if not digits.isdigit():
                return False
            timestamp = int(raw_ts) * self.multiplier
            if timestamp < I64_MIN or timestamp > I64_MAX:
                return False
        else:
            timestamp = self.default_time
        series = self.fast_series(parts[0], lineno)
        if series is None:
            return parts[0] in self.bad_series
        fast = self.rows
        fast.fields.append(parts[1])
        fast.times.append(timestamp)
        fast.lines.append(lineno)
        fast.series.append(series.ordinal)
        fast.texts.append(line)
        strings = fast.strings
        for i in range(1, len(pieces), 2):
            strings.append(pieces[i])
        fast.string_starts.append(len(strings))
        return True

    def add_general(self, parsed: ParsedLine, lineno: int) -> None:
        if not parsed.has_timestamp:
            parsed.timestamp = self.default_time
        rows = self.rows_for(parsed.measurement, parsed.tags)
        rows.general.append(parsed)
        rows.general_lines.append(lineno)

    def scan(self, lines: list[str], first_lineno: int) -> None:
        count = len(lines)
        index = 0
        while index < count:
            line = lines[index]
            lineno = first_lineno + index
            index += 1
            if line.endswith("\r"):
                line = line[:-1]
            if not line:
                continue
            if line[0] == " " or line[0] == "\t":
                line = line.lstrip(" \t")
                if not line:
                    continue
            if line[0] == "#":
                continue
            if self.fast and "\\" not in line and self.add_fast(line, lineno):
                continue
            while True:
                try:
                    self.add_general(parse_line(line, lineno, self.multiplier), lineno)
                    break
                except LineProtocolError as exc:
                    self.errors.append(exc)
                    break
                except _Unterminated:
                    if index >= count:
                        self.errors.append(LineProtocolError(lineno, 0, "unterminated string field value"))
                        break
                    # A newline inside a quoted string belongs to the value.
                    line = line + "\n" + lines[index]
                    index += 1


def _decode_body(body: bytes | str, errors: list[LineProtocolError]) -> list[str]:
    """Split a body into lines; a line that is not UTF-8 becomes an error and an empty line."""
    if isinstance(body, str):
        return body.split("\n")
    try:
        return body.decode("utf-8").split("\n")
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
    return lines


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
    from rusts.api.lp_columns import finalize

    multiplier = precision_multiplier(precision)
    errors: list[LineProtocolError] = []
    lines = _decode_body(body, errors)
    scanner = _Scanner(multiplier, default_time, fast)
    scanner.scan(lines, 1)
    errors.extend(scanner.errors)
    batches = finalize(scanner.rows, scanner.series, multiplier, errors)
    errors.sort(key=_error_line)
    return ParseResult(batches, errors)


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
