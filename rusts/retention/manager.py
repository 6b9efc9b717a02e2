"""Runs retention passes against a storage engine and reports policies, tiers and bytes.

The server runs a pass at start and every `check_interval_secs` (rusts.server.main);
tests call `run_once` with an injected clock. Downsampling policies (rusts.aggregation) add
their periods: the raw measurement's (when the policy gives one) and each tier's, over the
configured ones. `attach` makes the manager of an engine
findable from layers that only hold the engine (SHOW RETENTION POLICIES, /stats).
"""

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

from rusts.retention.policy import Action, RetentionPolicy, format_duration, plan
from rusts.storage.engine import TIERS, StorageEngine

_log = logging.getLogger("rusts.retention")
_MANAGERS: "weakref.WeakKeyDictionary[StorageEngine, RetentionManager]" = weakref.WeakKeyDictionary()


class PassResult:
    """What one pass did."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.dropped: list[int] = []
        self.deleted: list[tuple[int, str]] = []
        self.tiered: list[tuple[int, str]] = []
        self.bytes_before = 0
        self.bytes_after = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "dropped_partitions": len(self.dropped),
            "deleted_measurement_windows": len(self.deleted),
            "tiered_partitions": len(self.tiered),
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
        }


class RetentionManager:
    """Applies a RetentionPolicy to one engine; one pass at a time."""

    def __init__(self, engine: StorageEngine, policy: RetentionPolicy, clock: Callable[[], int] | None = None) -> None:
        self.engine = engine
        self.policy = policy
        self.clock = clock if clock is not None else engine.options.clock
        self.passes = 0
        self.last: PassResult | None = None
        self._lock = threading.Lock()

    def run_once(self) -> PassResult:
        """One pass: plan at the clock's time, then apply (drops, deletes, tier moves)."""
        with self._lock:
            now = self.clock()
            result = PassResult(now)
            infos = self.engine.partition_infos()
            result.bytes_before = sum(info.size_bytes for info in infos)
            actions = plan(self.effective_policy(), infos, self.engine.partition_measurements, now)
            deleted = False
            for action in actions:
                deleted |= self._apply(action, result)
            if deleted:
                # Rewrites the partitions under the new tombstones, so their rows leave the disk.
                self.engine.compact(self.engine.options.compact_min_segments)
            result.bytes_after = sum(info.size_bytes for info in self.engine.partition_infos())
            self.passes += 1
            self.last = result
        if result.dropped or result.deleted or result.tiered:
            _log.info(
                "retention pass: dropped %d partitions, deleted %d measurement windows, moved %d partitions between tiers; %d -> %d bytes",
                len(result.dropped), len(result.deleted), len(result.tiered), result.bytes_before, result.bytes_after,
            )
        return result

    def effective_policy(self) -> RetentionPolicy:
        """The policy with the periods of downsampling policies (raw and tiers) over its own."""
        from rusts.aggregation.downsampling import periods  # rusts.aggregation imports this module

        extra = periods(self.engine)
        if not extra:
            return self.policy
        p = self.policy
        return RetentionPolicy(p.default_ns, {**p.measurements, **extra}, p.warm_after_ns, p.cold_after_ns, p.check_interval_secs)

    def _apply(self, action: Action, result: PassResult) -> bool:
        """Carry out one action; True when it deleted rows (a compaction should follow)."""
        if action.kind == "drop":
            if self.engine.drop_partition(action.start):
                result.dropped.append(action.start)
            return False
        if action.kind == "delete":
            end = action.start + self.engine.options.partition_duration_ns
            for measurement in action.measurements:
                ids = self.engine.series_ids(measurement)
                self.engine.delete(ids, action.start, end, notify=False)
                result.deleted.append((action.start, measurement))
            return True
        if action.kind == "tier":
            if self.engine.set_tier(action.start, action.tier):
                result.tiered.append((action.start, action.tier))
            return False
        raise AssertionError(f"BUG: unknown retention action {action.kind!r}")

    # --- reports ---------------------------------------------------------------

    def policy_rows(self) -> list[list[Any]]:
        """[measurement, retention, warm_after, cold_after]: the default first (measurement "*")."""
        policy = self.effective_policy()
        warm, cold = format_duration(policy.warm_after_ns), format_duration(policy.cold_after_ns)
        rows: list[list[Any]] = [["*", format_duration(policy.default_ns), warm, cold]]
        for measurement, period in sorted(policy.measurements.items()):
            rows.append([measurement, format_duration(period), warm, cold])
        return rows

    def partition_rows(self) -> list[list[Any]]:
        """[start ns, end ns, tier, bytes, segments, directory] of every partition, oldest first."""
        return [
            [info.start, info.end, info.tier, info.size_bytes, info.segments, info.directory]
            for info in self.engine.partition_infos()
        ]

    def report(self) -> dict[str, Any]:
        """Policies, each partition's tier and bytes, bytes per tier, and the last pass (for /stats)."""
        partitions = self.engine.partition_infos()
        bytes_per_tier = {tier: sum(p.size_bytes for p in partitions if p.tier == tier) for tier in TIERS}
        return {
            "policies": [
                {"measurement": m, "retention": r, "warm_after": w, "cold_after": c} for m, r, w, c in self.policy_rows()
            ],
            "check_interval_secs": self.policy.check_interval_secs,
            "partitions": [
                {"start": p.start, "end": p.end, "tier": p.tier, "bytes": p.size_bytes, "segments": p.segments}
                for p in partitions
            ],
            "bytes_per_tier": bytes_per_tier,
            "passes": self.passes,
            "last_pass": self.last.as_dict() if self.last is not None else None,
            "downsampling": downsampling_report(self.engine),
        }


def downsampling_report(engine: StorageEngine) -> dict[str, Any]:
    """Downsampling policies and which tier answered how many queries (rusts.aggregation.downsampling)."""
    from rusts.aggregation.downsampling import report  # rusts.aggregation imports this module

    return report(engine)


def attach(engine: StorageEngine, manager: RetentionManager) -> None:
    """Make `manager` the one `manager_of(engine)` finds."""
    _MANAGERS[engine] = manager


def manager_of(engine: StorageEngine) -> RetentionManager | None:
    return _MANAGERS.get(engine)


def default_manager(engine: StorageEngine) -> RetentionManager:
    """The attached manager, or one that keeps everything with the engine's warm rule (no passes run)."""
    found = _MANAGERS.get(engine)
    if found is not None:
        return found
    return RetentionManager(engine, RetentionPolicy(warm_after_ns=engine.options.cold_after_ns))

