"""Sharding: stable pure functions, owners per shard, and a write body split by shard the way the engine keys series."""

import random
from pathlib import Path

import pytest

from rusts.api.line_protocol import engine_parser
from rusts.cluster.config import parse_cluster_config
from rusts.cluster.sharding import (
    Sharding,
    shard_of_measurement,
    shard_of_series_id,
    shard_of_series_key,
    shard_of_time,
    split_lines,
)
from rusts.core.hashing import series_id_of_key
from rusts.storage.engine import EngineOptions, StorageEngine

HOUR = 3_600_000_000_000


def cluster_text(strategy: str = "BySeries", shard_count: int = 6, window: str = "") -> str:
    nodes = []
    for n in range(3):
        owned = [s for s in range(shard_count) if s % 3 == n]
        replicas = [s for s in range(shard_count) if (s + 1) % 3 == n]
        nodes.append(f'[[nodes]]\nid = "n{n}"\naddress = "127.0.0.1:{9000 + n}"\nshards = {owned}\nreplica_shards = {replicas}\n')
    return (
        f'node_id = "n0"\ncluster_name = "t"\nreplication_mode = "Quorum"\nreplication_factor = 2\n'
        f'shard_count = {shard_count}\nsharding_strategy = "{strategy}"\n{window}\n' + "\n".join(nodes)
    )


def sharding(strategy: str = "BySeries", shard_count: int = 6, window: str = "") -> Sharding:
    return Sharding(parse_cluster_config(cluster_text(strategy, shard_count, window), "cluster.toml"))


def test_pure_functions_are_stable() -> None:
    # Fixed values: a change here moves every stored point to another shard.
    assert series_id_of_key("cpu,host=a") % 16 == shard_of_series_key("cpu,host=a", 16)
    assert [shard_of_series_key(f"cpu,host=h{i}", 16) for i in range(8)] == [
        shard_of_series_id(series_id_of_key(f"cpu,host=h{i}"), 16) for i in range(8)
    ]
    assert shard_of_measurement("cpu", 1 << 64) == int.from_bytes(__import__("hashlib").blake2b(b"cpu", digest_size=8).digest(), "little")
    assert shard_of_time(0, HOUR, 4) == 0
    assert shard_of_time(HOUR - 1, HOUR, 4) == 0
    assert shard_of_time(HOUR, HOUR, 4) == 1
    assert shard_of_time(5 * HOUR, HOUR, 4) == 1
    assert shard_of_time(-1, HOUR, 4) == 3


def test_series_spread_evenly() -> None:
    counts = [0] * 8
    for i in range(8000):
        counts[shard_of_series_key(f"cpu,host=h{i}", 8)] += 1
    assert min(counts) > 850 and max(counts) < 1150


def test_owners_and_shards_of_node() -> None:
    s = sharding()
    assert s.owners(0) == ["n0", "n1"]
    assert s.owners(2) == ["n2", "n0"]
    assert s.shards_of_node("n0") == [0, 2, 3, 5]
    with pytest.raises(ValueError, match="shard 6 is out of range 0..5"):
        s.owners(6)


def test_shards_for_query() -> None:
    assert sharding().shards_for_query("cpu", 0, HOUR) == list(range(6))
    by_measurement = sharding("ByMeasurement")
    assert by_measurement.shards_for_query("cpu", None, None) == [shard_of_measurement("cpu", 6)]
    by_time = sharding("ByTime", window="shard_window_secs = 3600")
    assert by_time.shards_for_query("cpu", 0, HOUR) == [0]
    assert by_time.shards_for_query("cpu", HOUR, 3 * HOUR + 1) == [1, 2, 3]
    assert by_time.shards_for_query("cpu", 5 * HOUR, 8 * HOUR) == [0, 1, 5]
    assert by_time.shards_for_query("cpu", 0, 60 * HOUR) == list(range(6))
    assert by_time.shards_for_query("cpu", None, HOUR) == list(range(6))
    assert by_time.shards_for_query("cpu", HOUR, HOUR) == []


def random_body(rng: random.Random, lines: int) -> tuple[bytes, list[str]]:
    """Line protocol with escapes, tag order varying, quoted strings with spaces and newlines, some lines without time."""
    out: list[str] = []
    for i in range(lines):
        host = rng.choice(["a", "b c", "d,e", "f=g", "h\\i"])
        tags = [f"host={host.replace(chr(92), chr(92) * 2).replace(' ', chr(92) + ' ').replace(',', chr(92) + ',').replace('=', chr(92) + '=')}",
                f"dc={rng.choice(['x', 'y'])}"]
        rng.shuffle(tags)
        measurement = rng.choice(["cpu", "disk\\ io", "m\\,1"])
        fields = [f"v={rng.random()}", f"n={rng.randint(0, 9)}i"]
        if rng.random() < 0.3:
            fields.append('s="a b\\"c' + ("\nnext" if rng.random() < 0.3 else "") + '"')
        stamp = "" if rng.random() < 0.2 else f" {i * 1_000_000_000 + rng.randint(0, 10**8)}"
        out.append(f"{measurement},{','.join(tags)} {','.join(fields)}{stamp}")
    return ("\n".join(out) + "\n").encode(), out


@pytest.mark.parametrize("strategy", ["BySeries", "ByMeasurement", "ByTime"])
def test_split_routes_like_the_engine(tmp_path: Path, strategy: str) -> None:
    """Every point lands once; each shard's body, stored alone, holds exactly the series (or times) routed there."""
    rng = random.Random(8)
    body, _ = random_body(rng, 400)
    window = "shard_window_secs = 60" if strategy == "ByTime" else ""
    s = sharding(strategy, window=window)
    now = 7_777_000_000_000
    split = split_lines(b"# comment\n\n" + body, s, 1, now)
    assert split.errors == []
    assert sum(batch.points for batch in split.shards.values()) == 400
    whole = StorageEngine.open(EngineOptions(str(tmp_path / "whole")), engine_parser)
    assert not whole.write_line_protocol(body, 1, now).errors
    total_series = 0
    for shard, batch in split.shards.items():
        engine = StorageEngine.open(EngineOptions(str(tmp_path / f"s{shard}")), engine_parser)
        result = engine.write_line_protocol(bytes(batch.body), 1, 1)  # every record carries its time now
        assert not result.errors and result.points == batch.points
        for measurement in engine.fields:
            ids = engine.series_ids(measurement)
            total_series += len(ids)
            if strategy == "BySeries":
                assert all(i % 6 == shard for i in ids)
            if strategy == "ByMeasurement":
                assert shard_of_measurement(measurement, 6) == shard
        engine.close()
    if strategy == "BySeries":
        assert total_series == sum(len(whole.series_ids(m)) for m in whole.fields)
    whole.close()


def test_split_keeps_line_numbers_and_stamps_untimed_records() -> None:
    s = sharding("ByTime", window="shard_window_secs = 1")
    body = b'cpu v=1 0\n\ncpu s="x\ny" 1000000000\ncpu v=2\r\ncpu,host=a v=3   \n'
    split = split_lines(body, s, 1_000_000, 5_000_000_123)  # ms precision
    assert split.errors == []
    assert split.shards[0].lines == [1] and bytes(split.shards[0].body) == b"cpu v=1 0\n"
    assert split.shards[4].lines == [3] and bytes(split.shards[4].body) == b'cpu s="x\ny" 1000000000\n'
    # 1000000000 ms is 1e15 ns: window 1e6 % 6 = 4; untimed records get 5000 (ms) -> window 5.
    assert split.shards[5].lines == [5, 6]
    assert bytes(split.shards[5].body) == b"cpu v=2 5000\ncpu,host=a v=3 5000\n"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"cpu", "line 2: missing fields: expected a space after the measurement and tags"),
        (b",host=a v=1", "line 2, column 1: missing measurement"),
        (b"cpu,host v=1", "line 2: tag 'host' is not key=value"),
        (b"cpu,host= v=1", "line 2: tag 'host=' is not key=value"),
        (b"cpu v=1 12x", "line 2: timestamp '12x' is not an integer"),
        (b"cpu v=1 1_000", "line 2: timestamp '1_000' is not an integer"),
        (b'cpu s="open', "line 2: unterminated string field value"),
    ],
)
def test_unroutable_records_are_errors(line: bytes, message: str) -> None:
    split = split_lines(b"cpu v=1 1\n" + line + b"\ncpu v=2 2\n", sharding(), 1, 0)
    assert [str(e) for e in split.errors] == [message]
    assert sum(batch.points for batch in split.shards.values()) == (2 if b'"' not in line else 1)


@pytest.mark.parametrize("strategy", ["BySeries", "ByMeasurement", "ByTime"])
def test_fast_path_agrees_with_the_general_scanner(strategy: str) -> None:
    """A body without escapes takes the split fast path; a backslash in a comment forces the scanner."""
    rng = random.Random(3)
    lines = [
        f"m{rng.randint(0, 2)},host=h{rng.randint(0, 9)},dc=d{rng.randint(0, 2)} v={i},w={i}i" + ("" if i % 4 == 0 else f" {i * 7_000_000_000}")
        for i in range(300)
    ]
    body = ("\n".join(lines) + "\n\n# done\n").encode()
    s = sharding(strategy, window="shard_window_secs = 60" if strategy == "ByTime" else "")
    fast = split_lines(body, s, 1, 123 * 10**9)
    general = split_lines(body + b'# back\\slash\n', s, 1, 123 * 10**9)
    assert fast.errors == general.errors == []
    assert {k: (bytes(b.body), b.lines, b.points) for k, b in fast.shards.items()} == {
        k: (bytes(b.body), b.lines, b.points) for k, b in general.shards.items()
    }
    assert sum(b.points for b in fast.shards.values()) == 300


@pytest.mark.parametrize("strategy", ["BySeries", "ByTime"])
def test_quoted_strings_that_close_on_their_line_keep_the_fast_path_exact(strategy: str) -> None:
    """String fields (with and without spaces) on one line each split as the general scanner splits them;
    a string holding a newline, or a quote in the series section, sends the body to the scanner."""
    lines = [
        f'trips,lic=L{i % 4},base=B{i % 7} miles={i}.5,flag="{"Y" if i % 2 else "N"}",note="a b {i}"'
        + ("" if i % 5 == 0 else f" {i * 3_000_000_000}")
        for i in range(200)
    ]
    body = ("\n".join(lines) + "\n").encode()
    s = sharding(strategy, window="shard_window_secs = 60" if strategy == "ByTime" else "")
    fast = split_lines(body, s, 1, 7 * 10**9)
    general = split_lines(body + b"# back\\slash\n", s, 1, 7 * 10**9)
    assert fast.errors == general.errors == []
    assert {k: (bytes(b.body), b.lines) for k, b in fast.shards.items()} == {k: (bytes(b.body), b.lines) for k, b in general.shards.items()}
    multi = split_lines(b'trips,lic=L1 note="two\nlines" 5\ntrips,lic="q" v=1 6\n', s, 1, 0)
    assert multi.errors == [] and sorted(line for b in multi.shards.values() for line in b.lines) == [1, 3]
