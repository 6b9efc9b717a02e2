"""Window functions (rusts.sql.windows) in process: the time of typical time-series window queries
against the plain SELECT of the same rows.

    python benchmarks/windows.py [rows]        (default 200,000 rows in 20 series, one a second)

Prints, per query, the median of 3 runs in ms and the cost per row beyond the plain SELECT. The
windows are computed in Python over the SELECT's result rows (every expression once per row,
columns read with C loops), so the figures are per row, not per block.
"""

import statistics
import sys
import tempfile
import time

from rusts import COMPILED
from rusts.api.line_protocol import engine_parser
from rusts.sql import execute_sql
from rusts.storage.engine import EngineOptions, StorageEngine

BASE = 1_700_000_000_000_000_000
QUERIES = [
    ("plain SELECT", "SELECT time, host, usage FROM cpu"),
    ("delta per series (lag)", "SELECT time, host, usage - lag(usage) OVER (PARTITION BY host ORDER BY time) FROM cpu"),
    ("row_number over all", "SELECT time, row_number() OVER (ORDER BY time) FROM cpu"),
    ("10-row moving average", "SELECT time, avg(usage) OVER (PARTITION BY host ORDER BY time ROWS BETWEEN 9 PRECEDING AND CURRENT ROW) FROM cpu"),
    ("running sum per series", "SELECT time, sum(usage) OVER (PARTITION BY host ORDER BY time) FROM cpu"),
    ("rank of hourly means", "SELECT date_trunc('hour', time) AS h, host, avg(usage), rank() OVER (PARTITION BY date_trunc('hour', time) ORDER BY avg(usage) DESC) FROM cpu GROUP BY h, host"),
]


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    with tempfile.TemporaryDirectory() as directory:
        engine = StorageEngine.open(EngineOptions(directory, wal_durability="none"), engine_parser)
        for start in range(0, rows, 50_000):
            body = "\n".join(f"cpu,host=h{i % 20} usage={i % 97}.5 {BASE + i * 1_000_000_000}" for i in range(start, min(rows, start + 50_000)))
            engine.write_line_protocol(body.encode())
        print(f"rusts compiled={COMPILED}, {rows:,} rows")
        plain = 0.0
        for name, sql in QUERIES:
            times = []
            for _ in range(3):
                began = time.perf_counter()
                answer = execute_sql(engine, sql)
                times.append(time.perf_counter() - began)
            median = statistics.median(times) * 1000
            if not plain:
                plain = median
            line = f"{name:28s} {median:8.1f} ms  {len(answer.rows):>8,} rows"
            if name != "plain SELECT" and len(answer.rows) == rows:
                line += f"  +{(median - plain) * 1000 / rows:.2f} us/row over the plain SELECT"
            print(line)
        engine.close()


if __name__ == "__main__":
    main()
