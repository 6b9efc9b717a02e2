"""Convergence (anti-entropy): copies of a shard that took overwrites of one point in different
orders are made equal again, without an operator.

Two coordinators writing the same point (series and time) at once forward their values to every
holder; the holders may store them in different orders and so keep different values, and hinted
handoff cannot notice (every holder stored every write). Only an overwrite can do this: a write
of a new point reaches every holder and is kept by all of them. So:

1. Every shard engine a node holds has an `OverwriteWatch` (StorageEngine.overwrite_watch, called
   under the write lock). It keeps the latest time stored per series since the node started; a
   write reaching at or before it (an overwrite, or a late point: the watch cannot tell them apart
   cheaply and need not) marks the WINDOW_NS windows of the measurement it falls in as dirty, with
   the time of the mark.
2. A `Converger` (a thread per node) takes the windows that were quiet (no new mark) for
   `anti_entropy_quiet_secs` (cluster.toml, this node's own), times its rank among the shard's
   holders plus one, so that the first holder in cluster.toml order usually checks first and the
   others find the copies equal. Consecutive windows of a measurement are checked as one range.
   A range is checked only while every holder of the shard answers and misses nothing (no hints
   pending for it anywhere, no resync mark: hints and repairs settle those, and comparing copies
   before they did would copy stale points around); otherwise it waits.
3. The range's fingerprint (rusts.cluster.checksum.range_fingerprint) is taken on every holder.
   Equal: done. Unequal and large (more than ROWS_PER_MERGE points on a copy): the range is split
   in two and each half checked, so only the parts that differ are read. Small: every copy's points
   are read (GET /internal/points), merged, and each holder is sent the merged points it lacks or
   holds with other values (POST /internal/write, an ordinary write).

The merge keeps every point any copy holds (a repair never loses a write) and, per field, the value
of the copy with the highest precedence: a copy a strict majority of holders share comes first
(with three copies, the value a quorum acknowledged), then the shard's holders in cluster.toml
order (the owner first). Every holder that runs the merge computes the same result, so two nodes
converging one range at once send the same values.

What this promises: once writes to a range stop, every copy of it becomes equal within about
(holders + 1) * quiet seconds plus the time to read the range, to a value one of the writers sent.
It is not last-writer-wins: of two writes racing to the same point, either may stay (as with
concurrent writers on one node, which one lands last is not defined), and in Async mode a write
acknowledged after another to the same point can lose to it when their background deliveries
cross. The watch's memory of the latest time per series starts empty when a node starts, so an
overwrite racing with the first write of its series after a restart goes unnoticed until the
next write that overwrites a point of that range. A delete that races with the merge of its range
could have the deleted points copied back: a delete seen by this node's engine while a range is
being merged makes the merge stop and the range wait for the next round, which narrows that to a
delete still in flight to this node. Continuous aggregates are told of the points a merge changed.
"""

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, Final
from urllib.parse import urlencode

import msgspec

from rusts.cluster.checksum import Point, ShardFingerprint, points_in, range_fingerprint
from rusts.cluster.client import Peer
from rusts.cluster.repair import RepairError, batches_of_points, peer_answer
from rusts.cluster.sharding import NANOS_PER_SECOND, Sharding
from rusts.storage.engine import StorageEngine
from rusts.storage.wal_batches import format_lines

WINDOW_NS: Final = 600 * NANOS_PER_SECOND  # a dirty mark covers the 10-minute windows its points fall in
ROWS_PER_MERGE: Final = 50_000  # a range whose copies hold more is split before its points are read
WIDE_WINDOWS: Final = 10_000  # a mark spanning more windows is kept as one range
MAX_WATCHED_SERIES: Final = 2_000_000  # the watch forgets every series past this many (about 200 MB)
CLOSE_WAIT_SECS: Final = 10.0

_log = logging.getLogger("rusts.cluster")

# (measurement, start, end): the points of `measurement` with start <= time < end
Range = tuple[str, int, int]
PointKey = tuple[tuple[tuple[str, str], ...], int]


class CopyPoints(msgspec.Struct):
    """GET /internal/points: one copy's points of a measurement's range, and the kinds of their fields."""

    kinds: dict[str, int]
    points: list[Point]


class ConvergenceStats(msgspec.Struct):
    """What this node's converger did since it started (part of GET /cluster/status)."""

    dirty_windows: int = 0  # windows marked and not checked yet
    ranges_checked: int = 0
    ranges_repaired: int = 0  # ranges whose copies differed and were merged
    points_repaired: int = 0  # points sent to a holder by those merges
    last_error: str = ""


class OverwriteWatch:
    """The latest time stored per series of one shard engine, and the windows that took a point at
    or before it. `seen` runs under the engine's write lock; the converger takes windows apart."""

    def __init__(self) -> None:
        self._latest: dict[int, int] = {}
        self._dirty: dict[str, dict[int, float]] = {}  # measurement -> window -> when last marked (monotonic)
        self._wide: list[tuple[str, int, int, float]] = []  # (measurement, start, end, when)
        self._lock = threading.Lock()
        self.deletes = 0  # deletes the engine stored (a merge that saw one meanwhile stops)

    def seen(self, measurements: list[str], series_ids: list[int], lows: list[int], highs: list[int]) -> None:
        """A write stored these series' points, each from lows[i] to highs[i]."""
        latest = self._latest
        if len(latest) > MAX_WATCHED_SERIES:
            latest.clear()
        marks: list[tuple[str, int, int]] = []
        for measurement, series_id, low, high in zip(measurements, series_ids, lows, highs):
            before = latest.get(series_id)
            if before is None or low > before:
                latest[series_id] = high
                continue
            if high > before:
                latest[series_id] = high
            marks.append((measurement, low, min(high, before)))
        if marks:
            now = time.monotonic()
            for measurement, low, high in marks:
                self.mark(measurement, low, high + 1, now)

    def deleted(self, series_ids: list[int], start: int, end: int) -> None:
        """The engine's delete listener."""
        self.deletes += 1

    def mark(self, measurement: str, start: int, end: int, when: float) -> None:
        """Mark [start, end) of `measurement` dirty as of `when`."""
        first, last = start // WINDOW_NS, (end - 1) // WINDOW_NS
        with self._lock:
            if last - first >= WIDE_WINDOWS:
                self._wide.append((measurement, start, end, when))
                return
            windows = self._dirty.setdefault(measurement, {})
            for window in range(first, last + 1):
                if windows.get(window, 0.0) < when:
                    windows[window] = when

    def take_quiet(self, before: float) -> list[Range]:
        """The ranges marked last before `before`, removed from the watch: consecutive windows of a
        measurement as one range."""
        ranges: list[Range] = []
        with self._lock:
            for measurement in sorted(self._dirty):
                windows = self._dirty[measurement]
                quiet = sorted(window for window, when in windows.items() if when < before)
                for window in quiet:
                    del windows[window]
                if not windows:
                    del self._dirty[measurement]
                for first, last in _runs(quiet):
                    ranges.append((measurement, first * WINDOW_NS, (last + 1) * WINDOW_NS))
            wide = [entry for entry in self._wide if entry[3] < before]
            self._wide = [entry for entry in self._wide if entry[3] >= before]
        ranges.extend((measurement, start, end) for measurement, start, end, _ in wide)
        return ranges

    def dirty_windows(self) -> int:
        with self._lock:
            return sum(len(windows) for windows in self._dirty.values()) + len(self._wide)


def _runs(windows: list[int]) -> Iterator[tuple[int, int]]:
    """Sorted window numbers as (first, last) runs of consecutive ones."""
    if not windows:
        return
    first = last = windows[0]
    for window in windows[1:]:
        if window != last + 1:
            yield first, last
            first = window
        last = window
    yield first, last


def precedence(holders: list[str], prints: dict[str, ShardFingerprint]) -> list[str]:
    """The holders, the copy whose value wins first: those sharing a fingerprint a strict majority
    of holders have, then the others in `holders` order (cluster.toml's, the owner first)."""
    digest, votes = Counter(prints[holder].digest for holder in holders).most_common(1)[0]
    first = [holder for holder in holders if prints[holder].digest == digest] if votes * 2 > len(holders) else []
    return first + [holder for holder in holders if holder not in first]


def merge(copies: list[list[Point]]) -> dict[PointKey, dict[str, Any]]:
    """Every point of every copy (copies in precedence order, the winning one first), each field
    with the value of the first copy that has one."""
    merged: dict[PointKey, dict[str, Any]] = {}
    for points in reversed(copies):
        for at, tags, fields in points:
            key = (tuple((key, value) for key, value in tags), at)
            slot = merged.get(key)
            if slot is None:
                merged[key] = dict(fields)
            else:
                slot.update(fields)
    return merged


def missing_from(merged: dict[PointKey, dict[str, Any]], points: list[Point]) -> list[Point]:
    """The merged points a copy holding `points` lacks, or holds with other values or fewer fields."""
    have = {(tuple((key, value) for key, value in tags), at): fields for at, tags, fields in points}
    return [(at, list(tags), fields) for (tags, at), fields in merged.items() if have.get((tags, at)) != fields]


class Converger:
    """This node's side of convergence: a thread checking the quiet dirty ranges of its shards.

    `engines`: this node's shard engines; each shard with more than one holder gets an OverwriteWatch.
    `peers`: a client per peer for this thread alone (patient enough to read a range; closed by
    `close`); `ready(node_id)`: whether a holder answers and misses nothing; `tell(measurement,
    times)`: the continuous aggregates' notice of points a merge changed."""

    def __init__(
        self,
        node_id: str,
        sharding: Sharding,
        engines: dict[int, StorageEngine],
        peers: dict[str, Peer],
        ready: Callable[[str], bool],
        tell: Callable[[str, list[int]], None],
        quiet_secs: float,
        interval: float,
    ) -> None:
        self.node_id = node_id
        self.sharding = sharding
        self.engines = engines
        self.watches: dict[int, OverwriteWatch] = {}
        for shard, engine in engines.items():
            if len(sharding.owners(shard)) < 2:
                continue  # one copy: nothing to compare it with
            watch = OverwriteWatch()
            engine.overwrite_watch = watch.seen
            engine.delete_listeners.append(watch.deleted)
            self.watches[shard] = watch
        self._peers = peers
        self._ready = ready
        self._tell = tell
        self.quiet_secs = quiet_secs
        self.interval = interval
        self.stats = ConvergenceStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="rusts-converge", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread: it ends after its current request (a peer that stopped answering is given
        up on at the clients' timeout; the thread is a daemon, so shutting down does not wait that long)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=CLOSE_WAIT_SECS)
        for peer in self._peers.values():
            peer.close()

    def status(self) -> ConvergenceStats:
        dirty = sum(watch.dirty_windows() for watch in self.watches.values())
        return msgspec.structs.replace(self.stats, dirty_windows=dirty)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.round()
            except Exception:
                _log.exception("convergence round failed; the next one retries")

    def round(self) -> None:
        """Check every range of this node's shards that has been quiet long enough."""
        now = time.monotonic()
        for shard, watch in self.watches.items():
            holders = self.sharding.owners(shard)
            ranges = watch.take_quiet(now - self.quiet_secs * (1 + holders.index(self.node_id)))
            if not ranges:
                continue
            if not all(self._ready(holder) for holder in holders):
                for measurement, start, end in ranges:
                    watch.mark(measurement, start, end, 0.0)  # checked once every holder can be
                continue
            for measurement, start, end in ranges:
                if self._stop.is_set():
                    return
                try:
                    self.converge(shard, holders, measurement, start, end)
                except RepairError as error:
                    self.stats.last_error = str(error)
                    _log.warning("convergence of shard %d (%s) waits for the next round: %s", shard, measurement, error)
                    watch.mark(measurement, start, end, 0.0)

    def converge(self, shard: int, holders: list[str], measurement: str, start: int, end: int) -> int:
        """Make every holder's copy of `measurement` in [start, end) equal; the points sent."""
        prints = {holder: self._fingerprint(holder, shard, measurement, start, end) for holder in holders}
        self.stats.ranges_checked += 1
        if len({found.digest for found in prints.values()}) == 1:
            return 0
        if max(found.points.get(measurement, 0) for found in prints.values()) > ROWS_PER_MERGE and end - start > 1:
            middle = start + (end - start) // 2
            return self.converge(shard, holders, measurement, start, middle) + self.converge(shard, holders, measurement, middle, end)
        watch = self.watches[shard]
        deletes = watch.deletes
        copies = {holder: self._points(holder, shard, measurement, start, end) for holder in holders}
        merged = merge([copies[holder].points for holder in precedence(holders, prints)])
        kinds: dict[str, int] = {}
        for copy in copies.values():
            kinds.update(copy.kinds)
        sent = 0
        changed: set[int] = set()
        for holder in holders:
            missing = missing_from(merged, copies[holder].points)
            if not missing:
                continue
            if watch.deletes != deletes:
                raise RepairError(f"a delete reached shard {shard} while {measurement!r} was being merged")
            self._send(holder, shard, format_lines(batches_of_points(measurement, missing, kinds)).encode("utf-8"))
            sent += len(missing)
            changed.update(at for at, _, _ in missing)
        self.stats.ranges_repaired += 1
        self.stats.points_repaired += sent
        if changed:
            _log.info("converged shard %d (%s): %d point(s) sent", shard, measurement, sent)
            self._tell(measurement, sorted(changed))
        return sent

    def _fingerprint(self, holder: str, shard: int, measurement: str, start: int, end: int) -> ShardFingerprint:
        if holder == self.node_id:
            return range_fingerprint(self.engines[shard], measurement, start, end)
        peer = self._peers[holder]
        outcome = peer.get(f"/internal/fingerprint?{_range_query(shard, measurement, start, end)}&timeout={peer.timeout:g}")
        return peer_answer(outcome, ShardFingerprint, f"the fingerprint of shard {shard} ({measurement})")

    def _points(self, holder: str, shard: int, measurement: str, start: int, end: int) -> CopyPoints:
        if holder == self.node_id:
            return copy_points(self.engines[shard], measurement, start, end)
        peer = self._peers[holder]
        outcome = peer.get(f"/internal/points?{_range_query(shard, measurement, start, end)}&timeout={peer.timeout:g}")
        return peer_answer(outcome, CopyPoints, f"the points of shard {shard} ({measurement})", packed=True)

    def _send(self, holder: str, shard: int, body: bytes) -> None:
        if holder == self.node_id:
            result = self.engines[shard].write_line_protocol(body, 1, None)
            if result.errors:
                raise RepairError(f"shard {shard} here refused merged points: {result.errors[0].message}")
            return
        outcome = self._peers[holder].write(shard, body)
        if not outcome.stored or outcome.status != 204:
            said = outcome.error or outcome.body[:300].decode("utf-8", "replace")
            raise RepairError(f"sending merged points of shard {shard} to {holder} failed: {said}")


def copy_points(engine: StorageEngine, measurement: str, start: int, end: int, timeout: float | None = None) -> CopyPoints:
    """This copy's points of `measurement` in [start, end), for GET /internal/points."""
    return CopyPoints(dict(engine.fields.get(measurement, {})), list(points_in(engine, measurement, start, end, timeout)))


def _range_query(shard: int, measurement: str, start: int, end: int) -> str:
    return urlencode({"shard": shard, "measurement": measurement, "start": start, "end": end})
