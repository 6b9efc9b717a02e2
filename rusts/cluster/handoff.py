"""Hinted handoff: writes a replica missed, kept durably by the coordinator until the replica has them.

One append-only hint log per target node under one directory, plus a small
file saying how far delivery has been acknowledged. Replay is in append order;
a hint is handed out until its acknowledgement is recorded, and never after.

Files (named by the node id; an id with other characters than letters, digits, - and _
is written "~" + its UTF-8 in hex):

    <node id>.hints  header: b"RHH" + version byte (2)
                     records, each:
                       u32 LE  payload length (of the body)
                       u32 LE  CRC-32 of the 24 bytes below and the body
                       u64 LE  sequence (1, 2, 3 ... per node, never reused)
                       u32 LE  shard
                       u32 LE  kind: 0 (DELETE_KIND) for a delete, else a write's precision
                               multiplier (ns per unit of the body's timestamps)
                       u64 LE  accepted: the coordinator's clock (Unix ns) when it accepted the
                               write or delete (orders hints of several coordinators, see below)
                       body    a write: line protocol, every record carrying its timestamp;
                               a delete: msgpack rusts.cluster.deletes.ShardDelete
    <node id>.acked  u64 LE highest acknowledged sequence, u32 LE CRC-32 of those 8 bytes;
                     replaced atomically (write a temporary file, fsync, rename, fsync the directory)
    <node id>.resync JSON {"version": 1, "since": unix seconds, "shards": [n...], "missed": count}:
                     the node missed writes or deletes that could not be hinted (the bound below),
                     so hints alone cannot make its copies of those shards equal again

Version 2 added the delete kind and the accepted time. A version 1 log (writes only, records
without the accepted field) is rewritten as version 2 when opened, its hints accepted at 0
(before any other): a temporary file, fsync, rename over the log, fsync the directory. A
release that reads only version 1 refuses a version 2 log rather than replaying a delete as a
write.

Hints are delivered in sequence order, which is the order they were appended; the accepted
time does not reorder them. It is kept for /cluster/status (`heads`: how old the oldest pending
hint of each node is) and for a future last-writer-wins rule (docs/cluster.md).

Bound: with `max_bytes_per_node`, a node's pending hint bodies never exceed that many bytes.
`append_many` that would pass it stores nothing, records the shards in the node's resync mark
and raises HintStoreFullError; the hints already stored stay and are delivered in order (they
are a prefix of what the node missed, still worth having). The mark stays until an operator
clears it (`clear_resync`) after bringing the node's copies up to date by other means.

Durability: `append` (and `append_many`, one fsync for several) returns after the record is fsynced (the directory too
when the file was created), so a hint the coordinator counted is on disk;
`ack` returns after the watermark is on disk, so an acknowledged hint is never
handed out again. When every record of a log is acknowledged the log is
deleted (the watermark stays: sequences keep growing).

A crash while appending leaves at most one torn record at the end of a log
(never acknowledged to anyone, since append had not returned): on open it is
cut off. A record that fails its CRC with good records after it is not a torn
write: CorruptDataError names the file and offset.
"""

import json
import os
import re
import struct
import threading
import time
import zlib
from collections.abc import Callable

from rusts.core.errors import CorruptDataError, RustsError

MAGIC = b"RHH"
VERSION = 2
READABLE_VERSIONS = (1, 2)
HEADER = MAGIC + bytes([VERSION])
DELETE_KIND = 0  # in the multiplier field: the record is a delete, not a write
_RECORD = struct.Struct("<IIQIIQ")  # length, crc, sequence, shard, kind or multiplier, accepted
_RECORD_V1 = struct.Struct("<IIQII")  # length, crc, sequence, shard, multiplier
_WATERMARK = struct.Struct("<QI")
MAX_BODY = 1 << 31


class HintStoreFullError(RustsError):
    """A node's hints would pass the store's bound: nothing was stored, the node is marked for resync."""

    def __init__(self, node_id: str, message: str, first: bool) -> None:
        self.node_id = node_id
        self.first = first  # the node was not marked before: the start of a new overflow
        super().__init__(message)


class Hint:
    """One missed write or delete: which shard, the write's precision (DELETE_KIND for a delete), the body,
    and when its coordinator accepted it (Unix ns; 0 when a version 1 log did not say)."""

    __slots__ = ("sequence", "shard", "multiplier", "body", "accepted")

    def __init__(self, sequence: int, shard: int, multiplier: int, body: bytes, accepted: int = 0) -> None:
        self.sequence = sequence
        self.shard = shard
        self.multiplier = multiplier
        self.body = body
        self.accepted = accepted

    @property
    def is_delete(self) -> bool:
        return self.multiplier == DELETE_KIND


class ResyncMark:
    """A node that missed what could not be hinted: since when, which shards, how many writes or deletes."""

    __slots__ = ("since", "shards", "missed")

    def __init__(self, since: float, shards: set[int], missed: int) -> None:
        self.since = since
        self.shards = shards
        self.missed = missed


class _NodeLog:
    """The hint log of one target node (callers hold the store's lock)."""

    def __init__(self, directory: str, node_id: str) -> None:
        stem = os.path.join(directory, file_stem(node_id))
        self.path = stem + ".hints"
        self.acked_path = stem + ".acked"
        self.resync_path = stem + ".resync"
        self.resync = _read_resync(self.resync_path)
        self.acked = _read_watermark(self.acked_path)
        self.hints, version = _read_log(self.path)
        self.last = max([self.acked] + [hint.sequence for hint in self.hints])
        self.hints = [hint for hint in self.hints if hint.sequence > self.acked]
        self.size = sum(len(hint.body) for hint in self.hints)  # pending body bytes
        self.file: int | None = None
        if not self.hints and os.path.exists(self.path):
            os.remove(self.path)  # every hint acknowledged; a crash came before the log was removed
        elif version != VERSION:
            _rewrite(self.path, directory, self.hints)

    def append(self, directory: str, records: list[tuple[int, int, bytes]], accepted: int) -> list[int]:
        """Append (shard, multiplier, body) records accepted at `accepted` with one write and one fsync;
        their sequences."""
        created = False
        if self.file is None:
            created = not os.path.exists(self.path)
            self.file = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            if os.fstat(self.file).st_size == 0:
                os.write(self.file, HEADER)
        encoded = bytearray()
        added: list[Hint] = []
        for shard, multiplier, body in records:
            hint = Hint(self.last + 1 + len(added), shard, multiplier, body, accepted)
            encoded += encode_record(hint)
            added.append(hint)
        size = os.fstat(self.file).st_size
        try:
            view = memoryview(encoded)
            while view:
                view = view[os.write(self.file, view) :]
            os.fsync(self.file)
        except OSError:
            # Disk full or I/O error: take back what was written, so no half record sits before the next one.
            os.ftruncate(self.file, size)
            raise
        if created:
            _fsync_directory(directory)
        self.last += len(added)
        self.hints.extend(added)
        self.size += sum(len(hint.body) for hint in added)
        return [hint.sequence for hint in added]

    def ack(self, directory: str, sequence: int) -> None:
        if sequence <= self.acked:
            return
        if sequence > self.last:
            raise ValueError(f"cannot acknowledge hint {sequence}: the last hint appended is {self.last}")
        temporary = self.acked_path + ".tmp"
        with open(temporary, "wb") as file:
            file.write(_WATERMARK.pack(sequence, zlib.crc32(struct.pack("<Q", sequence))))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.acked_path)
        _fsync_directory(directory)
        self.acked = sequence
        self.hints = [hint for hint in self.hints if hint.sequence > sequence]
        self.size = sum(len(hint.body) for hint in self.hints)
        if not self.hints:
            self.close()
            if os.path.exists(self.path):
                os.remove(self.path)
                _fsync_directory(directory)

    def mark_resync(self, directory: str, shards: set[int], missed: int) -> None:
        mark = self.resync or ResyncMark(time.time(), set(), 0)
        mark.shards |= shards
        mark.missed += missed
        temporary = self.resync_path + ".tmp"
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump({"version": 1, "since": mark.since, "shards": sorted(mark.shards), "missed": mark.missed}, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.resync_path)
        _fsync_directory(directory)
        self.resync = mark

    def clear_resync(self, directory: str) -> None:
        if os.path.exists(self.resync_path):
            os.remove(self.resync_path)
            _fsync_directory(directory)
        self.resync = None

    def close(self) -> None:
        if self.file is not None:
            os.close(self.file)
            self.file = None


class HintStore:
    """Hint logs of every target node under `directory` (created if missing), at most `max_bytes_per_node`
    bytes of pending bodies per node (None: no bound). Thread-safe."""

    def __init__(self, directory: str, max_bytes_per_node: int | None = None) -> None:
        if max_bytes_per_node is not None and max_bytes_per_node < 1:
            raise ValueError(f"the hint bound must be at least 1 byte, got {max_bytes_per_node}")
        self.max_bytes_per_node = max_bytes_per_node
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self._lock = threading.Lock()
        self._logs: dict[str, _NodeLog] = {}
        for name in sorted(os.listdir(directory)):
            stem, dot, suffix = name.partition(".")
            if suffix in ("hints", "acked", "resync") and dot:
                node_id = node_of_stem(stem)
                if node_id is None:
                    continue  # not ours
                if node_id not in self._logs:
                    self._logs[node_id] = _NodeLog(directory, node_id)

    def _log(self, node_id: str) -> _NodeLog:
        log = self._logs.get(node_id)
        if log is None:
            log = self._logs[node_id] = _NodeLog(self.directory, node_id)
        return log

    def append(self, node_id: str, shard: int, body: bytes, multiplier: int = 1, accepted: int | None = None) -> int:
        """Keep a write `node_id` missed; its sequence once it is on disk."""
        return self.append_many(node_id, [(shard, body, multiplier)], accepted)[0]

    def append_many(self, node_id: str, hints: list[tuple[int, bytes, int]], accepted: int | None = None) -> list[int]:
        """Keep several writes or deletes `node_id` missed, (shard, body, multiplier or DELETE_KIND) each,
        accepted by the coordinator at `accepted` (Unix ns; None: now), with one fsync; their sequences once
        all are on disk (a crash before that keeps a prefix of them at most). HintStoreFullError, with
        nothing stored, when they would pass the bound."""
        for shard, body, multiplier in hints:
            if not 0 <= shard < 1 << 32 or not 0 <= multiplier < 1 << 32 or len(body) >= MAX_BODY:
                raise ValueError(f"hint out of range: shard {shard}, multiplier {multiplier}, {len(body)} bytes")
        if not hints:
            return []
        with self._lock:
            log = self._log(node_id)
            adding = sum(len(body) for _, body, _ in hints)
            if self.max_bytes_per_node is not None:
                pending = log.size
                if pending + adding > self.max_bytes_per_node:
                    first = log.resync is None
                    log.mark_resync(self.directory, {shard for shard, _, _ in hints}, len(hints))
                    raise HintStoreFullError(
                        node_id,
                        f"hints for {node_id} would pass the bound: {pending} bytes pending + {adding} > "
                        f"{self.max_bytes_per_node}; not hinted, the node is marked as needing a resync",
                        first,
                    )
            records = [(shard, multiplier, body) for shard, body, multiplier in hints]
            return log.append(self.directory, records, time.time_ns() if accepted is None else accepted)

    def append_delete(self, node_id: str, shard: int, body: bytes, accepted: int | None = None) -> int:
        """Keep a delete `node_id` missed (body: msgpack ShardDelete); its sequence once on disk."""
        return self.append_many(node_id, [(shard, body, DELETE_KIND)], accepted)[0]

    def heads(self) -> dict[str, int]:
        """Per node with hints pending: when its oldest pending hint was accepted (Unix ns)."""
        with self._lock:
            return {node_id: log.hints[0].accepted for node_id, log in sorted(self._logs.items()) if log.hints}

    def resync_needed(self) -> dict[str, ResyncMark]:
        """Nodes marked as having missed what could not be hinted."""
        with self._lock:
            return {node_id: log.resync for node_id, log in sorted(self._logs.items()) if log.resync is not None}

    def clear_resync(self, node_id: str) -> bool:
        """Forget a node's resync mark (an operator brought its copies up to date); whether there was one."""
        with self._lock:
            log = self._logs.get(node_id)
            if log is None or log.resync is None:
                return False
            log.clear_resync(self.directory)
            return True

    def pending(self, node_id: str, limit: int | None = None) -> list[Hint]:
        """Hints of `node_id` not yet acknowledged, oldest first (at most `limit`)."""
        with self._lock:
            log = self._logs.get(node_id)
            hints = [] if log is None else list(log.hints)
        return hints if limit is None else hints[:limit]

    def ack(self, node_id: str, sequence: int) -> None:
        """Record that every hint of `node_id` up to `sequence` was delivered; on disk on return."""
        with self._lock:
            self._log(node_id).ack(self.directory, sequence)

    def acknowledged(self, node_id: str) -> int:
        """The highest sequence of `node_id` whose delivery is recorded (0: none)."""
        with self._lock:
            log = self._logs.get(node_id)
            return 0 if log is None else log.acked

    def last_sequence(self, node_id: str) -> int:
        """The sequence of the last hint appended for `node_id` (0: none)."""
        with self._lock:
            log = self._logs.get(node_id)
            return 0 if log is None else log.last

    def pending_counts(self) -> dict[str, tuple[int, int]]:
        """Per node with hints pending: (hints, body bytes), for /cluster/status."""
        with self._lock:
            return {
                node_id: (len(log.hints), log.size)
                for node_id, log in sorted(self._logs.items())
                if log.hints
            }

    def deliver(self, node_id: str, send: Callable[[Hint], bool], batch: int = 100) -> int:
        """Hand pending hints to `send` in order, acknowledging each it accepts (returns True), until it
        refuses one or none are left; the number delivered. `send` must be idempotent for a hint it
        stored just before a crash (the acknowledgement may not have been recorded)."""
        delivered = 0
        while True:
            hints = self.pending(node_id, batch)
            if not hints:
                return delivered
            for hint in hints:
                if not send(hint):
                    return delivered
                self.ack(node_id, hint.sequence)
                delivered += 1

    def close(self) -> None:
        with self._lock:
            for log in self._logs.values():
                log.close()


_SAFE_ID = re.compile(r"[A-Za-z0-9_-]+")


def file_stem(node_id: str) -> str:
    """The file name (without suffix) of a node's hint files: the id itself when it is made of
    letters, digits, - and _, else "~" and its UTF-8 in hex."""
    return node_id if _SAFE_ID.fullmatch(node_id) else "~" + node_id.encode("utf-8").hex()


def node_of_stem(stem: str) -> str | None:
    if not stem.startswith("~"):
        return stem if _SAFE_ID.fullmatch(stem) else None
    try:
        return bytes.fromhex(stem[1:]).decode("utf-8")
    except ValueError:
        return None


def _fsync_directory(directory: str) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _read_watermark(path: str) -> int:
    try:
        with open(path, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        return 0
    if len(data) != _WATERMARK.size:
        raise CorruptDataError(path, f"expected {_WATERMARK.size} bytes, found {len(data)}")
    sequence, crc = _WATERMARK.unpack(data)
    if zlib.crc32(data[:8]) != crc:
        raise CorruptDataError(path, "checksum mismatch", 0)
    return int(sequence)


def encode_record(hint: Hint) -> bytes:
    fixed = struct.pack("<QIIQ", hint.sequence, hint.shard, hint.multiplier, hint.accepted)
    crc = zlib.crc32(hint.body, zlib.crc32(fixed))
    return struct.pack("<II", len(hint.body), crc) + fixed + hint.body


def _rewrite(path: str, directory: str, hints: list[Hint]) -> None:
    """Replace a log by a version 2 log of `hints`, atomically."""
    temporary = path + ".tmp"
    with open(temporary, "wb") as file:
        file.write(HEADER + b"".join(encode_record(hint) for hint in hints))
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    _fsync_directory(directory)


def _read_resync(path: str) -> ResyncMark | None:
    try:
        with open(path, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        return None
    try:
        raw = json.loads(data)
        if raw["version"] != 1:
            raise CorruptDataError(path, f"resync mark version {raw['version']} is newer than this release reads (1)")
        return ResyncMark(float(raw["since"]), {int(s) for s in raw["shards"]}, int(raw["missed"]))
    except (ValueError, KeyError, TypeError) as error:
        raise CorruptDataError(path, f"unreadable resync mark: {error}") from None


def _read_log(path: str) -> tuple[list[Hint], int]:
    """Every whole record of a log and the log's version; a torn last record is cut off the file."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        return [], VERSION
    if len(data) < len(HEADER):
        _truncate(path, 0)  # created, header not yet written: nothing was appended
        return [], VERSION
    if data[:3] != MAGIC:
        raise CorruptDataError(path, "not a hint log (bad magic)", 0)
    version = data[3]
    if version not in READABLE_VERSIONS:
        raise CorruptDataError(path, f"hint log version {version} is newer than this release reads ({VERSION})", 3)
    layout = _RECORD if version == VERSION else _RECORD_V1
    hints: list[Hint] = []
    offset = len(HEADER)
    while offset < len(data):
        end = offset + layout.size
        if end <= len(data):
            fields = layout.unpack_from(data, offset)
            length, crc, sequence, shard, multiplier = fields[:5]
            end += length
            body = data[offset + layout.size : end]
            if end <= len(data) and zlib.crc32(body, zlib.crc32(data[offset + 8 : offset + layout.size])) == crc:
                hints.append(Hint(sequence, shard, multiplier, body, fields[5] if len(fields) > 5 else 0))
                offset = end
                continue
        if end < len(data) and data[end:].strip(b"\x00"):
            raise CorruptDataError(path, "hint record fails its checksum and is followed by more data", offset)
        _truncate(path, offset)
        break
    return hints, version


def _truncate(path: str, size: int) -> None:
    with open(path, "r+b") as file:
        file.truncate(size)
        file.flush()
        os.fsync(file.fileno())
