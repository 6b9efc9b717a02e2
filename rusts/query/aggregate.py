"""Aggregate functions as mergeable partial states, reduced with numpy per bucket.

A state is a dict of aligned numpy arrays with a "bucket" key (int64 time
bucket numbers). Rows lift to row-level states; `merge` concatenates states,
sorts them by bucket and reduces each run of equal buckets with the
function's `combine` (np.add.reduceat and friends). So the executor folds a
query series by series into one small state per group: memory holds partial
results, not rows; only median, percentile and count_distinct keep values
(their answers need them).

Semantics: NaN propagates through sum, mean, stddev, median and percentile;
min, max and spread ignore NaN (as the segment block headers do, so pushdown
and decoding agree). stddev is the sample standard deviation (n - 1), null
below two values. percentile interpolates linearly between the closest ranks (PostgreSQL's
percentile_cont, bit for bit).
first and last order rows by (time, series key). Integer sums are int64
(uint64 for unsigned fields), exact: a total outside
the type is refused (SumOutOfRangeError, SQLSTATE 22003).
"""

from collections.abc import Callable
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from rusts.query.errors import SumOutOfRangeError
from rusts.storage.columns import KIND_FLOAT, KIND_STRING, KIND_UNSIGNED, NUMPY_DTYPES
from rusts.storage.segment import ColumnTotals
from rusts.storage.segment_format import ColumnBlockMeta

State = dict[str, NDArray[Any]]
Combine = Callable[[State, NDArray[np.intp], int], State]

# Functions a block header can answer (with count, min, max and sum).
PUSHABLE = frozenset({"count", "sum", "mean", "min", "max", "spread"})
GROUP_KEY = "group"
NUMERIC_ONLY = frozenset({"sum", "mean", "stddev", "median", "percentile", "spread"})
# Functions of an ordered type: numbers, and strings (in code point order: PostgreSQL's "C" collation).
ORDERED_ONLY = frozenset({"min", "max"})


class AggregateSpec:
    """One output aggregate: function, source (field, "*" or tag), kinds and output name/type."""

    __slots__ = ("function", "field", "name", "kind", "is_tag", "p", "result_type")

    def __init__(self, function: str, field: str, name: str, kind: int, is_tag: bool, p: float, result_type: str) -> None:
        self.function = function
        self.field = field
        self.name = name
        self.kind = kind  # the field's kind; KIND_INTEGER for "*"; KIND_STRING for tags
        self.is_tag = is_tag
        self.p = p
        self.result_type = result_type


def _segments(buckets: NDArray[np.int64]) -> NDArray[np.intp]:
    """Start index of each run of equal buckets in a sorted array."""
    change = np.flatnonzero(buckets[1:] != buckets[:-1]) + 1
    return np.concatenate((np.zeros(1, dtype=np.intp), change.astype(np.intp)))


def merge(spec: AggregateSpec, states: list[State]) -> State | None:
    """One state from several: concatenated, sorted by bucket, runs combined."""
    states = [state for state in states if len(state["bucket"])]
    if not states:
        return None
    if len(states) == 1:
        joined = states[0]
    else:
        joined = {key: np.concatenate([state[key] for state in states]) for key in states[0]}
    buckets = joined["bucket"]
    dense = _dense_merge(spec, joined)
    if dense is not None:
        return dense
    if len(buckets) > 1 and not bool((buckets[1:] >= buckets[:-1]).all()):
        order = np.argsort(buckets, kind="stable")
        joined = {key: values[order] for key, values in joined.items()}
    return COMBINE[spec.function](joined, _segments(joined["bucket"]), spec.kind)


def _dense_merge(spec: AggregateSpec, joined: State) -> State | None:
    """count, mean and float sums over a compact bucket range, added up without sorting (bincount);
    None when that does not apply. Exact for counts below 2**53; float sums add in another order."""
    buckets = joined["bucket"]
    function = spec.function
    if len(buckets) < 64 or function not in ("count", "mean", "sum"):
        return None
    if function == "sum" and joined["s"].dtype != np.float64:
        return None
    low, high = int(buckets.min()), int(buckets.max())
    if high - low > 4 * len(buckets):
        return None
    at = buckets - low
    counts = np.bincount(at, weights=joined["n"] if function != "sum" else None, minlength=high - low + 1)
    held = np.flatnonzero(counts)
    out: State = {"bucket": held.astype(np.int64) + low}
    if function != "sum":
        out["n"] = counts[held].astype(np.int64)
    if function != "count":
        out["s"] = np.bincount(at, weights=joined["s"], minlength=high - low + 1)[held]
    return out


# ---- lifting rows ----


def lift(
    spec: AggregateSpec, buckets: NDArray[np.int64], values: Any, times: NDArray[np.int64], rank: int | NDArray[np.int64]
) -> State:
    """Row-level state of the rows given (values: the field's present values, a tag code, or None for "*");
    rank: the series' rank, or one per row when the rows come from several series."""
    function = spec.function
    n = len(buckets)
    if function == "count":
        return {"bucket": buckets, "n": np.ones(n, dtype=np.int64)}
    if function == "count_distinct":
        return {"bucket": buckets, "code": np.asarray(values, dtype=np.int64)}
    if function in ("first", "last"):
        held = np.array(values, dtype=object) if spec.kind == KIND_STRING else values
        ranks = np.full(n, rank, dtype=np.int64) if isinstance(rank, int) else rank
        return {"bucket": buckets, "t": times, "r": ranks, "v": held}
    if function == "sum":
        return {"bucket": buckets, "s": values}
    if function == "mean":
        return {"bucket": buckets, "n": np.ones(n, dtype=np.int64), "s": values.astype(np.float64)}
    if function in ("min", "max"):
        return {"bucket": buckets, "v": np.array(values, dtype=object) if spec.kind == KIND_STRING else values}
    if function == "spread":
        return {"bucket": buckets, "lo": values, "hi": values}
    if function == "stddev":
        return {"bucket": buckets, "n": np.ones(n, dtype=np.int64), "m": values.astype(np.float64), "q": np.zeros(n)}
    if function in ("median", "percentile"):
        return {"bucket": buckets, "v": values.astype(np.float64)}
    raise AssertionError(f"BUG: no lift for {function}")


def lift_blocks(spec: AggregateSpec, buckets: list[int], blocks: list[tuple[int, dict[str, ColumnBlockMeta]]]) -> State:
    """State of whole blocks from their headers: (rows, columns) per block, bucket per block."""
    if spec.field == "*":
        counts = [rows for rows, _ in blocks]
        return {"bucket": np.array(buckets, dtype=np.int64), "n": np.array(counts, dtype=np.int64)}
    kept: list[int] = []
    entries: list[ColumnBlockMeta] = []
    for bucket, (_, columns) in zip(buckets, blocks):
        entry = columns.get(spec.field)
        if entry is not None and entry.present > 0:
            kept.append(bucket)
            entries.append(entry)
    bucket_array = np.array(kept, dtype=np.int64)
    function = spec.function
    if function == "count":
        return {"bucket": bucket_array, "n": np.array([e.present for e in entries], dtype=np.int64)}
    dtype = NUMPY_DTYPES[spec.kind]  # past count: the other functions take numeric fields only
    if function == "sum":
        return {"bucket": bucket_array, "s": np.array([e.sum for e in entries], dtype=dtype)}
    if function == "mean":
        return {
            "bucket": bucket_array,
            "n": np.array([e.present for e in entries], dtype=np.int64),
            "s": np.array([float(e.sum or 0) for e in entries], dtype=np.float64),
        }
    if function in ("min", "max"):
        return {"bucket": bucket_array, "v": np.array([e.min if function == "min" else e.max for e in entries], dtype=dtype)}
    if function == "spread":
        return {
            "bucket": bucket_array,
            "lo": np.array([e.min for e in entries], dtype=dtype),
            "hi": np.array([e.max for e in entries], dtype=dtype),
        }
    raise AssertionError(f"BUG: {function} is not answered from block headers")


def lift_totals(
    spec: AggregateSpec,
    buckets: NDArray[np.int64],
    rows: NDArray[np.int64],
    totals: ColumnTotals | None,
    at: NDArray[np.intp],
    groups: NDArray[np.intp],
) -> State:
    """State of whole series of one segment from their header totals (rusts.storage.segment.ColumnTotals):
    per series a bucket, row count, directory position (`at`) and group number, kept under GROUP_KEY
    until split_groups parts the rows by group."""
    if spec.field == "*":
        return {"bucket": buckets, "n": rows, GROUP_KEY: groups}
    if totals is None:
        return {"bucket": np.zeros(0, dtype=np.int64), GROUP_KEY: np.zeros(0, dtype=np.intp)}
    present = totals.present[at]
    held = np.flatnonzero(present > 0)
    at, present = at[held], present[held]
    state: State = {"bucket": buckets[held], GROUP_KEY: groups[held]}
    function = spec.function
    if function == "count":
        state["n"] = present
    elif function == "sum":
        state["s"] = totals.total[at]
    elif function == "mean":
        state["n"], state["s"] = present, totals.total[at].astype(np.float64)
    elif function in ("min", "max"):
        state["v"] = (totals.minimum if function == "min" else totals.maximum)[at]
    elif function == "spread":
        state["lo"], state["hi"] = totals.minimum[at], totals.maximum[at]
    else:
        raise AssertionError(f"BUG: {function} is not answered from header totals")
    return state


def split_groups(state: State) -> dict[int, State]:
    """A lift_totals state (rows of many groups) as one state per group number."""
    groups = state[GROUP_KEY]
    out: dict[int, State] = {}
    if len(groups) == 0:
        return out
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = _segments(sorted_groups).tolist()
    ends = starts[1:] + [len(order)]
    for start, end in zip(starts, ends):
        rows = order[start:end]
        out[int(sorted_groups[start])] = {key: values[rows] for key, values in state.items() if key != GROUP_KEY}
    return out


def totals_pushable(spec: AggregateSpec, totals: ColumnTotals | None, at: NDArray[np.intp]) -> NDArray[np.bool_]:
    """Per series (directory positions `at`): True when the header totals answer this aggregate exactly."""
    if spec.function not in PUSHABLE or (spec.kind == KIND_STRING and spec.function in ORDERED_ONLY):
        return np.zeros(len(at), dtype=np.bool_)
    if spec.field == "*" or totals is None or spec.function in ("count", "min", "max", "spread"):
        return np.ones(len(at), dtype=np.bool_)
    ok: NDArray[np.bool_] = totals.sum_ok[at] | (totals.present[at] == 0)
    return ok


def block_pushable(spec: AggregateSpec, columns: dict[str, ColumnBlockMeta]) -> bool:
    """True when the block header answers this aggregate exactly."""
    if spec.function not in PUSHABLE:
        return False
    if spec.kind == KIND_STRING and spec.function in ORDERED_ONLY:
        return False  # headers keep no minimum or maximum of strings
    if spec.field == "*":
        return True
    entry = columns.get(spec.field)
    if entry is None or entry.present == 0:
        return True
    if spec.function in ("sum", "mean"):
        return entry.sum_exact and entry.sum is not None
    return spec.function == "count" or entry.min is not None


# ---- combining runs of equal buckets ----


def _minimum(kind: int) -> Any:
    return np.fmin if kind == KIND_FLOAT else np.minimum


def _maximum(kind: int) -> Any:
    return np.fmax if kind == KIND_FLOAT else np.maximum


def _combine_count(state: State, starts: NDArray[np.intp], kind: int) -> State:
    return {"bucket": state["bucket"][starts], "n": np.add.reduceat(state["n"], starts)}


# Integer partial sums whose magnitudes add up to less than this cannot leave int64 (nor uint64).
_SAFE_SUM: Final = float(2**62)


def _combine_sum(state: State, starts: NDArray[np.intp], kind: int) -> State:
    values = state["s"]
    if values.dtype.kind in "iu" and float(np.abs(values.astype(np.float64)).sum()) >= _SAFE_SUM:
        # Python ints, exact: numpy would wrap; finish refuses a total its type cannot hold.
        values = values.astype(object)
    return {"bucket": state["bucket"][starts], "s": np.add.reduceat(values, starts)}


def _combine_mean(state: State, starts: NDArray[np.intp], kind: int) -> State:
    return {"bucket": state["bucket"][starts], "n": np.add.reduceat(state["n"], starts), "s": np.add.reduceat(state["s"], starts)}


def _combine_min(state: State, starts: NDArray[np.intp], kind: int) -> State:
    return {"bucket": state["bucket"][starts], "v": _minimum(kind).reduceat(state["v"], starts)}


def _combine_max(state: State, starts: NDArray[np.intp], kind: int) -> State:
    return {"bucket": state["bucket"][starts], "v": _maximum(kind).reduceat(state["v"], starts)}


def _combine_spread(state: State, starts: NDArray[np.intp], kind: int) -> State:
    return {
        "bucket": state["bucket"][starts],
        "lo": _minimum(kind).reduceat(state["lo"], starts),
        "hi": _maximum(kind).reduceat(state["hi"], starts),
    }


def _pick(state: State, last: bool) -> State:
    order = np.lexsort((state["r"], state["t"], state["bucket"]))
    buckets = state["bucket"][order]
    starts = _segments(buckets)
    picks = np.concatenate((starts[1:] - 1, [len(buckets) - 1])) if last else starts
    rows = order[picks]
    return {key: values[rows] for key, values in state.items()}


def _combine_first(state: State, starts: NDArray[np.intp], kind: int) -> State:
    return _pick(state, last=False)


def _combine_last(state: State, starts: NDArray[np.intp], kind: int) -> State:
    return _pick(state, last=True)


def _combine_stddev(state: State, starts: NDArray[np.intp], kind: int) -> State:
    """Chan et al.'s parallel update: exact merging of (count, mean, sum of squared deviations)."""
    n, m, q = state["n"], state["m"], state["q"]
    run = np.cumsum(np.isin(np.arange(len(n)), starts)) - 1
    total = np.add.reduceat(n, starts)
    mean = np.add.reduceat(n * m, starts) / total
    deviation = m - mean[run]
    squares = np.add.reduceat(q + n * deviation * deviation, starts)
    return {"bucket": state["bucket"][starts], "n": total, "m": mean, "q": squares}


def _combine_values(state: State, starts: NDArray[np.intp], kind: int) -> State:
    return state


def _combine_distinct(state: State, starts: NDArray[np.intp], kind: int) -> State:
    order = np.lexsort((state["code"], state["bucket"]))
    buckets, codes = state["bucket"][order], state["code"][order]
    fresh = np.ones(len(codes), dtype=np.bool_)
    fresh[1:] = (buckets[1:] != buckets[:-1]) | (codes[1:] != codes[:-1])
    return {"bucket": buckets[fresh], "code": codes[fresh]}


COMBINE: dict[str, Combine] = {
    "count": _combine_count,
    "sum": _combine_sum,
    "mean": _combine_mean,
    "min": _combine_min,
    "max": _combine_max,
    "spread": _combine_spread,
    "first": _combine_first,
    "last": _combine_last,
    "stddev": _combine_stddev,
    "median": _combine_values,
    "percentile": _combine_values,
    "count_distinct": _combine_distinct,
}


# ---- final values ----


def finish(spec: AggregateSpec, state: State) -> tuple[NDArray[np.int64], list[Any]]:
    """(bucket numbers, one value per bucket) of a merged state."""
    function = spec.function
    buckets = state["bucket"]
    if function in ("median", "percentile"):
        return _percentiles(buckets, state["v"], 50.0 if function == "median" else spec.p)
    if function == "count_distinct":
        starts = _segments(buckets) if len(buckets) else np.zeros(0, dtype=np.intp)
        counts = np.diff(np.concatenate((starts, [len(buckets)])))
        return buckets[starts], counts.tolist()
    if function == "count":
        return buckets, state["n"].tolist()
    if function == "sum":
        return buckets, _checked_sums(spec, state["s"])
    if function == "mean":
        return buckets, (state["s"] / state["n"]).tolist()
    if function in ("min", "max", "first", "last"):
        return buckets, state["v"].tolist()
    if function == "spread":
        if spec.kind == KIND_UNSIGNED:
            return buckets, [int(hi) - int(lo) for lo, hi in zip(state["lo"].tolist(), state["hi"].tolist())]
        return buckets, (state["hi"] - state["lo"]).tolist()
    if function == "stddev":
        n = state["n"]
        variance = state["q"] / np.maximum(n - 1, 1)
        values: list[Any] = np.sqrt(variance).tolist()
        return buckets, [v if count > 1 else None for v, count in zip(values, n.tolist())]
    raise AssertionError(f"BUG: no finish for {function}")


def _checked_sums(spec: AggregateSpec, sums: NDArray[Any]) -> list[Any]:
    """The sums as Python values; SumOutOfRangeError when an integer total does not fit its field's type."""
    values: list[Any] = sums.tolist()
    if sums.dtype != np.object_:
        return values
    low, high, name = (0, 2**64 - 1, "unsigned integer") if spec.kind == KIND_UNSIGNED else (-(2**63), 2**63 - 1, "bigint")
    for value in values:
        if value is not None and not low <= value <= high:
            raise SumOutOfRangeError(spec.field, name)
    return values


def _percentiles(buckets: NDArray[np.int64], values: NDArray[np.float64], p: float) -> tuple[NDArray[np.int64], list[Any]]:
    """Per-bucket percentile by linear interpolation between the closest ranks, computed as
    PostgreSQL's percentile_cont does (NaN when the run holds NaN)."""
    if len(buckets) == 0:
        return buckets, []
    order = np.lexsort((values, buckets))
    buckets, values = buckets[order], values[order]
    starts = _segments(buckets)
    ends = np.concatenate((starts[1:], [len(buckets)]))
    size = ends - starts
    position = (p / 100.0) * (size - 1)
    below = np.floor(position).astype(np.intp)
    above = np.minimum(below + 1, size - 1)
    weight = position - below
    low, high = values[starts + below], values[starts + above]
    difference = high - low
    # PostgreSQL's percentile_cont (float8_lerp): low + weight * (high - low), to the last bit.
    result = low + weight * difference
    # NaN sorts last, so a run holding NaN ends with it; numpy's percentile is NaN then.
    result[np.isnan(values[ends - 1])] = np.nan
    return buckets[starts], result.tolist()
