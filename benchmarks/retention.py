"""Storage tiers and retention on the trips data set: bytes per tier, the cost of each move and
drop, and query times before and after tiering.

Ingests the synthetic trips month (benchmarks/trips.py, November 2025, one partition a day) into
a fresh engine, compacts it hot (LZ4), then runs retention passes with an injected clock:

1. at 2025-12-01: partitions older than 2 days go warm (Zstd at storage.compression.zstd_level);
2. at 2025-12-08: older than 7 days go cold (Zstd at cold_zstd_level, moved to a cold_dir);
3. at 2025-12-20: a 25-day retention drops the oldest partitions whole.

Prints bytes per tier after each pass, the time per partition and per MB of each kind of move,
and the time of a few queries over the whole month before and after tiering (answers are
checked equal).

With --aggregates, instead measures continuous aggregates (rusts.aggregation): ingest time of
the same rows with and without a 1-minute aggregate kept current (refreshed after every batch
of 5,000 rows, as the server's background refresher would be about once a second at that
rate), the refresh time per new point, and a month of 1-hour means asked of the raw trips
measurement and answered from the 1-hour tier of a downsampling policy (raw: 24h, 1h avg:
365d), before and after retention dropped the raw rows, against the raw rows' own answer.

Run: python benchmarks/retention.py [--rows N] [--cold-level L] [--aggregates]
"""

import argparse
import calendar
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import rusts  # noqa: E402
from rusts.api.line_protocol import engine_parser  # noqa: E402
from rusts.retention.manager import RetentionManager  # noqa: E402
from rusts.retention.policy import RetentionPolicy  # noqa: E402
from rusts.sql.statement import execute_sql  # noqa: E402
from rusts.storage.engine import TIERS, EngineOptions, StorageEngine  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from trips import generate_batches, lp_lines  # noqa: E402

DAY = 86_400 * 1_000_000_000
DECEMBER = calendar.timegm((2025, 12, 1, 0, 0, 0)) * 1_000_000_000
QUERIES = {
    "1 h mean of a month": "SELECT time_bucket('1h', time) AS t, avg(trip_miles) FROM trips GROUP BY 1",
    "count and sum per license": "SELECT hvfhs_license_num, count(trip_miles), sum(driver_pay) FROM trips GROUP BY 1",
    "100 latest rows": "SELECT time, trip_miles FROM trips ORDER BY time DESC LIMIT 100",
}


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def tier_bytes(engine: StorageEngine) -> str:
    sums = {tier: [0, 0] for tier in TIERS}
    for info in engine.partition_infos():
        sums[info.tier][0] += 1
        sums[info.tier][1] += info.size_bytes
    return ", ".join(f"{tier} {n} partitions {size / 1e6:.2f} MB" for tier, (n, size) in sums.items())


def time_queries(engine: StorageEngine, label: str) -> dict[str, list[list[object]]]:
    answers = {}
    for name, text in QUERIES.items():
        execute_sql(engine, text)  # first run warms the caches; the figure is the best of 3
        best = float("inf")
        for _ in range(3):
            began = time.perf_counter()
            answers[name] = execute_sql(engine, text).rows
            best = min(best, time.perf_counter() - began)
        print(f"  {label:>6} {name:<28} {best * 1000:8.1f} ms")
    return answers


def timed_pass(manager: RetentionManager, clock: Clock, now: int, what: str) -> None:
    clock.now = now
    sizes_before = {info.start: info.size_bytes for info in manager.engine.partition_infos()}
    began = time.perf_counter()
    result = manager.run_once()
    elapsed = time.perf_counter() - began
    moved = result.tiered or [(start, "dropped") for start in result.dropped]
    megabytes = sum(sizes_before[start] for start, _ in moved) / 1e6
    per = f"{elapsed / len(moved) * 1000:.0f} ms per partition, {elapsed / max(megabytes, 1e-9):.2f} s per MB" if moved else "nothing to do"
    print(f"{what}: {len(moved)} partitions ({megabytes:.2f} MB) in {elapsed:.2f} s ({per})")
    print(f"  bytes: {tier_bytes(manager.engine)}; {result.bytes_before / 1e6:.2f} -> {result.bytes_after / 1e6:.2f} MB")


MINUTELY = (
    "SELECT time_bucket('1m', time) AS time, hvfhs_license_num, avg(trip_miles) AS miles, "
    "count(trip_miles) AS trips, sum(driver_pay) AS pay FROM trips GROUP BY 1, 2"
)
RAW_HOURLY_MEAN = "SELECT time_bucket('1h', time) AS time, avg(trip_miles) AS mean FROM trips GROUP BY 1"


def ingest(rows: int, aggregate: bool, every: int = 1) -> tuple[float, float, int, int, float]:
    """(ingest CPU seconds, refresh CPU seconds, points, materialized rows written, CPU seconds in
    the aggregates' write listener, part of the ingest time) of `rows` trips rows into a fresh
    engine, refreshing after every `every` batches of 5,000 rows. CPU time of this process
    (parsing runs in it: RUSTS_WORKERS=0), so other load on the machine counts less."""
    from rusts.aggregation.continuous import aggregates_of

    root = tempfile.mkdtemp(prefix="rusts-aggregates-")
    try:
        engine = StorageEngine.open(EngineOptions(os.path.join(root, "data"), wal_durability="none"), engine_parser)
        batches = list(generate_batches(rows, batch_rows=5000))
        engine.write_line_protocol(lp_lines(batches[0]))
        registry = aggregates_of(engine)
        if aggregate:
            registry.create("trips_1m", MINUTELY)
        listening = [0.0]

        def timed(listener: Callable[[int, list[tuple[str, Any]]], None]) -> Callable[[int, list[tuple[str, Any]]], None]:
            def run(sequence: int, written: list[tuple[str, Any]]) -> None:
                began = time.process_time()
                listener(sequence, written)
                listening[0] += time.process_time() - began
            return run

        engine.write_listeners = [timed(listener) for listener in engine.write_listeners]
        writing = refreshing = 0.0
        points = 0
        for number, batch in enumerate(batches[1:], 1):
            body = lp_lines(batch)
            began = time.process_time()
            points += engine.write_line_protocol(body).points
            writing += time.process_time() - began
            if number % every == 0 or number == len(batches) - 1:
                began = time.process_time()
                registry.refresh()
                refreshing += time.process_time() - began
        if aggregate:
            wanted = execute_sql(engine, MINUTELY).rows
            stored = execute_sql(engine, "SELECT time, hvfhs_license_num, miles, trips, pay FROM trips_1m").rows
            assert len(wanted) == len(stored), "the aggregate is not current"
        written = registry.aggregates["trips_1m"].rows_written if aggregate else 0
        engine.close()
        return writing, refreshing, points, written, listening[0]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def aggregates_benchmark(rows: int) -> None:
    ingest(min(rows, 20_000), aggregate=True)  # warms imports and caches, so neither run below pays for them
    plain, _, points, _, _ = min(ingest(rows, aggregate=False) for _ in range(2))
    print(f"ingest without aggregates: {points / plain:,.0f} points/s of CPU ({plain:.2f} s for {points:,} points)")
    for every, when in ((1, "after every 5,000-point batch"), (20, "after every 20 batches (100,000 points, about a second of ingest)")):
        with_aggregate, refresh, _, written, listener = ingest(rows, aggregate=True, every=every)
        print(f"1-minute aggregate refreshed {when}: writes {with_aggregate:.2f} s (listener {listener:.3f} s of it) + refreshes {refresh:.2f} s")
        cost = refresh + listener
        print(f"  refresh {refresh / points * 1e6:.1f} us per new point ({written / points:.2f} materialized rows written per new point); "
              f"refresh and listener = {cost / plain:.1%} of the plain ingest time")
    downsampled_query(rows)


def downsampled_query(rows: int) -> None:
    """A month of 1-hour means of trips asked of the raw measurement, answered from its 1-hour tier
    (a downsampling policy): with the raw rows still there, and after retention dropped them."""
    from rusts.aggregation import downsampling

    root = tempfile.mkdtemp(prefix="rusts-downsampling-")
    try:
        clock = Clock(DECEMBER)
        engine = StorageEngine.open(
            EngineOptions(os.path.join(root, "data"), wal_durability="none", clock=clock, cold_after_ns=1000 * DAY), engine_parser
        )
        for batch in generate_batches(rows, batch_rows=5000):
            engine.write_line_protocol(lp_lines(batch))
        engine.flush()
        engine.compact(1)
        kept = {"trip_miles": "avg", "driver_pay": "sum", "tips": "max"}
        others = ", ".join(f"{name}: none" for name in sorted(engine.field_types("trips")) if name not in kept)
        began = time.perf_counter()
        execute_sql(engine, f"CREATE DOWNSAMPLING POLICY ON trips (raw: 24h, 1h avg: 365d) FIELDS (driver_pay: sum, tips: max, {others})")
        print(f"downsampling policy (1-hour tier of trip_miles avg, driver_pay sum, tips max) created in {time.perf_counter() - began:.2f} s")
        engine.flush()
        engine.compact(1)
        with_raw = _raw(downsampling, engine)
        print("  " + "; ".join(row[0].strip() for row in execute_sql(engine, "EXPLAIN " + RAW_HOURLY_MEAN).rows[2:3]))
        both = _best(lambda: execute_sql(engine, RAW_HOURLY_MEAN).rows)
        raw = _best(lambda: _raw(downsampling, engine))
        _check_equal(execute_sql(engine, RAW_HOURLY_MEAN).rows, with_raw)
        print(f"month of 1-hour means: from the raw rows {raw * 1000:.1f} ms, from the 1-hour tier {both * 1000:.1f} ms "
              f"(raw rows still in the same partitions; {len(with_raw)} hours)")
        manager = RetentionManager(engine, RetentionPolicy())
        clock.now = DECEMBER + DAY
        began = time.perf_counter()
        manager.run_once()
        print(f"  retention pass at 2025-12-02 (raw kept 24 h): {time.perf_counter() - began:.2f} s; raw hours left {len(_raw(downsampling, engine))}")
        first = time.perf_counter()
        answer = execute_sql(engine, RAW_HOURLY_MEAN).rows
        first = time.perf_counter() - first
        _check_equal(answer, with_raw)
        tier_only = _best(lambda: execute_sql(engine, RAW_HOURLY_MEAN).rows)
        print(f"month of 1-hour means from the 1-hour tier after the raw rows were dropped: {tier_only * 1000:.1f} ms "
              f"(first run {first * 1000:.1f} ms); equal to the raw answer before the drop")
        engine.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _raw(downsampling: Any, engine: StorageEngine) -> list[list[object]]:
    """The answer of the raw rows alone (no tier)."""
    from unittest import mock

    with mock.patch.object(downsampling, "route", lambda engine, query: None):
        return execute_sql(engine, RAW_HOURLY_MEAN).rows


def _check_equal(got: list[list[object]], expected: list[list[object]]) -> None:
    assert [row[0] for row in got] == [row[0] for row in expected], "the tier answered other hours"
    for (_, a), (_, b) in zip(got, expected):
        assert isinstance(a, float) and isinstance(b, float) and abs(a - b) <= 1e-9 * max(1.0, abs(b)), (a, b)


def _best(run: Callable[[], object], times: int = 10) -> float:
    """The fastest of `times` runs after one warm-up run, in seconds."""
    run()
    best = float("inf")
    for _ in range(times):
        began = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - began)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--cold-level", type=int, default=9)
    parser.add_argument("--aggregates", action="store_true")
    args = parser.parse_args()
    print(f"rusts {rusts.__version__} ({'compiled' if rusts.COMPILED else 'pure Python'}), {args.rows:,} trips rows")
    if args.aggregates:
        os.environ.setdefault("RUSTS_WORKERS", "0")  # parsing in this process, where CPU time is measured
        aggregates_benchmark(args.rows)
        return 0
    root = tempfile.mkdtemp(prefix="rusts-retention-")
    try:
        clock = Clock(DECEMBER)
        options = EngineOptions(
            os.path.join(root, "data"), wal_durability="none", cold_dir=os.path.join(root, "cold"),
            cold_zstd_level=args.cold_level, clock=clock, cold_after_ns=1000 * DAY,
        )
        engine = StorageEngine.open(options, engine_parser)
        for batch in generate_batches(args.rows, batch_rows=5000):
            engine.write_line_protocol(lp_lines(batch))
        engine.flush()
        engine.compact(1)
        print(f"ingested and compacted hot: {tier_bytes(engine)}")
        before = time_queries(engine, "hot")
        warm = RetentionManager(engine, RetentionPolicy(warm_after_ns=2 * DAY))
        timed_pass(warm, clock, DECEMBER, "warm pass (older than 2 days)")
        cold = RetentionManager(engine, RetentionPolicy(warm_after_ns=2 * DAY, cold_after_ns=7 * DAY))
        timed_pass(cold, clock, DECEMBER + 7 * DAY, "cold pass (older than 7 days)")
        after = time_queries(engine, "tiered")
        assert after == before, "tiering changed an answer"
        dropping = RetentionManager(engine, RetentionPolicy(default_ns=25 * DAY, warm_after_ns=2 * DAY, cold_after_ns=7 * DAY))
        timed_pass(dropping, clock, DECEMBER + 19 * DAY, "retention pass (25 days)")
        engine.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
