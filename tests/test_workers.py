"""Worker processes (rusts.core.workers) and parsing in them (rusts.api.parse_pool): same answers
as in process, failures fall back to in-process parsing, and no worker outlives a killed server."""

import pickle
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from rusts.api import parse_pool
from rusts.core import workers
from rusts.api.line_protocol import engine_parser, parse_in_process, scan_body
from rusts.api.lp_columns import decode, packed_table
from servers import RustsServer


def _body(seed: int, lines: int = 3000) -> bytes:
    """Line protocol with every value type, escapes, strings holding newlines, and bad lines."""
    rng = random.Random(seed)
    out = []
    for i in range(lines):
        host = rng.choice(["a", "b", "c d", "e,f", "g=h"]).replace(" ", "\\ ").replace(",", "\\,").replace("=", "\\=")
        fields = [f"usage={rng.uniform(-1e6, 1e6)!r}", f"n={rng.randint(-2**63, 2**63 - 1)}i", f"u={rng.randint(0, 2**64 - 1)}u"]
        if rng.random() < 0.3:
            fields.append(rng.choice(['s="plain"', 's="with \\"quote\\""', 's="two\nlines"', "ok=true", "ok=F"]))
        line = f"cpu,host={host},dc=d{i % 3} {','.join(rng.sample(fields, len(fields)))} {1_700_000_000_000_000_000 + rng.randint(0, 10**12)}"
        roll = rng.random()
        if roll < 0.02:
            line = "cpu,host=x usage="  # missing value
        elif roll < 0.03:
            line = f"cpu,host=a n={rng.uniform(0, 1)}"  # n changes type in series host=a
        elif roll < 0.04:
            line = "# a comment"
        out.append(line)
    return "\n".join(out).encode()


def _normal(parsed: tuple[list[Any], list[Any]]) -> tuple[list[Any], list[Any]]:
    batches, errors = parsed
    return (
        [
            (
                b.key, b.series_id, b.measurement, b.sorted_tags(), b.timestamps.tolist(), b.lines.tolist(),
                {n: (c.kind, list(c.values), None if c.present is None else c.present.tolist()) for n, c in b.columns.items()},
            )
            for b in batches
        ],
        [(e.line, e.column, e.message) for e in errors],
    )


def test_pooled_parse_equals_in_process(pool: workers.WorkerPool) -> None:
    for seed in range(6):
        body = _body(seed)
        assert len(body) >= parse_pool.MIN_POOLED_BYTES
        pooled = parse_pool.parse(body, 1000, 1_600_000_000_000_000_000, pool)
        assert pooled is not None
        assert _normal(pooled) == _normal(parse_in_process(body, 1000, 1_600_000_000_000_000_000))
        assert pooled[1], "the body holds bad lines"


def test_invalid_utf8_and_empty_answers(pool: workers.WorkerPool) -> None:
    body = _body(7) + b"\ncpu,host=\xff\xfe n=1i 5\n" + b"\n" * 10
    pooled = parse_pool.parse(body, 1, 0, pool)
    assert pooled is not None
    assert _normal(pooled) == _normal(parse_in_process(body, 1, 0))
    blank = b"\n" * 70_000
    assert _normal(parse_pool.parse(blank, 1, 0, pool) or ([], [])) == _normal(parse_in_process(blank, 1, 0))


def test_a_killed_worker_is_replaced_and_its_body_parsed_in_process(pool: workers.WorkerPool) -> None:
    body = _body(11)
    expected = _normal(parse_in_process(body, 1, 0))
    for worker in list(pool._idle.queue):
        worker.process.kill()
        worker.process.wait()
    # Both workers are dead: each is found dead by the body it is given, which falls back.
    assert parse_pool.parse(body, 1, 0, pool) is None
    assert parse_pool.parse(body, 1, 0, pool) is None
    deadline = time.monotonic() + 60
    answer = None
    while answer is None and time.monotonic() < deadline:
        answer = parse_pool.parse(body, 1, 0, pool)
        time.sleep(0.05)
    assert answer is not None, "no replacement worker came up"
    assert _normal(answer) == expected


def test_engine_parser_uses_the_pool_only_for_large_bodies_and_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    class Recording:
        def idle(self) -> int:
            return 0

        def call(self, name: str, body: bytes, *args: Any) -> Any:
            calls.append(len(body))
            return None  # as a pool with no worker ready: the caller parses in process

    monkeypatch.setattr(workers, "shared_pool", lambda: Recording())
    small = b"cpu,host=a n=1i 1"
    big = _body(3)
    assert _normal(engine_parser(small, 1, 0)) == _normal(parse_in_process(small, 1, 0))
    assert _normal(engine_parser(big, 1, 0)) == _normal(parse_in_process(big, 1, 0))
    assert calls == [len(big)]


def test_worker_count_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUSTS_WORKERS", "0")
    assert workers.worker_count() == 0
    monkeypatch.setenv("RUSTS_WORKERS", "3")
    assert workers.worker_count() == 3
    monkeypatch.delenv("RUSTS_WORKERS")
    assert 1 <= workers.worker_count() <= 4


def test_a_task_that_raises_is_left_to_the_caller(pool: workers.WorkerPool) -> None:
    assert pool.call("rusts.api.parse_pool:parse_packed", None, 1, 0) is None
    assert "parse_packed" in pool.failures[-1]
    assert pool.call("os:system", "true") is None  # only functions of the package run
    assert "rusts package" in pool.failures[-1]
    assert parse_pool.parse(_body(1), 1, 0, pool) is not None  # the workers still serve


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout.split()
    return [int(p) for p in found]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False


def test_server_writes_through_workers_and_none_outlives_kill_9(tmp_path: Path) -> None:
    server = RustsServer(tmp_path, durability="every_write")
    try:
        body = _body(5).replace(b"cpu,", b"m,")
        written = set()
        for _ in range(3):  # the first large bodies may be parsed in process while workers start
            status, answer = server.request("POST", "/write", body)
            assert status == 400 and answer["rejected"], answer
            written.add(answer["written"])
            time.sleep(1)
        assert len(written) == 1, "the same body stored a different number of points"
        workers = _children(server.process.pid)
        assert len(workers) >= 1, "no parse worker was started"
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(p) for p in workers), "a parse worker outlived its server"
    finally:
        server.stop()
    # What was acknowledged is there after the restart (three writes of the same points: one copy each).
    server = RustsServer(tmp_path, durability="every_write")
    try:
        rows = server.sql("SELECT count(*) FROM m")["rows"]
        assert rows[0][-1] == written.pop()
    finally:
        server.stop()


def test_a_segment_encoded_by_a_worker_is_the_same_file(pool: workers.WorkerPool, tmp_path: Path) -> None:
    import numpy as np

    from rusts.core.kinds import KIND_FLOAT, KIND_INTEGER, KIND_STRING
    from rusts.storage.columns import Column, SeriesData
    from rusts.storage.segment import SegmentReader
    from rusts.storage.segment_write import write_segment

    rng = np.random.default_rng(3)
    series = []
    for series_id in (5, 9, 12):
        times = np.cumsum(rng.integers(1, 10**9, 30_000)).astype(np.int64)
        present = rng.random(30_000) < 0.8
        series.append(SeriesData(series_id, times, {
            "f": Column(KIND_FLOAT, rng.normal(size=30_000).round(2)),
            "i": Column(KIND_INTEGER, rng.integers(-10**6, 10**6, 30_000), present),
            "s": Column(KIND_STRING, [f"v{x}" for x in rng.integers(0, 7, 30_000).tolist()]),
        }))
    pooled, local = str(tmp_path / "pooled.seg"), str(tmp_path / "local.seg")
    written = pool.call("rusts.storage.segment_write:write_segment_at", pooled, series, "zstd", 3)
    assert written is not None
    info, temporary = written
    assert info.point_count == 90_000 and not Path(pooled).exists()  # the caller makes it live
    assert temporary.startswith(pooled + ".") and temporary.endswith(".tmp")
    Path(temporary).rename(pooled)
    write_segment(local, series, outer="zstd", zstd_level=3)
    assert Path(pooled).read_bytes() == Path(local).read_bytes()
    assert SegmentReader.open(pooled).read(9, None, 0, 2**62) is not None


def _by_series(parsed: tuple[list[Any], list[Any]]) -> dict[str, Any]:
    """Rows per series in line order, whatever the number of batches each came in."""
    import numpy as np

    rows: dict[str, list[Any]] = {}
    for b in parsed[0]:
        for i, line in enumerate(b.lines.tolist()):
            fields = {
                n: (c.kind, c.values[i] if isinstance(c.values, list) else c.values[i].item())
                for n, c in b.columns.items() if c.present is None or bool(np.asarray(c.present)[i])
            }
            rows.setdefault(b.key, []).append((line, int(b.timestamps[i]), fields))
    return {key: sorted(found, key=lambda row: row[0]) for key, found in rows.items()}


def _clean_body(seed: int, lines: int) -> bytes:
    rng = random.Random(seed)
    out = []
    for i in range(lines):
        text = rng.choice(['"plain"', '"two\nlines"', '"with \\"quote\\""', '"x"'])
        out.append(f"cpu,host=h{rng.randint(0, 40)} usage={rng.random()!r},n={i}i,s={text} {1_700_000_000_000_000_000 + i}")
    return "\n".join(out).encode()


def test_a_large_body_is_cut_into_parts_parsed_at_once(pool: workers.WorkerPool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse_pool, "SPLIT_MIN_BYTES", 64 * 1024)
    body = _clean_body(1, 8000)
    assert len(body) >= 2 * 64 * 1024
    calls: list[int] = []
    many = pool.call_many

    def recording(name: str, argument_tuples: list[tuple[Any, ...]]) -> Any:
        calls.append(len(argument_tuples))
        return many(name, argument_tuples)

    monkeypatch.setattr(pool, "call_many", recording)
    split = parse_pool.parse(body, 1, 0, pool)
    assert calls == [2], "the body was not cut"
    assert split is not None and not split[1]
    whole = parse_in_process(body, 1, 0)
    assert _by_series(split) == _by_series(whole)
    assert len(split[0]) > len(whole[0])  # series in both parts come back twice


def test_a_cut_inside_a_quoted_string_falls_back_to_the_whole_body(pool: workers.WorkerPool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse_pool, "SPLIT_MIN_BYTES", 64 * 1024)
    long_string = "a\n" * 60_000  # one value of 120 KB spanning the middle of the body
    body = (f'm,host=a s="{long_string}" 1\n' + _clean_body(2, 500).decode()).encode()
    cuts = parse_pool.cut_points(body, 2)
    assert len(cuts) == 2 and cuts[1] < len(long_string)  # the cut falls inside the string
    answer = parse_pool.parse(body, 1, 0, pool)
    assert answer is not None
    assert _normal(answer) == _normal(parse_in_process(body, 1, 0))
    bad = _clean_body(3, 8000) + b"\nbad line\n" + _clean_body(4, 10)
    answer = parse_pool.parse(bad, 1, 0, pool)
    assert answer is not None
    assert _normal(answer) == _normal(parse_in_process(bad, 1, 0))


def test_a_split_write_stores_what_one_parse_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rusts.query.executor import execute
    from rusts.query.model import parse_query
    from rusts.storage.engine import EngineOptions, StorageEngine

    monkeypatch.setattr(parse_pool, "SPLIT_MIN_BYTES", 64 * 1024)
    own = workers.WorkerPool(2)
    try:
        monkeypatch.setattr(workers, "shared_pool", lambda: own)
        deadline = time.monotonic() + 60
        while own.idle() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        body = _clean_body(5, 8000)
        answers = []
        for name, parser in (("split", engine_parser), ("whole", parse_in_process)):
            engine = StorageEngine.open(EngineOptions(str(tmp_path / name), wal_durability="none"), parser)
            result = engine.write_line_protocol(body)
            assert result.points == 8000 and not result.errors
            answers.append(execute(engine, parse_query(b'{"measurement":"cpu"}')).rows)
            engine.close()
        assert answers[0] == answers[1]
    finally:
        own.close()


def test_kill_9_during_pooled_writes_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """Large bodies (parsed by workers, flushes encoded by them) stream into a real server in
    every_write mode; kill -9 at a moment the test does not choose; after a restart every
    acknowledged body's points are there, and nothing that was never sent."""
    import threading
    import urllib.error

    server = RustsServer(tmp_path, durability="every_write", storage_extra=", memtable: {max_points: 20000}")
    acknowledged: list[int] = []
    sent: list[int] = []
    stop = threading.Event()

    def body_of(batch: int) -> bytes:
        return "\n".join(
            f'k,host=h{i % 7},batch=b{batch} v={i}.5,n={i}i,s="x{i % 3}" {1_700_000_000_000_000_000 + batch * 10**9 + i}'
            for i in range(1500)
        ).encode()

    def writer() -> None:
        batch = 0
        while not stop.is_set():
            sent.append(batch)
            try:
                status, _ = server.request("POST", "/write", body_of(batch))
            except (urllib.error.URLError, ConnectionError, OSError):
                return
            if status == 204:
                acknowledged.append(batch)
            batch += 1

    thread = threading.Thread(target=writer)
    thread.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 25 and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.05)
    assert len(acknowledged) >= 25, "the writer made no progress"
    assert _children(server.process.pid), "no worker was running"
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    stop.set()
    thread.join(30)
    server = RustsServer(tmp_path, durability="every_write")
    try:
        rows = server.sql("SELECT batch, count(*) FROM k GROUP BY batch")["rows"]
        counts = {int(row[0][1:]): row[1] for row in rows}
        for batch in acknowledged:
            assert counts.get(batch) == 1500, f"acknowledged batch {batch} has {counts.get(batch)} points"
        assert set(counts) <= set(sent)
        assert all(count == 1500 for count in counts.values())  # a body is stored whole or not at all
    finally:
        server.stop()


def test_packed_batches_of_many_series_come_back_the_same() -> None:
    # One point of each of 3,000 series: the packed form holds one array per field, and each
    # series' columns come back as its own slices, masks and strings included.
    lines = []
    for i in range(3000):
        fields = [f"a={i}i", f"b={i * 0.5}"]
        if i % 3 == 0:
            fields.append(f's="text {i}"')
        if i % 5 == 0:
            fields.append("ok=true")
        lines.append(f"cpu,host=h{i} {','.join(fields)} {1_700_000_000_000_000_000 + i}")
        if i % 7 == 0:  # a second row of the series with fewer fields: a presence mask
            lines.append(f"cpu,host=h{i} a={-i}i {1_700_000_000_000_000_001 + i}")
    body = "\n".join(lines).encode()
    parsed = parse_in_process(body, 1, 0)
    packed = pickle.loads(pickle.dumps(parse_pool.pack(*parsed), protocol=5))
    assert _normal(parse_pool.unpack(packed)) == _normal(parsed)
    shifted, _ = parse_pool.unpack(packed, 10)
    assert [b.lines.tolist() for b in shifted] == [(b.lines + 10).tolist() for b in parsed[0]]


def test_a_body_packed_from_its_table_is_the_body_parsed_in_process() -> None:
    # Every line takes the fast path (no backslash, no error) but the layouts differ: fields
    # missing on some lines of a series (presence masks), strings, booleans, unsigned, several
    # measurements, a series written again later in the body.
    rng = random.Random(11)
    lines = []
    for i in range(4000):
        fields = [f"a={rng.randint(-100, 100)}i"]
        if rng.random() < 0.5:
            fields.append(f"b={rng.uniform(-1, 1)!r}")
        if rng.random() < 0.2:
            fields.append(f's="w{rng.randint(0, 9)}"')
        if rng.random() < 0.2:
            fields.append(f"ok={rng.choice(['true', 'f'])}")
        if rng.random() < 0.1:
            fields.append(f"u={rng.randint(0, 2**64 - 1)}u")
        measurement = rng.choice(["cpu", "mem"])
        lines.append(f"{measurement},host=h{rng.randint(0, 300)} {','.join(fields)} {1_700_000_000_000_000_000 + i}")
    body = "\n".join(lines).encode()
    encoded, rows, series, errors = scan_body(body, 1, 0)
    assert packed_table(decode(encoded, rows, series, 1, errors), series) is not None and not errors  # the direct path
    packed = parse_pool.parse_packed(body, 1, 0)
    assert _normal(parse_pool.unpack(packed)) == _normal(parse_in_process(body, 1, 0))
    bad = body + b"\ncpu,host=h1 a=1i,a=2.5 1\ncpu,host=h2 a=1.5"  # errors and a type change: the split path
    assert _normal(parse_pool.unpack(parse_pool.parse_packed(bad, 1, 0))) == _normal(parse_in_process(bad, 1, 0))
