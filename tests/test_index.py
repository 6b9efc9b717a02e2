"""Series index, tag index and bloom filters: ids stable, collisions kept apart, queries exact, files recoverable."""

import logging
import os
import random
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from pyroaring import BitMap

from rusts.core.errors import CorruptDataError
from rusts.core.hashing import series_id, series_id_of_key, series_key
from rusts.index import series as series_module
from rusts.index.bloom import BloomFilter
from rusts.index.series import FILE_NAME, SeriesIndex

Tags = list[tuple[str, str]]


def random_series(rng: random.Random, count: int) -> list[tuple[str, Tags]]:
    result: dict[str, tuple[str, Tags]] = {}
    while len(result) < count:
        measurement = rng.choice(["cpu", "mem", "disk io"])
        tags = {key: rng.choice(values) for key, values in TAG_CHOICES.items() if rng.random() < 0.8}
        sorted_tags = sorted(tags.items())
        result[series_key(measurement, sorted_tags)] = (measurement, sorted_tags)
    return list(result.values())


TAG_CHOICES = {
    "host": [f"h{i}" for i in range(12)],
    "region": ["eu", "us", "ap", "é-ünïcode"],
    "dc": ["a", "b", "c=d", "x y"],
}


def test_get_or_create_is_idempotent_and_stable_across_reopen(tmp_path: Path) -> None:
    series = random_series(random.Random(1), 300)
    with SeriesIndex.open(str(tmp_path)) as index:
        ids = [index.get_or_create(m, t) for m, t in series]
        assert ids == [index.get_or_create(m, t) for m, t in series]
        assert ids == [series_id(m, t) for m, t in series]
        assert index.get_or_create(*series[0], key=series_key(*series[0])) == ids[0]
        assert len(index) == 300
    with SeriesIndex.open(str(tmp_path)) as index:
        assert len(index) == 300
        assert ids == [index.get_or_create(m, t) for m, t in series]
        for (measurement, tags), sid in zip(series, ids):
            entry = index.lookup(sid)
            assert entry is not None
            assert (entry.measurement, entry.tags, entry.key) == (measurement, tags, series_key(measurement, tags))
            assert index.id_of(entry.key) == sid
        assert index.lookup(12345) is None
        assert index.measurements() == sorted({m for m, _ in series})


def test_unsorted_tags_are_rejected(tmp_path: Path) -> None:
    with SeriesIndex.open(str(tmp_path)) as index:
        with pytest.raises(ValueError, match="sorted"):
            index.get_or_create("cpu", [("b", "1"), ("a", "2")])


def test_forced_collision_gives_distinct_stable_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    colliding = {"cpu,host=a", "cpu,host=b"}

    def fake_hash(key: str) -> int:
        return 42 if key in colliding else series_id_of_key(key)

    monkeypatch.setattr(series_module, "series_id_of_key", fake_hash)
    with caplog.at_level(logging.WARNING), SeriesIndex.open(str(tmp_path)) as index:
        first = index.get_or_create("cpu", [("host", "a")])
        second = index.get_or_create("cpu", [("host", "b")])
        assert first == 42 and second != 42
        assert "collision" in caplog.text
    with SeriesIndex.open(str(tmp_path)) as index:
        assert index.get_or_create("cpu", [("host", "a")]) == first
        assert index.get_or_create("cpu", [("host", "b")]) == second
        a, b = index.lookup(first), index.lookup(second)
        assert a is not None and a.tags == [("host", "a")]
        assert b is not None and b.tags == [("host", "b")]
        assert index.ids_of(index.tags.series_for("cpu", "host", "b")).tolist() == [second]


def brute(series: list[tuple[int, str, Tags]], measurement: str, test: object) -> set[int]:
    return {sid for sid, m, tags in series if m == measurement and test(dict(tags))}  # type: ignore[operator]


def test_tag_queries_equal_brute_force(tmp_path: Path) -> None:
    rng = random.Random(7)
    with SeriesIndex.open(str(tmp_path)) as index:
        created = [(index.get_or_create(m, t), m, t) for m, t in random_series(rng, 600)]
        removed = {sid for sid, _, _ in created[::10]}
        assert index.remove(removed) == len(removed)
        live = [s for s in created if s[0] not in removed]
    for reopen in (False, True):
        index = SeriesIndex.open(str(tmp_path)) if reopen else index
        tags = index.tags

        def ids(bitmap: BitMap) -> set[int]:
            return set(index.ids_of(bitmap).tolist())

        for _ in range(40):
            m = rng.choice(["cpu", "mem", "disk io"])
            key = rng.choice(list(TAG_CHOICES))
            value = rng.choice(TAG_CHOICES[key])
            other = rng.choice(TAG_CHOICES[key])
            eq = tags.series_for(m, key, value)
            assert ids(eq) == brute(live, m, lambda t: t.get(key) == value)
            assert len(eq) == tags.cardinality(m, key, value)
            ne = tags.series_matching(m, key, lambda v: v != value)
            assert ids(ne) == brute(live, m, lambda t: key in t and t[key] != value)
            pattern = re.compile("^(h1|e|a)")
            assert ids(tags.series_matching(m, key, pattern.search)) == brute(
                live, m, lambda t: key in t and pattern.search(t[key]) is not None
            )
            assert ids(tags.series_for_values(m, key, [value, other, "nope"])) == brute(
                live, m, lambda t: t.get(key) in (value, other)
            )
            region = tags.series_for(m, "region", "eu")
            assert ids(eq & region) == brute(live, m, lambda t: t.get(key) == value and t.get("region") == "eu")
            assert ids(eq | region) == brute(live, m, lambda t: t.get(key) == value or t.get("region") == "eu")
            assert ids(tags.complement(m, eq)) == brute(live, m, lambda t: t.get(key) != value)
            assert ids(tags.without_key(m, key)) == brute(live, m, lambda t: key not in t)
            assert ids(index.series_of_measurement(m)) == brute(live, m, lambda t: True)
            assert sum(tags.value_counts(m, key).values()) == len(brute(live, m, lambda t: key in t))
        assert len(index) == len(live)
        index.close()


def test_drop_measurement(tmp_path: Path) -> None:
    with SeriesIndex.open(str(tmp_path)) as index:
        cpu = [index.get_or_create("cpu", [("host", f"h{i}")]) for i in range(20)]
        mem = [index.get_or_create("mem", [("host", f"h{i}")]) for i in range(5)]
        index.flush()
        assert index.drop_measurement("cpu") == 20
        assert index.drop_measurement("cpu") == 0
        assert index.measurements() == ["mem"]
        assert all(index.lookup(sid) is None for sid in cpu)
        assert index.tags.tag_values("cpu", "host") == []
        again = index.get_or_create("cpu", [("host", "h3")])
        assert again == cpu[3]
    with SeriesIndex.open(str(tmp_path)) as index:
        assert index.measurements() == ["cpu", "mem"]
        assert len(index) == 6
        assert index.ids_of(index.series_of_measurement("cpu")).tolist() == [cpu[3]]
        assert sorted(index.ids_of(index.series_of_measurement("mem")).tolist()) == sorted(mem)
        index.rewrite()
    with SeriesIndex.open(str(tmp_path)) as index:
        assert len(index) == 6 and index.lookup(cpu[3]) is not None


def test_torn_tail_at_every_offset_keeps_earlier_series(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = tmp_path / "source"
    with SeriesIndex.open(str(source)) as index:
        early = [index.get_or_create("cpu", [("host", f"h{i}")]) for i in range(10)]
        index.flush()
        size_before_last = os.path.getsize(source / FILE_NAME)
        index.get_or_create("cpu", [("host", "last"), ("z", "é")])
    data = (source / FILE_NAME).read_bytes()
    target = tmp_path / "target"
    target.mkdir()
    for cut in range(size_before_last, len(data)):
        (target / FILE_NAME).write_bytes(data[:cut])
        with caplog.at_level(logging.WARNING), SeriesIndex.open(str(target)) as index:
            assert len(index) == 10
            assert [index.get_or_create("cpu", [("host", f"h{i}")]) for i in range(10)] == early
        if cut > size_before_last:
            assert "torn tail" in caplog.text
        with SeriesIndex.open(str(target)) as index:
            assert len(index) == 10  # the truncated file now opens without a warning
    with SeriesIndex.open(str(source)) as index:
        assert len(index) == 11


def test_torn_tail_of_zeros_and_corrupt_middle(tmp_path: Path) -> None:
    with SeriesIndex.open(str(tmp_path)) as index:
        index.get_or_create("cpu", [("host", "a")])
        index.flush()
        index.get_or_create("cpu", [("host", "b")])
    path = tmp_path / FILE_NAME
    data = path.read_bytes()
    path.write_bytes(data + bytes(64))
    with SeriesIndex.open(str(tmp_path)) as index:
        assert len(index) == 2
    damaged = bytearray(data)
    damaged[20] ^= 0xFF  # inside the first frame, with a whole frame after it
    path.write_bytes(bytes(damaged))
    with pytest.raises(CorruptDataError, match="CRC"):
        SeriesIndex.open(str(tmp_path))
    path.write_bytes(data[:6] + bytes([9, 0]) + data[8:])
    with pytest.raises(CorruptDataError, match="newer"):
        SeriesIndex.open(str(tmp_path))


def test_concurrent_writers_agree(tmp_path: Path) -> None:
    with SeriesIndex.open(str(tmp_path)) as index:
        results: list[list[int]] = [[] for _ in range(4)]

        def work(slot: int) -> None:
            results[slot] = [index.get_or_create("cpu", [("host", f"h{i}")]) for i in range(500)]

        threads = [threading.Thread(target=work, args=(slot,)) for slot in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(result == results[0] for result in results)
        assert len(index) == 500 and index.tags.series_count("cpu") == 500


def test_bloom_has_no_false_negatives_and_target_fpr() -> None:
    rng = np.random.default_rng(3)
    members = rng.integers(0, 2**64 - 1, 100_000, dtype=np.uint64, endpoint=True)
    bloom = BloomFilter.for_capacity(len(members), fpr=0.01)
    bloom.add_many(members[:50_000])
    for part in np.array_split(members[50_000:], 100):
        bloom.add_many(part)  # small batches take the scattered path
    assert bool(bloom.might_contain_many(members).all())
    assert all(bloom.might_contain(int(x)) for x in members[:2000])
    probes = rng.integers(0, 2**64 - 1, 100_000, dtype=np.uint64, endpoint=True)
    probes = probes[~np.isin(probes, members)]
    observed = float(bloom.might_contain_many(probes).mean())
    assert observed < 0.015
    scalar = [bloom.might_contain(int(x)) for x in probes[:3000]]
    assert scalar == bloom.might_contain_many(probes[:3000]).tolist()
    small = BloomFilter.for_capacity(1000, fpr=0.05)
    small.add_many(np.arange(1000, dtype=np.uint64))  # not uniform: the mix spreads them
    assert float(small.might_contain_many(np.arange(10**6, 10**6 + 20_000, dtype=np.uint64)).mean()) < 0.075


def test_bloom_round_trip_and_corruption() -> None:
    bloom = BloomFilter.for_capacity(5000, fpr=0.001)
    ids = np.random.default_rng(5).integers(0, 2**63, 5000, dtype=np.uint64)
    bloom.add_many(ids)
    data = bloom.to_bytes()
    copy = BloomFilter.from_bytes(data)
    assert (copy.probes, copy.bit_count, copy.items) == (bloom.probes, bloom.bit_count, 5000)
    assert copy.to_bytes() == data
    assert bool(copy.might_contain_many(ids).all())
    for position in (0, 4, 9, 15, len(data) // 2, len(data) - 1):
        damaged = bytearray(data)
        damaged[position] ^= 0x10
        with pytest.raises(CorruptDataError):
            BloomFilter.from_bytes(bytes(damaged), "partition-7/bloom")
    with pytest.raises(CorruptDataError, match="truncated"):
        BloomFilter.from_bytes(data[:10])
    with pytest.raises(CorruptDataError):
        BloomFilter.from_bytes(data[:-5])
