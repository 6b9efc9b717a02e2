"""Downsampling policies (issue 6): tiers built on continuous aggregates, raw data dropped by
retention while each tier keeps its own period, queries answered from the coarsest tier that
fits (equal to the raw answer where both exist), EXPLAIN and /stats saying which tier answered,
and real-time continuous aggregates. An injected clock ages the data."""

import math
import random
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from rusts.aggregation import downsampling
from rusts.aggregation.continuous import aggregates_of
from rusts.aggregation.policy import DownsamplingError, policy_from_text
from rusts.api.line_protocol import engine_parser
from rusts.core.errors import CorruptDataError, QueryError
from rusts.pgwire.catalog import Session
from rusts.pgwire.execution import describe as pg_describe
from rusts.pgwire.execution import execute as pg_execute
from rusts.retention.manager import RetentionManager, attach
from rusts.retention.policy import RetentionPolicy
from rusts.sql.statement import describe_sql, execute_sql, stream_sql
from rusts.storage.engine import EngineOptions, StorageEngine

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
DAY0 = 20_000 * DAY  # midnight UTC
POLICY = "CREATE DOWNSAMPLING POLICY ON cpu (raw: 24h, 1m avg: 7d, 1h avg: 365d) FIELDS (req: sum, peak: max, last_seen: last)"


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def open_engine(path: Path, clock: Clock) -> StorageEngine:
    return StorageEngine.open(EngineOptions(str(path), clock=clock, partition_duration_ns=6 * HOUR, cold_after_ns=1000 * DAY), engine_parser)


def points(rng: random.Random, start: int, end: int, step: int) -> bytes:
    lines = []
    for t in range(start, end, step):
        t += rng.randrange(step // 2)
        fields = f"usage={rng.uniform(0, 100):.2f},req={rng.randrange(20)}i,peak={rng.uniform(0, 9):.3f},last_seen={rng.randrange(10**6)}i,temp={rng.randrange(-20, 40)}i"
        if rng.random() < 0.8:
            fields += f',status="{rng.choice(["ok", "slow"])}"'
        lines.append(f"cpu,host={rng.choice('abc')},dc=d{rng.randrange(2)} {fields} {t}")
    return "\n".join(lines).encode()


def raw_answer(engine: StorageEngine, sql: str) -> list[list[Any]]:
    with mock.patch.object(downsampling, "route", lambda engine, query: None):
        return execute_sql(engine, sql).rows


def plan_of(engine: StorageEngine, sql: str) -> str:
    return "\n".join(row[0] for row in execute_sql(engine, "EXPLAIN " + sql).rows)


def assert_rows_equal(got: list[list[Any]], expected: list[list[Any]]) -> None:
    assert len(got) == len(expected)
    for have, want in zip(got, expected):
        assert len(have) == len(want)
        for a, b in zip(have, want):
            if isinstance(a, float) or isinstance(b, float):
                # a sum of per-bucket sums adds the same floats in another order
                assert a is not None and b is not None and math.isclose(a, b, rel_tol=1e-12), (have, want)
            else:
                assert a == b, (have, want)


TIER_QUERIES = [
    ("SELECT time_bucket('1h', time) AS t, host, avg(usage), sum(req), max(peak), count(*), count(usage), sum(usage) "
     "FROM cpu GROUP BY 1, 2 ORDER BY 1, 2", "cpu_1h"),
    ("SELECT time_bucket('2h', time) AS t, host, dc, last(last_seen), max(peak), count(temp) FROM cpu GROUP BY 1, 2, 3", "cpu_1h"),
    # an integer kept with avg: its mean where each answer row is one tier row
    ("SELECT time_bucket('1h', time) AS t, host, dc, avg(temp) FROM cpu GROUP BY 1, 2, 3 ORDER BY 2, 3, 1", "cpu_1h"),
    ("SELECT time_bucket('1d', time) AS t, avg(usage) AS u, sum(req) FROM cpu WHERE host = 'a' GROUP BY 1", "cpu_1h"),
    ("SELECT time_bucket('6h', time) AS t, dc, host, max(peak) FROM cpu GROUP BY 1, 2, 3 ORDER BY 1 DESC, 2, 3 LIMIT 7", "cpu_1h"),
    # starts inside a bucket: that bucket from raw, the rest from the tier
    ("SELECT time_bucket('5m', time) AS t, count(*), avg(usage) FROM cpu WHERE time >= 1728004000000000000 GROUP BY 1 HAVING count(*) > 2", "cpu_1m"),
    ("SELECT time_bucket('1m', time) AS t, host, sum(usage) FROM cpu WHERE host IN ('a', 'b') AND time < 1728010000000000000 GROUP BY 1, 2", "cpu_1m"),
    ("SELECT time_bucket('1h', time) AS t, sum(req) FROM cpu WHERE time >= 1728003600000000000 AND time < 1728021600000000000 GROUP BY 1", "cpu_1h"),
]
RAW_QUERIES = [
    "SELECT time_bucket('1h', time) AS t, min(usage) FROM cpu GROUP BY 1",  # usage is kept as avg
    "SELECT time_bucket('1h', time) AS t, stddev(usage) FROM cpu GROUP BY 1",
    "SELECT time_bucket('1h', time) AS t, avg(usage) FROM cpu WHERE usage > 50 GROUP BY 1",  # a field filter
    "SELECT time_bucket('90s', time) AS t, avg(usage) FROM cpu GROUP BY 1",  # not a multiple of 1m
    "SELECT host, avg(usage) FROM cpu GROUP BY 1",  # no time bucket
    "SELECT time_bucket('1h', time) AS t, host, last(last_seen) FROM cpu GROUP BY 1, 2",  # tier rows of 2 dcs share times
    "SELECT time_bucket('2h', time) AS t, host, dc, avg(temp) FROM cpu GROUP BY 1, 2, 3",  # no integer sum is kept
    "SELECT time_bucket('1h', time) AS t, host, avg(temp) FROM cpu GROUP BY 1, 2",
]


def test_queries_answered_from_the_coarsest_tier_equal_the_raw_answers(tmp_path: Path) -> None:
    clock = Clock(DAY0 + 10 * HOUR)
    engine = open_engine(tmp_path, clock)
    rng = random.Random(5)
    engine.write_line_protocol(points(rng, DAY0, DAY0 + 10 * HOUR, 9 * SECOND))
    assert execute_sql(engine, POLICY).tag == "CREATE DOWNSAMPLING POLICY"
    for sql, tier in TIER_QUERIES:
        plan = plan_of(engine, sql)
        assert f"answered by: tier {tier}" in plan, plan
        cut = "range starts inside a bucket" in plan or "range ends inside a bucket" in plan
        assert cut == ("time >= 1728004000" in sql or "time < 1728010000" in sql), plan
        assert "not yet materialized" not in plan, plan
        assert_rows_equal(execute_sql(engine, sql).rows, raw_answer(engine, sql))
        streamed = stream_sql(engine, sql)
        assert_rows_equal([row for batch in streamed.batches for row in batch], raw_answer(engine, sql))
    for sql in RAW_QUERIES:
        assert "answered by: raw cpu" in plan_of(engine, sql), sql
    # New points, before a refresh: the tier answers up to the first pending bucket, raw after it.
    engine.write_line_protocol(points(rng, DAY0 + 10 * HOUR, DAY0 + 11 * HOUR, 9 * SECOND))
    engine.write_line_protocol(f"cpu,host=a,dc=d0 usage=1,req=1i,peak=0.5,last_seen=1i {DAY0 + 7 * HOUR + 30 * MINUTE}".encode())
    sql = TIER_QUERIES[0][0]
    plan = plan_of(engine, sql)
    assert f"tier cpu_1h (1h buckets) for time >= {DAY0 + 10 * HOUR - 365 * DAY} and time < {DAY0 + 7 * HOUR}" in plan, plan
    assert f"raw cpu for time >= {DAY0 + 7 * HOUR} (not yet materialized in the tier)" in plan, plan
    assert_rows_equal(execute_sql(engine, sql).rows, raw_answer(engine, sql))
    aggregates_of(engine).refresh()
    assert "not yet materialized" not in plan_of(engine, sql)
    assert_rows_equal(execute_sql(engine, sql).rows, raw_answer(engine, sql))
    # /stats (the retention report) counts which tier answered.
    answered = RetentionManager(engine, RetentionPolicy()).report()["downsampling"]["answered_by"]
    assert answered["cpu_1h"] >= 4 and answered["cpu_1m"] >= 2 and answered["cpu"] >= 1
    engine.close()


def test_raw_data_ages_out_and_the_tiers_keep_their_periods(tmp_path: Path) -> None:
    clock = Clock(DAY0 + 2 * DAY)
    engine = open_engine(tmp_path, clock)
    rng = random.Random(9)
    engine.write_line_protocol(points(rng, DAY0, DAY0 + 2 * DAY, 60 * SECOND))
    execute_sql(engine, POLICY)
    engine.flush()  # retention sees partitions on disk
    month = "SELECT time_bucket('1h', time) AS t, host, avg(usage), sum(req), count(*) FROM cpu GROUP BY 1, 2 ORDER BY 1, 2"
    minutes = "SELECT time_bucket('10m', time) AS t, avg(usage) FROM cpu GROUP BY 1"
    before, before_minutes = raw_answer(engine, month), raw_answer(engine, minutes)
    manager = RetentionManager(engine, RetentionPolicy(default_ns=30 * DAY))
    attach(engine, manager)
    assert [row[:2] for row in execute_sql(engine, "SHOW RETENTION POLICIES").rows] == [
        ["*", "30d"], ["cpu", "1d"], ["cpu_1h", "365d"], ["cpu_1m", "1w"],
    ]
    # 3 days on: the raw rows of the first two days are gone, both tiers still answer.
    clock.now = DAY0 + 5 * DAY
    manager.run_once()
    assert raw_answer(engine, month) == []
    assert_rows_equal(execute_sql(engine, month).rows, before)
    assert_rows_equal(execute_sql(engine, minutes).rows, before_minutes)
    # A point later than the raw period reaches raw but never the sealed tier buckets.
    late = f"cpu,host=a,dc=d0 usage=99,req=1000i,peak=1.0,last_seen=1i {DAY0 + HOUR}"
    engine.write_line_protocol(late.encode())
    assert "not yet materialized" not in plan_of(engine, month)
    aggregates_of(engine).refresh()
    assert_rows_equal(execute_sql(engine, month).rows, before)
    # Past a week the 1-minute tier goes; the hourly one stays for its year.
    clock.now = DAY0 + 9 * DAY
    manager.run_once()
    assert engine.field_types("cpu_1m") == {} or execute_sql(engine, "SELECT count(*) FROM cpu_1m").rows == [[0]]
    assert_rows_equal(execute_sql(engine, month).rows, before)
    # Restart: the policy, its tiers and their seal come back.
    engine.close()
    engine = open_engine(tmp_path, clock)
    attach(engine, RetentionManager(engine, RetentionPolicy(default_ns=30 * DAY)))
    assert "answered by: tier cpu_1h" in plan_of(engine, month)
    assert_rows_equal(execute_sql(engine, month).rows, before)
    assert [row[1] for row in execute_sql(engine, "SHOW DOWNSAMPLING POLICIES").rows] == ["cpu", "cpu_1m", "cpu_1h"]
    engine.close()


def test_policy_statements_and_their_errors(tmp_path: Path) -> None:
    clock = Clock(DAY0 + DAY)
    engine = open_engine(tmp_path, clock)
    with pytest.raises(QueryError, match="no data yet"):
        execute_sql(engine, "CREATE DOWNSAMPLING POLICY ON cpu (raw: 24h, 1m avg: 7d)")
    engine.write_line_protocol(points(random.Random(1), DAY0, DAY0 + HOUR, 30 * SECOND))
    for statement, words in [
        ("CREATE DOWNSAMPLING POLICY ON cpu (raw: 24h, 1m average: 7d)", "unknown function 'average'"),
        ("CREATE DOWNSAMPLING POLICY ON cpu (raw: 24h, 1m avg: 7 days)", "'7 days' is not a period"),
        ("CREATE DOWNSAMPLING POLICY ON cpu (raw: 24h)", "without a tier"),
        ("CREATE DOWNSAMPLING POLICY ON cpu (raw: 24h, 1m: 7d, 1m sum: 30d)", "two tiers of the same interval"),
        ("CREATE DOWNSAMPLING POLICY ON cpu (1m: 7d) FIELDS (nope: sum)", "'nope' is not a field of 'cpu'"),
        ("CREATE DOWNSAMPLING POLICY ON cpu (1m: 7d) FIELDS (status: sum)", "field 'status' of 'cpu' is string"),
        ("CREATE DOWNSAMPLING POLICY ON cpu (raw 24h)", "cannot read"),
    ]:
        with pytest.raises(QueryError, match=words):
            execute_sql(engine, statement)
    assert execute_sql(engine, "SHOW DOWNSAMPLING POLICIES").rows == []
    assert not engine.field_types("cpu_1m")
    execute_sql(engine, "CREATE DOWNSAMPLING POLICY ON cpu (raw: 24h, 1m: 7d) FIELDS (status: none, last_seen: none)")
    assert sorted(engine.field_types("cpu_1m")) == [
        "__points", "peak", "peak__count", "peak__sum", "req", "req__count", "temp", "temp__count", "usage", "usage__count", "usage__sum",
    ]
    with pytest.raises(QueryError, match="already has a downsampling policy"):
        execute_sql(engine, "CREATE DOWNSAMPLING POLICY ON cpu (raw: 24h, 1m: 7d)")
    # New periods are taken; other tiers or functions would lose data the raw rows no longer have.
    execute_sql(engine, "ALTER DOWNSAMPLING POLICY ON cpu (raw: 48h, 1m avg: forever) FIELDS (status: none, last_seen: none)")
    assert execute_sql(engine, "SHOW DOWNSAMPLING POLICIES").rows[1][4] == "forever"
    with pytest.raises(QueryError, match="DROP DOWNSAMPLING POLICY ON cpu to start over"):
        execute_sql(engine, "ALTER DOWNSAMPLING POLICY ON cpu (raw: 48h, 1m max: 7d)")
    with pytest.raises(DownsamplingError, match="other tiers"):
        downsampling.ensure_policy(engine, policy_from_text("cpu", "raw: 24h, 5m: 7d"))
    assert not downsampling.ensure_policy(engine, policy_from_text("cpu", "raw: 48h, 1m: forever", "status: none, last_seen: none"))
    assert [c.name for c in describe_sql(engine, "SHOW DOWNSAMPLING POLICIES")][:2] == ["measurement", "tier"]
    with pytest.raises(QueryError, match="DROP DOWNSAMPLING POLICY ON cpu") as refused:
        execute_sql(engine, "DROP TABLE cpu_1m")
    assert getattr(refused.value, "sqlstate", None) == "42809" and engine.field_types("cpu_1m")
    assert execute_sql(engine, "DROP DOWNSAMPLING POLICY ON cpu").tag == "DROP DOWNSAMPLING POLICY"
    assert not engine.field_types("cpu_1m") and execute_sql(engine, "SHOW CONTINUOUS AGGREGATES").rows == []
    execute_sql(engine, "DROP DOWNSAMPLING POLICY IF EXISTS ON cpu")
    with pytest.raises(QueryError, match="has no downsampling policy"):
        execute_sql(engine, "DROP DOWNSAMPLING POLICY ON cpu")
    engine.close()


def test_explain_over_the_pgwire_path(tmp_path: Path) -> None:
    clock = Clock(DAY0 + 2 * HOUR)
    engine = open_engine(tmp_path, clock)
    engine.write_line_protocol(points(random.Random(2), DAY0, DAY0 + 2 * HOUR, 20 * SECOND))
    execute_sql(engine, POLICY)
    session = Session("postgres", "rusts", {})
    sql = "EXPLAIN SELECT time_bucket('1h', time), avg(usage) FROM cpu GROUP BY 1;"
    outcome = pg_execute(engine, session, sql, 10.0)
    assert outcome.columns[0][0] == "QUERY PLAN" and outcome.tag == "EXPLAIN"
    lines = [row[0] for row in outcome.rows]
    assert f"  answered by: tier cpu_1h (1h buckets) for time >= {DAY0 + 2 * HOUR - 365 * DAY}" in lines
    assert pg_describe(engine, session, sql)[0][0] == "QUERY PLAN"
    assert "answered by: raw cpu" in "\n".join(row[0] for row in pg_execute(engine, session, "EXPLAIN SELECT * FROM cpu", 10.0).rows)
    engine.close()


REALTIME = "SELECT time_bucket('1m', time) AS time, host, avg(usage) AS usage, count(*) AS n, max(peak) AS peak FROM cpu GROUP BY 1, 2"


def test_a_realtime_aggregate_answers_the_not_yet_materialized_tail(tmp_path: Path) -> None:
    clock = Clock(DAY0 + 2 * HOUR)
    engine = open_engine(tmp_path, clock)
    rng = random.Random(3)
    engine.write_line_protocol(points(rng, DAY0, DAY0 + HOUR, 10 * SECOND))
    execute_sql(engine, f"CREATE CONTINUOUS AGGREGATE live WITH (realtime = true) AS {REALTIME}")
    execute_sql(engine, f"CREATE CONTINUOUS AGGREGATE batch AS {REALTIME}")
    read = "SELECT time, host, usage, n, peak FROM {} ORDER BY time, host"
    expected = f"SELECT * FROM ({REALTIME}) AS q"  # not supported: compare with the defining query itself
    del expected
    for round_ in range(3):
        # Writes (new buckets, late points, an overwrite), and no refresh before reading.
        engine.write_line_protocol(points(rng, DAY0 + (1 + round_) * HOUR // 2, DAY0 + (2 + round_) * HOUR // 2, 7 * SECOND))
        defining = execute_sql(engine, REALTIME + " ORDER BY 1, 2").rows
        assert_rows_equal(execute_sql(engine, read.format("live")).rows, defining)
        assert execute_sql(engine, read.format("batch")).rows != defining  # materialized only: behind
    assert execute_sql(engine, "SHOW CONTINUOUS AGGREGATES").rows[1][7] is True
    assert "real time" in plan_of(engine, "SELECT * FROM live")
    execute_sql(engine, "ALTER CONTINUOUS AGGREGATE live SET (realtime = false)")
    engine.write_line_protocol(points(rng, DAY0 + 2 * HOUR, DAY0 + 3 * HOUR, 7 * SECOND))
    assert execute_sql(engine, read.format("live")).rows != execute_sql(engine, REALTIME + " ORDER BY 1, 2").rows
    # The mode survives a restart.
    execute_sql(engine, "ALTER CONTINUOUS AGGREGATE live SET (realtime = on)")
    engine.close()
    engine = open_engine(tmp_path, clock)
    engine.write_line_protocol(points(rng, DAY0 + 3 * HOUR, DAY0 + 4 * HOUR, 7 * SECOND))
    assert_rows_equal(execute_sql(engine, read.format("live")).rows, execute_sql(engine, REALTIME + " ORDER BY 1, 2").rows)
    with pytest.raises(QueryError, match="does not exist"):
        execute_sql(engine, "ALTER CONTINUOUS AGGREGATE nope SET (realtime = true)")
    engine.close()


def test_configured_policies_wait_for_their_measurement_and_keep_their_tiers(tmp_path: Path) -> None:
    clock = Clock(DAY0 + 2 * HOUR)
    engine = open_engine(tmp_path, clock)
    configured = [policy_from_text("cpu", "raw: 24h, 1m avg: 7d, 1h: 365d", "req: sum")]
    (failed,) = downsampling.ensure_configured(engine, configured)
    assert "no data yet" in str(failed[1])
    engine.write_line_protocol(points(random.Random(4), DAY0, DAY0 + 2 * HOUR, 20 * SECOND))
    assert downsampling.ensure_configured(engine, configured) == []
    assert downsampling.periods(engine) == {"cpu": DAY, "cpu_1m": 7 * DAY, "cpu_1h": 365 * DAY}
    # The next start with a changed shape is refused (and says why); new periods are taken.
    (failed,) = downsampling.ensure_configured(engine, [policy_from_text("cpu", "raw: 24h, 1m max: 7d")])
    assert "DROP DOWNSAMPLING POLICY ON cpu" in str(failed[1])
    assert downsampling.ensure_configured(engine, [policy_from_text("cpu", "raw: 48h, 1m avg: 7d, 1h: forever", "req: sum")]) == []
    assert downsampling.periods(engine) == {"cpu": 2 * DAY, "cpu_1m": 7 * DAY, "cpu_1h": None}
    engine.close()


def test_a_tier_answers_only_inside_its_own_period(tmp_path: Path) -> None:
    clock = Clock(DAY0 + 5 * DAY)
    engine = open_engine(tmp_path, clock)
    engine.write_line_protocol(points(random.Random(6), DAY0, DAY0 + 5 * DAY, 5 * MINUTE))
    execute_sql(engine, "CREATE DOWNSAMPLING POLICY ON cpu (raw: 30d, 1h avg: 2d)")
    sql = "SELECT time_bucket('1h', time) AS t, avg(usage), count(*) FROM cpu GROUP BY 1"
    plan = plan_of(engine, sql)
    assert f"tier cpu_1h (1h buckets) for time >= {DAY0 + 3 * DAY}" in plan, plan
    assert f"raw cpu for time < {DAY0 + 3 * DAY} (before the tier's period)" in plan, plan
    assert len(execute_sql(engine, sql).rows) == 5 * 24
    assert_rows_equal(execute_sql(engine, sql).rows, raw_answer(engine, sql))
    engine.close()


def test_an_unreadable_state_file_fails_retention_not_every_select(tmp_path: Path) -> None:
    clock = Clock(DAY0 + 2 * DAY)
    engine = open_engine(tmp_path, clock)
    engine.write_line_protocol(points(random.Random(8), DAY0, DAY0 + 2 * DAY, 5 * MINUTE))
    execute_sql(engine, POLICY)
    engine.flush()
    engine.close()
    (tmp_path / "AGGREGATES").write_bytes(b"{not json")
    engine = open_engine(tmp_path, clock)
    before = {info.start for info in engine.partition_infos()}
    sql = "SELECT time_bucket('1h', time) AS t, avg(usage) FROM cpu GROUP BY 1"
    assert len(execute_sql(engine, sql).rows) == 48  # raw rows answer
    assert "answered by: raw cpu" in plan_of(engine, sql)
    with pytest.raises(CorruptDataError, match="AGGREGATES: unreadable"):
        execute_sql(engine, "SHOW DOWNSAMPLING POLICIES")
    # Retention cannot read the tiers' periods: it stops instead of dropping them by the default.
    manager = RetentionManager(engine, RetentionPolicy(default_ns=DAY))
    with pytest.raises(CorruptDataError, match="AGGREGATES: unreadable"):
        manager.run_once()
    assert {info.start for info in engine.partition_infos()} == before
    engine.close()


def test_json_model_queries_are_answered_from_tiers_too(tmp_path: Path) -> None:
    """POST /query's model goes through downsampling.execute_model: the same answer as the executor on
    raw data, from the tier (counted), and a real-time aggregate is brought up to date first."""
    from rusts.query.executor import execute
    from rusts.query.model import parse_query

    clock = Clock(DAY0 + 10 * HOUR)
    engine = open_engine(tmp_path, clock)
    rng = random.Random(8)
    engine.write_line_protocol(points(rng, DAY0, DAY0 + 10 * HOUR, 9 * SECOND))
    execute_sql(engine, POLICY)
    body = (b'{"measurement": "cpu", "aggregations": [{"function": "mean", "field": "usage"}, {"function": "sum", "field": "req"}],'
            b' "group_by": {"tags": ["host"], "time": {"interval": 7200000000000}}}')
    query = parse_query(body)
    manager = RetentionManager(engine, RetentionPolicy())
    before = manager.report()["downsampling"]["answered_by"].get("cpu_1h", 0)
    assert_rows_equal(downsampling.execute_model(engine, query).rows, execute(engine, query).rows)
    assert manager.report()["downsampling"]["answered_by"]["cpu_1h"] == before + 1
    raw_only = parse_query(b'{"measurement": "cpu", "aggregations": [{"function": "stddev", "field": "usage"}], "group_by": {"time": {"interval": 3600000000000}}}')
    assert downsampling.execute_model(engine, raw_only).rows == execute(engine, raw_only).rows
    execute_sql(engine, "CREATE CONTINUOUS AGGREGATE hourly WITH (realtime = true) AS SELECT time_bucket('1h', time) AS time, host, count(*) AS n FROM cpu GROUP BY 1, 2")
    aggregates_of(engine).refresh()
    engine.write_line_protocol(f"cpu,host=a,dc=d0 usage=1,req=1i,peak=0.5,last_seen=1i {DAY0 + 9 * HOUR + 5 * SECOND}".encode())
    count = parse_query(b'{"measurement": "hourly", "aggregations": [{"function": "sum", "field": "n"}]}')
    total = execute(engine, parse_query(b'{"measurement": "cpu", "aggregations": [{"function": "count", "field": "*"}]}')).rows[0][-1]
    assert downsampling.execute_model(engine, count).rows[0][-1] == total  # the new point is counted
    engine.close()
