"""SHOW RETENTION POLICIES and SHOW PARTITIONS: the statements' columns and rows.

    SHOW RETENTION POLICIES   measurement ("*" = the default), retention, warm_after, cold_after
    SHOW PARTITIONS           start, end, tier, bytes, segments, directory (oldest first)
"""

import re
from collections.abc import Callable

from rusts.query.model import Column, QueryResult
from rusts.retention.manager import RetentionManager, default_manager
from rusts.storage.engine import StorageEngine

_POLICIES = re.compile(r"show\s+retention\s+policies", re.IGNORECASE)
_PARTITIONS = re.compile(r"show\s+partitions", re.IGNORECASE)

_POLICY_COLUMNS = [Column("measurement", "string"), Column("retention", "string"), Column("warm_after", "string"), Column("cold_after", "string")]
_PARTITION_COLUMNS = [
    Column("start", "timestamp"),
    Column("end", "timestamp"),
    Column("tier", "string"),
    Column("bytes", "integer"),
    Column("segments", "integer"),
    Column("directory", "string"),
]

_STATEMENTS: list[tuple[re.Pattern[str], list[Column], Callable[[RetentionManager], list[list[object]]]]] = [
    (_POLICIES, _POLICY_COLUMNS, RetentionManager.policy_rows),
    (_PARTITIONS, _PARTITION_COLUMNS, RetentionManager.partition_rows),
]


def retention_statement(engine: StorageEngine, stripped: str, rows: bool = True) -> QueryResult | None:
    """The answer to `stripped` (no trailing ';') when it is one of these statements, else None;
    with `rows` False only the columns (for describe)."""
    for pattern, columns, answer in _STATEMENTS:
        if pattern.fullmatch(stripped):
            return QueryResult(list(columns), answer(default_manager(engine)) if rows else [])
    return None
