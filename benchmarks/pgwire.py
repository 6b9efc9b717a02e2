"""pgwire against REST: the same SQL over a persistent PostgreSQL connection and a persistent HTTP
connection to one server, and a large SELECT streamed over pgwire.

Loads the synthetic trips data (benchmarks/trips.py) into a fresh server, then for each query prints
the median latency over HTTP (POST /sql, keep-alive) and over pgwire (psycopg 3, text and binary
results) and the REST/pgwire ratio; then streams `SELECT time, hvfhs_license_num, trip_miles, trip_time
FROM trips` (every row) to psql (writing to /dev/null) and to psycopg, and prints rows per second.

Run: python benchmarks/pgwire.py [--rows N] [--repeats K]
Uses the installed rusts unless RUSTS_BENCH_SOURCE=1 (the source tree, interpreted unless built).
"""

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trips import generate_batches, lp_lines  # noqa: E402

REPO = str(Path(__file__).resolve().parent.parent)
QUERIES = {
    "count all": "SELECT COUNT(*) FROM trips",
    "count by license": "SELECT hvfhs_license_num, COUNT(*) FROM trips GROUP BY hvfhs_license_num",
    "10 latest": "SELECT * FROM trips ORDER BY time DESC LIMIT 10",
    "10 rows": "SELECT * FROM trips LIMIT 10",
    "mean per hour": "SELECT time_bucket('1 hour', time) AS hour, AVG(trip_miles) FROM trips GROUP BY hour",
    "max tips by base": "SELECT dispatching_base_num, MAX(tips) FROM trips GROUP BY dispatching_base_num",
    "1000 rows": "SELECT time, hvfhs_license_num, trip_miles, driver_pay FROM trips LIMIT 1000",
}
STREAM = "SELECT time, hvfhs_license_num, trip_miles, trip_time FROM trips"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(workdir: str) -> tuple[subprocess.Popen[bytes], int, int]:
    port, pg_port = free_port(), free_port()
    config = os.path.join(workdir, "rusts.yml")
    with open(config, "w") as out:
        out.write(
            f"server: {{host: 127.0.0.1, port: {port}, request_timeout: 600}}\n"
            f"storage: {{data_dir: '{workdir}/data', wal_durability: periodic}}\n"
            f"postgres: {{host: 127.0.0.1, port: {pg_port}}}\nlogging: {{level: warn}}\n"
        )
    env = dict(os.environ)
    if os.environ.get("RUSTS_BENCH_SOURCE") == "1":
        env["PYTHONPATH"] = REPO
    else:
        env.pop("PYTHONPATH", None)
    process = subprocess.Popen([sys.executable, "-m", "rusts.server.cli", "--config", config], env=env, cwd=workdir)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/ready")
            if connection.getresponse().status == 200:
                return process, port, pg_port
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("server did not become ready")


def load(port: int, rows: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    for batch in generate_batches(rows, batch_rows=10_000):
        connection.request("POST", "/write?precision=ns", lp_lines(batch))
        response = connection.getresponse()
        body = response.read()
        if response.status != 204:
            raise SystemExit(f"write failed: {response.status} {body[:300]!r}")


def median_ms(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="rusts-pgbench-")
    process, port, pg_port = start(workdir)
    try:
        started = time.perf_counter()
        load(port, args.rows)
        print(f"loaded {args.rows} rows in {time.perf_counter() - started:.1f} s")
        http_conn = [http.client.HTTPConnection("127.0.0.1", port, timeout=600)]

        def over_http(sql: str) -> object:
            body = json.dumps({"query": sql}).encode()
            try:
                http_conn[0].request("POST", "/sql", body, {"Content-Type": "application/json"})
                response = http_conn[0].getresponse()
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                # uvicorn closes a keep-alive connection idle for 5 s (while pgwire was measured)
                http_conn[0] = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
                http_conn[0].request("POST", "/sql", body, {"Content-Type": "application/json"})
                response = http_conn[0].getresponse()
            body = response.read()
            if response.status != 200:
                raise SystemExit(f"HTTP {response.status}: {body[:300]!r}")
            return json.loads(body)

        dsn = f"host=127.0.0.1 port={pg_port} user=rusts dbname=rusts"
        with psycopg.connect(dsn, autocommit=True) as text_conn, psycopg.connect(dsn, autocommit=True) as binary_conn:
            binary_cursor = binary_conn.cursor(binary=True)
            print(f"{'query':<20}{'REST ms':>10}{'pgwire ms':>11}{'binary ms':>11}{'REST/pgwire':>13}")
            for name, sql in QUERIES.items():
                rest = median_ms(lambda: over_http(sql), args.repeats)
                wire = median_ms(lambda: text_conn.execute(sql).fetchall(), args.repeats)
                binary = median_ms(lambda: binary_cursor.execute(sql).fetchall(), args.repeats)
                print(f"{name:<20}{rest:>10.2f}{wire:>11.2f}{binary:>11.2f}{rest / wire:>12.2f}x")
            count = text_conn.execute("SELECT COUNT(*) FROM trips").fetchone()
            total = int(count[0]) if count else 0
        psql = shutil.which("psql")
        if psql:
            started = time.perf_counter()
            subprocess.run([psql, dsn, "-X", "-A", "-t", "-o", "/dev/null", "-c", STREAM], check=True)
            seconds = time.perf_counter() - started
            print(f"stream {total} rows to psql: {seconds:.2f} s, {total / seconds:,.0f} rows/s")
        with psycopg.connect(dsn, autocommit=True) as conn:
            for binary in (False, True):
                started = time.perf_counter()
                received = 0
                with conn.cursor(binary=binary) as cursor:
                    cursor.execute(STREAM)
                    while batch := cursor.fetchmany(10_000):
                        received += len(batch)
                seconds = time.perf_counter() - started
                kind = "binary" if binary else "text"
                print(f"stream {received} rows to psycopg ({kind}): {seconds:.2f} s, {received / seconds:,.0f} rows/s")
        started = time.perf_counter()
        answer = over_http(STREAM)
        seconds = time.perf_counter() - started
        rows = len(answer["rows"]) if isinstance(answer, dict) else 0
        print(f"same SELECT over REST: {seconds:.2f} s, {rows / seconds:,.0f} rows/s")
    finally:
        process.terminate()
        process.wait(timeout=120)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
