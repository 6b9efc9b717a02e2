"""Retention in a real server process: the pass at start drops, cools and warms partitions by
their age on the wall clock; /stats and SHOW RETENTION POLICIES report them; answers over the
kept range do not change; the config refuses bad retention keys naming them."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from rusts.api.line_protocol import engine_parser
from rusts.core.errors import ConfigError
from rusts.config.file import parse_config
from rusts.storage.engine import EngineOptions, StorageEngine
from servers import PACKAGE_ROOT, free_port

SECOND = 1_000_000_000
DAY = 86_400 * SECOND


def request(port: int, method: str, path: str, body: bytes | None = None) -> Any:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method)
    with urllib.request.urlopen(req, timeout=60) as response:
        payload = response.read()
        return json.loads(payload) if payload else None


def sql(port: int, text: str) -> Any:
    return request(port, "POST", "/sql?epoch=ns", json.dumps({"query": text}).encode())


def start_server(directory: Path, retention: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = directory / "rusts.yml"
    config.write_text(
        f"server: {{host: 127.0.0.1, port: {port}}}\n"
        f"storage: {{data_dir: '{directory / 'data'}', retention: {retention}}}\n"
        "postgres: {enabled: false}\n"
        "logging: {level: warn}\n"
    )
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    process = subprocess.Popen(
        [sys.executable, "-m", "rusts.server.cli", "--config", str(config)],
        cwd=directory, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        try:
            if request(port, "GET", "/ready")["status"] == "ready":
                return process, port
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the server did not become ready")


def wait_for_pass(port: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stats = request(port, "GET", "/stats")
        if stats["retention"]["passes"] >= 1:
            return dict(stats)
        time.sleep(0.1)
    raise AssertionError("no retention pass ran at start")


def test_the_pass_at_start_drops_cools_and_warms_by_age(tmp_path: Path) -> None:
    today = time.time_ns() // DAY * DAY
    ages = {"old": 40, "cold": 10, "warm": 3, "new": 0}
    engine = StorageEngine.open(EngineOptions(str(tmp_path / "data")), engine_parser)
    lines = []
    for name, days in ages.items():
        day = today - days * DAY
        lines += [f"cpu,age={name} v={i}.25,n={i}i {day + i * 600 * SECOND}" for i in range(100)]
        lines += [f"logs,age={name} v={i} {day + i * 600 * SECOND}" for i in range(100)]
    engine.write_line_protocol("\n".join(lines).encode())
    engine.close()

    cold_dir = tmp_path / "slow"
    retention = f"{{default: 30d, measurements: {{logs: 5d}}, warm_after: 2d, cold_after: 7d, cold_dir: '{cold_dir}'}}"
    process, port = start_server(tmp_path, retention)
    try:
        stats = wait_for_pass(port)
        tiers = {p["start"]: p["tier"] for p in stats["retention"]["partitions"]}
        assert tiers == {today - 10 * DAY: "cold", today - 3 * DAY: "warm", today: "hot"}  # 40 days: dropped
        assert (stats["partitions_cold"], stats["partitions_warm"], stats["partitions_hot"]) == (1, 1, 1)
        assert stats["bytes_cold"] == stats["retention"]["bytes_per_tier"]["cold"] > 0
        assert stats["retention"]["last_pass"]["dropped_partitions"] == 1
        assert stats["retention"]["last_pass"]["deleted_measurement_windows"] == 1  # logs, 10 days ago
        assert os.listdir(cold_dir / "partitions") == [f"p{today - 10 * DAY}_{DAY}"]

        ages_left = sql(port, "SELECT age, count(v) FROM cpu GROUP BY age")
        assert {row[0]: row[1] for row in ages_left["rows"]} == {"cold": 100, "new": 100, "warm": 100}
        logs = sql(port, "SELECT age, count(v) FROM logs GROUP BY age")
        assert {row[0]: row[1] for row in logs["rows"]} == {"new": 100, "warm": 100}
        cpu = sql(port, "SELECT sum(v), max(n) FROM cpu")
        assert cpu["rows"] == [[3 * sum(i + 0.25 for i in range(100)), 99]]

        shown = sql(port, "SHOW RETENTION POLICIES")
        assert shown["rows"] == [["*", "30d", "2d", "1w"], ["logs", "5d", "2d", "1w"]]
        partitions = sql(port, "SHOW PARTITIONS")
        assert [row[2] for row in partitions["rows"]] == ["cold", "warm", "hot"]
        assert partitions["rows"][0][5].startswith(str(cold_dir))
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0

    # After a restart the tiers and answers are the same, and the next pass has nothing to do.
    process, port = start_server(tmp_path, retention)
    try:
        stats = wait_for_pass(port)
        assert {p["start"]: p["tier"] for p in stats["retention"]["partitions"]} == tiers
        assert stats["retention"]["last_pass"]["tiered_partitions"] == 0
        assert sql(port, "SELECT sum(v), max(n) FROM cpu")["rows"] == cpu["rows"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("storage: {retention: {default: 30}}", "storage.retention.default", "a duration such as 30d"),
        ("storage: {retention: {warm_after: 1y}}", "storage.retention.warm_after", 'got the string "1y"'),
        ("storage: {retention: {measurements: {cpu: 0d}}}", "storage.retention.measurements.cpu", "a duration such as 30d"),
        ("storage: {retention: {warm_after: 3d, cold_after: 1d}}", "storage.retention.cold_after", "shorter than storage.retention.warm_after (3d)"),
        ("storage: {retention: {cold_dir: ./data}}", "storage.retention.cold_dir", "must not be storage.data_dir"),
        ("storage: {retention: {cold_zstd_level: 30}}", "storage.retention.cold_zstd_level", "from 1 to 22"),
        ("storage: {retention: {keep: 1d}}", "storage.retention.keep", "unknown key"),
    ],
)
def test_bad_retention_config_names_the_key(text: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "rusts.yml")
    message = str(caught.value)
    assert f"rusts.yml: {key}:" in message and words in message, message


def test_retention_config_decodes() -> None:
    config = parse_config("storage: {retention: {default: 30d, measurements: {cpu: null, mem: 2w}, cold_after: 9d}}", "x.yml")
    assert config.storage.retention.default == "30d" and config.storage.retention.measurements == {"cpu": None, "mem": "2w"}
    assert (config.storage.retention.warm_after, config.storage.retention.cold_after) == ("2d", "9d")
