"""Storage engine: ingest rate per durability mode, bytes on disk per field value, restart times.

Data: the trips-like line protocol of benchmarks/line_protocol.py (fixed
seed), written in batches of 5,000 lines through StorageEngine (parse
included, one writer). Run: python benchmarks/engine.py [--rows N]
"""

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import rusts  # noqa: E402
from line_protocol import make_body  # noqa: E402
from rusts.api.line_protocol import engine_parser  # noqa: E402
from rusts.storage.engine import EngineOptions, StorageEngine  # noqa: E402

BATCH_LINES = 5_000


def directory_bytes(path: str, skip: str = "wal") -> int:
    total = 0
    for root, dirs, files in os.walk(path):
        if os.path.basename(root) == skip:
            dirs[:] = []
            continue
        total += sum(os.path.getsize(os.path.join(root, name)) for name in files)
    return total


def batches(rows: int) -> list[bytes]:
    body = make_body(rows, 25, 0.0, 0.0, 11)
    lines = body.split(b"\n")
    return [b"\n".join(lines[i : i + BATCH_LINES]) for i in range(0, rows, BATCH_LINES)]


def ingest(path: str, durability: str, work: list[bytes]) -> tuple[float, int, int]:
    engine = StorageEngine.open(EngineOptions(path, wal_durability=durability), engine_parser)
    points = values = 0
    start = time.perf_counter()
    for body in work:
        result = engine.write_line_protocol(body)
        points += result.points
        values += result.field_values
    elapsed = time.perf_counter() - start
    engine.close()
    return elapsed, points, values


CRASHER = """
import os, sys
sys.path.insert(0, sys.argv[3])
from line_protocol import make_body
from rusts.api.line_protocol import engine_parser
from rusts.storage.engine import EngineOptions, StorageEngine
engine = StorageEngine.open(EngineOptions(sys.argv[1], memtable_max_points=10**9, memtable_max_bytes=2**40,
                                          memtable_max_age_secs=10**9), engine_parser)
lines = make_body(int(sys.argv[2]), 25, 0.0, 0.0, 5).split(b"\\n")
for i in range(0, len(lines), 5000):
    engine.write_line_protocol(b"\\n".join(lines[i:i + 5000]))
os._exit(9)  # a crash: no flush, no checkpoint
"""


def crash_restart(rows: int) -> None:
    """Time the open that replays `rows` points from the WAL after a crash."""
    import subprocess

    path = tempfile.mkdtemp(prefix="rusts-bench-")
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        subprocess.run([sys.executable, "-c", CRASHER, path, str(rows), here], check=False)
        start = time.perf_counter()
        engine = StorageEngine.open(EngineOptions(path), engine_parser)
        elapsed = time.perf_counter() - start
        print(f"restart after a crash with {engine.memtable.points:,} points in the WAL: {elapsed:.2f} s")
        engine.close()
    finally:
        shutil.rmtree(path, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=250_000)
    parser.add_argument("--crash-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"rusts {rusts.__version__}, compiled={rusts.COMPILED}, {args.rows:,} trips-like rows, batches of {BATCH_LINES:,}")
    work = batches(args.rows)
    for durability in ("none", "os_default", "periodic", "every_write"):
        path = tempfile.mkdtemp(prefix="rusts-bench-")
        try:
            elapsed, points, values = ingest(path, durability, work)
            print(f"ingest {durability:<12} {points / elapsed:>10,.0f} points/s {values / elapsed / 1e6:>6.2f} M field values/s")
            if durability == "periodic":
                engine = StorageEngine.open(EngineOptions(path), engine_parser)
                engine.compact()
                engine.close()
                stored = directory_bytes(path)
                print(f"on disk after flush + compaction: {stored / values:.3f} bytes per field value ({stored:,} bytes)")
                start = time.perf_counter()
                StorageEngine.open(EngineOptions(path), engine_parser).close()
                print(f"restart after clean shutdown: {time.perf_counter() - start:.3f} s (includes the close)")
        finally:
            shutil.rmtree(path, ignore_errors=True)
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    crash_restart(args.crash_rows)


if __name__ == "__main__":
    main()
