"""One Arrow record batch to the points it holds, in bulk (a handful of pyarrow and numpy calls per column).

A row becomes one point: its series from the tag columns, its time from the
timestamp column, its fields from the others. Nulls (and NaN floats, which
line protocol cannot carry) are missing fields; empty tag values are missing
tags. A row without a time, or with no field left, is skipped and counted;
so is a row whose dedup value is already stored or came earlier in the input.

Two rows of one series with one timestamp: by default both are written and
the later one's fields win (the storage engine merges them field by field, so
a field only the earlier row has survives). With `unique_time` the k-th row of
such a run gets k nanoseconds added, so every row is kept; runs are followed
across batches when each series arrives in time order.
"""

from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from rusts.core.hashing import series_key
from rusts.core.kinds import KIND_FLOAT, KIND_STRING, POINT_TIME_MAX, POINT_TIME_MIN
from rusts.importer.columns import ColumnPlan, InputError, ImportSpec

I64_MAX = 2**63 - 1

# Tag combinations are numbered with a table of flags instead of a sort when there are at most
# this many possible per row of the batch (the table costs O(possible), the sort O(rows log rows)).
DENSE_PER_ROW: Final = 4


class Skipped:
    """Rows left out, by reason."""

    def __init__(self) -> None:
        self.no_time = 0
        self.no_fields = 0
        self.duplicate = 0
        self.rejected = 0
        # Rows written over an earlier row of the same series and time (not skipped: they merged).
        self.same_time = 0

    def total(self) -> int:
        return self.no_time + self.no_fields + self.duplicate + self.rejected


class Chunk:
    """The kept rows of one batch: per row its time and series code; per series its key and tags;
    per field an Arrow array (null where the row lacks the field) of the field's kind; `order`:
    the rows grouped by series, by time within a series, rows of one time in input order;
    `source_rows`: the batch row of each kept row (None: all rows were kept)."""

    def __init__(
        self,
        times: NDArray[np.int64],
        codes: NDArray[np.int64],
        keys: list[str],
        tags: list[list[tuple[str, str]]],
        fields: list[tuple[str, int, Any]],
        measurement: str,
        order: NDArray[np.intp],
        source_rows: NDArray[np.int64] | None = None,
    ) -> None:
        self.measurement = measurement
        # The batch row of each chunk row, None when every row of the batch was kept.
        self.source_rows = source_rows
        self.times = times
        self.order = order
        self.codes = codes
        self.keys = keys
        self.tags = tags
        self.fields = fields

    def __len__(self) -> int:
        return len(self.times)


class Dedup:
    """The values of the dedup column already stored or already taken from the input."""

    def __init__(self, column: str, is_tag: bool, seen: set[Any]) -> None:
        self.column = column
        self.is_tag = is_tag
        self.seen = seen

    def keep(self, values: Any) -> NDArray[np.bool_]:
        """Rows whose value is new: not seen before, first of its kind in `values`; null values are kept."""
        encoded = pc.dictionary_encode(values)
        uniques = encoded.dictionary.to_pylist()
        indices = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        fresh = np.array([value not in self.seen for value in uniques] + [True], dtype=np.bool_)
        _, first = np.unique(indices, return_index=True)
        is_first = np.zeros(len(indices), dtype=np.bool_)
        is_first[first] = True
        kept: NDArray[np.bool_] = fresh[indices] & (is_first | (indices < 0))
        return kept

    def remember(self, values: Any) -> None:
        self.seen.update(v for v in pc.unique(values).to_pylist() if v is not None)


class Converter:
    """Turns the batches of one file into Chunks; keeps the state that spans batches."""

    def __init__(self, spec: ImportSpec, plan: ColumnPlan, source: str, dedup: Dedup | None) -> None:
        self.spec = spec
        self.plan = plan
        self.source = source
        self.dedup = dedup
        self.skipped = Skipped()
        # Per series key: the last time seen and how many rows had it (for unique_time across batches).
        self._last: dict[str, tuple[int, int]] = {}

    def convert(self, batch: Any) -> Chunk:
        times, has_time = self._times(batch.column(self.plan.time_column))
        fields = [(name, kind, _field_array(batch.column(name), kind)) for name, kind in self.plan.fields]
        if any(array.null_count == 0 for _, _, array in fields):
            has_field = np.ones(batch.num_rows, dtype=np.bool_)
        else:
            has_field = np.zeros(batch.num_rows, dtype=np.bool_)
            for _, _, array in fields:
                has_field |= array.is_valid().to_numpy(zero_copy_only=False)
        keep = has_time & has_field
        self.skipped.no_time += int((~has_time).sum())
        self.skipped.no_fields += int((has_time & ~has_field).sum())
        dedup_values = None
        if self.dedup is not None:
            dedup_values = self._dedup_values(batch, fields)
            fresh = self.dedup.keep(dedup_values)
            self.skipped.duplicate += int((keep & ~fresh).sum())
            keep &= fresh
        rows = np.flatnonzero(keep)
        source_rows = None
        if len(rows) < batch.num_rows:
            source_rows = rows.astype(np.int64)
            indices = pa.array(rows)
            fields = [(name, kind, array.take(indices)) for name, kind, array in fields]
            times = times[rows]
            batch = batch.take(indices)
            if dedup_values is not None:
                dedup_values = dedup_values.take(indices)
        codes, keys, tags = self._series(batch)
        times, order = self._same_time(times, codes, keys)
        if self.dedup is not None and dedup_values is not None:
            self.dedup.remember(dedup_values)
        return Chunk(times, codes, keys, tags, fields, self.spec.measurement, order, source_rows)

    def _dedup_values(self, batch: Any, fields: list[tuple[str, int, Any]]) -> Any:
        assert self.dedup is not None, "BUG: dedup values without dedup"
        if self.dedup.is_tag:
            return _tag_strings(batch.column(self.dedup.column))
        return next(array for name, _, array in fields if name == self.dedup.column)

    def _times(self, column: Any) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        """Each row's time in UTC nanoseconds (0 where null) and which rows have one."""
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        valid = column.is_valid().to_numpy(zero_copy_only=False)
        try:
            if self.plan.time_multiplier:
                raw = column.cast(pa.int64()).fill_null(0).to_numpy()
                limit = I64_MAX // self.plan.time_multiplier
                if np.any(np.abs(raw) > limit):
                    raise InputError(f"{self.source}: timestamp column {self.plan.time_column!r} holds values beyond "
                                     f"the nanosecond range (1677..2262) in unit {self.spec.timestamp_unit}")
                times = raw * self.plan.time_multiplier
            else:
                times = _nanoseconds(column).fill_null(0).to_numpy()
        except (pa.ArrowInvalid, OverflowError) as exc:
            raise InputError(f"{self.source}: timestamp column {self.plan.time_column!r}: {exc}") from None
        if len(times) and (int(times.min()) < POINT_TIME_MIN or int(times.max()) > POINT_TIME_MAX):
            raise InputError(f"{self.source}: timestamp column {self.plan.time_column!r} holds a time outside "
                             f"{POINT_TIME_MIN}..{POINT_TIME_MAX} ns, the range of a point's time")
        return times, valid

    def _series(self, batch: Any) -> tuple[NDArray[np.int64], list[str], list[list[tuple[str, str]]]]:
        """Per row a series code; per code the series key and its sorted tags."""
        rows = batch.num_rows
        if not self.plan.tags:
            return np.zeros(rows, dtype=np.int64), [series_key(self.spec.measurement, [])], [[]]
        dictionaries: list[list[str]] = []
        columns: list[NDArray[np.int64]] = []
        for name in self.plan.tags:
            words, codes = _tag_codes(batch.column(name))
            dictionaries.append(words)
            columns.append(codes)
        if rows == 0:
            return np.zeros(0, dtype=np.int64), [], []
        # One integer per row from the tag codes (mixed radix); rows of equal integers share a series.
        radix = [len(d) + 1 for d in dictionaries]
        combined = np.zeros(rows, dtype=np.int64)
        capacity = 1
        for column, base in zip(columns, radix):
            capacity *= base
            combined = combined * base + column
        if capacity >= 2**62:
            combos, codes = np.unique(np.stack(columns, axis=1), axis=0, return_inverse=True)
            combo_rows = combos.tolist()
        elif capacity <= DENSE_PER_ROW * rows + 4096:
            # Few possible combinations: mark the ones present and number them in order, no sort.
            seen = np.zeros(capacity, dtype=np.bool_)
            seen[combined] = True
            uniques = np.flatnonzero(seen)
            number = np.cumsum(seen, dtype=np.int64) - 1
            codes = number[combined]
            combo_rows = _digits(uniques, radix)
        else:
            uniques, codes = np.unique(combined, return_inverse=True)
            combo_rows = _digits(uniques, radix)
        keys: list[str] = []
        tags: list[list[tuple[str, str]]] = []
        for combo in combo_rows:
            pairs = sorted((name, dictionaries[i][c - 1]) for i, (name, c) in enumerate(zip(self.plan.tags, combo)) if c)
            keys.append(series_key(self.spec.measurement, pairs))
            tags.append(pairs)
        return codes.reshape(-1).astype(np.int64), keys, tags

    def _same_time(
        self, times: NDArray[np.int64], codes: NDArray[np.int64], keys: list[str]
    ) -> tuple[NDArray[np.int64], NDArray[np.intp]]:
        """Count (and with unique_time, spread) rows that share series and time with an earlier row.
        (the times, spread or not; the rows by series, time and input order)"""
        if len(times) == 0:
            return times, np.zeros(0, dtype=np.intp)
        order = np.lexsort((times, codes))  # stable: rows of one series and time stay in input order
        sorted_codes, sorted_times = codes[order], times[order]
        starts = np.ones(len(order), dtype=np.bool_)
        starts[1:] = (sorted_codes[1:] != sorted_codes[:-1]) | (sorted_times[1:] != sorted_times[:-1])
        run_start = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
        rank = np.arange(len(order)) - run_start
        # Runs continuing the last time of the series in the previous batch.
        last_time = np.full(len(keys), -1, dtype=np.int64)
        last_count = np.zeros(len(keys), dtype=np.int64)
        for code, key in enumerate(keys):
            last = self._last.get(key)
            if last is not None:
                last_time[code], last_count[code] = last
        # A series without a last time has count 0, so its sentinel time adds nothing.
        rank = rank + np.where(sorted_times == last_time[sorted_codes], last_count[sorted_codes], 0)
        self.skipped.same_time += int((rank > 0).sum())
        series_end = np.append(sorted_codes[1:] != sorted_codes[:-1], True)
        for i in np.flatnonzero(series_end).tolist():
            key = keys[int(sorted_codes[i])]
            time_now = int(sorted_times[i])
            previous = self._last.get(key)
            if previous is None or time_now >= previous[0]:
                self._last[key] = (time_now, int(rank[i]) + 1)
        if not self.spec.unique_time:
            return times, order
        spread = times.copy()
        spread[order] = sorted_times + rank
        return spread, order


def _digits(numbers: NDArray[np.int64], radix: list[int]) -> list[list[int]]:
    """Each mixed-radix number back as its digits, most significant first."""
    digits: list[NDArray[np.int64]] = []
    rest = numbers.copy()
    for base in reversed(radix):
        digits.append(rest % base)
        rest //= base
    stacked: list[list[int]] = np.stack(digits[::-1], axis=1).tolist()
    return stacked


def _nanoseconds(column: Any) -> Any:
    """A timestamp or date column as int64 nanoseconds since the epoch (UTC)."""
    if pa.types.is_date(column.type):
        column = column.cast(pa.timestamp("s")) if pa.types.is_date32(column.type) else column.cast(pa.timestamp("ms"))
    if column.type.unit != "ns":
        column = column.cast(pa.timestamp("ns", column.type.tz))
    return column.cast(pa.int64())


def _field_array(column: Any, kind: int) -> Any:
    """A column as an array of its field kind's Arrow type, null where the row has no value."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    data_type = column.type
    if pa.types.is_dictionary(data_type):
        if kind == KIND_STRING:
            return column.cast(pa.dictionary(pa.int32(), pa.string())) if not pa.types.is_string(data_type.value_type) else column
        column = column.dictionary_decode()
        data_type = column.type
    if pa.types.is_timestamp(data_type) or pa.types.is_date(data_type):
        return _nanoseconds(column)
    if kind == KIND_FLOAT:
        column = column.cast(pa.float64())
        # Line protocol has no NaN or infinity: such values are missing fields in both modes.
        finite = pc.is_finite(column)
        if not pc.all(finite.fill_null(True)).as_py():
            column = pc.if_else(finite, column, pa.scalar(None, pa.float64()))
        return column
    if kind == KIND_STRING and pa.types.is_large_string(data_type):
        return column.cast(pa.string())
    return column.cast({0: pa.float64(), 1: pa.int64(), 2: pa.uint64(), 3: pa.string(), 4: pa.bool_()}[kind])


def _tag_codes(column: Any) -> tuple[list[str], NDArray[np.int64]]:
    """A tag column's distinct values, and per row 1 + the index of its value (0: no tag)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type) and pa.types.is_string(column.type.value_type):
        # Codes of the dictionary's entries made unique (a batch's dictionary may repeat a value);
        # the empty string and a null entry are a missing tag, as _tag_strings makes them.
        unique = pc.dictionary_encode(column.dictionary)
        words: list[str] = unique.dictionary.to_pylist()
        entry_code = unique.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64) + 1
        if "" in words:
            entry_code[entry_code == words.index("") + 1] = 0
        entry_code = np.append(entry_code, 0)  # a null row
        indices = column.indices.fill_null(len(entry_code) - 1).to_numpy(zero_copy_only=False).astype(np.int64)
        return words, entry_code[indices]
    encoded = pc.dictionary_encode(_tag_strings(column))
    return encoded.dictionary.to_pylist(), encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64) + 1


def _tag_strings(column: Any) -> Any:
    """A tag column as strings, null for missing and empty values."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        column = _nanoseconds(column)
    strings = column.cast(pa.string())
    empty = pc.equal(strings, "")
    if pc.any(empty.fill_null(False)).as_py():
        strings = pc.if_else(empty, pa.scalar(None, pa.string()), strings)
    return strings
