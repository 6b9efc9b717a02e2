"""Does a thread pool over segments speed up cold decoding? (issue 4: a pool over partitions
where decoding releases the GIL.)

Opens every segment of a data directory (e.g. one kept by `query.py --data DIR`) afresh and
decodes the given columns of all of them whole (SegmentReader.column_table, what the partition
pass of a cold aggregate does), with 1 thread and with a pool of N; prints the best and the
median wall time of each over the repeats, and the process CPU time.

Run: python benchmarks/decode_threads.py DIR [--columns a,b] [--threads 2] [--repeats 5]
"""

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import rusts  # noqa: E402
from rusts.storage.segment import SegmentReader  # noqa: E402


def run(paths: list[str], columns: list[str], threads: int) -> tuple[float, float]:
    readers = [SegmentReader(path) for path in paths]
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        if threads == 1:
            for reader in readers:
                reader.column_table(columns)
        else:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(lambda reader: reader.column_table(columns), readers))
        return time.perf_counter() - wall, time.process_time() - cpu
    finally:
        for reader in readers:
            reader.close()  # drops its decoded columns from the shared cache


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--columns", default="trip_miles")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    paths = sorted(os.path.join(root, name) for root, _, names in os.walk(args.data) for name in names if name.endswith(".rseg"))
    columns = args.columns.split(",")
    print(f"rusts {rusts.__version__}, compiled={rusts.COMPILED}, {len(paths)} segments, columns {columns}")
    results: dict[int, list[tuple[float, float]]] = {1: [], args.threads: []}
    for _ in range(args.repeats):
        for threads in results:  # interleaved, so a change in machine load hits both alike
            results[threads].append(run(paths, columns, threads))
    for threads, times in results.items():
        walls = [wall for wall, _ in times]
        cpus = [cpu for _, cpu in times]
        print(
            f"{threads} thread(s): best {min(walls) * 1000:7.1f} ms, median {statistics.median(walls) * 1000:7.1f} ms, "
            f"CPU median {statistics.median(cpus) * 1000:7.1f} ms"
        )


if __name__ == "__main__":
    main()
