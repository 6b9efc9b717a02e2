"""Subqueries in FROM and WITH queries (rusts.sql.translator.Subquery) and subqueries used as values
(IN, EXISTS, scalar), and UNION / INTERSECT / EXCEPT [ALL], checked against PostgreSQL 15.

The rows and the comparison are those of tests/test_sql_windows.py (PostgreSQL's answers taken as
JSON). Then what is refused by name, and the same through a real server: psycopg over pgwire and
SQLAlchemy's Query.count(), which wraps the query in a subquery.
"""

from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest

from rusts.sql import execute_sql
from rusts.storage.engine import StorageEngine
from servers import RustsServer
from sql_cases import assert_answers, assert_refused, lines, open_engine

CASES = [
    ('SELECT count(*) FROM (SELECT host, usage FROM cpu) AS anon_1',
     [[10]]),
    ('SELECT count(*) AS count_1 FROM (SELECT cpu.host AS cpu_host, cpu.usage AS cpu_usage FROM cpu WHERE cpu.usage > 1) AS anon_1',
     [[7]]),
    ('SELECT * FROM (SELECT host, usage FROM cpu WHERE n > 1) s WHERE usage > 1 ORDER BY usage DESC, host LIMIT 3',
     [['c', 100.125], ['a', 9.25], ['a', 1.5]]),
    ('SELECT host, max(m), min(m) FROM (SELECT host, n, avg(usage) AS m FROM cpu GROUP BY host, n) t GROUP BY host ORDER BY host',
     [['a', 5.375, 0], ['b', 1.5, -2.25], ['c', 100.125, 1.5]]),
    ('WITH a AS (SELECT host, n FROM cpu), b AS (SELECT host, sum(n) AS total FROM a GROUP BY host) SELECT * FROM b ORDER BY total DESC NULLS LAST, host',
     [['a', 11], ['c', 11], ['b', -2]]),
    ('SELECT usage FROM (SELECT * FROM cpu) s ORDER BY time DESC LIMIT 2',
     [[1.5], [9.25]]),
    ('SELECT s.host, s.u FROM (SELECT host, usage AS u FROM cpu) s ORDER BY u, host LIMIT 3',
     [['b', -2.25], ['a', 0], ['b', 0]]),
    ('SELECT host, usage FROM (SELECT host, usage, row_number() OVER (PARTITION BY host ORDER BY usage DESC, time) AS rn FROM cpu) s WHERE rn = 1 ORDER BY host',
     [['a', 9.25], ['b', 1.5], ['c', 100.125]]),
    ('SELECT avg(delta), count(delta) FROM (SELECT usage - lag(usage) OVER (PARTITION BY host ORDER BY time) AS delta FROM cpu) d',
     [[-12.660714285714286, 7]]),
    ("SELECT count(*), count(n), sum(n), avg(usage) FROM (SELECT * FROM cpu WHERE host <> 'b') x",
     [[7, 5, 22, 17.267857142857142]]),
    ('SELECT * FROM (SELECT host, count(*) AS c FROM cpu GROUP BY host) g WHERE c > 3 ORDER BY host',
     [['a', 4]]),
    ('SELECT DISTINCT host FROM (SELECT host FROM cpu WHERE usage > 1) s ORDER BY host',
     [['a'], ['b'], ['c']]),
    ('SELECT h, count(*) FROM (SELECT upper(host) AS h FROM cpu) s GROUP BY h HAVING count(*) >= 3 ORDER BY h',
     [['A', 4], ['B', 3], ['C', 3]]),
    ("WITH t AS (SELECT host, usage FROM cpu WHERE usage > 0) SELECT host, string_agg(usage::text, ',' ORDER BY usage) FROM t GROUP BY host ORDER BY host",
     [['a', '1.5,1.5,9.25'], ['b', '1.5'], ['c', '1.5,7,100.125']]),
    ("SELECT * FROM (SELECT 1 AS one, 'x' AS s) c",
     [[1, 'x']]),
    ('SELECT count(*) FROM (SELECT host FROM cpu ORDER BY time LIMIT 4) s',
     [[4]]),
    ('SELECT q.usage FROM (SELECT usage FROM cpu ORDER BY usage DESC LIMIT 3) q ORDER BY q.usage',
     [[7], [9.25], [100.125]]),
    ("SELECT extract(epoch FROM h)::bigint, c FROM (SELECT date_trunc('hour', time) AS h, count(*) AS c FROM cpu GROUP BY h) s ORDER BY h LIMIT 2",
     [[1764997200, 1], [1765000800, 1]]),
    ('SELECT count(*) FROM (SELECT * FROM (SELECT host, n FROM cpu WHERE n IS NOT NULL) a WHERE n > 0) b',
     [[6]]),
]

# Subqueries used as values (in WHERE, HAVING, the SELECT list): answered first, then read as constants.
VALUE_CASES = [
    ('SELECT host, usage FROM cpu WHERE usage > (SELECT avg(usage) FROM cpu) ORDER BY time',
     [['c', 100.125]]),
    ('SELECT host, count(*) FROM cpu WHERE host IN (SELECT host FROM cpu WHERE n > 4) GROUP BY host ORDER BY host',
     [['a', 4], ['c', 3]]),
    ('SELECT count(*) FROM cpu WHERE host NOT IN (SELECT host FROM cpu WHERE usage > 50)',
     [[7]]),
    ('SELECT count(*) FROM cpu WHERE EXISTS (SELECT 1 FROM cpu WHERE n > 100)',
     [[0]]),
    ('SELECT count(*) FROM cpu WHERE NOT EXISTS (SELECT 1 FROM cpu WHERE n > 100)',
     [[10]]),
    ('SELECT host, usage - (SELECT min(usage) FROM cpu) AS above FROM cpu ORDER BY time LIMIT 3',
     [['a', 3.75], ['b', 0], ['a', 2.25]]),
    ("SELECT (SELECT max(n) FROM cpu), (SELECT count(*) FROM cpu WHERE host = 'a')",
     [[12, 4]]),
    ('SELECT usage FROM cpu WHERE time = (SELECT max(time) FROM cpu)',
     [[1.5]]),
    ('SELECT usage FROM cpu WHERE time > (SELECT min(time) FROM cpu) ORDER BY time LIMIT 2',
     [[-2.25], [0]]),
    ('SELECT host FROM cpu WHERE usage = (SELECT usage FROM cpu WHERE usage > 1000)',
     []),
    ("SELECT count(*) FROM cpu WHERE n IN (SELECT n FROM cpu WHERE host = 'a')",
     [[4]]),
    ("SELECT count(*) FROM cpu WHERE n NOT IN (SELECT n FROM cpu WHERE host = 'a')",
     [[0]]),
    ('SELECT host, avg(usage) FROM cpu GROUP BY host HAVING avg(usage) > (SELECT avg(usage) FROM cpu) ORDER BY host',
     [['c', 36.208333333333336]]),
    ('WITH big AS (SELECT host FROM cpu WHERE usage > 50) SELECT count(*) FROM cpu WHERE host IN (SELECT host FROM big)',
     [[3]]),
]

# UNION, INTERSECT and EXCEPT [ALL], at the top or as a subquery.
SET_CASES = [
    ('SELECT host, usage FROM cpu WHERE n > 3 UNION ALL SELECT host, n FROM cpu WHERE n < 0 ORDER BY 2 DESC, 1',
     [['c', 100.125], ['a', 1.5], ['c', -1], ['b', -7]]),
    ('SELECT host FROM cpu UNION SELECT host FROM cpu ORDER BY host',
     [['a'], ['b'], ['c']]),
    ('SELECT host FROM cpu WHERE usage > 1 INTERSECT SELECT host FROM cpu WHERE n < 0 ORDER BY 1',
     [['b'], ['c']]),
    ('SELECT host FROM cpu EXCEPT SELECT host FROM cpu WHERE usage > 9 ORDER BY 1',
     [['b']]),
    ("SELECT n FROM cpu INTERSECT ALL SELECT n FROM cpu WHERE host = 'a' ORDER BY 1",
     [[3], [3], [5], [None]]),
    ("SELECT n FROM cpu EXCEPT ALL SELECT n FROM cpu WHERE host = 'a' ORDER BY 1 NULLS FIRST",
     [[None], [-7], [-1], [2], [3], [12]]),
    ('SELECT count(*) FROM (SELECT host FROM cpu UNION ALL SELECT host FROM cpu) s',
     [[20]]),
    ("SELECT 1 AS a, 'x' AS b UNION ALL SELECT 2, 'y' ORDER BY a DESC",
     [[2, 'y'], [1, 'x']]),
    ("SELECT host, count(*) FROM cpu GROUP BY host UNION ALL SELECT 'total', count(*) FROM cpu ORDER BY 2, 1",
     [['b', 3], ['c', 3], ['a', 4], ['total', 10]]),
    ('SELECT host FROM cpu UNION SELECT host FROM cpu ORDER BY host LIMIT 2 OFFSET 1',
     [['b'], ['c']]),
    ('SELECT usage FROM cpu UNION SELECT NULL ORDER BY 1 NULLS FIRST LIMIT 3',
     [[None], [-2.25], [0]]),
    ("SELECT count(*) FROM cpu WHERE host IN (SELECT host FROM cpu WHERE n > 4 UNION SELECT 'c')",
     [[7]]),
    ('WITH a AS (SELECT host, n FROM cpu) SELECT host FROM a WHERE n > 3 UNION SELECT host FROM a WHERE n < 0 ORDER BY 1',
     [['a'], ['b'], ['c']]),
    ('SELECT n FROM cpu UNION SELECT usage FROM cpu ORDER BY 1 LIMIT 4',
     [[-7], [-2.25], [-1], [0]]),
    ("SELECT host FROM cpu UNION ALL SELECT host FROM cpu UNION SELECT 'z' ORDER BY 1",
     [['a'], ['b'], ['c'], ['z']]),
]

# VALUES lists and column aliases on subqueries, VALUES and WITH queries.
VALUES_CASES = [
    ("SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS t(x, y) ORDER BY x",
     [[1, "a"], [2, "b"]]),
    ("SELECT * FROM (VALUES (1, 'a'), (2.5, 'b')) AS t ORDER BY 1",
     [[1, 'a'], [2.5, 'b']]),
    ("SELECT c.host, v.label, count(*) FROM cpu c JOIN (VALUES ('a', 'alpha'), ('b', 'beta')) AS v(h, label) ON c.host = v.h GROUP BY 1, 2 ORDER BY 1",
     [['a', 'alpha', 4], ['b', 'beta', 3]]),
    ('SELECT a, b FROM (SELECT host, n FROM cpu) AS s(a, b) ORDER BY b NULLS FIRST, a LIMIT 3',
     [['a', None], ['c', None], ['b', -7]]),
    ('WITH t(h, c) AS (SELECT host, count(*) FROM cpu GROUP BY host) SELECT * FROM t ORDER BY h',
     [['a', 4], ['b', 3], ['c', 3]]),
    ("SELECT count(*) FROM cpu WHERE host IN (VALUES ('a'), ('c'))",
     [[7]]),
    ("VALUES (1, 'x'), (2, 'y')",
     [[1, 'x'], [2, 'y']]),
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorageEngine]:
    engine = open_engine(tmp_path_factory.mktemp("subqueries"), lines())
    yield engine
    engine.close()


@pytest.mark.parametrize(
    ("sql", "expected"), CASES + VALUE_CASES + SET_CASES + VALUES_CASES,
    ids=[sql[:70] for sql, _ in CASES + VALUE_CASES + SET_CASES + VALUES_CASES],
)
def test_answers_equal_postgresqls(engine: StorageEngine, sql: str, expected: list[list[Any]]) -> None:
    assert_answers(engine, sql, expected)


def test_the_outer_select_names_and_types_the_subquerys_columns(engine: StorageEngine) -> None:
    answer = execute_sql(engine, "SELECT * FROM (SELECT host, usage AS u, n, time FROM cpu ORDER BY time LIMIT 1) s")
    assert [(c.name, c.type) for c in answer.columns] == [("host", "string"), ("u", "float"), ("n", "integer"), ("time", "timestamp")]
    assert answer.rows == [["a", 1.5, 3, 1_765_000_000_000_000_000]]
    explained = execute_sql(engine, "EXPLAIN SELECT count(*) FROM (SELECT host FROM cpu WHERE usage > 1) s").rows
    assert ["  computed from the rows of subquery s"] in explained


REFUSED = [
    ("SELECT x FROM (SELECT host FROM cpu) s", "42703", "'x'"),
    ("SELECT a FROM (SELECT 1 AS a, 2 AS a) s", "0A000", 'a subquery with two columns named "a"'),
    ("SELECT host FROM cpu UNION SELECT n FROM cpu", "42804", "UNION types text and bigint cannot be matched"),
    ("SELECT host, n FROM cpu EXCEPT SELECT host FROM cpu", "42601", "each EXCEPT query must have the same number of columns"),
    ("SELECT * FROM (SELECT 1) AS s(a, b)", "42P10", 'table "s" has 1 columns available but 2 columns specified'),
    ("SELECT * FROM (VALUES (1), (2, 3)) AS t", "42601", "VALUES lists must all be the same length"),
    ("WITH RECURSIVE a AS (SELECT host FROM cpu) SELECT * FROM a", "0A000", "WITH RECURSIVE"),
    ("SELECT host FROM cpu WHERE usage = (SELECT usage FROM cpu)", "21000", "more than one row returned by a subquery"),
    ("SELECT host FROM cpu WHERE usage = (SELECT usage, n FROM cpu LIMIT 1)", "42601", "subquery must return only one column"),
    ("SELECT count(*) FROM cpu c WHERE c.host IN (SELECT host FROM cpu WHERE usage > c.usage)", "0A000", "a correlated subquery"),
    ("SELECT time FROM (SELECT host FROM cpu) s", "42703", "'time'"),
]


@pytest.mark.parametrize(("sql", "sqlstate", "words"), REFUSED, ids=[sql[:60] for sql, _, _ in REFUSED])
def test_what_is_refused_is_named(engine: StorageEngine, sql: str, sqlstate: str, words: str) -> None:
    assert_refused(engine, sql, sqlstate, words)


def test_through_a_server_with_psycopg_and_sqlalchemys_count(tmp_path: Path) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    server = RustsServer(tmp_path)
    try:
        assert server.request("POST", "/write", lines())[0] == 204
        with psycopg.connect(host="127.0.0.1", port=server.pg_port, user="rusts", dbname="rusts", connect_timeout=10) as conn:
            found = conn.execute(
                "WITH latest AS (SELECT host, usage, row_number() OVER (PARTITION BY host ORDER BY time DESC) AS rn FROM cpu) "
                "SELECT host, usage FROM latest WHERE rn = %s ORDER BY host", (1,)
            ).fetchall()
            assert found == [("a", 9.25), ("b", 0.0), ("c", 1.5)]
        engine = sqlalchemy.create_engine(f"postgresql+psycopg2://rusts@127.0.0.1:{server.pg_port}/rusts")
        try:
            table = sqlalchemy.table("cpu", sqlalchemy.column("host"), sqlalchemy.column("usage"))
            query = sqlalchemy.select(table.c.host).where(table.c.usage > 1).subquery()
            with engine.connect() as connection:
                counted = connection.execute(sqlalchemy.select(sqlalchemy.func.count()).select_from(query)).scalar_one()
            assert counted == 7
        finally:
            engine.dispose()
    finally:
        server.stop()
