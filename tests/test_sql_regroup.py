"""Aggregating SELECTs answered from rows (rusts.sql.regroup): the same answers as the executor's
aggregates where both can answer, and PostgreSQL 15's answers where only rows can."""

import math
from pathlib import Path
from typing import Any, Iterator

import pytest

from rusts.api.line_protocol import engine_parser
from rusts.core.errors import QueryError
from rusts.query.executor import execute
from rusts.query.model import QueryResult
from rusts.sql import execute_sql, sqlstate_of
from rusts.sql.translator import parse_statement, translate_select
from rusts.storage.engine import EngineOptions, StorageEngine
from sqlglot import exp

BASE = 1_765_000_000_000_000_000  # 2025-12-06T05:46:40Z
MINUTE = 60_000_000_000


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorageEngine]:
    directory: Path = tmp_path_factory.mktemp("regroup")
    engine = StorageEngine.open(EngineOptions(str(directory), wal_durability="none"), engine_parser)
    lines = []
    for k in range(90):
        host = "abc"[k % 3]
        dc = "" if k % 4 == 0 else f",dc={'xy'[k % 2]}"  # a tag some series lack
        fields = [f"f={(k * 37 % 11) - 4.5}"] if k % 5 else []
        fields += [f"j={(k * 13 % 17) - 8}i"] if k % 7 else []
        fields += [f's="w{k % 6}"'] if k % 2 else []
        lines.append(f"m,host={host}{dc} {','.join(fields or ['b=true'])} {BASE + k * MINUTE}")
    half = len(lines) // 2
    assert engine.write_line_protocol("\n".join(lines[:half]).encode()).errors == []
    engine.flush()  # half in segments, half in the memtable
    assert engine.write_line_protocol("\n".join(lines[half:]).encode()).errors == []
    yield engine
    engine.close()


def answer(engine: StorageEngine, sql: str, from_rows: bool) -> QueryResult:
    select = parse_statement(sql)
    assert isinstance(select, exp.Select)
    translation = translate_select(engine, select, BASE, from_rows=from_rows)
    assert (translation.regroup is not None) == from_rows
    return translation.finish(execute(engine, translation.query))


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    return bool(a == b) and type(a) is type(b)


BOTH = [
    "SELECT COUNT(*), COUNT(f), SUM(f), AVG(f), MIN(f), MAX(f), SUM(j), AVG(j), MIN(j), MAX(j) FROM m",
    "SELECT host, COUNT(*), STDDEV(f), MEDIAN(f), percentile_cont(0.9) WITHIN GROUP (ORDER BY j) FROM m GROUP BY host",
    "SELECT host, dc, FIRST(f), LAST(j), MIN(s), MAX(s), COUNT(s) FROM m GROUP BY host, dc",
    "SELECT dc, COUNT(DISTINCT host), SPREAD(f) FROM m GROUP BY dc ORDER BY dc NULLS FIRST",
    "SELECT time_bucket('10 minutes', time) AS t, COUNT(*), SUM(j) FROM m GROUP BY t ORDER BY t",
    "SELECT time_bucket('7 minutes', time) AS t, host, MAX(f) FROM m GROUP BY t, host HAVING COUNT(*) > 1 ORDER BY 3 DESC, t LIMIT 5",
    "SELECT host, SUM(j) / COUNT(*) AS q, MAX(f) - MIN(f) FROM m WHERE time >= '2025-12-06T06:00:00Z' GROUP BY host",
    "SELECT COUNT(*), SUM(f) FROM m WHERE host = 'a' AND j > 0",
    "SELECT COUNT(*), MAX(f) FROM m WHERE time > '2030-01-01T00:00:00Z'",
    "SELECT host, COUNT(*) FROM m WHERE time > '2030-01-01T00:00:00Z' GROUP BY host",
    "SELECT COUNT(*) FROM m WHERE time >= '2025-12-06T07:00:00Z' AND time < '2025-12-06T06:00:00Z'",
]


@pytest.mark.parametrize("sql", BOTH)
def test_rows_answer_as_the_executor_does(engine: StorageEngine, sql: str) -> None:
    expected = answer(engine, sql, from_rows=False)
    got = answer(engine, sql, from_rows=True)
    assert got.columns == expected.columns
    assert len(got.rows) == len(expected.rows), (got.rows, expected.rows)
    for got_row, expected_row in zip(got.rows, expected.rows):
        assert all(map(same, got_row, expected_row)), (got_row, expected_row)


# (query only rows can answer, the same query by the executor's means, or PostgreSQL's answer)
EQUIVALENT = [
    ("SELECT host, MAX(abs(f)) FROM m GROUP BY host", "SELECT host, greatest(MAX(f), -MIN(f)) FROM m GROUP BY host"),
    ("SELECT SUM(j * 2), AVG(f + 1) FROM m", "SELECT SUM(j) * 2, AVG(f) + 1 FROM m"),
    ("SELECT COUNT(*) FROM m WHERE f > 1 OR j < 0", "SELECT COUNT(*) FROM m WHERE f > 1 OR j < 0 OR f <= 1 AND j < 0"),
    ("SELECT host, COUNT(*) FILTER (WHERE j > 0), COUNT(j) FROM m GROUP BY host",
     "SELECT host, SUM(CASE WHEN j > 0 THEN 1 ELSE 0 END), COUNT(j) FROM m GROUP BY host"),
]


@pytest.mark.parametrize(("sql", "other"), EQUIVALENT)
def test_what_only_rows_answer_agrees_with_its_equivalent(engine: StorageEngine, sql: str, other: str) -> None:
    got, expected = execute_sql(engine, sql, now=BASE), execute_sql(engine, other, now=BASE)
    assert len(got.rows) == len(expected.rows) > 0
    for got_row, expected_row in zip(got.rows, expected.rows):
        assert all(same(float(a), float(b)) if isinstance(a, (int, float)) else a == b for a, b in zip(got_row, expected_row))


def test_min_and_max_of_time_and_of_string_expressions(engine: StorageEngine) -> None:
    got = execute_sql(engine, "SELECT host, MIN(time), MAX(time), MAX(upper(s)), COUNT(DISTINCT lower(s)) FROM m GROUP BY host ORDER BY host")
    assert [c.type for c in got.columns] == ["string", "timestamp", "timestamp", "string", "integer"]
    assert [c.name for c in got.columns] == ["host", "min", "max", "max", "count"]
    # s = "w{k % 6}" on odd rows k, host = "abc"[k % 3]: one distinct word per host
    assert got.rows == [
        ["a", BASE, BASE + 87 * MINUTE, "W3", 1],
        ["b", BASE + MINUTE, BASE + 88 * MINUTE, "W1", 1],
        ["c", BASE + 2 * MINUTE, BASE + 89 * MINUTE, "W5", 1],
    ]
    got = execute_sql(engine, "SELECT COUNT(DISTINCT s || host), MIN(time) FILTER (WHERE j > 7) FROM m")
    firsts = [k for k in range(90) if k % 7 and (k * 13 % 17) - 8 > 7]
    assert got.rows == [[3, BASE + firsts[0] * MINUTE]]


def test_errors_are_postgresqls(engine: StorageEngine) -> None:
    for sql, sqlstate in [
        ("SELECT SUM(s || 'x') FROM m", "42883"),
        ("SELECT MAX(b OR true) FROM m", "42883"),
        ("SELECT COUNT(*) FILTER (WHERE j) FROM m", "42804"),
        ("SELECT SUM(j * 9223372036854775807) FROM m", "22003"),
    ]:
        with pytest.raises(QueryError) as caught:
            execute_sql(engine, sql)
        assert sqlstate_of(caught.value) == sqlstate, (sql, str(caught.value))


DAY_2025_12_06 = 1_764_979_200_000_000_000
GROUPED_BY_EXPRESSIONS = [
    ("SELECT lower(host) AS h, count(*), sum(j) FROM m GROUP BY 1 ORDER BY 1", [["a", 30, 27], ["b", 30, -2], ["c", 30, -27]]),
    ("SELECT date_trunc('month', time) AS mo, count(*), min(f), max(j) FROM m GROUP BY 1",
     [[1_764_547_200_000_000_000, 90, -4.5, 8]]),
    ("SELECT time::date AS d, host, count(f) FROM m GROUP BY 1, 2 ORDER BY 2",
     [[DAY_2025_12_06, "a", 24], [DAY_2025_12_06, "b", 24], [DAY_2025_12_06, "c", 24]]),
    ("SELECT DISTINCT s FROM m ORDER BY s", [["w1"], ["w3"], ["w5"], [None]]),
    ("SELECT j > 0 AS pos, avg(f), count(*) FROM m GROUP BY pos HAVING count(*) > 10 ORDER BY pos",
     [[False, 0.5645161290322581, 40], [True, 0.3064516129032258, 37], [None, 0.3, 13]]),
    ("SELECT j, count(*) FROM m GROUP BY j ORDER BY count(*) DESC, j LIMIT 4", [[None, 13], [-3, 6], [-8, 5], [-7, 5]]),
    ("SELECT host, s IS NULL AS unset, count(*) FROM m WHERE f > 0 GROUP BY host, unset ORDER BY host, unset",
     [["a", False, 7], ["a", True, 5], ["b", False, 8], ["b", True, 6], ["c", False, 4], ["c", True, 8]]),
    ("SELECT extract(epoch from date_trunc('year', time)) FROM m LIMIT 1", [[1735689600.0]]),
]


@pytest.mark.parametrize(("sql", "expected"), GROUPED_BY_EXPRESSIONS, ids=[sql for sql, _ in GROUPED_BY_EXPRESSIONS])
def test_group_by_expressions_fields_and_calendar_units_answer_as_postgresql(
    engine: StorageEngine, sql: str, expected: list[list[Any]]
) -> None:
    # expected: PostgreSQL 15 over the same 90 rows (time::date is a timestamptz midnight here, a date there)
    got = execute_sql(engine, sql, now=BASE).rows
    assert len(got) == len(expected), got
    for row, wanted in zip(got, expected):
        assert len(row) == len(wanted) and all(same(a, b) for a, b in zip(row, wanted)), (row, wanted)


def test_aggregates_in_group_by_are_42803(engine: StorageEngine) -> None:
    with pytest.raises(QueryError) as caught:
        execute_sql(engine, "SELECT count(*) FROM m GROUP BY max(j)")
    assert sqlstate_of(caught.value) == "42803" and "aggregate functions are not allowed in GROUP BY" in str(caught.value)
