"""A Chunk in the shapes the writers take: series batches for the storage engine (direct mode, and
the server's POST /write/arrow), an Arrow table for POST /write/arrow (REST mode), line protocol
text for POST /write (REST mode against a server without the Arrow endpoint). All are built
column by column, never row by row."""

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from rusts.api.line_protocol import FieldColumn, SeriesBatch
from rusts.core.hashing import escape_key
from rusts.core.kinds import KIND_BOOLEAN, KIND_FLOAT, KIND_INTEGER, KIND_STRING, KIND_UNSIGNED
from rusts.importer.convert import Chunk
from rusts.storage.columns import StringCodes, WriteBatch

_SUFFIX = {KIND_FLOAT: "", KIND_INTEGER: "i", KIND_UNSIGNED: "u"}
# A string field goes to direct mode's engine as codes when its dictionary holds at most one
# string per CODED_SHARE rows of the chunk (flags, categories); above, as a list.
CODED_SHARE = 16


def _values(kind: int, array: Any, order: NDArray[np.intp], string_codes: bool = False) -> tuple[Any, NDArray[np.bool_] | None]:
    """An Arrow field array's values in `order` as numpy (object dtype for strings) and their
    presence (None: all). Strings are gathered as dictionary codes, so each row's string is
    looked up once, already in order; with `string_codes`, strings of a dictionary of at most
    1/CODED_SHARE of the rows stay codes (StringCodes)."""
    present = None if array.null_count == 0 else array.is_valid().to_numpy(zero_copy_only=False)[order]
    if kind == KIND_STRING:
        encoded = array if pa.types.is_dictionary(array.type) else pc.dictionary_encode(array)
        listed = encoded.dictionary.to_pylist() + [""]
        indices = encoded.indices.fill_null(len(listed) - 1).to_numpy(zero_copy_only=False)
        if string_codes and len(listed) * CODED_SHARE <= len(order):
            return StringCodes(listed, indices.astype(np.int64)[order]), present
        return np.array(listed, dtype=object)[indices[order]], present
    if present is None:
        return array.to_numpy(zero_copy_only=False)[order], None  # no copy before the gather
    fill = {KIND_FLOAT: 0.0, KIND_INTEGER: 0, KIND_UNSIGNED: 0, KIND_BOOLEAN: False}[kind]
    return array.fill_null(fill).to_numpy(zero_copy_only=False)[order], present


def series_batches(chunk: Chunk, measurement: str, string_codes: bool = False) -> list[SeriesBatch]:
    """The chunk's rows as one SeriesBatch per series, rows by time, rows of one time in input
    order (line numbers = row + 1), so the memtable keeps the last of them and sorts nothing.
    `string_codes`: string fields of few distinct values come as StringCodes (for the storage
    engine in direct mode, whose memtable keeps them so up to the segment writer), else lists."""
    if len(chunk) == 0:
        return []
    order = chunk.order
    codes = chunk.codes[order]
    starts = np.flatnonzero(np.concatenate(([True], codes[1:] != codes[:-1])))
    ends = np.append(starts[1:], len(order))
    times = chunk.times[order]
    lines = order.astype(np.int64) + 1
    columns: list[tuple[str, int, Any, NDArray[np.bool_] | None]] = []
    for name, kind, array in chunk.fields:
        values, present = _values(kind, array, order, string_codes)
        columns.append((name, kind, values, present))
    batches: list[SeriesBatch] = []
    for lo, hi in zip(starts.tolist(), ends.tolist()):
        fields: dict[str, FieldColumn] = {}
        for name, kind, values, present in columns:
            mask = None if present is None else present[lo:hi]
            if mask is not None and mask.all():
                mask = None
            elif mask is not None and not mask.any():
                continue
            part = values[lo:hi]
            fields[name] = FieldColumn(kind, part.tolist() if isinstance(part, np.ndarray) and kind == KIND_STRING else part, mask)
        code = int(codes[lo])
        batches.append(SeriesBatch(chunk.keys[code], measurement, chunk.tags[code], times[lo:hi], lines[lo:hi], fields))
    return batches


def write_batches(chunk: Chunk) -> tuple[list[WriteBatch], NDArray[np.int64]]:
    """The chunk as StorageEngine.write_batches takes it, and the chunk row (0-based) of each row
    in the order write_batches numbers them (its errors name rows 1.. in that order)."""
    parsed = series_batches(chunk, chunk.measurement)
    batches = [WriteBatch(b.measurement, b.sorted_tags(), b.timestamps, b.columns) for b in parsed]
    rows = np.concatenate([b.lines for b in parsed]) - 1 if parsed else np.zeros(0, dtype=np.int64)
    return batches, rows


def arrow_table(chunk: Chunk) -> tuple[Any, str]:
    """The chunk as an Arrow table for POST /write/arrow: the time as timestamp[ns, UTC], each tag
    as a dictionary of strings (null where a row lacks it), the fields as they are; and the name
    the time column got ("time", or another name when a field or tag already has it)."""
    names = sorted({key for pairs in chunk.tags for key, _ in pairs})
    columns: dict[str, Any] = {}
    for name in names:
        per_code = [dict(pairs).get(name) for pairs in chunk.tags]
        words = sorted({w for w in per_code if w is not None})
        at = {w: i for i, w in enumerate(words)}
        index_of_code = np.array([-1 if w is None else at[w] for w in per_code], dtype=np.int32)
        indices = index_of_code[chunk.codes]
        columns[name] = pa.DictionaryArray.from_arrays(pa.array(indices, mask=indices < 0), pa.array(words, pa.string()))
    for name, _, array in chunk.fields:
        columns[name] = array
    time_name = "time"
    while time_name in columns:
        time_name += "_"
    table = pa.table({time_name: pa.array(chunk.times, pa.timestamp("ns", "UTC")), **columns})
    return table, time_name


def _field_text(name: str, kind: int, array: Any) -> Any:
    """`name=value` per row in line protocol, null where the row lacks the field."""
    prefix = escape_key(name) + "="
    if kind == KIND_STRING:
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        escaped = pc.replace_substring(pc.replace_substring(array, "\\", "\\\\"), '"', '\\"')
        return pc.binary_join_element_wise(prefix + '"', escaped, '"', "")
    if kind == KIND_BOOLEAN:
        text = pc.if_else(array, "true", "false")
    else:
        # Arrow writes floats in their shortest round-trip form, as line protocol reads them.
        text = array.cast(pa.string())
    return pc.binary_join_element_wise(prefix, text, _SUFFIX.get(kind, ""), "")


def _escape(text: str, specials: str) -> str:
    for special in specials:
        text = text.replace(special, "\\" + special)
    return text


def lp_series(measurement: str, tags: list[tuple[str, str]]) -> str | None:
    """The series part of a line as the parser reads it back; None when a name or value holds a
    backslash (the parser's tokens pair a backslash with the next character, but it unescapes only
    special characters, so not every text with a backslash can be written)."""
    names = [measurement, *(part for pair in tags for part in pair)]
    if any("\\" in name for name in names):
        return None
    parts = [_escape(measurement, ", ")]
    parts.extend(_escape(key, ",= ") + "=" + _escape(value, ",= ") for key, value in tags)
    return ",".join(parts)


def line_protocol(chunk: Chunk, start: int = 0, stop: int | None = None) -> tuple[bytes, int]:
    """Rows [start, stop) of the chunk as line protocol with nanosecond timestamps, one line each,
    and the number of rows left out because their series cannot be written in line protocol."""
    stop = len(chunk) if stop is None else stop
    if stop <= start:
        return b"", 0
    prefixes = [lp_series(chunk.measurement, tags) for tags in chunk.tags]
    codes = chunk.codes[start:stop]
    keys = pa.array(prefixes, pa.string()).take(pa.array(codes))
    pieces = [_field_text(name, kind, array.slice(start, stop - start)) for name, kind, array in chunk.fields]
    field_set = pc.binary_join_element_wise(*pieces, ",", null_handling="skip")
    times = pa.array(chunk.times[start:stop]).cast(pa.string())
    lines = pc.binary_join_element_wise(keys, field_set, pc.binary_join_element_wise(times, "\n", ""), " ")
    left_out = lines.null_count
    if left_out:
        lines = lines.drop_null()
    return _joined(lines), left_out


def _joined(strings: Any) -> bytes:
    """The concatenated bytes of a string array without nulls."""
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32, count=len(strings) + 1, offset=strings.offset * 4)
    data = strings.buffers()[2]
    return data.to_pybytes()[int(offsets[0]) : int(offsets[-1])] if data is not None else b""
