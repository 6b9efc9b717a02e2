"""Storage engine: writes, reads, restarts clean and dirty, type conflicts, overwrites, locking."""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import rusts
from rusts.api.line_protocol import engine_parser
from rusts.core.hashing import series_key
from rusts.core.errors import CorruptDataError
from rusts.storage.engine import DataDirectoryInUse, EngineOptions, StorageEngine

HOUR = 3_600_000_000_000
PACKAGE_ROOT = str(Path(rusts.__file__).parent.parent)


def open_engine(path: Path, **overrides: object) -> StorageEngine:
    options = EngineOptions(str(path), **overrides)  # type: ignore[arg-type]
    return StorageEngine.open(options, engine_parser)


def series_id(engine: StorageEngine, measurement: str, tags: list[tuple[str, str]]) -> int:
    found = engine.index.id_of(series_key(measurement, tags))
    assert found is not None
    return found


def values(engine: StorageEngine, measurement: str, tags: list[tuple[str, str]], field: str) -> dict[int, object]:
    data = engine.read_series(series_id(engine, measurement, tags))
    assert data is not None
    column = data.columns[field]
    out = {}
    for row, ts in enumerate(data.timestamps.tolist()):
        if column.present is None or column.present[row]:
            value = column.values[row]
            out[ts] = value.item() if hasattr(value, "item") else value
    return out


def test_write_then_read_across_memtable_flush_and_restart(tmp_path: Path) -> None:
    engine = open_engine(tmp_path)
    body = "\n".join(f"cpu,host=a usage={i}.5,n={i}i {i * HOUR}" for i in range(60)).encode()
    result = engine.write_line_protocol(body)
    assert (result.points, result.errors) == (60, [])
    expected = {i * HOUR: i + 0.5 for i in range(60)}
    assert values(engine, "cpu", [("host", "a")], "usage") == expected
    engine.flush()
    assert engine.statistics()["partitions"] == 3  # 60 hours over 24 h windows
    assert values(engine, "cpu", [("host", "a")], "usage") == expected
    engine.close()
    engine = open_engine(tmp_path)
    assert engine.stats["replayed_records"] == 0
    assert values(engine, "cpu", [("host", "a")], "usage") == expected
    assert engine.field_types("cpu") == {"n": "integer", "usage": "float"}
    engine.close()


def test_last_write_wins_per_field_wherever_the_old_point_lives(tmp_path: Path) -> None:
    engine = open_engine(tmp_path)
    engine.write_line_protocol(b"m,t=x a=1,b=1 100\nm,t=x a=1,b=1 200")
    engine.flush()
    engine.write_line_protocol(b"m,t=x a=2 100")  # overwrites a only, in a newer layer
    assert values(engine, "m", [("t", "x")], "a") == {100: 2.0, 200: 1.0}
    assert values(engine, "m", [("t", "x")], "b") == {100: 1.0, 200: 1.0}
    engine.flush()
    assert engine.compact() == 1
    assert values(engine, "m", [("t", "x")], "a") == {100: 2.0, 200: 1.0}
    assert values(engine, "m", [("t", "x")], "b") == {100: 1.0, 200: 1.0}
    engine.close()


def test_field_type_conflict_rejects_the_line_not_the_batch(tmp_path: Path) -> None:
    engine = open_engine(tmp_path)
    engine.write_line_protocol(b"m v=1i 1")
    engine.flush()
    result = engine.write_line_protocol(b"m v=2i 2\nm v=2.5 3\nm w=1 4")
    assert result.points == 2
    assert [(e.line, "field type conflict" in e.message) for e in result.errors] == [(2, True)]
    result = engine.write_line_protocol(b"m v=2.5 5\nm w=2 6")
    assert result.points == 1
    assert [e.line for e in result.errors] == [1]
    assert "field 'v' of measurement 'm' is integer, got float" in result.errors[0].message
    # Two series of one measurement disagreeing in one body: the earlier line decides.
    result = engine.write_line_protocol(b"n,t=a x=1i 7\nn,t=b x=1.5 8")
    assert result.points == 1 and [e.line for e in result.errors] == [2]
    engine.close()
    engine = open_engine(tmp_path)
    assert engine.field_types("m") == {"v": "integer", "w": "float"}
    assert engine.field_types("n") == {"x": "integer"}
    engine.close()


def test_more_fields_or_tags_than_a_segment_holds_are_refused_by_line_and_flushes_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rusts.index.series
    import rusts.storage.engine

    # The limits (65535 fields per measurement, 65535 tags per series) scaled down: the same code, cheaper lines.
    monkeypatch.setattr(rusts.storage.engine, "MAX_COLUMNS", 100)
    monkeypatch.setattr(rusts.index.series, "MAX_TAGS", 50)
    engine = open_engine(tmp_path)
    try:
        wide = ",".join(f"f{k}=1" for k in range(60))
        wider = ",".join(f"g{k}=1" for k in range(60))
        # the second line would take the measurement to 120 fields; the first and third are stored
        result = engine.write_line_protocol(f"m {wide} 1\nm {wider} 2\nm f1=2 3".encode())
        assert result.points == 2 and [e.line for e in result.errors] == [2]
        assert "measurement 'm' would have 120 fields, at most 100 are allowed" in result.errors[0].message
        assert len(engine.field_types("m")) == 60
        tags = ",".join(f"t{k}=v" for k in range(70))
        result = engine.write_line_protocol(f"n,{tags} v=1 1\nn v=2 2".encode())
        assert result.points == 1 and [e.line for e in result.errors] == [1] and "at most 50" in result.errors[0].message
        engine.flush()  # a refused line never reaches the memtable, so the flush cannot fail on it
        assert engine.stats["flushes"] >= 1 and values(engine, "m", [], "f1") == {1: 1.0, 3: 2.0}
    finally:
        engine.close()


def test_a_write_parsed_by_the_caller_stores_and_replays_as_the_body_would(tmp_path: Path) -> None:
    """write_parsed (a cluster coordinator storing its own shards' parts) keeps what
    write_line_protocol of the same body keeps, refuses by the batches' line numbers, and the WAL
    replays the body after a kill -9."""
    first = b"m,h=a w=1i 5"
    body = b"m,h=a v=1i,s=\"x\" 10\nm,h=a w=2.5 20\nm,h=b v=2i 20\nm,h=a v=3i 30\nm,h=a v=5i 30"
    direct = open_engine(tmp_path / "direct")
    direct.write_line_protocol(first)
    expected = direct.write_line_protocol(body)
    script = textwrap.dedent(f"""
        import os, signal
        from rusts.api.line_protocol import engine_parser
        from rusts.storage.engine import EngineOptions, StorageEngine
        engine = StorageEngine.open(EngineOptions({str(tmp_path / "parsed")!r}, wal_durability="every_write"), engine_parser)
        engine.write_line_protocol({first!r})
        body = {body!r}
        batches, errors = engine_parser(body, 1, 0)
        assert not errors
        result = engine.write_parsed(body, 1, batches)
        print(result.points, [(e.line, e.message) for e in result.errors], flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    child = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert child.stdout.strip() == f"{expected.points} {[(e.line, e.message) for e in expected.errors]!r}"
    assert [e.line for e in expected.errors] == [2]  # w is stored as an integer: the float line is refused
    replayed = open_engine(tmp_path / "parsed")  # nothing flushed: every row comes back from the WAL
    for tags in ([("h", "a")], [("h", "b")]):
        for field in ("v", "s", "w") if tags == [("h", "a")] else ("v",):
            assert values(replayed, "m", tags, field) == values(direct, "m", tags, field)
    assert values(replayed, "m", [("h", "a")], "v") == {10: 1, 30: 5}
    replayed.close()
    direct.close()


def test_late_data_for_an_old_partition_is_accepted(tmp_path: Path) -> None:
    engine = open_engine(tmp_path)
    engine.write_line_protocol(f"m v=1 {100 * HOUR}".encode())
    engine.flush()
    engine.write_line_protocol(b"m v=2 5")
    engine.flush()
    assert values(engine, "m", [], "v") == {5: 2.0, 100 * HOUR: 1.0}
    engine.close()


def test_a_second_opener_is_refused(tmp_path: Path) -> None:
    engine = open_engine(tmp_path)
    with pytest.raises(DataDirectoryInUse, match="in use by another RusTs process"):
        open_engine(tmp_path)
    engine.close()
    open_engine(tmp_path).close()


WRITER = textwrap.dedent(
    """
    import sys
    from rusts.api.line_protocol import engine_parser
    from rusts.storage.engine import EngineOptions, StorageEngine
    path, durability, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    engine = StorageEngine.open(EngineOptions(path, wal_durability=durability, memtable_max_points=3000), engine_parser)
    batch = seed * 1_000_000
    while True:
        lines = "\\n".join(f"crash,w={seed} v={batch + i}i {batch + i}" for i in range(200))
        engine.write_line_protocol(lines.encode())
        print(batch, flush=True)
        batch += 200
    """
)


def run_writer_and_kill(path: Path, durability: str, seed: int, seconds: float) -> list[int]:
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), durability, str(seed)], stdout=subprocess.PIPE, env=env, cwd=path
    )
    assert child.stdout is not None
    first = child.stdout.readline()  # the kill comes `seconds` after the first acknowledged write, however slow the start
    time.sleep(seconds)
    child.send_signal(signal.SIGKILL)
    out, _ = child.communicate()
    return [int(line) for line in (first + out).decode().split("\n")[:-1]]  # a line without its newline was never complete


def test_kill_9_loses_nothing_acknowledged_with_every_write(tmp_path: Path) -> None:
    rng = random.Random(7)
    acknowledged: dict[int, list[int]] = {}
    for round_number in range(6):
        acknowledged[round_number] = run_writer_and_kill(tmp_path, "every_write", round_number, rng.uniform(1.0, 2.5))
    engine = open_engine(tmp_path)
    for seed, batches in acknowledged.items():
        assert batches, "the writer acknowledged nothing before the kill"
        stored = values(engine, "crash", [("w", str(seed))], "v")
        for batch in batches:
            for i in range(200):
                assert stored.get(batch + i) == batch + i
        # Nothing that was never written appears: every stored point belongs to a written batch.
        assert all((ts - seed * 1_000_000) % 1 == 0 and stored[ts] == ts for ts in stored)
    engine.close()


CRASHED_WRITER = textwrap.dedent(
    """
    import os, sys
    from rusts.api.line_protocol import engine_parser
    from rusts.storage.engine import EngineOptions, StorageEngine
    engine = StorageEngine.open(EngineOptions(sys.argv[1], wal_durability="every_write"), engine_parser)
    for batch in range(6):
        engine.write_line_protocol("\\n".join(f"wal,b={batch} v={i}i {i}" for i in range(50)).encode())
    os._exit(0)  # no close: the memtable dies, the WAL holds all six writes
    """
)


def test_a_damaged_wal_record_costs_only_its_own_points(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    subprocess.run([sys.executable, "-c", CRASHED_WRITER, str(tmp_path)], env=env, check=True, timeout=60)
    (log,) = (tmp_path / "wal").glob("wal-*.log")
    data = bytearray(log.read_bytes())
    third = data.index(b"wal,b=2 ")
    data[third + 100] ^= 0x20  # inside the third write's body
    log.write_bytes(bytes(data))
    engine = open_engine(tmp_path)
    try:
        assert engine.stats["replayed_records"] == 5
        for batch in range(6):
            key = series_key("wal", [("b", str(batch))])
            if batch == 2:
                assert engine.index.id_of(key) is None
            else:
                assert values(engine, "wal", [("b", str(batch))], "v") == {i: i for i in range(50)}
    finally:
        engine.close()
    assert "sequence numbers 3..3 lost" in caplog.text


def flushed_engine(path: Path) -> None:
    engine = open_engine(path)
    body = "\n".join(f"cpu,host=h{i % 3} usage={i}.5,n={i}i,up=true,note=\"x{i}\" {i * HOUR}" for i in range(60))
    engine.write_line_protocol(body.encode())
    engine.write_line_protocol(b"mem,host=a free=7u 0")
    engine.close()


@pytest.mark.parametrize("damage", ["removed", "garbage"])
def test_a_lost_field_catalogue_is_rebuilt_from_the_segments(tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    flushed_engine(tmp_path)
    fields = tmp_path / "FIELDS"
    if damage == "removed":
        fields.unlink()
    else:
        fields.write_bytes(b'{"version": 1, "measur')
    engine = open_engine(tmp_path)
    try:
        assert engine.field_types("cpu") == {"n": "integer", "note": "string", "up": "boolean", "usage": "float"}
        assert engine.field_types("mem") == {"free": "unsigned"}
        assert values(engine, "cpu", [("host", "h1")], "n") == {i * HOUR: i for i in range(1, 60, 3)}
        # The type check works again: a conflicting write is refused by line.
        result = engine.write_line_protocol(b"cpu,host=h1 usage=\"text\" 5")
        assert result.points == 0 and "usage" in result.errors[0].message
    finally:
        engine.close()
    assert "field catalogue rebuilt from the segments: 2 measurements" in caplog.text
    assert fields.exists() and b"usage" in fields.read_bytes()


@pytest.mark.parametrize("damage", ["removed", "cut"])
def test_a_lost_series_index_refuses_to_open_naming_the_file(tmp_path: Path, damage: str) -> None:
    flushed_engine(tmp_path)
    index_file = tmp_path / "index" / "series.idx"
    if damage == "removed":
        index_file.unlink()
    else:
        data = index_file.read_bytes()
        index_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptDataError, match=r"series\.idx.*does not know series stored in partitions p"):
        open_engine(tmp_path)


def test_series_of_a_dropped_measurement_still_in_segments_do_not_block_opening(tmp_path: Path) -> None:
    flushed_engine(tmp_path)
    engine = open_engine(tmp_path)
    engine.drop_measurement("mem")
    engine.close()
    engine = open_engine(tmp_path)
    try:
        assert engine.field_types("mem") == {}
        assert values(engine, "cpu", [("host", "h0")], "n") == {i * HOUR: i for i in range(0, 60, 3)}
    finally:
        engine.close()


def test_delete_by_series_and_time_range_survives_restart_and_compaction(tmp_path: Path) -> None:
    engine = open_engine(tmp_path)
    engine.write_line_protocol("\n".join(f"m,h=a v={i} {i * HOUR}\nm,h=b v={i} {i * HOUR}" for i in range(48)).encode())
    engine.flush()
    engine.write_line_protocol(b"m,h=a v=100 " + str(47 * HOUR + 1).encode())  # still in the memtable
    a = series_id(engine, "m", [("h", "a")])
    engine.delete([a], 10 * HOUR, 40 * HOUR)
    kept = {i * HOUR: float(i) for i in range(48) if not 10 <= i < 40}
    kept[47 * HOUR + 1] = 100.0
    assert values(engine, "m", [("h", "a")], "v") == kept
    assert len(values(engine, "m", [("h", "b")], "v")) == 48
    engine.write_line_protocol(f"m,h=a v=-1 {20 * HOUR}".encode())  # a write after the delete stays
    kept[20 * HOUR] = -1.0
    assert values(engine, "m", [("h", "a")], "v") == kept
    engine.close()
    engine = open_engine(tmp_path)
    assert values(engine, "m", [("h", "a")], "v") == kept
    engine.compact()
    assert engine.deletes == []
    assert values(engine, "m", [("h", "a")], "v") == kept
    engine.close()


def test_drop_measurement(tmp_path: Path) -> None:
    engine = open_engine(tmp_path)
    engine.write_line_protocol(b"gone,h=a v=1 1\ngone,h=b v=2 2\nstays v=3 3")
    engine.flush()
    engine.write_line_protocol(b"gone,h=a v=4 4")
    assert engine.drop_measurement("gone") == 2
    assert engine.measurements() == ["stays"]
    assert engine.index.id_of("gone,h=a") is None
    engine.write_line_protocol(b"gone,h=a v=5i 5")  # a new life, even with another type
    assert values(engine, "gone", [("h", "a")], "v") == {5: 5}
    engine.close()
    engine = open_engine(tmp_path)
    assert values(engine, "gone", [("h", "a")], "v") == {5: 5}
    assert engine.measurements() == ["gone", "stays"]
    engine.close()


def test_disk_full_fails_the_write_and_keeps_what_was_acknowledged(tmp_path: Path) -> None:
    engine = open_engine(tmp_path, wal_durability="every_write")
    assert engine.write_line_protocol(b"m v=1 1").errors == []
    wal = engine._wal
    assert wal is not None
    original = wal._write_fn

    def disk_full(fd: int, buffers: list[bytes], offset: int) -> int:
        raise OSError(28, "No space left on device")

    wal._write_fn = disk_full
    with pytest.raises(Exception, match="No space left on device"):
        engine.write_line_protocol(b"m v=2,new_field=1i 2")
    assert engine.field_types("m") == {"v": "float"}  # nothing of the failed write was kept
    wal._write_fn = original
    assert engine.write_line_protocol(b"m v=3 3").errors == []
    assert values(engine, "m", [], "v") == {1: 1.0, 3: 3.0}
    engine.close()
    engine = open_engine(tmp_path)
    assert values(engine, "m", [], "v") == {1: 1.0, 3: 3.0}
    engine.close()


FLUSH_CRASH = textwrap.dedent(
    """
    import os, sys
    from rusts.api.line_protocol import engine_parser
    from rusts.storage import partition
    from rusts.storage.engine import EngineOptions, StorageEngine
    path, step = sys.argv[1], sys.argv[2]
    engine = StorageEngine.open(EngineOptions(path, wal_durability="every_write"), engine_parser)
    engine.write_line_protocol("\\n".join(f"f,s=1 v={i}i {i * 3_600_000_000_000}" for i in range(100)).encode())
    print("acknowledged", flush=True)
    if step == "segment":
        partition.write_segment = lambda *a, **k: os._exit(9)
    elif step == "manifest":
        partition.Partition._write_manifest = lambda *a, **k: os._exit(9)
    else:
        engine._write_state = lambda *a, **k: os._exit(9)
    engine.flush()
    """
)


@pytest.mark.parametrize("step", ["segment", "manifest", "checkpoint"])
def test_flush_killed_part_way_recovers_every_point(tmp_path: Path, step: str) -> None:
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    done = subprocess.run(
        [sys.executable, "-c", FLUSH_CRASH, str(tmp_path), step], capture_output=True, env=env, cwd=tmp_path
    )
    assert done.returncode == 9 and b"acknowledged" in done.stdout, done.stderr.decode()
    engine = open_engine(tmp_path)
    assert values(engine, "f", [("s", "1")], "v") == {i * HOUR: i for i in range(100)}
    engine.flush()
    engine.compact()
    assert values(engine, "f", [("s", "1")], "v") == {i * HOUR: i for i in range(100)}
    engine.close()


def test_catalog_and_delete_by_tag_predicate(tmp_path: Path) -> None:
    engine = open_engine(tmp_path)
    engine.write_line_protocol(b"cpu,host=a,dc=x v=1 1\ncpu,host=b,dc=x v=2 2\ncpu,host=c,dc=y v=3 3\nmem u=1i 4")
    assert engine.measurements() == ["cpu", "mem"]
    assert engine.tag_keys("cpu") == ["dc", "host"]
    assert engine.tag_values("cpu", "host") == ["a", "b", "c"]
    assert len(engine.series_ids("cpu")) == 3
    assert engine.delete_matching("cpu", {"dc": "x"}, 0, 10) == 2
    assert engine.read_series(series_id(engine, "cpu", [("dc", "x"), ("host", "a")])) is None
    assert values(engine, "cpu", [("dc", "y"), ("host", "c")], "v") == {3: 3.0}
    engine.close()


def test_old_partitions_are_compacted_cold(tmp_path: Path) -> None:
    engine = open_engine(tmp_path, cold_after_ns=0)
    engine.write_line_protocol(b"m v=1 1")
    engine.flush()
    engine.write_line_protocol(b"m v=2 2")
    engine.flush()
    assert engine.compact() == 1
    (partition,) = engine.partitions.values()
    ((_, reader),) = partition.segments()
    assert reader.outer == "zstd"
    assert values(engine, "m", [], "v") == {1: 1.0, 2: 2.0}
    engine.close()


def test_concurrent_writers_readers_flushes_and_compactions(tmp_path: Path) -> None:
    import threading

    engine = open_engine(tmp_path, memtable_max_points=2_000, compact_min_segments=2)
    failures: list[BaseException] = []
    stop = threading.Event()

    def writer(w: int) -> None:
        try:
            for batch in range(30):
                body = "\n".join(f"c,w={w} v={batch * 100 + i}i {(batch * 100 + i) * HOUR // 7}" for i in range(100))
                assert engine.write_line_protocol(body.encode()).errors == []
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    def reader() -> None:
        try:
            while not stop.is_set():
                for w in range(3):
                    found = engine.index.id_of(f"c,w={w}")
                    if found is not None:
                        data = engine.read_series(found)
                        if data is not None:
                            values = data.columns["v"].values
                            assert (data.timestamps == values * HOUR // 7).all()
                            assert (data.timestamps[1:] > data.timestamps[:-1]).all()
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)

    def maintainer() -> None:
        try:
            while not stop.is_set():
                engine.flush()
                engine.compact(2)
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)

    writers = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    helpers = [threading.Thread(target=reader), threading.Thread(target=reader), threading.Thread(target=maintainer)]
    for thread in writers + helpers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in helpers:
        thread.join()
    assert failures == []
    for w in range(3):
        assert values(engine, "c", [("w", str(w))], "v") == {k * HOUR // 7: k for k in range(3000)}
    engine.close()


def test_writers_wait_when_the_flusher_falls_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = open_engine(tmp_path, memtable_max_points=1_000, max_pending_flushes=2)
    slow = engine._write_segments

    def slow_write(table: object) -> None:
        time.sleep(0.3)
        slow(table)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "_write_segments", slow_write)
    highest = 0
    for batch in range(40):
        body = "\n".join(f"b v={batch * 100 + i}i {batch * 100 + i}" for i in range(100))
        engine.write_line_protocol(body.encode())
        highest = max(highest, engine.memtable.points)
    # Never more than the limit times max_pending_flushes, plus the batch that crossed it.
    assert highest <= 2 * 1_000 + 100
    assert len(values(engine, "b", [], "v")) == 4_000
    engine.close()


def test_a_failed_flush_is_written_again_before_the_checkpoint_passes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flush that fails (disk full while writing segments) leaves its memtable readable, and the
    next flush writes it again first: the checkpoint never passes rows that are not in segments,
    so a crash after the next flush still finds every point (in segments or in the WAL)."""
    from rusts.storage.partition import Partition

    engine = open_engine(tmp_path, wal_durability="every_write")
    engine.write_line_protocol(b"disk,k=a v=1i 10\ndisk,k=a v=2i " + str(HOUR * 30).encode())
    real = Partition.add_segment
    calls = {"n": 0}

    def second_fails(self: Partition, *args: object) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Partition, "add_segment", second_fails)
    with pytest.raises(OSError, match="No space"):
        engine.flush()
    assert values(engine, "disk", [("k", "a")], "v") == {10: 1, HOUR * 30: 2}
    engine.write_line_protocol(b"disk,k=a v=3i 20")
    engine.flush()
    assert engine.flushing == []
    assert values(engine, "disk", [("k", "a")], "v") == {10: 1, 20: 3, HOUR * 30: 2}
    # Abandoned without a close, as a crash after that flush would leave it.
    engine._lock_handle.close()
    engine._stop.set()
    monkeypatch.setattr(Partition, "add_segment", real)
    reopened = open_engine(tmp_path)
    assert values(reopened, "disk", [("k", "a")], "v") == {10: 1, 20: 3, HOUR * 30: 2}
    reopened.close()
