"""The HTTP API's gate and exporter against the real server process: tokens, rate limit, /metrics;
the request timeout in process (a slow write cannot be made reliably slow in a real server)."""

import asyncio
import base64
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from rusts.api.auth import issue_token, token_from_request, verify_token
from rusts.api.metrics import LATENCY_BUCKETS, HttpMetrics, exposition
from rusts.api.ratelimit import RateLimiter
from rusts.api.router import ApiSettings, RequestTimeoutError, create_app, run_blocking
from rusts.core.errors import AuthError, RateLimitError
from servers import PACKAGE_ROOT, RustsServer

SECRET = "test-secret-do-not-use"

@pytest.fixture
def servers() -> Iterator[list[RustsServer]]:
    started: list[RustsServer] = []
    yield started
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait(timeout=30)


LINE = b"cpu,host=a v=1.5 10"


# --- authentication -------------------------------------------------------------------------------


def test_tokens_round_trip_and_refusals_name_the_reason() -> None:
    token = issue_token(SECRET, "alice", 60, now=1000)
    claims = verify_token(SECRET, token, now=1059)
    assert (claims["sub"], claims["iat"], claims["exp"]) == ("alice", 1000, 1060)
    with pytest.raises(AuthError, match="token expired"):
        verify_token(SECRET, token, now=1060)
    with pytest.raises(AuthError, match="bad token signature"):
        verify_token("another secret", token, now=1000)
    header, claims_part, signature = token.split(".")
    forged = base64.urlsafe_b64encode(b'{"sub":"root","exp":9999999999}').rstrip(b"=").decode()
    with pytest.raises(AuthError, match="bad token signature"):
        verify_token(SECRET, f"{header}.{forged}.{signature}", now=1000)
    none_header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    with pytest.raises(AuthError, match="unsupported token algorithm 'none'"):
        verify_token(SECRET, f"{none_header}.{claims_part}.", now=1000)
    for malformed in ("", "abc", "a.b.c", "a.b", f"{header}.{claims_part}.{signature}.x", "é.é.é"):
        with pytest.raises(AuthError, match="malformed token"):
            verify_token(SECRET, malformed, now=1000)


def test_token_is_found_where_clients_put_it() -> None:
    assert token_from_request({"authorization": "Bearer abc"}, {}) == "abc"
    assert token_from_request({"authorization": "Token abc"}, {}) == "abc"
    basic = base64.b64encode(b"user:abc").decode()
    assert token_from_request({"authorization": f"Basic {basic}"}, {}) == "abc"
    assert token_from_request({}, {"u": "user", "p": "abc"}) == "abc"
    with pytest.raises(AuthError, match="missing token"):
        token_from_request({}, {"u": "user"})
    with pytest.raises(AuthError, match="unsupported Authorization header"):
        token_from_request({"authorization": "Digest x"}, {})


def test_auth_on_the_real_server(tmp_path: Path, servers: list[RustsServer]) -> None:
    server = RustsServer(tmp_path, auth=f"{{enabled: true, jwt_secret: {SECRET}, token_expiration: 3600}}")
    servers.append(server)
    assert server.exchange("GET", "/health")[0] == 200
    assert server.exchange("GET", "/ready")[0] == 200

    status, body, headers = server.exchange("POST", "/write", LINE)
    assert (status, headers["www-authenticate"].split()[0]) == (401, "Bearer")
    assert "missing token" in body["error"]

    wrong = issue_token("not the secret", "mallory", 3600)
    status, body, headers = server.exchange("POST", "/write", LINE, {"Authorization": f"Bearer {wrong}"})
    assert (status, body["error"]) == (401, "bad token signature")
    assert headers["www-authenticate"].startswith("Bearer")

    expired = issue_token(SECRET, "alice", 1, now=int(time.time()) - 10)
    status, body, _ = server.exchange("POST", "/write", LINE, {"Authorization": f"Bearer {expired}"})
    assert (status, body["error"]) == (401, "token expired")

    status, body, _ = server.exchange("POST", "/write", LINE, {"Authorization": "Bearer not-a-jwt"})
    assert status == 401 and body["error"].startswith("malformed token")

    assert server.exchange("GET", "/stats")[0] == 401
    assert server.exchange("GET", "/no/such/path")[0] == 401

    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    created = subprocess.run(
        [sys.executable, "-m", "rusts.server.cli", "token", "create", "--config", str(server.config), "--subject", "ci"],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=True,
    ).stdout.strip()
    assert verify_token(SECRET, created)["sub"] == "ci"
    assert server.exchange("POST", "/write", LINE, {"Authorization": f"Bearer {created}"})[0] == 204
    assert server.exchange("POST", "/api/v2/write?bucket=b&org=o", LINE, {"Authorization": f"Token {created}"})[0] == 204
    assert server.exchange("POST", f"/write?db=x&u=me&p={created}", LINE)[0] == 204
    status, stats, _ = server.exchange("GET", "/stats", headers={"Authorization": f"Bearer {created}"})
    assert status == 200 and stats["writes"] == 3
    assert server.stop() == 0


# --- rate limit -----------------------------------------------------------------------------------


def test_token_bucket() -> None:
    limiter = RateLimiter(2.0, 3)
    for _ in range(3):
        limiter.check("a", now=100.0)
    with pytest.raises(RateLimitError) as caught:
        limiter.check("a", now=100.0)
    assert caught.value.retry_after_secs == 1.0
    limiter.check("b", now=100.0)  # each address has its own bucket
    limiter.check("a", now=100.5)  # one token back after 1/rate s
    with pytest.raises(RateLimitError):
        limiter.check("a", now=100.5)
    slow = RateLimiter(0.1, 1)
    slow.check("a", now=0.0)
    with pytest.raises(RateLimitError) as caught:
        slow.check("a", now=1.0)
    assert caught.value.retry_after_secs == 9.0


def test_rate_limit_on_the_real_server(tmp_path: Path, servers: list[RustsServer]) -> None:
    server = RustsServer(tmp_path, server_extra=", rate_limit_per_sec: 1, rate_limit_burst: 3")
    servers.append(server)
    statuses = [server.exchange("POST", "/write", LINE)[0] for _ in range(3)]
    assert statuses == [204, 204, 204]
    status, body, headers = server.exchange("POST", "/write", LINE)
    assert status == 429
    assert "rate limit exceeded" in body["error"]
    retry_after = int(headers["retry-after"])
    assert retry_after >= 1
    # Probes and the exporter are not limited.
    assert [server.exchange("GET", "/health")[0] for _ in range(5)] == [200] * 5
    assert server.exchange("GET", "/metrics")[0] == 200
    time.sleep(retry_after)
    assert server.exchange("POST", "/write", LINE)[0] == 204
    assert server.stop() == 0


# --- /metrics -------------------------------------------------------------------------------------

_SAMPLE = re.compile(
    r'(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?P<labels>[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)\})? (?P<value>\S+)'
)
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')


def parse_exposition(text: str) -> tuple[dict[str, str], list[tuple[str, dict[str, str], float]]]:
    """(TYPE by family, samples); fails on any line that is not valid text format 0.0.4."""
    assert text.endswith("\n")
    types: dict[str, str] = {}
    helps: set[str] = set()
    samples: list[tuple[str, dict[str, str], float]] = []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert name not in helps, f"second HELP for {name}"
            helps.add(name)
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name not in types, f"second TYPE for {name}"
            types[name] = kind
        else:
            match = _SAMPLE.fullmatch(line)
            assert match is not None, f"not a sample line: {line!r}"
            value = float(match["value"])  # also accepts +Inf, NaN
            labels = dict(_LABEL.findall(match["labels"] or ""))
            family = re.sub(r"_(bucket|sum|count|total)$", "", match["name"])
            assert match["name"] in types or family in types, f"sample before its TYPE: {line!r}"
            samples.append((match["name"], labels, value))
    return types, samples


def check_histograms(types: dict[str, str], samples: list[tuple[str, dict[str, str], float]]) -> int:
    """Every histogram: cumulative buckets ending in +Inf equal to _count; the number checked."""
    checked = 0
    for family in (name for name, kind in types.items() if kind == "histogram"):
        buckets: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
        counts: dict[tuple[tuple[str, str], ...], float] = {}
        sums: dict[tuple[tuple[str, str], ...], float] = {}
        for name, labels, value in samples:
            key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            if name == family + "_bucket":
                buckets.setdefault(key, []).append((float(labels["le"]), value))
            elif name == family + "_count":
                counts[key] = value
            elif name == family + "_sum":
                sums[key] = value
        assert buckets.keys() == counts.keys() == sums.keys()
        for key, series in buckets.items():
            bounds = [bound for bound, _ in series]
            values = [value for _, value in series]
            assert bounds == sorted(bounds) and bounds[-1] == math.inf
            assert values == sorted(values), f"{family}{key} buckets not cumulative"
            assert values[-1] == counts[key] and sums[key] >= 0
            checked += 1
    return checked


def test_metrics_exposition_on_the_real_server(tmp_path: Path, servers: list[RustsServer]) -> None:
    server = RustsServer(tmp_path)
    servers.append(server)
    assert server.exchange("POST", "/write", b"cpu,host=a v=1 1\ncpu,host=b v=2 2\nbad line\n")[0] == 400
    assert server.exchange("POST", "/write", LINE)[0] == 204
    assert server.exchange("GET", "/nowhere")[0] == 404
    status, text, headers = server.exchange("GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    types, samples = parse_exposition(text)
    values = {(name, tuple(sorted(labels.items()))): value for name, labels, value in samples}
    assert values[("rusts_points_written_total", ())] == 3
    assert values[("rusts_rejected_lines_total", ())] == 1
    assert values[("rusts_series", ())] == 2
    assert values[("rusts_ready", ())] == 1
    for name in ("rusts_flushes_total", "rusts_memtable_points", "rusts_memtable_bytes", "rusts_partitions",
                 "rusts_segments", "rusts_checkpoint"):
        assert (name, ()) in values, name
    assert types["rusts_points_written_total"] == "counter" and types["rusts_series"] == "gauge"
    requests = {(labels["route"], labels["status"]): value for name, labels, value in samples
                if name == "rusts_http_requests_total"}
    assert requests[("/write", "400")] == 1 and requests[("/write", "204")] == 1
    assert requests[("(unmatched)", "404")] == 1
    assert types["rusts_http_request_duration_seconds"] == "histogram"
    assert check_histograms(types, samples) >= 2
    write_count = values[("rusts_http_request_duration_seconds_count", (("route", "/write"),))]
    assert write_count == 2
    assert server.stop() == 0


def test_histogram_buckets_are_cumulative_in_process() -> None:
    metrics = HttpMetrics()
    for seconds in (0.0005, 0.001, 0.003, 0.2, 11.0):
        metrics.observe("/write", "POST", 204, seconds)
    types, samples = parse_exposition(exposition(metrics, None))
    assert check_histograms(types, samples) == 1
    buckets = {labels["le"]: value for name, labels, value in samples if name.endswith("_bucket")}
    assert (buckets["0.001"], buckets["0.005"], buckets["0.25"], buckets["10.0"], buckets["+Inf"]) == (2, 3, 4, 4, 5)
    assert len(buckets) == len(LATENCY_BUCKETS) + 1
    assert ("rusts_ready", {}, 0.0) in samples


def test_metrics_are_thread_safe() -> None:
    metrics = HttpMetrics()

    def hammer() -> None:
        for _ in range(5000):
            metrics.observe("/write", "POST", 204, 0.002)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _, samples = parse_exposition(exposition(metrics, None))
    assert ("rusts_http_request_duration_seconds_count", {"route": "/write"}, 20000.0) in samples


# --- request timeout ------------------------------------------------------------------------------


def test_run_blocking_times_out_but_the_call_runs_on() -> None:
    finished = threading.Event()

    def slow(seconds: float) -> str:
        time.sleep(seconds)
        finished.set()
        return "done"

    assert asyncio.run(run_blocking(5.0, "the write", "n/a", slow, 0.0)) == "done"
    finished.clear()
    with pytest.raises(RequestTimeoutError, match=r"the write timed out after 0.1 s \(server.request_timeout\); it may"):
        asyncio.run(run_blocking(0.1, "the write", "it may still complete", slow, 0.5))
    assert finished.wait(5)


class SlowEngine:
    """Stands in for the storage engine: every write takes longer than the timeout, then is stored."""

    def __init__(self) -> None:
        self.stored: list[bytes] = []

    def write_line_protocol(self, body: bytes, multiplier: int, default_time: int | None) -> Any:
        time.sleep(1.0)
        self.stored.append(body)
        return None  # nobody reads it: the client was answered long ago

    def statistics(self) -> dict[str, int]:
        return {"writes": len(self.stored)}

    def close(self) -> None:
        pass


def test_a_write_past_request_timeout_gets_503(tmp_path: Path) -> None:
    from litestar.testing import TestClient

    engine = SlowEngine()
    app = create_app(lambda: engine, ApiSettings(request_timeout=0.2))  # type: ignore[arg-type, return-value]
    with TestClient(app) as client:  # type: ignore[arg-type]
        while client.get("/ready").status_code != 200:
            time.sleep(0.01)
        response = client.post("/write", content=LINE)
        assert response.status_code == 503
        error = response.json()["error"]
        assert error.startswith("the write timed out after 0.2 s") and "may still complete" in error
        time.sleep(1.2)
        assert engine.stored == [LINE]
        assert 'rusts_http_requests_total{route="/write",method="POST",status="503"} 1' in client.get("/metrics").text


# --- SQL statements over HTTP ---------------------------------------------------------------------------------


def test_sql_statements_on_the_real_server(tmp_path: Path, servers: list[RustsServer]) -> None:
    server = RustsServer(tmp_path)
    servers.append(server)

    def sql(text: str, path: str = "/sql") -> tuple[int, Any]:
        status, body, _ = server.exchange("POST", path, json.dumps({"query": text}).encode())
        return status, body

    status, body = sql("INSERT INTO m (time, host, v) VALUES (1000, 'a', 1.5), (2000, 'a', 4), (3000, 'b', 2)")
    assert (status, body) == (200, {"columns": [], "rows": [], "tag": "INSERT 0 3"})
    status, body = sql("SELECT host, SUM(v) / COUNT(*) AS mean, MAX(v) - MIN(v) AS spread FROM m "
                       "GROUP BY host HAVING COUNT(*) > 1 ORDER BY 2 DESC")
    assert status == 200 and body["rows"] == [["a", 2.75, 2.5]]
    assert body["columns"] == [{"name": "host", "type": "string"}, {"name": "mean", "type": "float"},
                               {"name": "spread", "type": "float"}]
    status, body = sql("SELECT time, v * 2 AS twice FROM m ORDER BY twice DESC LIMIT 2", "/query?epoch=ns")
    assert status == 200 and body["rows"] == [[2000, 8.0], [3000, 4.0]]
    status, body = sql("SELECT v / 0 FROM m")
    assert (status, body) == (400, {"error": "division by zero"})
    assert sql("DELETE FROM m WHERE host = 'b'") == (200, {"columns": [], "rows": [], "tag": "DELETE 1"})
    assert sql("SELECT COUNT(*) FROM m")[1]["rows"] == [[2]]
    assert sql("DROP MEASUREMENT m") == (200, {"columns": [], "rows": [], "tag": "DROP MEASUREMENT"})
    status, body = sql("SELECT * FROM m")
    assert status == 400 and body["error"] == "unknown measurement 'm'"


def test_rfc3339_in_bulk_is_rfc3339_of_each() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from rusts.api.router import rfc3339, rfc3339_many

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.none() | st.integers(-(1 << 63) + 1, (1 << 63) - 1), max_size=30))
    def check(values: list[int | None]) -> None:
        assert rfc3339_many(values) == [None if v is None else rfc3339(v) for v in values]

    check()


# --- InfluxDB 1.x tools: /ping and /query?q= ------------------------------------------------------


def test_influxdb_tools_ping_and_create_their_database(tmp_path: Path, servers: list[RustsServer]) -> None:
    import urllib.parse
    import urllib.request

    server = RustsServer(tmp_path, auth=f"{{enabled: true, jwt_secret: {SECRET}, token_expiration: 3600}}")
    servers.append(server)
    bearer = {"Authorization": f"Bearer {issue_token(SECRET, 'telegraf', 60)}"}
    status, body, headers = server.exchange("GET", "/ping")  # open without credentials, as in InfluxDB
    assert (status, body, headers["x-influxdb-version"]) == (204, None, "1.8.10")
    assert headers["x-influxdb-build"].startswith("RusTs ")
    assert server.exchange("GET", "/ping?verbose=true")[:2] == (200, {"version": "1.8.10"})
    with urllib.request.urlopen(urllib.request.Request(server.url("/ping"), method="HEAD"), timeout=30) as answer:
        assert answer.status == 204
    # Telegraf's start-up: CREATE DATABASE in the query string of a POST, then writes to ?db=
    assert server.request("POST", '/query?q=CREATE+DATABASE+"telegraf"')[0] == 401  # /query needs the token
    status, body, _ = server.exchange("POST", '/query?q=CREATE+DATABASE+"telegraf"', headers=bearer)
    assert (status, body) == (200, {"results": [{"statement_id": 0}]})
    assert server.exchange("POST", "/write?db=telegraf", LINE, headers=bearer)[0] == 204
    form = urllib.parse.urlencode({"q": "SHOW MEASUREMENTS; SELECT mean(v) FROM cpu"}).encode()
    status, body, _ = server.exchange(
        "POST", "/query", form, headers={**bearer, "Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 200
    shown, refused = body["results"]
    assert shown == {"statement_id": 0, "series": [{"name": "measurements", "columns": ["name"], "values": [["cpu"]]}]}
    assert refused["statement_id"] == 1 and "RusTs answers SQL, not InfluxQL" in refused["error"]
    status, body, _ = server.exchange("GET", "/query?q=SHOW+DATABASES", headers=bearer)
    assert body["results"][0]["series"][0]["values"] == [["rusts"]]
    # the JSON query and SQL bodies of POST /query are unchanged
    status, body, _ = server.exchange("POST", "/query", json.dumps({"query": "SELECT v FROM cpu"}).encode(), headers=bearer)
    assert (status, body["rows"]) == (200, [[1.5]])
