"""Intervals (rusts.sql.intervals): timestamp differences, interval literals and arithmetic, their
aggregates, checked against PostgreSQL 15's text output; then on the wire, in text (psycopg) and
binary (asyncpg) format, where clients get a duration, and over HTTP as PostgreSQL's text."""

import asyncio
import datetime
import json
from pathlib import Path
from typing import Iterator

import asyncpg
import psycopg
import pytest

from rusts.sql import execute_sql
from rusts.sql.intervals import Interval, interval_text, parse_interval_text
from rusts.storage.engine import StorageEngine
from servers import RustsServer
from sql_cases import assert_refused, lines, open_engine


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorageEngine]:
    engine = open_engine(tmp_path_factory.mktemp("intervals"), lines())
    yield engine
    engine.close()


# Each answer as PostgreSQL's psql prints it (values joined by |, rows by ;).
ANSWERS = [
    ("SELECT max(time) - min(time) FROM cpu", "09:00:00"),
    ("SELECT host, max(time) - min(time) AS span FROM cpu GROUP BY host ORDER BY host", "a|08:00:00;b|06:00:00;c|06:00:00"),
    ("SELECT extract(hour FROM max(time) - min(time)), extract(day FROM max(time) - min(time)) FROM cpu", "9.0|0.0"),
    ("SELECT time - lag(time) OVER (ORDER BY time) AS gap FROM cpu ORDER BY time LIMIT 3", "None;01:00:00;01:00:00"),
    ("SELECT interval '1 day 2 hours' * 2, interval '36 hours', -interval '90 minutes', interval '1 day' / 3, "
     "interval '1 day 2 hours' - interval '3 hours'", "2 days 04:00:00|36:00:00|-01:30:00|08:00:00|1 day -01:00:00"),
    ("SELECT interval '1.5 days', interval '2 weeks', interval '1 day' * 1.5, interval '-1 day 2 hours', "
     "interval '1 day -2 hours', interval '00:00:00.5'",
     "1 day 12:00:00|14 days|1 day 12:00:00|-1 days +02:00:00|1 day -02:00:00|00:00:00.5"),
    ("SELECT interval '90 seconds' > interval '1 minute', interval '1 day' = interval '24 hours', "
     "interval '1 day' < interval '25 hours'", "True|True|True"),
    ("SELECT count(*) FROM cpu WHERE time - (SELECT min(time) FROM cpu) >= interval '5 hours'", "5"),
    ("SELECT host, avg(gap), sum(gap), min(gap), max(gap) FROM (SELECT host, time - lag(time) OVER "
     "(PARTITION BY host ORDER BY time) AS gap FROM cpu) s GROUP BY host ORDER BY host",
     "a|02:40:00|08:00:00|02:00:00|03:00:00;b|03:00:00|06:00:00|03:00:00|03:00:00;c|03:00:00|06:00:00|03:00:00|03:00:00"),
    ("SELECT (max(time) - min(time))::text FROM cpu", "09:00:00"),
    ("SELECT max(time) + interval '1 day' - max(time) FROM cpu", "1 day"),
    ("SELECT interval '100 hours', interval '25 hours' * 2, "
     "timestamptz '2025-01-03 00:00:00+00' - timestamptz '2025-01-01 01:00:00+00'", "100:00:00|50:00:00|1 day 23:00:00"),
    ("SELECT timestamptz '2025-01-01 00:00:00+00' - timestamptz '2025-01-03 01:30:00+00'", "-2 days -01:30:00"),
    ("SELECT interval '1 hour' + '30 minutes', interval '1 hour' * '2'", "01:30:00|02:00:00"),
    ("SELECT (time + '1 hour') - time FROM cpu LIMIT 1", "01:00:00"),
]


@pytest.mark.parametrize(("sql", "expected"), ANSWERS, ids=[sql[:70] for sql, _ in ANSWERS])
def test_answers_print_as_postgresqls(engine: StorageEngine, sql: str, expected: str) -> None:
    rows = execute_sql(engine, sql).rows
    assert ";".join("|".join(str(value) for value in row) for row in rows) == expected


ERRORS = [
    ("SELECT time - 1 FROM cpu", "42883", "operator does not exist: timestamp with time zone - bigint"),
    ("SELECT interval 'abc'", "22P02", 'invalid input syntax for type interval: "abc"'),
    ("SELECT interval '1 hour' / 0", "22012", "division by zero"),
    ("SELECT stddev(time - time) FROM cpu", "42883", "(interval) does not exist"),
    ("SELECT interval '1 month'", "0A000", "an interval of months or years"),
]


@pytest.mark.parametrize(("sql", "sqlstate", "words"), ERRORS, ids=[sql for sql, _, _ in ERRORS])
def test_errors(engine: StorageEngine, sql: str, sqlstate: str, words: str) -> None:
    assert_refused(engine, sql, sqlstate, words)


def test_the_text_forms_round_trip() -> None:
    for text in ["00:00:00", "1 day", "2 days 04:00:00", "-1 days +02:00:00", "36:00:00", "00:00:00.5", "-01:30:00"]:
        parsed = parse_interval_text(text)
        assert parsed is not None and interval_text(parsed) == text
    assert parse_interval_text("3 hours ago") == Interval(0, -3 * 3_600_000_000_000)
    assert parse_interval_text("5 parsecs") is None


def test_intervals_on_the_wire_and_over_http(tmp_path: Path) -> None:
    server = RustsServer(tmp_path)
    sql = "SELECT host, max(time) - min(time) AS span, now() - max(time) > interval '1 day' AS stale FROM cpu GROUP BY host ORDER BY host"
    try:
        assert server.request("POST", "/write", lines())[0] == 204
        with psycopg.connect(host="127.0.0.1", port=server.pg_port, user="rusts", dbname="rusts", connect_timeout=10) as conn:
            cursor = conn.execute(sql)
            assert [c.type_code for c in cursor.description] == [25, 1186, 16]
            assert cursor.fetchall() == [("a", datetime.timedelta(hours=8), True), ("b", datetime.timedelta(hours=6), True),
                                         ("c", datetime.timedelta(hours=6), True)]

        async def binary() -> list[object]:
            connection = await asyncpg.connect(host="127.0.0.1", port=server.pg_port, user="rusts", database="rusts")
            try:
                return [tuple(row) for row in await connection.fetch(
                    "SELECT interval '1 day 2 hours 0.5 seconds', $1::interval", datetime.timedelta(minutes=90)
                )]
            finally:
                await connection.close()

        assert asyncio.run(binary()) == [(datetime.timedelta(days=1, hours=2, milliseconds=500), datetime.timedelta(minutes=90))]
        code, body = server.request("POST", "/sql", json.dumps({"query": sql}).encode())
        assert code == 200 and body["rows"][0] == ["a", "08:00:00", True], body
        assert body["columns"][1] == {"name": "span", "type": "interval"}
    finally:
        server.stop()
