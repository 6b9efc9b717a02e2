"""Streaming answers as columns (rusts.query.batches, execute_column_batches, pgwire.rows): the same
rows and the same DataRow bytes as the row path, for every column type, with absent values."""

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from rusts.api.line_protocol import engine_parser
from rusts.pgwire import types as t
from rusts.pgwire.execution import _TYPE_OIDS
from rusts.pgwire.rows import encode_chunk, encode_column_batch, encode_rows
from rusts.query.batches import ColumnarRows
from rusts.sql import stream_sql
from rusts.storage.engine import EngineOptions, StorageEngine

DAY = 86_400 * 10**9


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[StorageEngine]:
    opened = StorageEngine.open(EngineOptions(str(tmp_path / "data"), wal_durability="none"), engine_parser)
    rng = random.Random(4)
    lines = []
    for i in range(6000):
        fields = []
        if rng.random() < 0.8:
            fields.append(f"x={rng.uniform(-1e20, 1e20)!r}" if i % 97 else "x=1e-07")
        if rng.random() < 0.7:
            fields.append(f"n={rng.randint(-2**63, 2**63 - 1)}i")
        if rng.random() < 0.6:
            fields.append(f"ok={rng.choice(['true', 'false'])}")
        if rng.random() < 0.5 or not fields:
            fields.append('s="' + rng.choice(["", "a b", "é", 'q\\"uote']) + '"')
        host = f"h{i % 5}" if i % 7 else None
        series = "m" + (f",host={host}" if host else "") + f",dc=d{i % 2}"
        lines.append(f"{series} {','.join(fields)} {1_700_000_000_000_000_000 + (i * 7919 % 6000) * (DAY // 1000)}")
    opened.write_line_protocol("\n".join(lines).encode())
    opened.flush()
    opened.write_line_protocol(b"m,host=late x=1.5,s=\"new\" 1700000000000000001")  # memtable rows too
    yield opened
    opened.close()


QUERIES = [
    "SELECT * FROM m",
    "SELECT time, s, x FROM m",
    "SELECT n, host FROM m WHERE x > 0",
    "SELECT ok, time FROM m ORDER BY time DESC",
]


@pytest.mark.parametrize("text", QUERIES)
def test_columnar_stream_gives_the_rows_of_the_row_stream(engine: StorageEngine, text: str) -> None:
    columnar = stream_sql(engine, text, batch_rows=1000, columnar=True)
    assert columnar.column_batches is not None, "the columnar path was not taken"
    rows = stream_sql(engine, text, batch_rows=1000)
    assert [c.name for c in columnar.columns] == [c.name for c in rows.columns]
    expected = [row for batch in rows.batches for row in batch]
    assert list(ColumnarRows(columnar.column_batches)) == expected
    assert len(expected) > 2000


@pytest.mark.parametrize("text", QUERIES)
@pytest.mark.parametrize("binary", [False, True])
def test_datarow_bytes_equal_the_row_path(engine: StorageEngine, text: str, binary: bool) -> None:
    stream = stream_sql(engine, text, batch_rows=2500, columnar=True)
    assert stream.column_batches is not None
    oids = [_TYPE_OIDS.get(column.type, t.TEXT) for column in stream.columns]
    formats = [1 if binary else 0] * len(oids)
    for batch in stream.column_batches:
        assert encode_column_batch(batch, oids, formats) == encode_rows(batch.rows(), oids, formats)


def test_rows_and_column_slices_interleave_in_order(engine: StorageEngine) -> None:
    expected = [row for batch in stream_sql(engine, "SELECT * FROM m", batch_rows=700).batches for row in batch]
    stream = stream_sql(engine, "SELECT * FROM m", batch_rows=700, columnar=True)
    assert stream.column_batches is not None
    oids = [_TYPE_OIDS.get(column.type, t.TEXT) for column in stream.columns]
    formats = [0] * len(oids)
    rows = ColumnarRows(stream.column_batches)
    got: list[list[object]] = []
    encoded: list[bytes] = []
    taken = 0
    step = 0
    while True:
        if step % 3 == 0:
            row = next(rows, None)
            if row is None:
                break
            got.append(row)
            encoded.append(encode_rows([row], oids, formats))
        else:
            chunk, count = encode_chunk(rows, oids, formats, 1000 + step)
            if count == 0:
                break
            assert count == 1000 + step or len(got) + count == len(expected)  # full chunks across batches
            got.extend(expected[len(got) : len(got) + count])
            encoded.append(chunk)
        taken += 1
        step += 1
    assert got == expected
    assert b"".join(encoded) == encode_rows(expected, oids, formats)
