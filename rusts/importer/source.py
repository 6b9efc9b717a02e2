"""Input files as streams of Arrow record batches, a bounded number of rows at a time.

Parquet is read with only the columns the import uses, `batch_rows` rows per
batch (pyarrow decodes one row group's pages at a time). CSV needs a header
row; column types are inferred by pyarrow from the first block (ISO 8601
times become timestamps) unless given with `--types col:kind,...`.
"""

import os
from collections.abc import Iterator
from typing import Any, BinaryIO, Final

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from rusts.importer.columns import InputError

CSV_TYPES: Final[dict[str, Any]] = {
    "float": pa.float64(),
    "int": pa.int64(),
    "integer": pa.int64(),
    "uint": pa.uint64(),
    "unsigned": pa.uint64(),
    "bool": pa.bool_(),
    "boolean": pa.bool_(),
    "string": pa.string(),
    "timestamp": pa.timestamp("ns", "UTC"),
}
CSV_BLOCK_BYTES: Final = 1 << 23


def parse_types(text: str | None) -> dict[str, Any]:
    """`col:float,other:int` as Arrow types per column; InputError for an unknown kind."""
    types: dict[str, Any] = {}
    if not text:
        return types
    for item in text.split(","):
        name, sep, kind = item.strip().rpartition(":")
        if not sep or not name:
            raise InputError(f"--types: {item!r} is not column:kind")
        if kind not in CSV_TYPES:
            raise InputError(f"--types: unknown kind {kind!r} for column {name!r}: expected {', '.join(CSV_TYPES)}")
        types[name] = CSV_TYPES[kind]
    return types


class Source:
    """One input file: its schema, its size in rows (when known) and bytes, and its batches."""

    def __init__(self, path: str, schema: Any, total_rows: int | None) -> None:
        self.path = path
        self.schema = schema
        self.total_rows = total_rows
        self.total_bytes = os.path.getsize(path)
        self.bytes_read = 0

    def batches(self, columns: list[str], batch_rows: int) -> Iterator[Any]:
        raise NotImplementedError


class ParquetSource(Source):
    """A Parquet file. String columns are read as dictionaries (Parquet stores them so): the
    values are decoded once per dictionary page instead of once per row, and tags and string
    fields are grouped by their codes without hashing every row again."""

    def __init__(self, path: str) -> None:
        try:
            schema = pq.read_schema(path)
            strings = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
            self._file = pq.ParquetFile(path, read_dictionary=strings)
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise InputError(f"{path}: is a directory, not a Parquet file") from None
        except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
            raise InputError(f"{path}: not a Parquet file ({exc})") from None
        super().__init__(path, self._file.schema_arrow, self._file.metadata.num_rows)

    def batches(self, columns: list[str], batch_rows: int) -> Iterator[Any]:
        rows = 0
        total = max(1, self.total_rows or 1)
        try:
            for batch in self._file.iter_batches(batch_size=batch_rows, columns=columns):
                rows += batch.num_rows
                self.bytes_read = self.total_bytes * rows // total
                yield batch
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"{self.path}: unreadable after row {rows}: {exc}") from None


class CsvSource(Source):
    def __init__(self, path: str, types: dict[str, Any]) -> None:
        self.path = path
        self._types = types
        self._handle: BinaryIO | None = None
        try:
            reader = self._open()
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise InputError(f"{path}: is a directory, not a CSV file") from None
        schema = reader.schema
        self._close()
        missing = sorted(set(types) - set(schema.names))
        if missing:
            raise InputError(f"{path}: --types names columns the file does not have: {', '.join(missing)}")
        super().__init__(path, schema, None)

    def _open(self) -> Any:
        self._handle = open(self.path, "rb")
        try:
            return pa_csv.open_csv(
                self._handle,
                read_options=pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                convert_options=pa_csv.ConvertOptions(column_types=self._types, strings_can_be_null=True),
            )
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            self._close()
            raise InputError(f"{self.path}: not a CSV file with a header row ({exc})") from None

    def _close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def batches(self, columns: list[str], batch_rows: int) -> Iterator[Any]:
        reader = self._open()
        rows = 0
        try:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except pa.ArrowInvalid as exc:
                    raise InputError(f"{self.path}: after row {rows}: {exc}") from None
                if self._handle is not None:
                    self.bytes_read = self._handle.tell()
                batch = batch.select(columns)
                for start in range(0, batch.num_rows, batch_rows):
                    piece = batch.slice(start, batch_rows)
                    rows += piece.num_rows
                    yield piece
        finally:
            self._close()


def open_source(kind: str, path: str, types: dict[str, Any]) -> Source:
    if kind == "parquet":
        return ParquetSource(path)
    if kind == "csv":
        return CsvSource(path, types)
    raise AssertionError(f"BUG: unknown input format {kind!r}")
