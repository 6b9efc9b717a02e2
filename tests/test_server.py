"""The real server process: writes over HTTP, probes, clean stop and kill -9, then the data on disk."""

import gzip
import http.client
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

import rusts
from rusts.api.line_protocol import engine_parser
from rusts.core.hashing import series_key
from rusts.storage.engine import EngineOptions, StorageEngine
from servers import PACKAGE_ROOT, RustsServer, free_port

def start_server(directory: Path) -> RustsServer:
    """A server that syncs every write and takes bodies up to 1 MB."""
    return RustsServer(directory, durability="every_write", server_extra=", max_body_size: 1000000")


def oversized_status(port: int, length: int) -> int:
    """Announce a body over max_body_size; the server refuses before reading it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.putrequest("POST", "/write")
    connection.putheader("Content-Length", str(length))
    connection.endheaders()
    status = connection.getresponse().status
    connection.close()
    return status


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RustsServer]:
    running = start_server(tmp_path)
    yield running
    if running.process.poll() is None:
        running.stop(signal.SIGKILL)


def stored(data_dir: Path, measurement: str, tags: list[tuple[str, str]], field: str) -> dict[int, object]:
    engine = StorageEngine.open(EngineOptions(str(data_dir)), engine_parser)
    try:
        series_id = engine.index.id_of(series_key(measurement, tags))
        assert series_id is not None
        data = engine.read_series(series_id)
        assert data is not None
        column = data.columns[field]
        return {
            int(ts): (column.values[i].item() if hasattr(column.values[i], "item") else column.values[i])
            for i, ts in enumerate(data.timestamps.tolist())
            if column.present is None or column.present[i]
        }
    finally:
        engine.close()


def test_health_ready_and_writes(server: RustsServer) -> None:
    assert server.request("GET", "/health") == (200, {"status": "ok", "version": rusts.__version__})
    assert server.request("POST", "/write?db=x&precision=s", b"cpu,host=a v=1.5 10\ncpu,host=a v=2.5 20\n")[0] == 204
    assert server.request("POST", "/api/v2/write?bucket=b&org=o&precision=ms", b"cpu,host=b w=7i 30")[0] == 204
    status, body = server.request("POST", "/write", b"cpu,host=a v=3.5 30000000000\ncpu,host=a v=oops 4\nnot a line\n")
    assert status == 400
    assert body["written"] == 1
    assert [r["line"] for r in body["rejected"]] == [2, 3]
    assert "invalid field value 'oops'" in body["rejected"][0]["error"]
    gz = gzip.compress(b"cpu,host=a v=4.5 40000000000")
    assert server.request("POST", "/write", gz, {"Content-Encoding": "gzip"})[0] == 204
    assert server.request("POST", "/write", b"not gzip", {"Content-Encoding": "gzip"})[0] == 400
    assert server.request("POST", "/write?precision=h", b"cpu v=1")[0] == 400
    assert server.request("POST", "/write", b"\xff\xfe bad utf8 v=1 1")[0] == 400
    assert oversized_status(server.port, 2_000_000) == 413
    status, stats = server.request("GET", "/stats")
    assert status == 200 and stats["series"] == 2 and stats["points_written"] == 5
    assert server.stop() == 0
    assert stored(server.data_dir, "cpu", [("host", "a")], "v") == {
        10 * 10**9: 1.5, 20 * 10**9: 2.5, 30 * 10**9: 3.5, 40 * 10**9: 4.5,
    }


def test_clean_stop_replays_nothing_and_kill_9_loses_nothing(tmp_path: Path) -> None:
    first = start_server(tmp_path)
    lines = "\n".join(f"m,k=v n={i}i {i}" for i in range(1000)).encode()
    assert first.request("POST", "/write", lines)[0] == 204
    assert first.stop() == 0
    second = start_server(tmp_path)
    assert second.request("GET", "/stats")[1]["replayed_records"] == 0
    assert second.request("POST", "/write", b"m,k=v n=-1i 5000")[0] == 204
    second.stop(signal.SIGKILL)
    third = start_server(tmp_path)
    assert third.request("GET", "/stats")[1]["replayed_records"] == 1
    assert third.stop() == 0
    values = stored(tmp_path / "data", "m", [("k", "v")], "n")
    assert values == {**{i: i for i in range(1000)}, 5000: -1}


def test_wal_tail_prints_the_stored_points(tmp_path: Path) -> None:
    running = start_server(tmp_path)
    body = b'cpu,host=a v=1.5,s="x \\"q\\"" 10\nnot a line\nm\\ x,t=a\\,b u=5u,i=-3i 20'
    assert running.request("POST", "/write", body)[0] == 400
    assert running.stop() == 0
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    out = subprocess.run(
        [sys.executable, "-m", "rusts.server.cli", "wal", "tail", "--from-seq", "1", "--config", str(tmp_path / "rusts.yml")],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=True,
    ).stdout
    assert out.splitlines() == ['cpu,host=a v=1.5,s="x \\"q\\"" 10', "m\\ x,t=a\\,b u=5u,i=-3i 20"]


def test_the_extreme_times_line_protocol_allows_are_stored_and_queried(server: RustsServer) -> None:
    last, first = 2**63 - 2, -(2**63) + 2  # 2262-04-11T23:47:16.854775806Z, 1677-09-21T00:12:43.145224194Z
    # `?precision=` left empty means nanoseconds, as when it is absent
    assert server.request("POST", "/write?precision=", f"edge v=1 {last}\nedge v=2 {first}\nedge v=3 5".encode())[0] == 204
    status, body = server.request("POST", "/write", f"edge v=4 {2**63 - 1}\nedge v=5 {-(2**63)}\nedge v=6 6".encode())
    assert status == 400 and body["written"] == 1 and [r["line"] for r in body["rejected"]] == [1, 2]
    assert "out of range" in body["rejected"][0]["error"]
    status, result = server.request("POST", "/sql", json.dumps({"query": "SELECT time, v FROM edge ORDER BY time"}).encode())
    assert status == 200 and result["rows"] == [
        ["1677-09-21T00:12:43.145224194Z", 2.0], ["1970-01-01T00:00:00.000000005Z", 3.0],
        ["1970-01-01T00:00:00.000000006Z", 6.0], ["2262-04-11T23:47:16.854775806Z", 1.0],
    ], result


def test_query_over_http(server: RustsServer) -> None:
    body = "\n".join(
        f"trips,lic={'A' if i % 3 else 'B'} miles={i}.5,n={i}i {1_761_955_200_000_000_000 + i * 60_000_000_000}"
        for i in range(120)
    ).encode()
    assert server.request("POST", "/write", body)[0] == 204
    post = lambda q, path="/query": server.request("POST", path, json.dumps(q).encode())  # noqa: E731
    status, result = post({"measurement": "trips", "aggregations": [{"function": "count", "field": "*"}]})
    assert status == 200 and result["rows"][0][-1] == 120
    status, result = post({"measurement": "trips", "order": "desc", "limit": 2})
    assert [c["name"] for c in result["columns"]] == ["time", "lic", "miles", "n"]
    assert result["columns"][0]["type"] == "timestamp"
    assert result["rows"][0] == ["2025-11-01T01:59:00.000000000Z", "A", 119.5, 119]
    status, result = post({"measurement": "trips", "order": "desc", "limit": 1}, "/query?epoch=s")
    assert result["rows"][0][0] == 1_761_955_200 + 119 * 60
    status, result = post(
        {
            "measurement": "trips",
            "aggregations": [{"function": "sum", "field": "n"}, {"function": "max", "field": "miles"}],
            "group_by": {"tags": ["lic"], "time": {"interval": 3_600_000_000_000, "offset": 0}},
        }
    )
    expected = {}
    for i in range(120):
        key = ("A" if i % 3 else "B", i // 60)
        total, top = expected.get(key, (0, 0.0))
        expected[key] = (total + i, max(top, i + 0.5))
    got = {(row[1], i % 2): (row[2], row[3]) for i, row in enumerate(result["rows"])}
    assert sorted(got.values()) == sorted(expected.values())
    status, result = post({"measurement": "nope"})
    assert status == 400 and "nope" in result["error"]
    assert server.request("POST", "/query", b"{not json")[0] == 400
    status, result = post({"query": "SELECT COUNT(*) FROM trips"})
    assert status == 200 and result["rows"] == [[120]]
    status, result = post({"query": "SELECT lic, MAX(n) AS top FROM trips GROUP BY lic"}, "/sql")
    assert status == 200 and result["columns"] == [{"name": "lic", "type": "string"}, {"name": "top", "type": "integer"}]
    assert sorted(result["rows"]) == [["A", 119], ["B", 117]]
    status, result = post({"query": "SELECT * FROM trips JOIN x ON true"}, "/sql")
    assert status == 400 and "unknown measurement 'x'" in result["error"]  # joined tables must exist
    assert post({"query": "SHOW MEASUREMENTS"}, "/sql")[1]["rows"] == [["trips"]]


def test_a_second_server_on_the_same_data_dir_exits_with_a_clear_error(server: RustsServer) -> None:
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    config = server.directory / "second.yml"
    config.write_text(
        f"server: {{host: 127.0.0.1, port: {free_port()}}}\n"
        f"storage: {{data_dir: '{server.data_dir}'}}\n"
        f"postgres: {{host: 127.0.0.1, port: {free_port()}}}\n"
    )
    second = subprocess.run(
        [sys.executable, "-m", "rusts.server.cli", "--config", str(config)],
        capture_output=True, text=True, env=env, cwd=server.directory, timeout=60,
    )
    assert second.returncode == 1
    assert "in use by another RusTs process" in second.stderr
    assert server.request("GET", "/ready")[0] == 200


def stalled_request(port: int, request: bytes) -> tuple[bytes, float]:
    """Send part of a request, then nothing: what the server answers, and after how long."""
    import socket
    import time

    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(30)
        sock.sendall(request)
        started = time.monotonic()
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        return answer, time.monotonic() - started


def test_a_client_that_stalls_mid_request_is_answered_408_and_let_go(tmp_path: Path) -> None:
    server = RustsServer(tmp_path, server_extra=", request_timeout: 1")
    try:
        partial_body = b"POST /write HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nstall v=1 1\n"
        for request in (partial_body, b"POST /write HTTP/1.1\r\nHost: x\r\n"):
            answer, waited = stalled_request(server.port, request)
            assert answer.startswith(b"HTTP/1.1 408 ") and b"server.request_timeout" in answer, answer
            assert waited < 20
        # A connection that never sends a byte is closed without an answer.
        assert stalled_request(server.port, b"")[0] == b""
        server.write("after v=2 2")
        assert server.sql("SELECT count(*) FROM after")["rows"] == [[1]]
        assert "stall" not in [row[0] for row in server.sql("SHOW MEASUREMENTS")["rows"]]
    finally:
        assert server.stop() == 0
