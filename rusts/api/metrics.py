"""`GET /metrics`: Prometheus text exposition format 0.0.4, written by hand.

Two kinds of figures:
- HTTP requests, recorded as they finish: a counter by route, method and
  status, and a latency histogram by route (cumulative `le` buckets from
  1 ms to 10 s, then `+Inf`, with `_sum` and `_count`).
- The storage engine's statistics, read at scrape time: the counters of
  ENGINE_COUNTERS get a `_total` suffix and TYPE counter; every other
  statistic is a gauge named `rusts_<key>`, so a statistic the engine adds
  later appears without a change here.

Routes are the app's route paths (unknown paths share one label), so the
number of series stays bounded whatever clients send.
"""

import re
import threading

import rusts

# Upper bounds of the latency buckets, in seconds.
LATENCY_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Engine statistics that only grow (Prometheus counters), with their help text.
ENGINE_COUNTERS: dict[str, str] = {
    "writes": "Write requests applied by the storage engine.",
    "points_written": "Points stored.",
    "rejected_lines": "Line protocol lines rejected.",
    "flushes": "Memtable flushes to segments.",
    "replayed_records": "WAL records replayed at start-up.",
}
ENGINE_GAUGES: dict[str, str] = {
    "series": "Series in the index.",
    "measurements": "Measurements known.",
    "memtable_points": "Points held in the memtable.",
    "memtable_bytes": "Bytes held in the memtable.",
    "partitions": "Time partitions on disk.",
    "segments": "Segment files on disk.",
    "checkpoint": "WAL sequence number up to which data is in segments.",
    "wal_sequence": "Sequence number of the newest WAL record.",
}
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


class HttpMetrics:
    """Request counts and latencies; `observe` may be called from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = {}
        # route -> per-bucket (non-cumulative) counts, the last one for +Inf
        self._buckets: dict[str, list[int]] = {}
        self._sums: dict[str, float] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        slot = next((i for i, bound in enumerate(LATENCY_BUCKETS) if seconds <= bound), len(LATENCY_BUCKETS))
        with self._lock:
            key = (route, method, status)
            self._requests[key] = self._requests.get(key, 0) + 1
            counts = self._buckets.setdefault(route, [0] * (len(LATENCY_BUCKETS) + 1))
            counts[slot] += 1
            self._sums[route] = self._sums.get(route, 0.0) + seconds

    def render(self, out: list[str]) -> None:
        """Append the HTTP families, one text line per item."""
        with self._lock:
            requests = sorted(self._requests.items())
            buckets = {route: list(counts) for route, counts in self._buckets.items()}
            sums = dict(self._sums)
        out.append("# HELP rusts_http_requests_total HTTP requests finished, by route, method and status.")
        out.append("# TYPE rusts_http_requests_total counter")
        for (route, method, status), count in requests:
            out.append(
                f'rusts_http_requests_total{{route="{_label(route)}",method="{_label(method)}",status="{status}"}} {count}'
            )
        name = "rusts_http_request_duration_seconds"
        out.append(f"# HELP {name} Time from request to the end of the response, by route.")
        out.append(f"# TYPE {name} histogram")
        for route in sorted(buckets):
            counts, label = buckets[route], _label(route)
            cumulative = 0
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), counts):
                cumulative += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                out.append(f'{name}_bucket{{route="{label}",le="{le}"}} {cumulative}')
            out.append(f'{name}_sum{{route="{label}"}} {_number(sums[route])}')
            out.append(f'{name}_count{{route="{label}"}} {cumulative}')


def render_engine(statistics: dict[str, int] | None, out: list[str]) -> None:
    """Append the engine families; `None` (still recovering) gives only `rusts_ready 0`."""
    out.append("# HELP rusts_ready 1 when the storage engine has opened (recovery done).")
    out.append("# TYPE rusts_ready gauge")
    out.append(f"rusts_ready {0 if statistics is None else 1}")
    if statistics is None:
        return
    for key, value in sorted(statistics.items()):
        counter = key in ENGINE_COUNTERS
        name = f"rusts_{key}_total" if counter else f"rusts_{key}"
        if not _METRIC_NAME.match(name):
            continue
        help_text = ENGINE_COUNTERS.get(key) or ENGINE_GAUGES.get(key) or f"Storage engine statistic {key}."
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {'counter' if counter else 'gauge'}")
        out.append(f"{name} {_number(value)}")


def exposition(http: HttpMetrics, statistics: dict[str, int] | None) -> str:
    """The whole `/metrics` body."""
    out = [
        "# HELP rusts_build_info The running version, and whether its hot modules are compiled.",
        "# TYPE rusts_build_info gauge",
        f'rusts_build_info{{version="{_label(rusts.__version__)}",compiled="{str(rusts.COMPILED).lower()}"}} 1',
    ]
    render_engine(statistics, out)
    http.render(out)
    return "\n".join(out) + "\n"


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
