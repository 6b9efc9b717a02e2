"""Series keys and series ids.

The canonical series key is the line-protocol form of measurement and tags,
tags sorted by key (then value) and escaped: `cpu,host=a,region=us\\ east`.
Equal series give equal keys whatever order the tags were written in.

SeriesId is the first 8 bytes of BLAKE2b (RFC 7693, digest_size=8, no key,
no salt, no personalisation) over the UTF-8 key, read as an unsigned
little-endian integer. Why BLAKE2b: it is specified by an RFC, so the id is
the same across processes, machines, Python versions and our own releases
(unlike Python's salted hash()); it ships with Python's hashlib, implemented
in C; and its output is uniform, which sharding by series relies on. Two
different keys with the same id are detected by the series index, which keeps
the key beside the id.
"""

from hashlib import blake2b


def escape_name(text: str) -> str:
    """A measurement name as line protocol writes it: backslashes, commas and spaces escaped."""
    if "," in text or " " in text or "\\" in text:
        return text.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")
    return text


def escape_key(text: str) -> str:
    """A tag key, tag value or field key as line protocol writes it: backslashes, commas, spaces and
    equals signs escaped."""
    if "," in text or " " in text or "=" in text or "\\" in text:
        return text.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ").replace("=", "\\=")
    return text


def series_key(measurement: str, sorted_tags: list[tuple[str, str]]) -> str:
    """The canonical key of a series; `sorted_tags` must already be sorted."""
    parts = [escape_name(measurement)]
    for key, value in sorted_tags:
        parts.append(escape_key(key) + "=" + escape_key(value))
    return ",".join(parts)


# What a backslash escapes in line protocol, and so in the canonical key: in a measurement name a
# comma, a space or a backslash; in a tag key, tag value or field key also an equals sign. A
# backslash before anything else is a literal backslash.
NAME_SPECIALS = "\\, "
KEY_SPECIALS = "\\, ="


def scan_token(text: str, start: int, stops: str) -> int:
    """Index of the first unescaped character of `stops` at or after `start` (line protocol's
    backslash escapes, which series keys share), or len(text)."""
    i = start
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c in stops:
            return i
        i += 1
    return n


def unescape(raw: str, specials: str) -> str:
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


def tags_of_key(key: str) -> tuple[str, list[tuple[str, str]]]:
    """The measurement and sorted tags a canonical series key was made from (series_key's inverse)."""
    end = scan_token(key, 0, ",")
    measurement = unescape(key[:end], KEY_SPECIALS)
    tags: list[tuple[str, str]] = []
    while end < len(key):
        start = end + 1
        equals = scan_token(key, start, ",=")
        end = scan_token(key, equals, ",")
        if equals == end:
            raise ValueError(f"{key!r} is not a canonical series key: tag {key[start:end]!r} has no '='")
        tags.append((unescape(key[start:equals], KEY_SPECIALS), unescape(key[equals + 1 : end], KEY_SPECIALS)))
    return measurement, tags


def series_id_of_key(key: str) -> int:
    """The u64 SeriesId of a canonical series key."""
    return int.from_bytes(blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")


def series_id(measurement: str, sorted_tags: list[tuple[str, str]]) -> int:
    """The u64 SeriesId of a measurement and its sorted tags."""
    return series_id_of_key(series_key(measurement, sorted_tags))
