"""Segment files: round trips, range reads, limits, aggregates from headers, corruption, atomicity."""

import os
import threading
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from rusts.core.errors import CorruptDataError
from rusts.storage.columns import (
    KIND_BOOLEAN,
    KIND_FLOAT,
    KIND_INTEGER,
    KIND_STRING,
    KIND_UNSIGNED,
    Column,
    SeriesData,
)
from rusts.storage.segment import SegmentReader, write_segment
from rusts.storage.segment_format import FORMAT_VERSION, SMALL_STATS, numeric_stats

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1
OUTERS = ("lz4", "zstd", "none")


def random_series(rng: np.random.Generator, series_id: int, rows: int) -> SeriesData:
    """A series with every kind, dense and sparse, special values included."""
    timestamps = np.cumsum(rng.integers(1, 5_000_000_000, rows)).astype(np.int64) + 1_700_000_000 * 10**9
    floats = np.round(rng.normal(50, 20, rows), 2)
    specials = rng.random(rows) < 0.05
    floats[specials] = rng.choice([np.nan, np.inf, -np.inf, -0.0, 5e-324], int(specials.sum()))
    integers = rng.integers(-1000, 1000, rows)
    integers[rng.random(rows) < 0.05] = INT64_MAX
    integers[rng.random(rows) < 0.05] = INT64_MIN
    unsigned = rng.integers(0, 2**63, rows, dtype=np.uint64) * np.uint64(2)
    unsigned[rng.random(rows) < 0.1] = np.uint64(UINT64_MAX)
    words = ["", "Y", "N", "é ünïcode", "x" * 40]
    strings = [words[i] for i in rng.integers(0, len(words), rows)]
    return SeriesData(
        series_id,
        timestamps,
        {
            "float": Column(KIND_FLOAT, floats),
            "float_sparse": Column(KIND_FLOAT, rng.normal(0, 1, rows), rng.random(rows) < 0.3),
            "integer": Column(KIND_INTEGER, integers, rng.random(rows) < 0.9),
            "unsigned": Column(KIND_UNSIGNED, unsigned),
            "string": Column(KIND_STRING, strings, rng.random(rows) < 0.8),
            "boolean": Column(KIND_BOOLEAN, rng.random(rows) < 0.2),
            "never": Column(KIND_INTEGER, np.zeros(rows, dtype=np.int64), np.zeros(rows, dtype=np.bool_)),
        },
    )


def present_mask(column: Column) -> npt.NDArray[np.bool_]:
    return np.ones(len(column), dtype=np.bool_) if column.present is None else column.present


def present_values(column: Column) -> Any:
    mask = present_mask(column)
    if column.kind == KIND_STRING:
        return [v for v, keep in zip(column.values, mask.tolist()) if keep]
    values = np.asarray(column.values)[mask]
    return values.view(np.int64) if column.kind == KIND_FLOAT else values  # NaN-safe, bit-exact


def assert_same(actual: SeriesData | None, expected: SeriesData, columns: list[str] | None = None) -> None:
    assert actual is not None
    assert actual.series_id == expected.series_id
    np.testing.assert_array_equal(actual.timestamps, expected.timestamps)
    names = sorted(expected.columns) if columns is None else columns
    assert sorted(actual.columns) == sorted(names)
    for name in names:
        got, want = actual.columns[name], expected.columns[name]
        assert got.kind == want.kind
        np.testing.assert_array_equal(present_mask(got), present_mask(want))
        got_values, want_values = present_values(got), present_values(want)
        if want.kind == KIND_STRING:
            assert got_values == want_values
        else:
            np.testing.assert_array_equal(got_values, want_values)


def reference_range(series: SeriesData, start: int, end: int) -> SeriesData:
    index = np.flatnonzero((series.timestamps >= start) & (series.timestamps < end)).astype(np.int64)
    return series.take(index)


@pytest.fixture(scope="module")
def many_series() -> list[SeriesData]:
    rng = np.random.default_rng(20240611)
    sizes = [1, 1, 2, 99, 100, 101, 250, 777] + list(rng.integers(1, 400, 40))
    return [random_series(rng, series_id, int(rows)) for series_id, rows in zip(rng.permutation(10_000), sizes)]


@pytest.mark.parametrize("outer", OUTERS)
def test_a_segment_written_from_string_codes_is_the_one_written_from_lists(
    tmp_path: Path, many_series: list[SeriesData], outer: str
) -> None:
    """A direct import's string columns reach the writer as StringCodes: same bytes as lists."""
    from rusts.storage.columns import StringCodes

    words = ["", "Y", "N", "é ünïcode", "x" * 40, "Y"]  # "Y" twice: joined dictionaries repeat words
    coded: list[SeriesData] = []
    for series in many_series:
        strings = series.columns["string"]
        codes = np.array([words.index(v) if v != "Y" or i % 2 else 5 for i, v in enumerate(strings.values)], dtype=np.int64)
        columns = dict(series.columns)
        columns["string"] = Column(KIND_STRING, StringCodes(words, codes), strings.present)
        coded.append(SeriesData(series.series_id, series.timestamps, columns))
    write_segment(str(tmp_path / "lists"), many_series, outer=outer, block_rows=100)
    write_segment(str(tmp_path / "codes"), coded, outer=outer, block_rows=100)
    assert (tmp_path / "codes").read_bytes() == (tmp_path / "lists").read_bytes()


@pytest.mark.parametrize("outer", OUTERS)
def test_string_columns_as_codes_hold_the_same_strings(tmp_path: Path, many_series: list[SeriesData], outer: str) -> None:
    """column_table(string_codes=True), as an export reads: the same rows and presence as the lists."""
    from rusts.storage.columns import StringCodes
    from rusts.storage.segment import clear_table_cache

    path = str(tmp_path / "seg")
    write_segment(path, many_series, outer=outer, block_rows=100)
    clear_table_cache()
    with SegmentReader.open(path) as reader:
        coded = reader.column_table(["string", "float"], keep=False, string_codes=True)
        listed = reader.column_table(["string", "float"], keep=False)
    column = coded.columns["string"]
    assert isinstance(column.values, StringCodes) and isinstance(listed.columns["string"].values, list)
    np.testing.assert_array_equal(present_mask(column), present_mask(listed.columns["string"]))
    strings = [column.values.words[code] for code in column.values.codes.tolist()]
    mask = present_mask(column).tolist()
    assert [v for v, keep in zip(strings, mask) if keep] == present_values(listed.columns["string"])
    rows = np.flatnonzero(present_mask(column))[::7]
    taken = column.take(rows)
    assert isinstance(taken.values, StringCodes)
    assert [taken.values.words[c] for c in taken.values.codes.tolist()] == [strings[r] for r in rows.tolist()]


@pytest.mark.parametrize("outer", OUTERS)
def test_round_trip_every_kind(tmp_path: Path, many_series: list[SeriesData], outer: str) -> None:
    path = str(tmp_path / "seg")
    info = write_segment(path, many_series, outer=outer, block_rows=100)
    assert info.series_count == len(many_series)
    assert info.point_count == sum(len(s) for s in many_series)
    assert info.field_value_count == sum(c.present_count() for s in many_series for c in s.columns.values())
    assert info.bytes == os.path.getsize(path)
    assert not os.path.exists(path + ".tmp")
    with SegmentReader.open(path) as reader:
        assert reader.series_ids() == sorted(s.series_id for s in many_series)
        assert reader.point_count == info.point_count
        assert reader.time_range == (info.min_time, info.max_time)
        for series in many_series:
            assert reader.has_series(series.series_id)
            assert reader.columns(series.series_id) == {n: c.kind for n, c in series.columns.items()}
            assert sum(b.rows for b in reader.blocks(series.series_id)) == len(series)
            assert_same(reader.read(series.series_id), series)
        assert not reader.has_series(10_001)
        assert reader.read(10_001) is None


def test_block_headers_hold_stats(tmp_path: Path, many_series: list[SeriesData]) -> None:
    path = str(tmp_path / "seg")
    write_segment(path, many_series, block_rows=100)
    series = many_series[7]
    reader = SegmentReader(path)
    blocks = reader.blocks(series.series_id)
    assert [b.rows for b in blocks] == [100] * 7 + [77]
    first = series.slice(0, 100).columns["integer"]
    values = np.asarray(first.values)[present_mask(first)]
    entry = blocks[0].columns["integer"]
    assert (entry.present, entry.min, entry.max) == (len(values), int(values.min()), int(values.max()))
    exact = sum(int(v) for v in values)
    assert entry.sum == (exact if INT64_MIN <= exact <= INT64_MAX else None)
    assert blocks[0].min_time == series.timestamps[0] and blocks[0].max_time == series.timestamps[99]
    assert blocks[0].columns["never"].present == 0
    reader.close()


def test_range_reads_at_block_boundaries(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    series = random_series(rng, 1, 1000)
    path = str(tmp_path / "seg")
    write_segment(path, [series], block_rows=100)
    ts = series.timestamps
    edges = [int(ts[i]) + d for i in (0, 99, 100, 101, 499, 500, 999) for d in (-1, 0, 1)]
    edges += [INT64_MIN, INT64_MAX, int(ts[0]) - 10**12, int(ts[-1]) + 10**12]
    with SegmentReader(path) as reader:
        for start in edges:
            for end in edges[::3]:
                expected = reference_range(series, start, end)
                actual = reader.read(1, None, start, end)
                if len(expected) == 0:
                    assert actual is None
                else:
                    assert_same(actual, expected)
        # Only the blocks overlapping the range are decoded.
        before = reader.blocks_decoded
        assert_same(reader.read(1, None, int(ts[100]), int(ts[200])), reference_range(series, int(ts[100]), int(ts[200])))
        assert reader.blocks_decoded - before == 1


def test_projection_decodes_only_asked_columns(tmp_path: Path) -> None:
    series = random_series(np.random.default_rng(3), 5, 300)
    path = str(tmp_path / "seg")
    write_segment(path, [series], block_rows=100)
    with SegmentReader(path) as reader:
        actual = reader.read(5, ["unsigned", "missing", "string"])
        assert_same(actual, series, ["unsigned", "string"])
        # 3 blocks x (timestamps + unsigned values + string presence + string values)
        assert reader.chunks_decoded == 3 * 4
        only_time = reader.read(5, [])
        assert only_time is not None and only_time.columns == {}
        np.testing.assert_array_equal(only_time.timestamps, series.timestamps)


@pytest.mark.parametrize("descending", [False, True])
def test_read_limit_decodes_from_the_right_end(tmp_path: Path, descending: bool) -> None:
    series = random_series(np.random.default_rng(11), 2, 1000)
    path = str(tmp_path / "seg")
    write_segment(path, [series], block_rows=100)
    ts = series.timestamps
    with SegmentReader(path) as reader:
        for start, end, limit in [
            (INT64_MIN, INT64_MAX, 5),
            (int(ts[150]), int(ts[850]), 120),
            (int(ts[150]), int(ts[850]), 700),
            (int(ts[150]), int(ts[850]), 10_000),
            (int(ts[0]), int(ts[1]), 3),
            (int(ts[-1]) + 1, INT64_MAX, 3),
            (INT64_MIN, INT64_MAX, 0),
        ]:
            expected = reference_range(series, start, end)
            if descending:
                expected = expected.take(np.arange(len(expected) - 1, -1, -1, dtype=np.int64))
            expected = expected.slice(0, limit)
            before = reader.blocks_decoded
            actual = reader.read_limit(2, ["float", "string"], start, end, limit, descending)
            decoded = reader.blocks_decoded - before
            if len(expected) == 0:
                assert len(actual) == 0
            else:
                assert_same(actual, expected, ["float", "string"])
            blocks_in_range = len({int(i) // 100 for i in np.flatnonzero((ts >= start) & (ts < end))})
            needed = -(-limit // 100) + 1  # a partial block at the range edge may add one
            assert decoded <= min(blocks_in_range, needed)
        before = reader.blocks_decoded
        reader.read_limit(2, None, INT64_MIN, INT64_MAX, 5, descending)
        assert reader.blocks_decoded - before == 1


def reference_aggregate(series: SeriesData, name: str, start: int, end: int) -> tuple[int, Any, Any, Any]:
    column = series.columns[name]
    mask = present_mask(column) & (series.timestamps >= start) & (series.timestamps < end)
    values = np.asarray(column.values)[mask]
    if len(values) == 0 or column.kind not in (KIND_FLOAT, KIND_INTEGER, KIND_UNSIGNED):
        return int(mask.sum()), None, None, None
    if column.kind == KIND_FLOAT:
        return len(values), float(np.sum(values)), float(np.fmin.reduce(values)), float(np.fmax.reduce(values))
    return len(values), sum(int(v) for v in values.tolist()), int(values.min()), int(values.max())


def same_number(a: Any, b: Any) -> bool:
    if a is None or b is None or isinstance(a, int):
        return bool(a == b)
    return bool(np.isclose(a, b, rtol=1e-9, equal_nan=True))


def test_aggregate_uses_headers_for_inner_blocks(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    series = random_series(rng, 3, 1000)
    # A column whose sums never overflow, so every inner block is answered from its header.
    series.columns["small"] = Column(KIND_INTEGER, rng.integers(-10**6, 10**6, 1000), rng.random(1000) < 0.5)
    path = str(tmp_path / "seg")
    write_segment(path, [series], block_rows=100)
    ts = series.timestamps
    with SegmentReader(path) as reader:
        for start, end in [(INT64_MIN, INT64_MAX), (int(ts[150]), int(ts[850])), (int(ts[100]), int(ts[900]))]:
            for name in series.columns:
                actual = reader.aggregate(3, name, start, end)
                expected = reference_aggregate(series, name, start, end)
                assert all(same_number(a, b) for a, b in zip(actual, expected)), (name, actual, expected)
        before = reader.blocks_decoded
        reader.aggregate(3, "small", int(ts[150]), int(ts[850]))
        assert reader.blocks_decoded - before == 2  # the two edge blocks only
        before = reader.blocks_decoded
        reader.aggregate(3, "small", int(ts[100]), int(ts[900]))
        assert reader.blocks_decoded - before == 0  # boundaries on block edges: headers only
        assert reader.aggregate(3, "nope") == (0, None, None, None)
        assert reader.aggregate(99, "small") == (0, None, None, None)


def test_integer_sum_overflowing_the_header_is_exact(tmp_path: Path) -> None:
    timestamps = np.arange(10, dtype=np.int64)
    series = SeriesData(
        1,
        timestamps,
        {
            "i": Column(KIND_INTEGER, np.full(10, INT64_MAX, dtype=np.int64)),
            "u": Column(KIND_UNSIGNED, np.full(10, UINT64_MAX, dtype=np.uint64)),
        },
    )
    path = str(tmp_path / "seg")
    write_segment(path, [series], block_rows=4)
    with SegmentReader(path) as reader:
        assert reader.blocks(1)[0].columns["i"].sum is None
        assert reader.aggregate(1, "i") == (10, 10 * INT64_MAX, INT64_MAX, INT64_MAX)
        assert reader.aggregate(1, "u") == (10, 10 * UINT64_MAX, UINT64_MAX, UINT64_MAX)


def small_segment(tmp_path: Path, outer: str = "lz4") -> tuple[str, list[SeriesData]]:
    rng = np.random.default_rng(1)
    series = [random_series(rng, i, rows) for i, rows in enumerate([1, 30, 7])]
    path = str(tmp_path / f"small-{outer}")
    write_segment(path, series, outer=outer, block_rows=10)
    return path, series


def read_everything(path: str) -> None:
    with SegmentReader(path) as reader:
        for series_id in reader.series_ids():
            reader.read(series_id)
            for name in reader.columns(series_id):
                reader.aggregate(series_id, name)


@pytest.mark.parametrize("outer", OUTERS)
def test_truncated_file_is_corrupt(tmp_path: Path, outer: str) -> None:
    path, _ = small_segment(tmp_path, outer)
    data = Path(path).read_bytes()
    broken = str(tmp_path / "broken")
    for size in sorted({*range(0, 64), *range(0, len(data), 7), *range(len(data) - 64, len(data))}):
        Path(broken).write_bytes(data[:size])
        with pytest.raises(CorruptDataError) as info:
            read_everything(broken)
        assert broken in str(info.value)


@pytest.mark.parametrize("outer", OUTERS)
def test_every_flipped_byte_is_detected(tmp_path: Path, outer: str) -> None:
    path, series = small_segment(tmp_path, outer)
    data = Path(path).read_bytes()
    broken = str(tmp_path / "broken")
    for position in range(len(data)):
        flipped = bytearray(data)
        flipped[position] ^= 0x5A
        Path(broken).write_bytes(bytes(flipped))
        with pytest.raises(CorruptDataError):
            read_everything(broken)
    read_everything(path)


def test_newer_version_is_refused(tmp_path: Path) -> None:
    path, _ = small_segment(tmp_path)
    data = bytearray(Path(path).read_bytes())
    data[4] += 1
    Path(path).write_bytes(bytes(data))
    with pytest.raises(CorruptDataError, match=f"version {FORMAT_VERSION + 1} is newer") as info:
        SegmentReader(path)
    assert info.value.path == path


def chunk_first_bytes(path: str, name: str) -> list[bytes]:
    """The first two bytes of every values chunk of column `name`."""
    heads = []
    with SegmentReader(path) as reader:
        for series_id in reader.series_ids():
            for block in reader.blocks(series_id):
                entry = block.columns.get(name)
                if entry is not None and entry.values is not None:
                    heads.append(reader._pread(entry.values.offset, 2))
    return heads


def test_times_near_the_point_time_are_stored_as_offsets(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rows = 3000
    seconds = 1_762_000_000 + np.cumsum(rng.integers(1, 400, rows))
    timestamps = (seconds * 10**9 + rng.integers(0, 3, rows) * 10**6).astype(np.int64)
    dropoff = (seconds + rng.integers(60, 3600, rows)) * 10**9
    on_scene = (seconds - rng.integers(0, 180, rows)) * 10**9
    series = SeriesData(
        7,
        timestamps,
        {
            "dropoff": Column(KIND_INTEGER, dropoff),
            "on_scene": Column(KIND_INTEGER, on_scene, rng.random(rows) < 0.7),
            "zone": Column(KIND_INTEGER, rng.integers(1, 266, rows)),
        },
    )
    path = str(tmp_path / "seg")
    write_segment(path, [series], outer="lz4", block_rows=1000)
    with SegmentReader(path) as reader:
        assert_same(reader.read(7), series)
        assert_same(reader.read(7, ["on_scene"], int(timestamps[500]), int(timestamps[2500])),
                    reference_range(series, int(timestamps[500]), int(timestamps[2500])), ["on_scene"])
        dropoff_bytes = sum(b.columns["dropoff"].values.length for b in reader.blocks(7))  # type: ignore[union-attr]
    assert chunk_first_bytes(path, "dropoff") == [b"\x23\x01"] * 3  # factored, relative to the times
    assert chunk_first_bytes(path, "on_scene") == [b"\x23\x01"] * 3
    assert all(head[:1] != b"\x23" for head in chunk_first_bytes(path, "zone"))
    assert dropoff_bytes < 2 * rows  # 12 bits of offset a value, not 8 bytes of nanoseconds


def same_float(left: float, right: float) -> bool:
    return bool(left == right or (np.isnan(left) and np.isnan(right)))


def as_older_version(path: str, version: int, outer: str) -> None:
    """Rewrite a file without factored chunks as version 1 or 2 wrote it: per-series footer
    details, compressed as the outer compression says (version 1) or in Zstd (version 2)."""
    import lz4.block
    import zstandard

    from rusts.storage.segment_format import HEADER, MAGIC, TRAILER, encode_footer

    with SegmentReader(path) as reader:
        body = encode_footer([reader._series(i) for i in reader.series_ids()])  # type: ignore[misc]
    data = Path(path).read_bytes()
    offset = TRAILER.unpack_from(data, len(data) - TRAILER.size)[0]
    flags = {"lz4": 1, "none": 0}[outer]
    if version == 2 and outer != "none":
        footer, flags = zstandard.ZstdCompressor().compress(body), flags | 0x04
    else:
        footer = lz4.block.compress(body, store_size=False) if outer == "lz4" else body
    header = HEADER.pack(MAGIC, version, flags, 0)
    trailer = TRAILER.pack(offset, len(footer), len(body), zlib.crc32(footer), MAGIC)
    Path(path).write_bytes(header + data[HEADER.size : offset] + footer + trailer)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("outer", ["lz4", "none"])
def test_older_versions_still_read(tmp_path: Path, many_series: list[SeriesData], version: int, outer: str) -> None:
    path = str(tmp_path / "seg")
    write_segment(path, many_series[:20], outer=outer, block_rows=50)
    assert all(head[:1] != b"\x23" for head in chunk_first_bytes(path, "integer"))
    with SegmentReader(path) as reader:
        assert reader._pread(4, 1) == bytes([FORMAT_VERSION])
        totals = {name: reader.column_totals(name) for name in ("float", "integer", "unsigned", "string")}
        table = reader.column_table(["float", "integer", "string", "boolean"])
        for position, series_id in enumerate(reader.series_ids()):
            data = reader.read(series_id)
            assert data is not None
            for name in ("float", "integer", "unsigned"):
                got, values = totals[name], present_values(data.columns[name])
                assert got is not None and got.present[position] == len(values)
                if name == "float":
                    values = values.view(np.float64)
                    assert same_float(got.minimum[position], np.fmin.reduce(values) if len(values) else 0.0)
                    assert same_float(got.maximum[position], np.fmax.reduce(values) if len(values) else 0.0)
                    continue
                exact = sum(int(v) for v in values.tolist())
                fits = exact <= (INT64_MAX if name == "integer" else UINT64_MAX) and exact >= (INT64_MIN if name == "integer" else 0)
                assert bool(got.sum_ok[position]) == fits and (not fits or int(got.total[position]) == exact)
                if len(values):
                    assert int(got.minimum[position]) == int(values.min()) and int(got.maximum[position]) == int(values.max())
    as_older_version(path, version, outer)
    with SegmentReader(path) as reader:
        assert reader._pread(4, 1) == bytes([version]) and reader.outer == outer
        for expected in many_series[:20]:
            assert_same(reader.read(expected.series_id), expected)
        for name, want in totals.items():
            got = reader.column_totals(name)
            assert got is not None and want is not None
            for field in ("present", "minimum", "maximum", "total", "sum_ok"):
                np.testing.assert_array_equal(getattr(got, field), getattr(want, field))
        old_table = reader.column_table(["float", "integer", "string", "boolean"])
        np.testing.assert_array_equal(old_table.timestamps, table.timestamps)
        for name, column in table.columns.items():
            assert_same(SeriesData(0, old_table.timestamps, {name: old_table.columns[name]}),
                        SeriesData(0, table.timestamps, {name: column}))
    if version == 1:
        data = bytearray(Path(path).read_bytes())
        data[5] |= 0x04  # the footer-in-Zstd flag does not exist in version 1
        Path(path).write_bytes(bytes(data))
        with pytest.raises(CorruptDataError, match="unknown header flags"):
            SegmentReader(path)


def test_atomic_write(tmp_path: Path) -> None:
    path, series = small_segment(tmp_path)
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(path)]

    def failing() -> Any:
        yield series[0]
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError):
        write_segment(path, failing())
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(path)]  # no .tmp left, old file kept
    with SegmentReader(path) as reader:
        assert_same(reader.read(1), series[1])


def test_empty_segment(tmp_path: Path) -> None:
    path = str(tmp_path / "empty")
    info = write_segment(path, [SeriesData(1, np.empty(0, dtype=np.int64), {})], outer="zstd")
    assert (info.series_count, info.point_count) == (0, 0)
    with SegmentReader(path) as reader:
        assert reader.series_ids() == [] and reader.time_range is None and reader.point_count == 0


def test_concurrent_readers(tmp_path: Path, many_series: list[SeriesData]) -> None:
    path = str(tmp_path / "seg")
    write_segment(path, many_series, outer="zstd", block_rows=64)
    reader = SegmentReader(path)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for series in many_series[offset::4] * 2:
                assert_same(reader.read(series.series_id), series)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reader.close()
    assert errors == []


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_segment(str(tmp_path / "x"), [], outer="gzip")
    with pytest.raises(ValueError):
        write_segment(str(tmp_path / "x"), [], block_rows=0)
    unsorted = SeriesData(1, np.array([2, 1], dtype=np.int64), {})
    with pytest.raises(AssertionError, match="BUG"):
        write_segment(str(tmp_path / "x"), [unsorted])
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kind, dtype, lo, hi", [(KIND_INTEGER, np.int64, -(2**63), 2**63 - 1), (KIND_UNSIGNED, np.uint64, 0, 2**64 - 1)])
def test_block_stats_of_few_and_many_values_are_exact(kind: int, dtype: Any, lo: int, hi: int) -> None:
    # Small blocks take a Python path, large ones numpy's: both exact at the type's extremes,
    # and both say when the sum no longer fits the type.
    rng = np.random.default_rng(9)
    for count in (1, 2, SMALL_STATS, SMALL_STATS + 1, 1000):
        for values in (np.full(count, hi, dtype=dtype), np.full(count, lo, dtype=dtype),
                       rng.integers(lo, hi, count, dtype=dtype, endpoint=True)):
            listed = [int(v) for v in values.tolist()]
            total = sum(listed)
            assert numeric_stats(kind, values) == (min(listed), max(listed), total, lo <= total <= hi)
