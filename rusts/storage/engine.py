"""The storage engine: the one object the API and query layers write to and read from.

Write path: line protocol -> parse (rusts.api.line_protocol, by the caller)
-> series ids from the index -> field-type check -> WAL -> memtable; a
background flusher turns full memtables into segments in time partitions and
advances the checkpoint. Read path: partitions overlapping the range, then
flushing memtables, then the live memtable, merged so that the newest write
wins per field.

On-disk layout under `data_dir`:

    LOCK                 held (flock) by the process that has the directory open
    CHECKPOINT           JSON {"version": 1, "sequence": n}: WAL records <= n are in segments
    FIELDS               JSON {"version": 1, "measurements": {m: {field: kind}}}
    TOMBSTONES           JSON {"version": 1, "deletes": [{"series": [id...], "start": ns, "end": ns,
                         "watermarks": {partition_start: generation}}]}
    index/               series index (rusts.index)
    partitions/          time partitions (rusts.storage.partition); each may hold a TIER file
    wal/                 write-ahead log unless wal_dir says otherwise
    <cold_dir>/partitions/  partitions moved to the cold tier, when cold_dir is set

Storage tiers (the policy that picks them lives in rusts.retention):

    hot   segments as flushed (hot_compression, LZ4 by default)
    warm  rewritten with cold_compression (Zstd) at zstd_level, in place
    cold  rewritten with cold_compression at cold_zstd_level, and moved under
          cold_dir when one is set

A partition's TIER file (JSON {"version": 1, "tier": "warm"}) records a tier
reached; no file means hot, unless the partition lies under cold_dir, which
means cold. Compactions of a partition use its tier's codec. Without a TIER
file, a partition whose window ended over `cold_after_ns` ago is compacted
with the warm codec (the age rule that predates tiers).

A move to cold_dir copies the live segments and MANIFEST into
<cold_dir>/partitions/moving-<name>, recompresses there, writes TIER, renames
the copy to <name> (the commit point), then renames the hot copy to
dropped-<name> and deletes it. On open, moving-* and dropped-* directories
are deleted, and a partition present in both roots is the cold one (its
rename happened only once it was complete): the hot copy is deleted. So a
move killed at any point leaves exactly one readable copy. Dropping a
partition (retention) is a rename to dropped-<name> (the commit point)
followed by its deletion.

Deletes flush first, so every row they cover sits in a segment; a tombstone
then hides those rows in segments older than a per-partition watermark, on
every read, until a compaction rewrites the partition without them. Dropping
a measurement is a delete of all its series over all time, plus removing it
from the index and the field catalogue.

A clean close flushes and checkpoints, so the next open replays nothing; after
a crash, open replays only the WAL records after the checkpoint. Replaying a
record applies it exactly as the first time: the record holds the request
body, its precision and the clock value lines without a timestamp received.
"""

import errno
import fcntl
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from rusts.core import workers
from rusts.core.errors import CorruptDataError, LineProtocolError, RustsError
from rusts.index.series import SeriesIndex
from rusts.core.hashing import tags_of_key
from rusts.storage import wal as wal_log
from rusts.storage import wal_batches
from rusts.storage.columns import KIND_FLOAT, KIND_NAMES, KIND_STRING, NUMPY_DTYPES, Column, RowsTable, SeriesData, WriteBatch
from rusts.storage.memtable import MemTable, concat, resolve
from rusts.storage.partition import OFFLOAD_MIN_ROWS, Partition, Tombstone, fsync_directory, replace_durably
from rusts.storage.segment_format import MAX_COLUMNS

_log = logging.getLogger("rusts.storage.engine")
STATE_VERSION = 1
I64_MIN = -(2**63)
I64_MAX = 2**63 - 1

# Parses a body: (body, precision multiplier, default time) -> (series batches, errors).
# The engine takes it as a parameter so that storage does not import the API layer.
Parser = Callable[[bytes, int, int], tuple[list[Any], list[LineProtocolError]]]
# A parser that may answer a many-series write as one RowsTable (rusts.api.parse_pool.parse_for_write).
RowsParser = Callable[[bytes, int, int], "RowsTable | tuple[list[Any], list[LineProtocolError]]"]


class DataDirectoryInUse(RustsError):
    """Another process holds the data directory."""


class EngineOptions:
    """What the engine needs from the configuration (built by rusts.server from rusts.yml)."""

    def __init__(
        self,
        data_dir: str,
        wal_dir: str | None = None,
        wal_durability: str = "periodic",
        wal_sync_interval_ms: int = 100,
        wal_retention_secs: int | None = 3600,
        memtable_max_bytes: int = 64 * 1024 * 1024,
        memtable_max_points: int = 1_000_000,
        memtable_max_age_secs: float = 60.0,
        partition_duration_ns: int = 86_400 * 1_000_000_000,
        hot_compression: str = "lz4",
        cold_compression: str = "zstd",
        cold_after_ns: int = 2 * 86_400 * 1_000_000_000,
        zstd_level: int = 3,
        max_pending_flushes: int = 2,
        bloom_fpr: float = 0.01,
        compact_min_segments: int = 4,
        cold_zstd_level: int = 9,
        cold_dir: str | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.data_dir = data_dir
        self.wal_dir = wal_dir if wal_dir is not None else os.path.join(data_dir, "wal")
        self.wal_durability = wal_durability
        self.wal_sync_interval_ms = wal_sync_interval_ms
        self.wal_retention_secs = wal_retention_secs
        self.memtable_max_bytes = memtable_max_bytes
        self.memtable_max_points = memtable_max_points
        self.memtable_max_age_secs = memtable_max_age_secs
        self.partition_duration_ns = partition_duration_ns
        self.hot_compression = hot_compression
        self.cold_compression = cold_compression
        self.cold_after_ns = cold_after_ns
        self.zstd_level = zstd_level
        self.max_pending_flushes = max_pending_flushes
        self.bloom_fpr = bloom_fpr
        self.compact_min_segments = compact_min_segments
        self.cold_zstd_level = cold_zstd_level
        self.cold_dir = cold_dir
        # Wall-clock time in ns for age decisions (tiers); tests inject their own.
        self.clock = clock


TIERS = ("hot", "warm", "cold")
TIER_FILE = "TIER"
MOVING_PREFIX = "moving-"
DROPPED_PREFIX = "dropped-"
# Partition objects replaced by a move or a drop stay open this long for queries still reading them.
RETIRED_PARTITION_SECS = 600.0


class PartitionInfo:
    """One partition as the tiering and retention policies see it."""

    def __init__(self, start: int, end: int, tier: str, size_bytes: int, segments: int, directory: str, codecs: list[str]) -> None:
        self.start = start
        self.end = end
        self.tier = tier
        self.size_bytes = size_bytes
        self.segments = segments
        self.directory = directory
        self.codecs = codecs


class AggregateHolders(NamedTuple):
    """Cluster mode: who keeps one continuous aggregate (see StorageEngine.aggregate_holders)."""

    refresher: str  # the node whose background refresh recomputes it
    here: bool  # whether that node is this one
    elsewhere: bool  # whether a live peer defines it alike (its rows are then another node's too)


class WriteResult:
    """What a write stored, and the lines it rejected."""

    def __init__(self, points: int, field_values: int, errors: list[LineProtocolError], sequence: int) -> None:
        self.points = points
        self.field_values = field_values
        self.errors = errors
        self.sequence = sequence


def type_conflicts(batch: Any, known: dict[str, int], errors: list[LineProtocolError]) -> NDArray[np.bool_]:
    """The rows of a parsed batch that carry a field whose kind differs from the one `known` gives
    it (one error per such line, appended to `errors`, with the engine's message)."""
    rejected = np.zeros(len(batch.timestamps), dtype=np.bool_)
    for name, column in batch.columns.items():
        kind = known.get(name)
        if kind is None or kind == column.kind:
            continue
        carriers = np.ones(len(rejected), dtype=np.bool_) if column.present is None else column.present
        for line in batch.lines[carriers & ~rejected].tolist():
            errors.append(
                LineProtocolError(
                    int(line), 0,
                    f"field type conflict: field {name!r} of measurement {batch.measurement!r} is "
                    f"{KIND_NAMES[kind]}, got {KIND_NAMES[column.kind]}",
                )
            )
        rejected |= carriers
    return rejected


def _first_line(batch: Any) -> int:
    return int(batch.lines[0])


def check_write_batches(batches: list[WriteBatch]) -> tuple[list[WriteBatch], list[LineProtocolError]]:
    """write_batches' batches ready to store, and an error per row refused: rows are numbered
    (1-based across the batches, in order), values become arrays of their kinds' dtypes, rows
    carrying a non-finite float are refused (as line protocol refuses NaN and infinity) and
    batches left without rows are dropped. ValueError for a malformed batch: a caller's bug."""
    errors: list[LineProtocolError] = []
    kept: list[WriteBatch] = []
    at = 1
    for batch in batches:
        rows = len(batch.timestamps)
        if not batch.measurement:
            raise ValueError("write_batches: a batch without a measurement name")
        batch.timestamps = np.asarray(batch.timestamps, dtype=np.int64)
        batch.lines = np.arange(at, at + rows, dtype=np.int64)
        at += rows
        refused = np.zeros(rows, dtype=np.bool_)
        for name, column in batch.columns.items():
            if not name or not 0 <= column.kind < len(KIND_NAMES):
                raise ValueError(f"write_batches: field {name!r} of {batch.measurement!r} has no name or an unknown kind")
            if column.kind == KIND_STRING:
                # The set of the values' types (a C loop, twice as fast as a generator of isinstance calls).
                if not isinstance(column.values, list) or not all(issubclass(t, str) for t in set(map(type, column.values))):
                    raise ValueError(f"write_batches: string field {name!r} of {batch.measurement!r} is not a list of str")
            else:
                column.values = _kind_array(column.values, column.kind, name, batch.measurement)
            if len(column.values) != rows or (column.present is not None and len(column.present) != rows):
                raise ValueError(f"write_batches: field {name!r} of {batch.measurement!r} is not aligned with its {rows} timestamps")
            if column.kind == KIND_FLOAT:
                bad = ~np.isfinite(column.values)
                if column.present is not None:
                    bad &= column.present
                refused |= bad
        if refused.any():
            for line in batch.lines[refused].tolist():
                errors.append(LineProtocolError(int(line), 0, f"a row of {batch.measurement!r} carries a non-finite float (NaN or infinity)"))
            keep = np.flatnonzero(~refused)
            batch.timestamps, batch.lines = batch.timestamps[keep], batch.lines[keep]
            batch.columns = {name: column.take(keep) for name, column in batch.columns.items()}
        if len(batch.timestamps):
            kept.append(batch)
    return kept, errors


def _kind_array(values: Any, kind: int, name: str, measurement: str) -> Any:
    """`values` as an array of the kind's dtype: an array only when the cast loses nothing."""
    dtype = np.dtype(NUMPY_DTYPES[kind])
    try:
        if isinstance(values, np.ndarray):
            if values.dtype != dtype and not np.can_cast(values.dtype, dtype, "safe"):
                raise TypeError(f"dtype {values.dtype}")
            return values.astype(dtype, copy=False)
        return np.array(values, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"write_batches: field {name!r} of {measurement!r} does not hold {KIND_NAMES[kind]} values ({exc})") from None


class StorageEngine:
    """Coordinates index, WAL, memtables and partitions. Safe for concurrent writers and readers."""

    def __init__(self, options: EngineOptions, parser: Parser) -> None:
        self.options = options
        self.parser = parser
        self.index: SeriesIndex
        self.partitions: dict[int, Partition] = {}
        # Tier of each partition that left "hot" (from its TIER file or its place under cold_dir).
        self.tiers: dict[int, str] = {}
        self._retired_partitions: list[tuple[float, Partition]] = []
        # Called after each write with (WAL sequence, [(measurement, timestamps)]), under the
        # write lock: keep them short. Continuous aggregates find the buckets to refresh this way.
        self.write_listeners: list[Callable[[int, list[tuple[str, Any]]], None]] = []
        # Called after each durable delete with (series ids, start, end) unless the caller says not to.
        self.delete_listeners: list[Callable[[list[int], int, int], None]] = []
        # Cluster mode, on a shard engine: called after each write, under the write lock, with the
        # measurement, series id, lowest and highest time of each series the write stored points of
        # (rusts.cluster.convergence.OverwriteWatch finds overwrites this way). None elsewhere.
        self.overwrite_watch: Callable[[list[str], list[int], list[int], list[int]], None] | None = None
        # Cluster mode: when set, write_line_protocol hands every body to it (the coordinator splits it
        # by shard and replicates it) instead of storing it here, and rusts.query.executor hands every
        # query to `query_router` (an object with execute/execute_batches, see executor.QueryRouter).
        # Both stay None on a single node and on the per-shard engines a cluster node holds.
        self.write_router: Callable[[bytes, int, int | None], WriteResult] | None = None
        # When set, writes are parsed with it (WAL replay keeps `parser`): a many-series body may
        # come back as one RowsTable, stored without a per-series object (_store_rows).
        self.rows_parser: RowsParser | None = None
        self.query_router: object | None = None
        # Cluster mode, on the front engine: (continuous aggregate name, defining SQL) -> its AggregateHolders.
        # Several nodes may define one aggregate alike; the background refresh leaves it to the refresher.
        # None: a single node, which refreshes all of its own.
        self.aggregate_holders: Callable[[str, str], AggregateHolders] | None = None
        self.fields: dict[str, dict[str, int]] = {}
        # Measurements declared by SQL CREATE TABLE and not written yet: column -> role ("tag" or a
        # field kind name), which INSERT follows for a column the data does not know. Memory only: a
        # measurement exists from its first point.
        self.declared: dict[str, dict[str, str]] = {}
        self.memtable = MemTable()
        self.flushing: list[MemTable] = []
        self.checkpoint = 0
        self.ready = False
        self.closed = False
        self.stats: dict[str, int] = {"writes": 0, "points_written": 0, "rejected_lines": 0, "flushes": 0, "replayed_records": 0}
        self._write_lock = threading.Lock()
        self._delete_lock = threading.RLock()
        self._flush_serial = threading.Lock()
        self._flush_done = threading.Condition()
        self._lock_handle: Any = None
        self._wal: wal_log.WalWriter | None = None
        self._fields_dirty = False
        self._flusher: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()

    # --- opening and closing -------------------------------------------------

    @classmethod
    def open(cls, options: EngineOptions, parser: Parser) -> "StorageEngine":
        engine = cls(options, parser)
        engine._open()
        return engine

    def _open(self) -> None:
        options = self.options
        os.makedirs(options.data_dir, exist_ok=True)
        self._take_directory_lock()
        self.index = SeriesIndex.open(os.path.join(options.data_dir, "index"))
        self.checkpoint = self._read_state("CHECKPOINT").get("sequence", 0)
        fields = self._read_fields()
        self.deletes: list[dict[str, Any]] = self._read_state("TOMBSTONES").get("deletes", [])
        self._open_partitions()
        self._check_index_covers_segments()
        self.fields = self._fields_from_segments() if fields is None else fields
        self._install_tombstones()
        replayed = self._replay()
        self._wal = wal_log.WalWriter.open(
            options.wal_dir, options.wal_durability, options.wal_sync_interval_ms, checkpoint_seq=self.checkpoint
        )
        self.stats["replayed_records"] = replayed
        self.ready = True
        self._flusher = threading.Thread(target=self._flush_loop, name="rusts-flusher", daemon=True)
        self._flusher.start()

    def _take_directory_lock(self) -> None:
        path = os.path.join(self.options.data_dir, "LOCK")
        handle = open(path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise DataDirectoryInUse(
                    f"data directory {self.options.data_dir!r} is in use by another RusTs process "
                    "(a running server, or an importer in direct mode)"
                ) from exc
            raise
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_handle = handle

    def _read_state(self, name: str) -> dict[str, Any]:
        path = os.path.join(self.options.data_dir, name)
        if not os.path.exists(path):
            return {}
        try:
            with open(path, "rb") as handle:
                state = json.loads(handle.read())
        except ValueError as exc:
            raise CorruptDataError(path, f"unreadable: {exc}") from exc
        if not isinstance(state, dict) or state.get("version", 0) > STATE_VERSION:
            raise CorruptDataError(path, f"unknown format (this build reads version {STATE_VERSION})")
        return state

    def _read_fields(self) -> dict[str, dict[str, int]] | None:
        """The field catalogue; None when FIELDS is missing or unreadable (it is rebuilt from the segments)."""
        path = os.path.join(self.options.data_dir, "FIELDS")
        try:
            state = self._read_state("FIELDS")
        except CorruptDataError as exc:
            if isinstance(exc.__cause__, ValueError):  # not JSON: damaged, not from a newer build
                _log.warning("%s; rebuilding the field catalogue from the segments", exc)
                return None
            raise
        measurements = state.get("measurements")
        if isinstance(measurements, dict):
            return measurements
        if state:
            _log.warning("%s holds no field catalogue; rebuilding it from the segments", path)
        return None

    def _fields_from_segments(self) -> dict[str, dict[str, int]]:
        """Every stored column's kind per measurement, read from the segment footers (and written to FIELDS)."""
        fields: dict[str, dict[str, int]] = {}
        for partition in self.partitions.values():
            for _, reader in partition.segments():
                for series_id in reader.series_ids():
                    entry = self.index.lookup(series_id)
                    if entry is not None:
                        fields.setdefault(entry.measurement, {}).update(reader.columns(series_id))
        if fields:
            _log.warning("field catalogue rebuilt from the segments: %d measurements", len(fields))
            self._write_state("FIELDS", {"measurements": fields})
        return fields

    def _check_index_covers_segments(self) -> None:
        """Refuse to open when segments hold series the index does not know: their rows could not be read.

        The index is flushed before any segment refers to a series, and dropped series stay
        listed in tombstones until compaction removes their rows, so this is damage to (or the
        loss of) the index file, which segments cannot rebuild: they store series ids, not keys.
        """
        hidden = {int(series_id) for delete in self.deletes for series_id in delete.get("series", [])}
        unknown: dict[str, int] = {}
        for partition in self.partitions.values():
            for _, reader in partition.segments():
                count = sum(1 for series_id in reader.series_ids() if series_id not in self.index and series_id not in hidden)
                if count:
                    name = os.path.basename(partition.directory)
                    unknown[name] = unknown.get(name, 0) + count
        if unknown:
            where = ", ".join(f"{name} ({count})" for name, count in sorted(unknown.items())[:5])
            more = f" and {len(unknown) - 5} more partitions" if len(unknown) > 5 else ""
            raise CorruptDataError(
                self.index.path,
                f"the series index does not know series stored in partitions {where}{more}: the file is damaged "
                "or was removed, and the rows of those series could not be read. Restore it from a backup; "
                "moving those partitions out of the data directory starts without their data",
            )

    def _write_state(self, name: str, state: dict[str, Any]) -> None:
        replace_durably(os.path.join(self.options.data_dir, name), json.dumps({"version": STATE_VERSION, **state}).encode())

    def _partition_roots(self) -> list[str]:
        """The hot root, then the cold root when cold_dir is set."""
        roots = [os.path.join(self.options.data_dir, "partitions")]
        if self.options.cold_dir is not None:
            roots.append(os.path.join(self.options.cold_dir, "partitions"))
        return roots

    def _open_partitions(self) -> None:
        roots = self._partition_roots()
        if len(roots) > 1 and os.path.realpath(roots[0]) == os.path.realpath(roots[1]):
            raise ValueError(f"cold_dir {self.options.cold_dir!r} must not be the data directory")
        found: dict[int, tuple[str, int, bool]] = {}
        for root_number, root in enumerate(roots):
            os.makedirs(root, exist_ok=True)
            for name in sorted(os.listdir(root)):
                if name.startswith((MOVING_PREFIX, DROPPED_PREFIX)):
                    _log.warning("removing %s in %s: left by an interrupted move or drop", name, root)
                    shutil.rmtree(os.path.join(root, name))
                    continue
                if not name.startswith("p"):
                    continue
                start_text, _, duration_text = name[1:].partition("_")
                try:
                    start, duration = int(start_text), int(duration_text)
                except ValueError:
                    _log.warning("ignoring %s in %s: not a partition directory", name, root)
                    continue
                earlier = found.get(start)
                if earlier is not None:
                    # Only a finished move puts a copy in the cold root: the hot one is its leftover.
                    _log.warning("removing %s: the partition was moved to %s", earlier[0], root)
                    self._delete_directory(earlier[0])
                found[start] = (os.path.join(root, name), duration, root_number > 0)
        for start, (directory, duration, in_cold_root) in sorted(found.items()):
            self.partitions[start] = Partition.open(directory, start, duration, self.options.bloom_fpr)
            tier = "cold" if in_cold_root else _read_tier(directory)
            if tier != "hot":
                self.tiers[start] = tier

    @staticmethod
    def _delete_directory(directory: str) -> None:
        """Rename to dropped-<name> (the commit point), then delete: a crash leaves it gone or whole."""
        root, name = os.path.split(directory)
        graveyard = os.path.join(root, DROPPED_PREFIX + name)
        os.rename(directory, graveyard)
        fsync_directory(root)
        shutil.rmtree(graveyard)

    def _replay(self) -> int:
        """Apply WAL records after the checkpoint to the memtable; the number applied."""
        if self.options.wal_durability == "none" or not os.path.isdir(self.options.wal_dir):
            return 0
        count = 0
        for sequence, payload in wal_log.read_records(self.options.wal_dir, self.checkpoint + 1):
            batches, errors = self.record_batches(payload)
            accepted, _, new_fields, _ = self._accept(batches, errors)
            if accepted:
                self._add_fields(new_fields)
                self.memtable.write(accepted, sequence)
            count += 1
        if count:
            _log.info("replayed %d WAL records after checkpoint %d", count, self.checkpoint)
        return count

    def close(self) -> None:
        """Flush everything, checkpoint, and release the directory: the next open replays nothing."""
        if self.closed:
            return
        self.flush(wait=True)
        self._stop.set()
        self._wake.set()
        if self._flusher is not None:
            self._flusher.join()
        if self._wal is not None:
            self._wal.close()
        for partition in self.partitions.values():
            partition.close()
        for _, partition in self._retired_partitions:
            partition.close()
        self.index.close()
        if self._lock_handle is not None:
            self._lock_handle.close()
        self.closed = True

    # --- writes --------------------------------------------------------------

    def write_line_protocol(self, body: bytes, multiplier: int = 1, default_time: int | None = None) -> WriteResult:
        """Store the good lines of a body; the bad ones come back as errors. Durable on return
        as far as the WAL durability mode promises."""
        if self.write_router is not None:
            return self.write_router(body, multiplier, default_time)
        stamp = time.time_ns() if default_time is None else default_time
        payload = wal_log.encode_lp_payload(body, multiplier, stamp)
        if self.rows_parser is not None:
            parsed = self.rows_parser(body, multiplier, stamp)
            if isinstance(parsed, RowsTable):
                stored = self._store_rows(parsed, payload)
                if stored is not None:
                    return stored
                parsed = parsed.batches()
            batches, errors = parsed
        else:
            batches, errors = self.parser(body, multiplier, stamp)
        return self._store(batches, errors, payload)

    def write_parsed(self, body: bytes, multiplier: int, batches: list[Any]) -> WriteResult:
        """Store `batches`, which are the line-protocol parser's batches of `body` (every record of
        it carrying its timestamp), logging `body` in the WAL as write_line_protocol does: for a
        caller that parsed the body already (a cluster coordinator storing its own shards' parts of
        a write it checked), so it is not parsed twice. The same checks apply; errors number rows by
        the batches' `lines`."""
        if self.write_router is not None:
            raise AssertionError("BUG: write_parsed on an engine that routes its writes")
        return self._store(batches, [], wal_log.encode_lp_payload(body, multiplier, time.time_ns()))

    def write_batches(self, batches: list[WriteBatch]) -> WriteResult:
        """Store rows given as columns, one WriteBatch per series, logged as one columnar WAL record
        (no line protocol is formatted or parsed). The same checks as a line-protocol write apply:
        rows whose field types conflict with known ones, or that carry a non-finite float, come
        back as errors numbered by row (1-based across the batches, in order). Durable on return
        as far as the WAL durability mode promises. A malformed batch (columns not aligned with the
        timestamps, a value of another type than its kind) is the caller's bug: ValueError."""
        batches, errors = check_write_batches(batches)
        if self.write_router is not None:
            # A cluster's coordinator routes line protocol; this path is for the rare batch writer there.
            return self.write_router(wal_batches.format_lines(batches).encode("utf-8"), 1, 0)
        return self._store(batches, errors, wal_batches.encode_columnar_payload(batches))

    def _store(self, batches: list[Any], errors: list[LineProtocolError], payload: bytes) -> WriteResult:
        """Check, log (`payload` is the write's WAL record, built outside the lock) and keep a write's batches."""
        self._wait_for_room()
        with self._write_lock:
            accepted, errors, new_fields, measurements = self._accept(batches, errors)
            sequence = 0
            if accepted:
                if self._wal is not None:
                    # A failed append (disk full) raises before anything below changes state.
                    sequence = self._wal.append(payload)
                self._add_fields(new_fields)
                self.memtable.write(accepted, sequence)
                if self.overwrite_watch is not None:
                    self.overwrite_watch(
                        measurements, [data.series_id for data in accepted],
                        [int(data.timestamps.min()) for data in accepted], [int(data.timestamps.max()) for data in accepted],
                    )
                # Under the write lock, so listeners see writes in sequence order.
                for listener in self.write_listeners:
                    listener(sequence, [(m, data.timestamps) for m, data in zip(measurements, accepted)])
        points = values = 0
        for data in accepted:
            rows = len(data.timestamps)
            points += rows
            for column in data.columns.values():
                values += rows if column.present is None else int(column.present.sum())
        return self._written(WriteResult(points, values, errors, sequence))

    def _written(self, result: WriteResult) -> WriteResult:
        """Count a stored write, and wake the flusher when the memtable is full."""
        self.stats["writes"] += 1
        self.stats["points_written"] += result.points
        self.stats["rejected_lines"] += len(result.errors)
        if self._memtable_full():
            self._wake.set()
        return result

    def _store_rows(self, table: RowsTable, payload: bytes) -> WriteResult | None:
        """Check, log and keep a many-series write given as one table, as _store would keep its
        batches; None (nothing done) when a field's kind differs from the stored one, which the
        per-series path answers row by row."""
        measurement = table.measurement
        self._wait_for_room()
        with self._write_lock:
            known = self.fields.get(measurement, {})
            if any(known.get(name, kind) != kind for name, (kind, _) in table.fields.items()):
                return None
            if len(known) + sum(1 for name in table.fields if name not in known) > MAX_COLUMNS:
                return None  # the per-series path refuses the rows by line
            ids = np.empty(len(table.keys), dtype=np.uint64)
            index = self.index
            for at, key in enumerate(table.keys):
                series_id = index.id_of(key)
                if series_id is None:
                    found, tags = tags_of_key(key)
                    if found != measurement:
                        raise AssertionError(f"BUG: series {key!r} in a write of measurement {measurement!r}")
                    series_id = index.get_or_create(measurement, tags, key)
                ids[at] = series_id
            sequence = self._wal.append(payload) if self._wal is not None else 0
            new_fields = {name: kind for name, (kind, _) in table.fields.items() if name not in known}
            if new_fields:
                self._add_fields({measurement: new_fields})
            self.memtable.write_rows(np.repeat(ids, table.rows), table.times, table.fields, sequence)
            if self.overwrite_watch is not None and len(ids):
                starts = np.concatenate(([0], np.cumsum(table.rows)[:-1]))
                self.overwrite_watch(
                    [measurement] * len(ids), ids.tolist(),
                    np.minimum.reduceat(table.times, starts).tolist(), np.maximum.reduceat(table.times, starts).tolist(),
                )
            for listener in self.write_listeners:
                listener(sequence, [(measurement, table.times)])
        return self._written(WriteResult(len(table), len(table) * len(table.fields), [], sequence))

    def record_batches(self, payload: bytes) -> tuple[list[Any], list[LineProtocolError]]:
        """The batches (and the parser's errors) of one WAL record's payload, as the write that
        logged it had them; CorruptDataError for a payload kind this build does not know."""
        kind = payload[0] if payload else -1
        if kind == wal_log.PAYLOAD_LINE_PROTOCOL:
            body, multiplier, default_time = wal_log.decode_lp_payload(payload)
            return self.parser(body, multiplier, default_time)
        if kind == wal_batches.PAYLOAD_COLUMNAR:
            return check_write_batches(wal_batches.decode_columnar_payload(payload))
        raise CorruptDataError(self.options.wal_dir, f"WAL payload kind {kind} is not one this build reads (1, 2)")

    def _accept(
        self, batches: list[Any], errors: list[LineProtocolError]
    ) -> tuple[list[SeriesData], list[LineProtocolError], dict[str, dict[str, int]], list[str]]:
        """Give each batch its series id and drop lines whose field types conflict with known ones.

        Batches are taken in order of their first line, so when two series of
        one measurement disagree within a body, the earlier line decides.
        Field types first seen here come back apart, for the caller to keep
        once the write is logged; so does each accepted batch's measurement. Field types are per measurement, for all
        time (stricter than InfluxDB's per-shard rule: a field never changes
        type under a query's feet).
        """
        errors = list(errors)
        accepted: list[SeriesData] = []
        measurements: list[str] = []
        new_fields: dict[str, dict[str, int]] = {}
        known_of: dict[str, dict[str, int]] = {}  # per measurement: stored kinds and those this write adds
        ordered = batches if len(batches) < 2 else sorted(batches, key=_first_line)
        for batch in ordered:
            measurement = batch.measurement
            known = known_of.get(measurement)
            if known is None:
                known = known_of[measurement] = dict(self.fields.get(measurement, {}))
            columns = batch.columns
            over = _over_field_limit(measurement, batch, known, errors)  # rows that would add too many fields
            # Most batches agree with every known kind: then no row needs checking.
            if all(known.get(name, column.kind) == column.kind for name, column in columns.items()):
                keep = None
            else:
                rejected = type_conflicts(batch, known, errors)
                keep = np.flatnonzero(~rejected)
                if len(keep) == 0:
                    continue
                if len(keep) == len(rejected):
                    keep = None
            if over is not None:
                keep = np.flatnonzero(~over) if keep is None else keep[~over[keep]]
                if len(keep) == 0:
                    continue
            series_id = self.index.id_of(batch.key)
            if series_id is None:
                try:
                    series_id = self.index.get_or_create(measurement, batch.sorted_tags(), batch.key)
                except ValueError as exc:  # more tags than a series may have
                    _refuse_rows(batch, errors, str(exc))
                    continue
            data = SeriesData(series_id, batch.timestamps, columns)  # the parser's columns, kept as they are
            if keep is not None:
                data = data.take(keep)
                if over is not None:  # fields only refused rows carried are not kept
                    data.columns = {name: column for name, column in data.columns.items() if column.present_count()}
            for name, column in data.columns.items():
                if name not in known and column.present_count():
                    known[name] = column.kind
                    new_fields.setdefault(measurement, {})[name] = column.kind
            accepted.append(data)
            measurements.append(measurement)
        errors.sort(key=lambda e: e.line)
        return accepted, errors, new_fields, measurements

    def _add_fields(self, new_fields: dict[str, dict[str, int]]) -> None:
        for measurement, fields in new_fields.items():
            if fields:
                self.fields.setdefault(measurement, {}).update(fields)
                self._fields_dirty = True

    def _memtable_full(self) -> bool:
        o = self.options
        return self.memtable.should_flush(o.memtable_max_bytes, o.memtable_max_points, o.memtable_max_age_secs)

    def _wait_for_room(self) -> None:
        """Writers wait while the live memtable holds `max_pending_flushes` times its limits:
        memory stays bounded when the flusher falls behind."""
        o = self.options
        factor = o.max_pending_flushes
        with self._flush_done:
            while (
                self.memtable.bytes > factor * o.memtable_max_bytes or self.memtable.points > factor * o.memtable_max_points
            ) and not self._stop.is_set():
                self._wake.set()
                self._flush_done.wait(0.1)

    # --- flushing ------------------------------------------------------------

    def _flush_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                if self._memtable_full() or self.flushing:  # a table a failed flush left is retried
                    self.flush(wait=True)
                self.compact(self.options.compact_min_segments)
            except Exception:
                _log.exception("background flush failed; will retry")
                time.sleep(1.0)

    def flush(self, wait: bool = True) -> None:
        """Turn the live memtable into segments and advance the checkpoint.

        Flushes run one at a time, in order: a checkpoint may only pass a WAL
        sequence once every older memtable is in segments.
        """
        with self._flush_serial:
            self._flush_one()

    def _flush_one(self) -> None:
        with self._write_lock:
            table = self.memtable
            if not table.is_empty():
                self.memtable = MemTable()
                with self._flush_done:
                    self.flushing.append(table)
            # Oldest first. Flushes run one at a time, so any table listed before this one was left
            # by a flush that failed (disk full): it is written again first, and the checkpoint never
            # passes its WAL records while it is not in segments. Segments a failed attempt finished
            # hold the same rows again, which reads resolve as one.
            pending = list(self.flushing)
        if not pending:
            return
        # Series ids must be durable before any segment refers to them.
        self.index.flush()
        for table in pending:
            self._write_segments(table)
            with self._flush_done:
                self.flushing.remove(table)
                if table.last_sequence > self.checkpoint:
                    self.checkpoint = table.last_sequence
                self._flush_done.notify_all()
        if self._wal is not None:
            # The log must be durable up to a checkpoint before the checkpoint is recorded.
            self._wal.sync()
        if self._fields_dirty:
            self._fields_dirty = False
            self._write_state("FIELDS", {"measurements": self.fields})
        self._write_state("CHECKPOINT", {"sequence": self.checkpoint})
        if self._wal is not None:
            self._wal.remove_checkpointed(self.checkpoint, self.options.wal_retention_secs)
        self.stats["flushes"] += 1

    def _write_segments(self, table: MemTable) -> None:
        """Each series' rows, split by partition window, into one new segment per partition; the
        partitions' segments are encoded at once by as many worker processes as there are (each
        partition is written by one thread, which waits for its worker), else one after another."""
        duration = self.options.partition_duration_ns
        by_partition: dict[int, list[SeriesData]] = {}
        buffers = table.series  # folds the table's pending many-series writes once
        for series_id in sorted(buffers):
            data = buffers[series_id].snapshot()
            starts = (data.timestamps // duration) * duration
            bounds = np.flatnonzero(np.diff(starts)) + 1
            for lo, hi in zip(np.concatenate(([0], bounds)).tolist(), np.concatenate((bounds, [len(starts)])).tolist()):
                by_partition.setdefault(int(starts[lo]), []).append(data.slice(lo, hi))
        jobs = [(self._partition(start), series) for start, series in sorted(by_partition.items())]
        codec, level = self.options.hot_compression, self.options.zstd_level
        offloaded = sum(1 for _, series in jobs if sum(len(data) for data in series) >= OFFLOAD_MIN_ROWS)
        pool = workers.shared_pool() if offloaded > 1 else None
        if pool is None or pool.size < 2:
            for partition, series in jobs:
                partition.add_segment(series, codec, level)
            return
        with ThreadPoolExecutor(max_workers=min(pool.size, len(jobs)), thread_name_prefix="rusts-flush") as executor:
            done = [executor.submit(partition.add_segment, series, codec, level) for partition, series in jobs]
        for future in done:
            future.result()  # the first failure, once every partition's attempt has ended

    def _codec_for(self, partition: Partition) -> tuple[str, int]:
        """The codec and zstd level of the partition's tier; without a recorded tier, the warm
        codec once the window ended over `cold_after_ns` ago."""
        tier = self.tiers.get(partition.start)
        if tier is None:
            aged = partition.end <= self.options.clock() - self.options.cold_after_ns
            tier = "warm" if aged else "hot"
        return self.tier_codec(tier)

    def tier_codec(self, tier: str) -> tuple[str, int]:
        """(outer compression, zstd level) of segments in `tier`."""
        o = self.options
        if tier == "hot":
            return o.hot_compression, o.zstd_level
        if tier == "warm":
            return o.cold_compression, o.zstd_level
        if tier == "cold":
            return o.cold_compression, o.cold_zstd_level
        raise ValueError(f"unknown storage tier {tier!r} (expected one of {', '.join(TIERS)})")

    def _partition(self, start: int) -> Partition:
        partition = self.partitions.get(start)
        if partition is None:
            duration = self.options.partition_duration_ns
            directory = os.path.join(self.options.data_dir, "partitions", Partition.directory_name(start, duration))
            partition = Partition.open(directory, start, duration, self.options.bloom_fpr)
            self.partitions[start] = partition
        return partition

    def compact(self, min_segments: int = 2) -> int:
        """Merge the segments of every partition that has at least `min_segments`; the number compacted.

        The flusher calls this in the background after flushes (LSM style), so
        small segments from frequent flushes become one larger segment.
        """
        compacted: list[int] = []
        with self._delete_lock:
            for partition in list(self.partitions.values()):
                # A partition under a tombstone is worth rewriting even as a single segment.
                needed = 1 if partition.tombstones else min_segments
                if partition.compact(*self._codec_for(partition), needed):
                    compacted.append(partition.start)
            self._forget_tombstones(compacted)
        return len(compacted)

    # --- tiers and retention ---------------------------------------------------

    def tier_of(self, start: int) -> str:
        return self.tiers.get(start, "hot")

    def partition_infos(self) -> list[PartitionInfo]:
        """Every partition, oldest first, with its tier and its bytes on disk."""
        infos = []
        for start, partition in sorted(self.partitions.items()):
            segments = partition.segments()
            size = 0
            for _, reader in segments:
                try:
                    size += os.path.getsize(reader.path)
                except FileNotFoundError:
                    pass  # compacted away while we looked; its replacement is counted next time
            codecs = sorted({reader.outer for _, reader in segments})
            infos.append(PartitionInfo(start, partition.end, self.tier_of(start), size, len(segments), partition.directory, codecs))
        return infos

    def partition_measurements(self, start: int) -> set[str]:
        """The measurements with series in the partition (series since dropped are left out)."""
        partition = self.partitions.get(start)
        if partition is None:
            return set()
        found = set()
        for series_id in partition.series_ids():
            entry = self.index.lookup(series_id)
            if entry is not None:
                found.add(entry.measurement)
        return found

    def set_tier(self, start: int, tier: str) -> bool:
        """Recompress the partition for `tier` (and move it under cold_dir for "cold" when set);
        False when it already is there or in a later tier (tiers only advance). Crash-safe: see the
        module docstring."""
        codec, level = self.tier_codec(tier)
        with self._delete_lock:
            # Holding both locks keeps flushes, compactions and deletes off the partition meanwhile.
            with self._flush_serial:
                partition = self.partitions.get(start)
                if partition is None or TIERS.index(tier) < TIERS.index(self.tier_of(start)):
                    return False
                self._close_retired()
                move = tier == "cold" and self.options.cold_dir is not None and not self._in_cold_root(partition)
                codecs = {reader.outer for _, reader in partition.segments()}
                already = self.tier_of(start) == tier or (tier == "warm" and self.tier_of(start) == "hot")
                if not move and already and codecs <= {codec}:
                    if self.tier_of(start) != tier:
                        _write_tier(partition.directory, tier)
                        self.tiers[start] = tier
                    return False
                if move:
                    self._move_to_cold_root(partition, codec, level)
                else:
                    partition.compact(codec, level, 1)
                    _write_tier(partition.directory, tier)
                self.tiers[start] = tier
                self._forget_tombstones([start])
        return True

    def _in_cold_root(self, partition: Partition) -> bool:
        return len(self._partition_roots()) > 1 and os.path.dirname(partition.directory) == self._partition_roots()[1]

    def _move_to_cold_root(self, partition: Partition, codec: str, level: int) -> None:
        root = self._partition_roots()[1]
        name = os.path.basename(partition.directory)
        staging = os.path.join(root, MOVING_PREFIX + name)
        if os.path.exists(staging):
            shutil.rmtree(staging)
        os.makedirs(staging)
        for _, reader in partition.segments():
            _copy_durably(reader.path, os.path.join(staging, os.path.basename(reader.path)))
        _copy_durably(os.path.join(partition.directory, "MANIFEST"), os.path.join(staging, "MANIFEST"))
        copy = Partition.open(staging, partition.start, partition.duration, self.options.bloom_fpr)
        try:
            # The copy has the same generations, so the same tombstones apply to it while it is rewritten.
            copy.tombstones = partition.tombstones
            copy.compact(codec, level, 1)
        finally:
            copy.close()
        _write_tier(staging, "cold")
        final = os.path.join(root, name)
        os.rename(staging, final)
        fsync_directory(root)
        self.partitions[partition.start] = Partition.open(final, partition.start, partition.duration, self.options.bloom_fpr)
        self._install_tombstones()
        self._retire(partition)
        self._delete_directory(partition.directory)

    def drop_partition(self, start: int) -> bool:
        """Delete a whole partition (every measurement's rows in its window) without rewriting
        anything; False when there is none. Crash-safe: the partition is whole or gone."""
        with self._delete_lock:
            # Rows of the window still in memtables go to the partition first, and so go with it;
            # the checkpoint then passes their WAL records, so a replay does not bring them back.
            self.flush(wait=True)
            with self._flush_serial:
                partition = self.partitions.pop(start, None)
                if partition is None:
                    return False
                self.tiers.pop(start, None)
                self._close_retired()
                self._retire(partition)
                self._forget_tombstones([start])
                self._delete_directory(partition.directory)
        return True

    def _retire(self, partition: Partition) -> None:
        self._retired_partitions.append((time.monotonic(), partition))

    def _close_retired(self) -> None:
        """Close replaced partitions no query can still be reading (older than RETIRED_PARTITION_SECS)."""
        now = time.monotonic()
        keep = []
        for retired_at, partition in self._retired_partitions:
            if now - retired_at >= RETIRED_PARTITION_SECS:
                partition.close()
            else:
                keep.append((retired_at, partition))
        self._retired_partitions = keep

    # --- deletes ---------------------------------------------------------------

    def delete(self, series_ids: list[int], start: int = I64_MIN, end: int = I64_MAX, notify: bool = True) -> None:
        """Delete the rows of `series_ids` in [start, end); durable on return. With `notify`
        (the default) the delete listeners hear of it; retention passes do not notify, so
        aggregates keep what they computed from rows that retention removed."""
        if not series_ids or start >= end:
            return
        with self._delete_lock:
            self.flush(wait=True)
            watermarks = {
                str(p.start): p.next_generation
                for p in self.partitions.values()
                if p.end > start and p.start < end and any(p.might_contain(s) for s in series_ids)
            }
            if not watermarks:
                return
            self.deletes.append({"series": sorted(series_ids), "start": start, "end": end, "watermarks": watermarks})
            self._write_state("TOMBSTONES", {"deletes": self.deletes})
            self._install_tombstones()
        if notify:
            for listener in self.delete_listeners:
                listener(series_ids, start, end)

    def delete_matching(self, measurement: str, tags: dict[str, str], start: int = I64_MIN, end: int = I64_MAX) -> int:
        """Delete the rows in [start, end) of the series of `measurement` whose tags equal `tags`
        (every series of the measurement when `tags` is empty); the number of series touched."""
        numbers = self.index.tags.all_series(measurement)
        for key, value in tags.items():
            numbers &= self.index.tags.series_for(measurement, key, value)
        ids = [int(i) for i in self.index.ids_of(numbers).tolist()]
        self.delete(ids, start, end)
        return len(ids)

    def drop_measurement(self, measurement: str) -> int:
        """Delete every point of a measurement and forget its series and fields; the series dropped."""
        ids = self.index.ids_of(self.index.series_of_measurement(measurement)).tolist()
        self.delete([int(i) for i in ids])
        with self._write_lock:
            dropped = self.index.drop_measurement(measurement)
            self.index.flush()
            self.fields.pop(measurement, None)
            self._write_state("FIELDS", {"measurements": self.fields})
        return dropped

    def _install_tombstones(self) -> None:
        """Give each partition the deletes that cover it."""
        for partition in self.partitions.values():
            partition.tombstones = [
                Tombstone(frozenset(d["series"]), d["start"], d["end"], d["watermarks"][str(partition.start)])
                for d in self.deletes
                if str(partition.start) in d["watermarks"]
            ]

    def _forget_tombstones(self, compacted: list[int]) -> None:
        """A compacted partition holds no deleted rows any more: its watermarks can go."""
        changed = False
        for delete in self.deletes:
            for start in compacted:
                changed |= delete["watermarks"].pop(str(start), None) is not None
        if changed:
            self.deletes = [d for d in self.deletes if d["watermarks"]]
            self._write_state("TOMBSTONES", {"deletes": self.deletes})
            self._install_tombstones()

    # --- reads ---------------------------------------------------------------

    def read_series(
        self, series_id: int, columns: list[str] | None = None, start: int = I64_MIN, end: int = I64_MAX
    ) -> SeriesData | None:
        """The series' rows in [start, end): segments, then flushing memtables, then the live one."""
        parts: list[SeriesData] = []
        for partition_begin, partition in sorted(self.partitions.items()):
            if partition.end <= start or partition_begin >= end or not partition.might_contain(series_id):
                continue
            data = partition.read(series_id, columns, start, end)
            if data is not None:
                parts.append(data)
        for table in self.memtables():
            data = table.read(series_id, start, end, columns)
            if data is not None:
                parts.append(data)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else resolve(concat(parts))

    def last_sequence(self) -> int:
        """The WAL sequence of the latest logged write (0 without a WAL)."""
        return self._wal.last_sequence if self._wal is not None else 0

    def memtables(self) -> list[MemTable]:
        """The memtables a read must see, oldest first: those being flushed, then the live one."""
        with self._flush_done:
            return [*self.flushing, self.memtable]

    def measurements(self) -> list[str]:
        return sorted(m for m, fields in self.fields.items() if fields)

    def tag_keys(self, measurement: str) -> list[str]:
        return self.index.tags.tag_keys(measurement)

    def tag_values(self, measurement: str, key: str) -> list[str]:
        return self.index.tags.tag_values(measurement, key)

    def series_ids(self, measurement: str) -> list[int]:
        """Every series id of a measurement."""
        return [int(i) for i in self.index.ids_of(self.index.series_of_measurement(measurement)).tolist()]

    def field_types(self, measurement: str) -> dict[str, str]:
        return {name: KIND_NAMES[kind] for name, kind in sorted(self.fields.get(measurement, {}).items())}

    def statistics(self) -> dict[str, int]:
        segments = sum(len(p.segments()) for p in self.partitions.values())
        tiers: dict[str, int] = {}
        for info in self.partition_infos():
            tiers[f"partitions_{info.tier}"] = tiers.get(f"partitions_{info.tier}", 0) + 1
            tiers[f"bytes_{info.tier}"] = tiers.get(f"bytes_{info.tier}", 0) + info.size_bytes
        return {
            **{f"{kind}_{tier}": tiers.get(f"{kind}_{tier}", 0) for kind in ("partitions", "bytes") for tier in TIERS},
            **self.stats,
            "series": len(self.index),
            "measurements": len(self.measurements()),
            "memtable_points": self.memtable.points,
            "memtable_bytes": self.memtable.bytes,
            "partitions": len(self.partitions),
            "segments": segments,
            "checkpoint": self.checkpoint,
            "wal_sequence": self.last_sequence(),
        }


def _read_tier(directory: str) -> str:
    """The tier a partition's TIER file records; "hot" without one."""
    path = os.path.join(directory, TIER_FILE)
    if not os.path.exists(path):
        return "hot"
    try:
        with open(path, "rb") as handle:
            state = json.loads(handle.read())
        tier = state["tier"]
        version = state["version"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptDataError(path, f"unreadable tier file: {exc}") from exc
    if version > STATE_VERSION:
        raise CorruptDataError(path, f"tier file version {version} is newer than this build reads ({STATE_VERSION})")
    if tier not in TIERS:
        raise CorruptDataError(path, f"unknown tier {tier!r}")
    return str(tier)


def _write_tier(directory: str, tier: str) -> None:
    replace_durably(os.path.join(directory, TIER_FILE), json.dumps({"version": STATE_VERSION, "tier": tier}).encode())


def _copy_durably(source: str, target: str) -> None:
    shutil.copyfile(source, target)
    with open(target, "rb+") as handle:
        os.fsync(handle.fileno())


def _over_field_limit(measurement: str, batch: Any, known: dict[str, int], errors: list[LineProtocolError]) -> NDArray[np.bool_] | None:
    """The rows refused because the fields they add would give the measurement more than MAX_COLUMNS
    (a segment's limit per series), taken in line order; None when no row is."""
    new = [name for name in batch.columns if name not in known]
    if len(known) + len(new) <= MAX_COLUMNS:
        return None
    rows = len(batch.timestamps)
    over = np.zeros(rows, dtype=np.bool_)
    taken: set[str] = set()
    present = {name: batch.columns[name].present for name in new}
    for row in range(rows):
        adds = [name for name in new if name not in taken and (present[name] is None or bool(present[name][row]))]
        if len(known) + len(taken) + len(adds) > MAX_COLUMNS:
            over[row] = True
            errors.append(LineProtocolError(int(batch.lines[row]), 0, f"measurement {measurement!r} would have "
                                            f"{len(known) + len(taken) + len(adds)} fields, at most {MAX_COLUMNS} are allowed"))
        else:
            taken.update(adds)
    return over


def _refuse_rows(batch: Any, errors: list[LineProtocolError], message: str) -> None:
    """Refuse every line of a series batch with `message`."""
    for line in sorted(set(int(n) for n in batch.lines.tolist())):
        errors.append(LineProtocolError(line, 0, message))
