"""Answers as columns: what a streaming consumer (pgwire) encodes without building a row per value.

A ColumnBatch holds the answer's columns for a run of rows: numpy arrays for numbers, booleans
and times, lists for strings and tags, each with a presence mask (None: every row has a value).
`rows()` gives the same row lists the executor's row batches hold. ColumnarRows reads a stream
of batches either way: as rows (it is an iterator of row lists) or as column slices
(`take_columns`), so a consumer that knows columns skips the rows and one that does not still works.
"""

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray


class ColumnBatch:
    """Columns of a run of answer rows, aligned row for row."""

    __slots__ = ("values", "present", "length")

    def __init__(self, values: list[Any], present: list[NDArray[np.bool_] | None], length: int) -> None:
        self.values = values
        self.present = present
        self.length = length

    def __len__(self) -> int:
        return self.length

    def slice(self, start: int, stop: int) -> "ColumnBatch":
        if start == 0 and stop >= self.length:
            return self
        return ColumnBatch(
            [values[start:stop] for values in self.values],
            [None if mask is None else mask[start:stop] for mask in self.present],
            max(0, min(stop, self.length) - start),
        )

    def select(self, picks: list[int]) -> "ColumnBatch":
        """The batch with only the columns at `picks`, in that order."""
        return ColumnBatch([self.values[i] for i in picks], [self.present[i] for i in picks], self.length)

    def rows(self) -> list[list[Any]]:
        """The rows, as the executor's row batches give them (None where a value is absent)."""
        columns: list[list[Any]] = []
        for values, mask in zip(self.values, self.present):
            column = values.tolist() if isinstance(values, np.ndarray) else list(values)
            if mask is not None:
                column = [v if keep else None for v, keep in zip(column, mask.tolist())]
            columns.append(column)
        if not columns:
            return [[] for _ in range(self.length)]
        return [list(row) for row in zip(*columns)]


class ColumnarRows:
    """An iterator of answer rows over a stream of ColumnBatches that also hands out column slices."""

    def __init__(self, batches: Iterator[ColumnBatch]) -> None:
        self._batches = batches
        self._current: ColumnBatch | None = None
        self._at = 0
        self._rows: list[list[Any]] | None = None

    def __iter__(self) -> "ColumnarRows":
        return self

    def _advance(self) -> bool:
        """Make sure a batch with rows left is current; False at the end."""
        while self._current is None or self._at >= len(self._current):
            batch = next(self._batches, None)
            if batch is None:
                self._current = None
                return False
            self._current, self._at, self._rows = batch, 0, None
        return True

    def __next__(self) -> list[Any]:
        if not self._advance():
            raise StopIteration
        assert self._current is not None
        if self._rows is None:
            self._rows = self._current.slice(self._at, len(self._current)).rows()
            self._rows.reverse()  # popped from the end, in order
        self._at += 1
        return self._rows.pop()

    def take_columns(self, room: int) -> ColumnBatch | None:
        """Up to `room` next rows as columns (fewer at a batch's end); None at the end of the answer."""
        if not self._advance():
            return None
        assert self._current is not None
        stop = min(len(self._current), self._at + room)
        if self._rows is not None:  # rows were taken one by one from this batch: keep that view in step
            del self._rows[len(self._rows) - (stop - self._at):]
        taken = self._current.slice(self._at, stop)
        self._at = stop
        return taken
