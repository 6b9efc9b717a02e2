"""Retention and tiering against a real engine on real files, with an injected clock.

A day of data ages hot -> warm -> cold (moved to another directory) -> dropped; bytes shrink;
every query answers the same before and after each step and after a restart; no row inside
its retention period is ever removed.
"""

import os
import random
from pathlib import Path
from typing import Any

import pytest

from rusts.api.line_protocol import engine_parser
from rusts.retention.manager import RetentionManager, attach, manager_of
from rusts.retention.policy import Action, RetentionPolicy, format_duration, parse_duration, plan
from rusts.sql.statement import execute_sql
from rusts.storage.engine import EngineOptions, PartitionInfo, StorageEngine

SECOND = 1_000_000_000
HOUR = 3600 * SECOND
DAY = 24 * HOUR
DAY0 = 20_000 * DAY  # 2024-10-04, a whole day


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def open_engine(data: Path, cold: Path | None, clock: Clock, **overrides: Any) -> StorageEngine:
    options = EngineOptions(
        str(data), cold_dir=None if cold is None else str(cold), clock=clock, partition_duration_ns=HOUR,
        cold_after_ns=100 * DAY, **overrides,
    )
    return StorageEngine.open(options, engine_parser)


def day_of_points(seed: int, step_secs: int = 20) -> bytes:
    rng = random.Random(seed)
    lines = []
    for t in range(DAY0, DAY0 + DAY, step_secs * SECOND):
        for host in ("a", "b"):
            message = f'{rng.choice(["ok", "slow", "failed"])} request {rng.randrange(50)}'
            fields = f'usage={rng.uniform(0, 100):.2f},n={rng.randrange(1000)}i,ok={rng.random() < 0.5},msg="{message}"'
            lines.append(f"cpu,host={host} {fields} {t}")
    return "\n".join(lines).encode()


QUERIES = [
    "SELECT count(usage), sum(usage), min(usage), max(n) FROM cpu GROUP BY host ORDER BY host",
    "SELECT time_bucket('1h', time) AS t, avg(usage), count(ok) FROM cpu GROUP BY 1 ORDER BY 1",
    "SELECT time, host, usage, n, ok, msg FROM cpu ORDER BY time, host",
]


def answers(engine: StorageEngine, where: str = "") -> list[list[list[Any]]]:
    out = []
    for text in QUERIES:
        if where:
            text = text.replace(" FROM cpu", f" FROM cpu WHERE {where}")
        out.append(execute_sql(engine, text).rows)
    return out


def bytes_of(engine: StorageEngine) -> dict[int, int]:
    return {info.start: info.size_bytes for info in engine.partition_infos()}


def test_a_day_ages_hot_warm_cold_then_is_dropped(tmp_path: Path) -> None:
    clock = Clock(DAY0 + DAY)
    data, cold = tmp_path / "data", tmp_path / "slow-disk"
    engine = open_engine(data, cold, clock)
    engine.write_line_protocol(day_of_points(1))
    engine.flush()
    policy = RetentionPolicy(default_ns=30 * HOUR, warm_after_ns=2 * HOUR, cold_after_ns=6 * HOUR)
    manager = RetentionManager(engine, policy)
    before = answers(engine)
    hot_bytes = bytes_of(engine)
    assert len(hot_bytes) == 24 and {i.tier for i in engine.partition_infos()} == {"hot"}

    result = manager.run_once()
    tiers = {info.start: info.tier for info in engine.partition_infos()}
    # Partition i ends at DAY0 + (i + 1) h; now is DAY0 + 24 h.
    expected = {DAY0 + i * HOUR: "cold" if i <= 17 else "warm" if i <= 21 else "hot" for i in range(24)}
    assert tiers == expected
    assert len(result.tiered) == 22 and not result.dropped
    assert answers(engine) == before
    after = bytes_of(engine)
    tiered = [start for start, tier in tiers.items() if tier != "hot"]
    for start in tiered:
        assert after[start] <= hot_bytes[start], (tiers[start], after[start], hot_bytes[start])
    assert sum(after[s] for s in tiered) < sum(hot_bytes[s] for s in tiered)
    assert result.bytes_after < result.bytes_before
    cold_dirs = sorted(os.listdir(cold / "partitions"))
    assert len(cold_dirs) == 18 and len(os.listdir(data / "partitions")) == 6
    statistics = engine.statistics()
    assert (statistics["partitions_hot"], statistics["partitions_warm"], statistics["partitions_cold"]) == (2, 4, 18)
    assert statistics["bytes_cold"] == sum(after[s] for s, t in tiers.items() if t == "cold")

    # A second pass at the same time has nothing to do.
    again = manager.run_once()
    assert (again.tiered, again.dropped, again.deleted) == ([], [], [])

    # The tiers survive a restart, and so do the answers.
    engine.close()
    engine = open_engine(data, cold, clock)
    manager = RetentionManager(engine, policy)
    assert {info.start: info.tier for info in engine.partition_infos()} == expected
    assert answers(engine) == before

    # 18.5 hours later every partition is cold, and the oldest half have passed 30 h: partition i
    # is dropped when DAY0 + (i + 1) h <= now - 30 h.
    clock.now = DAY0 + 12 * HOUR + 30 * HOUR + HOUR // 2
    cutoff = clock.now - 30 * HOUR
    result = manager.run_once()
    kept = [info.start for info in engine.partition_infos()]
    assert kept == [DAY0 + i * HOUR for i in range(24) if DAY0 + (i + 1) * HOUR > cutoff]
    assert len(result.dropped) == 24 - len(kept) == 12
    assert {info.tier for info in engine.partition_infos()} == {"cold"}
    # Rows inside the period are all there: the kept windows answer as before.
    window = f"time >= {kept[0]}"
    assert answers(engine, window) == [
        execute_sql(engine, q.replace(" FROM cpu", f" FROM cpu WHERE {window}")).rows for q in QUERIES
    ]
    rows = execute_sql(engine, "SELECT time, host, usage FROM cpu ORDER BY time, host").rows
    assert rows == [r[:3] for r in before[2] if r[0] >= kept[0]]

    clock.now = DAY0 + DAY + 30 * HOUR
    manager.run_once()
    assert engine.partition_infos() == [] and os.listdir(cold / "partitions") == []
    assert execute_sql(engine, "SELECT count(usage) FROM cpu").rows in ([], [[0]])
    engine.close()


def test_warm_and_cold_in_place_without_a_cold_directory(tmp_path: Path) -> None:
    clock = Clock(DAY0 + DAY)
    engine = open_engine(tmp_path, None, clock)
    engine.write_line_protocol(day_of_points(2))
    engine.flush()
    before = answers(engine)
    hot = bytes_of(engine)
    first = DAY0
    assert engine.set_tier(first, "warm")
    (codec,) = engine.partition_infos()[0].codecs
    assert codec == "zstd" and bytes_of(engine)[first] < hot[first]
    assert engine.set_tier(first, "cold")
    assert not engine.set_tier(first, "cold")
    assert not engine.set_tier(first, "hot")  # tiers only advance
    assert answers(engine) == before
    # Late points land hot in a cold partition; the next pass rewrites them cold.
    engine.write_line_protocol(f"cpu,host=a usage=1.5,n=1i,ok=true {DAY0 + 5 * SECOND}".encode())
    engine.flush()
    assert engine.partition_infos()[0].codecs == ["lz4", "zstd"]
    manager = RetentionManager(engine, RetentionPolicy(cold_after_ns=DAY))
    manager.run_once()
    assert engine.partition_infos()[0].codecs == ["zstd"]
    assert engine.partition_infos()[0].tier == "cold"
    engine.close()
    engine = open_engine(tmp_path, None, clock)
    assert engine.tier_of(first) == "cold"
    rows = execute_sql(engine, f"SELECT usage FROM cpu WHERE host = 'a' AND time = {DAY0 + 5 * SECOND}").rows
    assert rows == [[1.5]]
    engine.close()


def test_per_measurement_retention_deletes_only_that_measurement(tmp_path: Path) -> None:
    clock = Clock(DAY0 + 10 * HOUR)
    engine = open_engine(tmp_path, None, clock)
    lines = []
    for i in range(10 * 60):
        t = DAY0 + i * 60 * SECOND
        lines += [f"cpu,host=a v={i} {t}", f"mem,host=a v={i * 2} {t}", f"disk v={i} {t}"]
    engine.write_line_protocol("\n".join(lines).encode())
    engine.flush()
    policy = RetentionPolicy(default_ns=8 * HOUR, measurements={"cpu": 3 * HOUR, "mem": None})
    mem_before = execute_sql(engine, "SELECT time, v FROM mem ORDER BY time").rows
    result = RetentionManager(engine, policy).run_once()
    assert not result.dropped  # mem is kept forever, so no partition goes whole
    # cpu expires in partitions ending <= now - 3 h (the first 7); disk in those ending <= now - 8 h.
    assert sorted(result.deleted) == sorted(
        [(DAY0 + i * HOUR, "cpu") for i in range(7)] + [(DAY0 + i * HOUR, "disk") for i in range(2)]
    )
    cpu_times = [r[0] for r in execute_sql(engine, "SELECT time, v FROM cpu ORDER BY time").rows]
    assert cpu_times == [DAY0 + i * 60 * SECOND for i in range(7 * 60, 10 * 60)]
    disk_times = [r[0] for r in execute_sql(engine, "SELECT time, v FROM disk ORDER BY time").rows]
    assert disk_times == [DAY0 + i * 60 * SECOND for i in range(2 * 60, 10 * 60)]
    assert execute_sql(engine, "SELECT time, v FROM mem ORDER BY time").rows == mem_before
    # The rows left the disk: the compacted partitions no longer hold the expired series.
    assert engine.partition_measurements(DAY0) == {"mem"}
    assert engine.partition_measurements(DAY0 + 5 * HOUR) == {"mem", "disk"}
    assert engine.deletes == []
    engine.close()


def test_random_policies_never_remove_a_row_inside_its_period(tmp_path: Path) -> None:
    rng = random.Random(7)
    for trial in range(6):
        clock = Clock(DAY0 + 12 * HOUR)
        engine = open_engine(tmp_path / str(trial), None, clock)
        points: dict[str, list[int]] = {"a": [], "b": [], "c": []}
        lines = []
        for measurement in points:
            for _ in range(150):
                t = DAY0 + rng.randrange(12 * HOUR)
                points[measurement].append(t)
                lines.append(f"{measurement} v=1 {t}")
        engine.write_line_protocol("\n".join(lines).encode())
        engine.flush()
        periods = {m: rng.choice([None, rng.randrange(1, 13) * HOUR + rng.randrange(HOUR)]) for m in ("a", "b")}
        policy = RetentionPolicy(default_ns=rng.choice([None, rng.randrange(1, 12 * HOUR)]), measurements=periods)
        for step in range(3):
            clock.now += rng.randrange(4 * HOUR)
            RetentionManager(engine, policy).run_once()
            for measurement, times in points.items():
                stored = {r[0] for r in execute_sql(engine, f"SELECT time, v FROM {measurement}").rows}
                period = policy.retention_of(measurement)
                inside = {t for t in times if period is None or t >= clock.now - period}
                assert inside <= stored, (trial, step, measurement)
                # Whatever went is past its period, in a whole window past it.
                for t in set(times) - stored:
                    assert period is not None and (t // HOUR + 1) * HOUR <= clock.now - period
        engine.close()


def test_plan_of_a_pass() -> None:
    def info(i: int, tier: str = "hot", codecs: list[str] | None = None) -> PartitionInfo:
        return PartitionInfo(i * HOUR, (i + 1) * HOUR, tier, 100, 1, "", codecs or ["lz4"])

    policy = RetentionPolicy(default_ns=5 * HOUR, measurements={"keep": None}, warm_after_ns=HOUR, cold_after_ns=3 * HOUR)
    present = {0: {"x"}, 1: {"x", "keep"}, 2: set(), 7: {"x"}, 8: {"x"}, 9: {"x"}}
    actions = plan(policy, [info(0), info(1), info(2), info(7, "cold", ["lz4", "zstd"]), info(8), info(9)], lambda start: present[start // HOUR], 10 * HOUR)
    assert actions == [
        Action("drop", 0),
        Action("delete", HOUR, measurements=("x",)),
        Action("tier", HOUR, tier="cold"),
        Action("drop", 2 * HOUR),
        Action("tier", 7 * HOUR, tier="cold"),
        Action("tier", 8 * HOUR, tier="warm"),
    ]


def test_durations_and_policy_errors() -> None:
    assert parse_duration("30d") == 30 * DAY and parse_duration("90s") == 90 * SECOND
    assert format_duration(30 * DAY) == "30d" and format_duration(14 * DAY) == "2w" and format_duration(None) == "forever"
    for bad in ["", "30", "d", "0d", "1y", "-1d", "1.5h"]:
        with pytest.raises(ValueError, match="invalid duration"):
            parse_duration(bad)
    with pytest.raises(ValueError, match="cold_after must not be shorter"):
        RetentionPolicy(warm_after_ns=DAY, cold_after_ns=HOUR)
    with pytest.raises(ValueError, match="measurement 'cpu'"):
        RetentionPolicy(measurements={"cpu": 0})


def test_attached_manager_reports_policies_partitions_and_tiers(tmp_path: Path) -> None:
    clock = Clock(DAY0 + 3 * HOUR)
    engine = open_engine(tmp_path, None, clock)
    engine.write_line_protocol(f"m v=1 {DAY0}\nm v=2 {DAY0 + 2 * HOUR}".encode())
    engine.flush()
    manager = RetentionManager(engine, RetentionPolicy(default_ns=30 * DAY, measurements={"m": 7 * DAY}, warm_after_ns=2 * HOUR))
    attach(engine, manager)
    assert manager_of(engine) is manager
    manager.run_once()
    report = manager.report()
    assert report["policies"] == [
        {"measurement": "*", "retention": "30d", "warm_after": "2h", "cold_after": "forever"},
        {"measurement": "m", "retention": "1w", "warm_after": "2h", "cold_after": "forever"},
    ]
    assert [(p["start"], p["tier"]) for p in report["partitions"]] == [(DAY0, "warm"), (DAY0 + 2 * HOUR, "hot")]
    assert report["bytes_per_tier"]["warm"] == report["partitions"][0]["bytes"] > 0
    assert report["last_pass"]["tiered_partitions"] == 1
    shown = execute_sql(engine, "SHOW RETENTION POLICIES")
    assert [c.name for c in shown.columns] == ["measurement", "retention", "warm_after", "cold_after"]
    assert shown.rows == [["*", "30d", "2h", "forever"], ["m", "1w", "2h", "forever"]]
    partitions = execute_sql(engine, "show partitions;")
    assert [c.name for c in partitions.columns] == ["start", "end", "tier", "bytes", "segments", "directory"]
    assert [(r[0], r[2]) for r in partitions.rows] == [(DAY0, "warm"), (DAY0 + 2 * HOUR, "hot")]
    engine.close()


def test_a_cold_dir_that_is_the_data_dir_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must not be the data directory"):
        open_engine(tmp_path, tmp_path, Clock(DAY0))
