"""Line-protocol parsing throughput: lines/s and field values/s.

Data (fixed seed): 20-field lines of about 400 bytes shaped like the trips
data set (two tags, floats with 2 decimals, integers, Y/N string flags),
plus variants: a quarter of lines with a free-text string, 3% with escapes,
and high series cardinality. Run: python benchmarks/line_protocol.py [--lines N]
"""

import argparse
import random
import sys
import time

import rusts
from rusts.api.line_protocol import parse_lines_ok

BASE_NS = 1_761_955_200_000_000_000  # 2025-11-01T00:00:00Z


def trips_line(rng: random.Random, i: int, series: int, text: bool, escape: bool) -> str:
    license_num = f"HV{rng.randrange(2, 6):04d}"
    base = f"B{rng.randrange(series):05d}"
    measurement = "trips\\ data" if escape else "trips"
    tags = f"{measurement},hvfhs_license_num={license_num},dispatching_base_num={base}"
    fields = [
        f"trip_miles={rng.uniform(0.3, 40):.2f}",
        f"trip_time={rng.randrange(60, 7200)}i",
        f"base_passenger_fare={rng.uniform(5, 150):.2f}",
        f"tolls={rng.choice(('0', '6.94', '13.38'))}",
        f"bcf={rng.uniform(0, 4):.2f}",
        f"sales_tax={rng.uniform(0, 12):.2f}",
        f"congestion_surcharge={rng.choice(('0', '2.75'))}",
        f"airport_fee={rng.choice(('0', '2.5', '5'))}",
        f"tips={rng.choice(('0', '0', f'{rng.uniform(1, 20):.2f}'))}",
        f"driver_pay={rng.uniform(5, 120):.2f}",
        f"PULocationID={rng.randrange(1, 266)}i",
        f"DOLocationID={rng.randrange(1, 266)}i",
        f"request_to_pickup={rng.randrange(30, 900)}i",
        f"on_scene_to_pickup={rng.randrange(0, 300)}i",
        f"cbd_congestion_fee={rng.choice(('0', '1.5'))}",
        f'shared_request_flag="{rng.choice("NY")}"',
        f'shared_match_flag="{rng.choice("NY")}"',
        f'access_a_ride_flag="{rng.choice("NY")}"',
        f'wav_request_flag="{rng.choice("NY")}"',
        f'wav_match_flag="{rng.choice("NY")}"',
    ]
    if text:
        fields[-1] = f'note="rider said: {rng.choice(("on time", "late, sorry", "ok"))}"'
    ts = BASE_NS + (i * 2 + rng.randrange(2)) * 1_000_000_000  # pickup times have second resolution
    return f"{tags} {','.join(fields)} {ts}"


def make_body(lines: int, series: int, text_share: float, escape_share: float, seed: int) -> bytes:
    rng = random.Random(seed)
    out = [
        trips_line(rng, i, series, rng.random() < text_share, rng.random() < escape_share) for i in range(lines)
    ]
    return ("\n".join(out) + "\n").encode()


def measure(name: str, body: bytes, repeats: int) -> None:
    best = float("inf")
    result = parse_lines_ok(body)
    for _ in range(repeats):
        start = time.perf_counter()
        result = parse_lines_ok(body)
        best = min(best, time.perf_counter() - start)
    if result.errors:
        raise SystemExit(f"{name}: unexpected errors, first: {result.errors[0]}")
    lines = result.point_count
    values = result.field_value_count
    print(
        f"{name:<34} {lines / best:>10,.0f} lines/s {values / best / 1e6:>6.2f} M field values/s "
        f"{len(body) / lines:>5.0f} B/line  {len(result.series):>6} series"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"rusts {rusts.__version__}, compiled={rusts.COMPILED}, python {sys.version.split()[0]}")
    n = args.lines
    measure("trips-like, 100 series", make_body(n, 25, 0.0, 0.0, 1), args.repeats)
    measure("+25% free text, 3% escapes", make_body(n, 25, 0.25, 0.03, 2), args.repeats)
    measure("high cardinality (~n/2 series)", make_body(n, n // 8, 0.0, 0.0, 3), args.repeats)


if __name__ == "__main__":
    main()
