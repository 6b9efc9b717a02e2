"""Worker processes for CPU-heavy pure functions, so the server uses more than the one core the GIL allows.

The server process keeps what must be serial (HTTP, the WAL append, the memtable, manifests);
parsing a large line-protocol body (rusts.api.parse_pool) and encoding a flushed segment
(rusts.storage.partition) can run here instead. A task names a module-level function of this
package ("rusts.module:function") and its arguments; the worker imports the module, calls the
function and sends the result back. Answers are the same as in process: callers pass only
plain values, arrays and the storage classes, and the tests compare both ways.

Workers: RUSTS_WORKERS of them (default: the number of CPUs, at most 4; 0 turns them off),
started in the background on first use as `python -m rusts.core.workers` (a fresh interpreter:
no fork of a threaded server, and unlike multiprocessing's spawn the caller's __main__ is not
run again). Only the parent holds the write end of a worker's stdin, so a worker whose parent died
(kill -9) reads end-of-file when idle, or fails to write its answer when busy, and exits. (Linux's
PR_SET_PDEATHSIG is not used: it fires when the parent *thread* that started the worker ends,
and workers are started from short-lived threads.) `call` answers
None when no worker could run the task (none started yet, one died, the function raised):
the caller then runs it in process, which also raises the real error. A task never fails
because of the pool.

Wire format, each way: a pickle (protocol 5) of the task as (function name, argument tuple), or
of the answer as (True, result) or (False, the error's text), with its large buffers (numpy
arrays' data) out of band: an i64 count of buffers and the pickle's length (little-endian), the
pickle, then each buffer as its i64 length and its bytes. The arrays' bytes go from the sender's
memory straight into the pipe and are read into the buffers the receiver's arrays then use: one
copy each way instead of three (a flushed segment is tens of megabytes of columns).
"""

import importlib
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
from typing import IO, Any

_LENGTH = struct.Struct("<q")
_PACKAGE = "rusts."


def worker_count() -> int:
    """Workers from RUSTS_WORKERS, else the number of CPUs (at most 4)."""
    configured = os.environ.get("RUSTS_WORKERS", "").strip()
    if configured:
        try:
            return max(0, int(configured))
        except ValueError:
            return 0
    return min(4, os.cpu_count() or 1)


_HEAD = struct.Struct("<qq")


def _read_exact(stream: IO[bytes], size: int) -> bytes | None:
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


def _read_into(stream: Any, size: int) -> bytearray | None:
    """`size` bytes read straight into a new buffer (no intermediate bytes object)."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    done = 0
    while done < size:
        got = stream.readinto(view[done:])
        if not got:
            return None
        done += got
    return buffer


def _read_frame(stream: IO[bytes]) -> Any:
    """The next message, unpickled over its out-of-band buffers; _EOF at end of stream."""
    head = _read_exact(stream, _HEAD.size)
    if head is None:
        return _EOF
    count, length = _HEAD.unpack(head)
    payload = _read_exact(stream, length)
    if payload is None:
        return _EOF
    buffers: list[bytearray] = []
    for _ in range(count):
        size = _read_exact(stream, _LENGTH.size)
        buffer = None if size is None else _read_into(stream, _LENGTH.unpack(size)[0])
        if buffer is None:
            return _EOF
        buffers.append(buffer)
    return pickle.loads(payload, buffers=buffers)


def _write_frame(stream: IO[bytes], message: Any) -> None:
    buffers: list[pickle.PickleBuffer] = []
    payload = pickle.dumps(message, protocol=5, buffer_callback=buffers.append)
    stream.write(_HEAD.pack(len(buffers), len(payload)))
    stream.write(payload)
    for buffer in buffers:
        raw = buffer.raw()  # a C-contiguous view of the array's bytes (pickle only passes such)
        stream.write(_LENGTH.pack(raw.nbytes))
        stream.write(raw)
    stream.flush()


class _EndOfStream:
    """What _read_frame answers when the pipe closed (a message itself may be None)."""


_EOF = _EndOfStream()


def resolve(name: str) -> Any:
    """The function a task names; ValueError outside this package."""
    module_name, _, function = name.partition(":")
    if not module_name.startswith(_PACKAGE) or not function:
        raise ValueError(f"worker tasks name a function of the rusts package as module:function, not {name!r}")
    return getattr(importlib.import_module(module_name), function)


def serve(tasks: IO[bytes], answers: IO[bytes], parent: int) -> None:
    """A worker's loop: run each task it is sent, answer, exit when the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which then closes us
    if os.getppid() != parent:
        return
    while True:
        answer: tuple[bool, Any]
        try:
            task = _read_frame(tasks)
            if task is _EOF:
                return
            name, args = task
            answer = (True, resolve(name)(*args))
        except Exception as exc:  # a task that does not unpickle here, or that raised: answered, not fatal
            answer = (False, f"{type(exc).__name__}: {exc}")
        try:
            _write_frame(answers, answer)
        except OSError:
            return
        except Exception as exc:  # a result that does not pickle
            try:
                _write_frame(answers, (False, f"{type(exc).__name__}: {exc}"))
            except OSError:
                return


class _Worker:
    """One worker process; its stdin carries tasks, its stdout answers."""

    def __init__(self) -> None:
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rusts.core.workers", str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.tasks: IO[bytes] = self.process.stdin
        self.answers: IO[bytes] = self.process.stdout

    def send(self, name: str, args: tuple[Any, ...]) -> None:
        _write_frame(self.tasks, (name, args))

    def receive(self) -> tuple[bool, Any]:
        answer = _read_frame(self.answers)
        if answer is _EOF:
            raise EOFError("worker exited")
        ok, result = answer
        return bool(ok), result

    def stop(self) -> None:
        try:
            self.tasks.close()
        except OSError:
            pass  # already gone
        try:
            self.process.wait(2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.answers.close()


class WorkerPool:
    """Idle workers wait in a queue; a task takes one, or is left to the caller when none can."""

    def __init__(self, workers: int) -> None:
        self.size = workers
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._alive = 0
        self._closed = False
        self._ever_ready = False
        self.failures: list[str] = []  # the last few error texts of tasks that raised in a worker
        threading.Thread(target=self._start_all, name="rusts-workers-start", daemon=True).start()

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

    def idle(self) -> int:
        """Workers free this moment."""
        return self._idle.qsize()

    def call(self, name: str, *args: Any) -> Any | None:
        """The task's result, or None when no worker ran it (the caller runs it in process)."""
        if self._alive == 0:
            return None
        try:
            # Until a worker is up, tasks are left to the caller; after that they wait for one
            # (a bounded wait: a replacement that never comes up must not hang the caller).
            worker = self._idle.get(timeout=30.0 if self._ever_ready else 0.0)
        except queue.Empty:
            return None
        results = self._run([worker], name, [args])
        return None if results is None else results[0]

    def call_many(self, name: str, argument_tuples: list[tuple[Any, ...]]) -> list[Any] | None:
        """Each task's result, the tasks run at once by as many workers, or None when that many
        are not free this moment or any task failed (the caller then does it another way)."""
        taken: list[_Worker] = []
        while len(taken) < len(argument_tuples):
            try:
                taken.append(self._idle.get_nowait())
            except queue.Empty:
                break
        if len(taken) < len(argument_tuples):
            for worker in taken:
                self._idle.put(worker)
            return None
        return self._run(taken, name, argument_tuples)

    def _run(self, taken: list[_Worker], name: str, argument_tuples: list[tuple[Any, ...]]) -> list[Any] | None:
        """Send each worker its task, then collect the answers; every worker goes back to the idle
        queue, or is replaced when its pipe failed. None when any task did not come back done."""
        failed = False
        sent: list[_Worker] = []
        for worker, args in zip(taken, argument_tuples):
            try:
                worker.send(name, args)
                sent.append(worker)
            except OSError:
                failed = True
                self._replace(worker)
        results: list[Any] = []
        for worker in sent:
            try:
                ok, result = worker.receive()
            except (EOFError, OSError, pickle.UnpicklingError):
                failed = True
                self._replace(worker)
                continue
            self._idle.put(worker)
            if not ok:
                failed = True
                self.failures = [*self.failures[-9:], f"{name}: {result}"]
            results.append(result)
        return None if failed else results

    def _replace(self, worker: _Worker) -> None:
        worker.stop()
        with self._lock:
            self._alive -= 1
        threading.Thread(target=self._start_one, name="rusts-workers-start", daemon=True).start()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                return


_pool: WorkerPool | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def shared_pool() -> WorkerPool | None:
    """This process's pool, started on first use; None when RUSTS_WORKERS is 0."""
    global _pool, _pool_pid
    pid = os.getpid()
    if _pool is not None and _pool_pid == pid:
        return _pool
    with _pool_lock:
        if _pool is None or _pool_pid != pid:  # a forked child starts its own
            workers = worker_count()
            if workers == 0:
                return None
            _pool, _pool_pid = WorkerPool(workers), pid
        return _pool


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer, int(sys.argv[1]))
