"""WAL append throughput: appends/s and MB/s per durability mode, 1 and 8 writer threads.

Payloads (fixed seed): a 5,000-line line-protocol batch (~500 KB) and a
10-line batch (~1 KB), both as kind-1 payloads. Each cell appends for about
`--secs` seconds into a fresh directory. The peer in the same run is the floor
of the disk: a bare `os.write` + `os.fsync` loop with no framing and no
sharing, which is what every_write would cost without group commit.

Run: python benchmarks/wal.py [--secs 1.0] [--dir /path/on/the/disk/to/measure]
(PYTHONPATH=. to measure the source tree rather than an installed rusts).
"""

import argparse
import os
import random
import shutil
import tempfile
import threading
import time

import rusts
from rusts.storage.wal import WalWriter, encode_lp_payload

MODES = ("every_write", "periodic", "os_default", "none")
BASE_NS = 1_761_955_200_000_000_000


def make_batch(lines: int, seed: int) -> bytes:
    rng = random.Random(seed)
    out = []
    for i in range(lines):
        out.append(
            f"cpu,host=h{rng.randrange(100):03d},region=eu-{rng.randrange(4)} "
            f"usage_user={rng.uniform(0, 100):.2f},usage_system={rng.uniform(0, 100):.2f},"
            f"load={rng.randrange(64)}i {BASE_NS + i * 1_000_000_000}"
        )
    return encode_lp_payload(("\n".join(out) + "\n").encode(), 1, BASE_NS)


def run_cell(root: str, mode: str, threads: int, payload: bytes, secs: float) -> tuple[float, float, int]:
    """(appends/s, MB/s, fsyncs) for one mode, thread count and payload."""
    wal_dir = tempfile.mkdtemp(prefix=f"{mode}-", dir=root)
    writer = WalWriter(wal_dir, mode, sync_interval_ms=100)
    counts = [0] * threads
    deadline = time.perf_counter() + secs

    def work(index: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            writer.append(payload)
            n += 1
        counts[index] = n

    started = time.perf_counter()
    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    writer.close()
    elapsed = time.perf_counter() - started
    shutil.rmtree(wal_dir)
    total = sum(counts)
    return total / elapsed, total * len(payload) / elapsed / 1e6, writer.fsync_count


def bare_fsync_loop(root: str, payload: bytes, secs: float) -> tuple[float, float]:
    path = os.path.join(root, "bare.log")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    n = 0
    started = time.perf_counter()
    while time.perf_counter() - started < secs:
        os.write(fd, payload)
        os.fsync(fd)
        n += 1
    elapsed = time.perf_counter() - started
    os.close(fd)
    os.unlink(path)
    return n / elapsed, n * len(payload) / elapsed / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--secs", type=float, default=1.0)
    parser.add_argument("--dir", default=None, help="directory on the disk to measure (default: a temp dir)")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="rusts-wal-bench-", dir=args.dir)
    payloads = {"500KB": make_batch(5000, 1), "1KB": make_batch(10, 2)}
    print(f"rusts compiled: {rusts.COMPILED}; directory: {root}")
    for name, payload in payloads.items():
        print(f"\npayload {name} ({len(payload):,} bytes)")
        print(f"{'mode':<12} {'threads':>7} {'appends/s':>11} {'MB/s':>9} {'appends/fsync':>14}")
        for mode in MODES:
            for threads in (1, 8):
                rate, mbps, fsyncs = run_cell(root, mode, threads, payload, args.secs)
                per_fsync = f"{rate * args.secs / fsyncs:.1f}" if fsyncs else "-"
                print(f"{mode:<12} {threads:>7} {rate:>11,.0f} {mbps:>9,.1f} {per_fsync:>14}")
        rate, mbps = bare_fsync_loop(root, payload, args.secs)
        print(f"{'peer: write+fsync, no WAL':<20} {rate:>11,.0f} {mbps:>9,.1f}")
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
