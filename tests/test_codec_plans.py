"""Codec plans (compression/plans.py): a column's chunks reuse the codec of its last trial.

What must hold: a replayed recipe makes exactly the block the trial made for the same values;
a recipe that no longer fits (new digits, a factor gone, worse size) falls back to a trial;
a segment whose columns change character from block to block still reads back bit for bit.
"""

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rusts.compression import block, codec, plans
from rusts.storage.columns import KIND_FLOAT, KIND_INTEGER, KIND_UNSIGNED, Column, SeriesData
from rusts.storage.segment import SegmentReader, write_segment
from rusts.storage.segment_format import encode_chunk

ROWS = 4000


def _times(rng: np.random.Generator) -> Any:
    return (np.cumsum(rng.integers(1, 10**9, ROWS)) + 1_700_000_000 * 10**9).astype(np.int64)


def _columns(rng: np.random.Generator) -> list[tuple[str, Any, Any]]:
    """(kind, values, timestamps of their rows): data that makes each codec win."""
    times = _times(rng)
    return [
        ("timestamp", np.arange(ROWS, dtype=np.int64) * 10, None),  # regular: delta-of-delta
        ("timestamp", times, None),
        ("float", np.round(rng.normal(50, 5, ROWS), 2), None),  # decimal
        ("float", rng.normal(0, 1, ROWS), None),  # XOR + zstd
        ("float", np.cumsum(rng.integers(-1, 2, ROWS)).astype(np.float64), None),
        ("integer", rng.integers(-5, 5, ROWS).astype(np.int64), None),
        ("integer", rng.integers(0, 10, ROWS).astype(np.int64) * 1000, None),  # factored
        ("integer", times + rng.integers(0, 600, ROWS) * 10**9, times),  # factored from the times
        ("integer", rng.integers(-(2**62), 2**62, ROWS).astype(np.int64), None),
        ("unsigned", rng.integers(0, 2**63, ROWS, dtype=np.uint64), None),
        ("unsigned", np.arange(ROWS, dtype=np.uint64), None),
    ]


@pytest.mark.parametrize("outer", [0, 1, 2])
def test_a_replayed_recipe_makes_the_trials_block(outer: int) -> None:
    rng = np.random.default_rng(7)
    seen: set[str] = set()
    for kind, values, times in _columns(rng):
        tried = encode_chunk(kind, values, outer, 3, times)
        recipe = plans.recipe_of(tried)
        assert recipe is not None, codec.codec_name(tried)
        assert plans._wrapped(recipe, values, times, 3) == tried
        seen.add(codec.codec_name(tried))
    assert len(seen) >= 4, seen  # the data above exercises several codecs


def test_chunks_of_a_column_reuse_its_recipe_then_try_again() -> None:
    rng = np.random.default_rng(11)
    chunk_plans = plans.ChunkPlans()
    values = [np.round(rng.normal(50, 5, ROWS), 2) for _ in range(plans.RETRIAL + 3)]
    first = encode_chunk("float", values[0], 1, 3, None, chunk_plans, "load")
    for part in values[1:]:
        chunk = encode_chunk("float", part, 1, 3, None, chunk_plans, "load")
        assert codec.codec_name(chunk) == codec.codec_name(first)
        np.testing.assert_array_equal(codec.decode_column(chunk), part)
    # After RETRIAL replays the column is tried again, so it holds a fresh plan with no uses.
    assert chunk_plans._plans["load"].uses < plans.RETRIAL


def test_a_recipe_that_no_longer_fits_falls_back_to_a_trial() -> None:
    rng = np.random.default_rng(3)
    chunk_plans = plans.ChunkPlans()
    cents = np.round(rng.normal(50, 5, ROWS), 2)
    encode_chunk("float", cents, 0, 3, None, chunk_plans, "x")
    noise = rng.normal(0, 1, ROWS)  # no decimal scale holds these
    chunk = encode_chunk("float", noise, 0, 3, None, chunk_plans, "x")
    assert chunk == encode_chunk("float", noise, 0, 3)
    np.testing.assert_array_equal(codec.decode_column(chunk).view(np.int64), noise.view(np.int64))

    multiples = rng.integers(0, 100, ROWS).astype(np.int64) * 1000
    encode_chunk("integer", multiples, 0, 3, None, chunk_plans, "n")
    odd = multiples + 1
    chunk = encode_chunk("integer", odd, 0, 3, None, chunk_plans, "n")
    np.testing.assert_array_equal(codec.decode_column(chunk), odd)
    assert len(chunk) <= len(encode_chunk("integer", odd, 0, 3)) * plans.WORSE + plans.SLACK


def test_a_wrapped_recipe_records_its_wrapper() -> None:
    values = np.repeat(np.arange(40, dtype=np.int64), 100)  # long runs: the wrapper pays
    tried = encode_chunk("integer", values, 1, 3)
    recipe = plans.recipe_of(tried)
    assert recipe is not None
    if tried[0] in (block.LZ4_ID, block.ZSTD_ID):
        assert recipe.wrapper == tried[0]


@pytest.mark.parametrize("outer", ["lz4", "zstd", "none"])
def test_columns_changing_character_between_blocks_read_back_exactly(tmp_path: Path, outer: str) -> None:
    rng = np.random.default_rng(2026)
    series: list[SeriesData] = []
    for series_id in range(12):
        rows = 3000
        times = (np.arange(rows, dtype=np.int64) * 10**9 + 1_700_000_000 * 10**9).astype(np.int64)
        times[rows // 2 :] += np.cumsum(rng.integers(1, 999, rows - rows // 2))  # jitter from half-way
        floats = np.round(rng.normal(20, 3, rows), 1)
        floats[rows // 3 :] = rng.normal(0, 1, rows - rows // 3)
        floats[rng.random(rows) < 0.01] = np.nan
        ints = rng.integers(0, 50, rows).astype(np.int64) * 100
        ints[2 * rows // 3 :] = rng.integers(-(2**62), 2**62, rows - 2 * rows // 3)
        near = times + rng.integers(0, 3600, rows) * 10**9
        near[series_id * 200 : series_id * 200 + 7] += 1
        unsigned = rng.integers(0, 1000, rows, dtype=np.uint64)
        unsigned[rows // 2 :] = rng.integers(0, 2**64 - 1, rows - rows // 2, dtype=np.uint64)
        series.append(
            SeriesData(
                series_id,
                times,
                {
                    "f": Column(KIND_FLOAT, floats),
                    "i": Column(KIND_INTEGER, ints, rng.random(rows) < 0.9),
                    "near": Column(KIND_INTEGER, near),
                    "u": Column(KIND_UNSIGNED, unsigned),
                },
            )
        )
    path = str(tmp_path / "seg")
    write_segment(path, series, outer=outer, block_rows=250)
    with SegmentReader.open(path) as reader:
        for expected in series:
            got = reader.read(expected.series_id)
            assert got is not None
            np.testing.assert_array_equal(got.timestamps, expected.timestamps)
            for name, column in expected.columns.items():
                mask = np.ones(len(expected), dtype=np.bool_) if column.present is None else column.present
                got_column = got.columns[name]
                got_mask = np.ones(len(got), dtype=np.bool_) if got_column.present is None else got_column.present
                np.testing.assert_array_equal(got_mask, mask)
                want = np.asarray(column.values)[mask]
                have = np.asarray(got_column.values)[got_mask]
                np.testing.assert_array_equal(have.view(np.int64) if name == "f" else have,
                                              want.view(np.int64) if name == "f" else want)


def test_a_column_name_of_another_kind_in_another_series_reads_back(tmp_path: Path) -> None:
    # The same field name is a float in one series, an integer in the next, unsigned in the
    # third (different measurements, or an aggregate tier's columns): a plan is kept per kind.
    rng = np.random.default_rng(5)
    rows = 600
    times = (np.arange(rows, dtype=np.int64) * 10**9 + 1_700_000_000 * 10**9).astype(np.int64)
    makers = [
        lambda: Column(KIND_FLOAT, rng.normal(0, 1, rows)),
        lambda: Column(KIND_INTEGER, rng.integers(-(2**40), 2**40, rows).astype(np.int64)),
        lambda: Column(KIND_UNSIGNED, rng.integers(0, 2**63, rows, dtype=np.uint64)),
    ]
    series = [SeriesData(series_id, times, {"v": makers[series_id % 3]()}) for series_id in range(9)]
    path = str(tmp_path / "seg")
    write_segment(path, series, outer="zstd", block_rows=200)
    with SegmentReader.open(path) as reader:
        for expected in series:
            got = reader.read(expected.series_id)
            assert got is not None
            want = np.asarray(expected.columns["v"].values)
            have = np.asarray(got.columns["v"].values)
            assert have.dtype == want.dtype
            np.testing.assert_array_equal(have.view(np.int64), want.view(np.int64))
