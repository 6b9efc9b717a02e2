"""SQL statements about continuous aggregates:

    CREATE CONTINUOUS AGGREGATE name AS SELECT ...     defines it and materializes it whole
    DROP CONTINUOUS AGGREGATE [IF EXISTS] name          forgets it and drops its measurement
    REFRESH CONTINUOUS AGGREGATE name                   brings it up to date now
    SHOW CONTINUOUS AGGREGATES                          name, source, bucket, definition, watermark,
                                                        pending buckets, stale ranges
"""

import re
from typing import Final

from rusts.query.model import Column, QueryResult
from rusts.sql.errors import UnsupportedSqlError
from rusts.storage.engine import StorageEngine

NAME_PATTERN: Final = r"[A-Za-z_][A-Za-z0-9_]*"  # rusts.aggregation.definition checks names the same way
_WORDS: Final = re.compile(r"(CREATE|DROP|REFRESH)\s+CONTINUOUS\s+AGGREGATE\b|SHOW\s+CONTINUOUS\s+AGGREGATES\b", re.IGNORECASE)
_CREATE: Final = re.compile(rf"CREATE\s+CONTINUOUS\s+AGGREGATE\s+(?P<name>{NAME_PATTERN})\s+AS\s+(?P<sql>.+)", re.IGNORECASE | re.DOTALL)
_DROP: Final = re.compile(rf"DROP\s+CONTINUOUS\s+AGGREGATE\s+(?P<exists>IF\s+EXISTS\s+)?(?P<name>{NAME_PATTERN})", re.IGNORECASE)
_REFRESH: Final = re.compile(rf"REFRESH\s+CONTINUOUS\s+AGGREGATE\s+(?P<name>{NAME_PATTERN})", re.IGNORECASE)
_SHOW: Final = re.compile(r"SHOW\s+CONTINUOUS\s+AGGREGATES", re.IGNORECASE)
SHOW_COLUMNS: Final = [
    Column("name", "string"),
    Column("source", "string"),
    Column("bucket_ns", "integer"),
    Column("definition", "string"),
    Column("watermark", "integer"),
    Column("pending_buckets", "integer"),
    Column("stale_ranges", "integer"),
]


def is_aggregate_statement(stripped: str) -> bool:
    return _WORDS.match(stripped) is not None


def aggregate_statement(engine: StorageEngine, stripped: str) -> tuple[QueryResult, str] | None:
    """(answer, command tag) of one of these statements, None for any other statement."""
    if not is_aggregate_statement(stripped):
        return None
    # Imported here: rusts.sql.statement imports this module, and continuous imports rusts.sql.
    from rusts.aggregation.continuous import aggregates_of

    match = _CREATE.fullmatch(stripped)
    if match is not None:
        aggregates_of(engine).create(match["name"], match["sql"])
        return QueryResult([], []), "CREATE CONTINUOUS AGGREGATE"
    match = _DROP.fullmatch(stripped)
    if match is not None:
        aggregates_of(engine).drop(match["name"], match["exists"] is not None)
        return QueryResult([], []), "DROP CONTINUOUS AGGREGATE"
    match = _REFRESH.fullmatch(stripped)
    if match is not None:
        aggregates_of(engine).refresh(match["name"])
        return QueryResult([], []), "REFRESH CONTINUOUS AGGREGATE"
    if _SHOW.fullmatch(stripped):
        return QueryResult(list(SHOW_COLUMNS), aggregates_of(engine).rows()), "SHOW"
    raise UnsupportedSqlError(
        "continuous aggregate statement other than CREATE CONTINUOUS AGGREGATE name AS SELECT ..., "
        "DROP CONTINUOUS AGGREGATE [IF EXISTS] name, REFRESH CONTINUOUS AGGREGATE name, SHOW CONTINUOUS AGGREGATES",
        stripped,
    )
