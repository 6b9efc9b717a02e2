"""Joins (rusts.sql.joins): INNER, LEFT, RIGHT, FULL, CROSS, comma joins, USING and NATURAL, of
measurements, subqueries and WITH queries, checked against PostgreSQL 15 (its answers as JSON, compared
as in tests/test_sql_windows.py). Two measurements: cpu (ten rows, tests/test_sql_windows.py) and mem
(host, total; six rows, one of a host cpu lacks)."""

from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest

from rusts.sql import execute_sql
from rusts.storage.engine import StorageEngine
from servers import RustsServer
from sql_cases import BASE, HOUR, assert_answers, assert_refused, lines, open_engine

MEM = [("a", 100, 0), ("b", 200, 1), ("a", 150, 4), ("d", 50, 5), ("c", 300, 9), ("b", 250, 7)]


def mem_lines() -> bytes:
    return "\n".join(f"mem,host={h} total={v}i {BASE + t * HOUR}" for h, v, t in MEM).encode()


CASES = [
    ('SELECT c.host, c.usage, m.total FROM cpu c JOIN mem m ON c.host = m.host AND c.time = m.time ORDER BY c.time',
     [['a', 1.5, 100], ['b', -2.25, 200], ['b', 0, 250], ['c', 1.5, 300]]),
    ('SELECT c.host, count(*), sum(m.total) FROM cpu c JOIN mem m ON c.host = m.host GROUP BY c.host ORDER BY 1',
     [['a', 8, 1000], ['b', 6, 1350], ['c', 3, 900]]),
    ('SELECT c.host, m.total FROM cpu c LEFT JOIN mem m ON c.host = m.host AND c.time = m.time ORDER BY c.time',
     [['a', 100], ['b', 200], ['a', None], ['c', None], ['b', None], ['a', None], ['c', None], ['b', 250], ['a', None], ['c', 300]]),
    ('SELECT m.host, c.usage FROM cpu c RIGHT JOIN mem m ON c.host = m.host AND c.time = m.time ORDER BY m.time',
     [['a', 1.5], ['b', -2.25], ['a', None], ['d', None], ['b', 0], ['c', 1.5]]),
    ('SELECT c.host, m.host FROM cpu c FULL JOIN mem m ON c.host = m.host AND c.time = m.time ORDER BY c.time NULLS LAST, m.time',
     [['a', 'a'], ['b', 'b'], ['a', None], ['c', None], ['b', None], ['a', None], ['c', None], ['b', 'b'], ['a', None], ['c', 'c'], [None, 'a'], [None, 'd']]),
    ('SELECT count(*) FROM cpu, mem WHERE cpu.host = mem.host AND cpu.usage > 1',
     [[11]]),
    ('SELECT count(*) FROM cpu CROSS JOIN mem',
     [[60]]),
    ('SELECT host, usage, total FROM cpu JOIN mem USING (host, time) ORDER BY host',
     [['a', 1.5, 100], ['b', -2.25, 200], ['b', 0, 250], ['c', 1.5, 300]]),
    ('SELECT c.host, count(m.total) FROM cpu c LEFT JOIN mem m ON c.host = m.host AND m.total > 120 GROUP BY c.host ORDER BY c.host',
     [['a', 4], ['b', 6], ['c', 3]]),
    ('SELECT c.host, m.total FROM cpu c JOIN mem m ON c.host = m.host WHERE m.total > 200 AND c.usage > 1 ORDER BY 1, 2',
     [['b', 250], ['c', 300], ['c', 300], ['c', 300]]),
    ('SELECT c.host, c.usage FROM cpu c LEFT JOIN mem m ON c.host = m.host AND c.time = m.time WHERE m.total IS NULL ORDER BY c.time',
     [['a', 0], ['c', 100.125], ['b', 1.5], ['a', 1.5], ['c', 7], ['a', 9.25]]),
    ('SELECT count(*) FROM cpu c JOIN mem m ON c.usage * 100 < m.total',
     [[30]]),
    ('SELECT c.host, avg(c.usage), max(m.total) FROM cpu c JOIN mem m ON c.host = m.host WHERE c.n IS NOT NULL GROUP BY c.host HAVING max(m.total) > 100 ORDER BY 1',
     [['a', 4.083333333333333, 150], ['b', -0.25, 250], ['c', 50.8125, 300]]),
    ('SELECT a.host, b.host FROM cpu a JOIN cpu b ON a.n = b.n AND a.host < b.host ORDER BY 1, 2',
     [['a', 'b'], ['a', 'b']]),
    ('SELECT c.host, m.total, row_number() OVER (PARTITION BY c.host ORDER BY m.total DESC) FROM cpu c JOIN mem m ON c.host = m.host AND c.time = m.time ORDER BY 1, 2',
     [['a', 100, 1], ['b', 200, 2], ['b', 250, 1], ['c', 300, 1]]),
    ('SELECT t.host, t.s FROM (SELECT host, sum(usage) AS s FROM cpu GROUP BY host) t JOIN mem m ON t.host = m.host ORDER BY 1, 2',
     [['a', 12.25], ['a', 12.25], ['b', -0.75], ['b', -0.75], ['c', 108.625]]),
    ('WITH totals AS (SELECT host, max(total) AS mx FROM mem GROUP BY host) SELECT c.host, count(*), min(t.mx) FROM cpu c JOIN totals t ON c.host = t.host GROUP BY c.host ORDER BY 1',
     [['a', 4, 150], ['b', 3, 250], ['c', 3, 300]]),
    ('SELECT c.host FROM cpu c JOIN mem m ON c.host = m.host JOIN cpu d ON d.host = m.host AND d.n = c.n ORDER BY 1 LIMIT 5',
     [['a'], ['a'], ['a'], ['a'], ['a']]),
    ('SELECT count(*) FROM cpu c NATURAL JOIN mem',
     [[4]]),
    ('SELECT count(*) FROM cpu c NATURAL LEFT JOIN mem',
     [[10]]),
    ('SELECT host, m.total FROM cpu JOIN mem m USING (host) WHERE usage > 5 ORDER BY 1, 2',
     [['a', 100], ['a', 150], ['c', 300], ['c', 300]]),
]

# Differences a second differential probe found (USING columns merged for RIGHT and FULL joins,
# subqueries in ON, GROUP BY an alias over a join, unquoted names folded, nested set operations with
# ORDER BY and LIMIT, string literals in set operations), fixed; PostgreSQL's answers.
FIXED = [
    ("SELECT count(*) FROM cpu RIGHT JOIN mem USING (host) WHERE host = 'd'",
     [[1]]),
    ('SELECT host, count(*) FROM cpu FULL JOIN mem USING (host) GROUP BY host ORDER BY host',
     [['a', 8], ['b', 6], ['c', 3], ['d', 1]]),
    ("SELECT count(*) FROM cpu c JOIN mem m ON m.total IN (SELECT total FROM mem WHERE host = 'a')",
     [[20]]),
    ('SELECT c.host h, count(*) FROM cpu c JOIN mem m ON c.host = m.host GROUP BY h ORDER BY h',
     [['a', 8], ['b', 6], ['c', 3]]),
    ('SELECT C.host FROM cpu c ORDER BY time LIMIT 1',
     [['a']]),
    ('SELECT c.host FROM cpu C JOIN mem M ON c.host = m.host ORDER BY c.time LIMIT 1',
     [['a']]),
    ('WITH X AS (SELECT host FROM cpu) SELECT count(*) FROM x',
     [[10]]),
    ('SELECT * FROM (SELECT n FROM cpu UNION SELECT total FROM mem ORDER BY 1 LIMIT 3) t ORDER BY 1',
     [[-7], [-1], [2]]),
    ('SELECT (SELECT n FROM cpu UNION SELECT total FROM mem ORDER BY 1 LIMIT 1)',
     [[-7]]),
    ('SELECT count(*) FROM cpu WHERE EXISTS (SELECT n FROM cpu UNION SELECT 1 LIMIT 0)',
     [[0]]),
    ("SELECT n FROM cpu UNION SELECT '3' ORDER BY 1 NULLS FIRST",
     [[None], [-7], [-1], [2], [3], [5], [12]]),
    ("SELECT 1 UNION SELECT '2' ORDER BY 1",
     [[1], [2]]),
    ("SELECT interval '1 hour' UNION SELECT '2 hours' ORDER BY 1",
     [['01:00:00'], ['02:00:00']]),
    ("SELECT 'a' UNION SELECT 'b' ORDER BY 1",
     [['a'], ['b']]),
    ("SELECT host FROM cpu UNION SELECT 'z' ORDER BY 1",
     [['a'], ['b'], ['c'], ['z']]),
    ("SELECT n > 0 FROM cpu UNION SELECT 'true' ORDER BY 1",
     [[False], [True], [None]]),
]

NAN_AND_WIDE = [  # NaN equals NaN in joins and set operations; bigint joins double precision as a float
    ("SELECT count(*) FROM (SELECT 'NaN'::float8 x) a JOIN (SELECT 'NaN'::float8 y) b ON a.x = b.y", [[1]]),
    ("SELECT count(*) FROM (SELECT 'NaN'::float8 UNION SELECT 'NaN'::float8) t", [[1]]),
    ("SELECT count(*) FROM (SELECT 'NaN'::float8 INTERSECT SELECT 'NaN'::float8) t", [[1]]),
    ("SELECT count(*) FROM (SELECT 9007199254740993 AS a) x JOIN (SELECT 9007199254740992::float8 AS b) y ON x.a = y.b", [[1]]),
]

# ANY / ALL of a subquery, and time buckets of a joined table's or a subquery's time column.
QUANTIFIED = [
    ('SELECT count(*) FROM cpu WHERE host = ANY (SELECT host FROM mem WHERE total > 120)',
     [[10]]),
    ('SELECT count(*) FROM cpu WHERE host <> ALL (SELECT host FROM mem WHERE total > 120)',
     [[0]]),
    ('SELECT count(*) FROM cpu WHERE n > ANY (SELECT total / 100 FROM mem)',
     [[6]]),
    ("SELECT count(*) FROM cpu WHERE n >= ALL (SELECT n FROM cpu WHERE host = 'a' AND n IS NOT NULL)",
     [[2]]),
    ('SELECT count(*) FROM cpu WHERE n < ALL (SELECT total FROM mem WHERE total > 1000)',
     [[10]]),
    ("SELECT count(*) FROM cpu WHERE n = ANY (SELECT n FROM cpu WHERE host = 'a')",
     [[4]]),
    ("SELECT count(*) FROM cpu WHERE n <> ALL (SELECT n FROM cpu WHERE host = 'a')",
     [[0]]),
    ("SELECT extract(epoch FROM date_trunc('hour', c.time))::bigint AS h, count(*) FROM cpu c JOIN mem m ON c.host = m.host GROUP BY 1 ORDER BY 1 LIMIT 3",
     [[1764997200, 2], [1765000800, 2], [1765004400, 2]]),
    ("SELECT extract(epoch FROM d)::bigint, count(*) FROM (SELECT date_trunc('day', t) AS d FROM (SELECT time AS t FROM cpu) s) x GROUP BY d",
     [[1764979200, 10]]),
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorageEngine]:
    engine = open_engine(tmp_path_factory.mktemp("joins"), lines(), mem_lines())
    yield engine
    engine.close()


@pytest.mark.parametrize(("sql", "expected"), CASES + FIXED + NAN_AND_WIDE + QUANTIFIED,
                         ids=[sql[:70] for sql, _ in CASES + FIXED + NAN_AND_WIDE + QUANTIFIED])
def test_answers_equal_postgresqls(engine: StorageEngine, sql: str, expected: list[list[Any]]) -> None:
    assert_answers(engine, sql, expected)


def test_names_star_and_pushdown(engine: StorageEngine) -> None:
    answer = execute_sql(engine, "SELECT * FROM cpu JOIN mem USING (host, time) ORDER BY time LIMIT 1")
    assert [c.name for c in answer.columns] == ["host", "time", "n", "usage", "total"]  # USING columns first
    assert answer.rows == [["a", BASE, 3, 1.5, 100]]
    starred = execute_sql(engine, "SELECT m.*, c.usage FROM cpu c JOIN mem m ON c.host = m.host AND c.time = m.time ORDER BY m.time LIMIT 1")
    assert [c.name for c in starred.columns] == ["time", "host", "total", "usage"] and starred.rows == [[BASE, "a", 100, 1.5]]
    explained = execute_sql(engine, "EXPLAIN SELECT count(*) FROM cpu c JOIN mem m ON c.host = m.host WHERE m.total > 100").rows
    assert explained[0][0].startswith("JOIN of c, m")


REFUSED = [
    ("SELECT host FROM cpu JOIN mem ON cpu.host = mem.host", "42702", 'column reference "host" is ambiguous'),
    ("SELECT c.nothing FROM cpu c JOIN mem m ON c.host = m.host", "42703", "nothing"),
    ("SELECT count(*) FROM cpu c JOIN mem c ON true", "42712", 'table name "c" specified more than once'),
    ("SELECT count(*) FROM cpu JOIN mem USING (usage)", "42703", "usage"),
    ("SELECT count(*) FROM cpu c JOIN mem m ON c.host = m.total", "42883", "operator does not exist: text = bigint"),
    ("SELECT count(*) FROM cpu c JOIN mem m ON count(*) > 1", "42803", "aggregate functions are not allowed in JOIN conditions"),
    ("SELECT count(*) FROM cpu c JOIN mem m ON row_number() OVER () > 1", "42P20", "window functions are not allowed in JOIN"),
    ("SELECT count(*) FROM cpu c, mem m RIGHT JOIN mem x ON x.host = m.host", "0A000", "a comma-separated FROM list before"),
    ("SELECT 1 UNION SELECT 'a'", "22P02", 'invalid input syntax for type bigint: "a"'),
    ("SELECT count(*) FROM cpu a CROSS JOIN cpu b CROSS JOIN cpu c CROSS JOIN cpu d CROSS JOIN cpu e CROSS JOIN cpu f "
     "CROSS JOIN cpu g", "22003", "the join would give more than 1,000,000 rows"),
]


@pytest.mark.parametrize(("sql", "sqlstate", "words"), REFUSED, ids=[sql[:60] for sql, _, _ in REFUSED])
def test_errors(engine: StorageEngine, sql: str, sqlstate: str, words: str) -> None:
    assert_refused(engine, sql, sqlstate, words)


def test_a_join_through_a_server_over_pgwire(tmp_path: Path) -> None:
    server = RustsServer(tmp_path)
    try:
        assert server.request("POST", "/write", lines())[0] == 204 and server.request("POST", "/write", mem_lines())[0] == 204
        with psycopg.connect(host="127.0.0.1", port=server.pg_port, user="rusts", dbname="rusts", connect_timeout=10) as conn:
            rows = conn.execute(
                "SELECT c.host, count(*), max(m.total) FROM cpu c JOIN mem m ON c.host = m.host WHERE c.usage > %s "
                "GROUP BY c.host ORDER BY c.host", (1,)
            ).fetchall()
        assert rows == [("a", 6, 150), ("b", 2, 250), ("c", 3, 300)]  # PostgreSQL's answer
    finally:
        server.stop()
