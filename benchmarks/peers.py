"""RusTs against real peers on the same trips workload: ingest, bytes on disk, query latency.

Peers are Debian's packages: InfluxDB 1.x (`influxdb`, binary influxd) and
VictoriaMetrics (`victoria-metrics`). Missing ones are installed with apt-get
when running as root; a peer that cannot be installed or started is skipped
with a message. Each system runs on 127.0.0.1 with free ports and a temporary
directory, and is stopped afterwards, also on failure.

Data: benchmarks/trips.py (fixed seed), sent as line protocol with ns
timestamps in batches of 5,000 lines over HTTP keep-alive connections.

Figures, per system:
- ingest: wall time of all batches from 1 and from 4 concurrent clients (threads,
  one connection each), each into a fresh instance; rows/s and field values/s
  (field values the system actually stores: VictoriaMetrics drops string fields,
  so its field values/s counts numeric fields only, although it parsed them all);
- disk: bytes on disk after everything is flushed and merged, per stored field value
  (RusTs: after a clean stop, data dir without the WAL; InfluxDB: TSM files once the
  cache is snapshotted and the shards fully compacted, without the WAL; VictoriaMetrics:
  data and indexdb after /internal/force_flush and /internal/force_merge);
- queries: median latency of six queries after a warm-up (see QUERIES and the
  per-system translations below, which say where a peer can only approximate).

With --workload devops the data is TSBS cpu-only-like instead (--hosts series of ten integer
fields, one point per host every 10 s, hosts interleaved): ingest and disk only.

Run: python benchmarks/peers.py [--rows N] [--only ingest,disk,queries]
                                [--systems rusts,influxdb,victoriametrics] [--workload devops --hosts H]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from trips import DEFAULT_SEED, MONTH_START_NS, TAG_COLUMNS, TIME_COLUMN, generate_batches, lp_lines  # noqa: E402

REPO: Final = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH_LINES: Final = 5_000
SYSTEMS: Final = ("rusts", "influxdb", "victoriametrics")
PARTS: Final = ("ingest", "disk", "queries")
NS: Final = 1_000_000_000
HOUR_NS: Final = 3600 * NS
DAY_NS: Final = 86_400 * NS
MONTH_END_NS: Final = MONTH_START_NS + 30 * DAY_NS
ONE_DAY_NS: Final = MONTH_START_NS + 11 * DAY_NS  # Wednesday 2025-11-12
QUERIES: Final = ("count all", "count by license", "10 latest", "mean per hour", "sum 1 license 1 day",
                  "max tips by base")


class PeerUnavailable(Exception):
    """A peer cannot be installed or started here; it is skipped with this message."""


@dataclass
class Workload:
    bodies: list[bytes]
    rows: int
    field_values: int  # every non-null field value
    numeric_field_values: int  # without the string fields, which VictoriaMetrics drops


def build_workload(rows: int, seed: int) -> Workload:
    bodies: list[bytes] = []
    values = numeric = 0
    for batch in generate_batches(rows, seed, BATCH_LINES):
        bodies.append(lp_lines(batch))
        for name in batch.schema.names:
            if name in TAG_COLUMNS or name == TIME_COLUMN:
                continue
            present = batch.num_rows - batch.column(name).null_count
            values += present
            if str(batch.schema.field(name).type) != "string":
                numeric += present
    return Workload(bodies, rows, values, numeric)


DEVOPS_FIELDS: Final = ("usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq",
                         "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice")


def build_devops_workload(rows: int, seed: int, hosts: int) -> Workload:
    """Monitoring data shaped like TSBS's cpu-only use case: `hosts` series of measurement cpu with
    ten tags and ten integer fields (random walks within 0..100), one point per host every 10 s,
    hosts interleaved (each body holds one point of many series): the many-series write path."""
    import random

    rng = random.Random(seed)
    tags = [
        f"hostname=host_{h},region=region_{h % 9},datacenter=dc_{h % 27},rack={h % 100},os=Ubuntu16.04LTS,"
        f"arch=x{'64' if h % 2 else '86'},team=team_{h % 6},service={h % 20},service_version={h % 2},"
        f"service_environment={('production', 'staging', 'test')[h % 3]}"
        for h in range(hosts)
    ]
    state = [[rng.randrange(101) for _ in DEVOPS_FIELDS] for _ in range(hosts)]
    lines: list[str] = []
    bodies: list[bytes] = []
    for row in range(rows):
        host, step = row % hosts, row // hosts
        values = state[host]
        for i in range(len(values)):
            values[i] = min(100, max(0, values[i] + rng.randrange(-3, 4)))
        fields = ",".join(f"{name}={value}i" for name, value in zip(DEVOPS_FIELDS, values))
        lines.append(f"cpu,{tags[host]} {fields} {MONTH_START_NS + step * 10 * NS}")
        if len(lines) == BATCH_LINES:
            bodies.append("\n".join(lines).encode())
            lines = []
    if lines:
        bodies.append("\n".join(lines).encode())
    values_count = rows * len(DEVOPS_FIELDS)
    return Workload(bodies, rows, values_count, values_count)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def directory_bytes(path: str, skip: frozenset[str] = frozenset()) -> int:
    """Bytes allocated (as du counts them) by the files under `path`, leaving out directories named in `skip`.

    Allocated, not apparent, size: InfluxDB preallocates sparse 4 MiB series-file segments.
    """
    total = 0
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d not in skip]
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:  # merged away while we walked
                pass
    return total


def wait_stable_size(measure: Callable[[], int], settle_secs: float, timeout_secs: float) -> int:
    """Poll until the size has not changed for `settle_secs` (background merges are done)."""
    deadline = time.monotonic() + timeout_secs
    last, since = measure(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = measure()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= settle_secs:
            break
    return last


class Http:
    """A keep-alive HTTP/1.1 connection to 127.0.0.1:port."""

    def __init__(self, port: int, timeout: float = 300.0) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            response = self.conn.getresponse()
            return response.status, response.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()  # reconnect on the next call
            raise

    def close(self) -> None:
        self.conn.close()


def http_once(port: int, method: str, path: str, body: bytes | None = None,
              headers: dict[str, str] | None = None, timeout: float = 300.0) -> tuple[int, bytes]:
    client = Http(port, timeout)
    try:
        return client.request(method, path, body, headers)
    finally:
        client.close()


QueryRun = Callable[[Http], "str | None"]  # runs one query; None when the system cannot answer it


def _peak_rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class System:
    """One database process under test: start, write, flush and measure, query, stop."""

    name = ""
    write_path = ""
    drops_string_fields = False  # VictoriaMetrics keeps numeric fields only

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = os.path.join(workdir, f"{self.name}.log")

    # -- process -----------------------------------------------------------
    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        return None

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self, timeout_secs: float = 120.0) -> None:
        if self.port == 0:
            self.port = free_port()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=self.env(),
                                            cwd=self.workdir)
        deadline = time.monotonic() + timeout_secs
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PeerUnavailable(f"{self.name} exited with {self.process.returncode} at start:\n{self.log_tail()}")
            try:
                if self.ready():
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise PeerUnavailable(f"{self.name} not ready after {timeout_secs:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout_secs: float = 120.0) -> None:
        """SIGTERM, wait for a clean exit, SIGKILL if it does not come."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_secs)
        except subprocess.TimeoutExpired:
            print(f"  {self.name}: no exit {timeout_secs:.0f} s after SIGTERM, killing it", file=sys.stderr)
            process.kill()
            process.wait()

    def peak_rss_mib(self) -> float | None:
        """Peak resident memory so far (VmHWM) of the server process plus its child processes (RusTs'
        workers: the sum of peaks, an upper bound), in MiB; None where unknown."""
        if self.process is None:
            return None
        total = _peak_rss_kib(self.process.pid)
        if total is None:
            return None
        children = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False)
        for child in children.stdout.split():
            total += _peak_rss_kib(int(child)) or 0
        return total / 1024

    def log_tail(self, lines: int = 15) -> str:
        try:
            with open(self.log_path, "rb") as log:
                return b"\n".join(log.read().splitlines()[-lines:]).decode(errors="replace")
        except OSError:
            return "(no log)"

    # -- workload ----------------------------------------------------------
    def prepare(self) -> None:
        """Anything a fresh instance needs before the first write."""

    def disk_bytes(self) -> int:
        """Bytes on disk once everything written is flushed and merged; the server may be restarted."""
        raise NotImplementedError

    def queries(self) -> dict[str, QueryRun]:
        raise NotImplementedError

    def count_rows(self, client: Http) -> int | None:
        """Rows the system holds, from its answer to the count query (a sanity check)."""
        return None


# ---------------------------------------------------------------------------- RusTs


RUSTS_QUERIES: Final[dict[str, dict[str, Any]]] = {
    "count all": {"measurement": "trips", "aggregations": [{"function": "count", "field": "*"}]},
    "count by license": {"measurement": "trips", "aggregations": [{"function": "count", "field": "*"}],
                         "group_by": {"tags": ["hvfhs_license_num"]}},
    "10 latest": {"measurement": "trips", "order": "desc", "limit": 10},
    "mean per hour": {"measurement": "trips", "time_range": {"start": MONTH_START_NS, "end": MONTH_END_NS},
                      "aggregations": [{"function": "mean", "field": "trip_miles"}],
                      "group_by": {"time": {"interval": HOUR_NS, "offset": 0}}},
    "sum 1 license 1 day": {"measurement": "trips", "time_range": {"start": ONE_DAY_NS, "end": ONE_DAY_NS + DAY_NS},
                            "tag_filter": {"type": "eq", "key": "hvfhs_license_num", "value": "HV0003"},
                            "aggregations": [{"function": "sum", "field": "driver_pay"}]},
    "max tips by base": {"measurement": "trips", "aggregations": [{"function": "max", "field": "tips"}],
                         "group_by": {"tags": ["dispatching_base_num"]}},
}


class Rusts(System):
    name = "rusts"
    write_path = "/write?precision=ns"

    def __init__(self, workdir: str) -> None:
        super().__init__(workdir)
        self.data_dir = os.path.join(workdir, "data")
        self.config_path = os.path.join(workdir, "rusts.yml")

    def command(self) -> list[str]:
        with open(self.config_path, "w") as config:
            config.write(
                f"server:\n  host: \"127.0.0.1\"\n  port: {self.port}\n"
                f"storage:\n  data_dir: \"{self.data_dir}\"\n  wal_durability: periodic\n"
                f"logging:\n  level: warn\n"
                f"postgres:\n  host: \"127.0.0.1\"\n  port: {free_port()}\n"
            )
        return [sys.executable, "-m", "rusts.server.cli", "--config", self.config_path]

    def env(self) -> dict[str, str]:
        # The installed (compiled) rusts by default, as users run it; RUSTS_BENCH_SOURCE=1 runs the
        # source tree instead (interpreted unless built in place).
        if os.environ.get("RUSTS_BENCH_SOURCE") == "1":
            return {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
        return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}

    def ready(self) -> bool:
        return http_once(self.port, "GET", "/ready", timeout=5)[0] == 200

    def disk_bytes(self) -> int:
        self.stop()  # a clean stop flushes the memtable into segments
        size = directory_bytes(self.data_dir, frozenset({"wal"}))
        self.start()
        return size

    def queries(self) -> dict[str, QueryRun]:
        def run(body: dict[str, Any]) -> QueryRun:
            payload = json.dumps(body).encode()

            def go(client: Http) -> str | None:
                status, answer = client.request("POST", "/query", payload, {"Content-Type": "application/json"})
                if status in (404, 405, 501):
                    return None
                if status != 200:
                    raise RuntimeError(f"/query answered {status}: {answer[:300]!r}")
                return answer.decode(errors="replace")
            return go
        return {name: run(body) for name, body in RUSTS_QUERIES.items()}

    def count_rows(self, client: Http) -> int | None:
        answer = self.queries()["count all"](client)
        if answer is None:
            return None
        decoded = json.loads(answer)
        if isinstance(decoded, dict) and "columns" in decoded and decoded.get("rows"):
            # {"columns": [{"name", "type"}], "rows": [[...]]}: the count column of the only row.
            names = [str(column.get("name", "")) for column in decoded["columns"]]
            for index, column_name in enumerate(names):
                if "count" in column_name.lower():
                    return int(decoded["rows"][0][index])
        return _first_int(decoded)


def _first_int(value: Any) -> int | None:
    """The first integer under a key naming a count in a decoded JSON answer, wherever it is nested."""
    if isinstance(value, dict):
        for key, item in value.items():
            if "count" in str(key).lower() and isinstance(item, (int, float)) and not isinstance(item, bool):
                return int(item)
        items: Any = value.values()
    elif isinstance(value, list):
        items = value
    else:
        return None
    for item in items:
        found = _first_int(item)
        if found is not None:
            return found
    return None


# ---------------------------------------------------------------------------- InfluxDB 1.x

# InfluxQL's count(*) counts every field separately; counting trip_miles, which every row
# has, counts rows, as RusTs's count(*) does.
INFLUX_QUERIES: Final[dict[str, str]] = {
    "count all": "SELECT count(trip_miles) FROM trips",
    "count by license": "SELECT count(trip_miles) FROM trips GROUP BY hvfhs_license_num",
    "10 latest": "SELECT * FROM trips ORDER BY time DESC LIMIT 10",
    "mean per hour": f"SELECT mean(trip_miles) FROM trips WHERE time >= {MONTH_START_NS} AND time < {MONTH_END_NS}"
                     " GROUP BY time(1h)",
    "sum 1 license 1 day": f"SELECT sum(driver_pay) FROM trips WHERE hvfhs_license_num = 'HV0003'"
                           f" AND time >= {ONE_DAY_NS} AND time < {ONE_DAY_NS + DAY_NS}",
    "max tips by base": "SELECT max(tips) FROM trips GROUP BY dispatching_base_num",
}


class Influx(System):
    name = "influxdb"
    write_path = "/write?db=bench&precision=ns"

    def __init__(self, workdir: str) -> None:
        super().__init__(workdir)
        self.data_dir = os.path.join(workdir, "data")
        self.wal_dir = os.path.join(workdir, "wal")
        self.config_path = os.path.join(workdir, "influxdb.conf")

    def command(self) -> list[str]:
        # The cold durations (defaults 10m and 4h) are shortened so that the cache is
        # snapshotted and the shards fully compacted within this run; they only act on a
        # shard that has had no writes for that long. wal-fsync-delay stays 0 (an fsync per write).
        with open(self.config_path, "w") as config:
            config.write(
                "reporting-disabled = true\n"
                f"bind-address = \"127.0.0.1:{free_port()}\"\n"
                f"[meta]\n  dir = \"{os.path.join(self.workdir, 'meta')}\"\n  logging-enabled = false\n"
                f"[data]\n  dir = \"{self.data_dir}\"\n  wal-dir = \"{self.wal_dir}\"\n"
                "  query-log-enabled = false\n  index-version = \"inmem\"\n"
                "  cache-snapshot-write-cold-duration = \"10s\"\n  compact-full-write-cold-duration = \"10s\"\n"
                "[monitor]\n  store-enabled = false\n"
                "[continuous_queries]\n  enabled = false\n"
                f"[http]\n  bind-address = \"127.0.0.1:{self.port}\"\n  log-enabled = false\n"
                "  max-body-size = 0\n"
                "[logging]\n  level = \"warn\"\n"
            )
        return ["influxd", "run", "-config", self.config_path]

    def ready(self) -> bool:
        return http_once(self.port, "GET", "/ping", timeout=5)[0] == 204

    def prepare(self) -> None:
        status, answer = http_once(self.port, "POST", "/query?q=" + urllib.parse.quote("CREATE DATABASE bench"))
        if status != 200:
            raise PeerUnavailable(f"influxdb: CREATE DATABASE answered {status}: {answer[:200]!r}")

    def disk_bytes(self) -> int:
        # TSM files only: wait until the WAL is snapshotted away and full compactions settle.
        def wal_bytes() -> int:
            return directory_bytes(self.wal_dir)
        deadline = time.monotonic() + 300
        while wal_bytes() > 64 * 1024 and time.monotonic() < deadline:
            time.sleep(1)
        size = wait_stable_size(lambda: directory_bytes(self.data_dir), settle_secs=15, timeout_secs=600)
        left = wal_bytes()
        if left > 64 * 1024:
            print(f"  influxdb: {left:,} bytes still in the WAL after 5 min (not counted)", file=sys.stderr)
        return size

    def queries(self) -> dict[str, QueryRun]:
        def run(text: str) -> QueryRun:
            path = "/query?db=bench&epoch=ns&q=" + urllib.parse.quote(text)

            def go(client: Http) -> str | None:
                status, answer = client.request("GET", path)
                if status != 200 or b'"error"' in answer:
                    raise RuntimeError(f"influxdb {text!r}: {status} {answer[:300]!r}")
                return answer.decode(errors="replace")
            return go
        return {name: run(text) for name, text in INFLUX_QUERIES.items()}

    def count_rows(self, client: Http) -> int | None:
        answer = json.loads(self.queries()["count all"](client) or "{}")
        values = answer["results"][0]["series"][0]["values"][0]
        return int(values[1])


# ---------------------------------------------------------------------------- VictoriaMetrics

# MetricsQL has no rows: each numeric field is its own metric `trips_<field>` with the two
# tags as labels, and string fields are dropped at ingest. The closest honest equivalents:
# counts are sample counts of trips_trip_miles (one per row); "latest 10" exports every
# trips_* sample of the month's last hour and assembles the 10 newest rows in the client;
# the hourly mean is sum/count of 1 h windows, evaluated at the end of each hour, so VM's
# windows are (t-1h, t] where RusTs and InfluxDB use [t, t+1h). Instant queries at the
# end of the range, windows of 31d (month) or 1d. The response cache is off
# (-search.disableCache) so repeated runs do the work again.
VM_WINDOW_END: Final = MONTH_END_NS // NS
VM_QUERIES: Final[dict[str, tuple[str, dict[str, str]]]] = {
    "count all": ("/api/v1/query", {"query": "sum(count_over_time(trips_trip_miles[31d]))",
                                    "time": str(VM_WINDOW_END)}),
    "count by license": ("/api/v1/query", {
        "query": "sum by (hvfhs_license_num) (count_over_time(trips_trip_miles[31d]))", "time": str(VM_WINDOW_END)}),
    "10 latest": ("/api/v1/export", {"match[]": '{__name__=~"trips_.*"}', "start": str(VM_WINDOW_END - 3600),
                                     "end": str(VM_WINDOW_END)}),
    "mean per hour": ("/api/v1/query_range", {
        "query": "sum(sum_over_time(trips_trip_miles[1h])) / sum(count_over_time(trips_trip_miles[1h]))",
        "start": str(MONTH_START_NS // NS + 3600), "end": str(VM_WINDOW_END), "step": "1h"}),
    "sum 1 license 1 day": ("/api/v1/query", {
        "query": 'sum(sum_over_time(trips_driver_pay{hvfhs_license_num="HV0003"}[1d]))',
        "time": str((ONE_DAY_NS + DAY_NS) // NS)}),
    "max tips by base": ("/api/v1/query", {
        "query": "max by (dispatching_base_num) (max_over_time(trips_tips[31d]))", "time": str(VM_WINDOW_END)}),
}


def latest_rows(export: bytes, limit: int) -> list[dict[str, Any]]:
    """The `limit` newest rows rebuilt from /api/v1/export's JSON lines (one series per line)."""
    rows: dict[tuple[str, str, int], dict[str, Any]] = {}
    for line in export.splitlines():
        if not line:
            continue
        series = json.loads(line)
        labels = series["metric"]
        field = labels["__name__"].removeprefix("trips_")
        for value, stamp in zip(series["values"], series["timestamps"]):
            key = (labels.get("hvfhs_license_num", ""), labels.get("dispatching_base_num", ""), stamp)
            rows.setdefault(key, {"time": stamp, "hvfhs_license_num": key[0], "dispatching_base_num": key[1]})[field] = value
    return [rows[key] for key in sorted(rows, key=lambda k: k[2], reverse=True)[:limit]]


class Victoria(System):
    name = "victoriametrics"
    write_path = "/write?precision=ns"
    drops_string_fields = True

    def __init__(self, workdir: str) -> None:
        super().__init__(workdir)
        self.data_dir = os.path.join(workdir, "vmdata")

    def command(self) -> list[str]:
        return ["victoria-metrics", f"-storageDataPath={self.data_dir}", f"-httpListenAddr=127.0.0.1:{self.port}",
                "-retentionPeriod=100y", "-search.disableCache", "-loggerLevel=WARN"]

    def ready(self) -> bool:
        return http_once(self.port, "GET", "/health", timeout=5)[0] == 200

    def disk_bytes(self) -> int:
        http_once(self.port, "GET", "/internal/force_flush")
        status, answer = http_once(self.port, "GET", "/internal/force_merge?partition_prefix=2025_11")
        if status != 200:
            print(f"  victoriametrics: force_merge answered {status} {answer[:100]!r}", file=sys.stderr)
        # force_merge runs in the background: wait for the parts to settle. The cache
        # directory is a query cache, not data.
        return wait_stable_size(lambda: directory_bytes(self.data_dir, frozenset({"cache", "snapshots"})),
                                settle_secs=10, timeout_secs=600)

    def queries(self) -> dict[str, QueryRun]:
        def run(path: str, params: dict[str, str]) -> QueryRun:
            url = path + "?" + urllib.parse.urlencode({**params, "nocache": "1"})

            def go(client: Http) -> str | None:
                status, answer = client.request("GET", url)
                if status != 200:
                    raise RuntimeError(f"victoriametrics {url}: {status} {answer[:300]!r}")
                if path == "/api/v1/export":
                    return json.dumps(latest_rows(answer, 10))
                return answer.decode(errors="replace")
            return go
        return {name: run(path, params) for name, (path, params) in VM_QUERIES.items()}

    def count_rows(self, client: Http) -> int | None:
        http_once(self.port, "GET", "/internal/force_flush")
        answer = json.loads(self.queries()["count all"](client) or "{}")
        result = answer["data"]["result"]
        return int(float(result[0]["value"][1])) if result else 0


SYSTEM_CLASSES: Final[dict[str, type[System]]] = {"rusts": Rusts, "influxdb": Influx, "victoriametrics": Victoria}
PACKAGES: Final = {"influxdb": ("influxdb", "influxd"), "victoriametrics": ("victoria-metrics", "victoria-metrics")}


def ensure_installed(system: str) -> None:
    """Install the peer's Debian package when its binary is missing; PeerUnavailable if that fails."""
    if system not in PACKAGES:
        return
    package, binary = PACKAGES[system]
    if shutil.which(binary):
        return
    if os.geteuid() != 0:
        raise PeerUnavailable(f"{binary} is not installed and we are not root: apt-get install {package}")
    print(f"installing {package} with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update"], ["apt-get", "install", "-y", package]):
        done = subprocess.run(step, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise PeerUnavailable(f"{' '.join(step)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    if not shutil.which(binary):
        raise PeerUnavailable(f"{package} installed but {binary} is not on PATH")


@contextmanager
def running(kind: type[System], keep: bool) -> Iterator[System]:
    """A fresh instance in its own temporary directory, stopped (and removed) on the way out."""
    workdir = tempfile.mkdtemp(prefix=f"bench-{kind.name}-")
    system = kind(workdir)
    try:
        system.start()
        system.prepare()
        yield system
    finally:
        system.stop()
        if keep:
            print(f"  kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def ingest(system: System, bodies: list[bytes], clients: int) -> float:
    """Send every body from `clients` threads over keep-alive connections; the wall time in seconds."""
    next_index = 0
    lock = threading.Lock()
    errors: list[str] = []

    def client_loop() -> None:
        nonlocal next_index
        client = Http(system.port)
        try:
            while not errors:
                with lock:
                    index, next_index = next_index, next_index + 1
                if index >= len(bodies):
                    return
                status, answer = client.request("POST", system.write_path, bodies[index],
                                                {"Content-Type": "text/plain; charset=utf-8"})
                if status not in (200, 204):
                    errors.append(f"batch {index}: {status} {answer[:300]!r}")
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            client.close()

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{system.name}: write failed: {errors[0]}")
    return elapsed


def time_queries(system: System, warmup: int, repeats: int) -> dict[str, float | None]:
    """Median seconds per query after `warmup` runs; None where the system cannot answer."""
    out: dict[str, float | None] = {}
    client = Http(system.port)
    try:
        for name, run in system.queries().items():
            if run(client) is None:
                out[name] = None
                continue
            for _ in range(warmup - 1):
                run(client)
            samples = []
            for _ in range(repeats):
                began = time.perf_counter()
                run(client)
                samples.append(time.perf_counter() - began)
            out[name] = statistics.median(samples)
    finally:
        client.close()
    return out


Figures = dict[str, dict[str, float | None]]  # figure -> system -> value


def bench_system(name: str, parts: set[str], workload: Workload, args: argparse.Namespace, figures: Figures) -> None:
    kind = SYSTEM_CLASSES[name]

    def put(figure: str, value: float | None) -> None:
        figures.setdefault(figure, {})[name] = value

    values = workload.numeric_field_values if kind.drops_string_fields else workload.field_values
    if "ingest" in parts:
        for clients in args.clients:
            with running(kind, args.keep) as system:
                elapsed = ingest(system, workload.bodies, clients)
                put(f"peak RSS ingest {clients}c MiB", system.peak_rss_mib())
            print(f"  {name}: {clients} client(s): {elapsed:.2f} s", flush=True)
            put(f"ingest {clients}c rows/s", workload.rows / elapsed)
            put(f"ingest {clients}c field values/s", values / elapsed)
    if not parts & {"disk", "queries"}:
        return
    with running(kind, args.keep) as system:
        began = time.perf_counter()
        ingest(system, workload.bodies, max(args.clients))
        print(f"  {name}: loaded in {time.perf_counter() - began:.1f} s", flush=True)
        if "disk" in parts:
            size = system.disk_bytes()
            put("disk bytes", float(size))
            put("disk bytes/field value", size / values)
        if "queries" in parts:
            check = Http(system.port)
            try:
                counted = system.count_rows(check)
            except (RuntimeError, KeyError, IndexError, ValueError) as exc:
                counted = None
                print(f"  {name}: count check failed: {exc}", file=sys.stderr)
            finally:
                check.close()
            if counted is not None:
                put("rows counted", float(counted))
            for query, seconds in time_queries(system, args.warmup, args.repeats).items():
                put(f"query {query} ms", None if seconds is None else seconds * 1000)
            # RusTs was restarted by the disk step (a clean stop flushes), so its peak covers the queries
            # and start-up only; the peers' peak includes the load.
            put("peak RSS after queries MiB", system.peak_rss_mib())


def format_value(value: float | None, exact: bool = False) -> str:
    if value is None:
        return "n/a"
    if exact:
        return f"{value:,.0f}"
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    if value >= 1e4:
        return f"{value / 1e3:.0f} k"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}" if value < 10 else f"{value:.1f}"


def print_table(figures: Figures, systems: list[str]) -> None:
    peers = [s for s in systems if s != "rusts"]
    ratio_heads = [f"rusts/{p}" for p in peers] if "rusts" in systems else []
    head = ["figure", *systems, *ratio_heads]
    rows = [head]
    for figure, by_system in figures.items():
        exact = figure in ("disk bytes", "rows counted")
        row = [figure, *(format_value(by_system.get(s), exact) for s in systems)]
        for peer in peers if ratio_heads else ():
            ours, theirs = by_system.get("rusts"), by_system.get(peer)
            row.append(f"{ours / theirs:.2f}" if ours is not None and theirs else "n/a")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)))
        if index == 0:
            print("  ".join("-" * w for w in widths))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="RusTs against InfluxDB 1.x and VictoriaMetrics on trips data")
    parser.add_argument("--rows", type=int, default=1_250_000)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated: ingest, disk, queries")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated: " + ", ".join(SYSTEMS))
    parser.add_argument("--clients", default="1,4", help="concurrent writers per ingest run (default 1,4)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    parser.add_argument("--workload", choices=("trips", "devops"), default="trips",
                        help="devops: TSBS cpu-only-like data (many series, ingest and disk only)")
    parser.add_argument("--hosts", type=int, default=4000, help="series of the devops workload (default 4000)")
    args = parser.parse_args(argv)
    args.parts = {p.strip() for p in args.only.split(",") if p.strip()}
    args.system_list = [s.strip() for s in args.systems.split(",") if s.strip()]
    args.clients = [int(c) for c in args.clients.split(",")]
    if not args.parts <= set(PARTS) or not set(args.system_list) <= set(SYSTEMS) or min(args.clients) < 1:
        parser.error(f"--only takes {', '.join(PARTS)}; --systems takes {', '.join(SYSTEMS)}; --clients >= 1")
    args.warmup = max(args.warmup, 1)
    if args.workload == "devops":
        args.parts -= {"queries"}  # the six queries are the trips data's
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    if args.workload == "devops":
        workload = build_devops_workload(args.rows, args.seed, args.hosts)
    else:
        workload = build_workload(args.rows, args.seed)
    size = sum(len(b) for b in workload.bodies)
    print(f"{args.workload}: {workload.rows:,} rows, {workload.field_values:,} field values "
          f"({workload.numeric_field_values:,} numeric), {len(workload.bodies)} batches of {BATCH_LINES:,} lines, "
          f"{size / 1e6:.0f} MB of line protocol, built in {time.perf_counter() - began:.1f} s; "
          f"{os.cpu_count()} CPUs", flush=True)
    figures: Figures = {}
    done: list[str] = []
    for name in args.system_list:
        print(f"{name}:", flush=True)
        try:
            ensure_installed(name)
            bench_system(name, args.parts, workload, args, figures)
            done.append(name)
        except PeerUnavailable as exc:
            print(f"  skipped {name}: {exc}", flush=True)
        except (RuntimeError, OSError, http.client.HTTPException) as exc:
            print(f"  {name} failed, its remaining figures are missing: {type(exc).__name__}: {exc}", flush=True)
            done.append(name)
    print()
    print_table(figures, done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
