"""Scans for the query engine: one series' rows partition by partition, with block-header pushdown and top-k.

A query takes one ScanSnapshot: the partitions overlapping its range and the
memtables (flushing and live) as they were when it started. Memtables are
captured *before* segments are read, so a flush that finishes mid-query makes
rows appear twice (resolved, newest wins) rather than not at all.

Per series, `pieces` yields, partition by partition, either decoded rows
(SeriesData, already merged across layers, newest wins, tombstones applied)
or BlockStats: a block answered from its footer header. A block is given as
stats only when the caller's `pushable` accepts it, it lies wholly inside the
range, and the series is *exclusive* in its partition: exactly one segment
holds it, no tombstone names it, and no memtable holds rows of it in the
partition's window. Otherwise another layer could overwrite or hide rows of
the block, and the block is decoded.

`limited` answers ORDER BY time [DESC] LIMIT k per series by reading only the
blocks at the near end of each layer (SegmentReader.read_limit): the k newest
distinct timestamps of the union of layers are among the k newest rows of
each layer, so merging per-layer top-k rows is exact for those k timestamps.

Not compiled: generators and callables keep the executor simple, and each
call here does a few large numpy operations per block.
"""

from collections.abc import Callable, Iterator

import numpy as np
from numpy.typing import NDArray

from rusts.core.types import I64_MAX, I64_MIN
from rusts.storage.columns import SeriesData
from rusts.storage.engine import StorageEngine
from rusts.storage.memtable import MemTable, concat, resolve
from rusts.storage.partition import Partition
from rusts.storage.segment import SegmentReader
from rusts.storage.segment_format import BlockMeta, ColumnBlockMeta


class BlockStats:
    """One block answered from its header: rows, time range and per-column count/min/max/sum."""

    __slots__ = ("rows", "min_time", "max_time", "columns")

    def __init__(self, block: BlockMeta) -> None:
        self.rows = block.rows
        self.min_time = block.min_time
        self.max_time = block.max_time
        self.columns: dict[str, ColumnBlockMeta] = block.columns


Piece = SeriesData | BlockStats
Keep = Callable[[SeriesData], NDArray[np.bool_]]


def _window(data: SeriesData | None, start: int, end: int) -> SeriesData | None:
    if data is None:
        return None
    lo = int(np.searchsorted(data.timestamps, start, "left"))
    hi = int(np.searchsorted(data.timestamps, end, "left"))
    return data.slice(lo, hi) if hi > lo else None


def _merge(parts: list[SeriesData]) -> SeriesData | None:
    """Layers oldest first, merged newest-wins per field."""
    parts = [part for part in parts if len(part)]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else resolve(concat(parts))


def segment_holders(partition: Partition, series_ids: NDArray[np.uint64]) -> tuple[list[tuple[SegmentReader, NDArray[np.bool_], NDArray[np.intp]]], NDArray[np.int64]]:
    """Per live segment of a partition: (reader, which of `series_ids` it holds, their directory
    positions), and per series the number of segments holding it (from the footers, exact)."""
    holders = np.zeros(len(series_ids), dtype=np.int64)
    found: list[tuple[SegmentReader, NDArray[np.bool_], NDArray[np.intp]]] = []
    for _, reader in partition.segments():
        ids = reader.directory_arrays()[0]
        if len(ids) == 0:
            continue
        at = np.minimum(np.searchsorted(ids, series_ids), len(ids) - 1)
        hit = ids[at] == series_ids
        holders += hit
        found.append((reader, hit, at))
    return found, holders


def deleted_series(partition: Partition, series_ids: NDArray[np.uint64]) -> NDArray[np.bool_]:
    """Which of `series_ids` a tombstone of the partition names."""
    if not partition.tombstones:
        return np.zeros(len(series_ids), dtype=np.bool_)
    named = set().union(*(tombstone.series_ids for tombstone in partition.tombstones))
    return np.isin(series_ids, np.array(sorted(named), dtype=np.uint64))


Holders = list[tuple[SegmentReader, NDArray[np.bool_], NDArray[np.intp]]]


def settled_series(
    partition: Partition,
    series_ids: NDArray[np.uint64],
    spans: tuple[NDArray[np.intp], NDArray[np.int64], NDArray[np.int64]],
    lo: int,
    hi: int,
) -> tuple[NDArray[np.bool_], Holders]:
    """Per series: True when the partition's segments alone settle its rows in [lo, hi), each
    segment's rows standing on their own: no tombstone names it, no memtable row of it may fall in
    the window (`spans`: ScanSnapshot.memtable_spans of `series_ids`), and the segments holding it
    cover disjoint times of it, so no row of one overwrites a row of another. Also the holders
    (segment_holders)."""
    blocked = deleted_series(partition, series_ids)
    at, lows, highs = spans
    if len(at):
        blocked[at[(lows < hi) & (highs >= lo)]] = True
    holders, counts = segment_holders(partition, series_ids)
    done = ~blocked
    if len(holders) > 1 and bool((counts > 1).any()):
        done &= _disjoint(holders, len(series_ids))
    return done, holders


def _disjoint(holders: Holders, count: int) -> NDArray[np.bool_]:
    """Per series: True when the segments holding it cover disjoint time ranges of it."""
    lows = np.full((len(holders), count), I64_MAX, dtype=np.int64)
    highs = np.full((len(holders), count), I64_MIN, dtype=np.int64)
    for layer, (reader, hit, positions) in enumerate(holders):
        _, _, min_times, max_times = reader.directory_arrays()
        lows[layer] = np.where(hit, min_times[positions], I64_MAX)
        highs[layer] = np.where(hit, max_times[positions], I64_MIN)
    order = np.argsort(lows, axis=0)
    lows = np.take_along_axis(lows, order, axis=0)
    highs = np.take_along_axis(highs, order, axis=0)
    apart = (lows[1:] > highs[:-1]) | (lows[1:] == I64_MAX)
    result: NDArray[np.bool_] = apart.all(axis=0)
    return result


class ScanSnapshot:
    """The layers one query reads: partitions meeting [start, end) and the memtables."""

    def __init__(self, engine: StorageEngine, start: int, end: int) -> None:
        self.start = start
        self.end = end
        self.tables: list[MemTable] = engine.memtables()
        self.partitions: list[Partition] = [
            p for _, p in sorted(engine.partitions.items()) if p.end > start and p.start < end
        ]

    def memtable_spans(self, series_ids: list[int]) -> tuple[NDArray[np.intp], NDArray[np.int64], NDArray[np.int64]]:
        """(positions in `series_ids`, min time, max time) of every memtable buffer of those series,
        a position repeated when several memtables hold it; a conservative map of where rows may be."""
        at: list[int] = []
        lows: list[int] = []
        highs: list[int] = []
        position = {series_id: i for i, series_id in enumerate(series_ids)}
        for table in self.tables:
            buffers = table.series
            for series_id in list(buffers):
                i = position.get(series_id)
                buffer = buffers.get(series_id)
                if i is None or buffer is None:
                    continue
                at.append(i)
                lows.append(buffer.min_time)
                highs.append(buffer.max_time)
        return np.array(at, dtype=np.intp), np.array(lows, dtype=np.int64), np.array(highs, dtype=np.int64)

    def window(self, partition: Partition) -> tuple[int, int]:
        """The part of the query range [lo, hi) that a partition covers."""
        return max(self.start, partition.start), min(self.end, partition.end)

    def windows(self) -> list[tuple[Partition | None, int, int]]:
        """The query range cut into disjoint windows in time order: each partition's part of it, and
        the gaps between (None: rows there can only be in memtables)."""
        out: list[tuple[Partition | None, int, int]] = []
        at = self.start
        for partition in self.partitions:
            lo, hi = self.window(partition)
            if lo > at:
                out.append((None, at, lo))
            out.append((partition, lo, hi))
            at = hi
        if at < self.end:
            out.append((None, at, self.end))
        return out

    def window_rows(self, series_id: int, columns: list[str] | None, partition: Partition | None, lo: int, hi: int) -> SeriesData | None:
        """The series' rows in [lo, hi) (inside one window), all layers merged, newest wins."""
        recent = _merge([part for part in (table.read(series_id, lo, hi, columns) for table in self.tables) if part is not None])
        stored = None
        if partition is not None and partition.might_contain(series_id):
            stored = partition.read(series_id, columns, lo, hi)
        return _merge([part for part in (stored, recent) if part is not None])

    def memtable_rows(self, series_id: int, columns: list[str] | None) -> SeriesData | None:
        """The series' memtable rows in range, resolved (flushing tables older than the live one)."""
        parts = [table.read(series_id, self.start, self.end, columns) for table in self.tables]
        return _merge([part for part in parts if part is not None])

    def pieces(
        self,
        series_id: int,
        columns: list[str] | None,
        pushable: Callable[[BlockMeta], bool] | None = None,
        descending: bool = False,
        skip: set[int] | None = None,
    ) -> Iterator[list[Piece]]:
        """The series' rows in range, one list of pieces per partition window (bloom-pruned),
        then memtable rows outside every partition; in time order, or reversed when descending.
        Partitions whose start is in `skip` were answered by the caller and are passed over."""
        mem = self.memtable_rows(series_id, columns)
        consumed = np.zeros(0 if mem is None else len(mem), dtype=np.bool_)
        partitions = self.partitions[::-1] if descending else self.partitions
        for partition in partitions:
            lo, hi = max(self.start, partition.start), min(self.end, partition.end)
            recent = _window(mem, lo, hi)
            if recent is not None and mem is not None:
                consumed[np.searchsorted(mem.timestamps, lo) : np.searchsorted(mem.timestamps, hi)] = True
            if skip is not None and partition.start in skip:
                continue
            if not partition.might_contain(series_id):
                if recent is not None:
                    yield [recent]
                continue
            if recent is None and pushable is not None and self._exclusive(partition, series_id):
                yield self._block_pieces(partition, series_id, columns, pushable, lo, hi)
                continue
            stored = partition.read(series_id, columns, lo, hi)
            merged = _merge([part for part in (stored, recent) if part is not None])
            if merged is not None:
                yield [merged]
        if mem is not None and not bool(consumed.all()):
            yield [mem.take(np.flatnonzero(~consumed))]

    @staticmethod
    def _exclusive(partition: Partition, series_id: int) -> bool:
        if any(series_id in tombstone.series_ids for tombstone in partition.tombstones):
            return False
        return sum(1 for _, reader in partition.segments() if reader.has_series(series_id)) == 1

    @staticmethod
    def _block_pieces(
        partition: Partition,
        series_id: int,
        columns: list[str] | None,
        pushable: Callable[[BlockMeta], bool],
        lo: int,
        hi: int,
    ) -> list[Piece]:
        reader = next(reader for _, reader in partition.segments() if reader.has_series(series_id))
        out: list[Piece] = []
        for block in reader.blocks(series_id):
            if block.max_time < lo or block.min_time >= hi:
                continue
            if lo <= block.min_time and block.max_time < hi and pushable(block):
                out.append(BlockStats(block))
                continue
            # Blocks of a series cover disjoint time ranges, so this decodes exactly this block.
            data = reader.read(series_id, columns, max(lo, block.min_time), min(hi, block.max_time + 1))
            if data is not None:
                out.append(data)
        return out

    def limited(self, series_id: int, columns: list[str] | None, limit: int, descending: bool, keep: Keep) -> SeriesData | None:
        """The first `limit` rows (last when descending) of the series that `keep` accepts, in time order."""
        if limit <= 0:
            return None
        mem = self.memtable_rows(series_id, columns)
        found: list[SeriesData] = []
        partitions = self.partitions[::-1] if descending else self.partitions
        windows: list[tuple[Partition | None, int, int]] = [(p, max(self.start, p.start), min(self.end, p.end)) for p in partitions]
        covered = np.zeros(0 if mem is None else len(mem), dtype=np.bool_)
        for _, lo, hi in windows:
            if mem is not None:
                covered[np.searchsorted(mem.timestamps, lo) : np.searchsorted(mem.timestamps, hi)] = True
        if mem is not None and not bool(covered.all()):
            # Memtable rows outside every partition window: a window of their own, taken first in order.
            outside = mem.take(np.flatnonzero(~covered))
            rows = _keep_rows(outside, keep)
            if rows is not None:
                found.append(rows)
        for partition, lo, hi in windows:
            if _settled(found, limit, descending, lo, hi):
                break
            assert partition is not None, "BUG: partition window without a partition"
            rows = self._limited_window(partition, series_id, columns, lo, hi, limit, descending, keep, _window(mem, lo, hi))
            if rows is not None:
                found.append(rows)
        merged = _merge(sorted(found, key=lambda part: int(part.timestamps[0])))
        if merged is None:
            return None
        if len(merged) > limit:
            merged = merged.slice(len(merged) - limit, len(merged)) if descending else merged.slice(0, limit)
        return merged

    @staticmethod
    def _limited_window(
        partition: Partition,
        series_id: int,
        columns: list[str] | None,
        lo: int,
        hi: int,
        wanted: int,
        descending: bool,
        keep: Keep,
        recent: SeriesData | None,
    ) -> SeriesData | None:
        """Up to `wanted` accepted rows of one window from its near end, reading more only when
        rows were rejected (by `keep` or as absent); exact per the module docstring."""
        segments = [reader for _, reader in partition.segments() if reader.has_series(series_id)]
        deleted = any(series_id in tombstone.series_ids for tombstone in partition.tombstones)
        ask = wanted
        while True:
            exhausted = True
            if deleted or not segments:
                stored = partition.read(series_id, columns, lo, hi) if segments else None
                layers = [] if stored is None else [stored]
            else:
                layers = []
                for reader in segments:
                    rows = reader.read_limit(series_id, columns, lo, hi, ask, descending)
                    if len(rows) >= ask:
                        exhausted = False
                    if descending:
                        rows = rows.take(np.arange(len(rows) - 1, -1, -1, dtype=np.int64))
                    layers.append(rows)
            if recent is not None:
                layers.append(recent)
            merged = _merge(layers)
            if merged is None:
                return None
            if not exhausted and len(merged) > ask:
                # Only the `ask` timestamps nearest the end are complete across layers.
                merged = merged.slice(len(merged) - ask, len(merged)) if descending else merged.slice(0, ask)
            accepted = _keep_rows(merged, keep)
            got = 0 if accepted is None else len(accepted)
            if got >= wanted or exhausted:
                if accepted is None or got <= wanted:
                    return accepted
                return accepted.slice(got - wanted, got) if descending else accepted.slice(0, wanted)
            ask *= 4


def _keep_rows(data: SeriesData, keep: Keep) -> SeriesData | None:
    mask = keep(data)
    if bool(mask.all()):
        return data if len(data) else None
    rows = np.flatnonzero(mask)
    return data.take(rows) if len(rows) else None


def _settled(found: list[SeriesData], limit: int, descending: bool, lo: int, hi: int) -> bool:
    """True when `limit` rows found already beat every row the window [lo, hi) could add."""
    if sum(len(part) for part in found) < limit:
        return False
    times = np.sort(np.concatenate([part.timestamps for part in found]))
    return int(times[-limit]) >= hi if descending else int(times[limit - 1]) < lo
