"""Predicates: tag predicates to bitmaps of series numbers, field predicates to row masks.

A series that lacks a tag key is treated as having the empty value for it
(InfluxDB's rule): `key = ""` and a regex that matches "" select it, `key != "x"`
selects it. AND evaluates its positive terms smallest bitmap first, stops at
an empty intersection, and subtracts its negated terms last (NOT a is
`all - a`, so `a AND NOT b` is `a - b` without building the complement).

A row matches a field predicate only when it carries the field; predicates
are ANDed.
"""

import operator
import re
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pyroaring import BitMap

from rusts.index.tags import TagIndex
from rusts.query.errors import InvalidQueryError
from rusts.query.model import TagAnd, TagEq, TagIn, TagNeq, TagNot, TagNotRegex, TagOr, TagPredicate, TagRegex
from rusts.storage.columns import KIND_STRING, SeriesData

_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _compile(pattern: str) -> "re.Pattern[str]":
    try:
        return re.compile(pattern)
    except re.error as error:
        raise InvalidQueryError(f"tag_filter: bad regular expression {pattern!r}: {error}") from None


class TagResolver:
    """Evaluates tag predicates of one measurement against the tag index."""

    def __init__(self, tags: TagIndex, measurement: str) -> None:
        self.tags = tags
        self.measurement = measurement

    def everything(self) -> BitMap:
        return self.tags.all_series(self.measurement)

    def resolve(self, predicate: TagPredicate | None) -> BitMap:
        if predicate is None:
            return self.everything()
        negated = _negation(predicate)
        if negated is not None:
            return self.tags.complement(self.measurement, self.resolve(negated))
        if isinstance(predicate, TagEq):
            found = self.tags.series_for(self.measurement, predicate.key, predicate.value)
            return found | self._missing(predicate.key) if predicate.value == "" else found
        if isinstance(predicate, TagIn):
            found = self.tags.series_for_values(self.measurement, predicate.key, predicate.values)
            return found | self._missing(predicate.key) if "" in predicate.values else found
        if isinstance(predicate, TagRegex):
            search = _compile(predicate.pattern).search
            found = self.tags.series_matching(self.measurement, predicate.key, search)
            return found | self._missing(predicate.key) if search("") else found
        if isinstance(predicate, TagOr):
            parts = [self.resolve(p) for p in predicate.predicates]
            return BitMap.union(*parts) if parts else BitMap()
        if isinstance(predicate, TagAnd):
            return self._conjunction(predicate.predicates)
        raise AssertionError(f"BUG: unhandled tag predicate {predicate!r}")

    def _missing(self, key: str) -> BitMap:
        return self.tags.without_key(self.measurement, key)

    def _conjunction(self, predicates: list[TagPredicate]) -> BitMap:
        positives: list[BitMap] = []
        negatives: list[TagPredicate] = []
        for predicate in predicates:
            negated = _negation(predicate)
            if negated is not None:
                negatives.append(negated)
            else:
                positives.append(self.resolve(predicate))
        positives.sort(key=len)
        result = positives[0] if positives else self.everything()
        for bitmap in positives[1:]:
            if not result:
                return result
            result &= bitmap
        for negated in negatives:
            if not result:
                return result
            result -= self.resolve(negated)
        return result


def _negation(predicate: TagPredicate) -> TagPredicate | None:
    """The predicate this one negates, or None when it is positive."""
    if isinstance(predicate, TagNot):
        return predicate.predicate
    if isinstance(predicate, TagNeq):
        return TagEq(key=predicate.key, value=predicate.value)
    if isinstance(predicate, TagNotRegex):
        return TagRegex(key=predicate.key, pattern=predicate.pattern)
    return None


class FieldCondition:
    """One compiled field predicate: a row mask over a SeriesData."""

    __slots__ = ("field", "compare", "value", "kind")

    def __init__(self, field: str, op: str, value: Any, kind: int) -> None:
        self.field = field
        self.compare = _OPERATORS[op]
        self.value = value
        self.kind = kind

    def mask(self, data: SeriesData) -> NDArray[np.bool_]:
        column = data.columns.get(self.field)
        if column is None:
            return np.zeros(len(data), dtype=np.bool_)
        values = np.array(column.values, dtype=object) if self.kind == KIND_STRING else column.values
        result = np.asarray(self.compare(values, self.value), dtype=np.bool_)
        return result if column.present is None else result & column.present


def kept_rows(conditions: list[FieldCondition], projection: list[str], data: SeriesData) -> NDArray[np.bool_]:
    """Rows that pass the field predicates and carry at least one of the `projection` fields."""
    carried = np.zeros(len(data), dtype=np.bool_)
    for name in projection:
        column = data.columns.get(name)
        if column is not None:
            carried |= True if column.present is None else column.present
    mask = row_mask(conditions, data)
    return carried if mask is None else carried & mask


def row_mask(conditions: list[FieldCondition], data: SeriesData) -> NDArray[np.bool_] | None:
    """Rows matching every condition; None when there are no conditions (every row)."""
    mask: NDArray[np.bool_] | None = None
    for condition in conditions:
        found = condition.mask(data)
        mask = found if mask is None else mask & found
    return mask
