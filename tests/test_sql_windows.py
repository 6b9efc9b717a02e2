"""Window functions (rusts.sql.windows), checked against PostgreSQL 15's answers.

Each expected answer is what PostgreSQL answered for the same query over the same ten rows (table cpu:
time timestamptz, host text, usage float8, n int8; n is NULL where the row has no field n), taken as
JSON: numbers are compared by value (12 significant digits: PostgreSQL's stddev and float sums use
other summation orders), everything else exactly. Then the errors PostgreSQL gives, with its SQLSTATE,
and the column types a PostgreSQL client sees over pgwire.
"""

from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest

from rusts.storage.engine import StorageEngine
from servers import RustsServer
from sql_cases import BASE, assert_answers, assert_refused, lines, open_engine

@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorageEngine]:
    engine = open_engine(tmp_path_factory.mktemp("windows"), lines())
    yield engine
    engine.close()


CASES = [
    ('SELECT host, usage, row_number() OVER (PARTITION BY host ORDER BY time) FROM cpu ORDER BY time',
     [['a', 1.5, 1], ['b', -2.25, 1], ['a', 0, 2], ['c', 100.125, 1], ['b', 1.5, 2], ['a', 1.5, 3], ['c', 7, 2], ['b', 0, 3], ['a', 9.25, 4], ['c', 1.5, 3]]),
    ('SELECT usage, rank() OVER (ORDER BY usage), dense_rank() OVER (ORDER BY usage), percent_rank() OVER (ORDER BY usage), cume_dist() OVER (ORDER BY usage) FROM cpu ORDER BY usage, time',
     [[-2.25, 1, 1, 0, 0.1], [0, 2, 2, 0.1111111111111111, 0.3], [0, 2, 2, 0.1111111111111111, 0.3], [1.5, 4, 3, 0.3333333333333333, 0.7], [1.5, 4, 3, 0.3333333333333333, 0.7], [1.5, 4, 3, 0.3333333333333333, 0.7], [1.5, 4, 3, 0.3333333333333333, 0.7], [7, 8, 4, 0.7777777777777778, 0.8], [9.25, 9, 5, 0.8888888888888888, 0.9], [100.125, 10, 6, 1, 1]]),
    ('SELECT n, rank() OVER (ORDER BY n), rank() OVER (ORDER BY n NULLS FIRST), rank() OVER (ORDER BY n DESC), rank() OVER (ORDER BY n DESC NULLS LAST) FROM cpu ORDER BY time',
     [[3, 4, 6, 5, 3], [-7, 1, 3, 10, 8], [None, 9, 1, 1, 9], [12, 8, 10, 3, 1], [3, 4, 6, 5, 3], [5, 7, 9, 4, 2], [None, 9, 1, 1, 9], [2, 3, 5, 8, 6], [3, 4, 6, 5, 3], [-1, 2, 4, 9, 7]]),
    ('SELECT ntile(3) OVER (ORDER BY time), ntile(4) OVER (ORDER BY time), ntile(20) OVER (ORDER BY time) FROM cpu ORDER BY time',
     [[1, 1, 1], [1, 1, 2], [1, 1, 3], [1, 2, 4], [2, 2, 5], [2, 2, 6], [2, 3, 7], [3, 3, 8], [3, 4, 9], [3, 4, 10]]),
    ("SELECT lag(usage) OVER (ORDER BY time), lead(usage) OVER (ORDER BY time), lag(usage, 2, -1) OVER (ORDER BY time), lead(n, 3, 0) OVER (ORDER BY time), lag(host, 1, 'none') OVER (ORDER BY time) FROM cpu ORDER BY time",
     [[None, -2.25, -1, 12, 'none'], [1.5, 0, -1, 3, 'a'], [-2.25, 100.125, 1.5, 5, 'b'], [0, 1.5, -2.25, None, 'a'], [100.125, 1.5, 0, 2, 'c'], [1.5, 7, 100.125, 3, 'b'], [1.5, 0, 1.5, -1, 'a'], [7, 9.25, 1.5, 0, 'c'], [0, 1.5, 7, 0, 'b'], [9.25, None, 0, 0, 'a']]),
    ('SELECT host, usage - lag(usage) OVER (PARTITION BY host ORDER BY time) AS delta FROM cpu ORDER BY host, time',
     [['a', None], ['a', -1.5], ['a', 1.5], ['a', 7.75], ['b', None], ['b', 3.75], ['b', -1.5], ['c', None], ['c', -93.125], ['c', -5.5]]),
    ('SELECT sum(n) OVER (ORDER BY time), count(n) OVER (ORDER BY time), count(*) OVER (ORDER BY time), avg(usage) OVER (ORDER BY time) FROM cpu ORDER BY time',
     [[3, 1, 1, 1.5], [-4, 2, 2, -0.375], [-4, 2, 3, -0.25], [8, 3, 4, 24.84375], [11, 4, 5, 20.175], [16, 5, 6, 17.0625], [16, 5, 7, 15.625], [18, 6, 8, 13.671875], [21, 7, 9, 13.180555555555555], [20, 8, 10, 12.0125]]),
    ('SELECT usage, sum(usage) OVER (ORDER BY usage), count(*) OVER (ORDER BY usage) FROM cpu ORDER BY usage, time',
     [[-2.25, -2.25, 1], [0, -2.25, 3], [0, -2.25, 3], [1.5, 3.75, 7], [1.5, 3.75, 7], [1.5, 3.75, 7], [1.5, 3.75, 7], [7, 10.75, 8], [9.25, 20, 9], [100.125, 120.125, 10]]),
    ('SELECT avg(usage) OVER (ORDER BY time ROWS BETWEEN 2 PRECEDING AND CURRENT ROW), min(usage) OVER (ORDER BY time ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING), max(n) OVER (ORDER BY time ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING), sum(n) OVER (ORDER BY time ROWS 2 PRECEDING) FROM cpu ORDER BY time',
     [[1.5, -2.25, 12, 3], [-0.375, -2.25, 12, -4], [-0.25, -2.25, 12, -4], [32.625, 0, 12, 5], [33.875, 1.5, 5, 15], [34.375, 1.5, 5, 20], [3.3333333333333335, 0, 3, 8], [2.8333333333333335, 0, 3, 7], [5.416666666666667, 0, 3, 5], [3.5833333333333335, 1.5, -1, 4]]),
    ('SELECT host, sum(usage) OVER (PARTITION BY host), max(usage) OVER (PARTITION BY host), count(*) OVER () FROM cpu ORDER BY time',
     [['a', 12.25, 9.25, 10], ['b', -0.75, 1.5, 10], ['a', 12.25, 9.25, 10], ['c', 108.625, 100.125, 10], ['b', -0.75, 1.5, 10], ['a', 12.25, 9.25, 10], ['c', 108.625, 100.125, 10], ['b', -0.75, 1.5, 10], ['a', 12.25, 9.25, 10], ['c', 108.625, 100.125, 10]]),
    ('SELECT first_value(usage) OVER (ORDER BY time), last_value(usage) OVER (ORDER BY time), nth_value(usage, 3) OVER (ORDER BY time), last_value(usage) OVER (ORDER BY time ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING), nth_value(n, 2) OVER (PARTITION BY host ORDER BY time ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) FROM cpu ORDER BY time',
     [[1.5, 1.5, None, 1.5, None], [1.5, -2.25, None, 1.5, 3], [1.5, 0, 0, 1.5, None], [1.5, 100.125, 0, 1.5, None], [1.5, 1.5, 0, 1.5, 3], [1.5, 1.5, 0, 1.5, None], [1.5, 7, 0, 1.5, None], [1.5, 0, 0, 1.5, 3], [1.5, 9.25, 0, 1.5, None], [1.5, 1.5, 0, 1.5, None]]),
    ('SELECT host, avg(usage), rank() OVER (ORDER BY avg(usage) DESC), sum(count(*)) OVER () FROM cpu GROUP BY host ORDER BY host',
     [['a', 3.0625, 2, 10], ['b', -0.25, 3, 10], ['c', 36.208333333333336, 1, 10]]),
    ('SELECT sum(usage) FILTER (WHERE usage > 1) OVER (ORDER BY time) FROM cpu ORDER BY time',
     [[1.5], [1.5], [1.5], [101.625], [103.125], [104.625], [111.625], [111.625], [120.875], [122.375]]),
    ('SELECT row_number() OVER (ORDER BY time DESC) AS rn, usage FROM cpu ORDER BY rn LIMIT 3',
     [[1, 1.5], [2, 9.25], [3, 0]]),
    ('SELECT usage FROM cpu ORDER BY row_number() OVER (ORDER BY usage DESC, time) LIMIT 4',
     [[100.125], [9.25], [7], [1.5]]),
    ('SELECT host, row_number() OVER (PARTITION BY host ORDER BY time DESC) FROM cpu ORDER BY time LIMIT 5 OFFSET 2',
     [['a', 3], ['c', 3], ['b', 2], ['a', 2], ['c', 2]]),
    ('SELECT host, count(*) OVER (PARTITION BY host ORDER BY time RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) FROM cpu ORDER BY time',
     [['a', 4], ['b', 3], ['a', 3], ['c', 3], ['b', 2], ['a', 2], ['c', 2], ['b', 1], ['a', 1], ['c', 1]]),
    ('SELECT usage, min(n) OVER (ORDER BY usage RANGE BETWEEN CURRENT ROW AND CURRENT ROW) FROM cpu ORDER BY usage, time',
     [[-2.25, -7], [0, 2], [0, 2], [1.5, -1], [1.5, -1], [1.5, -1], [1.5, -1], [7, None], [9.25, 3], [100.125, 12]]),
    ('SELECT stddev(usage) OVER (ORDER BY time ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM cpu ORDER BY time',
     [[None], [2.6516504294495533], [1.8874586088176875], [58.46753907083827], [57.3790848219105], [56.94117029882684], [3.1754264805429417], [3.685557397915997], [4.823985212802102], [4.964457002868826]]),
    ('SELECT host, n, lag(n) OVER w, lead(n) OVER w FROM cpu WINDOW w AS (PARTITION BY host ORDER BY n NULLS FIRST) ORDER BY host, n NULLS FIRST',
     [['a', None, None, 3], ['a', 3, None, 3], ['a', 3, 3, 5], ['a', 5, 3, None], ['b', -7, None, 2], ['b', 2, -7, 3], ['b', 3, 2, None], ['c', None, None, -1], ['c', -1, None, 12], ['c', 12, -1, None]]),
    ('SELECT host, count(*), row_number() OVER (ORDER BY count(*) DESC, host) FROM cpu GROUP BY host HAVING count(*) > 2 ORDER BY 3',
     [['a', 4, 1], ['b', 3, 2], ['c', 3, 3]]),
    ('SELECT row_number() OVER (), count(*) OVER ()',
     [[1, 1]]),
]


@pytest.mark.parametrize(("sql", "expected"), CASES, ids=[sql[:70] for sql, _ in CASES])
def test_answers_equal_postgresqls(engine: StorageEngine, sql: str, expected: list[list[Any]]) -> None:
    assert_answers(engine, sql, expected)


ERRORS = [
    ("SELECT usage FROM cpu WHERE row_number() OVER () > 1", "42P20", "window functions are not allowed in WHERE"),
    ("SELECT usage FROM cpu GROUP BY usage HAVING rank() OVER () > 1", "42P20", "window functions are not allowed in HAVING"),
    ("SELECT count(*) FROM cpu GROUP BY rank() OVER ()", "42P20", "window functions are not allowed in GROUP BY"),
    ("SELECT sum(row_number() OVER ()) FROM cpu", "42803", "aggregate function calls cannot contain window function calls"),
    ("SELECT sum(rank() OVER (ORDER BY lag(n) OVER ())) OVER () FROM cpu", "42P20", "window function calls cannot be nested"),
    ("SELECT rank() FROM cpu", "42809", "window function rank requires an OVER clause"),
    ("SELECT ntile(0) OVER (ORDER BY time) FROM cpu", "22014", "argument of ntile must be greater than zero"),
    ("SELECT nth_value(usage, 0) OVER (ORDER BY time) FROM cpu", "22016", "argument of nth_value must be greater than zero"),
    ("SELECT sum(usage) OVER (ORDER BY time ROWS BETWEEN -1 PRECEDING AND CURRENT ROW) FROM cpu", "22013",
     "frame starting offset must not be negative"),
    ("SELECT sum(usage) OVER (ORDER BY time ROWS BETWEEN UNBOUNDED FOLLOWING AND CURRENT ROW) FROM cpu", "42P20",
     "frame start cannot be UNBOUNDED FOLLOWING"),
    ("SELECT sum(usage) OVER (ORDER BY time ROWS BETWEEN 1 FOLLOWING AND CURRENT ROW) FROM cpu", "42P20",
     "frame starting from following row cannot have preceding rows"),
    ("SELECT sum(usage) OVER (ORDER BY time ROWS BETWEEN CURRENT ROW AND 1 PRECEDING) FROM cpu", "42P20",
     "frame starting from current row cannot have preceding rows"),
    ("SELECT rank() OVER w FROM cpu", "42704", 'window "w" does not exist'),
    ("SELECT rank() OVER (w ORDER BY n) FROM cpu WINDOW w AS (ORDER BY usage)", "42P20", 'cannot override ORDER BY clause of window "w"'),
    ("SELECT rank() OVER (w PARTITION BY n) FROM cpu WINDOW w AS (ORDER BY usage)", "42P20",
     'cannot override PARTITION BY clause of window "w"'),
    ("SELECT count(*) OVER w FROM cpu WINDOW w AS (ORDER BY usage), w AS (ORDER BY n)", "42P20", 'window "w" is already defined'),
    # not PostgreSQL's: what RusTs does not compute is refused by name
    ("SELECT sum(usage) OVER (ORDER BY time RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) FROM cpu", "0A000", "RANGE with an offset"),
    ("SELECT count(DISTINCT n) OVER () FROM cpu", "0A000", "DISTINCT, a percentile or string_agg in a window function"),
]


@pytest.mark.parametrize(("sql", "sqlstate", "message"), ERRORS, ids=[sql[:60] for sql, _, _ in ERRORS])
def test_errors_are_postgresqls(engine: StorageEngine, sql: str, sqlstate: str, message: str) -> None:
    assert_refused(engine, sql, sqlstate, message)


def test_the_column_types_a_postgresql_client_sees(tmp_path: Path) -> None:
    server = RustsServer(tmp_path)
    try:
        assert server.request("POST", "/write", lines())[0] == 204
        with psycopg.connect(host="127.0.0.1", port=server.pg_port, user="rusts", dbname="rusts", connect_timeout=10) as conn:
            cursor = conn.execute(
                "SELECT host, row_number() OVER w AS rn, lag(usage) OVER w, lag(time) OVER w, percent_rank() OVER w, "
                "usage - lag(usage) OVER w AS delta FROM cpu WINDOW w AS (PARTITION BY host ORDER BY time) ORDER BY time LIMIT 3"
            )
            assert [c.name for c in cursor.description] == ["host", "rn", "lag", "lag", "percent_rank", "delta"]
            assert [c.type_code for c in cursor.description] == [25, 20, 701, 1184, 701, 701]
            rows = cursor.fetchall()
        assert [row[:3] for row in rows] == [("a", 1, None), ("b", 1, None), ("a", 2, 1.5)]
        assert rows[2][3] is not None and rows[2][3].timestamp() * 1e9 == BASE and rows[2][5] == -1.5
    finally:
        server.stop()
