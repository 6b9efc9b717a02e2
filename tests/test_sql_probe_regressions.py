"""Differences a differential probe against PostgreSQL 15 found in window functions, subqueries,
intervals and SIMILAR TO (each fixed), with PostgreSQL's answers: IN of a subquery with no row, a
subquery's value in ORDER BY, typed NULLs and intervals from subqueries, ROWS frames past the
partition's start, WINDOW definitions naming others, INTERVAL '1 day 02:00:00', microsecond rounding,
equal intervals in max/min, interval * NULL, regular expression escapes and POSIX classes."""

from typing import Any, Iterator

import pytest

from rusts.storage.engine import StorageEngine
from sql_cases import assert_answers, assert_refused, lines, open_engine

CASES = [
    ('SELECT count(*) FROM cpu WHERE n NOT IN (SELECT n FROM cpu WHERE n > 100)',
     [[10]]),
    ('SELECT 1 IN (SELECT n FROM cpu WHERE n > 100), 1 NOT IN (SELECT n FROM cpu WHERE n > 100)',
     [[False, True]]),
    ("SELECT count(*) FROM cpu WHERE host = 'a' OR n NOT IN (SELECT n FROM cpu WHERE n > 100)",
     [[10]]),
    ("SELECT host, n FROM cpu WHERE host = 'a' ORDER BY (SELECT 2), time LIMIT 3",
     [['a', 3], ['a', None], ['a', 5]]),
    ('SELECT host FROM cpu GROUP BY host ORDER BY (SELECT count(*) FROM cpu), host',
     [['a'], ['b'], ['c']]),
    ('SELECT extract(epoch FROM (SELECT max(time) - min(time) FROM cpu))',
     [[32400.0]]),
    ('SELECT (SELECT max(time) - min(time) FROM cpu) * 2',
     [['18:00:00']]),
    ("SELECT (SELECT max(time) FROM cpu WHERE false) - interval '1 day'",
     [[None]]),
    ('SELECT n, sum(n) OVER (ORDER BY time ROWS BETWEEN 3 PRECEDING AND 2 PRECEDING) FROM cpu ORDER BY time',
     [[3, None], [-7, None], [None, 3], [12, -4], [3, -7], [5, 12], [None, 15], [2, 8], [3, 5], [-1, 2]]),
    ('SELECT count(*) OVER (ORDER BY time ROWS BETWEEN 5 PRECEDING AND 4 PRECEDING) FROM cpu ORDER BY time',
     [[0], [0], [0], [0], [1], [2], [2], [2], [2], [2]]),
    ('SELECT n, avg(n) OVER (ORDER BY time ROWS BETWEEN 0 PRECEDING AND 5 PRECEDING), max(n) OVER (ORDER BY time ROWS BETWEEN 8 FOLLOWING AND 12 FOLLOWING) FROM cpu ORDER BY time',
     [[3, None, 3], [-7, None, -1], [None, None, None], [12, None, None], [3, None, None], [5, None, None], [None, None, None], [2, None, None], [3, None, None], [-1, None, None]]),
    ('SELECT host, n, count(*) OVER w2 FROM cpu WINDOW w1 AS (PARTITION BY host), w2 AS (w1) ORDER BY host, time LIMIT 3',
     [['a', 3, 4], ['a', None, 4], ['a', 5, 4]]),
    ('SELECT host, n, rank() OVER w2 FROM cpu WINDOW w1 AS (PARTITION BY host), w2 AS (w1 ORDER BY n) ORDER BY host, n, time',
     [['a', 3, 1], ['a', 3, 1], ['a', 5, 3], ['a', None, 4], ['b', -7, 1], ['b', 2, 2], ['b', 3, 3], ['c', -1, 1], ['c', 12, 2], ['c', None, 3]]),
    ("SELECT interval '1 day 02:00:00', interval '3 days 04:05:06.789', interval '2 hours ago'",
     [['1 day 02:00:00', '3 days 04:05:06.789', '-02:00:00']]),
    ("SELECT interval '1 day 23:59:59.999999' + interval '0.000001 s'",
     [['1 day 24:00:00']]),
    ("SELECT extract(epoch FROM interval '1 day 02:00:00')",
     [[93600.0]]),
    ('SELECT host, (max(time) - min(time)) / 7 FROM cpu GROUP BY host ORDER BY host',
     [['a', '01:08:34.285714'], ['b', '00:51:25.714286'], ['c', '00:51:25.714286']]),
    ("SELECT max(x), min(x) FROM (SELECT interval '1 day' x UNION ALL SELECT interval '24 hours') t",
     [['24:00:00', '24:00:00']]),
    ("SELECT interval '1 day' * NULL",
     [[None]]),
    ("SELECT 'a1' SIMILAR TO 'a\\d', 'a1' SIMILAR TO 'a[[:digit:]]', 'ab' SIMILAR TO 'a#b' ESCAPE '#', 'a' SIMILAR TO 'a\\'",
     [[True, True, False, True]]),
    ("SELECT count(*) FROM cpu WHERE host ~ '^[[:alpha:]]$'",
     [[10]]),
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorageEngine]:
    engine = open_engine(tmp_path_factory.mktemp("regressions"), lines())
    yield engine
    engine.close()


@pytest.mark.parametrize(("sql", "expected"), CASES, ids=[sql[:70] for sql, _ in CASES])
def test_answers_equal_postgresqls(engine: StorageEngine, sql: str, expected: list[list[Any]]) -> None:
    assert_answers(engine, sql, expected)


MORE = [
    ("SELECT '5'::interval, '1.5'::interval, interval '0'", [["00:00:05", "00:00:01.5", "00:00:00"]]),
    ("SELECT extract(milliseconds FROM interval '1 minute 2.5 seconds'), extract(microseconds FROM interval '2.000001 seconds')",
     [[2500.0, 2000001.0]]),
    ("SELECT lag(n, 1, 2.5) OVER (ORDER BY time), lag(usage, 1, 0) OVER (ORDER BY time) FROM cpu ORDER BY time LIMIT 2",
     [[2.5, 0.0], [3, 1.5]]),
    ("SELECT cpu.* FROM cpu ORDER BY time LIMIT 1", [[1_765_000_000_000_000_000, "a", 3, 1.5]]),
    ("SELECT DISTINCT host, rank() OVER (ORDER BY host) FROM cpu ORDER BY 1", [["a", 1], ["b", 5], ["c", 8]]),
    ("SELECT n, lag(n, -1) OVER (ORDER BY time), lead(n, -2) OVER (ORDER BY time), lag(n, 0) OVER (ORDER BY time), "
     "lag(n, 50) OVER (ORDER BY time), lead(n) OVER (ORDER BY time), lag(n, 2) OVER (PARTITION BY host ORDER BY time) "
     "FROM cpu ORDER BY time",
     [[3, -7, None, 3, None, -7, None], [-7, None, None, -7, None, None, None], [None, 12, 3, None, None, 12, None],
      [12, 3, -7, 12, None, 3, None], [3, 5, None, 3, None, 5, None], [5, None, 12, 5, None, None, 3],
      [None, 2, 3, None, None, 2, None], [2, 3, 5, 2, None, 3, -7], [3, -1, None, 3, None, -1, None],
      [-1, None, 2, -1, None, None, 12]]),
    ("SELECT DISTINCT host, count(*) OVER (PARTITION BY host) AS c FROM cpu ORDER BY c DESC, host", [["a", 4], ["b", 3], ["c", 3]]),
]


@pytest.mark.parametrize(("sql", "expected"), MORE, ids=[sql[:70] for sql, _ in MORE])
def test_more_answers_equal_postgresqls(engine: StorageEngine, sql: str, expected: list[list[Any]]) -> None:
    assert_answers(engine, sql, expected)


ERRORS = [
    ("SELECT lag(host, 1, 5) OVER (ORDER BY time) FROM cpu", "42883", "function lag(text, bigint, bigint) does not exist"),
    ("SELECT lag(time, 1, 0) OVER (ORDER BY time) FROM cpu", "42883", "function lag(timestamp with time zone, bigint, bigint)"),
    ("SELECT lag(n, usage) OVER (ORDER BY time) FROM cpu", "42883", "function lag(bigint, double precision) does not exist"),
    ("SELECT row_number(n) OVER () FROM cpu", "42883", "function row_number(bigint) does not exist"),
    ("SELECT x.* FROM cpu c", "42P01", 'missing FROM-clause entry for table "x"'),
]


@pytest.mark.parametrize(("sql", "sqlstate", "words"), ERRORS, ids=[sql[:60] for sql, _, _ in ERRORS])
def test_errors(engine: StorageEngine, sql: str, sqlstate: str, words: str) -> None:
    assert_refused(engine, sql, sqlstate, words)
