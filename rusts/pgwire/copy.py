"""COPY ... TO STDOUT: a query's rows in COPY's text or CSV format (psql's \\copy, psycopg's copy,
asyncpg's copy_from_query, pandas-free exports).

    COPY (SELECT ...) TO STDOUT [[WITH] (FORMAT text | csv, HEADER [bool], DELIMITER 'c', NULL 's')]
    COPY m [(column, ...)] TO STDOUT [WITH] [DELIMITER [AS] 'c'] [NULL [AS] 's'] [CSV [HEADER]]

`copy_plan` reads the statement (None when it is not a COPY ... TO STDOUT); the query runs as any
SELECT, and `copy_lines` turns its rows into the CopyData lines, each value in the column type's
text form (the same as a DataRow's text format). COPY FROM, COPY TO a file and the binary format
are refused by name: writes come in by line protocol or INSERT.
"""

import re
from collections.abc import Iterable, Iterator
from typing import Final, NamedTuple

from rusts.pgwire.errors import PgError
from rusts.pgwire.statements import SQL_NAME, sql_identifier
from rusts.pgwire.values import encoders

_COPY: Final = re.compile(r"\s*copy\b", re.IGNORECASE)
_NAME: Final = re.compile(rf"\s*({SQL_NAME})(?:\s*\.\s*({SQL_NAME}))?")
_COLUMNS: Final = re.compile(r'\s*\(([^()]*)\)')
_TO_STDOUT: Final = re.compile(r"\s*to\s+stdout\b", re.IGNORECASE)
_OPTION: Final = re.compile(r"\s*([A-Za-z_]+)(?:\s+(?:as\s+)?('(?:[^']|'')*'|[A-Za-z0-9_]+))?\s*,?", re.IGNORECASE)
_LEGACY: Final = re.compile(r"\s*(binary|csv|header|delimiter|null|quote|escape)\b(?:\s+(?:as\s+)?('(?:[^']|'')*'))?", re.IGNORECASE)


class CopyPlan(NamedTuple):
    """What a COPY ... TO STDOUT asks for."""

    select: str
    csv: bool
    header: bool
    delimiter: str
    null: str


def copy_plan(sql: str) -> CopyPlan | None:
    """The plan of a `COPY ... TO STDOUT`; None for any other statement; PgError for a COPY RusTs does not run."""
    start = _COPY.match(sql)
    if start is None:
        return None
    at = start.end()
    rest = sql[at:].lstrip()
    if rest.startswith("("):
        close = _closing_parenthesis(rest)
        select = rest[1:close].strip()
        after = rest[close + 1 :]
    else:
        name = _NAME.match(rest)
        if name is None:
            raise PgError("42601", "COPY needs a table name or a parenthesised query")
        relation = sql_identifier(name.group(2) or name.group(1))
        if name.group(2) and sql_identifier(name.group(1)) != "public":
            raise PgError("0A000", "COPY of a schema-qualified table other than public is not supported by RusTs")
        after = rest[name.end() :]
        columns = _COLUMNS.match(after)
        listed = "*"
        if columns is not None:
            listed = ", ".join(c.strip() for c in columns.group(1).split(",") if c.strip()) or "*"
            after = after[columns.end() :]
        quoted = '"' + relation.replace('"', '""') + '"'
        select = f"SELECT {listed} FROM {quoted}"
    target = _TO_STDOUT.match(after)
    if target is None:
        if re.match(r"\s*from\b", after, re.IGNORECASE):
            raise PgError("0A000", "COPY FROM is not supported by RusTs: write with line protocol (POST /write) or INSERT")
        raise PgError("0A000", "COPY TO a file or program is not supported by RusTs: use COPY ... TO STDOUT")
    return _options(select, after[target.end() :])


def _closing_parenthesis(text: str) -> int:
    depth = 0
    quote = ""
    for i, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
    raise PgError("42601", "COPY: the query's parenthesis is not closed")


def _options(select: str, text: str) -> CopyPlan:
    csv, header, delimiter, null = False, False, "", None
    text = text.strip().rstrip(";").strip()
    if text[:4].lower() == "with":
        text = text[4:].strip()
    values: list[tuple[str, str]] = []
    if text.startswith("("):
        if not text.endswith(")"):
            raise PgError("42601", f"COPY options {text!r}: expected (option value, ...)")
        body = text[1:-1]
        while body.strip():
            found = _OPTION.match(body)
            if found is None or not found.group(0).strip():
                raise PgError("42601", f"COPY options: cannot read {body.strip()!r}")
            values.append((found.group(1).lower(), found.group(2) or ""))
            body = body[found.end() :]
    else:
        while text.strip():
            found = _LEGACY.match(text)
            if found is None:
                raise PgError("42601", f"COPY options: cannot read {text.strip()!r}")
            values.append((found.group(1).lower(), found.group(2) or ""))
            text = text[found.end() :]
    for option, raw in values:
        value = raw[1:-1].replace("''", "'") if raw.startswith("'") else raw.lower()
        if option == "format":
            if value not in ("text", "csv", "binary"):
                raise PgError("22023", f'COPY format "{value}" not recognized')
            if value == "binary":
                raise PgError("0A000", "COPY's binary format is not supported by RusTs: use FORMAT text or csv")
            csv = value == "csv"
        elif option in ("csv", "binary"):
            if option == "binary":
                raise PgError("0A000", "COPY's binary format is not supported by RusTs: use FORMAT text or csv")
            csv = True
        elif option == "header":
            header = value not in ("false", "off", "0")
        elif option == "delimiter":
            if len(value) != 1:
                raise PgError("22023", "COPY delimiter must be a single one-byte character")
            delimiter = value
        elif option == "null":
            null = value
        elif option in ("quote", "escape", "encoding", "force_quote"):
            if option == "encoding" and value.upper().replace("-", "") != "UTF8":
                raise PgError("0A000", "COPY answers UTF8 only")
            if option in ("quote", "escape") and value not in ('"', ""):
                raise PgError("0A000", f"COPY {option.upper()} other than '\"' is not supported by RusTs")
        else:
            raise PgError("42601", f'COPY option "{option}" not recognized')
    if header and not csv:
        raise PgError("0A000", "COPY HEADER available only in CSV mode")
    return CopyPlan(select, csv, header, delimiter or ("," if csv else "\t"), ("" if csv else "\\N") if null is None else null)


def copy_lines(plan: CopyPlan, names: list[str], oids: list[int], rows: Iterable[list[object]]) -> Iterator[bytes]:
    """The CopyData payloads: the header line when asked, then one line per row."""
    encode = encoders(oids, [0] * len(oids))
    delimiter = plan.delimiter.encode()
    null = plan.null.encode()
    cell = _csv_cell if plan.csv else _text_cell
    if plan.header:
        yield delimiter.join(_csv_cell(name.encode(), delimiter, null) for name in names) + b"\n"
    for row in rows:
        parts = [null if value is None else cell(encoder(value), delimiter, null) for value, encoder in zip(row, encode)]
        yield delimiter.join(parts) + b"\n"


def _text_cell(raw: bytes, delimiter: bytes, null: bytes) -> bytes:
    if b"\\" in raw or b"\n" in raw or b"\r" in raw or b"\t" in raw or delimiter in raw:
        raw = raw.replace(b"\\", b"\\\\").replace(b"\n", b"\\n").replace(b"\r", b"\\r").replace(b"\t", b"\\t")
        if delimiter not in (b"\t", b"\n", b"\r", b"\\"):
            raw = raw.replace(delimiter, b"\\" + delimiter)
    return raw


def _csv_cell(raw: bytes, delimiter: bytes, null: bytes) -> bytes:
    if raw == null or delimiter in raw or b'"' in raw or b"\n" in raw or b"\r" in raw or raw == b"\\.":
        return b'"' + raw.replace(b'"', b'""') + b'"'
    return raw
