"""Query engine: every aggregate, fill, predicate and paging mode against a plain-Python reference.

The data goes through the real engine: a first batch flushed to segments, a
second one flushed too (overwrites and late points over the first), a third
left in the memtable (more overwrites). The reference keeps the same writes
in a dict, newest write winning per field, and answers queries by brute force.
"""

import math
import random
import re
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

from rusts.api.line_protocol import engine_parser
from rusts.core.errors import QueryError
from rusts.core.hashing import series_key
from rusts.query import aggregate as agg
from rusts.query.errors import (
    FieldTypeError,
    InvalidQueryError,
    QueryTimeoutError,
    UnknownFieldError,
    UnknownMeasurementError,
)
from rusts.query.executor import execute
from rusts.query.model import Query, QueryResult, parse_query
from rusts.storage.engine import EngineOptions, StorageEngine

HOUR = 3_600_000_000_000
DAY = 24 * HOUR
BASE = 1_761_955_200_000_000_000  # 2025-11-01, a partition boundary
FIELDS = {"f": "float", "i": "integer", "u": "unsigned", "s": "string", "b": "boolean"}

Key = tuple[str, int]  # (series key, time)


def open_engine(path: Path) -> StorageEngine:
    options = EngineOptions(str(path), memtable_max_age_secs=10**6, compact_min_segments=100)
    return StorageEngine.open(options, engine_parser)


class Reference:
    """The same writes as the engine, newest write winning per field."""

    def __init__(self) -> None:
        self.rows: dict[Key, dict[str, Any]] = {}
        self.tags: dict[str, dict[str, str]] = {}

    def write(self, tags: dict[str, str], ts: int, fields: dict[str, Any]) -> str:
        key = series_key("m", sorted(tags.items()))
        self.tags[key] = tags
        self.rows.setdefault((key, ts), {}).update(fields)
        return _line(tags, ts, fields)

    def sorted_rows(self) -> list[tuple[str, int, dict[str, Any]]]:
        return [(k, t, f) for (k, t), f in sorted(self.rows.items(), key=lambda item: (item[0][1], item[0][0]))]


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float):
        return repr(value)
    if value < 0:
        return f"{value}i"
    return f"{value}u" if value >= 10**6 else f"{value}i"


def _line(tags: dict[str, str], ts: int, fields: dict[str, Any]) -> str:
    tag_text = "".join(f",{k}={v}" for k, v in sorted(tags.items()))
    return f"m{tag_text} {','.join(f'{k}={_value(v)}' for k, v in fields.items())} {ts}"


def random_fields(rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if rng.random() < 0.9:
        out["f"] = round(rng.uniform(-50, 50), 3)
    if rng.random() < 0.8:
        out["i"] = rng.randrange(-1000, 1000)
    if rng.random() < 0.7:
        out["u"] = 10**6 + rng.randrange(0, 5000)  # "u" suffix: see _value
    if rng.random() < 0.6:
        out["s"] = rng.choice(["a", "b", "c", "dd"])
    if rng.random() < 0.5:
        out["b"] = rng.random() < 0.5
    if not out:
        out["f"] = 0.5
    return out


SERIES = [
    {"host": f"h{h}", **({"region": f"r{h % 3}"} if h != 3 else {}), **({"rack": "x"} if h == 1 else {})}
    for h in range(5)
] + [{"host": "h9", "region": "r1"}]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[StorageEngine, Reference]:
    rng = random.Random(7)
    engine = open_engine(tmp_path_factory.mktemp("query"))
    ref = Reference()
    written: list[tuple[dict[str, str], int]] = []
    for batch in range(3):
        lines = []
        for _ in range(900):
            tags = rng.choice(SERIES)
            if batch and written and rng.random() < 0.3:
                tags, ts = rng.choice(written)  # overwrite an existing point
            else:
                ts = BASE + rng.randrange(0, 3 * DAY) // 1_000_000_000 * 1_000_000_000
                if batch == 2 and rng.random() < 0.3:
                    ts = BASE - rng.randrange(1, 6) * HOUR  # late point in a partition of its own
                written.append((tags, ts))
            lines.append(ref.write(tags, ts, random_fields(rng)))
        result = engine.write_line_protocol("\n".join(lines).encode())
        assert result.errors == []
        if batch < 2:
            engine.flush()
    yield engine, ref
    engine.close()


def run(engine: StorageEngine, **body: Any) -> QueryResult:
    return execute(engine, parse_query(msgspec.json.encode({"measurement": "m", **body})))


# ---- reference aggregates ----


def ref_aggregate(function: str, values: list[Any], times: list[tuple[int, str]], p: float = 0.0) -> Any:
    if function == "count":
        return len(values)
    if function == "count_distinct":
        return len(set(values))
    if not values:
        return None
    if function == "first":
        return values[min(range(len(values)), key=lambda i: times[i])]
    if function == "last":
        return values[max(range(len(values)), key=lambda i: times[i])]
    if function == "sum":
        return sum(values)
    if function == "mean":
        return float(np.mean(np.array(values, dtype=np.float64)))
    if function == "min":
        return min(values)
    if function == "max":
        return max(values)
    if function == "spread":
        return max(values) - min(values)
    if function == "stddev":
        return float(np.std(np.array(values, dtype=np.float64), ddof=1)) if len(values) > 1 else None
    if function == "median":
        return float(np.median(np.array(values, dtype=np.float64)))
    if function == "percentile":
        return float(np.percentile(np.array(values, dtype=np.float64), p))
    raise AssertionError(function)


def close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-7) or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def assert_rows(got: list[list[Any]], expected: list[list[Any]]) -> None:
    assert len(got) == len(expected), (got[:5], expected[:5])
    for g, e in zip(got, expected):
        bad = [i for i, (x, y) in enumerate(zip(g, e)) if not close(x, y)]
        assert len(g) == len(e) and not bad, (bad, [g[i] for i in bad], [e[i] for i in bad], g)


def reference_groups(
    ref: Reference, field: str, start: int, end: int, tags: list[str], interval: int | None, offset: int,
    keep: Any = None,
) -> dict[tuple[Any, ...], dict[int, tuple[list[Any], list[tuple[int, str]], int]]]:
    """group key -> bucket -> (values of field, (time, key) of each, rows in bucket)."""
    out: dict[tuple[Any, ...], dict[int, tuple[list[Any], list[tuple[int, str]], int]]] = {}
    for key, ts, fields in ref.sorted_rows():
        if not start <= ts < end or (keep is not None and not keep(fields)):
            continue
        group = tuple(ref.tags[key].get(t) for t in tags)
        bucket = 0 if interval is None else (ts - offset) // interval
        values, times, rows = out.setdefault(group, {}).get(bucket, ([], [], 0))
        if field == "*":
            values = values + [1]
        elif field in fields:
            values = values + [fields[field]]
            times = times + [(ts, key)]
        elif field in ("host", "region", "rack") and field in ref.tags[key]:
            values = values + [ref.tags[key][field]]
        out[group][bucket] = (values, times, rows + 1)
    return out


def group_order(key: tuple[Any, ...]) -> list[tuple[bool, str]]:
    return [(v is not None, v or "") for v in key]


CASES = [
    ("count", "*"), ("count", "s"), ("sum", "f"), ("sum", "i"), ("sum", "u"), ("mean", "f"), ("mean", "i"),
    ("min", "f"), ("min", "i"), ("max", "u"), ("max", "f"), ("first", "s"), ("last", "b"), ("first", "i"),
    ("last", "f"), ("stddev", "f"), ("stddev", "i"), ("median", "f"), ("median", "u"), ("percentile", "f"),
    ("spread", "i"), ("spread", "f"), ("count_distinct", "s"), ("count_distinct", "region"),
]


@pytest.mark.parametrize("grouping", ["none", "tags", "time", "both"])
def test_every_aggregation_matches_reference(world: tuple[StorageEngine, Reference], grouping: str) -> None:
    engine, ref = world
    tags = ["host"] if grouping in ("tags", "both") else []
    interval = 5 * HOUR if grouping in ("time", "both") else None
    offset = HOUR
    start, end = BASE - 3 * HOUR, BASE + 2 * DAY + 7 * HOUR
    body: dict[str, Any] = {
        "time_range": {"start": start, "end": end},
        "aggregations": [{"function": f, "field": x, "p": 90} for f, x in CASES],
    }
    group: dict[str, Any] = {"tags": tags}
    if interval is not None:
        group["time"] = {"interval": interval, "offset": offset}
    body["group_by"] = group
    result = run(engine, **body)
    assert [c.name for c in result.columns][: 1 + len(tags)] == ["time", *tags]
    expected: dict[tuple[Any, ...], dict[int, list[Any]]] = {}
    for i, (function, field) in enumerate(CASES):
        for key, buckets in reference_groups(ref, field, start, end, tags, interval, offset).items():
            for bucket, (values, times, _) in buckets.items():
                expected.setdefault(key, {}).setdefault(bucket, [None] * len(CASES))[i] = ref_aggregate(
                    function, values, times, 90
                )
    rows = []
    for key in sorted(expected, key=group_order):
        for bucket in sorted(expected[key]):
            t = start if interval is None else bucket * interval + offset
            rows.append([t, *key, *expected[key][bucket]])
    assert_rows(result.rows, rows)


@pytest.mark.parametrize("fill", ["none", "null", "previous", "linear", {"value": -1}])
def test_fill_modes(world: tuple[StorageEngine, Reference], fill: Any) -> None:
    engine, ref = world
    start, end = BASE - 12 * HOUR, BASE + 3 * DAY
    interval = 2 * HOUR
    result = run(
        engine,
        time_range={"start": start, "end": end},
        tag_filter={"type": "eq", "key": "host", "value": "h9"},
        aggregations=[{"function": "mean", "field": "f"}, {"function": "count", "field": "*"},
                      {"function": "max", "field": "i"}],
        group_by={"time": {"interval": interval}, "fill": fill},
    )
    per_bucket = reference_groups(ref, "f", start, end, ["host"], interval, 0, None)[("h9",)]
    ints = reference_groups(ref, "i", start, end, ["host"], interval, 0, None)[("h9",)]
    all_buckets = list(range(start // interval, (end - 1) // interval + 1))
    expected = []
    means = {b: ref_aggregate("mean", per_bucket[b][0], per_bucket[b][1]) for b in per_bucket}
    maxes = {b: ref_aggregate("max", ints[b][0], ints[b][1]) for b in ints}
    counts = {b: per_bucket[b][2] for b in per_bucket}
    assert any(b not in per_bucket for b in all_buckets)  # there are empty buckets to fill
    previous: list[Any] = [None, None]
    for b in all_buckets:
        if b in per_bucket:
            row = [b * interval, means[b], counts[b], maxes.get(b)]
            previous = [means[b], maxes.get(b)]
        elif fill == "none":
            continue
        elif fill == "null":
            row = [b * interval, None, 0, None]
        elif fill == "previous":
            row = [b * interval, previous[0], 0, previous[1]]
        elif fill == "linear":
            row = [b * interval, _interp(b, means), 0, _interp(b, maxes, integer=True)]
        else:
            row = [b * interval, -1, 0, -1]
        expected.append(row)
    assert_rows(result.rows, expected)


def _interp(b: int, known: dict[int, Any], integer: bool = False) -> Any:
    left = [k for k in known if k < b and known[k] is not None]
    right = [k for k in known if k > b and known[k] is not None]
    if not left or not right:
        return None
    ka, kb = max(left), min(right)
    a, c = known[ka], known[kb]
    return a + (c - a) * (b - ka) // (kb - ka) if integer else a + (c - a) * (b - ka) / (kb - ka)


# ---- raw rows, predicates, paging ----


def ref_raw(ref: Reference, keep_series: Any = None, keep_row: Any = None, fields: list[str] | None = None) -> list[list[Any]]:
    projection = fields or sorted(FIELDS)
    out = []
    for key, ts, values in ref.sorted_rows():
        tags = ref.tags[key]
        if keep_series is not None and not keep_series(tags):
            continue
        if keep_row is not None and not keep_row(values):
            continue
        if not any(f in values for f in projection):
            continue
        out.append([ts, tags.get("host"), tags.get("rack"), tags.get("region"), *[values.get(f) for f in projection]])
    return out


TAG_CASES: list[tuple[dict[str, Any], Any]] = [
    ({"type": "eq", "key": "host", "value": "h1"}, lambda t: t.get("host") == "h1"),
    ({"type": "neq", "key": "region", "value": "r1"}, lambda t: t.get("region", "") != "r1"),
    ({"type": "regex", "key": "host", "pattern": "^h[0-2]$"}, lambda t: re.search("^h[0-2]$", t["host"])),
    ({"type": "not_regex", "key": "region", "pattern": "1"}, lambda t: not re.search("1", t.get("region", ""))),
    ({"type": "in", "key": "region", "values": ["r0", "r2", "nope"]}, lambda t: t.get("region") in ("r0", "r2")),
    ({"type": "eq", "key": "rack", "value": ""}, lambda t: "rack" not in t),
    (
        {"type": "and", "predicates": [{"type": "regex", "key": "host", "pattern": "h"},
                                       {"type": "not", "predicate": {"type": "eq", "key": "region", "value": "r0"}},
                                       {"type": "neq", "key": "host", "value": "h9"}]},
        lambda t: t.get("region") != "r0" and t["host"] != "h9",
    ),
    (
        {"type": "or", "predicates": [{"type": "eq", "key": "host", "value": "h3"},
                                      {"type": "in", "key": "region", "values": ["r2"]}]},
        lambda t: t["host"] == "h3" or t.get("region") == "r2",
    ),
    ({"type": "not", "predicate": {"type": "or", "predicates": [{"type": "eq", "key": "host", "value": "h0"}]}},
     lambda t: t["host"] != "h0"),
    ({"type": "eq", "key": "nokey", "value": "x"}, lambda t: False),
]


@pytest.mark.parametrize("case", range(len(TAG_CASES)))
def test_tag_predicates_match_brute_force(world: tuple[StorageEngine, Reference], case: int) -> None:
    engine, ref = world
    predicate, keep = TAG_CASES[case]
    result = run(engine, tag_filter=predicate)
    assert [c.name for c in result.columns] == ["time", "host", "rack", "region", "b", "f", "i", "s", "u"]
    assert_rows(result.rows, ref_raw(ref, keep_series=keep))


FIELD_CASES: list[tuple[list[dict[str, Any]], Any]] = [
    ([{"field": "f", "op": ">", "value": 10}], lambda v: "f" in v and v["f"] > 10),
    ([{"field": "i", "op": "<=", "value": 0}, {"field": "f", "op": "!=", "value": 0.5}],
     lambda v: "i" in v and v["i"] <= 0 and "f" in v and v["f"] != 0.5),
    ([{"field": "s", "op": "=", "value": "dd"}], lambda v: v.get("s") == "dd"),
    ([{"field": "s", "op": ">=", "value": "b"}], lambda v: "s" in v and v["s"] >= "b"),
    ([{"field": "b", "op": "=", "value": True}], lambda v: v.get("b") is True),
    ([{"field": "u", "op": "<", "value": 1002000}], lambda v: "u" in v and v["u"] < 1002000),
]


@pytest.mark.parametrize("case", range(len(FIELD_CASES)))
def test_field_predicates(world: tuple[StorageEngine, Reference], case: int) -> None:
    engine, ref = world
    predicates, keep = FIELD_CASES[case]
    result = run(engine, field_filter=predicates, fields=["f", "s"])
    assert_rows(result.rows, ref_raw(ref, keep_row=keep, fields=["f", "s"]))
    counted = run(engine, field_filter=predicates, aggregations=[{"function": "count", "field": "*"}])
    assert counted.rows == [[0, sum(1 for _, _, v in ref.sorted_rows() if keep(v))]]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("limit, offset", [(None, 0), (7, 0), (5, 3), (0, 0), (100000, 10)])
def test_order_limit_offset(world: tuple[StorageEngine, Reference], order: str, limit: int | None, offset: int) -> None:
    engine, ref = world
    body: dict[str, Any] = {"order": order, "offset": offset, "fields": ["i", "s"]}
    if limit is not None:
        body["limit"] = limit
    expected = ref_raw(ref, fields=["i", "s"])
    if order == "desc":
        expected.reverse()
    expected = expected[offset : None if limit is None else offset + limit]
    assert_rows(run(engine, **body).rows, expected)
    # top-k with a field predicate and a time range
    body["field_filter"] = [{"field": "i", "op": ">", "value": 500}]
    body["time_range"] = {"start": BASE + HOUR, "end": BASE + 2 * DAY}
    expected = [r for r in ref_raw(ref, fields=["i", "s"]) if r[4] is not None and r[4] > 500 and BASE + HOUR <= r[0] < BASE + 2 * DAY]
    if order == "desc":
        expected.reverse()
    assert_rows(run(engine, **body).rows, expected[offset : None if limit is None else offset + limit])


def test_aggregate_order_and_limit(world: tuple[StorageEngine, Reference]) -> None:
    engine, _ = world
    body: dict[str, Any] = {"aggregations": [{"function": "count", "field": "*"}],
                            "group_by": {"tags": ["region"], "time": {"interval": DAY}}}
    asc = run(engine, **body).rows
    desc = run(engine, order="desc", **body).rows
    by_group: dict[Any, list[Any]] = {}
    for row in asc:
        by_group.setdefault(row[1], []).append(row)
    assert desc == [r for rows in by_group.values() for r in reversed(rows)]
    assert run(engine, limit=2, offset=1, **body).rows == asc[1:3]
    assert asc[0][1] is None  # series without a region group first, as null


# ---- edge cases ----


def test_empty_single_point_and_no_match(tmp_path: Path) -> None:
    engine = open_engine(tmp_path)
    try:
        engine.write_line_protocol(b"m,host=a f=2.5,i=3i 1000")
        aggs = [{"function": f, "field": "f"} for f in ("count", "sum", "mean", "stddev", "median", "spread", "first")]
        result = run(engine, aggregations=aggs)
        assert result.rows == [[0, 1, 2.5, 2.5, None, 2.5, 0.0, 2.5]]
        nothing = run(engine, aggregations=aggs, time_range={"start": 0, "end": 1000})
        assert nothing.rows == [[0, 0, None, None, None, None, None, None]]
        assert run(engine, aggregations=aggs, group_by={"tags": ["host"]}, time_range={"start": 2000}).rows == []
        assert run(engine, tag_filter={"type": "eq", "key": "host", "value": "zz"}).rows == []
        raw = run(engine)
        assert [c.type for c in raw.columns] == ["timestamp", "string", "float", "integer"]
        assert raw.rows == [[1000, "a", 2.5, 3]]
    finally:
        engine.close()


def test_nan_semantics_match_numpy() -> None:
    values = np.array([1.0, np.nan, 3.0, -2.0])
    buckets = np.zeros(4, dtype=np.int64)
    times = np.arange(4, dtype=np.int64)
    expect = {
        "sum": np.sum(values), "mean": np.mean(values), "min": -2.0, "max": 3.0, "spread": 5.0,
        "stddev": np.std(values, ddof=1), "median": np.median(values), "percentile": np.percentile(values, 30),
    }
    for function, wanted in expect.items():
        spec = agg.AggregateSpec(function, "f", function, 0, False, 30.0, "float")
        state = agg.merge(spec, [agg.lift(spec, buckets[:2], values[:2], times[:2], 0),
                                 agg.lift(spec, buckets[2:], values[2:], times[2:], 1)])
        assert state is not None
        got = agg.finish(spec, state)[1][0]
        assert close(got, float(wanted)), (function, got, wanted)
    rng = np.random.default_rng(3)
    for p in (0.0, 12.5, 50.0, 99.0, 100.0):
        data = rng.normal(size=37)
        spec = agg.AggregateSpec("percentile", "f", "p", 0, False, p, "float")
        state = agg.merge(spec, [agg.lift(spec, np.zeros(37, dtype=np.int64), data, np.arange(37), 0)])
        assert state is not None
        assert agg.finish(spec, state)[1][0] == pytest.approx(np.percentile(data, p), rel=1e-12)


# ---- pushdown and top-k ----


def _decoded(engine: StorageEngine) -> int:
    return sum(reader.blocks_decoded for p in engine.partitions.values() for _, reader in p.segments())


def _big_engine(path: Path) -> StorageEngine:
    engine = open_engine(path)
    rng = np.random.default_rng(11)
    n = 40_000
    times = BASE + np.arange(n, dtype=np.int64) * 2_000_000_000  # 40k points over ~22 h: several blocks
    values = rng.uniform(-5, 5, n).round(3)
    ints = rng.integers(-100, 100, n)
    lines = [f"big,host=a v={v!r},n={k}i {t}" for t, v, k in zip(times.tolist(), values.tolist(), ints.tolist())]
    lines += [f"big,host=b v={v!r} {t + 1}" for t, v in zip(times.tolist()[::4], values.tolist()[::4])]
    engine.write_line_protocol("\n".join(lines).encode())
    engine.flush()
    engine.compact(1)
    return engine


def test_pushdown_used_when_valid_and_not_when_overwritten(tmp_path: Path) -> None:
    engine = _big_engine(tmp_path)
    try:
        aggs = [{"function": f, "field": x} for f, x in
                [("count", "*"), ("count", "v"), ("sum", "v"), ("min", "v"), ("max", "n"), ("mean", "n"), ("sum", "n")]]
        body = {"measurement": "big", "aggregations": aggs, "group_by": {"tags": ["host"]}}
        query = msgspec.convert(body, Query)
        before = _decoded(engine)
        pushed = execute(engine, query)
        assert _decoded(engine) == before  # every block answered from its header
        # the same query with a (true for every row) field predicate must decode, and agree
        decoded = execute(engine, msgspec.convert({**body, "field_filter": [{"field": "v", "op": ">", "value": -99}]}, Query))
        assert _decoded(engine) > before
        assert_rows(pushed.rows, decoded.rows)
        reads = [engine.read_series(s) for s in engine.series_ids("big")]
        total = sum(len(r) for r in reads if r is not None)
        assert sum(row[2] for row in pushed.rows) == total
        # an overwrite in the memtable: that partition must be decoded, and the answer change
        engine.write_line_protocol(f"big,host=a v=1000.0 {BASE}".encode())
        before = _decoded(engine)
        after = execute(engine, query)
        assert _decoded(engine) > before
        assert after.rows != pushed.rows and after.rows[0][2] == pushed.rows[0][2]
        filtered = {**body, "field_filter": [{"field": "v", "op": ">", "value": -99}]}
        assert_rows(after.rows, execute(engine, msgspec.convert(filtered, Query)).rows)
        # a time-bucketed query: blocks inside one bucket pushed, others decoded, same answer
        engine.flush()
        bucketed = {**body, "group_by": {"tags": ["host"], "time": {"interval": 6 * HOUR}}}
        pushed = execute(engine, msgspec.convert(bucketed, Query))
        with_filter = {**bucketed, "field_filter": [{"field": "v", "op": ">", "value": -99}]}
        assert_rows(pushed.rows, execute(engine, msgspec.convert(with_filter, Query)).rows)
    finally:
        engine.close()


def test_top_k_decodes_few_blocks(tmp_path: Path) -> None:
    engine = _big_engine(tmp_path)
    try:
        data = engine.read_series(engine.series_ids("big")[0])
        assert data is not None
        before = _decoded(engine)
        full = execute(engine, msgspec.convert({"measurement": "big", "order": "desc"}, Query))
        full_blocks = _decoded(engine) - before
        before = _decoded(engine)
        top = execute(engine, msgspec.convert({"measurement": "big", "order": "desc", "limit": 10}, Query))
        top_blocks = _decoded(engine) - before
        assert top.rows == full.rows[:10]
        assert 0 < top_blocks < full_blocks and top_blocks <= 2
        before = _decoded(engine)
        first = execute(engine, msgspec.convert({"measurement": "big", "limit": 3, "offset": 2}, Query))
        assert _decoded(engine) - before <= 2
        assert first.rows == full.rows[::-1][2:5]
    finally:
        engine.close()


# ---- errors and the JSON contract ----


def test_errors(world: tuple[StorageEngine, Reference]) -> None:
    engine, _ = world
    cases: list[tuple[dict[str, Any], type[QueryError], str]] = [
        ({"measurement": "nope"}, UnknownMeasurementError, "unknown measurement 'nope'"),
        ({"measurement": "m", "fields": ["zz"]}, UnknownFieldError, "has no field 'zz'"),
        ({"measurement": "m", "aggregations": [{"function": "mean", "field": "s"}]}, FieldTypeError, "s' is string"),
        ({"measurement": "m", "aggregations": [{"function": "sum", "field": "b"}]}, FieldTypeError, "numeric"),
        ({"measurement": "m", "field_filter": [{"field": "f", "op": ">", "value": "x"}]}, FieldTypeError, "compare"),
        ({"measurement": "m", "time_range": {"start": 5, "end": 5}}, InvalidQueryError, "not before end"),
        ({"measurement": "m", "aggregations": [{"function": "percentile", "field": "f", "p": 101}]},
         InvalidQueryError, "[0, 100]"),
        ({"measurement": "m", "aggregations": [{"function": "percentile", "field": "f"}]}, InvalidQueryError, "p must"),
        ({"measurement": "m", "aggregations": [{"function": "max", "field": "*"}]}, InvalidQueryError, "only count"),
        ({"measurement": "m", "tag_filter": {"type": "regex", "key": "host", "pattern": "("}}, InvalidQueryError, "regular"),
        ({"measurement": "m", "group_by": {"tags": ["host"]}}, InvalidQueryError, "aggregation"),
        ({"measurement": "m", "limit": -1}, InvalidQueryError, "limit"),
    ]
    for body, kind, text in cases:
        with pytest.raises(kind, match=re.escape(text)):
            execute(engine, msgspec.convert(body, Query))
    with pytest.raises(QueryTimeoutError, match="timeout of 0 s"):
        execute(engine, msgspec.convert({"measurement": "m"}, Query), timeout=0.0)
    for bad in (b"{", b'{"measurement": 3}', b'{"measurement": "m", "tag_filter": {"type": "like"}}', b"[]",
                b'{"measurement": "m", "fill": 1}'):
        with pytest.raises(QueryError, match="query"):
            parse_query(bad)


def test_contract_json_parses() -> None:
    bodies = [
        b'{"measurement":"trips","aggregations":[{"function":"count","field":"*"}]}',
        b'{"measurement":"trips","aggregations":[{"function":"count","field":"*"}],"group_by":{"tags":["hvfhs_license_num"]}}',
        b'{"measurement":"trips","order":"desc","limit":10}',
        b'{"measurement":"trips","time_range":{"start":1761955200000000000,"end":1764547200000000000},'
        b'"aggregations":[{"function":"mean","field":"trip_miles","alias":"avg_miles"}],'
        b'"group_by":{"time":{"interval":3600000000000,"offset":0},"fill":{"value":0}}}',
        b'{"measurement":"trips","tag_filter":{"type":"and","predicates":[{"type":"eq","key":"k","value":"v"},'
        b'{"type":"not","predicate":{"type":"in","key":"k","values":["a"]}}]},"fields":null,'
        b'"field_filter":[{"field":"tips","op":">","value":0}],"offset":0,'
        b'"aggregations":[{"function":"percentile","field":"tips","p":95},{"function":"count_distinct","field":"d"}],'
        b'"group_by":{"tags":["hvfhs_license_num"],"fill":"linear"}}',
    ]
    for body in bodies:
        assert parse_query(body).measurement == "trips"
