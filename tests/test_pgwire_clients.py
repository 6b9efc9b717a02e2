"""Real PostgreSQL clients against the real server: psql, psycopg 3, psycopg2, asyncpg, pg8000,
SQLAlchemy 2 and pandas, each running the seed's example queries and checking values and types.
The answers are compared with POST /sql on the same server, so pgwire and HTTP agree."""

import asyncio
import datetime
import io
import math
import subprocess
import time
from collections.abc import Iterator
from typing import Any
from pathlib import Path

import pytest

from servers import RustsServer

asyncpg = pytest.importorskip("asyncpg")
pg8000 = pytest.importorskip("pg8000.dbapi")
psycopg = pytest.importorskip("psycopg")
psycopg2 = pytest.importorskip("psycopg2")
sqlalchemy = pytest.importorskip("sqlalchemy")
pandas = pytest.importorskip("pandas")

ROWS = 120
LICENSES = ["HV0003", "HV0005", "HV0004"]
NOW_NS = (time.time_ns() // 1_000_000_000) * 1_000_000_000
START_NS = NOW_NS - 30 * 60 * 1_000_000_000  # half an hour ago: inside `now() - interval '1h'`
UTC = datetime.timezone.utc


def trips_lines() -> str:
    lines = []
    for i in range(ROWS):
        license_ = LICENSES[i % 3]
        fields = (
            f"trip_miles={1.5 + i * 0.25},trip_time={300 + i}i,base_passenger_fare={10 + i % 7}.5,"
            f'shared_request_flag="{"Y" if i % 4 == 0 else "N"}",wav={"true" if i % 2 else "false"}'
        )
        lines.append(f"trips,hvfhs_license_num={license_},dispatching_base_num=B0{i % 5} {fields} {START_NS + i * 1_000_000_000}")
    for i, region in enumerate(["us-east", "us-west", "eu", "us-east", "eu"]):
        lines.append(f"cpu,host=h{i},region={region} cpu={10.0 * (i + 1)} {NOW_NS - (i + 1) * 60_000_000_000}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RustsServer]:
    running = RustsServer(tmp_path_factory.mktemp("pgclients"))
    try:
        running.write(trips_lines())
        yield running
    finally:
        assert running.stop() == 0, running.output()


def dsn(server: RustsServer) -> str:
    return f"postgresql://rusts@127.0.0.1:{server.pg_port}/rusts"


def ts(ns: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ns // 1_000_000_000, UTC) + datetime.timedelta(microseconds=ns % 1_000_000_000 // 1000)


def expected_latest(n: int) -> list[tuple[datetime.datetime, str, float]]:
    return [(ts(START_NS + i * 1_000_000_000), LICENSES[i % 3], 1.5 + i * 0.25) for i in range(ROWS - 1, ROWS - 1 - n, -1)]


def counts_by_license() -> dict[str, int]:
    return {license_: sum(1 for i in range(ROWS) if LICENSES[i % 3] == license_) for license_ in LICENSES}


# ---- psql -------------------------------------------------------------------------------------


def psql(server: RustsServer, psql_path: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [psql_path, "-h", "127.0.0.1", "-p", str(server.pg_port), "-U", "rusts", "-d", "rusts", "-X", "-A", "-t", *args],
        capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})},
    )


def test_psql_runs_the_seed_examples(server: RustsServer, psql_path: str) -> None:
    result = psql(server, psql_path, "-c", "SHOW TABLES")
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) >= {"trips", "cpu"}
    result = psql(server, psql_path, "-c", "SELECT COUNT(*) FROM trips")
    assert result.stdout.strip() == str(ROWS), result.stderr
    result = psql(server, psql_path, "-F", ",", "-c", "SELECT time, hvfhs_license_num, trip_miles FROM trips ORDER BY time DESC LIMIT 3")
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0].split(",")
    latest = expected_latest(1)[0]
    assert first[0] == latest[0].strftime("%Y-%m-%d %H:%M:%S+00")
    assert first[1:] == [latest[1], str(latest[2]).removesuffix(".0")]
    result = psql(server, psql_path, "-F", ",", "-c", "SELECT hvfhs_license_num, COUNT(*) FROM trips GROUP BY hvfhs_license_num")
    assert dict(line.split(",") for line in result.stdout.split()) == {k: str(v) for k, v in counts_by_license().items()}


def test_psql_describes_tables(server: RustsServer, psql_path: str) -> None:
    result = psql(server, psql_path, "-c", r"\dt")
    assert result.returncode == 0, result.stderr
    assert "public|trips|table|" in result.stdout
    result = psql(server, psql_path, "-c", r"\d trips")
    assert result.returncode == 0, result.stderr
    described = dict(line.split("|")[:2] for line in result.stdout.splitlines() if "|" in line)
    assert described["time"] == "timestamp with time zone"
    assert described["trip_miles"] == "double precision"
    assert described["trip_time"] == "bigint"
    assert described["hvfhs_license_num"] == "text"
    assert described["wav"] == "boolean"


def test_psql_reports_errors_and_carries_on(server: RustsServer, psql_path: str) -> None:
    result = psql(server, psql_path, "-c", "SELECT nope FROM trips; SELECT 1")
    assert result.returncode != 0
    assert "ERROR" in result.stderr and "nope" in result.stderr
    result = psql(server, psql_path, "-v", "ON_ERROR_STOP=0", "-c", "SELECT * FROM no_such_measurement", "-c", "SELECT COUNT(*) FROM trips")
    assert "no_such_measurement" in result.stderr
    assert result.stdout.strip() == str(ROWS)


def test_copy_to_stdout_through_psql_psycopg_and_asyncpg(server: RustsServer, psql_path: str) -> None:
    query = "SELECT time, hvfhs_license_num, trip_miles, wav FROM trips ORDER BY time LIMIT 3"
    stamps = [ts(START_NS + k * 1_000_000_000).strftime("%Y-%m-%d %H:%M:%S+00") for k in range(3)]
    text_lines = [f"{stamps[k]}\t{LICENSES[k]}\t{1.5 + k * 0.25:g}\t{'tf'[k % 2 == 0]}" for k in range(3)]
    csv_lines = ["time,hvfhs_license_num,trip_miles,wav"] + [line.replace("\t", ",") for line in text_lines]
    result = psql(server, psql_path, "-c", f"\\copy ({query}) TO stdout")
    assert result.returncode == 0 and result.stdout.splitlines() == text_lines, result.stderr
    result = psql(server, psql_path, "-c", f"\\copy ({query}) TO stdout WITH CSV HEADER")
    assert result.stdout.splitlines() == csv_lines, result.stderr
    result = psql(server, psql_path, "-c", "\\copy cpu (host, cpu) TO stdout (FORMAT csv)")
    assert sorted(result.stdout.splitlines()) == [f"h{i},{10.0 * (i + 1):g}" for i in range(5)], result.stderr
    with psycopg.connect(dsn(server)) as conn:
        with conn.cursor() as cursor:
            with cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT csv, HEADER)") as copy:
                got = b"".join(bytes(block) for block in copy).decode()
            assert got.splitlines() == csv_lines
            assert cursor.rowcount == 3
            with pytest.raises(psycopg.errors.FeatureNotSupported, match="COPY FROM"):
                cursor.execute("COPY cpu FROM STDIN")
            conn.rollback()
            cursor.execute("SELECT COUNT(*) FROM cpu")
            assert cursor.fetchone() == (5,)
    with psycopg2.connect(dsn(server)) as conn2, conn2.cursor() as cursor2:
        buffer = io.StringIO()
        cursor2.copy_expert(f"COPY ({query}) TO STDOUT WITH CSV HEADER", buffer)
        assert buffer.getvalue().splitlines() == csv_lines

    async def scenario() -> None:
        conn = await asyncpg.connect(host="127.0.0.1", port=server.pg_port, user="rusts", database="rusts")
        try:
            sink = io.BytesIO()
            status = await conn.copy_from_query(query, output=sink, format="csv")
            assert status == "COPY 3" and sink.getvalue().decode().splitlines() == csv_lines[1:]
        finally:
            await conn.close()

    asyncio.run(scenario())


# ---- psycopg 3 --------------------------------------------------------------------------------


def test_psycopg3_simple_and_parameterized(server: RustsServer) -> None:
    with psycopg.connect(dsn(server)) as conn:
        rows = conn.execute("SELECT * FROM trips LIMIT 10").fetchall()
        assert len(rows) == 10
        names = [column.name for column in conn.execute("SELECT * FROM trips LIMIT 1").description or []]
        assert names[0] == "time"
        latest = conn.execute("SELECT time, hvfhs_license_num, trip_miles FROM trips ORDER BY time DESC LIMIT 10").fetchall()
        assert latest == expected_latest(10)
        assert isinstance(latest[0][0], datetime.datetime) and latest[0][0].tzinfo is not None
        count = conn.execute(
            "SELECT COUNT(*) FROM trips WHERE hvfhs_license_num = %s AND trip_miles > %s", ("HV0003", 10.0)
        ).fetchone()
        wanted = sum(1 for i in range(ROWS) if LICENSES[i % 3] == "HV0003" and 1.5 + i * 0.25 > 10.0)
        assert count == (wanted,)
        since = ts(START_NS + 100 * 1_000_000_000)
        assert conn.execute("SELECT COUNT(*) FROM trips WHERE time >= %s", (since,)).fetchone() == (ROWS - 100,)
        assert conn.execute("SELECT trip_time, wav FROM trips ORDER BY time LIMIT %s", (2,)).fetchall() == [(300, False), (301, True)]
        for _ in range(6):  # psycopg prepares a statement it has run five times
            assert conn.execute("SELECT COUNT(*) FROM trips WHERE trip_time < %s", (310,)).fetchone() == (10,)
        prepared = conn.execute("SELECT COUNT(*) FROM trips WHERE hvfhs_license_num = %s", ("HV0005",), prepare=True)
        assert prepared.fetchone() == (counts_by_license()["HV0005"],)
        # a timestamptz parameter in the SELECT list comes back as one (not as its text), also cast again
        for text in ("SELECT %s, trip_miles FROM trips LIMIT 1", "SELECT %s::timestamptz FROM trips LIMIT 1"):
            cursor = conn.execute(text, (since,))
            assert cursor.fetchone()[0] == since and cursor.description[0].type_code == 1184


def test_psycopg3_error_keeps_the_connection_usable(server: RustsServer) -> None:
    with psycopg.connect(dsn(server)) as conn:
        with pytest.raises(psycopg.errors.UndefinedColumn):
            conn.execute("SELECT nope FROM trips")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
        conn.rollback()
        assert conn.execute("SELECT COUNT(*) FROM trips").fetchone() == (ROWS,)
    with psycopg.connect(dsn(server), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT * FROM missing WHERE x = %s", (1,))
        assert conn.execute("SELECT COUNT(*) FROM trips").fetchone() == (ROWS,)


def test_psycopg3_binary_results(server: RustsServer) -> None:
    with psycopg.connect(dsn(server)) as conn:
        with conn.cursor(binary=True) as cursor:
            cursor.execute("SELECT time, hvfhs_license_num, trip_miles, trip_time, wav FROM trips ORDER BY time LIMIT 2")
            assert cursor.fetchall() == [
                (ts(START_NS), "HV0003", 1.5, 300, False),
                (ts(START_NS + 1_000_000_000), "HV0005", 1.75, 301, True),
            ]


def test_psycopg3_server_side_cursor_streams_in_batches(server: RustsServer) -> None:
    with psycopg.connect(dsn(server)) as conn:
        with conn.cursor() as cursor:
            cursor.execute("SELECT time, trip_miles FROM trips ORDER BY time")
            total = 0
            while batch := cursor.fetchmany(7):
                total += len(batch)
        assert total == ROWS


def test_named_cursors_of_psycopg_psycopg2_sqlalchemy_and_asyncpg(server: RustsServer) -> None:
    query = "SELECT trip_time FROM trips WHERE hvfhs_license_num = %s ORDER BY time"
    expected = [300 + i for i in range(ROWS) if i % 3 == 0]
    with psycopg.connect(dsn(server)) as conn:
        with conn.cursor(name="srv") as cursor:  # DECLARE "srv" CURSOR FOR ..., Describe portal, FETCH FORWARD
            cursor.execute(query, ("HV0003",))
            assert [row[0] for row in cursor.fetchmany(3)] == expected[:3]
            assert [row[0] for row in cursor.fetchall()] == expected[3:]
        with conn.cursor(name="held", withhold=True) as cursor:
            cursor.execute(query, ("HV0003",))
            conn.commit()  # a cursor WITH HOLD outlives its transaction
            assert [row[0] for row in cursor.fetchmany(2)] == expected[:2]
        with pytest.raises(psycopg.errors.InvalidCursorName):
            conn.execute('FETCH 1 FROM "srv"')  # closed with its cursor
    with psycopg2.connect(dsn(server)) as conn2:
        with conn2.cursor(name="srv2") as cursor2:
            cursor2.itersize = 7  # FETCH FORWARD 7 FROM "srv2", again and again
            cursor2.execute(query, ("HV0003",))
            assert [row[0] for row in cursor2] == expected
    engine = sqlalchemy.create_engine(f"postgresql+psycopg2://rusts@127.0.0.1:{server.pg_port}/rusts")
    try:
        with engine.connect() as conn3:
            result = conn3.execution_options(stream_results=True, yield_per=5).execute(
                sqlalchemy.text("SELECT trip_time FROM trips ORDER BY time"))
            assert [row[0] for row in result] == [300 + i for i in range(ROWS)]
    finally:
        engine.dispose()

    async def scenario() -> None:
        conn4 = await asyncpg.connect(host="127.0.0.1", port=server.pg_port, user="rusts", database="rusts")
        try:
            async with conn4.transaction():
                cursor4 = await conn4.cursor("SELECT trip_time FROM trips ORDER BY time")
                assert [row[0] for row in await cursor4.fetch(2)] == [300, 301]
                assert await cursor4.forward(10) == 10  # MOVE FORWARD 10 on the protocol-level portal
                assert (await cursor4.fetchrow())[0] == 312
        finally:
            await conn4.close()

    asyncio.run(scenario())


def test_date_and_duration_parameters_of_psycopg_and_psycopg2(server: RustsServer) -> None:
    """psycopg 3 sends a date and a timedelta in binary (oids 1082 and 1186); psycopg2 as
    '... days ... seconds'::interval: both refused before."""
    day = datetime.datetime.fromtimestamp(START_NS // 1_000_000_000, datetime.timezone.utc).date()
    after = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(), datetime.timezone.utc)
    expected = sum(1 for i in range(ROWS) if START_NS + i * 1_000_000_000 >= int(after.timestamp()) * 1_000_000_000)
    hour = datetime.timedelta(hours=1)
    with psycopg.connect(dsn(server)) as conn:
        for text, value, count in [
            ("SELECT COUNT(*) FROM trips WHERE time >= %s", day + datetime.timedelta(days=1), expected),
            ("SELECT COUNT(*) FROM trips WHERE time > now() - %s", hour, ROWS),
        ]:
            assert conn.execute(text, (value,), binary=True).fetchone() == (count,)
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="not a fixed duration"):
            conn.execute("SELECT COUNT(*) FROM trips WHERE time > now() - %s::interval", ("1 month",))
    legacy = psycopg2.connect(host="127.0.0.1", port=server.pg_port, user="rusts", dbname="rusts")
    try:
        cursor = legacy.cursor()
        cursor.execute("SELECT COUNT(*) FROM trips WHERE time > now() - %s", (hour,))
        assert cursor.fetchone() == (ROWS,)
    finally:
        legacy.close()


# ---- psycopg2 ---------------------------------------------------------------------------------


def test_psycopg2_examples(server: RustsServer) -> None:
    conn = psycopg2.connect(host="127.0.0.1", port=server.pg_port, user="rusts", dbname="rusts")
    try:
        cursor = conn.cursor()
        cursor.execute("SHOW TABLES")
        assert {row[0] for row in cursor.fetchall()} >= {"trips", "cpu"}
        cursor.execute("SELECT COUNT(*) FROM trips GROUP BY hvfhs_license_num")
        assert sorted(row[0] for row in cursor.fetchall()) == sorted(counts_by_license().values())
        cursor.execute("SELECT region, AVG(cpu) FROM cpu WHERE time > now() - interval '1h' GROUP BY region")
        assert dict(cursor.fetchall()) == {"us-east": 25.0, "us-west": 20.0, "eu": 40.0}
        cursor.execute("SELECT COUNT(*) FROM trips WHERE hvfhs_license_num = %s", ("HV0004",))
        assert cursor.fetchone() == (counts_by_license()["HV0004"],)
        conn.commit()
    finally:
        conn.close()


# ---- asyncpg ----------------------------------------------------------------------------------


def test_asyncpg_binary_extended_protocol(server: RustsServer) -> None:
    async def scenario() -> None:
        conn = await asyncpg.connect(host="127.0.0.1", port=server.pg_port, user="rusts", database="rusts")
        try:
            rows = await conn.fetch("SELECT time, hvfhs_license_num, trip_miles FROM trips ORDER BY time DESC LIMIT 10")
            assert [tuple(row) for row in rows] == expected_latest(10)
            assert await conn.fetchval("SELECT COUNT(*) FROM trips") == ROWS
            count = await conn.fetchval("SELECT COUNT(*) FROM trips WHERE hvfhs_license_num = $1", "HV0003")
            assert count == counts_by_license()["HV0003"]
            since = ts(START_NS + 110 * 1_000_000_000)
            assert await conn.fetchval("SELECT COUNT(*) FROM trips WHERE time >= $1", since) == ROWS - 110
            assert await conn.fetchval("SELECT COUNT(*) FROM trips WHERE trip_miles > $1", 30.0) == sum(
                1 for i in range(ROWS) if 1.5 + i * 0.25 > 30.0
            )
            # parameters cast as SQLAlchemy's asyncpg dialect writes them
            casted = await conn.fetch(
                "SELECT trip_time FROM trips WHERE hvfhs_license_num = $1::VARCHAR AND trip_time > $2::BIGINT "
                "AND trip_miles > $3::FLOAT AND wav = $4::BOOLEAN ORDER BY time LIMIT $5::INTEGER", "HV0003", 300, 1.0, True, 2)
            assert [row[0] for row in casted] == [303, 309]
            row = await conn.fetchrow("SELECT trip_time, wav, shared_request_flag FROM trips ORDER BY time LIMIT 1")
            assert tuple(row) == (300, False, "Y")
            with pytest.raises(asyncpg.exceptions.UndefinedColumnError):
                await conn.fetch("SELECT nope FROM trips")
            assert await conn.fetchval("SELECT COUNT(*) FROM trips") == ROWS
        finally:
            await conn.close()
        pool = await asyncpg.create_pool(host="127.0.0.1", port=server.pg_port, user="rusts", database="rusts", min_size=1, max_size=2)
        try:
            for _ in range(3):  # each release resets the connection with one multi-statement query
                async with pool.acquire() as pooled:
                    assert await pooled.fetchval("SELECT COUNT(*) FROM cpu") == 5
        finally:
            await pool.close()

    asyncio.run(scenario())


def test_array_and_non_finite_parameters_of_asyncpg_psycopg_and_pg8000(server: RustsServer) -> None:
    # PostgreSQL's answers: NaN is above every number (x < NaN for all x), a list binds as an array for
    # = ANY / <> ALL, and `IN $1` is a syntax error (it matched nothing before, silently)
    two_licenses = sum(1 for i in range(ROWS) if LICENSES[i % 3] in ("HV0003", "HV0005"))

    async def scenario() -> None:
        conn = await asyncpg.connect(host="127.0.0.1", port=server.pg_port, user="rusts", database="rusts")
        try:  # bigint[] and float8[] make asyncpg introspect the type first (WITH RECURSIVE typeinfo_tree)
            assert await conn.fetchval("SELECT COUNT(*) FROM trips WHERE hvfhs_license_num = ANY($1)", ["HV0003", "HV0005"]) == two_licenses
            assert await conn.fetchval("SELECT COUNT(*) FROM trips WHERE trip_time = ANY($1)", [300, 301, 9999]) == 2
            assert await conn.fetchval("SELECT COUNT(*) FROM trips WHERE trip_miles = ANY($1::float8[])", [1.5, 1.75]) == 2
            assert await conn.fetchval("SELECT COUNT(*) FROM trips WHERE hvfhs_license_num <> ALL($1)", ["HV0003"]) == ROWS - ROWS // 3
            assert await conn.fetchval("SELECT COUNT(*) FROM trips WHERE trip_miles < $1", float("nan")) == ROWS
            assert await conn.fetchval("SELECT COUNT(*) FROM trips WHERE trip_miles > $1", float("nan")) == 0
            assert await conn.fetchval("SELECT COUNT(*) FROM trips WHERE trip_miles < $1", float("inf")) == ROWS
        finally:
            await conn.close()

    asyncio.run(scenario())
    with psycopg.connect(dsn(server), autocommit=True) as conn:
        assert conn.execute("SELECT COUNT(*) FROM trips WHERE hvfhs_license_num = ANY(%s)", (["HV0004"],)).fetchone() == (ROWS // 3,)
        assert conn.execute("SELECT COUNT(*) FROM trips WHERE trip_time = ANY(%b)", ([302, 303],)).fetchone() == (2,)
        assert conn.execute("SELECT COUNT(*) FROM trips WHERE trip_miles > %s", (float("-inf"),)).fetchone() == (ROWS,)
        assert math.isnan(conn.execute("SELECT %s::float8", (float("nan"),)).fetchone()[0])
        # a float parameter is a double precision: round() takes halves to even (a numeric's go away from zero)
        assert conn.execute("SELECT round(%s), round(%s::numeric)", (2.5, 2.5)).fetchone() == (2.0, 3.0)
    native = pytest.importorskip("pg8000.native")
    pg = native.Connection(host="127.0.0.1", port=server.pg_port, user="rusts", database="rusts")
    try:
        assert pg.run("SELECT COUNT(*) FROM trips WHERE hvfhs_license_num = ANY(:p)", p=["HV0003", "HV0005"]) == [[two_licenses]]
        with pytest.raises(native.DatabaseError) as caught:
            pg.run("SELECT COUNT(*) FROM trips WHERE hvfhs_license_num IN :p", p=("HV0003", "HV0005"))
        assert caught.value.args[0]["C"] == "42601" and "ANY" in caught.value.args[0]["M"]
        assert pg.run("SELECT COUNT(*) FROM trips") == [[ROWS]]
    finally:
        pg.close()


def test_sqlalchemy_async_table_reflection(server: RustsServer) -> None:
    # Table(autoload_with=) reflects indexes too, whose int2vector columns make asyncpg introspect types
    from sqlalchemy.ext.asyncio import create_async_engine

    async def scenario() -> list[str]:
        engine = create_async_engine(f"postgresql+asyncpg://rusts@127.0.0.1:{server.pg_port}/rusts")
        try:
            async with engine.connect() as conn:
                def reflect(sync: Any) -> list[str]:
                    return [column.name for column in sqlalchemy.Table("cpu", sqlalchemy.MetaData(), autoload_with=sync).columns]
                return await conn.run_sync(reflect)
        finally:
            await engine.dispose()

    assert asyncio.run(scenario()) == ["time", "host", "region", "cpu"]


# ---- pg8000 -----------------------------------------------------------------------------------


def test_pg8000_parameters_and_rollback_after_error(server: RustsServer) -> None:
    conn = pg8000.connect(host="127.0.0.1", port=server.pg_port, user="rusts", database="rusts")
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT COUNT(*) FROM trips WHERE hvfhs_license_num = %s", ("HV0005",))
        assert cursor.fetchone() == [counts_by_license()["HV0005"]]
        with pytest.raises(pg8000.DatabaseError):
            cursor.execute("SELECT nope FROM trips")
        conn.rollback()
        cursor.execute("SELECT COUNT(*) FROM trips")
        assert cursor.fetchone() == [ROWS]
        conn.commit()
    finally:
        conn.close()


# ---- SQLAlchemy and pandas --------------------------------------------------------------------


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_sqlalchemy_inspector_and_bound_parameters(server: RustsServer, driver: str) -> None:
    engine = sqlalchemy.create_engine(f"postgresql+{driver}://rusts@127.0.0.1:{server.pg_port}/rusts", pool_pre_ping=True)
    try:
        inspector = sqlalchemy.inspect(engine)
        assert {"trips", "cpu"} <= set(inspector.get_table_names())
        columns = {column["name"]: column["type"] for column in inspector.get_columns("trips")}
        assert isinstance(columns["trip_miles"], sqlalchemy.Float)
        assert isinstance(columns["trip_time"], sqlalchemy.BigInteger)
        assert isinstance(columns["time"], sqlalchemy.DateTime)
        assert isinstance(columns["hvfhs_license_num"], sqlalchemy.Text)
        assert isinstance(columns["wav"], sqlalchemy.Boolean)
        with engine.connect() as conn:
            rows = conn.execute(sqlalchemy.text("SELECT * FROM trips LIMIT 5")).fetchall()
            assert len(rows) == 5
            count = conn.execute(
                sqlalchemy.text("SELECT COUNT(*) FROM trips WHERE hvfhs_license_num = :license"), {"license": "HV0003"}
            ).scalar()
            assert count == counts_by_license()["HV0003"]
            # SQL built by the dialect: psycopg's casts every bound parameter (LIMIT %(param_1)s::INTEGER)
            trips = sqlalchemy.Table("trips", sqlalchemy.MetaData(), autoload_with=conn)
            query = (sqlalchemy.select(trips.c.trip_time).where(trips.c.hvfhs_license_num == "HV0003")
                     .where(trips.c.trip_time > 300).order_by(trips.c.time).limit(2))
            assert [row[0] for row in conn.execute(query)] == [303, 306]
    finally:
        engine.dispose()


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_pandas_to_sql_creates_and_appends_to_a_measurement(server: RustsServer, driver: str) -> None:
    engine = sqlalchemy.create_engine(f"postgresql+{driver}://rusts@127.0.0.1:{server.pg_port}/rusts")
    name = f"frame_{driver}"
    try:
        times = pandas.to_datetime([START_NS + k * 1_000_000_000 for k in range(4)], utc=True)
        frame = pandas.DataFrame({"time": times, "host": ["a", "b", "a", "b"], "v": [1.0, 2.0, 3.0, 4.5],
                                  "k": [1, 2, 3, 4], "flag": [True, False, True, False]})
        # to_sql sends CREATE TABLE, then its INSERTs; the second call appends
        assert frame.iloc[:2].to_sql(name, engine, if_exists="append", index=False) in (2, -1, None)
        assert frame.iloc[2:].to_sql(name, engine, if_exists="append", index=False) in (2, -1, None)
        back = pandas.read_sql(f"SELECT time, host, v, k, flag FROM {name} ORDER BY time", engine)
        assert list(back["v"]) == [1.0, 2.0, 3.0, 4.5] and list(back["k"]) == [1, 2, 3, 4]
        assert list(back["host"]) == ["a", "b", "a", "b"] and list(back["flag"]) == [True, False, True, False]
        columns = {c["name"]: c["type"] for c in sqlalchemy.inspect(engine).get_columns(name)}
        assert isinstance(columns["v"], sqlalchemy.Float) and isinstance(columns["k"], sqlalchemy.BigInteger)
        # to_sql's defaults: the frame's index is a column, and an index is created on it
        assert frame.to_sql(f"{name}_indexed", engine) in (4, -1, None)
        indexed = pandas.read_sql(f"SELECT index, v FROM {name}_indexed ORDER BY time", engine)
        assert list(indexed["index"]) == [0, 1, 2, 3] and list(indexed["v"]) == [1.0, 2.0, 3.0, 4.5]
    finally:
        engine.dispose()


def test_sqlalchemy_asyncpg_reflects_and_binds_cast_parameters(server: RustsServer) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    async def scenario() -> None:
        engine = create_async_engine(f"postgresql+asyncpg://rusts@127.0.0.1:{server.pg_port}/rusts")
        try:
            async with engine.connect() as conn:
                # reflection binds ints to `$n::INTEGER` in catalog queries: they must be described as int4, not text
                columns = await conn.run_sync(lambda sync: sqlalchemy.inspect(sync).get_columns("trips"))
                types = {column["name"]: column["type"] for column in columns}
                assert isinstance(types["trip_time"], sqlalchemy.BigInteger) and isinstance(types["time"], sqlalchemy.DateTime)
                trips = sqlalchemy.Table("trips", sqlalchemy.MetaData(), *[sqlalchemy.Column(c["name"], c["type"]) for c in columns])
                query = (sqlalchemy.select(trips.c.trip_time).where(trips.c.hvfhs_license_num == "HV0003")
                         .where(trips.c.trip_time > 300).order_by(trips.c.time).limit(2))  # $1::VARCHAR, $2::BIGINT, $3::INTEGER
                assert [row[0] for row in await conn.execute(query)] == [303, 306]
        finally:
            await engine.dispose()
        raw = await asyncpg.connect(host="127.0.0.1", port=server.pg_port, user="rusts", database="rusts")
        try:  # a cast names the parameter's type, as PostgreSQL describes it
            prepared = await raw.prepare("SELECT relname FROM pg_catalog.pg_class WHERE relnatts > $1::smallint AND relname <> $2::name "
                                         "AND oid <> CAST($3 AS integer)")
            assert [parameter.name for parameter in prepared.get_parameters()] == ["int2", "name", "int4"]
            assert "trips" in [row[0] for row in await prepared.fetch(0, "x", 0)]
        finally:
            await raw.close()

    asyncio.run(scenario())


def test_pandas_read_sql(server: RustsServer) -> None:
    engine = sqlalchemy.create_engine(f"postgresql+psycopg://rusts@127.0.0.1:{server.pg_port}/rusts")
    try:
        frame = pandas.read_sql("SELECT time, hvfhs_license_num, trip_miles FROM trips ORDER BY time DESC LIMIT 10", engine)
        assert list(frame.columns) == ["time", "hvfhs_license_num", "trip_miles"]
        assert list(frame["trip_miles"]) == [row[2] for row in expected_latest(10)]
        assert str(frame["time"].dtype).startswith("datetime64")
        grouped = pandas.read_sql("SELECT hvfhs_license_num, COUNT(*) AS n FROM trips GROUP BY hvfhs_license_num", engine)
        assert dict(zip(grouped["hvfhs_license_num"], grouped["n"])) == counts_by_license()
    finally:
        engine.dispose()


def test_pgwire_and_http_give_the_same_answers(server: RustsServer) -> None:
    queries = [
        "SELECT * FROM trips ORDER BY time DESC LIMIT 10",
        "SELECT hvfhs_license_num, COUNT(*), AVG(trip_miles), MAX(trip_time) FROM trips GROUP BY hvfhs_license_num",
        "SELECT region, AVG(cpu) FROM cpu WHERE time > now() - interval '1h' GROUP BY region",
    ]
    with psycopg.connect(dsn(server), autocommit=True) as conn:
        for query in queries:
            http = server.sql(query)
            cursor = conn.execute(query)
            assert [column.name for column in cursor.description or []] == [column["name"] for column in http["columns"]]
            wire = cursor.fetchall()
            kinds = [column["type"] for column in http["columns"]]
            expected = [
                tuple(ts(value) if kind == "timestamp" and value is not None else value for value, kind in zip(row, kinds))
                for row in http["rows"]
            ]
            assert sorted(wire, key=repr) == sorted(expected, key=repr), query


def test_selects_without_from_compute_functions_on_both_interfaces(server: RustsServer) -> None:
    # PostgreSQL 15: 3 | -3 | ABC | hello world | 8 | 5 (round of a numeric literal rounds halves away from zero)
    query = "SELECT round(2.5) AS a, round(-2.5), upper('abc'), concat_ws(' ', 'hello', 'world'), abs(-8), length('héllo')"
    expected = [3.0, -3.0, "ABC", "hello world", 8, 5]
    with psycopg.connect(dsn(server), autocommit=True) as conn:
        cursor = conn.execute(query)
        assert [column.name for column in cursor.description or []] == ["a", "round", "upper", "concat_ws", "abs", "length"]
        assert list(cursor.fetchone() or ()) == expected
        assert conn.execute("SELECT 1 WHERE false").fetchall() == []
        with pytest.raises(psycopg.errors.UndefinedColumn):
            conn.execute("SELECT nope + 1")
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="NO_SUCH_FUNCTION"):
            conn.execute("SELECT no_such_function(1)")
        assert conn.execute("SELECT 2").fetchone() == (2,)  # the connection carries on
    http = server.sql(query)
    assert [column["name"] for column in http["columns"]] == ["a", "round", "upper", "concat_ws", "abs", "length"]
    assert http["rows"] == [expected]


def test_writes_nulls_and_unicode_through_pgwire(server: RustsServer) -> None:
    base = START_NS - 3_600_000_000_000
    with psycopg.connect(dsn(server), autocommit=True) as conn:
        cursor = conn.cursor()
        cursor.executemany(
            "INSERT INTO notes (time, author, body, score) VALUES (%s, %s, %s, %s)",
            [(ts(base + i * 1_000_000_000), "zoë", f"it's «{i}»", float(i)) for i in range(3)],
        )
        cursor.execute("INSERT INTO notes (time, author, score) VALUES (%s, %s, %s)", (ts(base + 10_000_000_000), "ann", 9.5))
        rows = conn.execute("SELECT time, author, body, score FROM notes ORDER BY time").fetchall()
        assert rows == [
            *[(ts(base + i * 1_000_000_000), "zoë", f"it's «{i}»", float(i)) for i in range(3)],
            (ts(base + 10_000_000_000), "ann", None, 9.5),
        ]
        deleted = conn.execute("DELETE FROM notes WHERE author = 'ann'")
        assert deleted.statusmessage is not None and deleted.statusmessage.startswith("DELETE")
        assert conn.execute("SELECT COUNT(*) FROM notes").fetchone() == (3,)
        assert conn.execute("DROP TABLE notes").statusmessage == "DROP TABLE"
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT * FROM notes")


def test_asyncpg_constants_and_catalog_functions(server: RustsServer) -> None:
    async def scenario() -> None:
        conn = await asyncpg.connect(host="127.0.0.1", port=server.pg_port, user="rusts", database="rusts")
        try:
            assert await conn.fetchval("SELECT 1") == 1
            assert str(await conn.fetchval("SELECT 1.5")) == "1.5"
            assert (await conn.fetchval("SELECT version()")).startswith("PostgreSQL ")
            assert await conn.fetchval("SELECT current_database()") == "rusts"
            stmt = await conn.prepare("SELECT trip_miles FROM trips WHERE hvfhs_license_num = $1 ORDER BY time LIMIT $2")
            assert [row[0] for row in await stmt.fetch("HV0003", 3)] == [1.5, 2.25, 3.0]
            assert [param.name for param in stmt.get_parameters()] == ["text", "int8"]
            assert [attribute.type.name for attribute in stmt.get_attributes()] == ["float8"]
        finally:
            await conn.close()

    asyncio.run(scenario())


def test_statement_timeout_cancels_and_the_connection_carries_on(server: RustsServer) -> None:
    with psycopg.connect(dsn(server), autocommit=True) as conn:
        conn.execute("SET statement_timeout = '0.001ms'")  # shorter than any query can take
        with pytest.raises(psycopg.errors.QueryCanceled, match="statement_timeout"):
            conn.execute("SELECT * FROM trips")
        conn.execute("SET statement_timeout = 0")
        assert conn.execute("SELECT COUNT(*) FROM trips").fetchone() == (ROWS,)


def test_server_shutdown_tells_connected_clients(tmp_path: Path) -> None:
    own = RustsServer(tmp_path)
    conn = psycopg.connect(f"postgresql://rusts@127.0.0.1:{own.pg_port}/rusts", autocommit=True)
    try:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert own.stop() == 0
        with pytest.raises(psycopg.OperationalError, match="terminating connection due to administrator command"):
            conn.execute("SELECT 1")
    finally:
        conn.close()


def test_rusts_show_statements_over_pgwire(server: RustsServer) -> None:
    with psycopg.connect(dsn(server), autocommit=True) as conn:
        for statement in ("SHOW RETENTION POLICIES", "SHOW PARTITIONS", "SHOW CONTINUOUS AGGREGATES", "SHOW MEASUREMENTS"):
            cursor = conn.execute(statement)
            assert cursor.description, statement  # a RusTs answer with columns, not a session setting
        assert {row[0] for row in conn.execute("SHOW MEASUREMENTS").fetchall()} >= {"trips", "cpu"}
