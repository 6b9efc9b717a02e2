"""Segment files on trips-like data: size per field value, write and read speed, header aggregates.

    python benchmarks/segment.py [rows]        (default 200,000 rows in ~100 series)

A fixed-seed imitation of NYC for-hire-vehicle trips (tags hvfhs_license_num x
dispatching_base_num; 17 fields: money floats with many zeros, int seconds, location ids,
Y/N flags). Prints bytes per field value (file size / field values) per outer compression and
block size, with a Parquet file of the same table (pyarrow, zstd) as the peer; write and full
read rows/s; and the time of SUM/MIN/MAX/COUNT over every series from block headers alone
versus by decoding. Run it compiled (PYTHONPATH at a mypyc build) for the speeds that matter.
"""

import os
import sys
import tempfile
import time
from typing import Any

import numpy as np

from rusts import COMPILED
from rusts.storage.columns import KIND_FLOAT, KIND_INTEGER, KIND_STRING, Column, SeriesData
from rusts.storage.segment import SegmentReader, write_segment

SECOND_NS = 1_000_000_000
MONTH_START_NS = 1_704_067_200 * SECOND_NS  # 2024-01-01T00:00:00Z
MIDDLE_NS = MONTH_START_NS + 15 * 86_400 * SECOND_NS
LICENSES = ("HV0002", "HV0003", "HV0004", "HV0005")
FLAGS = ("shared_request_flag", "shared_match_flag", "access_a_ride_flag", "wav_request_flag", "wav_match_flag")
FLAG_YES = (0.02, 0.01, 0.001, 0.06, 0.05)


def trips(rows: int) -> list[SeriesData]:
    """About 100 series of trips, rows split Zipf-like across them as real bases are."""
    rng = np.random.default_rng(20240131)
    tags = [(lic, f"B0{2000 + 37 * b:04d}") for lic in LICENSES for b in range(25)]
    weights = 1.0 / np.arange(1, len(tags) + 1) ** 0.8
    counts = rng.multinomial(rows, weights / weights.sum())
    return [_series(rng, series_id, int(count)) for series_id, count in enumerate(counts) if count > 0]


def _money(rng: np.random.Generator, values: Any) -> Any:
    return np.round(np.maximum(values, 0.0), 2)


def _series(rng: np.random.Generator, series_id: int, rows: int) -> SeriesData:
    # Busier in the day than at night; second resolution, unique within the series.
    hours = rng.choice(24, rows, p=_hourly())
    seconds = rng.integers(0, 31, rows) * 86_400 + hours * 3600 + rng.integers(0, 3600, rows)
    seconds = np.unique(seconds)
    rows = len(seconds)
    timestamps = MONTH_START_NS + seconds.astype(np.int64) * SECOND_NS
    miles = np.round(rng.lognormal(1.2, 0.8, rows), 2)
    trip_time = (miles * rng.uniform(150, 300, rows) + rng.integers(60, 400, rows)).astype(np.int64)
    fare = _money(rng, 2.5 + miles * 1.9 + trip_time / 60 * 0.55 + rng.normal(0, 3, rows))
    tolls = np.where(rng.random(rows) < 0.08, rng.choice([6.94, 6.55, 13.38, 16.06], rows), 0.0)
    airport = rng.random(rows) < 0.07
    columns = {
        "trip_miles": Column(KIND_FLOAT, miles),
        "trip_time": Column(KIND_INTEGER, trip_time),
        "base_passenger_fare": Column(KIND_FLOAT, fare),
        "tolls": Column(KIND_FLOAT, tolls),
        "bcf": Column(KIND_FLOAT, np.round(fare * 0.0274, 2)),
        "sales_tax": Column(KIND_FLOAT, np.round(fare * 0.08875, 2)),
        "congestion_surcharge": Column(KIND_FLOAT, np.where(rng.random(rows) < 0.65, 2.75, 0.0)),
        "airport_fee": Column(KIND_FLOAT, np.where(airport, 2.5, 0.0)),
        "tips": Column(KIND_FLOAT, np.where(rng.random(rows) < 0.18, _money(rng, rng.gamma(2, 2.5, rows)), 0.0)),
        "driver_pay": Column(KIND_FLOAT, _money(rng, fare * 0.78 + rng.normal(0, 2, rows))),
        "PULocationID": Column(KIND_INTEGER, _locations(rng, rows)),
        "DOLocationID": Column(KIND_INTEGER, _locations(rng, rows)),
    }
    for name, yes in zip(FLAGS, FLAG_YES):
        columns[name] = Column(KIND_STRING, ["Y" if y else "N" for y in (rng.random(rows) < yes).tolist()])
    return SeriesData(series_id, timestamps, columns)


def _hourly() -> Any:
    hours = np.arange(24)
    weights = 1.2 + np.sin((hours - 9) / 24 * 2 * np.pi)
    return weights / weights.sum()


def _locations(rng: np.random.Generator, rows: int) -> Any:
    popularity = 1.0 / np.arange(1, 266) ** 0.9
    return rng.permutation(265)[rng.choice(265, rows, p=popularity / popularity.sum())].astype(np.int64) + 1


def _parquet_bytes(series: list[SeriesData], path: str) -> int | None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return None
    names = list(series[0].columns)
    table = pa.table(
        {
            "series_id": np.concatenate([np.full(len(s), s.series_id) for s in series]),
            "time": np.concatenate([s.timestamps for s in series]),
            **{n: np.concatenate([np.asarray(s.columns[n].values) for s in series]) for n in names},
        }
    )
    pq.write_table(table, path, compression="zstd")
    return os.path.getsize(path)


def _column_bytes(reader: SegmentReader) -> dict[str, int]:
    sizes: dict[str, int] = {"(timestamps)": 0}
    for series_id in reader.series_ids():
        for block in reader.blocks(series_id):
            sizes["(timestamps)"] += block.timestamps.length
            for name, entry in block.columns.items():
                chunks = (entry.presence, entry.values)
                sizes[name] = sizes.get(name, 0) + sum(c.length for c in chunks if c is not None)
    return sizes


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    series = trips(rows)
    rows = sum(len(s) for s in series)
    field_values = sum(c.present_count() for s in series for c in s.columns.values())
    print(f"{'compiled' if COMPILED else 'interpreted'}; {rows:,} rows in {len(series)} series, "
          f"{field_values:,} field values")
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "segment")
        for outer, block_rows in [("lz4", 8192), ("zstd", 8192), ("none", 8192), ("lz4", 1024), ("zstd", 1024)]:
            began = time.perf_counter()
            info = write_segment(path, series, outer=outer, block_rows=block_rows)
            write_s = time.perf_counter() - began
            with SegmentReader(path) as reader:
                began = time.perf_counter()
                for series_id in reader.series_ids():
                    reader.read(series_id)
                read_s = time.perf_counter() - began
            print(f"{outer:>4} blocks<={block_rows:<5} {info.bytes / field_values:6.3f} B/field value "
                  f"({info.bytes:,} B)  write {rows / write_s:12,.0f} rows/s  read {rows / read_s:12,.0f} rows/s")
        peer = _parquet_bytes(series, os.path.join(directory, "peer.parquet"))
        if peer is not None:
            print(f"peer: Parquet (pyarrow, zstd, one row group) {peer / field_values:6.3f} B/field value ({peer:,} B)")
        write_segment(path, series, outer="zstd")
        with SegmentReader(path) as reader:
            print("bytes per value by column (zstd, 8192):")
            for name, size in _column_bytes(reader).items():
                print(f"  {name:<22} {size / rows:6.3f}")
            ids = reader.series_ids()
            for series_id in ids:  # parse every series' footer detail before timing
                reader.blocks(series_id)
            began = time.perf_counter()
            for series_id in ids:
                reader.aggregate(series_id, "base_passenger_fare")
            header_s = time.perf_counter() - began
            decoded_before = reader.blocks_decoded
            began = time.perf_counter()
            for series_id in ids:
                reader.aggregate(series_id, "base_passenger_fare", MIDDLE_NS)
            decode_s = time.perf_counter() - began
            print(f"SUM/MIN/MAX/COUNT of one column over {len(ids)} series, whole month from headers: "
                  f"{header_s * 1e3:.2f} ms ({rows / header_s:,.0f} rows/s); from mid-month, decoding "
                  f"{reader.blocks_decoded - decoded_before} edge blocks: {decode_s * 1e3:.2f} ms")

if __name__ == "__main__":
    main()
