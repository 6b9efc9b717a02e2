"""stream_sql gives execute_sql's answer in bounded batches: the same columns and rows, in order, for
every kind of statement; raw SELECTs are read as the batches are taken."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from rusts.api.line_protocol import engine_parser
from rusts.sql import execute_sql, stream_sql
from rusts.storage.engine import EngineOptions, StorageEngine

MINUTE = 60_000_000_000
HOUR = 60 * MINUTE
BASE = 1_761_955_200_000_000_000  # 2025-11-01T00:00:00Z
NOW = BASE + 80 * HOUR


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[StorageEngine]:
    engine = StorageEngine.open(EngineOptions(str(tmp_path), memtable_max_age_secs=10**6), engine_parser)
    lines = [
        f"cpu,host={'abc'[i % 3]} usage={i * 0.5},n={i % 11}i {BASE + i * 17 * MINUTE}"  # spans four daily partitions
        for i in range(260)
    ]
    assert engine.write_line_protocol("\n".join(lines[:200]).encode()).errors == []
    engine.flush()
    assert engine.write_line_protocol("\n".join(lines[200:]).encode()).errors == []  # and the memtable
    yield engine
    engine.close()


QUERIES = [
    "SELECT * FROM cpu",
    "SELECT usage * 2 AS twice, host FROM cpu WHERE n > 3",
    "SELECT time, usage FROM cpu ORDER BY time DESC LIMIT 25",
    "SELECT host, COUNT(*), AVG(usage) FROM cpu GROUP BY host",
    "SELECT host, MAX(usage) AS top FROM cpu GROUP BY host HAVING MAX(usage) > 100 ORDER BY top DESC",
    "SELECT usage FROM cpu ORDER BY usage DESC LIMIT 5 OFFSET 2",
    "SHOW TAG VALUES FROM cpu WITH KEY = host",
    "INSERT INTO cpu (time, host, usage) VALUES (1761955200000000001, 'z', 1.5)",
]


@pytest.mark.parametrize("text", QUERIES)
def test_stream_is_the_whole_answer_in_batches(engine: StorageEngine, text: str) -> None:
    streamed = stream_sql(engine, text, now=NOW, batch_rows=7)
    rows = [row for batch in streamed.batches for row in batch]
    whole = execute_sql(engine, text, now=NOW) if not text.startswith("INSERT") else None
    if whole is None:
        assert streamed.tag == "INSERT 0 1" and rows == []
        return
    assert streamed.columns == whole.columns
    assert rows == whole.rows
    assert whole.tag == (f"SELECT {len(rows)}" if streamed.tag == "SELECT" else streamed.tag)


def test_raw_rows_come_in_bounded_batches(engine: StorageEngine) -> None:
    streamed = stream_sql(engine, "SELECT time, usage FROM cpu WHERE usage >= 0", now=NOW, batch_rows=16)
    sizes = [len(batch) for batch in streamed.batches]
    assert sum(sizes) == 260 and max(sizes) <= 16 and len(sizes) >= 17
