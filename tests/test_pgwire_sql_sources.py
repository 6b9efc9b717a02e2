"""Joins, window functions, set operations, WITH queries and subqueries from PostgreSQL clients that
prepare statements and type their parameters from the server's Describe: asyncpg (binary) and psycopg
(prepare=True), and pandas over SQLAlchemy. A parameter is typed by the columns of the measurement or
subquery its SELECT reads."""

import asyncio
import datetime
from pathlib import Path
from typing import Any

import asyncpg
import psycopg
import pytest

from servers import RustsServer
from sql_cases import lines

MEM = b"mem,host=a total=100i 1765000000000000000\nmem,host=b total=200i 1765003600000000000"
QUERIES: list[tuple[str, list[Any], list[tuple[Any, ...]]]] = [
    ("SELECT c.host, m.total FROM cpu c JOIN mem m ON c.host = m.host AND c.time = m.time WHERE c.usage > $1 ORDER BY 1",
     [-10.0], [("a", 100), ("b", 200)]),
    ("SELECT host, usage - lag(usage) OVER (PARTITION BY host ORDER BY time) AS d FROM cpu WHERE host = $1 ORDER BY time",
     ["a"], [("a", None), ("a", -1.5), ("a", 1.5), ("a", 7.75)]),
    ("SELECT host FROM cpu WHERE n > $1 UNION SELECT host FROM mem ORDER BY 1", [2], [("a",), ("b",), ("c",)]),
    ("WITH t AS (SELECT host, max(time) - min(time) AS span FROM cpu GROUP BY host) SELECT * FROM t WHERE span > $1 ORDER BY host",
     [datetime.timedelta(hours=1)],
     [("a", datetime.timedelta(hours=8)), ("b", datetime.timedelta(hours=6)), ("c", datetime.timedelta(hours=6))]),
    ("SELECT count(*) FROM (SELECT host FROM cpu WHERE usage > $1) s", [1.0], [(7,)]),
]


@pytest.fixture
def server(tmp_path: Path) -> Any:
    server = RustsServer(tmp_path)
    assert server.request("POST", "/write", lines())[0] == 204 and server.request("POST", "/write", MEM)[0] == 204
    yield server
    server.stop()


def test_asyncpg_and_psycopg_prepared(server: RustsServer) -> None:
    async def fetch_all() -> list[list[tuple[Any, ...]]]:
        connection = await asyncpg.connect(host="127.0.0.1", port=server.pg_port, user="rusts", database="rusts")
        try:
            return [[tuple(row) for row in await connection.fetch(sql, *args)] for sql, args, _ in QUERIES]
        finally:
            await connection.close()

    assert asyncio.run(fetch_all()) == [expected for _, _, expected in QUERIES]
    with psycopg.connect(host="127.0.0.1", port=server.pg_port, user="rusts", dbname="rusts", connect_timeout=10) as conn:
        for sql, args, expected in QUERIES:
            assert conn.execute(sql.replace("$1", "%s"), args, prepare=True).fetchall() == expected, sql


def test_pandas_over_sqlalchemy(server: RustsServer) -> None:
    pandas = pytest.importorskip("pandas")
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(f"postgresql+psycopg2://rusts@127.0.0.1:{server.pg_port}/rusts")
    try:
        with engine.connect() as connection:
            frame = pandas.read_sql("SELECT c.host, count(*) AS n FROM cpu c JOIN mem m USING (host) GROUP BY c.host ORDER BY 1", connection)
        assert frame.to_dict("records") == [{"host": "a", "n": 4}, {"host": "b", "n": 3}]
    finally:
        engine.dispose()
