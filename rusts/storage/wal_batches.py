"""WAL payload kind 2: rows given as columns (StorageEngine.write_batches), and their text.

Writers that already hold columns (continuous aggregates' refreshes, the importer) log them as
they are instead of formatting line protocol for the engine to parse again. Framing, checksums
and sequence numbers are the log's (rusts.storage.wal); this is the payload inside a record.

Byte layout, payload kind 2 (PAYLOAD_COLUMNAR; all integers little-endian)
--------------------------------------------------------------------------

    offset  size  field
    0       1     kind = 2
    1       4     series u32: number of series blocks that follow
    5       ...   the series blocks, back to back

A text is a u32 byte length followed by that many bytes of UTF-8. A series block:

    text    measurement
    u32     tag count, then per tag (sorted by key): text key, text value
    u32     rows n
    u32     field count
    8n      timestamps, i64 nanoseconds, in the order written (not necessarily sorted)
    ...     the fields, each:
              text   name
              u8     kind: 0 float, 1 integer, 2 unsigned, 3 string, 4 boolean
              u8     flags: bit 0 set = a presence bitmap follows (else every row has the field)
              [ceil(n/8) bytes]  presence bitmap, row 0 in the high bit of the first byte
              values, one slot per row (a slot of an absent row holds zero or ""):
                float, integer, unsigned: 8n bytes (float64, int64, uint64)
                boolean: n bytes, 0 or 1
                string: u32 data length L, (n + 1) u32 offsets into the data, then L bytes UTF-8

A reader meeting a kind it does not know, a truncated block, or bytes left over refuses with
CodecError naming the offset. Replay applies the decoded rows exactly as `write_batches`
applied them the first time (the same field-type checks, in the same order).

The text form (`format_lines`) is line protocol with nanosecond timestamps, one point per line,
as `rusts wal tail` prints every other write.
"""

import struct
from typing import Any, Final

import numpy as np
import pyarrow as pa

from rusts.core.errors import CodecError
from rusts.core.hashing import escape_key, series_key
from rusts.storage.columns import (
    KIND_BOOLEAN,
    KIND_FLOAT,
    KIND_INTEGER,
    KIND_NAMES,
    KIND_STRING,
    KIND_UNSIGNED,
    NUMPY_DTYPES,
    Column,
    WriteBatch,
)

PAYLOAD_COLUMNAR: Final = 2
_WHAT: Final = "wal columnar payload"
_U8 = struct.Struct("<B")
_U32 = struct.Struct("<I")
_HEAD = struct.Struct("<BI")
_FIELD_HEAD = struct.Struct("<BB")
_HAS_PRESENCE: Final = 1


def _text(out: list[bytes], text: str) -> None:
    raw = text.encode("utf-8")
    out.append(_U32.pack(len(raw)))
    out.append(raw)


def encode_columnar_payload(batches: list[WriteBatch]) -> bytes:
    """The kind-2 payload of a write's batches."""
    out: list[bytes] = [_HEAD.pack(PAYLOAD_COLUMNAR, len(batches))]
    for batch in batches:
        rows = len(batch.timestamps)
        _text(out, batch.measurement)
        out.append(_U32.pack(len(batch.tags)))
        for key, value in batch.tags:
            _text(out, key)
            _text(out, value)
        out.append(_U32.pack(rows))
        out.append(_U32.pack(len(batch.columns)))
        out.append(np.ascontiguousarray(batch.timestamps, dtype="<i8").tobytes())
        for name, column in batch.columns.items():
            _text(out, name)
            out.append(_FIELD_HEAD.pack(column.kind, 0 if column.present is None else _HAS_PRESENCE))
            if column.present is not None:
                out.append(np.packbits(column.present).tobytes())
            out.append(_values_bytes(column))
    return b"".join(out)


def _values_bytes(column: Column) -> bytes:
    if column.kind == KIND_STRING:
        array = pa.array(column.values, pa.string())
        offsets = np.frombuffer(array.buffers()[1], dtype="<i4", count=len(array) + 1)
        data = array.buffers()[2]
        first, last = int(offsets[0]), int(offsets[-1])
        body = b"" if data is None else data.to_pybytes()[first:last]
        return _U32.pack(len(body)) + (offsets - first).astype("<u4").tobytes() + body
    if column.kind == KIND_BOOLEAN:
        return np.ascontiguousarray(column.values, dtype=np.bool_).view(np.uint8).tobytes()
    dtype = NUMPY_DTYPES[column.kind]
    return np.ascontiguousarray(column.values, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()


class _Reader:
    """A cursor over a payload that refuses to read past its end."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.at = 0

    def take(self, size: int, what: str) -> memoryview:
        if size < 0 or self.at + size > len(self.payload):
            raise CodecError(_WHAT, f"truncated: {what} needs {size} bytes, {len(self.payload) - self.at} left", self.at)
        view = memoryview(self.payload)[self.at : self.at + size]
        self.at += size
        return view

    def u32(self, what: str) -> int:
        value: int = _U32.unpack(self.take(4, what))[0]
        return value

    def text(self, what: str) -> str:
        at = self.at
        raw = self.take(self.u32(what), what)
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise CodecError(_WHAT, f"{what} is not UTF-8", at) from None


def decode_columnar_payload(payload: bytes) -> list[WriteBatch]:
    """The batches of a kind-2 payload; CodecError for anything malformed."""
    reader = _Reader(payload)
    kind = _U8.unpack(reader.take(1, "kind"))[0]
    if kind != PAYLOAD_COLUMNAR:
        raise CodecError(_WHAT, f"payload kind {kind} is not columnar ({PAYLOAD_COLUMNAR})", 0)
    count = reader.u32("series count")
    batches: list[WriteBatch] = []
    for _ in range(count):
        measurement = reader.text("measurement")
        tags = [(reader.text("tag key"), reader.text("tag value")) for _ in range(reader.u32("tag count"))]
        rows = reader.u32("row count")
        fields = reader.u32("field count")
        timestamps = np.frombuffer(reader.take(8 * rows, "timestamps"), dtype="<i8").astype(np.int64)
        columns: dict[str, Column] = {}
        for _ in range(fields):
            name = reader.text("field name")
            at = reader.at
            field_kind, flags = _FIELD_HEAD.unpack(reader.take(2, "field kind"))
            if field_kind >= len(KIND_NAMES):
                raise CodecError(_WHAT, f"field {name!r} has unknown kind {field_kind}", at)
            present = None
            if flags & _HAS_PRESENCE:
                bits = np.frombuffer(reader.take((rows + 7) // 8, "presence bitmap"), dtype=np.uint8)
                present = np.unpackbits(bits, count=rows).astype(np.bool_)
            columns[name] = Column(field_kind, _read_values(reader, field_kind, rows), present)
        batches.append(WriteBatch(measurement, tags, timestamps, columns))
    if reader.at != len(payload):
        raise CodecError(_WHAT, f"{len(payload) - reader.at} bytes after the last series", reader.at)
    return batches


def _read_values(reader: _Reader, kind: int, rows: int) -> Any:
    if kind == KIND_STRING:
        size = reader.u32("string data length")
        offsets = np.frombuffer(reader.take(4 * (rows + 1), "string offsets"), dtype="<u4")
        data = reader.take(size, "string data")
        if rows and (int(offsets[0]) != 0 or int(offsets[-1]) != size or bool((offsets[1:] < offsets[:-1]).any())):
            raise CodecError(_WHAT, "string offsets out of order or past the data", reader.at - size)
        try:
            array = pa.StringArray.from_buffers(rows, pa.py_buffer(offsets.astype(np.int32).tobytes()), pa.py_buffer(bytes(data)))
            array.validate(full=True)
        except (pa.ArrowInvalid, ValueError) as exc:
            raise CodecError(_WHAT, f"string values: {exc}", reader.at - size) from None
        return array.to_pylist()
    if kind == KIND_BOOLEAN:
        return np.frombuffer(reader.take(rows, "boolean values"), dtype=np.uint8) != 0
    dtype = np.dtype(NUMPY_DTYPES[kind]).newbyteorder("<")
    return np.frombuffer(reader.take(8 * rows, f"{KIND_NAMES[kind]} values"), dtype=dtype).astype(NUMPY_DTYPES[kind])


# ---------------------------------------------------------------------------
# Text


def _field_text(kind: int, value: Any) -> str:
    if kind == KIND_FLOAT:
        return repr(float(value))
    if kind == KIND_INTEGER:
        return f"{int(value)}i"
    if kind == KIND_UNSIGNED:
        return f"{int(value)}u"
    if kind == KIND_BOOLEAN:
        return "true" if value else "false"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_lines(batches: list[WriteBatch]) -> str:
    """The batches as line protocol, one point per line with its nanosecond timestamp, fields in
    the batch's order; a row without any field present is left out (line protocol has no such point)."""
    out: list[str] = []
    for batch in batches:
        key = series_key(batch.measurement, batch.tags)
        columns = [
            (escape_key(name), column.kind, column.values, None if column.present is None else column.present.tolist())
            for name, column in batch.columns.items()
        ]
        for row, timestamp in enumerate(batch.timestamps.tolist()):
            fields = [
                f"{name}={_field_text(kind, values[row])}"
                for name, kind, values, present in columns
                if present is None or present[row]
            ]
            if fields:
                out.append(f"{key} {','.join(fields)} {timestamp}\n")
    return "".join(out)
