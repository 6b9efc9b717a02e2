"""One window's raw rows (a window of ScanSnapshot.windows: one partition's part of the range, or a
gap only memtables can fill) as the plan keeps them, for raw answers and exports.

The rows come as pieces, each with its series per row (a position in plan.series). Series the
partition's segments settle alone (rusts.storage.scan.settled_series: no tombstone, no memtable
row in the window, segments holding disjoint times of them) are read from each segment's decoded
columns at once (SegmentReader.column_table: every block of a column decoded in one pass, no
per-series footer parsed), when they hold at least a quarter of the segment's rows; one piece per
segment. Every other series is read on its own, all layers merged (ScanSnapshot.window_rows); one
piece per series. Rows of one piece are in no particular order: a reader sorts by (time, rank).
"""

import time
from typing import Final

import numpy as np
from numpy.typing import NDArray

from rusts.query.errors import QueryTimeoutError
from rusts.query.filters import kept_rows
from rusts.query.planner import Plan, SeriesRef
from rusts.storage.columns import Column, SeriesData
from rusts.storage.partition import Partition
from rusts.storage.scan import ScanSnapshot, settled_series
from rusts.storage.segment import SegmentReader

# A segment is decoded whole for the settled series when they hold at least 1/TABLE_SHARE of its rows.
TABLE_SHARE: Final = 4

Spans = tuple[NDArray[np.intp], NDArray[np.int64], NDArray[np.int64]]


class Deadline:
    """When a query must stop: QueryTimeoutError from check() once `timeout` seconds have passed (None: never)."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self.at = None if timeout is None else time.monotonic() + timeout

    def check(self) -> None:
        if self.at is not None and time.monotonic() > self.at:
            assert self.timeout is not None, "BUG: a deadline without its timeout"
            raise QueryTimeoutError(self.timeout)


class WindowPiece:
    """Rows of a window from one source: per row its series (position in plan.series), times, columns."""

    __slots__ = ("series", "timestamps", "columns")

    def __init__(self, series: NDArray[np.intp], timestamps: NDArray[np.int64], columns: dict[str, Column]) -> None:
        self.series = series
        self.timestamps = timestamps
        self.columns = columns

    def __len__(self) -> int:
        return len(self.timestamps)


def series_piece(position: int, data: SeriesData) -> WindowPiece:
    """The rows of one series (plan.series[position]) as a piece."""
    return WindowPiece(np.full(len(data), position, dtype=np.intp), data.timestamps, data.columns)


def found_pieces(plan: Plan, found: list[tuple[SeriesRef, SeriesData]]) -> list[WindowPiece]:
    """Rows found series by series, as pieces."""
    position = {ref.series_id: i for i, ref in enumerate(plan.series)}
    return [series_piece(position[ref.series_id], data) for ref, data in found]


class WindowScan:
    """What every window of one raw scan shares, found once per query: the plan's series ids and
    where those series have memtable rows (ScanSnapshot.memtable_spans)."""

    __slots__ = ("series_ids", "spans")

    def __init__(self, plan: Plan, snapshot: ScanSnapshot) -> None:
        ids = [ref.series_id for ref in plan.series]
        self.series_ids = np.array(ids, dtype=np.uint64)
        self.spans: Spans = snapshot.memtable_spans(ids)


def answer_order(plan: Plan, pieces: list[WindowPiece]) -> tuple[NDArray[np.intp], NDArray[np.int64], NDArray[np.intp]]:
    """Every row of the pieces, joined: its series (plan position), its time, and the rows in
    answer order (by time, ties by series rank, rows of one piece kept in their order)."""
    series = np.concatenate([piece.series for piece in pieces]) if pieces else np.empty(0, dtype=np.intp)
    times = np.concatenate([piece.timestamps for piece in pieces]) if pieces else np.empty(0, dtype=np.int64)
    ranks = np.array([ref.rank for ref in plan.series], dtype=np.int64)[series]
    order: NDArray[np.intp] = np.lexsort((ranks, times))
    return series, times, order


def window_pieces(
    plan: Plan, snapshot: ScanSnapshot, scan: WindowScan, partition: Partition | None, lo: int, hi: int,
    deadline: Deadline, cache: bool = True, string_codes: bool = False,
) -> list[WindowPiece]:
    """The rows of one window [lo, hi) that the plan keeps, as pieces (empty ones left out).
    `cache`: keep decoded segment columns in the shared table cache (queries repeat; an export
    passes once and says False). `string_codes` (with `cache` False, for a reader that hands
    strings to Arrow): string columns read from whole segments may come as StringCodes, unless
    the plan filters on fields."""
    count = len(plan.series)
    done = np.zeros(count, dtype=np.bool_)
    pieces: list[WindowPiece] = []
    if partition is not None and count:
        done, holders = settled_series(partition, scan.series_ids, scan.spans, lo, hi)
        # Decide before reading: a series one of its segments cannot take is read on its own,
        # whole, so no segment may give its rows unless all of its holders do.
        for reader, hit, positions in holders:
            mine = np.flatnonzero(done & hit)
            if len(mine) and not _worth_whole(plan, reader, positions[mine]):
                done[mine] = False
        for reader, hit, positions in holders:
            deadline.check()
            mine = np.flatnonzero(done & hit)
            if len(mine):
                piece = _segment_piece(plan, reader, mine, positions[mine], lo, hi, cache, string_codes)
                if len(piece):
                    pieces.append(piece)
    for i in np.flatnonzero(~done).tolist():
        deadline.check()
        data = snapshot.window_rows(plan.series[i].series_id, plan.read_columns, partition, lo, hi)
        if data is None:
            continue
        rows = np.flatnonzero(kept_rows(plan.conditions, plan.projection, data))
        if len(rows):
            pieces.append(series_piece(i, data.take(rows) if len(rows) < len(data) else data))
    return pieces


def _worth_whole(plan: Plan, reader: SegmentReader, at: NDArray[np.intp]) -> bool:
    _, rows, _, _ = reader.directory_arrays()
    return reader.has_table(plan.read_columns) or int(rows[at].sum()) * TABLE_SHARE >= int(rows.sum())


def _segment_piece(
    plan: Plan, reader: SegmentReader, mine: NDArray[np.intp], at: NDArray[np.intp], lo: int, hi: int,
    cache: bool, string_codes: bool,
) -> WindowPiece:
    """The kept rows in [lo, hi) of the series at plan positions `mine` (directory positions `at`),
    from the segment's decoded columns."""
    _, rows, _, _ = reader.directory_arrays()
    table = reader.column_table(plan.read_columns, keep=cache, string_codes=string_codes and not plan.conditions)
    plan_position = np.full(len(rows), -1, dtype=np.intp)
    plan_position[at] = mine
    series = np.repeat(plan_position, rows)
    times = table.timestamps
    keep = (series >= 0) & (times >= lo) & (times < hi)
    keep &= kept_rows(plan.conditions, plan.projection, SeriesData(0, times, table.columns))
    columns = {name: table.columns[name] for name in plan.projection if name in table.columns}
    if bool(keep.all()):
        return WindowPiece(series, times, columns)
    pick = np.flatnonzero(keep)
    return WindowPiece(series[pick], times[pick], {name: column.take(pick) for name, column in columns.items()})
