"""POST /write/arrow: rows given as an Arrow IPC stream, stored with StorageEngine.write_batches.

For writers that hold columns already (rusts-import in REST mode, pandas or polars
users, other databases' exports): no line protocol is formatted by the client or
parsed by the server. The body is an Arrow IPC *stream* (pyarrow's
`pa.ipc.new_stream`, arrow-rs's StreamWriter; Content-Type
`application/vnd.apache.arrow.stream`), one or more record batches of one schema.
Query parameters say what the columns are, as rusts-import's flags do:

    measurement       the measurement written to (required)
    tags              comma-separated columns stored as tags (default: none)
    timestamp_column  the point time (default: a column named time or timestamp)
    timestamp_unit    s, ms, us or ns, for an integer time column (a timestamp or date column
                      carries its own unit and time zone)
    fields            comma-separated columns stored as fields (default: every other column)
    unique_time       true: rows of one series and one time are kept apart by adding 1, 2, ... ns
                      to the repeats (within this request); default: the later row wins

Types map as rusts-import maps them (rusts/importer/columns.py): floats and decimals
as float, signed integers, unsigned integers, booleans, strings and dictionaries of
strings; timestamps and dates as UTC nanoseconds. Nulls and NaN are missing fields;
a row without a time or without any field is skipped and counted.

One request is one write and one WAL record: a body that is not an Arrow stream, a
missing column or a column of a type that cannot be stored writes nothing and is
answered 400 naming it. Rows whose field kinds conflict with the stored ones are
refused one by one, as for line protocol (400 "partial write", with the row numbers,
counted from 1 across the body's batches). A write that stores every row is answered
200 with {"written": n, "skipped_no_time": ..., "skipped_no_fields": ..., "same_time": ...}.

Safety: the body is bounded by server.max_body_size before it gets here, and record
batches whose buffers are compressed (IPC's LZ4 or ZSTD body compression, which could
expand a small body without bound) are refused: compress the request with
Content-Encoding: gzip instead, which the server inflates under the same limit. Every
batch is fully validated (offsets, UTF-8) before a value is read.
"""

import struct
from typing import Any, Final

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from rusts.core.errors import RustsError
from rusts.importer.columns import ImportSpec, InputError, plan_columns
from rusts.importer.convert import Converter, Skipped
from rusts.importer.points import write_batches
from rusts.storage.columns import WriteBatch
from rusts.storage.engine import StorageEngine, WriteResult

CONTENT_TYPE: Final = "application/vnd.apache.arrow.stream"
SOURCE: Final = "Arrow body"

# Arrow's Message.fbs: the union tags of Message.header, and the field slots used here.
_HEADER_DICTIONARY_BATCH: Final = 2
_HEADER_RECORD_BATCH: Final = 3
_MESSAGE_HEADER_TYPE: Final = 1
_MESSAGE_HEADER: Final = 2
_DICTIONARY_DATA: Final = 1
_RECORD_BATCH_COMPRESSION: Final = 3
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")


class ArrowBodyError(RustsError):
    """A body that cannot be written: not an Arrow stream, compressed buffers, or columns that do not fit."""


class ArrowWrite:
    """What one POST /write/arrow stored, skipped and refused."""

    def __init__(self, result: WriteResult, skipped: Skipped, rows: NDArray[np.int64]) -> None:
        self.result = result
        self.skipped = skipped
        # Per row write_batches numbered (from 1), its row in the body (from 0).
        self._rows = rows

    def body_row(self, line: int) -> int:
        """The body row (from 1) of the write's row `line` (from 1), as errors report it."""
        return int(self._rows[line - 1]) + 1 if 0 < line <= len(self._rows) else line

    def answer(self) -> dict[str, int]:
        return {
            "written": self.result.points,
            "skipped_no_time": self.skipped.no_time,
            "skipped_no_fields": self.skipped.no_fields,
            "same_time": self.skipped.same_time,
        }


def spec_of(params: dict[str, str]) -> ImportSpec:
    """The import spec of the request's query parameters; ArrowBodyError naming a bad one."""
    known = {"measurement", "tags", "timestamp_column", "timestamp_unit", "fields", "unique_time"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ArrowBodyError(f"unknown query parameter {unknown[0]!r}: expected {', '.join(sorted(known))}")
    measurement = params.get("measurement", "")
    if not measurement:
        raise ArrowBodyError("the measurement query parameter is required (POST /write/arrow?measurement=NAME)")
    unique = params.get("unique_time", "false").lower()
    if unique not in ("true", "false", "1", "0"):
        raise ArrowBodyError(f"unique_time={params['unique_time']!r}: expected true or false")

    def names(key: str) -> list[str]:
        return [n.strip() for n in params.get(key, "").split(",") if n.strip()]

    try:
        return ImportSpec(measurement, names("tags"), params.get("timestamp_column") or None,
                          params.get("timestamp_unit") or None, names("fields") if "fields" in params else None,
                          unique in ("true", "1"))
    except InputError as exc:
        raise ArrowBodyError(str(exc)) from None


def decode(body: bytes, spec: ImportSpec) -> tuple[list[WriteBatch], NDArray[np.int64], Skipped]:
    """The body's rows as write_batches takes them; the body row of each; what was skipped."""
    buffer = pa.py_buffer(body)
    _refuse_compressed(buffer)
    try:
        reader = pa.ipc.open_stream(buffer)
        schema = reader.schema
        list(schema.names)  # the names are decoded from UTF-8 here
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise ArrowBodyError(f"the body is not an Arrow IPC stream: {exc}") from None
    try:
        plan = plan_columns(spec, schema, SOURCE)
    except InputError as exc:
        raise ArrowBodyError(str(exc)) from None
    converter = Converter(spec, plan, SOURCE, None)
    batches: list[WriteBatch] = []
    rows: list[NDArray[np.int64]] = []
    received = 0
    while True:
        try:
            batch = reader.read_next_batch()
            batch.validate(full=True)
        except StopIteration:
            break
        except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
            raise ArrowBodyError(f"record batch {len(rows) + 1} of the body is malformed: {exc}") from None
        try:
            chunk = converter.convert(batch)
        except InputError as exc:
            raise ArrowBodyError(str(exc)) from None
        except (pa.ArrowException, UnicodeDecodeError) as exc:
            raise ArrowBodyError(f"record batch {len(rows) + 1} of the body cannot be converted: {exc}") from None
        part, chunk_rows = write_batches(chunk)
        kept = chunk.source_rows
        rows.append(received + (chunk_rows if kept is None else kept[chunk_rows]))
        batches.extend(part)
        received += batch.num_rows
    body_rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    return batches, body_rows, converter.skipped


def write(body: bytes, engine: StorageEngine, params: dict[str, str]) -> ArrowWrite:
    """Store the rows of one POST /write/arrow body; ArrowBodyError when nothing could be."""
    batches, rows, skipped = decode(body, spec_of(params))
    return ArrowWrite(engine.write_batches(batches), skipped, rows)


def _refuse_compressed(buffer: Any) -> None:
    """ArrowBodyError when a record or dictionary batch of the stream has compressed buffers
    (read from each message's flatbuffer header before any body is decompressed)."""
    try:
        messages = pa.ipc.MessageReader.open_stream(buffer)
        for message in messages:
            if message.type in ("record batch", "dictionary") and _has_compression(message.metadata.to_pybytes()):
                raise ArrowBodyError(
                    "the Arrow stream's buffers are compressed (IPC LZ4/ZSTD), which is not accepted; send "
                    "uncompressed buffers, and Content-Encoding: gzip to compress the request"
                )
    except (pa.ArrowException, OSError) as exc:
        raise ArrowBodyError(f"the body is not an Arrow IPC stream: {exc}") from None


def _has_compression(metadata: bytes) -> bool:
    """Whether a batch message's flatbuffer (Arrow's Message.fbs) sets RecordBatch.compression."""
    try:
        message = _root(metadata)
        kind = _field(metadata, message, _MESSAGE_HEADER_TYPE)
        header = _field(metadata, message, _MESSAGE_HEADER)
        if kind == 0 or header == 0:
            return False
        batch = _target(metadata, header)
        if metadata[kind] == _HEADER_DICTIONARY_BATCH:
            data = _field(metadata, batch, _DICTIONARY_DATA)
            if data == 0:
                return False
            batch = _target(metadata, data)
        elif metadata[kind] != _HEADER_RECORD_BATCH:
            return False
        return _field(metadata, batch, _RECORD_BATCH_COMPRESSION) != 0
    except (struct.error, IndexError):
        raise ArrowBodyError("the body is not an Arrow IPC stream: a message header is malformed") from None


def _root(buf: bytes) -> int:
    return _target(buf, 0)


def _target(buf: bytes, at: int) -> int:
    """Where the uoffset stored at `at` points."""
    position: int = at + _U32.unpack_from(buf, at)[0]
    if position >= len(buf):
        raise IndexError(position)
    return position


def _field(buf: bytes, table: int, slot: int) -> int:
    """The position of a table's field `slot`, 0 when the field is absent."""
    vtable = table - _I32.unpack_from(buf, table)[0]
    size = _U16.unpack_from(buf, vtable)[0]
    entry = 4 + 2 * slot
    if entry + 2 > size:
        return 0
    offset: int = _U16.unpack_from(buf, vtable + entry)[0]
    return table + offset if offset else 0
