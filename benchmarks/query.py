"""Query engine: the six benchmark queries over a trips-like month, median of 5 runs after a warm-up.

Data (fixed seed): ~500k rows, tags hvfhs_license_num (4 values) x dispatching_base_num (30),
13 fields, second-resolution timestamps across November 2025, ingested through StorageEngine,
flushed and compacted (one segment per daily partition). Also prints the blocks decoded per query,
which shows where block-header pushdown and top-k apply.
The first run is printed with its process CPU time too, which a busy machine disturbs less.
Run: python benchmarks/query.py [--rows N] [--data DIR]
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

# The source tree, not an older installed build: the query package may be newer than the install.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import rusts  # noqa: E402
from rusts.api.line_protocol import engine_parser  # noqa: E402
from rusts.query.executor import execute  # noqa: E402
from rusts.query.model import parse_query  # noqa: E402
from rusts.storage.engine import EngineOptions, StorageEngine  # noqa: E402

NOVEMBER = 1_761_955_200_000_000_000
MONTH = 30 * 86_400
SECOND = 1_000_000_000
BATCH = 20_000

QUERIES = {
    "count(*)": b'{"measurement":"trips","aggregations":[{"function":"count","field":"*"}]}',
    "count(*) by license": b'{"measurement":"trips","aggregations":[{"function":"count","field":"*"}],'
    b'"group_by":{"tags":["hvfhs_license_num"]}}',
    "10 latest rows": b'{"measurement":"trips","order":"desc","limit":10}',
    "mean(trip_miles) per hour": b'{"measurement":"trips","time_range":{"start":1761955200000000000,'
    b'"end":1764547200000000000},"aggregations":[{"function":"mean","field":"trip_miles"}],'
    b'"group_by":{"time":{"interval":3600000000000,"offset":0}}}',
    "sum(driver_pay) one license, one day": b'{"measurement":"trips","tag_filter":{"type":"eq",'
    b'"key":"hvfhs_license_num","value":"HV0003"},"time_range":{"start":1762041600000000000,'
    b'"end":1762128000000000000},"aggregations":[{"function":"sum","field":"driver_pay"}]}',
    "max(tips) by base": b'{"measurement":"trips","aggregations":[{"function":"max","field":"tips"}],'
    b'"group_by":{"tags":["dispatching_base_num"]}}',
}


def trips_lines(rows: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    licenses = rng.integers(2, 6, rows)
    bases = rng.integers(0, 30, rows)
    times = NOVEMBER + np.sort(rng.integers(0, MONTH, rows)) * SECOND
    miles = rng.uniform(0.3, 40, rows).round(2)
    trip_time = rng.integers(60, 7200, rows)
    fare = rng.uniform(5, 150, rows).round(2)
    tolls = rng.choice([0.0, 6.94, 13.38], rows)
    bcf = rng.uniform(0, 4, rows).round(2)
    tax = rng.uniform(0, 12, rows).round(2)
    congestion = rng.choice([0.0, 2.75], rows)
    airport = rng.choice([0.0, 2.5, 5.0], rows)
    tips = np.where(rng.random(rows) < 0.6, 0.0, rng.uniform(1, 20, rows).round(2))
    pay = rng.uniform(5, 120, rows).round(2)
    pickup = rng.integers(1, 266, rows)
    dropoff = rng.integers(1, 266, rows)
    flags = rng.choice(["N", "Y"], rows)
    columns = zip(
        licenses.tolist(), bases.tolist(), times.tolist(), miles.tolist(), trip_time.tolist(), fare.tolist(),
        tolls.tolist(), bcf.tolist(), tax.tolist(), congestion.tolist(), airport.tolist(), tips.tolist(),
        pay.tolist(), pickup.tolist(), dropoff.tolist(), flags.tolist(),
    )
    return [
        f"trips,hvfhs_license_num=HV{lic:04d},dispatching_base_num=B{base:05d} trip_miles={m},trip_time={tt}i,"
        f"base_passenger_fare={fa},tolls={to},bcf={bc},sales_tax={tx},congestion_surcharge={co},airport_fee={ai},"
        f'tips={ti},driver_pay={pa},PULocationID={pu}i,DOLocationID={do}i,flags="{fl}" {ts}'
        for lic, base, ts, m, tt, fa, to, bc, tx, co, ai, ti, pa, pu, do, fl in columns
    ]


def decoded_blocks(engine: StorageEngine) -> int:
    return sum(reader.blocks_decoded for p in engine.partitions.values() for _, reader in p.segments())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data", help="keep the ingested data in this directory and reuse it on later runs")
    args = parser.parse_args()
    print(f"rusts {rusts.__version__}, compiled={rusts.COMPILED}, python {sys.version.split()[0]}")
    reuse = args.data is not None and os.path.isdir(os.path.join(args.data, "partitions"))
    path = args.data or tempfile.mkdtemp(prefix="rusts-query-bench-")
    try:
        engine = StorageEngine.open(EngineOptions(path, wal_durability="none"), engine_parser)
        if not reuse:
            lines = trips_lines(args.rows, 42)
            start = time.perf_counter()
            for i in range(0, len(lines), BATCH):
                engine.write_line_protocol("\n".join(lines[i : i + BATCH]).encode())
            engine.flush()
            engine.compact(1)
            print(f"ingested {args.rows:,} rows in {time.perf_counter() - start:.1f} s")
        stats = engine.statistics()
        print(f"{stats['series']} series, {stats['partitions']} partitions, {stats['segments']} segments")
        print(f"{'query':<38} {'first run':>9} {'its CPU':>9}  {'median':>9}")
        for name, body in QUERIES.items():
            query = parse_query(body)
            began, cpu = time.perf_counter(), time.process_time()
            result = execute(engine, query)  # the first run: footers parsed, decoded columns not yet cached
            first, first_cpu = time.perf_counter() - began, time.process_time() - cpu
            timings = []
            before = decoded_blocks(engine)
            for _ in range(args.repeats):
                began = time.perf_counter()
                result = execute(engine, query)
                timings.append(time.perf_counter() - began)
            blocks = (decoded_blocks(engine) - before) // args.repeats
            print(
                f"{name:<38} {first * 1000:>6.1f} ms {first_cpu * 1000:>6.1f} ms {statistics.median(timings) * 1000:>6.1f} ms  {len(result.rows):>5} rows  "
                f"{blocks:>5} blocks decoded  first row: {result.rows[0] if result.rows else None}"
            )
        engine.close()
    finally:
        if args.data is None:
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
