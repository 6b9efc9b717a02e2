"""DataRow messages for a batch of rows, built column by column with pyarrow instead of value by value.

For the result types of RusTs data (bool, int8, float8, text, timestamptz) each column becomes one
array of length-prefixed cells (int32 length, then the value in text or binary format; -1 for NULL);
the cells of a row, behind its 'D' header, are then joined element-wise in C. Other types (catalog
answers: names, arrays, OIDs) and values pyarrow cannot hold (an unsigned integer past int64) take the
per-value path of rusts.pgwire.values, which gives the same bytes.
"""

from itertools import islice
from collections.abc import Iterator, Sequence
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rusts.pgwire import types as t
from rusts.core.pgtext import float_text
from rusts.pgwire.values import PG_EPOCH_US, data_row, encoders
from rusts.query.batches import ColumnBatch, ColumnarRows

COLUMNAR_MIN_ROWS_TEXT: Final = 200
COLUMNAR_MIN_ROWS_BINARY: Final = 1000
_FAST: Final = frozenset({t.BOOL, t.INT8, t.FLOAT8, t.TEXT, t.TIMESTAMPTZ})
_NULL_CELL: Final = pa.scalar(b"\xff\xff\xff\xff", pa.binary())
# Typed scalars for the compute calls: a bare Python str or bytes there is converted with type
# inference, which tries to import decimal and dateutil on every call (~150 us, most of a chunk).
_NO_SEPARATOR: Final = pa.scalar(b"", pa.binary())
_NO_TEXT_SEPARATOR: Final = pa.scalar("", pa.string())
_UTC_SUFFIX: Final = pa.scalar("+00", pa.string())
_TRUE_TEXT: Final = pa.scalar("t", pa.string())
_FALSE_TEXT: Final = pa.scalar("f", pa.string())
_HEADER: Final = np.dtype([("kind", "S1"), ("length", ">i4"), ("count", ">i2")])
_BINARY_TYPES: Final = {t.FLOAT8: (pa.float64(), ">f8"), t.INT8: (pa.int64(), ">i8"), t.BOOL: (pa.bool_(), "u1")}
_TEXT_TYPES: Final = {t.FLOAT8: pa.float64(), t.INT8: pa.int64(), t.BOOL: pa.bool_(), t.TEXT: pa.string()}


def take_rows(rows: Iterator[Sequence[object]], room: int) -> list[Sequence[object]]:
    return list(islice(rows, room))


def encode_rows(rows: Sequence[Sequence[object]], oids: list[int], formats: list[int]) -> bytes:
    """The DataRow messages of `rows`, back to back."""
    if not rows:
        return b""
    # pyarrow costs a few hundred microseconds per column whatever the length: small batches are
    # cheaper value by value (measured: crossover near 200 rows in text, 1000 in binary, 25 columns).
    enough = len(rows) >= (COLUMNAR_MIN_ROWS_BINARY if all(formats) else COLUMNAR_MIN_ROWS_TEXT)
    if enough and oids and all(oid in _FAST for oid in oids):
        try:
            return encode_columnar(rows, oids, formats)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError):
            pass  # a value pyarrow cannot hold as the column's type: the general path below
    encode = encoders(oids, formats)
    count = len(oids).to_bytes(2, "big")
    parts: list[bytes] = []
    for row in rows:
        body = data_row(list(row), encode) if oids else count
        parts.append(b"D" + (len(body) + 4).to_bytes(4, "big") + body)
    return b"".join(parts)


def encode_chunk(rows: Iterator[Sequence[object]], oids: list[int], formats: list[int], room: int) -> tuple[bytes, int]:
    """The next `room` rows (or fewer, at the end) as DataRow messages, and how many there were.
    A ColumnarRows stream is encoded from its columns, without rows."""
    if not isinstance(rows, ColumnarRows):
        taken = take_rows(rows, room)
        return encode_rows(taken, oids, formats), len(taken)
    parts: list[bytes] = []
    count = 0
    while count < room:
        batch = rows.take_columns(room - count)
        if batch is None:
            break
        parts.append(encode_column_batch(batch, oids, formats))
        count += len(batch)
    return b"".join(parts), count


def encode_column_batch(batch: ColumnBatch, oids: list[int], formats: list[int]) -> bytes:
    """The DataRow messages of a batch of columns (the bytes encode_rows gives for its rows)."""
    enough = len(batch) >= (COLUMNAR_MIN_ROWS_BINARY if all(formats) else COLUMNAR_MIN_ROWS_TEXT)
    if enough and oids and all(oid in _FAST for oid in oids) and len(oids) == len(batch.values):
        try:
            arrays = [_from_numpy(oid, values, mask) for oid, values, mask in zip(oids, batch.values, batch.present)]
            return _encode_arrays(arrays, len(batch), oids, formats)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError):
            pass  # a value pyarrow cannot hold as the column's type: the rows' path
    return encode_rows(batch.rows(), oids, formats)


_ARROW_TYPES: Final = {**_TEXT_TYPES, t.TIMESTAMPTZ: pa.int64()}
_NUMPY_TYPES: Final = {t.BOOL: np.bool_, t.INT8: np.int64, t.FLOAT8: np.float64, t.TIMESTAMPTZ: np.int64}


def _from_numpy(oid: int, values: object, mask: "np.ndarray[tuple[int], np.dtype[np.bool_]] | None") -> pa.Array:
    """A column of a ColumnBatch as the Arrow array of its type OID; TypeError for a numpy array of
    another dtype (an unsigned field, say), which the rows' path then encodes."""
    if isinstance(values, np.ndarray) and oid in _NUMPY_TYPES and values.dtype != _NUMPY_TYPES[oid]:
        raise TypeError(f"a {values.dtype} column for type OID {oid}")
    return pa.array(values, _ARROW_TYPES[oid], mask=None if mask is None else ~mask)


def encode_columnar(rows: Sequence[Sequence[object]], oids: list[int], formats: list[int]) -> bytes:
    columns = list(zip(*rows))
    return _encode_arrays([list(column) for column in columns], len(rows), oids, formats)


def _encode_arrays(columns: "list[list[object] | pa.Array]", n: int, oids: list[int], formats: list[int]) -> bytes:
    cells = [_cells(oid, fmt, column) for oid, fmt, column in zip(oids, formats, columns)]
    lengths = np.zeros(n, dtype=np.int64)
    for cell in cells:
        lengths += pc.binary_length(cell).to_numpy(zero_copy_only=False)
    header = np.empty(n, dtype=_HEADER)
    header["kind"] = b"D"
    header["length"] = lengths + 6
    header["count"] = len(oids)
    heads = _fixed(header.tobytes(), n, 7)
    joined = pc.binary_join_element_wise(heads, *cells, _NO_SEPARATOR)
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32, count=n + 1, offset=joined.offset * 4)
    data = joined.buffers()[2]
    assert data is not None
    encoded: bytes = data[int(offsets[0]):int(offsets[n])].to_pybytes()
    return encoded


def _fixed(raw: bytes, n: int, width: int) -> pa.Array:
    """n byte strings of `width` bytes each, from `raw`, as a binary array."""
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, pa.py_buffer(raw)]).cast(pa.binary())


def _arrow(column: "list[object] | pa.Array", arrow_type: pa.DataType) -> pa.Array:
    return column if isinstance(column, pa.Array) else pa.array(column, arrow_type)


def _cells(oid: int, fmt: int, column: "list[object] | pa.Array") -> pa.Array:
    """The column's values as length-prefixed cells (never null: NULL is the cell -1)."""
    if oid == t.TIMESTAMPTZ:
        values = _arrow(column, pa.int64())
        ns = values.fill_null(0).to_numpy(zero_copy_only=False)
        us = ns // 1000
        if fmt == 1:
            return _fixed_cells(us - PG_EPOCH_US, ">i8", values)
        # Naive timestamps are UTC here; a tz-aware cast to text is 30x slower. Arrow always prints six
        # fraction digits: trailing zeros go, then a bare point, as PostgreSQL prints them.
        moments = pa.array(us, pa.timestamp("us"), mask=values.is_null().to_numpy(zero_copy_only=False))
        trimmed = pc.utf8_rtrim(pc.utf8_rtrim(moments.cast(pa.string()), characters="0"), characters=".")
        return _text_cells(pc.binary_join_element_wise(trimmed, _UTC_SUFFIX, _NO_TEXT_SEPARATOR))
    if fmt == 1 and oid in _BINARY_TYPES:
        arrow_type, wire = _BINARY_TYPES[oid]
        values = _arrow(column, arrow_type)
        return _fixed_cells(values.fill_null(False if oid == t.BOOL else 0).to_numpy(zero_copy_only=False), wire, values)
    values = _arrow(column, _TEXT_TYPES[oid])
    if oid == t.TEXT:
        return _text_cells(values)
    if oid == t.BOOL:
        return _text_cells(pc.if_else(values, _TRUE_TEXT, _FALSE_TEXT))
    text = values.cast(pa.string())
    if oid == t.FLOAT8:
        text = _pg_floats(values, text)
    return _text_cells(text)


def _pg_floats(values: pa.Array, text: pa.Array) -> pa.Array:
    """Arrow's shortest float text, with PostgreSQL's spelling where they differ (exponents, NaN, Infinity)."""
    floats = values.fill_null(0.0).to_numpy(zero_copy_only=False)
    magnitude = np.abs(floats)
    # Arrow writes an exponent wherever it is shorter (1e+10), PostgreSQL only from 1e15 up or below 1e-4.
    exponent = pc.match_substring(text, "e").fill_null(False).to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        odd = ~np.isfinite(floats) | exponent | (magnitude >= 1e14) | ((magnitude < 1e-4) & (magnitude > 0))
    if not odd.any():
        return text
    fixed = text.to_pylist()
    for index in np.flatnonzero(odd):
        if fixed[index] is not None:
            fixed[index] = float_text(float(floats[index]))
    return pa.array(fixed, pa.string())


def _fixed_cells(numbers: "np.ndarray[tuple[int], np.dtype[np.generic]]", wire: str, values: pa.Array) -> pa.Array:
    n = len(numbers)
    layout = np.dtype([("length", ">i4"), ("value", wire)])
    packed = np.empty(n, dtype=layout)
    packed["length"] = layout["value"].itemsize
    packed["value"] = numbers
    cells = _fixed(packed.tobytes(), n, layout.itemsize)
    return pc.if_else(values.is_null(), _NULL_CELL, cells) if values.null_count else cells


def _text_cells(text: pa.Array) -> pa.Array:
    raw = text.cast(pa.binary())
    n = len(raw)
    lengths = pc.binary_length(raw).fill_null(0).to_numpy(zero_copy_only=False).astype(">i4")
    prefixed = pc.binary_join_element_wise(_fixed(lengths.tobytes(), n, 4), raw.fill_null(b""), _NO_SEPARATOR)
    return pc.if_else(raw.is_null(), _NULL_CELL, prefixed) if raw.null_count else prefixed
