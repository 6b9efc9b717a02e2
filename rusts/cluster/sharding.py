"""Which shard a point belongs to, which nodes hold a shard, and a write batch split by shard.

Strategies (all pure functions of their arguments, stable across processes,
machines and releases):

    BySeries       SeriesId % shard_count. The SeriesId is rusts.core.hashing's
                   BLAKE2b of the canonical series key, so a series lives whole
                   on one shard and series spread evenly.
    ByMeasurement  the first 8 bytes (little-endian) of BLAKE2b(digest_size=8)
                   over the UTF-8 measurement name, % shard_count: a measurement
                   lives whole on one shard.
    ByTime         floor(timestamp_ns / window_ns) % shard_count: consecutive
                   windows go round the shards, so a query over a short range
                   touches few shards.

Splitting a write: `split_lines` takes the line-protocol body as the client
sent it and cuts it into records (a record is one point: a line, or more than
one when a quoted string holds a newline) without parsing field values. Each
record's series key is rebuilt in canonical form (tags unescaped, sorted,
escaped again) so the shard is the one the engine's SeriesId gives. The
records of a shard are joined into one body, byte for byte as the client wrote
them, except that a record without a timestamp gets the coordinator's time
appended: replicas must store the same time, so the coordinator stamps it.

The splitter checks only what it needs to route (a measurement, a space after
the series section, tag pairs with `=`, a timestamp that is an integer).
Records it cannot route are returned as LineProtocolErrors with their line in
the original body; the full parser on the owner (or on the coordinator, before
splitting) remains the judge of everything else.
"""

import re
from hashlib import blake2b

from rusts.cluster.config import ClusterConfig
from rusts.core.errors import LineProtocolError
from rusts.core.hashing import KEY_SPECIALS, NAME_SPECIALS, scan_token, series_id_of_key, series_key, unescape

NANOS_PER_SECOND = 1_000_000_000
_INTEGER = re.compile(r"-?[0-9]+")


def shard_of_series_id(series_id: int, shard_count: int) -> int:
    """BySeries: the shard of a SeriesId."""
    return series_id % shard_count


def shard_of_series_key(key: str, shard_count: int) -> int:
    """BySeries: the shard of a canonical series key."""
    return series_id_of_key(key) % shard_count


def shard_of_measurement(measurement: str, shard_count: int) -> int:
    """ByMeasurement: the shard of a measurement (unescaped name)."""
    digest = blake2b(measurement.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % shard_count


def shard_of_time(timestamp_ns: int, window_ns: int, shard_count: int) -> int:
    """ByTime: the shard of a time (windows of window_ns go round the shards; negative times too)."""
    return (timestamp_ns // window_ns) % shard_count


class Sharding:
    """The sharding of one cluster: strategy, shard count, time window and who holds each shard."""

    def __init__(self, config: ClusterConfig) -> None:
        self.strategy = config.sharding_strategy
        self.shard_count = config.shard_count
        self.window_ns = (config.shard_window_secs or 0) * NANOS_PER_SECOND
        self._holders: list[list[str]] = [[] for _ in range(config.shard_count)]
        for node in config.nodes:
            for shard in node.shards:
                self._holders[shard].insert(0, node.id)
        for node in config.nodes:
            for shard in node.replica_shards:
                self._holders[shard].append(node.id)

    def owners(self, shard: int) -> list[str]:
        """Node ids holding `shard`: the owner first, then the replicas in [[nodes]] order."""
        if not 0 <= shard < self.shard_count:
            raise ValueError(f"shard {shard} is out of range 0..{self.shard_count - 1}")
        return list(self._holders[shard])

    def shards_of_node(self, node_id: str) -> list[int]:
        """Shards `node_id` holds, as owner or replica, ascending."""
        return [shard for shard, holders in enumerate(self._holders) if node_id in holders]

    def shard_of(self, measurement: str, key: str, timestamp_ns: int) -> int:
        """The shard of one point: measurement (unescaped), canonical series key, time in ns."""
        if self.strategy == "BySeries":
            return shard_of_series_key(key, self.shard_count)
        if self.strategy == "ByMeasurement":
            return shard_of_measurement(measurement, self.shard_count)
        return shard_of_time(timestamp_ns, self.window_ns, self.shard_count)

    def shards_for_query(self, measurement: str, start_ns: int | None, end_ns: int | None) -> list[int]:
        """Shards that may hold points of `measurement` in [start_ns, end_ns) (None: open)."""
        if self.strategy == "ByMeasurement":
            return [shard_of_measurement(measurement, self.shard_count)]
        if self.strategy == "BySeries" or start_ns is None or end_ns is None:
            return list(range(self.shard_count))
        if end_ns <= start_ns:
            return []
        first, last = start_ns // self.window_ns, (end_ns - 1) // self.window_ns
        if last - first + 1 >= self.shard_count:
            return list(range(self.shard_count))
        return sorted({window % self.shard_count for window in range(first, last + 1)})


class ShardBatch:
    """The records of one shard: a line-protocol body and each record's first line in the original body."""

    __slots__ = ("body", "lines", "points", "parts")

    def __init__(self) -> None:
        self.body = bytearray()
        self.parts: list[str] = []  # records while splitting; joined into body at the end
        self.lines: list[int] = []
        self.points = 0


class SplitBatch:
    """A write batch cut by shard, plus the records that could not be routed, and (when asked for) each
    measurement's timestamps (ns) of the routed records: what continuous aggregates need to hear."""

    __slots__ = ("shards", "errors", "touched")

    def __init__(self) -> None:
        self.shards: dict[int, ShardBatch] = {}
        self.errors: list[LineProtocolError] = []
        self.touched: dict[str, list[int]] = {}


def split_lines(
    body: bytes, sharding: Sharding, multiplier: int, now_ns: int, keep: set[int] | None = None, track_times: bool = False
) -> SplitBatch:
    """Cut a line-protocol body by shard. `multiplier`: nanoseconds per unit of the request's
    precision; `now_ns`: the coordinator's time, appended (in that precision) to records without one;
    `keep`: when given, only records whose first line is in it are routed (the others are left out
    silently: the coordinator's parser already rejected them and said why); `track_times`: fill
    `touched` with every routed record's measurement and timestamp."""
    text = body.decode("utf-8", errors="surrogateescape")
    split = SplitBatch()
    stamp = str(now_ns // multiplier)
    by_time = sharding.strategy == "ByTime"
    # Series section -> (measurement, key, shard); the shard only when it does not depend on time.
    seen: dict[str, tuple[str, str, int]] = {}
    simple = "\\" not in text and "\r" not in text and "\t" not in text and ('"' not in text or _quotes_close_on_their_line(text))
    for line_number, record in _simple_records(text) if simple else _records(text):
        if keep is not None and line_number not in keep:
            continue
        try:
            tokens = record.split(" ") if simple else []
            if len(tokens) in (2, 3) and tokens[0] and tokens[1]:
                # Fast path: no escapes, no quote in the series section, no space in a string value and
                # no odd spacing, so spaces split the sections.
                head = seen.get(tokens[0])
                if head is None:
                    measurement, key, _ = _series(tokens[0] + " ", line_number)
                    head = seen[tokens[0]] = (measurement, key, -1 if by_time else sharding.shard_of(measurement, key, 0))
                measurement, key, shard = head
                timestamp_text = tokens[2] if len(tokens) == 3 else ""
            else:
                measurement, key, rest = _series(record, line_number)
                fields_end = _fields_end(rest, line_number)
                timestamp_text = rest[fields_end:].strip(" \t\r")
                shard = -1
            if timestamp_text:
                timestamp_ns = _timestamp(timestamp_text, line_number) * multiplier
                out = record
            else:
                timestamp_ns = (now_ns // multiplier) * multiplier
                out = record.rstrip("\r").rstrip(" \t") + " " + stamp
        except LineProtocolError as error:
            split.errors.append(error)
            continue
        if shard < 0:
            shard = sharding.shard_of(measurement, key, timestamp_ns)
        if track_times:
            times = split.touched.get(measurement)
            if times is None:
                times = split.touched[measurement] = []
            times.append(timestamp_ns)
        batch = split.shards.get(shard)
        if batch is None:
            batch = split.shards[shard] = ShardBatch()
        batch.parts.append(out)
        batch.lines.append(line_number)
        batch.points += 1
    for batch in split.shards.values():
        batch.parts.append("")
        batch.body = bytearray("\n".join(batch.parts).encode("utf-8", errors="surrogateescape"))
        batch.parts = []
    return split


def _quotes_close_on_their_line(text: str) -> bool:
    """Without backslashes: true when no line has a quote before its first space (in the series section,
    where a quote is a plain character) and every line has an even number of quotes, so that every
    quoted field value ends on its own line and each line is one record."""
    for line in text.split("\n"):
        quote = line.find('"')
        if quote >= 0 and (line.count('"') % 2 or quote < line.find(" ")):
            return False
    return True


def record_lines(body: bytes) -> list[int]:
    """The first line of each record of a body, in order (a shard body's lines -> its records)."""
    return [line for line, _ in _records(body.decode("utf-8", errors="surrogateescape"))]


def _simple_records(text: str) -> list[tuple[int, str]]:
    """(line number, text) of each point of a body without quotes: one per non-blank, non-# line."""
    return [(number, line) for number, line in enumerate(text.split("\n"), start=1) if line and line[0] != "#" and line.strip(" ")]


def _records(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each point; blank and # lines skipped; a quoted newline joins lines."""
    records: list[tuple[int, str]] = []
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        start = index
        record = lines[index]
        index += 1
        if not record.strip(" \t\r") or record.lstrip(" \t").startswith("#"):
            continue
        while _open_quote(record) and index < len(lines):
            record += "\n" + lines[index]
            index += 1
        records.append((start + 1, record))
    return records


def _open_quote(record: str) -> bool:
    """True when the record ends inside a quoted field value (only the field section has quotes)."""
    space = scan_token(record, 0, " ")
    if space >= len(record):
        return False
    inside = False
    i = space + 1
    while i < len(record):
        char = record[i]
        if inside and char == "\\" and i + 1 < len(record) and record[i + 1] in '"\\':
            i += 2
            continue
        if char == '"':
            inside = not inside
        i += 1
    return inside


def series_of(section: str, line: int) -> tuple[str, list[tuple[str, str]], str] | None:
    """(measurement, sorted tags, canonical key) of a series section, or None when it cannot be routed."""
    try:
        measurement, tags, key, _ = _series_parts(section + " ", line)
    except LineProtocolError:
        return None
    return measurement, tags, key


def _series(record: str, line: int) -> tuple[str, str, str]:
    """(measurement, canonical series key, text after the series section)."""
    measurement, _, key, rest = _series_parts(record, line)
    return measurement, key, rest


def _series_parts(record: str, line: int) -> tuple[str, list[tuple[str, str]], str, str]:
    """(measurement, sorted tags, canonical series key, text after the series section)."""
    body = record.lstrip(" \t")
    end = scan_token(body, 0, " \t")
    if end >= len(body):
        raise LineProtocolError(line, 0, "missing fields: expected a space after the measurement and tags")
    section, rest = body[:end], body[end:].lstrip(" \t")
    parts: list[str] = []
    at = 0
    while True:
        comma = scan_token(section, at, ",")
        parts.append(section[at:comma])
        if comma >= len(section):
            break
        at = comma + 1
    measurement = unescape(parts[0], NAME_SPECIALS)
    if not measurement:
        raise LineProtocolError(line, 1, "missing measurement")
    tags: list[tuple[str, str]] = []
    for part in parts[1:]:
        equals = scan_token(part, 0, "=")
        if equals <= 0 or equals >= len(part) - 1:
            raise LineProtocolError(line, 0, f"tag {part!r} is not key=value")
        tags.append((unescape(part[:equals], KEY_SPECIALS), unescape(part[equals + 1 :], KEY_SPECIALS)))
    tags.sort()
    return measurement, tags, series_key(measurement, tags), rest


def _fields_end(rest: str, line: int) -> int:
    """Index in `rest` just past the field section (outside quotes, at an unescaped space)."""
    if not rest.strip(" \t\r"):
        raise LineProtocolError(line, 0, "missing fields")
    inside = False
    i = 0
    while i < len(rest):
        char = rest[i]
        if char == "\\" and i + 1 < len(rest) and (not inside or rest[i + 1] in '"\\'):
            i += 2
            continue
        if char == '"':
            inside = not inside
        elif not inside and char in " \t":
            return i
        i += 1
    if inside:
        raise LineProtocolError(line, 0, "unterminated string field value")
    return len(rest)


def _timestamp(text: str, line: int) -> int:
    if _INTEGER.fullmatch(text) is None:
        raise LineProtocolError(line, 0, f"timestamp {text!r} is not an integer")
    return int(text)
