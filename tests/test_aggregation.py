"""Continuous aggregates against a real engine: after every refresh the materialized measurement
equals the defining query on the raw data, for every supported function, under random in-order,
late and overwritten points, deletes, restarts (with the WAL, and without it) and a refresh that
fails half-way."""

import math
import random
from pathlib import Path
from typing import Any

import pytest

from rusts.aggregation.continuous import ContinuousAggregates, aggregates_of
from rusts.api.line_protocol import engine_parser
from rusts.core.errors import QueryError
from rusts.sql.statement import describe_sql, execute_sql
from rusts.storage.engine import EngineOptions, StorageEngine

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
T0 = 1_700_000_000 * SECOND // MINUTE * MINUTE

DEFINITION = (
    "SELECT time_bucket('1m', time) AS time, host, count(v) AS n, sum(v) AS s, avg(v) AS m, min(v) AS lo, "
    "max(v) AS hi, first(v) AS f, last(v) AS l, stddev(v) AS sd, percentile(v, 90) AS p90, sum(k) AS ks, "
    "max(k) AS kmax FROM cpu GROUP BY 1, 2"
)


def open_engine(path: Path, **overrides: Any) -> StorageEngine:
    return StorageEngine.open(EngineOptions(str(path), **overrides), engine_parser)


def keyed(columns: list[Any], rows: list[list[Any]], tags: list[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    names = [c.name for c in columns]
    out = {}
    for row in rows:
        values = dict(zip(names, row))
        key = (values.pop("time"), *(values.pop(t, None) for t in tags))
        out[key] = values
    return out


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def assert_materialized(engine: StorageEngine, name: str = "cpu_1m", sql: str = DEFINITION, tags: tuple[str, ...] = ("host",)) -> int:
    """The aggregate's rows equal the defining query's; the number of rows."""
    wanted = execute_sql(engine, sql)
    expected = keyed(wanted.columns, wanted.rows, list(tags))
    if not expected:
        assert not engine.field_types(name) or execute_sql(engine, f"SELECT * FROM {name}").rows == []
        return 0
    stored = execute_sql(engine, f"SELECT * FROM {name}")
    got = keyed(stored.columns, stored.rows, list(tags))
    assert set(got) == set(expected)
    for key, fields in expected.items():
        for field, value in fields.items():
            have = got[key].get(field)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                assert have is None or (isinstance(have, float) and math.isnan(have)), (key, field, have)
            else:
                assert same(have, value), (key, field, have, value)
    return len(expected)


def random_points(rng: random.Random, count: int, low: int, high: int) -> str:
    lines = []
    for _ in range(count):
        t = rng.randrange(low, high) // SECOND * SECOND
        host = rng.choice("abc")
        fields = [f"v={rng.uniform(-50, 50):.3f}"]
        if rng.random() < 0.7:
            fields.append(f"k={rng.randrange(-100, 100)}i")
        lines.append(f"cpu,host={host} {','.join(fields)} {t}")
    return "\n".join(lines)


def test_equal_to_the_defining_query_under_late_points_overwrites_and_deletes(tmp_path: Path) -> None:
    rng = random.Random(11)
    engine = open_engine(tmp_path)
    engine.write_line_protocol(random_points(rng, 400, T0, T0 + 30 * MINUTE).encode())
    answer = execute_sql(engine, f"CREATE CONTINUOUS AGGREGATE cpu_1m AS {DEFINITION}")
    assert answer.tag == "CREATE CONTINUOUS AGGREGATE"
    assert assert_materialized(engine) > 50
    now = T0 + 30 * MINUTE
    aggregates = aggregates_of(engine)
    for round_number in range(12):
        kind = round_number % 4
        if kind == 0:  # new points, in order
            engine.write_line_protocol(random_points(rng, 80, now, now + 5 * MINUTE).encode())
            now += 5 * MINUTE
        elif kind == 1:  # late points, anywhere in the past
            engine.write_line_protocol(random_points(rng, 30, T0, now).encode())
        elif kind == 2:  # overwrite existing points with other values
            rows = execute_sql(engine, f"SELECT time, host, v FROM cpu WHERE time >= {now - 20 * MINUTE}").rows
            chosen = rng.sample(rows, 10)
            engine.write_line_protocol("\n".join(f"cpu,host={h} v={v + 1000.5} {t}" for t, h, v in chosen).encode())
        else:  # deletes: part of a minute for one host, and whole minutes for all
            start = T0 + rng.randrange(30) * MINUTE + 20 * SECOND
            execute_sql(engine, f"DELETE FROM cpu WHERE host = 'a' AND time >= {start} AND time < {start + 30 * SECOND}")
            whole = T0 + rng.randrange(30) * MINUTE
            execute_sql(engine, f"DELETE FROM cpu WHERE time >= {whole} AND time < {whole + 2 * MINUTE}")
        if round_number % 3 == 0:
            engine.flush()
        ranges = aggregates.refresh()
        assert ranges >= 1
        assert_materialized(engine)
    # A refresh with nothing new recomputes nothing.
    assert aggregates.refresh() == 0
    shown = execute_sql(engine, "SHOW CONTINUOUS AGGREGATES")
    assert [row[:3] for row in shown.rows] == [["cpu_1m", "cpu", MINUTE]]
    refreshes = aggregates.aggregates["cpu_1m"].refreshes
    assert refreshes >= 2
    # pending, stale, realtime, refreshes, refreshed by (no cluster node)
    assert shown.rows[0][5:] == [0, 0, False, refreshes, ""]
    engine.close()


def test_restarts_with_and_without_the_wal_and_a_failed_refresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5)
    engine = open_engine(tmp_path)
    engine.write_line_protocol(random_points(rng, 300, T0, T0 + 20 * MINUTE).encode())
    execute_sql(engine, f"create continuous aggregate cpu_1m as {DEFINITION};")
    # Writes the refresher has not seen when the process stops: the WAL tells the next one.
    engine.write_line_protocol(random_points(rng, 50, T0, T0 + 25 * MINUTE).encode())
    engine.close()
    engine = open_engine(tmp_path)
    aggregates = aggregates_of(engine)
    assert aggregates.aggregates["cpu_1m"].pending  # found in the WAL after the watermark
    aggregates.refresh()
    assert_materialized(engine)

    # A refresh that fails half-way (after its first range of buckets) leaves its buckets
    # pending; the next one completes them.
    engine.write_line_protocol(random_points(rng, 30, T0, T0 + 2 * MINUTE).encode())
    engine.write_line_protocol(random_points(rng, 30, T0 + 200 * MINUTE, T0 + 202 * MINUTE).encode())
    calls = []
    original = ContinuousAggregates._recompute

    def failing(self: ContinuousAggregates, aggregate: Any, start: int, end: int) -> None:
        calls.append(start)
        if len(calls) == 2:
            raise OSError("disk trouble")
        original(self, aggregate, start, end)

    monkeypatch.setattr(ContinuousAggregates, "_recompute", failing)
    with pytest.raises(OSError):
        aggregates.refresh()
    monkeypatch.setattr(ContinuousAggregates, "_recompute", original)
    aggregates.refresh()
    assert_materialized(engine)
    engine.close()

    # Without a WAL nothing says what changed: the aggregate is recomputed whole at start.
    engine = open_engine(tmp_path, wal_durability="none")
    engine.write_line_protocol(random_points(rng, 40, T0, T0 + 25 * MINUTE).encode())
    engine.flush()
    engine.close()
    engine = open_engine(tmp_path, wal_durability="none")
    aggregates = aggregates_of(engine)
    assert not aggregates.aggregates["cpu_1m"].complete
    aggregates.refresh()
    assert_materialized(engine)
    engine.close()


def test_a_chain_of_aggregates_and_drop(tmp_path: Path) -> None:
    rng = random.Random(3)
    engine = open_engine(tmp_path)
    engine.write_line_protocol(random_points(rng, 500, T0, T0 + 3 * 3600 * SECOND).encode())
    execute_sql(engine, "CREATE CONTINUOUS AGGREGATE m1 AS SELECT time_bucket('1m', time) AS time, host, sum(v) AS s, count(v) AS c FROM cpu GROUP BY 1, 2")
    hourly = "SELECT time_bucket('1h', time) AS time, host, sum(s) AS s, sum(c) AS c FROM m1 GROUP BY 1, 2"
    execute_sql(engine, f"CREATE CONTINUOUS AGGREGATE h1 AS {hourly}")
    engine.write_line_protocol(random_points(rng, 100, T0, T0 + 3 * 3600 * SECOND).encode())
    aggregates = aggregates_of(engine)
    aggregates.refresh("m1")
    aggregates.refresh("h1")
    m1 = "SELECT time_bucket('1m', time) AS time, host, sum(v) AS s, count(v) AS c FROM cpu GROUP BY 1, 2"
    assert_materialized(engine, "m1", m1)
    assert_materialized(engine, "h1", hourly)
    # The hourly sums of the chain equal hourly sums of the raw data.
    raw = keyed(*_answer(engine, "SELECT time_bucket('1h', time) AS time, host, sum(v) AS s, count(v) AS c FROM cpu GROUP BY 1, 2"), ["host"])
    chained = keyed(*_answer(engine, "SELECT * FROM h1"), ["host"])
    assert sorted(raw) == sorted(chained)
    assert all(same(raw[k]["s"], chained[k]["s"]) and raw[k]["c"] == chained[k]["c"] for k in raw)

    assert execute_sql(engine, "DROP CONTINUOUS AGGREGATE h1").tag == "DROP CONTINUOUS AGGREGATE"
    assert "h1" not in engine.measurements()
    assert execute_sql(engine, "DROP CONTINUOUS AGGREGATE IF EXISTS h1").tag == "DROP CONTINUOUS AGGREGATE"
    with pytest.raises(QueryError, match="does not exist"):
        execute_sql(engine, "DROP CONTINUOUS AGGREGATE h1")
    assert [row[0] for row in execute_sql(engine, "SHOW CONTINUOUS AGGREGATES").rows] == ["m1"]
    # The measurement of an aggregate goes with its aggregate, not alone.
    with pytest.raises(QueryError, match="use DROP CONTINUOUS AGGREGATE m1"):
        execute_sql(engine, "DROP MEASUREMENT m1")
    assert "m1" in engine.measurements()
    engine.close()


def _answer(engine: StorageEngine, sql: str) -> tuple[list[Any], list[list[Any]]]:
    answer = execute_sql(engine, sql)
    return answer.columns, answer.rows


@pytest.mark.parametrize(
    ("statement", "words"),
    [
        ("CREATE CONTINUOUS AGGREGATE x AS SELECT host, avg(v) FROM cpu GROUP BY host", "GROUP BY a time bucket"),
        ("CREATE CONTINUOUS AGGREGATE x AS SELECT time_bucket('1m', time) AS time, avg(v) FROM cpu GROUP BY 1 LIMIT 5", "LIMIT"),
        ("CREATE CONTINUOUS AGGREGATE x AS SELECT time_bucket('1m', time) AS time, avg(v) FROM cpu WHERE time > now() - interval '1 hour' GROUP BY 1", "now()"),
        ("CREATE CONTINUOUS AGGREGATE x AS SELECT time_bucket('1m', time) AS time, host AS h, avg(v) FROM cpu GROUP BY 1, host", "renamed"),
        ("CREATE CONTINUOUS AGGREGATE cpu AS SELECT time_bucket('1m', time) AS time, avg(v) FROM cpu GROUP BY 1", "cpu"),
        ("CREATE CONTINUOUS AGGREGATE 9x AS SELECT 1", "continuous aggregate statement other than"),
        ("REFRESH CONTINUOUS AGGREGATE nope", "does not exist"),
        ("CREATE CONTINUOUS AGGREGATE x AS SELECT time_bucket('1m', time) AS time, avg(nothing) FROM cpu GROUP BY 1", "nothing"),
    ],
)
def test_bad_definitions_are_refused_with_what_is_wrong(tmp_path: Path, statement: str, words: str) -> None:
    engine = open_engine(tmp_path)
    engine.write_line_protocol(f"cpu,host=a v=1 {T0}".encode())
    with pytest.raises(QueryError, match=words.replace("(", r"\(").replace(")", r"\)")):
        execute_sql(engine, statement)
    assert execute_sql(engine, "SHOW CONTINUOUS AGGREGATES").rows == []
    assert "x" not in engine.measurements()
    engine.close()


def test_describe_and_a_taken_name(tmp_path: Path) -> None:
    engine = open_engine(tmp_path)
    engine.write_line_protocol(f"cpu,host=a v=1 {T0}\nmem v=2 {T0}".encode())
    assert [c.name for c in describe_sql(engine, "SHOW CONTINUOUS AGGREGATES")][:2] == ["name", "source"]
    assert describe_sql(engine, f"CREATE CONTINUOUS AGGREGATE y AS {DEFINITION}") == []
    with pytest.raises(QueryError, match="measurement 'mem' already exists"):
        execute_sql(engine, "CREATE CONTINUOUS AGGREGATE mem AS SELECT time_bucket('1m', time) AS time, avg(v) AS v FROM cpu GROUP BY 1")
    execute_sql(engine, "CREATE CONTINUOUS AGGREGATE y AS SELECT time_bucket('1m', time) AS time, avg(v) AS v FROM cpu GROUP BY 1")
    with pytest.raises(QueryError, match="'y' already exists"):
        execute_sql(engine, "CREATE CONTINUOUS AGGREGATE y AS SELECT time_bucket('1m', time) AS time, avg(v) AS v FROM cpu GROUP BY 1")
    assert execute_sql(engine, "SELECT time, v FROM y").rows == [[T0, 1.0]]
    engine.close()


def test_columns_and_rows_materialize_alike(tmp_path: Path) -> None:
    """A definition the executor answers as columns and one answered as rows (HAVING, an expression)
    materialize the same points: series without the grouped tag, string first/last, NULL sums."""
    rng = random.Random(5)
    engine = open_engine(tmp_path)
    lines = [random_points(rng, 300, T0, T0 + 20 * MINUTE)]
    lines += [f'cpu,dc=x note="n{i}",v={i}.25 {T0 + i * 7 * SECOND}' for i in range(120)]  # no host tag
    engine.write_line_protocol("\n".join(lines).encode())
    columns = "time_bucket('1m', time) AS time, host, first(note) AS fn, last(note) AS ln, sum(k) AS ks, avg(v) AS m"
    by_columns = f"SELECT {columns} FROM cpu GROUP BY 1, 2"
    by_rows = f"SELECT {columns}, avg(v) * 2 AS m2 FROM cpu GROUP BY 1, 2 HAVING count(v) > 0"
    execute_sql(engine, f"CREATE CONTINUOUS AGGREGATE a_cols AS {by_columns}")
    execute_sql(engine, f"CREATE CONTINUOUS AGGREGATE a_rows AS {by_rows}")
    engine.write_line_protocol(random_points(rng, 200, T0, T0 + 40 * MINUTE).encode())
    aggregates_of(engine).refresh()
    assert assert_materialized(engine, "a_cols", by_columns) > 40
    assert assert_materialized(engine, "a_rows", by_rows) > 40
    plain = execute_sql(engine, "SELECT time, host, fn, ln, ks, m FROM a_cols ORDER BY time, host").rows
    having = execute_sql(engine, "SELECT time, host, fn, ln, ks, m FROM a_rows ORDER BY time, host").rows
    assert plain == having
    assert any(row[1] is None and row[2] is not None for row in plain)  # the series without host, with notes
    assert any(row[4] is None for row in plain)  # buckets where no point carried k
    assert engine.field_types("a_cols") == {"fn": "string", "ln": "string", "ks": "integer", "m": "float"}
    engine.close()
