"""Streaming answers (execute_batches): the same columns and rows as execute, in bounded batches.

The data is test_query's `world` (segments, overwrites, late points in a partition of their own,
memtable rows) plus a larger flushed set over many daily partitions for the memory bound.
"""

from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
from test_query import BASE, DAY, HOUR, open_engine, world  # noqa: F401  (world is a fixture)

from rusts.query.errors import InvalidQueryError, QueryTimeoutError, UnknownMeasurementError
from rusts.query.executor import execute, execute_batches
from rusts.query.model import Query
from rusts.storage.engine import StorageEngine
from rusts.storage.segment import clear_table_cache

QUERIES: list[dict[str, Any]] = [
    {},
    {"order": "desc"},
    {"limit": 7},
    {"order": "desc", "limit": 5, "offset": 3},
    {"limit": 400, "offset": 350},
    {"order": "desc", "limit": 1000, "offset": 900},
    {"offset": 2500},
    {"fields": ["s", "f"], "order": "desc"},
    {"fields": ["b"], "time_range": {"start": BASE + HOUR, "end": BASE + 2 * DAY}},
    {"tag_filter": {"type": "eq", "key": "region", "value": "r1"}, "field_filter": [{"field": "f", "op": ">", "value": 0}]},
    {"time_range": {"start": BASE - 6 * HOUR, "end": BASE + 3 * HOUR}, "order": "desc", "limit": 50},
    {"aggregations": [{"function": "count", "field": "*"}, {"function": "mean", "field": "f"}],
     "group_by": {"tags": ["host"], "time": {"interval": 6 * HOUR}}},
    {"aggregations": [{"function": "last", "field": "s"}], "group_by": {"tags": ["region"]}, "limit": 2, "offset": 1},
]


def _query(body: dict[str, Any]) -> Query:
    return msgspec.convert({"measurement": "m", **body}, Query)


@pytest.mark.parametrize("body", QUERIES, ids=[str(i) for i in range(len(QUERIES))])
@pytest.mark.parametrize("batch_rows", [1, 97, 65536])
def test_batches_equal_execute(world: tuple[StorageEngine, Any], body: dict[str, Any], batch_rows: int) -> None:
    engine, _ = world
    expected = execute(engine, _query(body))
    columns, batches = execute_batches(engine, _query(body), batch_rows=batch_rows)
    assert columns == expected.columns
    taken = list(batches)
    assert all(0 < len(batch) <= batch_rows for batch in taken)
    assert [row for batch in taken for row in batch] == expected.rows


def test_batches_refuse_bad_queries_before_any_row(world: tuple[StorageEngine, Any]) -> None:
    engine, _ = world
    with pytest.raises(UnknownMeasurementError):
        execute_batches(engine, msgspec.convert({"measurement": "nope"}, Query))
    with pytest.raises(InvalidQueryError, match="batch_rows"):
        execute_batches(engine, _query({}), batch_rows=0)


def test_batches_time_out(world: tuple[StorageEngine, Any]) -> None:
    engine, _ = world
    _, batches = execute_batches(engine, _query({}), timeout=-1.0)
    with pytest.raises(QueryTimeoutError):
        next(batches)


def _decoded(engine: StorageEngine) -> int:
    return sum(reader.blocks_decoded for p in engine.partitions.values() for _, reader in p.segments())


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Any:
    engine = open_engine(tmp_path_factory.mktemp("batches"))
    rng = np.random.default_rng(5)
    rows = 60_000
    times = BASE + np.sort(rng.integers(0, 20 * DAY // 10**9, rows)) * 10**9
    hosts = rng.integers(0, 8, rows)
    values = rng.uniform(0, 100, rows).round(2)
    lines = [f"big,host=h{h} v={v!r} {t}" for h, v, t in zip(hosts.tolist(), values.tolist(), times.tolist())]
    for start in range(0, rows, 10_000):
        engine.write_line_protocol("\n".join(lines[start : start + 10_000]).encode())
    engine.flush()
    yield engine
    engine.close()


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_large_raw_query_streams_in_bounded_batches(month: StorageEngine, order: str) -> None:
    engine = month
    body = {"measurement": "big", "order": order}
    clear_table_cache()  # the other order's run left the decoded segments in the cache
    before = _decoded(engine)
    columns, batches = execute_batches(engine, msgspec.convert(body, Query), batch_rows=1000)
    assert _decoded(engine) == before  # nothing read before the first batch is asked for
    first = next(batches)
    after_first = _decoded(engine) - before
    taken = [first, *batches]
    total_blocks = _decoded(engine) - before - after_first
    # The first batch needed only the first day's blocks, not the month's.
    assert 0 < after_first * 5 < after_first + total_blocks
    assert all(len(batch) == 1000 for batch in taken[:-1]) and 0 < len(taken[-1]) <= 1000
    rows = [row for batch in taken for row in batch]
    assert len(rows) == len({(row[0], row[1]) for row in rows})
    expected = execute(engine, msgspec.convert(body, Query))
    assert columns == expected.columns and rows == expected.rows
    limited = {**body, "limit": 2500, "offset": 30_000}
    _, batches = execute_batches(engine, msgspec.convert(limited, Query), batch_rows=1000)
    assert [len(batch) for batch in batches] == [1000, 1000, 500]


def test_stream_sees_memtable_rows_outside_partitions(tmp_path: Path) -> None:
    engine = open_engine(tmp_path)
    try:
        engine.write_line_protocol(f"m,host=a f=1.0 {BASE}\nm,host=b f=2.0 {BASE + 1}".encode())
        engine.flush()
        engine.write_line_protocol(f"m,host=a f=3.0 {BASE}\nm,host=a f=4.0 {BASE + 5 * DAY}".encode())
        for body in ({}, {"order": "desc"}, {"offset": 1}):
            expected = execute(engine, _query(body))
            _, batches = execute_batches(engine, _query(body), batch_rows=1)
            assert [row for batch in batches for row in batch] == expected.rows
        assert execute(engine, _query({})).rows == [[BASE, "a", 3.0], [BASE + 1, "b", 2.0], [BASE + 5 * DAY, "a", 4.0]]
    finally:
        engine.close()
