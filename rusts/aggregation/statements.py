"""SQL statements about continuous aggregates and downsampling policies:

    CREATE CONTINUOUS AGGREGATE name [WITH (realtime = true)] AS SELECT ...
                                                        defines it and materializes it whole
    ALTER CONTINUOUS AGGREGATE name SET (realtime = true | false)
                                                        real-time mode on or off
    DROP CONTINUOUS AGGREGATE [IF EXISTS] name          forgets it and drops its measurement
    REFRESH CONTINUOUS AGGREGATE name                   brings it up to date now
    SHOW CONTINUOUS AGGREGATES                          name, source, bucket, definition, watermark,
                                                        pending buckets, stale ranges, realtime
    CREATE DOWNSAMPLING POLICY ON m (raw: 24h, 1m avg: 7d, 1h avg: 365d) [FIELDS (f: sum, g: max)]
                                                        creates the tiers m_1m, m_1h (rusts.aggregation.policy)
    ALTER DOWNSAMPLING POLICY ON m (raw: 48h, 1m avg: 14d, 1h avg: forever) [FIELDS (...)]
                                                        new periods (same tiers and functions)
    DROP DOWNSAMPLING POLICY [IF EXISTS] ON m           forgets it and drops its tiers
    SHOW DOWNSAMPLING POLICIES                          measurement, tier, bucket, function, retention,
                                                        fields, up_to_date_before
"""

import re
from typing import Final

from rusts.query.model import Column, QueryResult
from rusts.sql.errors import UnsupportedSqlError
from rusts.storage.engine import StorageEngine

NAME_PATTERN: Final = r"[A-Za-z_][A-Za-z0-9_]*"  # rusts.aggregation.definition checks names the same way
_WORDS: Final = re.compile(
    r"(CREATE|DROP|REFRESH|ALTER)\s+CONTINUOUS\s+AGGREGATE\b|SHOW\s+CONTINUOUS\s+AGGREGATES\b"
    r"|(CREATE|DROP|ALTER)\s+DOWNSAMPLING\s+POLICY\b|SHOW\s+DOWNSAMPLING\s+POLICIES\b",
    re.IGNORECASE,
)
_REALTIME: Final = r"\(\s*realtime\s*=\s*(?P<realtime>true|false|on|off)\s*\)"
_CREATE: Final = re.compile(
    rf"CREATE\s+CONTINUOUS\s+AGGREGATE\s+(?P<name>{NAME_PATTERN})\s+(?:WITH\s*{_REALTIME}\s*)?AS\s+(?P<sql>.+)",
    re.IGNORECASE | re.DOTALL,
)
_ALTER: Final = re.compile(rf"ALTER\s+CONTINUOUS\s+AGGREGATE\s+(?P<name>{NAME_PATTERN})\s+SET\s*{_REALTIME}", re.IGNORECASE)
_DROP: Final = re.compile(rf"DROP\s+CONTINUOUS\s+AGGREGATE\s+(?P<exists>IF\s+EXISTS\s+)?(?P<name>{NAME_PATTERN})", re.IGNORECASE)
_REFRESH: Final = re.compile(rf"REFRESH\s+CONTINUOUS\s+AGGREGATE\s+(?P<name>{NAME_PATTERN})", re.IGNORECASE)
_SHOW: Final = re.compile(r"SHOW\s+CONTINUOUS\s+AGGREGATES", re.IGNORECASE)
_POLICY: Final = re.compile(
    rf"(?P<verb>CREATE|ALTER)\s+DOWNSAMPLING\s+POLICY\s+ON\s+(?P<name>{NAME_PATTERN}|\"[^\"]+\")\s*\((?P<tiers>[^()]*)\)"
    r"(?:\s*FIELDS\s*\((?P<fields>[^()]*)\))?",
    re.IGNORECASE,
)
_DROP_POLICY: Final = re.compile(
    rf"DROP\s+DOWNSAMPLING\s+POLICY\s+(?P<exists>IF\s+EXISTS\s+)?ON\s+(?P<name>{NAME_PATTERN}|\"[^\"]+\")", re.IGNORECASE
)
_SHOW_POLICIES: Final = re.compile(r"SHOW\s+DOWNSAMPLING\s+POLICIES", re.IGNORECASE)
SHOW_COLUMNS: Final = [
    Column("name", "string"),
    Column("source", "string"),
    Column("bucket_ns", "integer"),
    Column("definition", "string"),
    Column("watermark", "integer"),
    Column("pending_buckets", "integer"),
    Column("stale_ranges", "integer"),
    Column("realtime", "boolean"),
    Column("refreshes", "integer"),
    Column("refreshed_by", "string"),
]


def is_aggregate_statement(stripped: str) -> bool:
    return _WORDS.match(stripped) is not None


def statement_columns(stripped: str) -> list[Column]:
    """The columns one of these statements answers (describe)."""
    from rusts.aggregation.downsampling import POLICY_COLUMNS

    if _SHOW.fullmatch(stripped):
        return list(SHOW_COLUMNS)
    if _SHOW_POLICIES.fullmatch(stripped):
        return list(POLICY_COLUMNS)
    return []


def aggregate_statement(engine: StorageEngine, stripped: str) -> tuple[QueryResult, str] | None:
    """(answer, command tag) of one of these statements, None for any other statement."""
    if not is_aggregate_statement(stripped):
        return None
    # Imported here: rusts.sql.statement imports this module, and continuous imports rusts.sql.
    from rusts.aggregation import downsampling
    from rusts.aggregation.continuous import UnknownAggregateError, aggregates_of
    from rusts.aggregation.policy import policy_from_text

    match = _CREATE.fullmatch(stripped)
    if match is not None:
        aggregates_of(engine).create(match["name"], match["sql"], _on(match["realtime"]))
        return QueryResult([], []), "CREATE CONTINUOUS AGGREGATE"
    match = _ALTER.fullmatch(stripped)
    if match is not None:
        aggregates_of(engine).set_realtime(match["name"], _on(match["realtime"]))
        return QueryResult([], []), "ALTER CONTINUOUS AGGREGATE"
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
    match = _POLICY.fullmatch(stripped)
    if match is not None:
        policy = policy_from_text(match["name"].strip('"'), match["tiers"], match["fields"] or "")
        if match["verb"].upper() == "CREATE":
            downsampling.create_policy(engine, policy)
            return QueryResult([], []), "CREATE DOWNSAMPLING POLICY"
        if policy.measurement not in aggregates_of(engine).policies:
            raise UnknownAggregateError(f"measurement {policy.measurement!r} has no downsampling policy")
        downsampling.ensure_policy(engine, policy)
        return QueryResult([], []), "ALTER DOWNSAMPLING POLICY"
    match = _DROP_POLICY.fullmatch(stripped)
    if match is not None:
        downsampling.drop_policy(engine, match["name"].strip('"'), match["exists"] is not None)
        return QueryResult([], []), "DROP DOWNSAMPLING POLICY"
    if _SHOW_POLICIES.fullmatch(stripped):
        return QueryResult(list(downsampling.POLICY_COLUMNS), downsampling.policy_rows(engine)), "SHOW"
    if re.match(r"\w+\s+DOWNSAMPLING", stripped, re.IGNORECASE):
        raise UnsupportedSqlError(
            "downsampling statement other than CREATE|ALTER DOWNSAMPLING POLICY ON m (raw: 24h, 1m avg: 7d, ...) "
            "[FIELDS (f: sum, ...)], DROP DOWNSAMPLING POLICY [IF EXISTS] ON m, SHOW DOWNSAMPLING POLICIES",
            stripped,
        )
    raise UnsupportedSqlError(
        "continuous aggregate statement other than CREATE CONTINUOUS AGGREGATE name [WITH (realtime = true)] AS SELECT ..., "
        "ALTER CONTINUOUS AGGREGATE name SET (realtime = true|false), DROP CONTINUOUS AGGREGATE [IF EXISTS] name, "
        "REFRESH CONTINUOUS AGGREGATE name, SHOW CONTINUOUS AGGREGATES",
        stripped,
    )


def _on(word: str | None) -> bool:
    return word is not None and word.lower() in ("true", "on")
