"""What a statement means on a PostgreSQL connection: the catalog and session answers of
rusts.pgwire.catalog first, then RusTs SQL (rusts.sql). Blocking; the connection runs these in
worker threads.
"""

import re
from collections.abc import Iterable
from itertools import chain
from typing import Final

from rusts.core.errors import AuthError, RustsError
from rusts.pgwire import types as t
from rusts.pgwire.catalog import CatalogResult, Session, answer
from rusts.pgwire.copy import CopyPlan
from rusts.pgwire.statements import deallocate_target, fill_placeholders, placeholders, spaced_placeholders, transaction_command
from rusts.pgwire.catalog_tables import TYPES_BY_OID
from rusts.pgwire.values import COLUMN_OIDS
from rusts.query.batches import ColumnarRows
from rusts.sql import describe_sql, parameter_types, stream_sql
from rusts.sql.errors import sqlstate_of
from rusts.storage.engine import StorageEngine

_TYPE_OIDS: Final = {
    **COLUMN_OIDS, "": t.TEXT, "string[]": t.TEXT_ARRAY, "integer[]": t.INT8_ARRAY, "unsigned[]": t.INT8_ARRAY,
    "float[]": t.FLOAT8_ARRAY, "boolean[]": t.BOOL_ARRAY, "timestamp[]": t.TIMESTAMPTZ_ARRAY,
}
STREAM_BATCH_ROWS: Final = 32768  # rows the executor hands over at a time; the wire takes them in chunks


class Outcome:
    """A statement's answer: columns as (name, type OID), rows, and its CommandComplete tag.

    `materialized` rows are in memory already (encoding them needs no worker thread); `changed`
    names reported parameters a SET changed.
    """

    def __init__(
        self, columns: list[tuple[str, int]], rows: Iterable[list[object]], tag: str,
        changed: list[str] | None = None, materialized: bool = True,
    ) -> None:
        self.columns = columns
        self.rows = rows
        self.tag = tag
        self.changed = changed or []
        self.materialized = materialized
        self.copy: CopyPlan | None = None  # a COPY ... TO STDOUT: the rows go out as CopyData

    def tag_for(self, sent: int) -> str:
        """The tag, with the row count of a SELECT as sent."""
        return f"SELECT {sent}" if self.tag.startswith("SELECT") else self.tag


# A SELECT that reads a named relation and mentions nothing of the catalog (no pg_*, no
# information_schema) is a query on measurements: skip the catalog's parse (about 0.5-1 ms).
_CATALOG_WORDS: Final = re.compile(r"pg_|information_schema", re.IGNORECASE)
_READS_RELATION: Final = re.compile(r"^\s*select\b.*?\bfrom\s+(\"?)[A-Za-z_][\w$]*+\1(?!\s*[(.])", re.IGNORECASE | re.DOTALL)


def _catalog_answer(engine: StorageEngine, sql: str, session: Session) -> CatalogResult | None:
    if _READS_RELATION.match(sql) and not _CATALOG_WORDS.search(sql):
        return None
    return answer(engine, sql, session)


def execute(engine: StorageEngine, session: Session, sql: str, timeout: float) -> Outcome:
    caught = _catalog_answer(engine, sql, session)
    if caught is not None:
        return Outcome(caught.columns, caught.rows, caught.tag, list(caught.changed))
    stream = stream_sql(engine, sql, timeout, batch_rows=STREAM_BATCH_ROWS, columnar=True)
    columns = [(column.name, _TYPE_OIDS.get(column.type, t.TEXT)) for column in stream.columns]
    rows: Iterable[list[object]] = chain.from_iterable(stream.batches)
    if stream.column_batches is not None:
        rows = ColumnarRows(stream.column_batches)  # encoded from its columns (rusts.pgwire.rows)
    return Outcome(columns, rows, stream.tag, materialized=False)


def describe(engine: StorageEngine, session: Session, text: str) -> list[tuple[str, int]]:
    """The result columns of a prepared statement, without running a data query."""
    if transaction_command(text) is not None or deallocate_target(text) is not None or not text.strip():
        return []
    count = placeholders(text)
    probe = fill_placeholders(text, ["NULL"] * count) if count else text
    caught = _catalog_answer(engine, probe, session)
    if caught is not None:
        return caught.columns
    return [(column.name, _TYPE_OIDS.get(column.type, t.TEXT)) for column in describe_sql(engine, spaced_placeholders(text))]


# `$n::type`, `$n::type[]` and `CAST($n AS type)`: the type a placeholder is cast to (what PostgreSQL
# describes it as).
_TYPE_NAME: Final = r"([a-z_][a-z0-9_]*(?:\s+(?:precision|with(?:out)?\s+time\s+zone|varying))?)(\s*\[\s*\])?"
_CAST_PLACEHOLDER: Final = re.compile(rf"\$(\d+)\s*::\s*{_TYPE_NAME}|\bcast\s*\(\s*\$(\d+)\s+as\s+{_TYPE_NAME}", re.IGNORECASE)
_CAST_OIDS: Final = {
    "smallint": t.INT2, "int2": t.INT2, "integer": t.INT4, "int": t.INT4, "int4": t.INT4, "bigint": t.INT8, "int8": t.INT8,
    "real": t.FLOAT4, "float4": t.FLOAT4, "double precision": t.FLOAT8, "float8": t.FLOAT8, "float": t.FLOAT8,
    "numeric": t.NUMERIC, "decimal": t.NUMERIC, "boolean": t.BOOL, "bool": t.BOOL, "text": t.TEXT, "varchar": t.VARCHAR,
    "character varying": t.VARCHAR, "name": t.NAME, "oid": t.OID, "regclass": t.TEXT, "timestamptz": t.TIMESTAMPTZ,
    "timestamp with time zone": t.TIMESTAMPTZ, "timestamp": t.TIMESTAMP, "timestamp without time zone": t.TIMESTAMP,
}


def _cast_oids(text: str) -> dict[int, int]:
    found: dict[int, int] = {}
    for match in _CAST_PLACEHOLDER.finditer(text):
        number, name, array = match.group(1, 2, 3) if match.group(1) else match.group(4, 5, 6)
        oid = _CAST_OIDS.get(" ".join(name.lower().split()))
        if oid is not None and array:
            oid = TYPES_BY_OID[oid].array if oid in TYPES_BY_OID else None
        if oid:
            found.setdefault(int(number), oid)
    return found


def parameter_oids(engine: StorageEngine, text: str, declared: list[int]) -> list[int]:
    """`declared` with each unspecified (0) type taken from a cast on it (`$1::int2`), else inferred from
    the statement; text when nothing says otherwise."""
    cast = _cast_oids(text) if "$" in text else {}
    try:
        inferred = [_TYPE_OIDS.get(kind, t.TEXT) for kind in parameter_types(engine, spaced_placeholders(text))]
    except Exception:
        inferred = []  # a catalog query or something rusts/sql does not parse: its parameters are text
    return [oid or cast.get(i + 1) or (inferred[i] if i < len(inferred) else t.TEXT) for i, oid in enumerate(declared)]


def sqlstate_for(exc: BaseException) -> str:
    """The SQLSTATE of an error reported to a client."""
    own = getattr(exc, "sqlstate", None)
    if isinstance(own, str) and len(own) == 5:
        return own
    if isinstance(exc, AuthError):
        return "28000"
    if isinstance(exc, RustsError):
        return sqlstate_of(exc)
    return "XX000"
