"""Where imported points go: straight into a storage engine (direct) or to a running server (REST).

Direct mode opens the engine of the data directory itself. It writes
without the WAL: rows are on disk once a memtable flushes and when the import
ends (also on Ctrl-C, which closes the engine cleanly); a killed importer
loses the rows since the last flush, and a re-run with --dedup-column
resumes without duplicates. Before writing, the engine is opened once with
the configured WAL so that records a crashed server left are replayed first.

REST mode POSTs each chunk as an Arrow IPC stream to /write/arrow (up to
ARROW_REQUEST_BYTES a request) over one keep-alive connection from a sender
thread, so the next batch is read and converted while the server stores the
last one; the server converts and stores the columns as direct mode does,
logged in its WAL. A server without that endpoint (404 to the first request)
gets line protocol at /write?precision=ns instead.
"""

import gzip
import http.client
import json
import os
import queue
import threading
import urllib.parse
from typing import Any

import msgspec
import pyarrow as pa

from rusts.api import arrow_write
from rusts.api.line_protocol import SeriesBatch, engine_parser
from rusts.core.errors import LineProtocolError, RustsError
from rusts.importer.convert import Chunk
from rusts.importer.points import arrow_table, line_protocol, series_batches
from rusts.query.executor import execute_batches
from rusts.query.model import Aggregation, GroupBy, Query, parse_query
from rusts.storage.engine import DataDirectoryInUse, EngineOptions, StorageEngine


# The largest Arrow body sent (server.max_body_size is 25 MiB by default); --lines-per-request caps rows too.
ARROW_REQUEST_BYTES = 8 * 1024 * 1024
DEFAULT_LINES_PER_REQUEST = 10_000


class SinkError(RustsError):
    """The destination refused or failed: names the server or directory and what it said."""


class WriteOutcome:
    """What one write stored: rows written and rows the destination rejected (with its first reason)."""

    def __init__(self, written: int, rejected: int, reason: str = "") -> None:
        self.written = written
        self.rejected = rejected
        self.reason = reason


# ---- direct --------------------------------------------------------------


class _PreparedParser:
    """The engine's parser in direct mode: hands over series batches built from Arrow columns
    (the body is not line protocol: there is none, the WAL being off)."""

    def __init__(self) -> None:
        self.pending: list[SeriesBatch] = []

    def __call__(self, body: bytes, multiplier: int, default_time: int) -> tuple[list[Any], list[LineProtocolError]]:
        batches, self.pending = self.pending, []
        return list(batches), []


class DirectSink:
    """Writes chunks into the storage engine of a data directory this process opens."""

    def __init__(self, options: EngineOptions, measurement: str) -> None:
        self.measurement = measurement
        self.where = options.data_dir
        try:
            # First with the configured WAL, so that what a crashed server left is replayed and checkpointed.
            StorageEngine.open(options, engine_parser).close()
            options.wal_durability = "none"
            self._parser = _PreparedParser()
            self.engine = StorageEngine.open(options, self._parser)
        except DataDirectoryInUse:
            raise SinkError(
                f"a running server holds {options.data_dir}; use REST mode (--url) or stop it"
            ) from None

    def write(self, chunk: Chunk) -> WriteOutcome:
        self._parser.pending = series_batches(chunk, self.measurement, string_codes=True)
        result = self.engine.write_line_protocol(b"", 1, 0)
        reason = str(result.errors[0]) if result.errors else ""
        rejected = len({e.line for e in result.errors})
        return WriteOutcome(len(chunk) - rejected, rejected, reason)

    def existing_values(self, column: str, is_tag: bool) -> set[Any]:
        """The values of `column` (a tag or a field) stored for the measurement."""
        if self.measurement not in self.engine.measurements():
            return set()
        if is_tag:
            return set(self.engine.tag_values(self.measurement, column))
        if column not in self.engine.fields.get(self.measurement, {}):
            return set()
        _, batches = execute_batches(self.engine, Query(self.measurement, fields=[column]))
        seen: set[Any] = set()
        for rows in batches:
            seen.update(row[-1] for row in rows if row[-1] is not None)
        return seen

    def flush(self) -> None:
        """Nothing to wait for: each write is in the engine when it returns."""

    def close(self) -> None:
        """Flush and close the engine (the rows are in segments when this returns); closing twice is harmless."""
        self.engine.close()


# ---- REST ----------------------------------------------------------------


class RestSink:
    """POSTs chunks to a server from a sender thread: as Arrow IPC streams to /write/arrow, or as
    line protocol to /write when the server has no Arrow endpoint (`lines_per_request` lines a
    request; None: 10,000 lines, or for Arrow as many rows as fit ARROW_REQUEST_BYTES).

    `write` queues the chunk's bodies and returns the outcome of writes finished so far; `flush`
    waits for every queued body. A failure stops the sender and is raised by the next call.
    """

    def __init__(self, url: str, token: str | None, lines_per_request: int | None, use_gzip: bool,
                 timeout: float = 300.0, arrow: bool = True) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise SinkError(f"--url {url!r} is not an http:// or https:// address")
        self.where = url
        self.lines_per_request = lines_per_request
        self.use_gzip = use_gzip
        # None until the first Arrow request says whether the server takes them.
        self.arrow: bool | None = None if arrow else False
        self._arrow_budget = ARROW_REQUEST_BYTES
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        if use_gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._arrow_headers = {**self._headers, "Content-Type": arrow_write.CONTENT_TYPE}
        port = parsed.port
        connection_class = http.client.HTTPSConnection if parsed.scheme == "https" else http.client.HTTPConnection
        self._connection = connection_class(parsed.hostname, port, timeout=timeout)
        self._base = parsed.path.rstrip("/")
        self._queue: queue.Queue[tuple[bytes, int, str] | None] = queue.Queue(maxsize=2)
        self._lock = threading.Lock()
        self._done = WriteOutcome(0, 0)
        self._failure: BaseException | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None

    # -- requests

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """One request on the keep-alive connection (reconnecting once if the server closed it)."""
        for attempt in (1, 2):
            try:
                self._connection.request(method, self._base + path, body, headers)
                response = self._connection.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._connection.close()
                if attempt == 2:
                    raise SinkError(f"{self.where} closed the connection twice in a row") from None
            except OSError as exc:
                self._connection.close()
                raise SinkError(f"cannot reach {self.where}: {exc.strerror or exc}") from None
        raise AssertionError("BUG: unreachable")

    def _post_write(self, body: bytes, lines: int, path: str) -> WriteOutcome:
        """POST one body (`path`: /write/arrow?... for Arrow, else line protocol); what it stored."""
        payload = gzip.compress(body, 1) if self.use_gzip else body
        arrow = path.startswith("/write/arrow")
        status, answer = self.request("POST", path, payload, self._arrow_headers if arrow else self._headers)
        if status == 204 or (arrow and status == 200):
            return WriteOutcome(lines, 0)
        message = _message(answer)
        if status == 400 and "partial write" in message:
            written = int(json.loads(answer).get("written", 0))
            return WriteOutcome(written, lines - written, message)
        if status == 404 and arrow:
            raise _NoArrowEndpoint()
        if status == 413 and arrow and self.arrow is None:
            raise _BodyTooLarge()
        if status in (401, 403):
            raise SinkError(f"{self.where} refused the write ({status}): {message}; pass a valid --token")
        raise SinkError(f"{self.where} answered {status} to a write of {lines} {'rows' if arrow else 'lines'}: {message}")

    # -- the sender thread

    def _send_loop(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._failure is None:
                    self._send(*item)
            finally:
                self._queue.task_done()

    def _send(self, body: bytes, lines: int, path: str) -> None:
        try:
            outcome = self._post_write(body, lines, path)
        except BaseException as exc:  # handed to the main thread, which reports it
            self._failure = exc
            return
        self._count(outcome)

    def _count(self, outcome: WriteOutcome) -> None:
        with self._lock:
            self._done.written += outcome.written
            self._done.rejected += outcome.rejected
            self._done.reason = self._done.reason or outcome.reason

    def write(self, chunk: Chunk) -> WriteOutcome:
        """Queue the chunk; the outcome of the bodies sent since the last call."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._send_loop, name="rusts-import-sender", daemon=True)
            self._thread.start()
        if self.arrow is not False and len(chunk):
            self._write_arrow(chunk)
            if self.arrow:
                return self.take_outcome()
        lines_per_request = self.lines_per_request or DEFAULT_LINES_PER_REQUEST
        for start in range(0, len(chunk), lines_per_request):
            stop = min(len(chunk), start + lines_per_request)
            self._raise_failure()
            body, left_out = line_protocol(chunk, start, stop)
            if left_out:
                with self._lock:
                    self._done.rejected += left_out
                    self._done.reason = self._done.reason or (
                        "a measurement, tag key or tag value holds a backslash, which this line protocol "
                        "cannot always carry (--direct can store it)"
                    )
            if body:
                self._queue.put((body, stop - start - left_out, "/write?precision=ns"))
        return self.take_outcome()

    def _write_arrow(self, chunk: Chunk) -> None:
        """Queue the chunk as Arrow bodies. The first one is sent from here, so that a server
        answering 404 (no /write/arrow) turns this sink to line protocol before anything is
        queued, and one answering 413 (a max_body_size below ARROW_REQUEST_BYTES) gets halved
        bodies until one fits, that size then kept."""
        table, time_name = arrow_table(chunk)
        per_row = max(1, table.nbytes // max(1, table.num_rows))
        tags = sorted({key for pairs in chunk.tags for key, _ in pairs})
        query = urllib.parse.urlencode({"measurement": chunk.measurement, "tags": ",".join(tags), "timestamp_column": time_name})
        path = "/write/arrow?" + query
        start = 0
        while start < table.num_rows:
            self._raise_failure()
            rows_per_request = max(1, self._arrow_budget // per_row)
            if self.lines_per_request is not None:
                rows_per_request = min(rows_per_request, self.lines_per_request)
            part = table.slice(start, rows_per_request)
            body = _ipc_stream(part)
            if self.arrow is None:
                try:
                    outcome = self._post_write(body, part.num_rows, path)
                except _NoArrowEndpoint:
                    self.arrow = False
                    return
                except _BodyTooLarge:
                    if part.num_rows == 1:
                        raise SinkError(f"{self.where} refuses even a one-row body as too large (server.max_body_size)") from None
                    self._arrow_budget = per_row * (part.num_rows // 2)
                    continue
                self._count(outcome)
                self.arrow = True
            else:
                self._queue.put((body, part.num_rows, path))
            start += part.num_rows

    def take_outcome(self) -> WriteOutcome:
        self._raise_failure()
        with self._lock:
            done, self._done = self._done, WriteOutcome(0, 0)
        return done

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def flush(self) -> None:
        """Wait until every queued body has been answered."""
        self._queue.join()
        self._raise_failure()

    def close(self) -> None:
        """Send what is queued, then hang up; closing twice is harmless."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=60)
        self._connection.close()

    # -- dedup

    def existing_values(self, measurement: str, column: str, is_tag: bool) -> set[Any]:
        """The values of `column` stored for `measurement`, asked with POST /query."""
        if is_tag:
            query = Query(measurement, aggregations=[Aggregation("count", "*")], group_by=GroupBy(tags=[column]))
        else:
            query = Query(measurement, fields=[column])
        body = msgspec.json.encode(query)
        parse_query(body)  # the model checks its own shape before the server sees it
        status, answer = self.request("POST", "/query", body, {"Content-Type": "application/json", **self._auth()})
        if status == 404 or (status == 400 and "unknown measurement" in _message(answer).lower()):
            return set()
        if status != 200:
            raise SinkError(f"{self.where} answered {status} to the dedup query: {_message(answer)}")
        result = json.loads(answer)
        names = [c["name"] for c in result["columns"]]
        at = names.index(column) if column in names else len(names) - 1
        return {row[at] for row in result["rows"] if row[at] is not None}

    def _auth(self) -> dict[str, str]:
        token = self._headers.get("Authorization")
        return {"Authorization": token} if token else {}


class _NoArrowEndpoint(Exception):
    """The server answered 404 to POST /write/arrow: it predates the endpoint."""


class _BodyTooLarge(Exception):
    """The server answered 413 to the first Arrow body: its max_body_size is smaller."""


def _ipc_stream(table: Any) -> bytes:
    """The table as the bytes of an Arrow IPC stream (uncompressed buffers: the server refuses others)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    data: bytes = sink.getvalue().to_pybytes()
    return data


def _message(answer: bytes) -> str:
    try:
        decoded = json.loads(answer)
    except ValueError:
        return answer[:200].decode("utf-8", "replace")
    if isinstance(decoded, dict):
        return str(decoded.get("error") or decoded.get("message") or decoded)
    return str(decoded)
