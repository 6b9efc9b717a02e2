"""Continuous aggregates in a real server: defined in rusts.yml, over REST and in SQL; refreshed
in the background from new writes; kept across a restart and across kill -9."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from servers import PACKAGE_ROOT, free_port

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
T0 = 1_700_000_000 * SECOND // MINUTE * MINUTE
HOURLY = "SELECT time_bucket('1h', time) AS time, host, sum(v) AS s, count(v) AS n FROM cpu GROUP BY 1, 2"
MINUTELY = "SELECT time_bucket('1m', time) AS time, host, avg(v) AS m, max(v) AS hi FROM cpu GROUP BY 1, 2"


class Server:
    def __init__(self, directory: Path, extra: str = "") -> None:
        self.port = free_port()
        config = directory / "rusts.yml"
        config.write_text(
            f"server: {{host: 127.0.0.1, port: {self.port}}}\n"
            f"storage: {{data_dir: '{directory / 'data'}', wal_durability: every_write, "
            f"aggregates: {{refresh_interval_ms: 100, definitions: {{cpu_1h: \"{HOURLY}\"}}}}{extra}}}\n"
            "postgres: {enabled: false}\n"
            "logging: {level: warn}\n"
        )
        env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rusts.server.cli", "--config", str(config)],
            cwd=directory, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stdout.read().decode() if self.process.stdout else ""
            try:
                if self.request("GET", "/ready")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the server did not become ready")

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body, method=method)
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                payload = response.read()
                return response.status, json.loads(payload) if payload else None
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            return exc.code, json.loads(payload) if payload else None

    def sql(self, text: str) -> Any:
        status, body = self.request("POST", "/sql?epoch=ns", json.dumps({"query": text}).encode())
        assert status == 200, body
        return body

    def write(self, lines: list[str]) -> None:
        status, body = self.request("POST", "/write", "\n".join(lines).encode())
        assert status == 204, body

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=60)


def rows_of(answer: Any) -> dict[tuple[Any, ...], list[Any]]:
    return {(row[0], row[1]): row[2:] for row in answer["rows"]}


def wait_until_equal(server: Server, name: str, query: str) -> dict[tuple[Any, ...], list[Any]]:
    """Poll until the background refresher has caught up (the test asserts equality, not time)."""
    deadline = time.monotonic() + 60
    while True:
        expected = rows_of(server.sql(query))
        fields = "s, n" if query == HOURLY else "m, hi"
        got = rows_of(server.sql(f"SELECT time, host, {fields} FROM {name}")) if name in _measurements(server) else {}
        if got == expected or time.monotonic() > deadline:
            assert got == expected
            return got
        time.sleep(0.1)


def _measurements(server: Server) -> set[str]:
    return {row[0] for row in server.sql("SHOW MEASUREMENTS")["rows"]}


def points(start: int, count: int, step: int = 7 * SECOND) -> list[str]:
    return [f"cpu,host=h{i % 3} v={(i * 37) % 101 - 50.5} {start + i * step}" for i in range(count)]


def test_aggregates_from_config_rest_and_sql_refresh_in_the_background(tmp_path: Path) -> None:
    server = Server(tmp_path)
    try:
        server.write(points(T0, 2000))
        assert len(wait_until_equal(server, "cpu_1h", HOURLY)) >= 9  # 2000 x 7 s over 3 hosts

        status, created = server.request("POST", "/aggregates", json.dumps({"name": "cpu_1m", "query": MINUTELY}).encode())
        assert status == 201, created
        status, again = server.request("POST", "/aggregates", json.dumps({"name": "cpu_1m", "query": MINUTELY}).encode())
        assert status == 409 and "already exists" in again["error"]
        status, bad = server.request("POST", "/aggregates", json.dumps({"name": "x", "query": "SELECT v FROM cpu"}).encode())
        assert status == 400 and "time bucket" in bad["error"]
        status, listed = server.request("GET", "/aggregates")
        assert [a["name"] for a in listed["aggregates"]] == ["cpu_1h", "cpu_1m"]
        assert listed["aggregates"][1]["query"] == MINUTELY

        # New, late and overwriting points and a delete; the refresher catches up on its own.
        server.write(points(T0 + 4 * 3600 * SECOND, 300))
        server.write([f"cpu,host=h1 v=1000.25 {T0 + 5 * SECOND}", f"cpu,host=h9 v=3 {T0 + 3600 * SECOND}"])
        server.sql(f"DELETE FROM cpu WHERE host = 'h2' AND time >= {T0 + 600 * SECOND} AND time < {T0 + 1200 * SECOND}")
        hourly = wait_until_equal(server, "cpu_1h", HOURLY)
        wait_until_equal(server, "cpu_1m", MINUTELY)
        shown = server.sql("SHOW CONTINUOUS AGGREGATES")["rows"]
        assert [row[0] for row in shown] == ["cpu_1h", "cpu_1m"]
        assert server.stop() == 0

        # Restart: both are restored (one from rusts.yml, one from the data directory).
        server = Server(tmp_path)
        assert rows_of(server.sql("SELECT time, host, s, n FROM cpu_1h")) == hourly
        server.write(points(T0 + 30 * SECOND, 50, 60 * SECOND))
        wait_until_equal(server, "cpu_1m", MINUTELY)
        wait_until_equal(server, "cpu_1h", HOURLY)
        status, _ = server.request("DELETE", "/aggregates/cpu_1m")
        assert status == 204
        status, missing = server.request("DELETE", "/aggregates/cpu_1m")
        assert status == 404 and "does not exist" in missing["error"]
        assert "cpu_1m" not in _measurements(server)
    finally:
        server.stop()


def test_kill_9_between_writes_and_refresh_loses_no_bucket(tmp_path: Path) -> None:
    # A slow refresher (one per minute after the one at start) so that the kill comes between
    # acknowledged writes and their refresh.
    server = Server(tmp_path, extra="")
    try:
        server.write(points(T0, 500))
        wait_until_equal(server, "cpu_1h", HOURLY)
    finally:
        assert server.stop() == 0
    config = (tmp_path / "rusts.yml").read_text().replace("refresh_interval_ms: 100", "refresh_interval_ms: 600000")
    (tmp_path / "rusts.yml").write_text(config)
    server = _restart_with_config(tmp_path)
    server.write(points(T0 + 3 * SECOND, 400, 11 * SECOND))
    server.write([f"cpu,host=late v=1 {T0 - 3600 * SECOND}"])
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    server = _restart_with_config(tmp_path)
    try:
        # The refresh at start finds the acknowledged writes in the WAL after the watermark.
        wait_until_equal(server, "cpu_1h", HOURLY)
    finally:
        server.stop()


def _restart_with_config(directory: Path) -> Server:
    """A Server on the rusts.yml already in `directory` (its port kept)."""
    server = Server.__new__(Server)
    text = (directory / "rusts.yml").read_text()
    server.port = int(text.split("port: ")[1].split("}")[0])
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    server.process = subprocess.Popen(
        [sys.executable, "-m", "rusts.server.cli", "--config", str(directory / "rusts.yml")],
        cwd=directory, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if server.request("GET", "/ready")[0] == 200:
                return server
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the server did not become ready")


def test_kill_9_after_a_refresh_keeps_the_materialized_rows_logged(tmp_path: Path) -> None:
    """Refreshes write their rows as columnar WAL records: after a kill -9 (nothing flushed)
    `rusts wal tail` prints them as line protocol, and the restarted server has them."""
    server = Server(tmp_path)
    server.write(points(T0, 600))
    expected = wait_until_equal(server, "cpu_1h", HOURLY)
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    tail = subprocess.run(
        [sys.executable, "-m", "rusts.server.cli", "wal", "tail", "--config", str(tmp_path / "rusts.yml")],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=True,
    ).stdout.splitlines()
    logged = {}
    for line in tail:
        if line.startswith("cpu_1h,"):
            series, fields, stamp = line.split(" ")
            values = dict(item.split("=") for item in fields.split(","))
            logged[(int(stamp), series.split("host=")[1])] = [float(values["s"]), int(values["n"].rstrip("i"))]
    assert logged == expected
    config = (tmp_path / "rusts.yml").read_text().replace("refresh_interval_ms: 100", "refresh_interval_ms: 600000")
    (tmp_path / "rusts.yml").write_text(config)
    server = _restart_with_config(tmp_path)
    try:
        assert server.request("GET", "/stats")[1]["replayed_records"] >= 2
        assert rows_of(server.sql("SELECT time, host, s, n FROM cpu_1h")) == expected
    finally:
        server.stop()
