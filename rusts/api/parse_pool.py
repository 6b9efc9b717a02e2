"""Line-protocol parsing in worker processes, so a write uses more than the one core the GIL allows.

The server process keeps what must be serial (HTTP, the WAL append, the memtable, the flush);
parsing a large body, the biggest share of a write's CPU, runs in a worker process. The engine
calls `rusts.api.line_protocol.engine_parser`, which sends bodies of at least MIN_POOLED_BYTES
here and parses smaller ones (and everything when the pool is off or not ready) in process.
Answers are the same either way: the worker runs the same parser and its batches are rebuilt
as the same SeriesBatch objects; the tests compare both.

Workers: RUSTS_PARSE_WORKERS of them (default: the number of CPUs, at most 4; 0 turns the pool
off), started in the background on the first large body as `python -m rusts.api.parse_pool`
(a fresh interpreter: no fork of a threaded server, and unlike multiprocessing's spawn the
caller's __main__ is not run again). A worker reads bodies on its stdin, so one whose parent
died (kill -9) reads end-of-file and exits; on Linux it also asks for SIGKILL when its parent dies. A worker that fails or dies is replaced
and its body parsed in process: a write never fails because of the pool.

Wire format, per request: 24 bytes (little-endian i64 body length, multiplier, default time)
then the body; per answer: an i64 length and a pickle of (batches as tuples, errors as (line, column, message)), or of
None when the worker's parser raised (the server then parses in process and raises the same).
"""

import ctypes
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
from typing import IO, Any

from rusts.core.errors import LineProtocolError

MIN_POOLED_BYTES = 64 * 1024  # also written in line_protocol.engine_parser (compiled: no import at load)
_FRAME = struct.Struct("<qqq")  # body length, multiplier, default time
_LENGTH = struct.Struct("<q")
_PR_SET_PDEATHSIG = 1

Packed = tuple[list[tuple[Any, ...]], list[tuple[int, int, str]]]


def worker_count() -> int:
    """Workers from RUSTS_PARSE_WORKERS, else the number of CPUs (at most 4)."""
    configured = os.environ.get("RUSTS_PARSE_WORKERS", "").strip()
    if configured:
        try:
            return max(0, int(configured))
        except ValueError:
            return 0
    return min(4, os.cpu_count() or 1)


def pack(batches: list[Any], errors: list[LineProtocolError]) -> Packed:
    """Parser output as plain tuples, arrays and strings (what pickles fast and without the classes)."""
    packed = [
        (
            batch.key,
            batch.measurement,
            batch.tags,
            batch.timestamps,
            batch.lines,
            [(name, column.kind, column.values, column.present) for name, column in batch.columns.items()],
        )
        for batch in batches
    ]
    return packed, [(error.line, error.column, error.message) for error in errors]


def unpack(packed: Packed) -> tuple[list[Any], list[LineProtocolError]]:
    """The parser's own objects again."""
    from rusts.api.line_protocol import FieldColumn, SeriesBatch

    batch_tuples, error_tuples = packed
    batches = [
        SeriesBatch(key, measurement, tags, timestamps, lines, {name: FieldColumn(kind, values, present) for name, kind, values, present in columns})
        for key, measurement, tags, timestamps, lines, columns in batch_tuples
    ]
    return batches, [LineProtocolError(line, column, message) for line, column, message in error_tuples]


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: end-of-file on stdin still ends the worker


def _read_exact(stream: IO[bytes], size: int) -> bytes | None:
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


def serve(requests: IO[bytes], answers: IO[bytes], parent: int) -> None:
    """A worker's loop: parse each body it is sent, answer, exit when the parent is gone."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which then closes us
    if os.getppid() != parent:
        return
    from rusts.api.line_protocol import parse_in_process

    while True:
        header = _read_exact(requests, _FRAME.size)
        if header is None:
            return
        length, multiplier, default_time = _FRAME.unpack(header)
        body = _read_exact(requests, length)
        if body is None:
            return
        try:
            answer = pickle.dumps(pack(*parse_in_process(body, multiplier, default_time)), protocol=5)
        except Exception:
            answer = pickle.dumps(None)
        try:
            answers.write(_LENGTH.pack(len(answer)))
            answers.write(answer)
            answers.flush()
        except OSError:
            return


class _Worker:
    """One worker process; its stdin carries bodies, its stdout answers."""

    def __init__(self) -> None:
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rusts.api.parse_pool", str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.requests: IO[bytes] = self.process.stdin
        self.answers: IO[bytes] = self.process.stdout

    def parse(self, body: bytes, multiplier: int, default_time: int) -> Packed | None:
        self.requests.write(_FRAME.pack(len(body), multiplier, default_time))
        self.requests.write(body)
        self.requests.flush()
        header = _read_exact(self.answers, _LENGTH.size)
        if header is None:
            raise EOFError("parse worker exited")
        (length,) = _LENGTH.unpack(header)
        answer = _read_exact(self.answers, length)
        if answer is None:
            raise EOFError("parse worker exited")
        packed: Packed | None = pickle.loads(answer)
        return packed

    def stop(self) -> None:
        try:
            self.requests.close()
        except OSError:
            pass  # already gone
        try:
            self.process.wait(2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.answers.close()


class ParsePool:
    """Idle workers wait in a queue; a body takes one, or is parsed in process when none can."""

    def __init__(self, workers: int) -> None:
        self.size = workers
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._alive = 0
        self._closed = False
        self._ever_ready = False
        self._starting = threading.Thread(target=self._start_all, name="rusts-parse-start", daemon=True)
        self._starting.start()

    def _start_all(self) -> None:
        for _ in range(self.size):
            self._start_one()

    def _start_one(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._alive += 1
        try:
            worker = _Worker()
        except Exception:
            with self._lock:
                self._alive -= 1
            return
        self._ever_ready = True
        self._idle.put(worker)

    def parse(self, body: bytes, multiplier: int, default_time: int) -> tuple[list[Any], list[LineProtocolError]] | None:
        """The parsed body, or None when no worker could take it (the caller parses in process)."""
        if self._alive == 0:
            return None
        try:
            # Until a worker is up, bodies are parsed in process; after that they wait for one
            # (a bounded wait: a replacement that never comes up must not hang the write).
            worker = self._idle.get(timeout=10.0 if self._ever_ready else 0.0)
        except queue.Empty:
            return None
        try:
            packed = worker.parse(body, multiplier, default_time)
        except (EOFError, OSError, pickle.UnpicklingError):
            self._replace(worker)
            return None
        self._idle.put(worker)
        return None if packed is None else unpack(packed)

    def _replace(self, worker: _Worker) -> None:
        worker.stop()
        with self._lock:
            self._alive -= 1
        threading.Thread(target=self._start_one, name="rusts-parse-start", daemon=True).start()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                return


_pool: ParsePool | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def shared_pool() -> ParsePool | None:
    """This process's pool, started on first use; None when RUSTS_PARSE_WORKERS is 0."""
    global _pool, _pool_pid
    pid = os.getpid()
    if _pool is not None and _pool_pid == pid:
        return _pool
    with _pool_lock:
        if _pool is None or _pool_pid != pid:  # a forked child starts its own
            workers = worker_count()
            if workers == 0:
                return None
            _pool, _pool_pid = ParsePool(workers), pid
        return _pool


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer, int(sys.argv[1]))
