"""Executor bugs found by differential testing against PostgreSQL (tools/sql_oracle.py), each on a real
engine whose data lies the way that showed the bug: several segments of one partition plus the memtable.
Expected answers are computed in the test from the rows written."""

from pathlib import Path

import pytest
from test_query import BASE, HOUR, open_engine

from rusts.sql import execute_sql
from rusts.sql.errors import sqlstate_of
from rusts.storage.engine import StorageEngine

SECOND = 1_000_000_000


def _write(engine: StorageEngine, lines: list[str]) -> None:
    assert engine.write_line_protocol("\n".join(lines).encode()).errors == []


def test_count_with_count_distinct_counts_each_row_once(tmp_path: Path) -> None:
    """A series held by two segments of a partition, one worth decoding whole and one not: the partition
    pass folded it from the first, then gave it to the per-series scan, which counted it again."""
    engine = open_engine(tmp_path)
    rows: set[tuple[str, int]] = set()
    dcs: set[str] = set()

    def put(host: str, dc: str, at: int) -> str:
        rows.add((host, at))
        dcs.add(dc)
        return f"m,host={host},dc={dc} v={len(rows)}i {at}"

    try:
        for day in (0, 24):  # two partitions, the segments flushed in either order
            first = [put("a", "x", BASE + (day + 0) * HOUR + k * SECOND) for k in range(100)]
            first.append(put("b", "y", BASE + (day + 5) * HOUR + 30 * SECOND))  # b overlaps itself across segments
            second = [put("a", "x", BASE + (day + 5) * HOUR + k * SECOND) for k in range(2)]
            second += [put("b", "y", BASE + (day + 5) * HOUR + k * SECOND) for k in range(100)]
            for batch in (first, second) if day == 0 else (second, first):
                _write(engine, batch)
                engine.flush()
        _write(engine, [put("c", "z", BASE + 50 * HOUR + k * SECOND) for k in range(10)])  # the memtable
        answer = execute_sql(engine, "SELECT COUNT(*), COUNT(DISTINCT dc) FROM m")
        assert answer.rows == [[len(rows), len(dcs)]]
        grouped = execute_sql(engine, "SELECT host, COUNT(*), COUNT(DISTINCT dc) FROM m GROUP BY host ORDER BY host")
        expected = [[host, sum(1 for h, _ in rows if h == host), 1] for host in ("a", "b", "c")]
        assert grouped.rows == expected
    finally:
        engine.close()


def test_count_of_a_string_field_over_segments_and_memtable(tmp_path: Path) -> None:
    """COUNT of a string field answered from block headers crashed looking up a numeric dtype."""
    engine = open_engine(tmp_path)
    words = ["apple", "", "é", "x y"]
    try:
        # One segment of day 1 holding the series, and memtable rows of it on days 0 and 2: the partition
        # pass leaves day 1 to the per-series scan, which answers it from block headers.
        _write(engine, [f'm,host=a s="{words[k % 4]}" {BASE + 24 * HOUR + k * SECOND}' for k in range(50)])
        _write(engine, [f"m,host=a v=1i {BASE + 25 * HOUR + k * SECOND}" for k in range(7)])  # rows without s
        engine.flush()
        _write(engine, [f'm,host=a s="{words[k % 4]}" {BASE + k * SECOND}' for k in range(5)])
        _write(engine, [f'm,host=a s="{words[k % 4]}" {BASE + 48 * HOUR + k * SECOND}' for k in range(3)])
        assert execute_sql(engine, "SELECT COUNT(s) FROM m").rows == [[58]]
        assert execute_sql(engine, "SELECT COUNT(s), COUNT(*) FROM m").rows == [[58, 65]]
        assert execute_sql(engine, "SELECT COUNT(DISTINCT s) FROM m").rows == [[4]]
    finally:
        engine.close()


@pytest.mark.parametrize("flushed", [True, False])
def test_bigint_sum_out_of_range_is_refused(tmp_path: Path, flushed: bool) -> None:
    """SUM of a bigint field wrapped silently; a total outside bigint is SQLSTATE 22003 (PostgreSQL
    answers numeric there; RusTs keeps bigint and refuses)."""
    engine = open_engine(tmp_path)
    top = 2**63 - 1
    try:
        _write(engine, [f"m,host=a i={top}i {BASE}"])
        if flushed:
            engine.flush()
        _write(engine, [f"m,host=a i=1i {BASE + SECOND}"])
        with pytest.raises(Exception) as caught:
            execute_sql(engine, "SELECT SUM(i) FROM m")
        assert sqlstate_of(caught.value) == "22003"
        assert "sum(i)" in str(caught.value)
        # A total that fits is exact even when partial sums leave bigint on the way.
        _write(engine, [f"m,host=a i=-5i {BASE + 2 * SECOND}"])
        assert execute_sql(engine, "SELECT SUM(i) FROM m").rows == [[top + 1 - 5]]
        by_second = execute_sql(engine, "SELECT time_bucket('1 second', time) AS t, SUM(i) FROM m GROUP BY 1 ORDER BY t")
        assert [row[-1] for row in by_second.rows] == [top, 1, -5]
    finally:
        engine.close()
