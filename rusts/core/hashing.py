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


def _escape_name(text: str) -> str:
    """Escape a measurement name: commas and spaces."""
    if "," in text or " " in text or "\\" in text:
        return text.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")
    return text


def _escape_tag(text: str) -> str:
    """Escape a tag key or value: commas, spaces and equals signs."""
    if "," in text or " " in text or "=" in text or "\\" in text:
        return text.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ").replace("=", "\\=")
    return text


def series_key(measurement: str, sorted_tags: list[tuple[str, str]]) -> str:
    """The canonical key of a series; `sorted_tags` must already be sorted."""
    parts = [_escape_name(measurement)]
    for key, value in sorted_tags:
        parts.append(_escape_tag(key) + "=" + _escape_tag(value))
    return ",".join(parts)


def tags_of_key(key: str) -> tuple[str, list[tuple[str, str]]]:
    """The measurement and sorted tags a canonical series key was made from (series_key's inverse)."""
    if "\\" not in key:
        parts = key.split(",")
        return parts[0], [_pair(part, key) for part in parts[1:]]
    pieces = _unescaped_split(key, ",")
    return pieces[0][0], [_escaped_pair(piece, key) for piece in pieces[1:]]


def _pair(part: str, key: str) -> tuple[str, str]:
    name, equals, value = part.partition("=")
    if not equals:
        raise ValueError(f"{key!r} is not a canonical series key: tag {part!r} has no '='")
    return name, value


def _escaped_pair(piece: tuple[str, list[int]], key: str) -> tuple[str, str]:
    """A `key=value` piece of an escaped series key: split at its first unescaped '='."""
    text, equals = piece
    if not equals:
        raise ValueError(f"{key!r} is not a canonical series key: a tag has no '='")
    at = equals[0]
    return _unescape(text[:at]), _unescape(text[at + 1 :])


def _unescaped_split(key: str, separator: str) -> list[tuple[str, list[int]]]:
    """The parts of `key` between unescaped separators (still escaped), each with the positions
    of its unescaped '=' signs."""
    parts: list[tuple[str, list[int]]] = []
    start = 0
    equals: list[int] = []
    i = 0
    n = len(key)
    while i < n:
        c = key[i]
        if c == "\\":
            i += 2
            continue
        if c == separator:
            parts.append((key[start:i], equals))
            start = i + 1
            equals = []
        elif c == "=":
            equals.append(i - start)
        i += 1
    parts.append((key[start:], equals))
    return [(_unescape(text), marks) if index == 0 else (text, marks) for index, (text, marks) in enumerate(parts)]


def _unescape(text: str) -> str:
    """Text with each backslash escape replaced by the character it escapes."""
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            out.append(text[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def series_id_of_key(key: str) -> int:
    """The u64 SeriesId of a canonical series key."""
    return int.from_bytes(blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")


def series_id(measurement: str, sorted_tags: list[tuple[str, str]]) -> int:
    """The u64 SeriesId of a measurement and its sorted tags."""
    return series_id_of_key(series_key(measurement, sorted_tags))
