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


@pytest.mark.parametrize("layout", ["compacted", "disjoint flushes", "overlapping flushes", "memtable", "deleted"])
def test_partition_pass_matches_brute_force(tmp_path: Path, layout: str) -> None:
    engine = open_engine(tmp_path)
    rng = np.random.default_rng(17)
    try:
        # Three flushes, each a later stretch of the same three days: segments disjoint in time per series.
        for part in range(3):
            _write(engine, rng, BASE + part * DAY // 3, BASE + (part + 1) * DAY // 3, 600)
            _write(engine, rng, BASE + DAY + part * DAY // 3, BASE + DAY + (part + 1) * DAY // 3, 600)
            engine.flush()
        if layout == "compacted":
            engine.compact(1)
        elif layout == "overlapping flushes":
            _write(engine, rng, BASE, BASE + 2 * DAY, 300)  # overwrites and rows inside the others' ranges
            engine.flush()
        elif layout == "memtable":
            _write(engine, rng, BASE + HOUR, BASE + 2 * DAY, 200)
        elif layout == "deleted":
            engine.delete([engine.series_ids("m")[0]], BASE + 3 * HOUR, BASE + 30 * HOUR)
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
