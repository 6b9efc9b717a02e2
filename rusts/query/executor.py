"""The executor: runs a Plan over a ScanSnapshot and builds the QueryResult.

Result shape. Raw rows: `time`, then every tag key of the measurement (null
where a series lacks it), then the projected fields (null where a row lacks
one); rows from all series merged by (time, series key), DESC being the exact
reverse; rows carrying none of the projected fields are left out. Aggregates:
`time`, the group_by tags, then one column per aggregation. With a time
grouping, `time` is the bucket start; without one, it is the range start
(0 when the range has no start) and each group gives one row. Aggregate rows
are ordered by group (tag values ascending, null first), then time ASC/DESC;
LIMIT and OFFSET apply to the whole result. An ungrouped aggregate over no
rows still answers one row (count 0, the rest null); groups without rows are
absent. With fill other than "none", buckets run over the time range (or,
where it is open, from the first to the last bucket holding data).

Aggregates run in two passes. The partition pass takes each partition once
for all series: a series whose segments there hold disjoint times of it, with
no tombstone and no memtable rows in that window, is answered from per-series
header totals of its segment when it lies wholly in the range and in one
bucket and every aggregate allows it (count/sum/mean/min/max/spread, no field
predicate), else from the segment's decoded columns (SegmentReader.column_table,
cached within a byte budget) when those series hold at least a quarter of the
segment's rows; each partition's rows shrink to per-bucket states at once.
What it leaves (overwrites across layers, memtable rows, deletes, small
shares of a segment) the series pass reads series by series as before
(ScanSnapshot.pieces, block-header pushdown per block).

Raw rows with a LIMIT take series in the order their rows reach (footers and
memtables tell), and stop when no later series can place. execute_batches
streams raw answers window by window (one partition's time range at a time).

Memory: aggregate states are folded per group (merged every MERGE_EVERY
pieces); raw results of execute are materialised as the answer, those of
execute_batches are not. The deadline is checked between series and
partitions, and a query past it raises QueryTimeoutError.
"""

from collections.abc import Iterator
from typing import Any, Final, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from rusts.query import aggregate as agg
from rusts.query.batches import ColumnBatch
from rusts.query.errors import InvalidQueryError
from rusts.query.fill import fill_column
from rusts.query.filters import kept_rows, row_mask
from rusts.query.model import Column as ResultColumn
from rusts.query.model import Query, QueryResult, parse_query
from rusts.query.planner import TIME_MAX, TIME_MIN, Plan, SeriesRef, plan_query
from rusts.query.window_rows import Deadline, WindowPiece, WindowScan, answer_order, found_pieces, window_pieces
from rusts.storage.columns import KIND_FLOAT, KIND_NAMES, KIND_STRING, NUMPY_DTYPES, Column, SeriesData, joined_values
from rusts.storage.engine import StorageEngine
from rusts.storage.partition import Partition
from rusts.storage.scan import BlockStats, ScanSnapshot, segment_holders, settled_series
from rusts.storage.segment import SegmentReader
from rusts.storage.segment_format import BlockMeta, ColumnBlockMeta

__all__ = ["QueryRouter", "execute", "execute_batches", "execute_column_batches", "parse_query", "result_columns"]

MAX_FILLED_BUCKETS = 1_000_000
MERGE_EVERY = 256


@runtime_checkable
class QueryRouter(Protocol):
    """Who answers instead of the local engine when `engine.query_router` is set (cluster mode: ask
    every shard's holders and merge). Same contracts as `execute` and `execute_batches`."""

    def execute(self, query: Query, timeout: float | None) -> QueryResult: ...

    def execute_batches(
        self, query: Query, timeout: float | None, batch_rows: int
    ) -> tuple[list[ResultColumn], Iterator[list[list[Any]]]]: ...


def _router(engine: StorageEngine) -> QueryRouter | None:
    router = engine.query_router
    if router is None:
        return None
    if not isinstance(router, QueryRouter):
        raise AssertionError(f"BUG: engine.query_router is a {type(router).__name__}, not a QueryRouter")
    return router


def execute(engine: StorageEngine, query: Query, timeout: float | None = None) -> QueryResult:
    """Answer `query` from `engine` (or its query_router); QueryError subclasses for bad queries and timeouts."""
    router = _router(engine)
    if router is not None:
        return router.execute(query, timeout)
    deadline = Deadline(timeout)
    plan = plan_query(engine, query)
    snapshot = ScanSnapshot(engine, plan.start, plan.end)
    if plan.strategy == "aggregate":
        return _aggregate(plan, snapshot, deadline)
    return _raw(plan, snapshot, deadline)


# ---- raw rows ----


def _raw(plan: Plan, snapshot: ScanSnapshot, deadline: Deadline) -> QueryResult:
    wanted = None if plan.limit is None else plan.limit + plan.offset
    if wanted is not None:
        return _raw_result(plan, found_pieces(plan, _top_k(plan, snapshot, deadline, wanted)))
    scan = WindowScan(plan, snapshot)
    pieces: list[WindowPiece] = []
    for partition, lo, hi in snapshot.windows():
        pieces.extend(window_pieces(plan, snapshot, scan, partition, lo, hi, deadline))
    return _raw_result(plan, pieces)


def _top_k(plan: Plan, snapshot: ScanSnapshot, deadline: Deadline, wanted: int) -> list[tuple[SeriesRef, SeriesData]]:
    """The `wanted` first rows (last when descending) of each series that can still place, series taken
    from the one whose rows reach furthest: once `wanted` rows are found, a series whose newest row
    (oldest when ascending) is strictly worse than the wanted-th found cannot place, nor can any after it."""
    found: list[tuple[SeriesRef, SeriesData]] = []
    if wanted <= 0 or not plan.series:
        return found
    reach = _series_reach(plan, snapshot)
    order = np.argsort(-reach if plan.descending else reach, kind="stable").tolist()
    times: list[NDArray[np.int64]] = []
    count = 0
    for i in order:
        deadline.check()
        if count >= wanted:
            joined = np.concatenate(times)
            if plan.descending:
                threshold = int(np.partition(joined, len(joined) - wanted)[len(joined) - wanted])
                if int(reach[i]) < threshold:
                    break
            else:
                threshold = int(np.partition(joined, wanted - 1)[wanted - 1])
                if int(reach[i]) > threshold:
                    break
        ref = plan.series[i]
        data = snapshot.limited(ref.series_id, plan.read_columns, wanted, plan.descending, lambda d: kept_rows(plan.conditions, plan.projection, d))
        if data is not None:
            found.append((ref, data))
            times.append(data.timestamps)
            count += len(data)
    return found


def _series_reach(plan: Plan, snapshot: ScanSnapshot) -> NDArray[np.int64]:
    """Per series, a bound on its newest row time (oldest when ascending) from footers and memtables."""
    ids = [ref.series_id for ref in plan.series]
    series_ids = np.array(ids, dtype=np.uint64)
    pick = np.maximum if plan.descending else np.minimum
    reach = np.full(len(ids), TIME_MIN if plan.descending else TIME_MAX, dtype=np.int64)
    for partition in snapshot.partitions:
        holders, _ = segment_holders(partition, series_ids)
        for reader, hit, positions in holders:
            _, _, min_times, max_times = reader.directory_arrays()
            edge = (max_times if plan.descending else min_times)[positions]
            reach = np.where(hit, pick(reach, edge), reach)
    at, lows, highs = snapshot.memtable_spans(ids)
    if len(at):
        pick.at(reach, at, highs if plan.descending else lows)
    return reach


def _raw_columns(plan: Plan) -> list[ResultColumn]:
    columns = [ResultColumn("time", "timestamp")]
    columns += [ResultColumn(key, "string") for key in plan.tag_keys]
    columns += [ResultColumn(name, KIND_NAMES[plan.kinds[name]]) for name in plan.projection]
    return columns


class _Rows:
    """Rows of several series side by side (one window or a whole result), in answer order, ready to
    turn into output rows a slice at a time."""

    def __init__(self, plan: Plan, pieces: list[WindowPiece]) -> None:
        self.plan = plan
        lengths = np.array([len(piece) for piece in pieces], dtype=np.int64)
        self.series, self.times, order = answer_order(plan, pieces)
        self.order = order[::-1] if plan.descending else order
        # Each tag key's value per series (plan position), for every slice of rows taken.
        self.tags = [np.array([ref.tags.get(key) for ref in plan.series], dtype=object) for key in plan.tag_keys]
        self.values: list[Any] = []
        self.present: list[NDArray[np.bool_] | None] = []
        for name in plan.projection:
            values, present = _joined(plan.kinds[name], [piece.columns.get(name) for piece in pieces], lengths)
            self.values.append(values)
            self.present.append(present)

    def __len__(self) -> int:
        return len(self.order)

    def columns(self, start: int, stop: int) -> ColumnBatch:
        """Output rows start..stop of the answer order, as columns."""
        picked = self.order[start:stop]
        which = self.series[picked]
        values: list[Any] = [self.times[picked]]
        present: list[NDArray[np.bool_] | None] = [None]
        for tags in self.tags:
            values.append(tags[which])
            present.append(None)
        index = picked.tolist()
        for column, mask in zip(self.values, self.present):
            values.append([column[i] for i in index] if isinstance(column, list) else column[picked])
            present.append(None if mask is None else mask[picked])
        return ColumnBatch(values, present, len(picked))

    def rows(self, start: int, stop: int) -> list[list[Any]]:
        """Output rows start..stop of the answer order."""
        return self.columns(start, stop).rows()


def _joined(kind: int, columns: list[Column | None], lengths: NDArray[np.int64]) -> tuple[Any, NDArray[np.bool_] | None]:
    """One field's values and presence across parts (None where every row carries it)."""
    values: list[Any] = []
    masks: list[NDArray[np.bool_]] = []
    partial = False
    for column, length in zip(columns, lengths.tolist()):
        if column is None:
            partial = True
            values.append([None] * length if kind == KIND_STRING else np.zeros(length, dtype=NUMPY_DTYPES[kind]))
            masks.append(np.zeros(length, dtype=np.bool_))
            continue
        values.append(column.values)
        masks.append(np.ones(length, dtype=np.bool_) if column.present is None else column.present)
        partial = partial or column.present is not None
    joined: Any = joined_values(kind, values) if values else []
    if not values and kind != KIND_STRING:
        joined = np.zeros(0, dtype=NUMPY_DTYPES[kind])
    return joined, (np.concatenate(masks) if partial and masks else None)


def _raw_result(plan: Plan, pieces: list[WindowPiece]) -> QueryResult:
    columns = _raw_columns(plan)
    if not pieces:
        return QueryResult(columns, [])
    rows = _Rows(plan, pieces)
    stop = len(rows) if plan.limit is None else plan.offset + plan.limit
    return QueryResult(columns, rows.rows(plan.offset, stop))


# ---- streaming ----


def result_columns(engine: StorageEngine, query: Query) -> list[ResultColumn]:
    """The columns `execute` answers `query` with, without running it."""
    plan = plan_query(engine, query)
    return _aggregate_columns(plan) if plan.strategy == "aggregate" else _raw_columns(plan)


def execute_batches(
    engine: StorageEngine, query: Query, timeout: float | None = None, batch_rows: int = 65536
) -> tuple[list[ResultColumn], Iterator[list[list[Any]]]]:
    """The columns of `query`'s answer, and its rows in batches of at most `batch_rows`, in the order
    and with the values `execute` gives. Bad queries raise here; the scan runs as the batches are
    taken (a timeout raises QueryTimeoutError from the iterator). An empty answer yields no batch.

    Memory: raw rows are read window by window (one partition's time range at a time, all series,
    memtables merged) and only the rows of one window are held decoded besides the batch being built;
    an aggregate answer is computed whole (it holds per-group states, not rows) and sliced."""
    if batch_rows < 1:
        raise InvalidQueryError(f"batch_rows must be at least 1, got {batch_rows}")
    router = _router(engine)
    if router is not None:
        return router.execute_batches(query, timeout, batch_rows)
    deadline = Deadline(timeout)
    plan = plan_query(engine, query)
    snapshot = ScanSnapshot(engine, plan.start, plan.end)
    if plan.strategy == "aggregate":
        return _aggregate_columns(plan), _aggregate_batches(plan, snapshot, deadline, batch_rows)
    if not _read_by_window(plan, batch_rows):
        return _raw_columns(plan), _sliced(_raw(plan, snapshot, deadline).rows, batch_rows)
    return _raw_columns(plan), _raw_batches(plan, snapshot, deadline, batch_rows)


def _read_by_window(plan: Plan, batch_rows: int) -> bool:
    """Whether a raw answer streams window by window: not when a LIMIT makes it small enough that
    the top-k path (series by series, as far as they reach) reads less."""
    wanted = None if plan.limit is None else plan.limit + plan.offset
    return wanted is None or wanted * max(1, len(plan.series)) > 4 * batch_rows


def _sliced(rows: list[list[Any]], batch_rows: int) -> Iterator[list[list[Any]]]:
    for start in range(0, len(rows), batch_rows):
        yield rows[start : start + batch_rows]


def _aggregate_batches(plan: Plan, snapshot: ScanSnapshot, deadline: Deadline, batch_rows: int) -> Iterator[list[list[Any]]]:
    yield from _sliced(_aggregate(plan, snapshot, deadline).rows, batch_rows)


def execute_column_batches(
    engine: StorageEngine, query: Query, timeout: float | None = None, batch_rows: int = 65536
) -> tuple[list[ResultColumn], Iterator[ColumnBatch]] | None:
    """execute_batches' answer as ColumnBatches (the same rows in the same order), for a raw
    answer read window by window; None where execute_batches would not stream it (aggregates,
    small LIMITs, a cluster's router): the caller then uses execute_batches."""
    if batch_rows < 1:
        raise InvalidQueryError(f"batch_rows must be at least 1, got {batch_rows}")
    if _router(engine) is not None:
        return None
    plan = plan_query(engine, query)
    if plan.strategy == "aggregate" or not _read_by_window(plan, batch_rows):
        return None
    snapshot = ScanSnapshot(engine, plan.start, plan.end)
    deadline = Deadline(timeout)
    return _raw_columns(plan), _column_batches(plan, snapshot, deadline, batch_rows)


def _column_batches(plan: Plan, snapshot: ScanSnapshot, deadline: Deadline, batch_rows: int) -> Iterator[ColumnBatch]:
    for window, start, stop in _raw_windows(plan, snapshot, deadline):
        while start < stop:
            deadline.check()
            take = min(stop, start + batch_rows)
            yield window.columns(start, take)
            start = take


def _raw_windows(plan: Plan, snapshot: ScanSnapshot, deadline: Deadline) -> Iterator[tuple["_Rows", int, int]]:
    """Each window's rows with the answer's range of them (OFFSET and LIMIT applied across windows)."""
    skip = plan.offset
    left = plan.limit
    windows = snapshot.windows()
    scan = WindowScan(plan, snapshot)
    for partition, lo, hi in reversed(windows) if plan.descending else windows:
        if left == 0:
            break
        pieces = window_pieces(plan, snapshot, scan, partition, lo, hi, deadline)
        if not pieces:
            continue
        window = _Rows(plan, pieces)
        start = min(skip, len(window))
        skip -= start
        stop = len(window) if left is None else min(len(window), start + left)
        if left is not None:
            left -= stop - start
        yield window, start, stop


def _raw_batches(plan: Plan, snapshot: ScanSnapshot, deadline: Deadline, batch_rows: int) -> Iterator[list[list[Any]]]:
    pending: list[list[Any]] = []
    # Batches are filled across windows: full batches except the last.
    for window, start, stop in _raw_windows(plan, snapshot, deadline):
        while start < stop:
            deadline.check()
            take = min(stop, start + batch_rows - len(pending))
            pending.extend(window.rows(start, take))
            start = take
            if len(pending) == batch_rows:
                yield pending
                pending = []
    if pending:
        yield pending


# ---- aggregates ----


class _Group:
    """Partial states of one group: the row count (which buckets hold data) and each aggregate."""

    __slots__ = ("rows", "states", "pending_rows", "pending")

    def __init__(self, count: int) -> None:
        self.rows: agg.State | None = None
        self.states: list[agg.State | None] = [None] * count
        # States not merged yet: merging once per many pieces costs far less than once per piece.
        self.pending_rows: list[agg.State] = []
        self.pending: list[list[agg.State]] = [[] for _ in range(count)]


class _Aggregation:
    """One aggregate query's running state: groups, group numbers and tag codes per series."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.rows_spec = agg.AggregateSpec("count", "*", "", 0, False, 0.0, "integer")
        self.groups: dict[tuple[str | None, ...], _Group] = {}
        self.distinct_codes: dict[str, int] = {}
        keys = [tuple(ref.tags.get(tag) for tag in plan.group_tags) for ref in plan.series]
        numbers: dict[tuple[str | None, ...], int] = {}
        self.keys = list(dict.fromkeys(keys))
        numbers = {key: i for i, key in enumerate(self.keys)}
        self.group_of = np.array([numbers[key] for key in keys], dtype=np.intp)
        self.ranks = np.array([ref.rank for ref in plan.series], dtype=np.int64)
        self.tag_codes: dict[str, NDArray[np.int64]] = {}
        # States from header totals, rows of every group together (see _fold_totals).
        self.totals_rows: list[agg.State] = []
        self.totals_states: list[list[agg.State]] = [[] for _ in plan.aggregations]
        for spec in plan.aggregations:
            if spec.is_tag:
                values = [ref.tags.get(spec.field) for ref in plan.series]
                self.tag_codes[spec.field] = np.array(
                    [-1 if v is None else self.distinct_codes.setdefault(v, len(self.distinct_codes)) for v in values],
                    dtype=np.int64,
                )

    def fold(self, key: tuple[str | None, ...], row_states: list[agg.State], states: list[list[agg.State]]) -> None:
        if not row_states:
            return
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = _Group(len(self.plan.aggregations))
        group.pending_rows.extend(row_states)
        for pending, more in zip(group.pending, states):
            pending.extend(more)
        if len(group.pending_rows) >= MERGE_EVERY:
            self.merge(group)

    def _fold_totals(self) -> None:
        """Part the header-totals states (rows of all groups, gathered partition by partition) by group."""
        if not self.totals_rows:
            return
        rows = agg.split_groups(_concatenated(self.totals_rows))
        specs = [agg.split_groups(_concatenated(held)) for held in self.totals_states]
        for number, row_state in rows.items():
            states = [[by_group[number]] if number in by_group else [] for by_group in specs]
            self.fold(self.keys[number], [row_state], states)
        self.totals_rows = []
        self.totals_states = [[] for _ in self.plan.aggregations]

    def merge(self, group: _Group) -> None:
        group.rows = agg.merge(self.rows_spec, ([group.rows] if group.rows is not None else []) + group.pending_rows)
        group.pending_rows = []
        for i, spec in enumerate(self.plan.aggregations):
            previous = group.states[i]
            group.states[i] = agg.merge(spec, ([previous] if previous is not None else []) + group.pending[i])
            group.pending[i] = []

    def finish(self) -> dict[tuple[str | None, ...], _Group]:
        self._fold_totals()
        for group in self.groups.values():
            self.merge(group)
        return self.groups


def _aggregate(plan: Plan, snapshot: ScanSnapshot, deadline: Deadline) -> QueryResult:
    groups, _ = aggregate_groups(plan, snapshot, deadline)
    return _aggregate_result(plan, groups)


def aggregate_groups(
    plan: Plan, snapshot: ScanSnapshot, deadline: Deadline
) -> tuple[dict[tuple[str | None, ...], "_Group"], dict[str, int]]:
    """Per-group partial states of an aggregate plan, before they are finished into rows, and the
    codes given to count_distinct values (the cluster merges these across shards)."""
    run = _Aggregation(plan)
    specs = plan.aggregations
    done = np.zeros((len(snapshot.partitions), len(plan.series)), dtype=np.bool_)
    if plan.series:
        series_ids = np.array([ref.series_id for ref in plan.series], dtype=np.uint64)
        spans = snapshot.memtable_spans([ref.series_id for ref in plan.series])
        for p, partition in enumerate(snapshot.partitions):
            deadline.check()
            done[p] = _partition_pass(run, snapshot, partition, series_ids, spans)
    in_memtable = set(spans[0].tolist()) if plan.series else set()
    starts = [partition.start for partition in snapshot.partitions]
    pushable = (lambda block: _pushable(plan, block)) if plan.pushdown else None
    for i, ref in enumerate(plan.series):
        handled = done[:, i]
        if i not in in_memtable and bool(handled.all()):
            continue
        deadline.check()
        skip = {starts[p] for p in np.flatnonzero(handled).tolist()}
        key = run.keys[int(run.group_of[i])]
        row_states: list[agg.State] = []
        states: list[list[agg.State]] = [[] for _ in specs]
        block_buckets: list[int] = []
        blocks: list[tuple[int, dict[str, ColumnBlockMeta]]] = []
        for pieces in snapshot.pieces(ref.series_id, plan.read_columns, pushable, skip=skip):
            deadline.check()
            for piece in pieces:
                if isinstance(piece, BlockStats):
                    block_buckets.append(_bucket_of(plan, piece.min_time))
                    blocks.append((piece.rows, piece.columns))
                    continue
                _lift_rows(run, piece, np.full(len(piece), i, dtype=np.intp), row_states, states)
        if blocks:
            row_states.append(agg.lift_blocks(run.rows_spec, block_buckets, blocks))
            for spec, held in zip(specs, states):
                held.append(agg.lift_blocks(spec, block_buckets, blocks))
        run.fold(key, row_states, states)
    return run.finish(), run.distinct_codes


def _concatenated(states: list[agg.State]) -> agg.State:
    return {key: np.concatenate([state[key] for state in states]) for key in states[0]}


def _partition_pass(
    run: _Aggregation,
    snapshot: ScanSnapshot,
    partition: Partition,
    series_ids: NDArray[np.uint64],
    spans: tuple[NDArray[np.intp], NDArray[np.int64], NDArray[np.int64]],
) -> NDArray[np.bool_]:
    """Answer, for all series at once, the series this partition settles alone: segments holding it
    cover disjoint times of it, no tombstone, no memtable rows in its window. Whole series from header totals where
    exact, the rest from the segment's decoded columns when they are worth decoding whole.
    Returns which series are settled (their partition is skipped by the per-series scan)."""
    lo, hi = snapshot.window(partition)
    done, holders = settled_series(partition, series_ids, spans, lo, hi)
    # Decide before folding: a series one segment cannot settle is scanned whole (every segment of
    # the partition) by the per-series pass, so no segment may fold its rows unless all its holders can.
    for reader, hit, positions in holders:
        mine = np.flatnonzero(done & hit)
        if run.plan.pushdown and len(mine):
            mine = mine[~_totals_whole(run, reader, positions[mine], lo, hi)]
        if len(mine) and not _table_worth(run, reader, positions[mine]):
            done[mine] = False
    for reader, hit, positions in holders:
        mine = np.flatnonzero(done & hit)
        if run.plan.pushdown and len(mine):
            mine = _from_totals(run, reader, mine, positions[mine], lo, hi)
        if len(mine):
            _from_table(run, reader, mine, positions[mine], lo, hi)
    return done


def _from_totals(
    run: _Aggregation, reader: SegmentReader, mine: NDArray[np.intp], at: NDArray[np.intp], lo: int, hi: int
) -> NDArray[np.intp]:
    """Fold the series whose segment totals answer every aggregate; the others are returned."""
    plan = run.plan
    _, rows, min_times, _ = reader.directory_arrays()
    whole = _totals_whole(run, reader, at, lo, hi)
    chosen = np.flatnonzero(whole)
    if len(chosen) == 0:
        return mine
    buckets = _buckets(plan, min_times[at])
    totals = {spec.field: reader.column_totals(spec.field) for spec in plan.aggregations if spec.field != "*"}
    groups = run.group_of[mine[chosen]]
    picked_at, picked_buckets, picked_rows = at[chosen], buckets[chosen], rows[at[chosen]]
    run.totals_rows.append(agg.lift_totals(run.rows_spec, picked_buckets, picked_rows, None, picked_at, groups))
    for spec, held in zip(plan.aggregations, run.totals_states):
        held.append(agg.lift_totals(spec, picked_buckets, picked_rows, totals.get(spec.field), picked_at, groups))
    rest: NDArray[np.intp] = mine[~whole]
    return rest


def _totals_whole(run: _Aggregation, reader: SegmentReader, at: NDArray[np.intp], lo: int, hi: int) -> NDArray[np.bool_]:
    """Per series (directory positions `at`): True when the segment's header totals answer every aggregate."""
    plan = run.plan
    _, _, min_times, max_times = reader.directory_arrays()
    first, last = min_times[at], max_times[at]
    whole: NDArray[np.bool_] = (first >= lo) & (last < hi)
    if plan.interval is not None:
        whole &= _buckets(plan, first) == _buckets(plan, last)
    if not bool(whole.any()):
        return whole
    for spec in plan.aggregations:
        totals = reader.column_totals(spec.field) if spec.field != "*" else None
        whole &= agg.totals_pushable(spec, totals, at)
    return whole


def _table_worth(run: _Aggregation, reader: SegmentReader, at: NDArray[np.intp]) -> bool:
    """True when these series hold a large enough share of the segment to be worth decoding it whole."""
    _, rows, _, _ = reader.directory_arrays()
    return reader.has_table(run.plan.read_columns) or int(rows[at].sum()) * 4 >= int(rows.sum())


def _from_table(
    run: _Aggregation, reader: SegmentReader, mine: NDArray[np.intp], at: NDArray[np.intp], lo: int, hi: int
) -> None:
    """Fold the rows of these series from the segment's decoded columns (decoded whole)."""
    plan = run.plan
    _, rows, _, _ = reader.directory_arrays()
    lengths = rows[at]
    table = reader.column_table(plan.read_columns)
    order = np.argsort(at, kind="stable")
    mine, at, lengths = mine[order], at[order], lengths[order]
    total = int(lengths.sum())
    if len(at) == len(rows):
        index = np.arange(total, dtype=np.int64)  # every series of the segment, in directory order
    else:
        ends = np.cumsum(lengths)
        index = np.arange(total, dtype=np.int64) + np.repeat(table.offsets[at] - (ends - lengths), lengths)
    series_at = np.repeat(mine, lengths)
    times = table.timestamps if len(at) == len(rows) else table.timestamps[index]
    inside = (times >= lo) & (times < hi)
    if not bool(inside.all()):
        keep = np.flatnonzero(inside)
        index, series_at, times = index[keep], series_at[keep], times[keep]
    whole = len(index) == len(table.timestamps)
    columns = {name: column if whole else column.take(index) for name, column in table.columns.items()}
    data = SeriesData(0, times, columns)
    groups = run.group_of[series_at]
    numbers = [0] if len(run.keys) == 1 else np.unique(groups).tolist()
    for number in numbers:
        part, where = data, series_at
        if len(numbers) > 1:
            pick = np.flatnonzero(groups == number)
            part, where = data.take(pick), series_at[pick]
        dense = _dense_states(run, part)
        if dense is not None:
            run.fold(run.keys[number], dense[0], dense[1])
            continue
        row_states: list[agg.State] = []
        states: list[list[agg.State]] = [[] for _ in plan.aggregations]
        _lift_rows(run, part, where, row_states, states)
        # Reduced at once: a partition's rows shrink to one entry per bucket before they are kept.
        run.fold(run.keys[number], _merged(run.rows_spec, row_states), [_merged(spec, held) for spec, held in zip(plan.aggregations, states)])


def _dense_states(run: _Aggregation, data: SeriesData) -> tuple[list[agg.State], list[list[agg.State]]] | None:
    """Per-bucket states of rows straight from bincount when every aggregate is a count, a mean or a
    float sum of a column every row carries, there is no field predicate and the buckets are compact
    (the common dashboard query: no row-level state is built). None when that does not apply."""
    plan = run.plan
    if plan.conditions or len(data) < 64:
        return None
    columns: list[Any] = []
    for spec in plan.aggregations:
        if spec.field == "*" and spec.function == "count":
            columns.append(None)
            continue
        column = data.columns.get(spec.field)
        if spec.is_tag or column is None or column.present is not None or column.kind == KIND_STRING:
            return None
        if spec.function not in ("count", "mean") and not (spec.function == "sum" and column.values.dtype == np.float64):
            return None
        columns.append(column.values)
    buckets = _buckets(plan, data.timestamps)
    low, high = int(buckets.min()), int(buckets.max())
    if high - low > 4 * len(buckets):
        return None
    at = buckets - low
    counts = np.bincount(at, minlength=high - low + 1)
    held = np.flatnonzero(counts)
    bucket_numbers = held.astype(np.int64) + low
    n = counts[held].astype(np.int64)
    states: list[list[agg.State]] = []
    for spec, values in zip(plan.aggregations, columns):
        if spec.function == "count":
            states.append([{"bucket": bucket_numbers, "n": n}])
            continue
        sums = np.bincount(at, weights=values.astype(np.float64, copy=False), minlength=high - low + 1)[held]
        states.append([{"bucket": bucket_numbers, "n": n, "s": sums} if spec.function == "mean" else {"bucket": bucket_numbers, "s": sums}])
    return [{"bucket": bucket_numbers, "n": n}], states


def _merged(spec: agg.AggregateSpec, states: list[agg.State]) -> list[agg.State]:
    state = agg.merge(spec, states)
    return [] if state is None else [state]


def _bucket_of(plan: Plan, timestamp: int) -> int:
    return 0 if plan.interval is None else (timestamp - plan.offset_ns) // plan.interval


def _buckets(plan: Plan, times: NDArray[np.int64]) -> NDArray[np.int64]:
    if plan.interval is None:
        return np.zeros(len(times), dtype=np.int64)
    return (times - np.int64(plan.offset_ns)) // np.int64(plan.interval)


def _pushable(plan: Plan, block: BlockMeta) -> bool:
    if plan.interval is not None and _bucket_of(plan, block.min_time) != _bucket_of(plan, block.max_time):
        return False
    return all(agg.block_pushable(spec, block.columns) for spec in plan.aggregations)


def _lift_rows(
    run: _Aggregation,
    data: SeriesData,
    series_at: NDArray[np.intp],
    row_states: list[agg.State],
    states: list[list[agg.State]],
) -> None:
    """Lift rows of one group (series_at: each row's position in plan.series) into states."""
    plan = run.plan
    mask = row_mask(plan.conditions, data)
    if mask is not None:
        rows = np.flatnonzero(mask)
        data, series_at = data.take(rows), series_at[rows]
    if len(data) == 0:
        return
    buckets = _buckets(plan, data.timestamps)
    ranks = run.ranks[series_at]
    row_states.append(agg.lift(run.rows_spec, buckets, None, data.timestamps, ranks))
    for spec, held in zip(plan.aggregations, states):
        if spec.field == "*":
            held.append(agg.lift(spec, buckets, None, data.timestamps, ranks))
            continue
        if spec.is_tag:
            codes = run.tag_codes[spec.field][series_at]
            tagged = np.flatnonzero(codes >= 0)
            if len(tagged):
                held.append(agg.lift(spec, buckets[tagged], codes[tagged], data.timestamps[tagged], ranks[tagged]))
            continue
        column = data.columns.get(spec.field)
        if column is None:
            continue
        values: Any = column.values
        times, at, row_ranks = data.timestamps, buckets, ranks
        if column.present is not None:
            rows = np.flatnonzero(column.present)
            if len(rows) == 0:
                continue
            times, at, row_ranks = times[rows], at[rows], row_ranks[rows]
            values = [values[i] for i in rows.tolist()] if column.kind == KIND_STRING else values[rows]
        if spec.function == "count_distinct":
            listed = values if isinstance(values, list) else values.tolist()
            if column.kind == KIND_FLOAT:  # -0.0 and 0.0 are one value, as they compare equal
                listed = [0.0 if v == 0.0 else v for v in listed]
            known = run.distinct_codes
            values = np.array([known.setdefault(repr(v), len(known)) for v in listed], dtype=np.int64)
        held.append(agg.lift(spec, at, values, times, row_ranks))


def _aggregate_result(plan: Plan, groups: dict[tuple[str | None, ...], _Group]) -> QueryResult:
    specs = plan.aggregations
    columns = _aggregate_columns(plan)
    if not groups and not plan.group_tags and plan.interval is None:
        empty = [0 if spec.function in ("count", "count_distinct") else None for spec in specs]
        return QueryResult(columns, _paged(plan, [[plan.range_start or 0, *empty]]))
    span = _bucket_span(plan, groups)
    rows: list[list[Any]] = []
    for key in sorted(groups, key=lambda k: [(v is not None, v or "") for v in k]):
        group = groups[key]
        assert group.rows is not None, "BUG: a group without rows"
        data_buckets = group.rows["bucket"].tolist()
        buckets = data_buckets if span is None else list(range(span[0], span[1] + 1))
        has_data = set(data_buckets)
        present = [b in has_data for b in buckets]
        position = {b: i for i, b in enumerate(buckets)}
        outputs: list[list[Any]] = []
        for spec, state in zip(specs, group.states):
            zero = 0 if spec.function in ("count", "count_distinct") else None
            values: list[Any] = [zero] * len(buckets)
            if state is not None:
                found, results = agg.finish(spec, state)
                for b, value in zip(found.tolist(), results):
                    values[position[b]] = value
            outputs.append(fill_column(buckets, values, present, plan.fill, spec.function, spec.result_type))
        times = [_bucket_time(plan, b) for b in buckets]
        group_rows = [[t, *key, *row] for t, row in zip(times, zip(*outputs))] if specs else [[t, *key] for t in times]
        rows.extend(reversed(group_rows) if plan.descending else group_rows)
    return QueryResult(columns, _paged(plan, rows))


class GroupColumns:
    """One group of an aggregate answer as columns: its group-by tag values (None where a series
    lacks the tag), its bucket times in ascending order, and per aggregation a column of values
    (a numpy array, or a list for strings) with its presence (None: every bucket has a value)."""

    __slots__ = ("key", "times", "columns")

    def __init__(self, key: tuple[str | None, ...], times: NDArray[np.int64], columns: list[tuple[Any, NDArray[np.bool_] | None]]) -> None:
        self.key = key
        self.times = times
        self.columns = columns


def execute_group_columns(
    engine: StorageEngine, query: Query, timeout: float | None = None
) -> tuple[list[ResultColumn], list[GroupColumns]] | None:
    """An aggregate answer over time buckets, group by group as columns (the rows execute gives,
    in no particular group order), for a consumer that wants columns (a continuous aggregate's
    refresh writes them as they are). None where execute's answer is not just that: no time
    buckets, gap filling, paging, a cluster's router; the caller then uses execute."""
    if _router(engine) is not None:
        return None
    plan = plan_query(engine, query)
    if plan.strategy != "aggregate" or plan.interval is None or plan.fill != "none" or plan.limit is not None or plan.offset:
        return None
    groups, _ = aggregate_groups(plan, ScanSnapshot(engine, plan.start, plan.end), Deadline(timeout))
    answer: list[GroupColumns] = []
    for key, group in groups.items():
        assert group.rows is not None, "BUG: a group without rows"
        buckets = group.rows["bucket"]
        columns = [_spec_column(spec, buckets, state) for spec, state in zip(plan.aggregations, group.states)]
        answer.append(GroupColumns(key, buckets * plan.interval + plan.offset_ns, columns))
    return _aggregate_columns(plan), answer


_RESULT_DTYPES: Final[dict[str, Any]] = {
    "float": np.float64, "integer": np.int64, "unsigned": np.uint64, "boolean": np.bool_, "timestamp": np.int64,
}


def _spec_column(spec: agg.AggregateSpec, buckets: NDArray[np.int64], state: agg.State | None) -> tuple[Any, NDArray[np.bool_] | None]:
    """One aggregation's values at a group's buckets (those execute's rows give), with presence."""
    zero = 0 if spec.function in ("count", "count_distinct") else None
    values: list[Any] = [zero] * len(buckets)
    if state is not None:
        found, results = agg.finish(spec, state)
        if len(found) == len(buckets):
            values = results
        else:
            for at, value in zip(np.searchsorted(buckets, found).tolist(), results):
                values[at] = value
    return values_column(values, spec.result_type)


def values_column(values: list[Any], result_type: str) -> tuple[Any, NDArray[np.bool_] | None]:
    """Answer values (None where absent) as a column of their result type: a numpy array, or the
    list for strings, and the presence (None: every value is there)."""
    present = None
    if None in values:
        present = np.array([value is not None for value in values], dtype=np.bool_)
        blank: Any = "" if result_type == "string" else 0
        values = [blank if value is None else value for value in values]
    dtype = _RESULT_DTYPES.get(result_type)
    return (values if dtype is None else np.array(values, dtype=dtype)), present


def _aggregate_columns(plan: Plan) -> list[ResultColumn]:
    columns = [ResultColumn("time", "timestamp")]
    columns += [ResultColumn(tag, "string") for tag in plan.group_tags]
    columns += [ResultColumn(spec.name, spec.result_type) for spec in plan.aggregations]
    return columns


def _bucket_span(plan: Plan, groups: dict[tuple[str | None, ...], _Group]) -> tuple[int, int] | None:
    """First and last bucket to emit for every group, or None to emit only buckets with data."""
    if plan.interval is None or plan.fill == "none" or not groups:
        return None
    every = np.concatenate([g.rows["bucket"] for g in groups.values() if g.rows is not None])
    first = _bucket_of(plan, plan.range_start) if plan.range_start is not None else int(every.min())
    last = _bucket_of(plan, plan.range_end - 1) if plan.range_end is not None else int(every.max())
    if last - first >= MAX_FILLED_BUCKETS:
        raise InvalidQueryError(
            f"group_by.time: filling {last - first + 1} buckets per group is over the limit of {MAX_FILLED_BUCKETS}; "
            "use a larger interval, a shorter time_range or fill 'none'"
        )
    return first, last


def _bucket_time(plan: Plan, bucket: int) -> int:
    if plan.interval is None:
        return plan.range_start if plan.range_start is not None else 0
    return bucket * plan.interval + plan.offset_ns


def _paged(plan: Plan, rows: list[list[Any]]) -> list[list[Any]]:
    stop = None if plan.limit is None else plan.offset + plan.limit
    return rows[plan.offset : stop]
