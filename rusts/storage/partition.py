"""Time partitions: one directory per time window, holding immutable segments and a manifest.

Layout under `<data_dir>/partitions/`:

    p<start_ns>_<duration_ns>/            one window [start, start + duration)
        MANIFEST                          which segments are live, atomically replaced
        seg-<generation:016d>.rseg        segment files (rusts.storage.segment)

MANIFEST is JSON: {"version": 1, "start": ns, "duration": ns,
"segments": [generation, ...], "next_generation": n}. It is written to a
temporary file, fsynced, renamed over the old one, and the directory is
fsynced. A segment file not named in the manifest is garbage from an
interrupted flush or compaction and is deleted when the partition opens.
So a flush or a compaction killed at any point leaves the old or the new
set of segments, never both and never neither: compaction writes the merged
segment, then the manifest without its inputs, then deletes the inputs.

Rows of one series may sit in several segments; a later generation wins
per field for equal timestamps (rusts.storage.memtable.resolve).
"""

import json
import logging
import os
import threading
from collections.abc import Iterable

import numpy as np

from rusts.compression.block import ZSTD_LEVEL, zstd_level_of_blocks
from rusts.core import workers
from rusts.core.errors import CorruptDataError
from rusts.index.bloom import BloomFilter
from rusts.storage.columns import SeriesData
from rusts.storage.memtable import concat, resolve
from rusts.storage.segment import TIME_MAX, TIME_MIN, SegmentReader, write_segment

MANIFEST = "MANIFEST"
MANIFEST_VERSION = 1
_BLOOM_ANSWERS_KEPT = 100_000
# Segments of at least this many rows are encoded in a worker process (rusts.core.workers) when
# one is free: encoding is most of a flush's CPU, and the server's own process is busy with
# HTTP, the WAL and the memtable. Smaller ones are not worth pickling.
OFFLOAD_MIN_ROWS = 10_000
_log = logging.getLogger("rusts.storage.partition")


class Tombstone:
    """A delete of rows of some series in [start, end), covering segments with generation < watermark.

    Segments written after the delete (flushes of newer writes, compactions
    that already dropped the rows) have a generation at or above the
    watermark, so the tombstone does not touch them.
    """

    __slots__ = ("series_ids", "start", "end", "watermark")

    def __init__(self, series_ids: frozenset[int], start: int, end: int, watermark: int) -> None:
        self.series_ids = series_ids
        self.start = start
        self.end = end
        self.watermark = watermark


def fsync_directory(path: str) -> None:
    """Make a rename or unlink in `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(path: str, data: bytes) -> None:
    """`path` holds `data` whole, old or new after a crash: written to `<path>.tmp`, fsynced, renamed
    over `path`, and the rename made durable."""
    temporary = path + ".tmp"
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_directory(os.path.dirname(path) or ".")


def partition_start(timestamp: int, duration: int) -> int:
    """The start of the window that holds `timestamp` (floor division, so negative times work)."""
    return (timestamp // duration) * duration


class Partition:
    """One time window's segments. Thread-safe; readers see a consistent set of segments."""

    def __init__(self, directory: str, start: int, duration: int, bloom_fpr: float = 0.01) -> None:
        self.directory = directory
        self.start = start
        self.duration = duration
        self.bloom_fpr = bloom_fpr
        self.readers: dict[int, SegmentReader] = {}
        self.bloom: BloomFilter | None = None
        self._bloom_answers: dict[int, bool] = {}
        self.next_generation = 1
        self._lock = threading.Lock()
        # Held by add_segment and compact: a merged segment must never get a
        # newer generation than a segment flushed while it was being written.
        self._mutation = threading.Lock()
        # Readers of compacted-away segments: a query may still be reading
        # them (their files are unlinked, which keeps the data readable), so
        # they are closed at the next compaction or at close.
        self._retired: list[SegmentReader] = []
        # Deletes that cover segments older than their watermark (set by the engine).
        self.tombstones: list[Tombstone] = []

    @property
    def end(self) -> int:
        return self.start + self.duration

    @staticmethod
    def directory_name(start: int, duration: int) -> str:
        return f"p{start}_{duration}"

    @classmethod
    def open(cls, directory: str, start: int, duration: int, bloom_fpr: float = 0.01) -> "Partition":
        """Open (or create) a partition directory, dropping segments the manifest does not name."""
        os.makedirs(directory, exist_ok=True)
        partition = cls(directory, start, duration, bloom_fpr)
        generations = partition._read_manifest()
        for generation in generations:
            partition.readers[generation] = SegmentReader.open(partition.segment_path(generation))
        live = {os.path.basename(partition.segment_path(g)) for g in generations}
        for name in os.listdir(directory):
            if name.startswith("seg-") and name not in live:
                _log.warning("removing %s: not in %s (an interrupted flush or compaction)", name, MANIFEST)
                os.remove(os.path.join(directory, name))
        partition._rebuild_bloom()
        return partition

    def _rebuild_bloom(self) -> None:
        """The filter over every live segment's series ids (rebuilt from segment footers, not stored)."""
        ids = [np.asarray(reader.series_ids(), dtype=np.uint64) for reader in self.readers.values()]
        every = np.unique(np.concatenate(ids)) if ids else np.empty(0, dtype=np.uint64)
        bloom = BloomFilter.for_capacity(max(len(every), 1), self.bloom_fpr)
        bloom.add_many(every)
        self.bloom = bloom
        self._bloom_answers = {}

    def might_contain(self, series_id: int) -> bool:
        """False only when no segment of this partition holds the series (bloom filter).

        Answers are remembered until the segments change: queries ask about the
        same series again and again, and a probe costs several microseconds in Python.
        """
        answer = self._bloom_answers.get(series_id)
        if answer is None:
            bloom = self.bloom
            answer = bloom is not None and bloom.might_contain(series_id)
            if len(self._bloom_answers) >= _BLOOM_ANSWERS_KEPT:
                self._bloom_answers = {}
            self._bloom_answers[series_id] = answer
        return answer

    def segment_path(self, generation: int) -> str:
        return os.path.join(self.directory, f"seg-{generation:016d}.rseg")

    def _read_manifest(self) -> list[int]:
        path = os.path.join(self.directory, MANIFEST)
        if not os.path.exists(path):
            # Only a first flush cut short leaves a segment before the partition's first manifest, and
            # only its first generation: more is a lost manifest, and removing them would lose data.
            found = sorted(name for name in os.listdir(self.directory) if name.startswith("seg-") and name.endswith(".rseg"))
            if found and found != [os.path.basename(self.segment_path(1))]:
                raise CorruptDataError(path, f"missing, while the partition holds {len(found)} segment(s) ({found[-1]} the "
                                             "newest): restore the MANIFEST, or move the partition directory away")
            return []
        try:
            with open(path, "rb") as handle:
                manifest = json.loads(handle.read())
            version = manifest["version"]
            generations = [int(g) for g in manifest["segments"]]
            next_generation = int(manifest["next_generation"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptDataError(path, f"unreadable manifest: {exc}") from exc
        if version > MANIFEST_VERSION:
            raise CorruptDataError(path, f"manifest version {version} is newer than this build reads ({MANIFEST_VERSION})")
        self.next_generation = max(next_generation, max(generations, default=0) + 1)
        return generations

    def _write_manifest(self, generations: list[int]) -> None:
        path = os.path.join(self.directory, MANIFEST)
        manifest = {
            "version": MANIFEST_VERSION,
            "start": self.start,
            "duration": self.duration,
            "segments": sorted(generations),
            "next_generation": self.next_generation,
        }
        replace_durably(path, json.dumps(manifest).encode())

    def add_segment(self, series: Iterable[SeriesData], outer: str, zstd_level: int) -> int:
        """Write a new segment of `series` (sorted, deduplicated rows) and make it live; its generation."""
        with self._mutation:
            return self._add_segment(series, outer, zstd_level)

    def _add_segment(self, series: Iterable[SeriesData], outer: str, zstd_level: int) -> int:
        with self._lock:
            generation = self.next_generation
            self.next_generation += 1
        path = self.segment_path(generation)
        _write_flushed(path, list(series), outer, zstd_level)
        reader = SegmentReader.open(path)
        with self._lock:
            self.readers[generation] = reader
            self._write_manifest(list(self.readers))
            self._rebuild_bloom()
        return generation

    def segments(self) -> list[tuple[int, SegmentReader]]:
        """Live segments, oldest first."""
        with self._lock:
            return sorted(self.readers.items())

    def read(self, series_id: int, columns: list[str] | None, start: int, end: int) -> SeriesData | None:
        """The series' rows in [start, end) across segments, later generations winning, tombstones applied."""
        return read_series(self.segments(), self.tombstones, series_id, columns, start, end)

    def series_ids(self) -> set[int]:
        ids: set[int] = set()
        for _, reader in self.segments():
            ids.update(int(i) for i in reader.series_ids())
        return ids

    def compact(self, outer: str, zstd_level: int, min_segments: int = 2) -> bool:
        """Merge all live segments into one; False when there is nothing to merge.

        The merged segment becomes live in the same manifest write that
        retires its inputs, so a crash never loses or doubles a point.
        """
        with self._mutation:
            return self._compact(outer, zstd_level, min_segments)

    def _compact(self, outer: str, zstd_level: int, min_segments: int) -> bool:
        for old in self._retired:
            old.close()
        self._retired.clear()
        inputs = self.segments()
        if len(inputs) < min_segments:
            return False
        series = sorted(set().union(*(set(int(i) for i in r.series_ids()) for _, r in inputs)))
        merged = (read_series(inputs, self.tombstones, series_id, None, TIME_MIN, TIME_MAX) for series_id in series)
        with self._lock:
            generation = self.next_generation
            self.next_generation += 1
        path = self.segment_path(generation)
        # Under a Zstd outer codec the level reaches the codecs that end in Zstd themselves too (the
        # numeric ones, most of the bytes): without it the cold tier's higher level barely shrinks a segment.
        with zstd_level_of_blocks(zstd_level if outer == "zstd" else ZSTD_LEVEL):
            write_segment(path, (data for data in merged if data is not None), outer=outer, zstd_level=zstd_level)
        reader = SegmentReader.open(path)
        retired = [g for g, _ in inputs]
        with self._lock:
            for g in retired:
                self.readers.pop(g, None)
            self.readers[generation] = reader
            self._write_manifest(list(self.readers))
            self._rebuild_bloom()
        for g, old in inputs:
            self._retired.append(old)
            os.remove(self.segment_path(g))
        fsync_directory(self.directory)
        return True

    def close(self) -> None:
        with self._lock:
            for reader in [*self.readers.values(), *self._retired]:
                reader.close()
            self.readers.clear()
            self._retired.clear()


def read_series(
    segments: list[tuple[int, SegmentReader]],
    tombstones: list[Tombstone],
    series_id: int,
    columns: list[str] | None,
    start: int,
    end: int,
) -> SeriesData | None:
    """A series' rows in [start, end) across a partition's segments (by generation, oldest
    first), later generations winning, tombstones applied."""
    parts: list[SeriesData] = []
    for generation, reader in segments:
        if not reader.has_series(series_id):
            continue
        data = reader.read(series_id, columns, start, end)
        if data is not None and len(data):
            data = _without_deleted(tombstones, data, generation)
        if data is not None and len(data):
            parts.append(data)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else resolve(concat(parts))


def _without_deleted(tombstones: list[Tombstone], data: SeriesData, generation: int) -> SeriesData | None:
    """`data` from segment `generation` minus the rows a later delete covers."""
    keep: np.ndarray | None = None
    for tombstone in tombstones:
        if generation >= tombstone.watermark or data.series_id not in tombstone.series_ids:
            continue
        covered = (data.timestamps >= tombstone.start) & (data.timestamps < tombstone.end)
        keep = ~covered if keep is None else keep & ~covered
    if keep is None:
        return data
    rows = np.flatnonzero(keep)
    return data.take(rows) if len(rows) else None


def _write_flushed(path: str, series: list[SeriesData], outer: str, zstd_level: int) -> None:
    """write_segment, in a worker process when the segment is large and one is free. The same
    bytes either way; a worker that fails leaves the write to this process (which raises the
    real error, e.g. a full disk)."""
    if sum(len(data) for data in series) >= OFFLOAD_MIN_ROWS:
        pool = workers.shared_pool()
        written = None if pool is None else pool.call("rusts.storage.segment_write:write_segment_at", path, series, outer, zstd_level)
        if written is not None:
            _, temporary = written
            os.replace(temporary, path)
            fsync_directory(os.path.dirname(path))
            return
    write_segment(path, series, outer=outer, zstd_level=zstd_level)
