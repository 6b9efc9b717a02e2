"""The partition pass of aggregate queries (all series of a partition at once) against brute force.

Layouts that decide which path a series takes: one segment per partition; several segments holding
time-disjoint parts of a series (answered per segment); segments that overlap in time (overwrites:
the per-series merge); memtable rows; a delete. Every answer is checked against sums over the rows
engine.read_series returns (all layers merged), with and without header pushdown.
"""

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
from test_query import BASE, DAY, HOUR, open_engine

from rusts.query.executor import execute
from rusts.query.model import Query
from rusts.storage.engine import StorageEngine

HOSTS = ["a", "b", "c", "d"]
FUNCTIONS = ["count", "sum", "mean", "min", "max", "first", "last", "spread"]


def _write(engine: StorageEngine, rng: np.random.Generator, start: int, end: int, rows: int) -> None:
    times = np.sort(rng.integers(start // 10**9, end // 10**9, rows)) * 10**9
    hosts = rng.integers(0, len(HOSTS), rows)
    values = rng.uniform(-50, 50, rows).round(2)
    counts = rng.integers(-1000, 1000, rows)
    lines = [
        f"m,host={HOSTS[h]},zone=z{h % 2} v={v!r},k={k}i {t}"
        for h, v, k, t in zip(hosts.tolist(), values.tolist(), counts.tolist(), times.tolist())
    ]
    assert engine.write_line_protocol("\n".join(lines).encode()).errors == []


def _reference(engine: StorageEngine, field: str, function: str, interval: int | None, tag: str) -> dict[tuple[Any, int], Any]:
    rows: dict[tuple[Any, int], list[tuple[int, str, float]]] = defaultdict(list)
    for series_id in engine.series_ids("m"):
        entry = engine.index.lookup(series_id)
        assert entry is not None
        data = engine.read_series(series_id)
        if data is None or field not in data.columns:
            continue
        column = data.columns[field]
        for i, t in enumerate(data.timestamps.tolist()):
            if column.present is None or column.present[i]:
                bucket = 0 if interval is None else t // interval
                rows[(dict(entry.tags).get(tag), bucket)].append((t, entry.key, column.values[i].item()))
    out: dict[tuple[Any, int], Any] = {}
    for key, held in rows.items():
        values = [v for _, _, v in held]
        ordered = sorted(held)
        out[key] = {
            "count": len(values), "sum": sum(values), "mean": sum(values) / len(values), "min": min(values),
            "max": max(values), "first": ordered[0][2], "last": ordered[-1][2], "spread": max(values) - min(values),
        }[function]
    return out


def _check(engine: StorageEngine) -> None:
    for interval in (None, HOUR, DAY):
        for tag in ("host", "zone"):
            for field in ("v", "k"):
                aggregations = [{"function": f, "field": field} for f in FUNCTIONS]
                group: dict[str, Any] = {"tags": [tag]}
                if interval is not None:
                    group["time"] = {"interval": interval}
                for body in (
                    {"measurement": "m", "aggregations": aggregations, "group_by": group},
                    {"measurement": "m", "aggregations": aggregations, "group_by": group,
                     "field_filter": [{"field": field, "op": ">", "value": -10**6}]},
                ):
                    got = execute(engine, msgspec.convert(body, Query)).rows
                    for function in FUNCTIONS:
                        wanted = _reference(engine, field, function, interval, tag)
                        column = 2 + FUNCTIONS.index(function)
                        answered = {(row[1], 0 if interval is None else row[0] // interval): row[column] for row in got}
                        assert answered.keys() == wanted.keys()
                        for key, value in wanted.items():
                            assert math.isclose(answered[key], value, rel_tol=1e-9, abs_tol=1e-7), (function, key, answered[key], value)


LAYOUTS = ["compacted", "disjoint flushes", "overlapping flushes", "memtable", "deleted"]


def _disjoint_flushes(engine: StorageEngine, rng: np.random.Generator, rows: int) -> None:
    """Three flushes, each a later stretch of the same two days: segments disjoint in time per series."""
    for part in range(3):
        _write(engine, rng, BASE + part * DAY // 3, BASE + (part + 1) * DAY // 3, rows)
        _write(engine, rng, BASE + DAY + part * DAY // 3, BASE + DAY + (part + 1) * DAY // 3, rows)
        engine.flush()


def _lay_out(engine: StorageEngine, rng: np.random.Generator, layout: str) -> None:
    """Turn disjoint flushes into `layout`: one segment per partition, overlapping segments, memtable rows or a delete."""
    if layout == "compacted":
        engine.compact(1)
    elif layout == "overlapping flushes":
        _write(engine, rng, BASE, BASE + 2 * DAY, 300)  # overwrites and rows inside the others' ranges
        engine.flush()
    elif layout == "memtable":
        _write(engine, rng, BASE + HOUR, BASE + 2 * DAY, 200)
    elif layout == "deleted":
        engine.delete([engine.series_ids("m")[0]], BASE + 3 * HOUR, BASE + 30 * HOUR)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_partition_pass_matches_brute_force(tmp_path: Path, layout: str) -> None:
    engine = open_engine(tmp_path)
    rng = np.random.default_rng(17)
    try:
        _disjoint_flushes(engine, rng, 600)
        _lay_out(engine, rng, layout)
        _check(engine)
    finally:
        engine.close()


def test_counts_means_and_float_sums_without_row_states(tmp_path: Path) -> None:
    """The bincount path (count, mean, float sum of fully present columns) against brute force."""
    engine = open_engine(tmp_path)
    rng = np.random.default_rng(23)
    try:
        _write(engine, rng, BASE, BASE + 2 * DAY, 3000)
        engine.flush()
        for interval in (None, HOUR, 7 * 60 * 10**9):
            group: dict[str, Any] = {"tags": ["host"]}
            if interval is not None:
                group["time"] = {"interval": interval}
            aggregations = [{"function": "count", "field": "*"}, {"function": "count", "field": "v"},
                            {"function": "mean", "field": "v"}, {"function": "sum", "field": "v"},
                            {"function": "mean", "field": "k"}]
            got = execute(engine, msgspec.convert({"measurement": "m", "aggregations": aggregations, "group_by": group}, Query)).rows
            for column, (field, function) in enumerate([("v", "count"), ("v", "count"), ("v", "mean"), ("v", "sum"), ("k", "mean")], 2):
                wanted = _reference(engine, field, function, interval, "host")
                answered = {(row[1], 0 if interval is None else row[0] // interval): row[column] for row in got}
                assert answered.keys() == wanted.keys()
                for key, value in wanted.items():
                    assert math.isclose(answered[key], value, rel_tol=1e-9, abs_tol=1e-7), (function, key)
    finally:
        engine.close()


def _raw_reference(engine: StorageEngine, start: int, end: int, host: str | None, v_above: float | None) -> list[dict[str, Any]]:
    """The raw rows a query should answer, from engine.read_series (all layers merged), by (time, series key)."""
    rows: list[tuple[int, str, dict[str, Any]]] = []
    for series_id in engine.series_ids("m"):
        entry = engine.index.lookup(series_id)
        assert entry is not None
        tags = dict(entry.tags)
        data = engine.read_series(series_id)
        if data is None or (host is not None and tags["host"] != host):
            continue
        for i, t in enumerate(data.timestamps.tolist()):
            if not start <= t < end:
                continue
            row: dict[str, Any] = {"time": t, "host": tags["host"], "zone": tags["zone"]}
            for name in ("k", "v", "s"):
                column = data.columns.get(name)
                carried = column is not None and (column.present is None or bool(column.present[i]))
                row[name] = (column.values[i] if isinstance(column.values, list) else column.values[i].item()) if carried and column is not None else None
            if all(row[name] is None for name in ("k", "v", "s")):
                continue
            if v_above is not None and (row["v"] is None or not row["v"] > v_above):
                continue
            rows.append((t, entry.key, row))
    return [row for _, _, row in sorted(rows, key=lambda item: (item[0], item[1]))]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_raw_scans_and_exports_of_whole_segments_match_brute_force(tmp_path: Path, layout: str) -> None:
    """Raw rows read from segments' decoded columns (series a partition settles alone) or series by
    series (overwrites, memtable rows, deletes), through execute, execute_batches and the exporter."""
    import pyarrow.parquet as pq

    from rusts.exporter.parquet import export_parquet
    from rusts.query.executor import execute_batches

    engine = open_engine(tmp_path)
    rng = np.random.default_rng(31)
    try:
        _disjoint_flushes(engine, rng, 500)
        # A string field on some rows only, at odd nanoseconds (never the time of another row).
        lines = [f'm,host={HOSTS[i % 4]},zone=z{i % 4 % 2} s="w{i % 5}" {BASE + i * 3 * HOUR // 2 + 1}' for i in range(30)]
        assert engine.write_line_protocol("\n".join(lines).encode()).errors == []
        engine.flush()
        _lay_out(engine, rng, layout)
        cases: list[tuple[dict[str, Any], int, int, str | None, float | None]] = [
            ({}, -(2**63), 2**63 - 1, None, None),
            ({"time_range": {"start": BASE + 5 * HOUR, "end": BASE + DAY + 7 * HOUR}}, BASE + 5 * HOUR, BASE + DAY + 7 * HOUR, None, None),
            ({"tag_filter": {"type": "eq", "key": "host", "value": "b"}}, -(2**63), 2**63 - 1, "b", None),
            ({"field_filter": [{"field": "v", "op": ">", "value": 10.0}]}, -(2**63), 2**63 - 1, None, 10.0),
        ]
        for extra, start, end, host, v_above in cases:
            wanted = _raw_reference(engine, start, end, host, v_above)
            assert wanted
            query = msgspec.convert({"measurement": "m", **extra}, Query)
            result = execute(engine, query)
            names = [c.name for c in result.columns]
            assert [dict(zip(names, row)) for row in result.rows] == wanted, extra
            columns, batches = execute_batches(engine, query)
            streamed = [row for batch in batches for row in batch]
            assert [dict(zip([c.name for c in columns], row)) for row in streamed] == wanted, extra
            out = tmp_path / "out.parquet"
            assert export_parquet(engine, query, str(out)) == len(wanted)
            exported = pq.read_table(out).to_pylist()
            for row in exported:
                row["time"] = int(row["time"].value) if hasattr(row["time"], "value") else row["time"]
            assert [{**row, "time": w["time"]} for row, w in zip(exported, wanted)] == wanted, extra
            assert [row["time"] for row in exported] == [w["time"] for w in wanted]
    finally:
        engine.close()
