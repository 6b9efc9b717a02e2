"""POST /write/arrow against a real server: Arrow IPC streams in, rows back out by SQL; bad bodies
refused whole with the reason; rows acknowledged survive kill -9."""

import decimal
import gzip
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pyarrow as pa
import pytest

from servers import ARROW_STREAM, RustsServer
from servers import arrow_stream as ipc

T0 = 1_700_000_000_000_000_000


def post(server: RustsServer, body: bytes, headers: dict[str, str] | None = None, **params: str) -> tuple[int, Any]:
    return server.request("POST", "/write/arrow?" + urlencode(params), body, {**ARROW_STREAM, **(headers or {})})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RustsServer]:
    running = RustsServer(tmp_path_factory.mktemp("arrow"))
    yield running
    running.stop()


def test_every_arrow_type_the_importer_maps_is_stored_and_read_back(server: RustsServer) -> None:
    table = pa.table({
        "time": pa.array([T0, T0 + 1_000, T0 + 2_000], pa.timestamp("ns", "UTC")),
        "host": pa.array(["a", "b", "a"]).dictionary_encode(),
        "region": ["eu", None, "eu"],
        "f": [1.5, None, -2.25],
        "i": pa.array([1, -2, 3], pa.int16()),
        "u": pa.array([2**63 + 5, 0, 7], pa.uint64()),
        "b": [True, False, None],
        "s": ["x", "y\\\"z", "w"],
        "d": pa.array([decimal.Decimal("1.25"), None, decimal.Decimal("-3.5")], pa.decimal128(6, 2)),
        "at": pa.array([5, None, 6], pa.timestamp("s")),
    })
    status, answer = post(server, ipc(*table.to_batches()), measurement="types", tags="host,region")
    assert status == 200, answer
    assert answer == {"written": 3, "skipped_no_time": 0, "skipped_no_fields": 0, "same_time": 0}
    rows = server.sql("SELECT time, host, region, f, i, u, b, s, d, at FROM types ORDER BY time")["rows"]
    assert rows == [
        [T0, "a", "eu", 1.5, 1, 2**63 + 5, True, "x", 1.25, 5_000_000_000],
        [T0 + 1_000, "b", None, None, -2, 0, False, "y\\\"z", None, None],
        [T0 + 2_000, "a", "eu", -2.25, 3, 7, None, "w", -3.5, 6_000_000_000],
    ]
    kinds = {c["name"]: c["type"] for c in server.sql("SELECT * FROM types LIMIT 1")["columns"]}
    assert (kinds["f"], kinds["i"], kinds["u"], kinds["b"], kinds["s"], kinds["d"]) == (
        "float", "integer", "unsigned", "boolean", "string", "float")


def test_several_batches_integer_times_and_skipped_rows_are_counted(server: RustsServer) -> None:
    first = pa.record_batch({"ms": pa.array([1, 2, None], pa.int64()), "sensor": ["s1", "s2", "s1"], "v": [1.0, None, 3.0]})
    second = pa.record_batch({"ms": pa.array([4, 5], pa.int64()), "sensor": ["s2", "s2"], "v": [float("nan"), 5.0]})
    status, answer = post(server, ipc(first, second), measurement="batches", tags="sensor",
                          timestamp_column="ms", timestamp_unit="ms")
    assert status == 200, answer
    # Row 2 has no field (v null), row 3 no time, row 4 only a NaN: three skipped, two stored.
    assert answer == {"written": 2, "skipped_no_time": 1, "skipped_no_fields": 2, "same_time": 0}
    assert server.sql("SELECT time, sensor, v FROM batches ORDER BY time")["rows"] == [
        [1_000_000, "s1", 1.0], [5_000_000, "s2", 5.0]]


def test_repeated_times_merge_or_are_kept_apart_with_unique_time(server: RustsServer) -> None:
    batch = pa.record_batch({"time": pa.array([T0, T0, T0], pa.timestamp("ns")), "v": [1.0, 2.0, 3.0]})
    status, answer = post(server, ipc(batch), measurement="merged")
    assert status == 200 and answer["same_time"] == 2 and answer["written"] == 3
    assert server.sql("SELECT time, v FROM merged")["rows"] == [[T0, 3.0]]
    status, answer = post(server, ipc(batch), measurement="apart", unique_time="true")
    assert status == 200, answer
    assert server.sql("SELECT time, v FROM apart ORDER BY time")["rows"] == [[T0, 1.0], [T0 + 1, 2.0], [T0 + 2, 3.0]]


def test_a_gzip_encoded_body_is_inflated(server: RustsServer) -> None:
    batch = pa.record_batch({"time": pa.array([T0], pa.timestamp("ns")), "v": [9.0]})
    status, answer = post(server, gzip.compress(ipc(batch)), {"Content-Encoding": "gzip"}, measurement="zipped")
    assert status == 200, answer
    assert server.sql("SELECT v FROM zipped")["rows"] == [[9.0]]


@pytest.mark.parametrize(
    ("body", "params", "reason"),
    [
        (b"not arrow at all", {"measurement": "bad"}, "is not an Arrow IPC stream"),
        ("truncated", {"measurement": "bad"}, "is not an Arrow IPC stream"),
        ("compressed", {"measurement": "bad"}, "buffers are compressed"),
        ("good", {}, "measurement query parameter is required"),
        ("good", {"measurement": "bad", "tag": "host"}, "unknown query parameter 'tag'"),
        ("good", {"measurement": "bad", "tags": "nope"}, "no column 'nope'"),
        ("good", {"measurement": "bad", "timestamp_unit": "days"}, "unknown --timestamp-unit 'days'"),
        ("good", {"measurement": "bad", "timestamp_column": "host"}, "timestamp column 'host' has type string"),
        ("good", {"measurement": "bad", "unique_time": "maybe"}, "unique_time='maybe'"),
    ],
)
def test_a_bad_body_or_parameter_stores_nothing_and_says_why(server: RustsServer, body: Any, params: dict[str, str], reason: str) -> None:
    good = ipc(pa.record_batch({"time": pa.array([T0], pa.timestamp("ns")), "host": ["h"], "v": [1.0]}))
    payload = {"good": good, "truncated": good[: len(good) - 20],
               "compressed": ipc(pa.record_batch({"time": pa.array([T0], pa.timestamp("ns")), "v": [1.0]}), compression="zstd"),
               }.get(body, body) if isinstance(body, str) else body
    status, answer = post(server, payload, **params)
    assert status == 400, answer
    assert reason in answer["error"] and "nothing from this request was stored" in answer["error"], answer
    measurements = [row[0] for row in server.sql("SHOW MEASUREMENTS")["rows"]]
    assert "bad" not in measurements
    assert server.request("GET", "/health")[0] == 200


def test_a_field_of_another_kind_than_stored_is_refused_row_by_row(server: RustsServer) -> None:
    assert post(server, ipc(pa.record_batch({"time": pa.array([T0], pa.timestamp("ns")), "v": [1.0]})), measurement="kinds")[0] == 200
    batch = pa.record_batch({
        "time": pa.array([None, T0 + 1, T0 + 2, T0 + 3], pa.timestamp("ns")),
        "v": pa.array([7, 8, None, 9], pa.int64()),
        "w": [1.0, 2.0, 3.0, 4.0],
    })
    status, answer = post(server, ipc(batch), measurement="kinds")
    assert status == 400 and answer["error"].startswith("partial write: 2 row(s) rejected"), answer
    # Rows are numbered as in the body: row 1 had no time, rows 2 and 4 carry the integer v.
    assert [r["row"] for r in answer["rejected"]] == [2, 4]
    assert "field 'v' of measurement 'kinds' is float, got integer" in answer["rejected"][0]["error"]
    assert answer["written"] == 1
    assert server.sql("SELECT time, v, w FROM kinds ORDER BY time")["rows"] == [[T0, 1.0, None], [T0 + 2, None, 3.0]]


def test_acknowledged_arrow_rows_survive_kill_9(tmp_path: Path) -> None:
    server = RustsServer(tmp_path, durability="every_write")
    sent = 0
    try:
        for part in range(20):
            times = pa.array([T0 + part * 1000 + i for i in range(500)], pa.timestamp("ns"))
            batch = pa.record_batch({"time": times, "host": [f"h{i % 7}" for i in range(500)], "v": [float(i) for i in range(500)]})
            status, answer = post(server, ipc(batch), measurement="durable", tags="host")
            assert status == 200, answer
            sent += answer["written"]
        server.stop(signal.SIGKILL)
        server = RustsServer(tmp_path, durability="every_write")
        assert server.sql("SELECT count(v) FROM durable")["rows"] == [[sent]]
        assert server.sql("SELECT count(DISTINCT host) FROM durable")["rows"] == [[7]]
    finally:
        server.stop()


def test_mangled_bodies_are_refused_and_the_server_keeps_serving(server: RustsServer) -> None:
    """Random byte changes and truncations of a valid stream: each answer is 200 or a 400 naming the
    problem, never a 500 or a dead server; what was stored before is still there."""
    import random

    assert post(server, ipc(pa.record_batch({"time": pa.array([T0], pa.timestamp("ns")), "v": [4.0]})), measurement="kept")[0] == 200
    batch = pa.record_batch({
        "time": pa.array([T0, T0 + 1, T0 + 2], pa.timestamp("ns")), "host": pa.array(["a", "b", "a"]).dictionary_encode(),
        "s": ["x", "yy", "zzz"], "v": [1.0, 2.0, 3.0], "n": pa.array([1, None, 3], pa.int32()),
    })
    good = ipc(batch)
    rng = random.Random(11)
    answers: dict[int, int] = {}
    for _ in range(300):
        body = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            body[rng.randrange(len(body))] = rng.randrange(256)
        if rng.random() < 0.2:
            body = body[: rng.randrange(len(body))]
        status, answer = post(server, bytes(body), measurement="mangled", tags="host")
        assert status in (200, 400), (status, answer)
        if status == 400:
            assert answer["error"], answer
        answers[status] = answers.get(status, 0) + 1
    assert answers.get(400, 0) > 100
    assert server.sql("SELECT v FROM kept")["rows"] == [[4.0]]
