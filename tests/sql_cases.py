"""Shared by the SQL tests checked against PostgreSQL 15's answers (windows, subqueries, joins,
intervals, the probe's regressions): ten rows of table cpu, how an answer is compared, and the two
checks every such test makes."""

import math
from pathlib import Path
from typing import Any

import pytest

from rusts.api.line_protocol import engine_parser
from rusts.core.errors import QueryError
from rusts.sql import execute_sql, sqlstate_of
from rusts.sql.intervals import Interval
from rusts.storage.engine import EngineOptions, StorageEngine

BASE = 1_765_000_000_000_000_000
HOUR = 3_600_000_000_000
# host, usage, n (None: the row has no n), hours after BASE
ROWS = [("a", 1.5, 3, 0), ("b", -2.25, -7, 1), ("a", 0.0, None, 2), ("c", 100.125, 12, 3), ("b", 1.5, 3, 4),
        ("a", 1.5, 5, 5), ("c", 7.0, None, 6), ("b", 0.0, 2, 7), ("a", 9.25, 3, 8), ("c", 1.5, -1, 9)]


def lines() -> bytes:
    """ROWS as line protocol (measurement cpu, tag host, fields usage and n)."""
    return "\n".join(
        f"cpu,host={h} usage={u}" + ("" if n is None else f",n={n}i") + f" {BASE + t * HOUR}" for h, u, n, t in ROWS
    ).encode()


def open_engine(directory: Path, *bodies: bytes) -> StorageEngine:
    engine = StorageEngine.open(EngineOptions(str(directory), wal_durability="none"), engine_parser)
    for body in bodies:
        assert engine.write_line_protocol(body).errors == []
    return engine


def same(got: Any, expected: Any) -> bool:
    """PostgreSQL's JSON answer against RusTs's value: numbers by value (12 significant digits: float
    sums and stddev add in other orders), everything else exactly."""
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        return isinstance(got, (int, float)) and not isinstance(got, bool) and math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(got, Interval):  # PostgreSQL's JSON has an interval's text
        return str(got) == expected
    return bool(got == expected) and type(got) is type(expected)


def assert_answers(engine: StorageEngine, sql: str, expected: list[list[Any]]) -> None:
    rows = execute_sql(engine, sql).rows
    assert len(rows) == len(expected), rows
    for got, want in zip(rows, expected):
        assert len(got) == len(want) and all(same(g, w) for g, w in zip(got, want)), (got, want)


def assert_refused(engine: StorageEngine, sql: str, sqlstate: str, words: str) -> None:
    with pytest.raises(QueryError) as raised:
        execute_sql(engine, sql)
    assert sqlstate_of(raised.value) == sqlstate and words in str(raised.value), str(raised.value)
