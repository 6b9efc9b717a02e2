"""Window functions (`f(...) OVER (PARTITION BY ... ORDER BY ... frame)`), computed on the rows the
rest of the SELECT produced, as PostgreSQL does: after WHERE, GROUP BY and HAVING, before the
SELECT's own ORDER BY, DISTINCT ON and paging. Each call gives one value per row; the translator
(rusts.sql.translator) appends them to the rows and refers to them like any column.

Functions:
- ranking: row_number(), rank(), dense_rank(), percent_rank(), cume_dist(), ntile(n);
- offsets: lag(x [, offset [, default]]), lead(...) within the partition;
- values of the frame: first_value(x), last_value(x), nth_value(x, n);
- aggregates over the frame: count(*), count, sum, avg, min, max, stddev, variance and the other
  row aggregates of rusts.sql.regroup, with FILTER (WHERE ...).

Frames: ROWS BETWEEN {UNBOUNDED PRECEDING | n PRECEDING | CURRENT ROW | n FOLLOWING} AND
{... | UNBOUNDED FOLLOWING}, and RANGE with UNBOUNDED and CURRENT ROW bounds (CURRENT ROW takes the
row's peers, the rows equal to it in the window's ORDER BY). The default, as in SQL: RANGE BETWEEN
UNBOUNDED PRECEDING AND CURRENT ROW, which is the whole partition when there is no ORDER BY.
Rows are sorted within a partition as the SELECT's ORDER BY sorts (stable; NULLs last ascending,
first descending, unless NULLS FIRST/LAST says otherwise); NULL partition values make one partition.
"""

import math
from collections.abc import Callable
from operator import itemgetter
from typing import Any, Final

from rusts.sql.errors import WindowArgumentError
from rusts.sql.expressions import Const, Expr, Ref
from rusts.sql.intervals import Interval
from rusts.sql.regroup import REDUCE, ordered_positions

UNBOUNDED: Final = "unbounded"
CURRENT: Final = "current"
PRECEDING: Final = "preceding"
FOLLOWING: Final = "following"
PEERED: Final = frozenset({"rank", "dense_rank", "percent_rank", "cume_dist"})  # functions of the peer groups
OFFSETS: Final = frozenset({"lag", "lead"})
FRAME_VALUES: Final = frozenset({"first_value", "last_value", "nth_value"})

# A frame bound: (UNBOUNDED | CURRENT | PRECEDING | FOLLOWING, rows for PRECEDING and FOLLOWING)
Bound = tuple[str, int]


class WindowKey:
    """One ORDER BY key of a window."""

    def __init__(self, expr: Expr, descending: bool, nulls_first: bool) -> None:
        self.expr = expr
        self.descending = descending
        self.nulls_first = nulls_first


class Frame:
    def __init__(self, rows: bool, start: Bound, end: Bound) -> None:
        self.rows = rows  # ROWS (positions) rather than RANGE (peers)
        self.start = start
        self.end = end


DEFAULT_FRAME: Final = Frame(False, (UNBOUNDED, 0), (CURRENT, 0))


class WindowCall:
    """One window function call: `function` (a name above, or a rusts.sql.regroup reducer),
    `arguments` (row expressions: the value, lag's offset and default, ntile's and nth_value's n),
    `condition` (FILTER), the partition and order keys and the frame."""

    def __init__(
        self, function: str, arguments: list[Expr], partition: list[Expr], order: list[WindowKey], frame: Frame,
        result_type: str, condition: Expr | None = None,
    ) -> None:
        self.function = function
        self.arguments = arguments
        self.partition = partition
        self.order = order
        self.frame = frame
        self.result_type = result_type
        self.condition = condition

    def values(self, rows: list[list[Any]]) -> list[Any]:
        """This call's value for each of `rows`, in their order. Every expression is computed once
        per row, into columns the partitions then read by row number."""
        keys = [_column(key.expr, rows) for key in self.order]
        arguments = [_column(argument, rows) for argument in self.arguments]
        kept = None if self.condition is None else [value is True for value in _column(self.condition, rows)]
        framed = self.function in FRAME_VALUES or self.function in REDUCE
        peered = self.function in PEERED or framed and not self.frame.rows and CURRENT in (self.frame.start[0], self.frame.end[0])
        out: list[Any] = [None] * len(rows)
        for members in self._partitions(rows):
            ordered = ordered_positions(members, keys, [(key.descending, key.nulls_first) for key in self.order])
            peers = _peer_groups(ordered, keys) if peered and keys else [0] * len(ordered) if peered else []
            found = self._partition_values(arguments, kept, ordered, peers)
            for at, value in zip(ordered, found):
                out[at] = value
        return out

    def _partitions(self, rows: list[list[Any]]) -> list[list[int]]:
        if not self.partition:
            return [list(range(len(rows)))] if rows else []
        columns = [_column(expr, rows) for expr in self.partition]
        values: list[Any] = columns[0] if len(columns) == 1 else list(zip(*columns))
        groups: dict[Any, list[int]] = {}
        for at, value in enumerate(values):
            members = groups.get(value)
            if members is None:
                groups[value] = [at]
            else:
                members.append(at)
        return list(groups.values())

    def _partition_values(self, arguments: list[list[Any]], kept: list[bool] | None, ordered: list[int], peers: list[int]) -> list[Any]:
        size = len(ordered)
        function = self.function
        if function == "row_number":
            return list(range(1, size + 1))
        if function == "ntile":
            counts = [_count(arguments[0][at], "ntile") for at in ordered]
            return [None if n is None else _ntile(n, p, size) for p, n in enumerate(counts)]
        if function in OFFSETS:
            return self._offsets(arguments, ordered)
        first_peer, last_peer = _peer_bounds(peers) if peers else ([], [])
        if function == "rank":
            return [first + 1 for first in first_peer]
        if function == "dense_rank":
            return [group + 1 for group in peers]
        if function == "percent_rank":
            return [0.0 if size == 1 else first / (size - 1) for first in first_peer]
        if function == "cume_dist":
            return [(last + 1) / size for last in last_peer]
        bounds = [self._bounds(p, size, first_peer, last_peer) for p in range(size)]
        if function in FRAME_VALUES:
            return self._frame_values(arguments, ordered, bounds)
        return self._aggregates(arguments, kept, ordered, bounds)

    def _offsets(self, arguments: list[list[Any]], ordered: list[int]) -> list[Any]:
        step = -1 if self.function == "lag" else 1
        values = [arguments[0][at] for at in ordered]
        distances = arguments[1]
        defaults = arguments[2] if len(arguments) > 2 else None
        size = len(ordered)
        offset = self.arguments[1]
        if isinstance(offset, Const) and isinstance(offset.constant, int) and defaults is None:
            # one distance for every row (lag(x), lead(x, 2)): the values shifted, by slicing
            distance = min(abs(offset.constant), size)
            padding: list[Any] = [None] * distance
            if (offset.constant >= 0) == (step < 0):
                return padding + values[: size - distance]
            return values[distance:] + padding
        out: list[Any] = []
        for p, at in enumerate(ordered):
            distance = distances[at]
            if distance is None:
                out.append(None)
                continue
            target = p + step * int(distance)
            if 0 <= target < size:
                out.append(values[target])
            else:
                out.append(None if defaults is None else defaults[at])
        return out

    def _bounds(self, p: int, size: int, first_peer: list[int], last_peer: list[int]) -> tuple[int, int]:
        """The frame of position `p` as positions [low, high] (empty when low > high)."""
        frame = self.frame
        kind, n = frame.start
        if kind == UNBOUNDED:
            low = 0
        elif kind == CURRENT:
            low = p if frame.rows else first_peer[p]
        else:
            low = p - n if kind == PRECEDING else p + n
        kind, n = frame.end
        if kind == UNBOUNDED:
            high = size - 1
        elif kind == CURRENT:
            high = p if frame.rows else last_peer[p]
        else:
            high = p - n if kind == PRECEDING else p + n
        return min(max(low, 0), size), max(min(high, size - 1), -1)  # empty (low > high) past either end

    def _frame_values(self, arguments: list[list[Any]], ordered: list[int], bounds: list[tuple[int, int]]) -> list[Any]:
        values = arguments[0]
        out: list[Any] = []
        for p, (low, high) in enumerate(bounds):
            if self.function == "first_value":
                pick = low
            elif self.function == "last_value":
                pick = high
            else:
                nth = _count(arguments[1][ordered[p]], "nth_value")
                if nth is None:
                    out.append(None)
                    continue
                pick = low + nth - 1
            out.append(values[ordered[pick]] if low <= pick <= high else None)
        return out

    def _aggregates(
        self, arguments: list[list[Any]], kept: list[bool] | None, ordered: list[int], bounds: list[tuple[int, int]]
    ) -> list[Any]:
        values = arguments[0] if arguments else None
        if values is None:  # count(*): every row counts
            cells: list[Any] = [1] * len(ordered) if kept is None else [1 if kept[at] else None for at in ordered]
        elif kept is None:
            cells = [values[at] for at in ordered]
        else:
            cells = [values[at] if kept[at] else None for at in ordered]
        if all(low == 0 for low, _ in bounds) and not any(isinstance(cell, Interval) for cell in cells):
            running = _running(self.function)
            if running is not None:
                return running(cells, [high for _, high in bounds])
        reduce = REDUCE[self.function]
        counting = self.function == "count"
        done: dict[tuple[int, int], Any] = {}
        out: list[Any] = []
        for low, high in bounds:
            found = done.get((low, high), done)
            if found is done:
                present = [cell for cell in cells[low : high + 1] if cell is not None]
                found = reduce(present, 0.0) if present else (0 if counting else None)
                done[(low, high)] = found
            out.append(found)
        return out


def _column(expr: Expr, rows: list[list[Any]]) -> list[Any]:
    """`expr`'s value in each row (a column reference read in one C loop)."""
    if isinstance(expr, Ref):
        return list(map(itemgetter(expr.index), rows))
    if isinstance(expr, Const):
        return [expr.constant] * len(rows)
    return [expr.value(row) for row in rows]


def _peer_groups(ordered: list[int], keys: list[list[Any]]) -> list[int]:
    """Each position's peer group number (0, 1, ...): positions equal in every ORDER BY key."""
    values: list[Any] = [keys[0][at] for at in ordered] if len(keys) == 1 else [tuple(key[at] for key in keys) for at in ordered]
    groups: list[int] = []
    group = 0
    for p, value in enumerate(values):
        if p and value != values[p - 1]:
            group += 1
        groups.append(group)
    return groups


def _count(value: Any, name: str) -> int | None:
    """ntile's or nth_value's count (None for NULL, which makes the value NULL)."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise WindowArgumentError(f"argument of {name} must be greater than zero", "22014" if name == "ntile" else "22016")
    return value


class WindowRef(Ref):
    """A window call's value in a row: the column the call's values were appended as."""

    def __init__(self, type_: str, shown: str = "") -> None:
        super().__init__(("window", 0), type_, shown)


def with_windows(rows: list[list[Any]], calls: list[WindowCall]) -> list[list[Any]]:
    """`rows`, each with one more column per call: the call's value there."""
    if not calls:
        return rows
    columns = [call.values(rows) for call in calls]
    if len(columns) == 1:
        return [row + [value] for row, value in zip(rows, columns[0])]
    return [row + list(values) for row, values in zip(rows, zip(*columns))]


def _peer_bounds(peers: list[int]) -> tuple[list[int], list[int]]:
    """Each position's first and last position among its peers."""
    size = len(peers)
    first = [0] * size
    last = [0] * size
    start = 0
    for p in range(1, size + 1):
        if p == size or peers[p] != peers[start]:
            for q in range(start, p):
                first[q], last[q] = start, p - 1
            start = p
    return first, last


def _ntile(buckets: int, position: int, size: int) -> int:
    """PostgreSQL's ntile: `size` rows in `buckets` as equal as can be, the first ones one larger."""
    if buckets >= size:
        return position + 1
    small, larger = divmod(size, buckets)
    boundary = larger * (small + 1)
    if position < boundary:
        return position // (small + 1) + 1
    return larger + (position - boundary) // small + 1


def _running(function: str) -> Callable[[list[Any], list[int]], list[Any]] | None:
    """For frames that all start at the partition's first row: the aggregate at each frame's end in
    one pass (sum, count, avg, min, max), with the same additions, in the same order, as REDUCE."""
    if function == "count":
        return _running_count
    if function in ("sum", "mean"):
        return lambda cells, ends: _running_sum(cells, ends, function == "mean")
    if function in ("min", "max"):
        return lambda cells, ends: _running_extreme(cells, ends, function == "max")
    return None


def _running_count(cells: list[Any], ends: list[int]) -> list[Any]:
    counts: list[int] = []
    total = 0
    for cell in cells:
        total += cell is not None
        counts.append(total)
    return [counts[end] if end >= 0 else 0 for end in ends]


def _running_sum(cells: list[Any], ends: list[int], mean: bool) -> list[Any]:
    # exact integers when every value is one, as REDUCE sums them (and checks the bigint range on
    # the whole); otherwise floats added in the same order
    exact = all(isinstance(cell, int) for cell in cells if cell is not None)
    prefix: list[tuple[Any, int]] = []
    total: Any = 0 if exact else 0.0
    count = 0
    for cell in cells:
        if cell is not None:
            total += cell if exact else float(cell)
            count += 1
        prefix.append((total, count))
    empty = (0 if exact else 0.0, 0)
    return [_finish_sum(prefix[end] if end >= 0 else empty, mean, exact) for end in ends]


def _finish_sum(state: tuple[Any, int], mean: bool, exact: bool) -> Any:
    total, count = state
    if count == 0:
        return None
    if mean:
        return total / count
    if exact:
        return REDUCE["sum"]([total], 0.0)  # the bigint range check
    return total


def _running_extreme(cells: list[Any], ends: list[int], largest: bool) -> list[Any]:
    """NaN only where nothing else was seen yet, as REDUCE's min and max skip it."""
    best: list[Any] = []
    current: Any = None
    for cell in cells:
        if cell is not None:
            if current is None or _is_nan(current):
                current = cell
            elif not _is_nan(cell) and (cell > current if largest else cell < current):
                current = cell
        best.append(current)
    return [best[end] if end >= 0 else None for end in ends]


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
