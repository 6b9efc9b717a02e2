"""Fill of empty time buckets (buckets of a group with no rows at all).

Modes: "none" drops empty buckets; "null" leaves their aggregates null;
"previous" repeats the group's previous row's value (null before the first);
"linear" interpolates numeric aggregates between the nearest non-empty
buckets on each side (null at the edges, integers rounded down); a number
replaces the null. count and count_distinct of an empty bucket are 0 in
every mode that keeps the bucket: that is their exact answer.
"""

from typing import Any

from rusts.query.model import Fill, FillValue

COUNTS = frozenset({"count", "count_distinct"})
NUMERIC_TYPES = frozenset({"float", "integer", "unsigned"})


def fill_column(
    buckets: list[int], values: list[Any], has_data: list[bool], fill: Fill, function: str, result_type: str
) -> list[Any]:
    """`values` (one per bucket, None where empty) with empty buckets filled; buckets ascending."""
    if function in COUNTS:
        return [v if present else 0 for v, present in zip(values, has_data)]
    if isinstance(fill, FillValue):
        return [v if present else fill.value for v, present in zip(values, has_data)]
    if fill == "previous":
        out: list[Any] = []
        for value, present in zip(values, has_data):
            out.append(value if present else (out[-1] if out else None))
        return out
    if fill == "linear":
        return _linear(buckets, values, has_data, result_type)
    return [v if present else None for v, present in zip(values, has_data)]


def _linear(buckets: list[int], values: list[Any], has_data: list[bool], result_type: str) -> list[Any]:
    out = [v if present else None for v, present in zip(values, has_data)]
    if result_type not in NUMERIC_TYPES:
        return out
    known = [i for i, present in enumerate(has_data) if present and values[i] is not None]
    for left, right in zip(known, known[1:]):
        a, b = values[left], values[right]
        ka, kb = buckets[left], buckets[right]
        for i in range(left + 1, right):
            if has_data[i]:
                continue
            if result_type == "float":
                out[i] = a + (b - a) * (buckets[i] - ka) / (kb - ka)
            else:
                out[i] = a + (b - a) * (buckets[i] - ka) // (kb - ka)
    return out
