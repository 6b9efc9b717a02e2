"""Tag index: measurement -> tag key -> tag value -> roaring bitmap of series numbers.

Bitmaps hold series *numbers*, the dense u32 handles rusts.index.series
gives each live series, not the u64 SeriesIds (see that module for why);
`SeriesIndex.ids_of` turns a bitmap back into ids. Each measurement also
keeps the bitmap of all its series, so NOT and != are a difference against
it and a measurement with no tags still has its series.

Query results are new bitmaps the caller owns: combine them with `&`, `|`,
`-` and `^` freely. `len()` of a bitmap is O(1)-ish (a sum over its
containers), so a planner can order intersections smallest first.

Thread safety: every method takes the index's lock, so readers see a
consistent state while a writer adds or removes series.
"""

import array
import threading
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from numpy.typing import NDArray
from pyroaring import BitMap

# tag key -> tag value -> series numbers
TagValues = dict[str, dict[str, BitMap]]


def _group_bounds(change: NDArray[np.bool_]) -> tuple[list[int], list[int]]:
    """Start and end of each run, given where a sorted sequence changes (len(sorted) - 1 flags)."""
    boundaries = (np.flatnonzero(change) + 1).tolist()
    return [0, *boundaries], [*boundaries, len(change) + 1]


def _bitmaps(sorted_numbers: NDArray[np.int64], starts: list[int], ends: list[int]) -> list[BitMap]:
    # pyroaring builds from array.array('I') in C; from a numpy array it iterates in Python.
    numbers = array.array("I", sorted_numbers.astype(np.uint32).tobytes())
    return [BitMap(numbers[start:end]) for start, end in zip(starts, ends)]


class TagIndex:
    """Inverted index of tags to series numbers, per measurement."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._all: dict[str, BitMap] = {}
        self._tags: dict[str, TagValues] = {}

    @classmethod
    def build(
        cls,
        strings: Sequence[str],
        measurements: NDArray[np.int64],
        pair_owners: NDArray[np.int64],
        pair_keys: NDArray[np.int64],
        pair_values: NDArray[np.int64],
    ) -> "TagIndex":
        """An index of series numbered 0..n-1, built in one pass at start-up.

        Strings are given as codes into `strings`: `measurements[n]` is series
        n's measurement; pair i is tag `pair_keys[i]` = `pair_values[i]` of
        series `pair_owners[i]`. numpy sorts and groups, and each bitmap is
        built once, rather than one bitmap insert per tag per series.
        """
        index = cls()
        if len(measurements) == 0:
            return index
        order = np.argsort(measurements, kind="stable")
        sorted_measurements = measurements[order]
        starts, ends = _group_bounds(sorted_measurements[1:] != sorted_measurements[:-1])
        for code, bitmap in zip(sorted_measurements[starts].tolist(), _bitmaps(order, starts, ends)):
            index._all[strings[code]] = bitmap
            index._tags[strings[code]] = {}
        if len(pair_owners) == 0:
            return index
        pair_measurements = measurements[pair_owners]
        order = np.lexsort((pair_owners, pair_values, pair_keys, pair_measurements))
        by_m, by_k, by_v = pair_measurements[order], pair_keys[order], pair_values[order]
        change = (by_m[1:] != by_m[:-1]) | (by_k[1:] != by_k[:-1]) | (by_v[1:] != by_v[:-1])
        starts, ends = _group_bounds(change)
        bitmaps = _bitmaps(pair_owners[order], starts, ends)
        value_names = list(map(strings.__getitem__, by_v[starts].tolist()))
        # Runs of one (measurement, key) share a values dict, filled by one C-level dict.update each.
        group_m, group_k = by_m[starts], by_k[starts]
        run_starts, run_ends = _group_bounds((group_m[1:] != group_m[:-1]) | (group_k[1:] != group_k[:-1]))
        for m_code, k_code, start, end in zip(
            group_m[run_starts].tolist(), group_k[run_starts].tolist(), run_starts, run_ends
        ):
            values = index._tags[strings[m_code]].setdefault(strings[k_code], {})
            values.update(zip(value_names[start:end], bitmaps[start:end]))
        return index

    def add(self, number: int, measurement: str, tags: Iterable[tuple[str, str]]) -> None:
        with self._lock:
            everything = self._all.get(measurement)
            if everything is None:
                everything = self._all[measurement] = BitMap()
                self._tags[measurement] = {}
            everything.add(number)
            keys = self._tags[measurement]
            for key, value in tags:
                values = keys.get(key)
                if values is None:
                    values = keys[key] = {}
                bitmap = values.get(value)
                if bitmap is None:
                    values[value] = BitMap([number])
                else:
                    bitmap.add(number)

    def remove(self, number: int, measurement: str, tags: Iterable[tuple[str, str]]) -> None:
        """Forget one series; empty values, keys and measurements disappear with it."""
        with self._lock:
            everything = self._all.get(measurement)
            if everything is None:
                return
            everything.discard(number)
            keys = self._tags[measurement]
            for key, value in tags:
                values = keys.get(key)
                bitmap = None if values is None else values.get(value)
                if values is None or bitmap is None:
                    continue
                bitmap.discard(number)
                if not bitmap:
                    del values[value]
                    if not values:
                        del keys[key]
            if not everything:
                del self._all[measurement]
                del self._tags[measurement]

    def drop_measurement(self, measurement: str) -> BitMap:
        """Forget a measurement; returns the series numbers it had."""
        with self._lock:
            self._tags.pop(measurement, None)
            return self._all.pop(measurement, BitMap())

    def measurements(self) -> list[str]:
        with self._lock:
            return sorted(self._all)

    def tag_keys(self, measurement: str) -> list[str]:
        with self._lock:
            return sorted(self._tags.get(measurement, {}))

    def tag_values(self, measurement: str, key: str) -> list[str]:
        with self._lock:
            return sorted(self._tags.get(measurement, {}).get(key, {}))

    def value_counts(self, measurement: str, key: str) -> dict[str, int]:
        """Series count per value of one tag key: cardinalities for the planner."""
        with self._lock:
            return {value: len(bitmap) for value, bitmap in self._tags.get(measurement, {}).get(key, {}).items()}

    def series_count(self, measurement: str) -> int:
        with self._lock:
            bitmap = self._all.get(measurement)
            return 0 if bitmap is None else len(bitmap)

    def cardinality(self, measurement: str, key: str, value: str) -> int:
        """Series with tag `key` = `value`, without building a result bitmap."""
        with self._lock:
            bitmap = self._tags.get(measurement, {}).get(key, {}).get(value)
            return 0 if bitmap is None else len(bitmap)

    def all_series(self, measurement: str) -> BitMap:
        with self._lock:
            bitmap = self._all.get(measurement)
            return BitMap() if bitmap is None else bitmap.copy()

    def series_for(self, measurement: str, key: str, value: str) -> BitMap:
        """Series with tag `key` = `value` (tag = 'v')."""
        with self._lock:
            bitmap = self._tags.get(measurement, {}).get(key, {}).get(value)
            return BitMap() if bitmap is None else bitmap.copy()

    def series_for_values(self, measurement: str, key: str, values: Iterable[str]) -> BitMap:
        """Series whose tag `key` is one of `values` (tag IN (...))."""
        with self._lock:
            by_value = self._tags.get(measurement, {}).get(key, {})
            found = [bitmap for bitmap in map(by_value.get, values) if bitmap is not None]
            return BitMap.union(*found) if found else BitMap()

    def series_matching(self, measurement: str, key: str, predicate: Callable[[str], object]) -> BitMap:
        """Series that have tag `key` with a value for which `predicate` is truthy.

        For a regex pass `re.compile(p).search`; for `!= v` pass `lambda x: x != v`.
        Series without the key never match; a planner that wants SQL's or
        InfluxQL's treatment of a missing tag adds `without_key` itself.
        """
        with self._lock:
            by_value = self._tags.get(measurement, {}).get(key, {})
            found = [bitmap for value, bitmap in by_value.items() if predicate(value)]
            return BitMap.union(*found) if found else BitMap()

    def series_with_key(self, measurement: str, key: str) -> BitMap:
        """Series that carry tag `key` at all."""
        return self.series_matching(measurement, key, _always)

    def without_key(self, measurement: str, key: str) -> BitMap:
        """Series of the measurement that lack tag `key`."""
        return self.complement(measurement, self.series_with_key(measurement, key))

    def complement(self, measurement: str, series: BitMap) -> BitMap:
        """NOT: the measurement's series that are not in `series`."""
        with self._lock:
            everything = self._all.get(measurement)
            return BitMap() if everything is None else everything - series


def _always(_value: str) -> bool:
    return True
