"""Synthetic NYC TLC high-volume FHV trip records (November 2025), fixed seed.

The shape follows fhvhv_tripdata_2025-11.parquet as the importer loads it
(`-m trips --tags hvfhs_license_num,dispatching_base_num --timestamp-column
pickup_datetime`): measurement `trips`, two tags, the pickup time as the
point's timestamp and every other column a field:

- tags: hvfhs_license_num (HV0003 70%, HV0005 25%, HV0002 3%, HV0004 2%) and
  dispatching_base_num (30 bases, each belonging to one license);
- floats with 2 decimals: trip_miles (lognormal), base_passenger_fare, tolls
  (mostly 0), bcf, sales_tax, congestion_surcharge (0 or 2.75), airport_fee
  (0, 2.5, 5), tips (mostly 0), driver_pay, cbd_congestion_fee (0 or 1.5);
- integers: trip_time (seconds), PULocationID and DOLocationID (1..265), and
  request_datetime, on_scene_datetime, dropoff_datetime (ns since the epoch,
  as the importer writes timestamp columns that are not the point's time);
- strings: originating_base_num and the Y/N flags shared_request_flag,
  shared_match_flag, access_a_ride_flag, wav_request_flag, wav_match_flag.

HV0005 rows leave originating_base_num and on_scene_datetime empty, as Lyft's
do in the real file, so a row carries 21.5 field values on average.

Pickup times have second resolution and follow a daily profile over the
month, in ascending order. Rows of one series that fall in the same second
are spread within it by whole milliseconds (the k-th gets +k ms), so no two
rows collide and millisecond stores (VictoriaMetrics) keep them all.

Deterministic: the data depend on `rows` and `seed` only, not on the batch
size (rows are drawn in fixed blocks of BLOCK_ROWS from a per-block seed).

Run: python benchmarks/trips.py [--rows N] [--seed S] [--parquet out.parquet] [--lp out.lp]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

MEASUREMENT: Final = "trips"
MONTH_START_NS: Final = 1_761_955_200_000_000_000  # 2025-11-01T00:00:00Z
MONTH_SECONDS: Final = 30 * 86_400
DEFAULT_ROWS: Final = 1_250_000
DEFAULT_SEED: Final = 20251101
BLOCK_ROWS: Final = 65_536
NS: Final = 1_000_000_000

LICENSES: Final = ("HV0002", "HV0003", "HV0004", "HV0005")
LICENSE_SHARES: Final = (0.03, 0.70, 0.02, 0.25)
# Bases per license, most used first (shares fall off as 1/rank).
BASES: Final[dict[str, tuple[str, ...]]] = {
    "HV0002": ("B03136", "B02907"),
    "HV0003": (
        "B03404", "B02764", "B02765", "B02869", "B02870", "B02871", "B02872", "B02875",
        "B02876", "B02877", "B02878", "B02879", "B02880", "B02882", "B02883", "B02884",
        "B02887", "B02888", "B02889", "B02835",
    ),
    "HV0004": ("B02800", "B03017"),
    "HV0005": ("B03406", "B02510", "B02844", "B03159", "B03222", "B03356"),
}
# Trips per hour of day, relative (a weekday shape: night low, evening peak).
HOURLY_PROFILE: Final = (
    0.55, 0.40, 0.30, 0.25, 0.28, 0.35, 0.55, 0.80, 0.95, 0.90, 0.85, 0.88,
    0.92, 0.95, 1.00, 1.05, 1.10, 1.15, 1.25, 1.25, 1.20, 1.15, 1.00, 0.80,
)
TOLL_AMOUNTS: Final = (6.94, 6.55, 13.38, 11.19, 20.94)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _pickup_cdf() -> FloatArray:
    """Cumulative share of pickups up to each second of the month."""
    hours = np.arange(MONTH_SECONDS, dtype=np.int64) // 3600
    weight = np.asarray(HOURLY_PROFILE, dtype=np.float64)[hours % 24]
    cdf: FloatArray = np.cumsum(weight)
    cdf /= cdf[-1]
    return cdf


def _zone_weights(seed: int) -> FloatArray:
    """Popularity of the 265 taxi zones: a fixed permutation of a Zipf-like curve."""
    rng = np.random.default_rng([seed, 0x20E5])
    weight = 1.0 / np.arange(1, 266, dtype=np.float64) ** 0.8
    weight = weight[rng.permutation(265)]
    out: FloatArray = weight / weight.sum()
    return out


def _series_tables() -> tuple[npt.NDArray[np.object_], FloatArray, npt.NDArray[np.int64]]:
    """Every (license, base) pair as a flat table: base names, their shares, their license index."""
    names: list[str] = []
    shares: list[float] = []
    owners: list[int] = []
    for index, license_num in enumerate(LICENSES):
        bases = BASES[license_num]
        rank = 1.0 / np.arange(1, len(bases) + 1)
        for base, share in zip(bases, rank / rank.sum()):
            names.append(base)
            shares.append(LICENSE_SHARES[index] * float(share))
            owners.append(index)
    return np.asarray(names, dtype=object), np.asarray(shares), np.asarray(owners, dtype=np.int64)


def _money(values: FloatArray) -> FloatArray:
    out: FloatArray = np.maximum(values, 0.0).round(2)
    return out


def _flags(rng: np.random.Generator, n: int, yes_share: float) -> pa.Array:
    return pa.array(np.where(rng.random(n) < yes_share, "Y", "N"), type=pa.string())


class _Spreader:
    """Gives the k-th row of a (series, second) the offset k ms, across block boundaries."""

    def __init__(self) -> None:
        self.last_second = -1
        self.seen: dict[int, int] = {}

    def offsets_ms(self, seconds: IntArray, series: IntArray) -> IntArray:
        offsets = np.zeros(len(seconds), dtype=np.int64)
        key = seconds * 64 + series
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
        run_start = np.repeat(starts, np.diff(np.r_[starts, len(sorted_key)]))
        offsets[order] = np.arange(len(sorted_key)) - run_start
        # Rows of the previous block's last second may share a key with this block's first.
        if seconds.size and int(seconds[0]) == self.last_second:
            for i in np.flatnonzero(seconds == self.last_second):
                offsets[i] += self.seen.get(int(key[i]), 0)
        if seconds.size:
            self.last_second = int(seconds[-1])
            tail = seconds == self.last_second
            self.seen = {}
            for k, off in zip(key[tail].tolist(), offsets[tail].tolist()):
                self.seen[k] = max(self.seen.get(k, 0), off + 1)
        return offsets


def _block(start: int, stop: int, rows: int, seed: int, cdf: FloatArray, zones: FloatArray,
           spreader: _Spreader) -> pa.RecordBatch:
    n = stop - start
    rng = np.random.default_rng([seed, start // BLOCK_ROWS])
    base_names, base_shares, base_owner = _series_tables()

    quantile = (np.arange(start, stop, dtype=np.float64) + rng.random(n)) / rows
    seconds = np.minimum(np.searchsorted(cdf, quantile), MONTH_SECONDS - 1).astype(np.int64)
    series = rng.choice(len(base_names), size=n, p=base_shares).astype(np.int64)
    license_index = base_owner[series]
    pickup_ns = MONTH_START_NS + seconds * NS
    point_ns = pickup_ns + spreader.offsets_ms(seconds, series) * 1_000_000

    trip_miles = np.round(np.clip(rng.lognormal(np.log(3.2), 0.85, n), 0.01, 180.0), 2)
    minutes_per_mile = rng.lognormal(np.log(3.4), 0.35, n)
    trip_time = np.maximum(60, (trip_miles * minutes_per_mile * 60 + rng.normal(240, 90, n))).astype(np.int64)
    surge = rng.lognormal(0.0, 0.18, n)
    fare = _money((2.6 + 1.45 * trip_miles + 0.42 * trip_time / 60) * surge)
    tolls = np.where(rng.random(n) < 0.07, np.asarray(TOLL_AMOUNTS)[rng.integers(0, len(TOLL_AMOUNTS), n)], 0.0)
    bcf = _money(fare * 0.0275)
    sales_tax = _money(fare * 0.08875)
    congestion = np.where(rng.random(n) < 0.62, 2.75, 0.0)
    airport_draw = rng.random(n)
    airport_fee = np.where(airport_draw < 0.085, 2.5, np.where(airport_draw < 0.095, 5.0, 0.0))
    tips = np.where(rng.random(n) < 0.18, _money(fare * rng.uniform(0.08, 0.3, n)), 0.0)
    driver_pay = _money(fare * rng.uniform(0.62, 0.86, n) + tolls)
    cbd_fee = np.where(rng.random(n) < 0.3, 1.5, 0.0)
    pu = rng.choice(265, size=n, p=zones).astype(np.int64) + 1
    do = rng.choice(265, size=n, p=zones).astype(np.int64) + 1
    lyft = license_index == LICENSES.index("HV0005")
    request_ns = pickup_ns - rng.lognormal(np.log(300), 0.6, n).astype(np.int64) * NS
    on_scene_ns = pickup_ns - rng.integers(0, 180, n) * NS
    dropoff_ns = pickup_ns + trip_time * NS

    stamp = pa.timestamp("ns", tz="UTC")
    columns: dict[str, pa.Array] = {
        "hvfhs_license_num": pa.array(np.asarray(LICENSES, dtype=object)[license_index], type=pa.string()),
        "dispatching_base_num": pa.array(base_names[series], type=pa.string()),
        "originating_base_num": pa.array(base_names[series], type=pa.string(), mask=lyft),
        "request_datetime": pa.array(request_ns, type=stamp),
        "on_scene_datetime": pa.array(on_scene_ns, type=stamp, mask=lyft),
        "pickup_datetime": pa.array(point_ns, type=stamp),
        "dropoff_datetime": pa.array(dropoff_ns, type=stamp),
        "PULocationID": pa.array(pu),
        "DOLocationID": pa.array(do),
        "trip_miles": pa.array(trip_miles),
        "trip_time": pa.array(trip_time),
        "base_passenger_fare": pa.array(fare),
        "tolls": pa.array(tolls),
        "bcf": pa.array(bcf),
        "sales_tax": pa.array(sales_tax),
        "congestion_surcharge": pa.array(congestion),
        "airport_fee": pa.array(airport_fee),
        "tips": pa.array(tips),
        "driver_pay": pa.array(driver_pay),
        "shared_request_flag": _flags(rng, n, 0.02),
        "shared_match_flag": _flags(rng, n, 0.008),
        "access_a_ride_flag": _flags(rng, n, 0.0),
        "wav_request_flag": _flags(rng, n, 0.004),
        "wav_match_flag": _flags(rng, n, 0.06),
        "cbd_congestion_fee": pa.array(cbd_fee),
    }
    return pa.RecordBatch.from_pydict(columns)


def generate_batches(rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED,
                     batch_rows: int = 50_000) -> Iterator[pa.RecordBatch]:
    """Yield the data set in order, `batch_rows` rows per batch (the last may be shorter)."""
    if rows < 0 or batch_rows < 1:
        raise ValueError("rows must be >= 0 and batch_rows >= 1")
    cdf = _pickup_cdf()
    zones = _zone_weights(seed)
    spreader = _Spreader()
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for start in range(0, rows, BLOCK_ROWS):
        block = _block(start, min(start + BLOCK_ROWS, rows), rows, seed, cdf, zones, spreader)
        pending.append(block)
        pending_rows += block.num_rows
        while pending_rows >= batch_rows or (pending_rows and start + BLOCK_ROWS >= rows):
            table = pa.Table.from_batches(pending)
            take = min(batch_rows, pending_rows)
            yield table.slice(0, take).combine_chunks().to_batches()[0]
            rest = table.slice(take)
            pending = rest.combine_chunks().to_batches() if rest.num_rows else []
            pending_rows -= take


TAG_COLUMNS: Final = ("hvfhs_license_num", "dispatching_base_num")
TIME_COLUMN: Final = "pickup_datetime"


def _field_piece(name: str, column: pa.Array) -> pa.Array:
    """`name=value` for each row (null where the value is null), value in line-protocol syntax."""
    prefix = name + "="
    kind = column.type
    if pa.types.is_timestamp(kind):
        column = column.cast(pa.int64())
        kind = column.type
    text = pc.cast(column, pa.string())
    if pa.types.is_integer(kind):
        return pc.binary_join_element_wise(prefix, text, "i", "")
    if pa.types.is_string(kind):
        escaped = pc.replace_substring(pc.replace_substring(text, "\\", "\\\\"), '"', '\\"')
        return pc.binary_join_element_wise(prefix + '"', escaped, '"', "")
    return pc.binary_join_element_wise(prefix, text, "")


def lp_lines(batch: pa.RecordBatch) -> bytes:
    """The batch as line protocol, one line per row, ns timestamps, each line ending in a newline.

    Tag values of this data set need no escaping; a null field is left out of its line
    (every row has trip_miles, so no line is left without fields).
    """
    if batch.num_rows == 0:
        return b""
    series = pc.binary_join_element_wise(
        MEASUREMENT, *(pc.binary_join_element_wise(tag + "=", batch.column(tag), "") for tag in TAG_COLUMNS), ","
    )
    pieces = [_field_piece(name, batch.column(name)) for name in batch.schema.names
              if name not in TAG_COLUMNS and name != TIME_COLUMN]
    fields = pc.binary_join_element_wise(*pieces, ",", null_handling="skip")
    stamp = pc.cast(batch.column(TIME_COLUMN).cast(pa.int64()), pa.string())
    lines = pc.binary_join_element_wise(series, " ", fields, " ", stamp, "\n", "")
    # The string data buffer of a null-free array is the lines back to back.
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    data = lines.buffers()[2]
    first_byte = int(offsets[lines.offset])
    last_byte = int(offsets[lines.offset + len(lines)])
    return bytes(memoryview(data)[first_byte:last_byte])


def field_values(batch: pa.RecordBatch) -> int:
    """Field values in the batch: every non-null cell outside the tags and the point's time."""
    return sum(batch.num_rows - batch.column(name).null_count for name in batch.schema.names
               if name not in TAG_COLUMNS and name != TIME_COLUMN)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--batch-rows", type=int, default=50_000)
    parser.add_argument("--parquet", help="write the rows as Parquet to this path")
    parser.add_argument("--lp", help="write the rows as line protocol (ns) to this path")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    writer: pq.ParquetWriter | None = None
    lp_file = open(args.lp, "wb") if args.lp else None
    rows = values = lp_bytes = 0
    try:
        for batch in generate_batches(args.rows, args.seed, args.batch_rows):
            rows += batch.num_rows
            values += field_values(batch)
            if args.parquet:
                if writer is None:
                    writer = pq.ParquetWriter(args.parquet, batch.schema, compression="zstd")
                writer.write_batch(batch)
            if lp_file is not None or not args.parquet:
                body = lp_lines(batch)
                lp_bytes += len(body)
                if lp_file is not None:
                    lp_file.write(body)
    finally:
        if writer is not None:
            writer.close()
        if lp_file is not None:
            lp_file.close()
    elapsed = time.perf_counter() - began
    print(f"trips: {rows:,} rows, {values:,} field values ({values / max(rows, 1):.2f} per row), "
          f"line protocol {lp_bytes:,} bytes ({lp_bytes / max(rows, 1):.0f} per line), {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
