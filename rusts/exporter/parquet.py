"""A measurement's rows as a Parquet file, read window by window straight from the storage engine.

Columns: `time` as timestamp[ns, UTC], then each tag key as a string column
(null where a series lacks the tag), then each field as its kind's Arrow type
(float64, int64, uint64, bool, string; null where a row lacks the field).
The file's schema metadata names the measurement and which columns are tags
(`rusts.measurement`, `rusts.tags` as a JSON list), so `rusts-import` takes
the tags from it and import(export(x)) stores x again.

Memory: a few time windows (one partition's part of the range, all series)
are held at a time, as Arrow columns: the one being written and up to two
read ahead (rusts.core.prefetch); each window is one or more row groups.
Rows are in time order, ties in series-key order, as queries answer them.
"""

import json
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray
import pyarrow.parquet as pq

from rusts.core.kinds import KIND_BOOLEAN, KIND_FLOAT, KIND_INTEGER, KIND_STRING, KIND_UNSIGNED
from rusts.core.prefetch import prefetched
from rusts.query.window_rows import Deadline, WindowPiece, WindowScan, answer_order, window_pieces
from rusts.query.model import Query
from rusts.query.planner import Plan, plan_query
from rusts.storage.columns import NUMPY_DTYPES, Column, StringCodes, joined_codes
from rusts.storage.engine import StorageEngine
from rusts.storage.scan import ScanSnapshot

ARROW_TYPES: dict[int, Any] = {
    KIND_FLOAT: pa.float64(),
    KIND_INTEGER: pa.int64(),
    KIND_UNSIGNED: pa.uint64(),
    KIND_BOOLEAN: pa.bool_(),
    KIND_STRING: pa.string(),
}
TIME_TYPE = pa.timestamp("ns", "UTC")
ROW_GROUP_ROWS = 1 << 20


def export_schema(plan: Plan) -> Any:
    columns = [pa.field("time", TIME_TYPE, nullable=False)]
    columns += [pa.field(key, pa.string()) for key in plan.tag_keys]
    columns += [pa.field(name, ARROW_TYPES[plan.kinds[name]]) for name in plan.projection]
    metadata = {"rusts.measurement": plan.measurement, "rusts.tags": json.dumps(plan.tag_keys)}
    return pa.schema(columns, metadata=metadata)


def _field_array(kind: int, parts: list[tuple[int, Column | None]], order: NDArray[np.intp]) -> Any:
    """One field across the pieces of a window, in answer `order`, converted to Arrow at once: the
    pieces' values joined first (zeros where a piece lacks the field), null where a row lacks it.
    Strings are joined as positions into the pieces' strings and gathered by Arrow, so no Python
    str is made per row for a segment's dictionary blocks."""
    arrow_type = ARROW_TYPES[kind]
    if all(column is None for _, column in parts):
        return pa.nulls(sum(length for length, _ in parts), arrow_type)
    absent = None
    if not all(column is not None and column.present is None for _, column in parts):
        present = np.concatenate([
            np.zeros(length, np.bool_) if column is None else np.ones(length, np.bool_) if column.present is None else column.present
            for length, column in parts
        ])
        absent = ~present[order]
    if kind == KIND_STRING:
        coded = joined_codes(
            [StringCodes(_NO_STRING, np.zeros(length, np.int64)) if column is None else column.values for length, column in parts]
        )
        return pa.array(coded.words, pa.string()).take(pa.array(coded.codes[order], pa.int64(), mask=absent))
    dtype = NUMPY_DTYPES[kind]
    values = np.concatenate([np.zeros(length, dtype) if column is None else column.values for length, column in parts])
    return pa.array(values[order], arrow_type, mask=absent)


_NO_STRING = [""]  # the words of pieces without the column: shared, so joined once


def _window_table(plan: Plan, schema: Any, pieces: list[WindowPiece]) -> Any:
    lengths = [len(piece) for piece in pieces]
    series, times, order = answer_order(plan, pieces)
    arrays: list[Any] = [pa.array(times[order], pa.int64()).cast(TIME_TYPE)]
    rows_series = pa.array(series[order])
    for key in plan.tag_keys:
        arrays.append(pa.array([ref.tags.get(key) for ref in plan.series], pa.string()).take(rows_series))
    for name in plan.projection:
        parts = [(n, piece.columns.get(name)) for n, piece in zip(lengths, pieces)]
        arrays.append(_field_array(plan.kinds[name], parts, order))
    return pa.Table.from_arrays(arrays, schema=schema)


def export_parquet(engine: StorageEngine, query: Query, path: str, compression: str = "zstd") -> int:
    """Write the rows `query` selects (its measurement, time range, tag and field filters) to `path`;
    the number of rows written. The file is written to `path`.tmp and renamed when complete."""
    plan = plan_query(engine, query)
    schema = export_schema(plan)
    temporary = path + ".tmp"
    try:
        rows = _write(engine, plan, schema, temporary, compression)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    os.replace(temporary, path)
    return rows


def _write(engine: StorageEngine, plan: Plan, schema: Any, path: str, compression: str) -> int:
    """The windows are read and made into tables on a helper thread while this one encodes and
    compresses the previous table into the file (pyarrow does that without the GIL)."""
    rows = 0
    with pq.ParquetWriter(path, schema, compression=compression, **_encodings(schema)) as writer:
        for table in prefetched(_tables(ScanSnapshot(engine, plan.start, plan.end), plan, schema)):
            writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            rows += table.num_rows
    return rows


def _encodings(schema: Any) -> dict[str, Any]:
    """Per-column Parquet encodings: integers and the time column (sorted) as DELTA_BINARY_PACKED,
    every other column dictionary-encoded (Arrow falls back to plain pages when a dictionary grows
    past its page limit). On the trips data: a file 30% smaller than dictionaries everywhere,
    written 10-20% faster; DuckDB, Spark, polars and pandas read these encodings."""
    deltas = [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_timestamp(f.type)]
    dictionaries = [f.name for f in schema if f.name not in deltas]
    return {"use_dictionary": dictionaries, "column_encoding": dict.fromkeys(deltas, "DELTA_BINARY_PACKED")}


def _tables(snapshot: ScanSnapshot, plan: Plan, schema: Any) -> Iterator[Any]:
    """One table per time window holding rows, in time order."""
    no_deadline = Deadline(None)
    scan = WindowScan(plan, snapshot)
    for partition, lo, hi in snapshot.windows():
        pieces = window_pieces(plan, snapshot, scan, partition, lo, hi, no_deadline, cache=False, string_codes=True)
        if pieces:
            yield _window_table(plan, schema, pieces)
