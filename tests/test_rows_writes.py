"""Many-series writes stored as one table (parse_pool.parse_for_write -> StorageEngine._store_rows ->
MemTable.write_rows): the same answers as the per-series path, whatever is interleaved with them
(reads before a fold, overwrites, writes that fall back, flushes), and durable through kill -9."""

import functools
import signal
from pathlib import Path
from typing import Any

from rusts.api.line_protocol import engine_parser
from rusts.api.parse_pool import MIN_POOLED_BYTES, SPLIT_MIN_BYTES, parse_for_write
from rusts.core import workers
from rusts.query.executor import execute
from rusts.query.model import Query
from rusts.storage.columns import RowsTable
from rusts.storage.engine import EngineOptions, StorageEngine
from servers import RustsServer

BASE = 1_764_000_000 * 1_000_000_000
SECOND = 1_000_000_000
FIELDS = ("usage_user", "usage_system", "usage_idle")


def _engine(path: Path, pool: workers.WorkerPool | None) -> StorageEngine:
    engine = StorageEngine.open(EngineOptions(str(path), memtable_max_age_secs=10**6, compact_min_segments=100), engine_parser)
    if pool is not None:
        engine.rows_parser = functools.partial(parse_for_write, pool=pool)
    return engine


def _body(step: int, hosts: int, salt: int = 0, extra: str = "", measurement: str = "cpu") -> bytes:
    """One point of each host at one time; host names with characters the key escapes."""
    lines = []
    for h in range(hosts):
        values = ",".join(f"{name}={(h * 7 + step * 3 + salt + i) % 101}i" for i, name in enumerate(FIELDS))
        lines.append(f"{measurement},host=h\\ {h},rack=r\\,{h % 7},zone=z\\={h % 3} {values}{extra} {BASE + step * 10 * SECOND}")
    return "\n".join(lines).encode()


def _dump(engine: StorageEngine) -> dict[str, list[list[Any]]]:
    return {m: execute(engine, Query(m)).rows for m in engine.measurements()}


def test_the_table_path_answers_as_the_per_series_path(tmp_path: Path, pool: workers.WorkerPool) -> None:
    fast, slow = _engine(tmp_path / "fast", pool), _engine(tmp_path / "slow", None)
    try:
        big = _body(0, 3000)
        assert len(big) >= MIN_POOLED_BYTES
        assert isinstance(parse_for_write(big, 1, 0, pool), RowsTable)
        bodies = [
            big,
            _body(1, 3000),
            _body(1, 3000, salt=50),  # the same series and times again: the later values win
            _body(2, 6000 if SPLIT_MIN_BYTES < 900_000 else 12000),  # cut in parts parsed by both workers
            _body(3, 3000, extra=',state="ok"'),  # a string field
            _body(4, 3000, extra=",usage_user=1.5"),  # a field repeated in a line: the parser's rule, per series
            _body(5, 3000, extra=",load=2.5") + b"\n" + _body(5, 10, measurement="mem"),  # two measurements
            _body(6, 3000, extra=",state=3i"),  # state was a string: refused row by row
            _body(7, 3000),
        ]
        for number, body in enumerate(bodies):
            got, wanted = fast.write_line_protocol(body, 1, 0), slow.write_line_protocol(body, 1, 0)
            assert (got.points, got.field_values) == (wanted.points, wanted.field_values), number
            assert [(e.line, e.message) for e in got.errors] == [(e.line, e.message) for e in wanted.errors], number
            if number == 0:
                # Staged, not folded yet: a read of one series folds first and sees its row.
                series_id = fast.index.id_of("cpu,host=h\\ 5,rack=r\\,5,zone=z\\=2")
                assert series_id is not None
                row = fast.memtable.read(series_id, BASE, BASE + 1)
                assert row is not None and row.columns["usage_user"].values.tolist() == [(5 * 7) % 101]
            if number in (2, 5):
                # Bodies 1 and 2 (the same points, other values) were folded together: the later won.
                assert _dump(fast) == _dump(slow)
        assert fast.fields == slow.fields
        assert sorted(fast.series_ids("cpu")) == sorted(slow.series_ids("cpu"))
        assert _dump(fast) == _dump(slow)
        fast.flush()
        slow.flush()
        assert _dump(fast) == _dump(slow)
        fast.write_line_protocol(_body(1, 3000, salt=9), 1, 0)  # overwrites rows already in segments
        slow.write_line_protocol(_body(1, 3000, salt=9), 1, 0)
        assert _dump(fast) == _dump(slow)
        assert fast.tag_values("cpu", "rack") == slow.tag_values("cpu", "rack")
    finally:
        fast.close()
        slow.close()


def test_rows_acknowledged_through_the_table_path_survive_kill_9(tmp_path: Path) -> None:
    server = RustsServer(tmp_path, durability="every_write")
    try:
        for step in range(4):
            status, answer = server.request("POST", "/write", _body(step, 2500))
            assert status == 204, answer
        expected = server.sql("SELECT count(usage_user), sum(usage_idle) FROM cpu")["rows"]
        assert expected[0][0] == 4 * 2500
        server.stop(signal.SIGKILL)
        server = RustsServer(tmp_path, durability="every_write")
        assert server.sql("SELECT count(usage_user), sum(usage_idle) FROM cpu")["rows"] == expected
        assert server.sql("SELECT count(DISTINCT host) FROM cpu")["rows"] == [[2500]]
        assert server.sql("SELECT host, rack, zone FROM cpu WHERE host = 'h 17' LIMIT 1")["rows"][0][1:] == ["r,3", "z=2"]
    finally:
        server.stop()
