"""Where the bytes of a RusTs data directory go: per column kind, footers, headers, other files.

Either ingests the trips data set (benchmarks/trips.py) in-process into a fresh engine with the
server's defaults (as peers.py runs it: flushes at 1 M points, compaction after 4 segments, a
clean close), or reads an existing data directory (`--data DIR`, e.g. one kept by peers.py
--keep). Then sums, over every segment, the chunk bytes of the timestamps and of each field
(values and presence apart), the footers and the fixed header/trailer, and the bytes of the
other files (series index, bloom filters, manifests). Prints bytes per stored field value.

Run: python benchmarks/disk_bytes.py [--rows N] [--data DIR] [--compact]
"""

import argparse
import collections
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import rusts  # noqa: E402
from rusts.api.line_protocol import engine_parser  # noqa: E402
from rusts.storage.engine import EngineOptions, StorageEngine  # noqa: E402
from rusts.storage.segment import SegmentReader  # noqa: E402
from rusts.storage.segment_format import HEADER, TRAILER  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from trips import generate_batches, lp_lines  # noqa: E402


def ingest(path: str, rows: int, compact: bool) -> None:
    engine = StorageEngine.open(EngineOptions(path, wal_durability="none"), engine_parser)
    began = time.perf_counter()
    for batch in generate_batches(rows, batch_rows=5000):
        engine.write_line_protocol(lp_lines(batch))
    engine.flush()
    if compact:
        engine.compact(1)
    engine.close()
    print(f"ingested {rows:,} rows in {time.perf_counter() - began:.1f} s (compact all: {compact})")


def segment_bytes(path: str, sums: collections.Counter[str]) -> tuple[int, int, int]:
    """Add one segment's bytes by part into `sums`; (field values, blocks, rows)."""
    size = os.path.getsize(path)
    values = blocks = rows = 0
    with SegmentReader(path) as reader:
        sums[f"outer {reader.outer} segments"] += 1
        stored = TRAILER.unpack_from(reader._pread(size - TRAILER.size, TRAILER.size), 0)[1]
        sums["footer"] += stored
        sums["header+trailer"] += HEADER.size + TRAILER.size
        for series_id in reader.series_ids():
            meta = reader._series(int(series_id))
            assert meta is not None
            for block in meta.blocks:
                blocks += 1
                rows += block.rows
                sums["time"] += block.timestamps.length
                for name, entry in block.columns.items():
                    values += entry.present
                    if entry.values is not None:
                        sums[f"field {name}"] += entry.values.length
                    if entry.presence is not None:
                        sums[f"presence {name}"] += entry.presence.length
    return values, blocks, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--data", help="an existing data directory to measure (no ingest)")
    parser.add_argument("--compact", action="store_true", help="compact every partition before measuring")
    args = parser.parse_args()
    print(f"rusts {rusts.__version__}, compiled={rusts.COMPILED}")
    path = args.data or tempfile.mkdtemp(prefix="rusts-disk-bytes-")
    try:
        if args.data is None:
            ingest(path, args.rows, args.compact)
        sums: collections.Counter[str] = collections.Counter()
        field_values = blocks = rows = segments = 0
        for root, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if d != "wal"]
            for name in files:
                full = os.path.join(root, name)
                if name.endswith(".rseg"):
                    v, b, r = segment_bytes(full, sums)
                    field_values, blocks, rows, segments = field_values + v, blocks + b, rows + r, segments + 1
                else:
                    sums[f"file {name if 'bloom' not in name else 'bloom*'}"] += os.path.getsize(full)
        total = sum(v for k, v in sums.items() if not k.startswith("outer"))
        print(f"{segments} segments, {blocks} blocks, {rows:,} rows ({rows / max(blocks, 1):.0f} rows/block), "
              f"{field_values:,} field values, {total:,} bytes = {total / max(field_values, 1):.3f} bytes/field value")
        for key, value in sorted(sums.items(), key=lambda item: -item[1]):
            if key.startswith("outer"):
                print(f"  {key:<36} {value}")
            else:
                print(f"  {key:<36} {value:>12,}  {value / max(field_values, 1):.4f} B/fv  {100 * value / total:5.1f} %")
    finally:
        if args.data is None:
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
