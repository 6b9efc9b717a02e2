"""Columnar writes (StorageEngine.write_batches) and their WAL records (payload kind 2): the
payload round-trips and refuses damage, rows are checked like line protocol, replay after a
kill -9 restores every acknowledged row, and change data capture prints them as line protocol."""

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rusts
from rusts.api.line_protocol import engine_parser, parse_body
from rusts.core.errors import CodecError
from rusts.core.hashing import series_key
from rusts.storage.columns import KIND_BOOLEAN, KIND_FLOAT, KIND_INTEGER, KIND_STRING, KIND_UNSIGNED, Column, WriteBatch
from rusts.storage.engine import EngineOptions, StorageEngine
from rusts.storage.wal import tail_lines
from rusts.storage.wal_batches import decode_columnar_payload, encode_columnar_payload, format_lines

PACKAGE_ROOT = str(Path(rusts.__file__).parent.parent)
DTYPES = {KIND_FLOAT: np.float64, KIND_INTEGER: np.int64, KIND_UNSIGNED: np.uint64, KIND_BOOLEAN: np.bool_}
VALUES = {
    KIND_FLOAT: st.floats(allow_nan=False, allow_infinity=False),
    KIND_INTEGER: st.integers(-(2**63), 2**63 - 1),
    KIND_UNSIGNED: st.integers(0, 2**64 - 1),
    KIND_BOOLEAN: st.booleans(),
    KIND_STRING: st.text(max_size=8),
}


@st.composite
def batches(draw: Any) -> list[WriteBatch]:
    out = []
    for number in range(draw(st.integers(0, 4))):
        rows = draw(st.integers(1, 12))
        columns = {}
        for name in draw(st.sets(st.sampled_from(["a", "b c", "d,e", "f=g", "ü"]), max_size=4)):
            kind = draw(st.sampled_from(sorted(VALUES)))
            values = draw(st.lists(VALUES[kind], min_size=rows, max_size=rows))
            present = draw(st.none() | st.lists(st.booleans(), min_size=rows, max_size=rows).map(lambda p: np.array(p, dtype=np.bool_)))
            columns[name] = Column(kind, values if kind == KIND_STRING else np.array(values, dtype=DTYPES[kind]), present)
        tags = draw(st.dictionaries(st.sampled_from(["host", "re gion", "a=b"]), st.text(min_size=1, max_size=5), max_size=2))
        stamps = draw(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=rows, max_size=rows))
        out.append(WriteBatch(f"m {number}", list(tags.items()), np.array(stamps, dtype=np.int64), columns))
    return out


def same_batches(got: list[WriteBatch], expected: list[WriteBatch]) -> None:
    assert [(b.measurement, b.tags, b.key, b.timestamps.tolist()) for b in got] == [
        (b.measurement, b.tags, b.key, b.timestamps.tolist()) for b in expected
    ]
    for mine, theirs in zip(got, expected):
        assert list(mine.columns) == list(theirs.columns)
        for name, column in theirs.columns.items():
            decoded = mine.columns[name]
            assert decoded.kind == column.kind
            assert (decoded.present is None) == (column.present is None)
            if column.present is not None:
                assert decoded.present is not None and decoded.present.tolist() == column.present.tolist()
            wanted = column.values if column.kind == KIND_STRING else column.values.tolist()
            assert (decoded.values if column.kind == KIND_STRING else decoded.values.tolist()) == wanted


@settings(max_examples=200, deadline=None)
@given(batches())
def test_columnar_payload_round_trips(written: list[WriteBatch]) -> None:
    same_batches(decode_columnar_payload(encode_columnar_payload(written)), written)


def test_damaged_payloads_are_refused_with_the_offset() -> None:
    batch = WriteBatch(
        "m", [("t", "x")], np.array([1, 2, 3], dtype=np.int64),
        {"v": Column(KIND_FLOAT, np.array([1.0, 2.0, 3.0])), "s": Column(KIND_STRING, ["a", "", "ccc"], np.array([True, False, True]))},
    )
    payload = encode_columnar_payload([batch])
    for cut in range(len(payload)):
        with pytest.raises(CodecError):
            decode_columnar_payload(payload[:cut])
    with pytest.raises(CodecError, match="bytes after the last series"):
        decode_columnar_payload(payload + b"\0")
    with pytest.raises(CodecError, match="not columnar"):
        decode_columnar_payload(b"\x01" + payload[1:])
    kind_at = payload.index(b"v") + 1
    with pytest.raises(CodecError, match="unknown kind 9"):
        decode_columnar_payload(payload[:kind_at] + b"\x09" + payload[kind_at + 1 :])


def open_engine(path: Path, **overrides: object) -> StorageEngine:
    return StorageEngine.open(EngineOptions(str(path), **overrides), engine_parser)  # type: ignore[arg-type]


def stored(engine: StorageEngine, measurement: str, tags: list[tuple[str, str]]) -> dict[int, dict[str, object]]:
    series_id = engine.index.id_of(series_key(measurement, sorted(tags)))
    assert series_id is not None
    data = engine.read_series(series_id)
    assert data is not None
    out: dict[int, dict[str, object]] = {}
    for row, ts in enumerate(data.timestamps.tolist()):
        fields = {}
        for name, column in data.columns.items():
            if column.present is None or column.present[row]:
                value = column.values[row]
                fields[name] = value.item() if hasattr(value, "item") else value
        out[ts] = fields
    return out


def test_write_batches_stores_rows_through_flush_and_restart(tmp_path: Path) -> None:
    engine = open_engine(tmp_path, wal_durability="every_write")
    engine.write_line_protocol(b"cpu,host=a usage=1.0,n=1i 5")
    result = engine.write_batches([
        WriteBatch("cpu", [("host", "a")], np.array([10, 5, 20]), {
            "usage": Column(KIND_FLOAT, [2.0, 3.0, 4.0]),
            "note": Column(KIND_STRING, ["x", "y", "z"], np.array([True, False, True])),
        }),
        WriteBatch("cpu", [("host", "b")], np.array([7]), {"n": Column(KIND_INTEGER, np.array([9]))}),
    ])
    assert (result.points, result.field_values, result.errors) == (4, 6, [])
    expected_a = {5: {"usage": 3.0, "n": 1}, 10: {"usage": 2.0, "note": "x"}, 20: {"usage": 4.0, "note": "z"}}
    assert stored(engine, "cpu", [("host", "a")]) == expected_a
    engine.flush()
    assert stored(engine, "cpu", [("host", "a")]) == expected_a
    engine.write_batches([WriteBatch("cpu", [("host", "b")], np.array([8]), {"n": Column(KIND_INTEGER, [10])})])
    engine._wal.sync()  # type: ignore[union-attr]
    # Abandoned without a close, as a crash would leave it: the next open replays the columnar record.
    engine._lock_handle.close()
    engine._stop.set()
    reopened = open_engine(tmp_path)
    assert reopened.stats["replayed_records"] == 1
    assert stored(reopened, "cpu", [("host", "b")]) == {7: {"n": 9}, 8: {"n": 10}}
    assert reopened.field_types("cpu") == {"usage": "float", "n": "integer", "note": "string"}
    reopened.close()


def test_rows_are_checked_like_line_protocol(tmp_path: Path) -> None:
    engine = open_engine(tmp_path)
    engine.write_line_protocol(b"m v=1.0 1")
    result = engine.write_batches([
        WriteBatch("m", [], np.array([2, 3]), {"v": Column(KIND_FLOAT, [2.0, float("nan")])}),
        WriteBatch("m", [("t", "x")], np.array([4, 5]), {"v": Column(KIND_INTEGER, [4, 5], np.array([True, False])), "w": Column(KIND_BOOLEAN, [True, False])}),
    ])
    # Row 2 carries NaN; row 3 gives v another type (rows 3 and 4 are one series, row 4 lacks v).
    assert [(e.line, "non-finite" in e.message or "type conflict" in e.message) for e in result.errors] == [(2, True), (3, True)]
    assert result.points == 2
    assert stored(engine, "m", []) == {1: {"v": 1.0}, 2: {"v": 2.0}}
    assert stored(engine, "m", [("t", "x")]) == {5: {"w": False}}
    with pytest.raises(ValueError, match="not aligned"):
        engine.write_batches([WriteBatch("m", [], np.array([1, 2]), {"v": Column(KIND_FLOAT, [1.0])})])
    with pytest.raises(ValueError, match="does not hold unsigned"):
        engine.write_batches([WriteBatch("m", [], np.array([1]), {"u": Column(KIND_UNSIGNED, np.array([-1]))})])
    with pytest.raises(ValueError, match="not a list of str"):
        engine.write_batches([WriteBatch("m", [], np.array([1]), {"s": Column(KIND_STRING, [3])})])
    assert engine.write_batches([]).points == 0
    engine.close()


WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from rusts.api.line_protocol import engine_parser
    from rusts.storage.columns import KIND_INTEGER, KIND_STRING, Column, WriteBatch
    from rusts.storage.engine import EngineOptions, StorageEngine
    path = sys.argv[1]
    engine = StorageEngine.open(EngineOptions(path, wal_durability="every_write", memtable_max_points=5000), engine_parser)
    batch = 0
    while True:
        stamps = np.arange(batch, batch + 300, dtype=np.int64)
        if batch % 600:
            engine.write_line_protocol("\\n".join(f"crash,kind=lp v={t}i {t}" for t in stamps.tolist()).encode())
        else:
            engine.write_batches([WriteBatch("crash", [("kind", "columns")], stamps, {
                "v": Column(KIND_INTEGER, stamps.copy()), "s": Column(KIND_STRING, [str(t) for t in stamps.tolist()]),
            })])
        print(batch, flush=True)
        batch += 300
    """
)


def test_kill_9_keeps_every_acknowledged_columnar_write(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, env=env, cwd=tmp_path)
    assert child.stdout is not None
    first = child.stdout.readline()
    time.sleep(2.0)
    child.send_signal(signal.SIGKILL)
    out, _ = child.communicate()
    acknowledged = [int(line) for line in (first + out).decode().split("\n")[:-1]]
    assert len(acknowledged) >= 4, "too few writes before the kill to cover both kinds"
    engine = open_engine(tmp_path)
    columns = stored(engine, "crash", [("kind", "columns")])
    lines = stored(engine, "crash", [("kind", "lp")])
    for batch in acknowledged:
        for t in range(batch, batch + 300):
            if batch % 600:
                assert lines[t] == {"v": t}
            else:
                assert columns[t] == {"v": t, "s": str(t)}
    # Nothing never written appears: every stored row belongs to a batch the writer started.
    started = max(acknowledged) + 300 * 2
    assert all(t < started for t in [*columns, *lines])
    engine.close()


def test_change_data_capture_prints_columnar_writes_as_line_protocol(tmp_path: Path) -> None:
    engine = open_engine(tmp_path, wal_durability="every_write")
    written = [
        WriteBatch("m x", [("t", "a,b")], np.array([3, 1]), {
            "f": Column(KIND_FLOAT, [1.5, 0.1]),
            "s": Column(KIND_STRING, ['say "hi"\\', ""], np.array([True, False])),
            "u": Column(KIND_UNSIGNED, np.array([2**64 - 1, 0], dtype=np.uint64)),
            "b": Column(KIND_BOOLEAN, [True, False]),
        }),
    ]
    engine.write_line_protocol(b"first v=1 5")
    engine.write_batches(written)
    engine.close()
    out = io.StringIO()
    assert tail_lines(str(tmp_path / "wal"), 0, out, with_seq=True) == 2
    text = out.getvalue()
    assert text.startswith("# seq=1\nfirst v=1 5\n# seq=2\n")
    columnar = text.split("# seq=2\n")[1]
    assert columnar == format_lines(written)
    points = parse_body(columnar.encode(), 1, 0).points()
    assert [(p.measurement, [(t.key, t.value) for t in p.tags], p.timestamp, {f.key: f.value.value for f in p.fields}) for p in points] == [
        ("m x", [("t", "a,b")], 3, {"f": 1.5, "s": 'say "hi"\\', "u": 2**64 - 1, "b": True}),
        ("m x", [("t", "a,b")], 1, {"f": 0.1, "u": 0, "b": False}),
    ]
    config = tmp_path / "rusts.yml"
    config.write_text(f"storage: {{data_dir: '{tmp_path}'}}\n")
    cli = subprocess.run(
        [sys.executable, "-m", "rusts.server.cli", "wal", "tail", "--from-seq", "2", "--config", str(config)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": PACKAGE_ROOT}, cwd=tmp_path,
    )
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout == columnar
