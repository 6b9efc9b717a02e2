"""Catalog statements: SHOW ... and DESCRIBE, recognised by regex before sqlglot (which does not parse them).

    SHOW TABLES | SHOW MEASUREMENTS            -> name
    SHOW TAG KEYS FROM m                       -> tagKey
    SHOW TAG VALUES FROM m WITH KEY = k        -> key, value
    SHOW FIELD KEYS FROM m                     -> fieldKey, fieldType
    DESCRIBE m | DESC m                        -> column, type, role (time, tag, field)

Column names follow InfluxQL's. Names are bare identifiers or double-quoted
("" escapes a quote); the key may also be single-quoted.
"""

import re
from typing import Any, Final, Literal

import msgspec

from rusts.query.errors import UnknownMeasurementError
from rusts.query.model import Column, QueryResult
from rusts.storage.engine import StorageEngine

CatalogKind = Literal["measurements", "tag_keys", "tag_values", "field_keys", "describe"]

_NAME: Final = r'(?P<{0}>[A-Za-z_][\w.\-]*|"(?:[^"]|"")+")'
_KEY: Final = r"(?P<key>[A-Za-z_][\w.\-]*|\"(?:[^\"]|\"\")+\"|'(?:[^']|'')+')"
_STATEMENTS: Final[list[tuple[CatalogKind, re.Pattern[str]]]] = [
    ("measurements", re.compile(r"SHOW\s+(?:TABLES|MEASUREMENTS)", re.IGNORECASE)),
    ("tag_keys", re.compile(r"SHOW\s+TAG\s+KEYS\s+FROM\s+" + _NAME.format("m"), re.IGNORECASE)),
    (
        "tag_values",
        re.compile(r"SHOW\s+TAG\s+VALUES\s+FROM\s+" + _NAME.format("m") + r"\s+WITH\s+KEY\s*=\s*" + _KEY, re.IGNORECASE),
    ),
    ("field_keys", re.compile(r"SHOW\s+FIELD\s+KEYS\s+FROM\s+" + _NAME.format("m"), re.IGNORECASE)),
    ("describe", re.compile(r"DESC(?:RIBE)?\s+" + _NAME.format("m"), re.IGNORECASE)),
]
_CATALOG_WORD: Final = re.compile(r"(SHOW|DESC|DESCRIBE)\b", re.IGNORECASE)


class CatalogStatement(msgspec.Struct, frozen=True):
    """A question about the catalogue rather than the data."""

    kind: CatalogKind
    measurement: str = ""
    key: str = ""


def _unquote(name: str) -> str:
    if name[:1] in ('"', "'"):
        return name[1:-1].replace(name[0] * 2, name[0])
    return name


def looks_like_catalog(text: str) -> bool:
    """Whether `text` starts with SHOW or DESCRIBE (so a mismatch is a catalog syntax error, not SQL)."""
    return _CATALOG_WORD.match(text) is not None


def parse_catalog(text: str) -> CatalogStatement | None:
    """The statement `text` (stripped, without a trailing ';') spells, or None when it is none of them."""
    for kind, pattern in _STATEMENTS:
        match = pattern.fullmatch(text)
        if match is None:
            continue
        groups = match.groupdict()
        return CatalogStatement(kind, _unquote(groups.get("m") or ""), _unquote(groups.get("key") or ""))
    return None


def answer_catalog(engine: StorageEngine, statement: CatalogStatement) -> QueryResult:
    if statement.kind == "measurements":
        return QueryResult([Column("name", "string")], [[m] for m in engine.measurements()])
    fields = engine.field_types(statement.measurement)
    if not fields:
        raise UnknownMeasurementError(statement.measurement)
    tags = engine.tag_keys(statement.measurement)
    rows: list[list[Any]]
    if statement.kind == "tag_keys":
        return QueryResult([Column("tagKey", "string")], [[k] for k in tags])
    if statement.kind == "tag_values":
        values = engine.tag_values(statement.measurement, statement.key) if statement.key in tags else []
        rows = [[statement.key, v] for v in values]
        return QueryResult([Column("key", "string"), Column("value", "string")], rows)
    if statement.kind == "field_keys":
        rows = [[name, kind] for name, kind in fields.items()]
        return QueryResult([Column("fieldKey", "string"), Column("fieldType", "string")], rows)
    rows = [["time", "timestamp", "time"]] + [[k, "string", "tag"] for k in tags]
    rows += [[name, kind, "field"] for name, kind in fields.items()]
    return QueryResult([Column("column", "string"), Column("type", "string"), Column("role", "string")], rows)
