"""Partitions: flushes and compactions interrupted at every step lose and double nothing."""

from pathlib import Path

import numpy as np
import pytest

from rusts.storage import partition as partition_module
from rusts.storage.columns import KIND_FLOAT, KIND_STRING, Column, SeriesData
from rusts.storage.partition import Partition, partition_start

DAY = 86_400_000_000_000


def series(series_id: int, times: list[int], value: float) -> SeriesData:
    ts = np.array(times, dtype=np.int64)
    return SeriesData(
        series_id,
        ts,
        {
            "v": Column(KIND_FLOAT, np.full(len(ts), value)),
            "s": Column(KIND_STRING, [f"{value}-{t}" for t in times]),
        },
    )


def contents(part: Partition) -> dict[int, list[tuple[int, float]]]:
    out = {}
    for series_id in sorted(part.series_ids()):
        data = part.read(series_id, None, -(2**63), 2**63 - 1)
        assert data is not None
        out[series_id] = list(zip(data.timestamps.tolist(), data.columns["v"].values.tolist()))
    return out


def filled(path: Path) -> Partition:
    part = Partition.open(str(path), 0, DAY)
    part.add_segment([series(1, [1, 2, 3], 1.0), series(2, [5], 1.0)], "lz4", 3)
    part.add_segment([series(1, [3, 4], 2.0)], "lz4", 3)  # overwrites ts 3
    part.add_segment([series(2, [5, 6], 3.0)], "zstd", 3)  # overwrites ts 5
    return part


EXPECTED = {1: [(1, 1.0), (2, 1.0), (3, 2.0), (4, 2.0)], 2: [(5, 3.0), (6, 3.0)]}


def test_newer_segments_win_and_compaction_keeps_every_point(tmp_path: Path) -> None:
    part = filled(tmp_path)
    assert contents(part) == EXPECTED
    assert part.compact("zstd", 3)
    assert len(part.segments()) == 1
    assert contents(part) == EXPECTED
    part.close()
    reopened = Partition.open(str(tmp_path), 0, DAY)
    assert contents(reopened) == EXPECTED
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("seg-")) == ["seg-0000000000000004.rseg"]


class Crash(Exception):
    pass


@pytest.mark.parametrize("step", ["write_segment", "manifest", "delete_inputs"])
def test_compaction_killed_at_each_step_recovers_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    part = filled(tmp_path)

    def crash(*args: object, **kwargs: object) -> None:
        raise Crash(step)

    if step == "write_segment":
        monkeypatch.setattr(partition_module, "write_segment", crash)
    elif step == "manifest":
        monkeypatch.setattr(Partition, "_write_manifest", crash)
    else:
        monkeypatch.setattr(partition_module.os, "remove", crash)
    with pytest.raises(Crash):
        part.compact("zstd", 3)
    monkeypatch.undo()
    # The process "dies" here: reopen from disk alone.
    reopened = Partition.open(str(tmp_path), 0, DAY)
    assert contents(reopened) == EXPECTED
    assert reopened.compact("zstd", 3) or len(reopened.segments()) == 1
    assert contents(reopened) == EXPECTED


def test_partition_start_floors_negative_times() -> None:
    assert partition_start(5, DAY) == 0
    assert partition_start(-1, DAY) == -DAY
    assert partition_start(DAY, DAY) == DAY


def test_a_lost_manifest_is_refused_but_a_first_flush_cut_short_is_cleaned_up(tmp_path: Path) -> None:
    from rusts.core.errors import CorruptDataError

    part = filled(tmp_path / "lost")
    part.close()
    (tmp_path / "lost" / "MANIFEST").unlink()
    with pytest.raises(CorruptDataError, match="MANIFEST.*missing, while the partition holds 3 segment"):
        Partition.open(str(tmp_path / "lost"), 0, DAY)
    assert len([p for p in (tmp_path / "lost").iterdir() if p.name.startswith("seg-")]) == 3, "no segment removed"
    # a first flush that wrote its segment but not yet the first manifest: the WAL still holds its points
    first = Partition.open(str(tmp_path / "first"), 0, DAY)
    first.add_segment([series(1, [1], 1.0)], "lz4", 3)
    first.close()
    (tmp_path / "first" / "MANIFEST").unlink()
    reopened = Partition.open(str(tmp_path / "first"), 0, DAY)
    assert list(reopened.series_ids()) == []
    assert not [p for p in (tmp_path / "first").iterdir() if p.name.startswith("seg-")]
    reopened.close()
