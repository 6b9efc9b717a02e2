"""Scatter-gather: random data split over 3 engines by the sharding functions; every query's merged
partial answers (through their wire form) equal rusts.query.executor.execute on one engine holding all."""

import math
import random
from pathlib import Path
from typing import Any

import msgspec
import pytest

from rusts.api.line_protocol import engine_parser
from rusts.cluster.config import parse_cluster_config
from rusts.cluster.merge import PartialAnswer, decode_partial, encode_partial, merge_partials, partial_answer
from rusts.cluster.sharding import Sharding, split_lines
from rusts.core.errors import QueryError
from rusts.query.errors import UnknownMeasurementError
from rusts.query.executor import execute
from rusts.query.model import Query, QueryResult
from rusts.storage.engine import EngineOptions, StorageEngine

SECOND = 1_000_000_000
BASE = 1_761_955_200 * SECOND
CLUSTER = """\
node_id = "n0"
cluster_name = "t"
replication_mode = "Sync"
replication_factor = 1
shard_count = 3
sharding_strategy = "{strategy}"
{window}
[[nodes]]
id = "n0"
address = "127.0.0.1:9000"
shards = [0]
[[nodes]]
id = "n1"
address = "127.0.0.1:9001"
shards = [1]
[[nodes]]
id = "n2"
address = "127.0.0.1:9002"
shards = [2]
"""


def random_lines(seed: int, count: int) -> bytes:
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        tags = f",host=h{rng.randint(0, 5)}"
        if rng.random() < 0.7:
            tags += f",region=r{rng.randint(0, 1)}"
        fields = []
        if rng.random() < 0.9:
            fields.append(f"f={rng.choice([rng.uniform(-100, 100), float(rng.randint(0, 3))])}")
        if rng.random() < 0.8:
            fields.append(f"i={rng.randint(-50, 50)}i")
        if rng.random() < 0.5:
            fields.append(f"u={rng.randint(0, 90)}u")
        if rng.random() < 0.4:
            fields.append(f's="{rng.choice(["a", "b c", "d"])}"')
        if rng.random() < 0.3 or not fields:
            fields.append(f"b={rng.choice(['t', 'f'])}")
        # A coarse time grid: equal times across series exercise the first/last tie-break.
        lines.append(f"m{tags} {','.join(fields)} {BASE + rng.randint(0, 400) * 15 * SECOND}")
    return ("\n".join(lines) + "\n").encode()


class Cluster:
    def __init__(self, tmp_path: Path, strategy: str) -> None:
        window = "shard_window_secs = 600" if strategy == "ByTime" else ""
        sharding = Sharding(parse_cluster_config(CLUSTER.format(strategy=strategy, window=window), "c.toml"))
        options = lambda name: EngineOptions(str(tmp_path / name), memtable_max_age_secs=10**6)  # noqa: E731
        self.whole = StorageEngine.open(options("whole"), engine_parser)
        self.shards = [StorageEngine.open(options(f"s{n}"), engine_parser) for n in range(3)]
        for batch_number in range(3):
            body = random_lines(batch_number, 1500)
            assert not self.whole.write_line_protocol(body, 1, 0).errors
            split = split_lines(body, sharding, 1, 0)
            assert not split.errors
            for shard, part in split.shards.items():
                assert not self.shards[shard].write_line_protocol(bytes(part.body), 1, 0).errors
            if batch_number < 2:  # segments and a memtable, as a real node has
                self.whole.flush()
                for engine in self.shards:
                    engine.flush()
        self.counts = [sum(len(e.series_ids(m)) for m in e.fields) for e in self.shards]

    def merged(self, query: Query) -> QueryResult:
        partials = [decode_partial(encode_partial(partial_answer(engine, query))) for engine in self.shards]
        return merge_partials(query, partials)

    def close(self) -> None:
        for engine in [self.whole, *self.shards]:
            engine.close()


@pytest.fixture(scope="module", params=["BySeries", "ByTime"])
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    built = Cluster(tmp_path_factory.mktemp(request.param), request.param)
    yield built
    built.close()


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return type(a) is type(b) and a == b


def assert_same(expected: QueryResult, got: QueryResult) -> None:
    assert got.columns == expected.columns
    assert len(got.rows) == len(expected.rows)
    for want, have in zip(expected.rows, got.rows):
        assert len(want) == len(have) and all(same(x, y) for x, y in zip(want, have)), (want, have)


RANGE = {"start": BASE + 600 * SECOND, "end": BASE + 5000 * SECOND}
AGGREGATES = [
    {"function": f, "field": field}
    for f, field in [
        ("count", "*"), ("count", "f"), ("count", "s"), ("sum", "f"), ("sum", "i"), ("sum", "u"), ("mean", "f"),
        ("mean", "i"), ("min", "f"), ("max", "i"), ("min", "u"), ("spread", "f"), ("spread", "u"), ("first", "f"),
        ("last", "s"), ("first", "b"), ("last", "i"), ("stddev", "f"), ("stddev", "i"), ("median", "f"),
        ("count_distinct", "s"), ("count_distinct", "region"), ("count_distinct", "i"),
    ]
] + [{"function": "percentile", "field": "f", "p": 90.0}, {"function": "percentile", "field": "u", "p": 5.0}]

QUERIES: list[dict[str, Any]] = [
    {},
    {"limit": 17},
    {"limit": 10, "offset": 25, "order": "desc"},
    {"offset": 40},
    {"fields": ["s", "f"], "time_range": RANGE, "limit": 50},
    {"fields": ["f"], "field_filter": [{"field": "f", "op": ">", "value": 10}]},
    {"tag_filter": {"type": "eq", "key": "region", "value": "r1"}, "order": "desc"},
    {"aggregations": AGGREGATES},
    {"aggregations": AGGREGATES, "time_range": RANGE},
    {"aggregations": AGGREGATES, "group_by": {"tags": ["host"]}},
    {"aggregations": AGGREGATES, "group_by": {"tags": ["region", "host"], "time": {"interval": 900 * SECOND}}},
    {"aggregations": AGGREGATES, "group_by": {"time": {"interval": 600 * SECOND, "offset": 7 * SECOND}}, "order": "desc", "limit": 5, "offset": 2},
    {"aggregations": [{"function": "mean", "field": "f"}, {"function": "count", "field": "i"}],
     "group_by": {"tags": ["region"], "time": {"interval": 300 * SECOND}, "fill": "linear"}, "time_range": RANGE},
    {"aggregations": [{"function": "sum", "field": "i"}], "group_by": {"time": {"interval": 300 * SECOND}, "fill": {"value": -1}}, "time_range": RANGE},
    {"aggregations": [{"function": "max", "field": "f"}], "group_by": {"time": {"interval": 300 * SECOND}, "fill": "previous"}},
    {"aggregations": [{"function": "count", "field": "*"}, {"function": "first", "field": "f"}], "field_filter": [{"field": "i", "op": ">=", "value": 0}], "group_by": {"tags": ["host"]}},
    {"aggregations": [{"function": "count", "field": "*"}, {"function": "mean", "field": "f"}], "time_range": {"start": 0, "end": 10}},
]


@pytest.mark.parametrize("number", range(len(QUERIES)))
def test_merged_equals_one_engine(cluster: Cluster, number: int) -> None:
    assert all(count > 0 for count in cluster.counts)
    query = msgspec.convert({"measurement": "m", **QUERIES[number]}, Query)
    assert_same(execute(cluster.whole, query), cluster.merged(query))


def test_a_shard_without_the_measurement_or_field(tmp_path: Path) -> None:
    engines = [StorageEngine.open(EngineOptions(str(tmp_path / n)), engine_parser) for n in ("a", "b")]
    engines[0].write_line_protocol(b"m,host=a x=1i 10\nm,host=a x=3i 20\n")
    query = msgspec.convert({"measurement": "m", "aggregations": [{"function": "sum", "field": "x"}]}, Query)
    partials = [partial_answer(engine, query) for engine in engines]
    assert [p.known for p in partials] == [True, False]
    assert merge_partials(query, partials).rows == [[0, 4]]
    with pytest.raises(UnknownMeasurementError):
        merge_partials(msgspec.structs.replace(query, measurement="nope"), [partial_answer(e, msgspec.structs.replace(query, measurement="nope")) for e in engines])
    engines[1].write_line_protocol(b"m,host=b y=1 10\n")
    partials = [partial_answer(engine, query) for engine in engines]
    assert partials[1].known is False and "x" in partials[1].error
    assert merge_partials(query, partials).rows == [[0, 4]]
    engines[1].write_line_protocol(b"m,host=b x=2.5 10\n")
    with pytest.raises(QueryError, match=r"sum\(x\) is typed integer on one shard and float on another"):
        merge_partials(query, [partial_answer(engine, query) for engine in engines])
    for engine in engines:
        engine.close()


def test_malformed_partial_is_a_query_error() -> None:
    with pytest.raises(QueryError, match="malformed partial answer from a shard"):
        decode_partial(b"\x01\x02")
    assert decode_partial(encode_partial(PartialAnswer(known=False, error="x"))).error == "x"


def test_malformed_states_are_query_errors(tmp_path: Path) -> None:
    engine = StorageEngine.open(EngineOptions(str(tmp_path / "e")), engine_parser)
    engine.write_line_protocol(b"m,host=a x=1i 10\nm,host=b x=3i 20\n")
    query = msgspec.convert({"measurement": "m", "aggregations": [{"function": "first", "field": "x"}]}, Query)
    good = partial_answer(engine, query)
    assert merge_partials(query, [decode_partial(encode_partial(good))]).rows == [[0, 1]]
    cases = {
        "short bytes": lambda p: p.groups[0].states[0].update(v=("<i8", b"\x01\x02\x03")),  # type: ignore[union-attr]
        "bad dtype": lambda p: p.groups[0].states[0].update(v=("nonsense", b"")),  # type: ignore[union-attr]
        "rank out of range": lambda p: p.series_keys.clear(),
        "missing key": lambda p: p.groups[0].states[0].pop("t"),  # type: ignore[union-attr]
        "too few states": lambda p: p.groups[0].states.pop(),
    }
    for name, spoil in cases.items():
        partial = decode_partial(encode_partial(good))
        spoil(partial)
        with pytest.raises(QueryError, match="malformed partial answer from a shard"):
            merge_partials(query, [decode_partial(encode_partial(partial))])
    engine.close()
