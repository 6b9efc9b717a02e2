"""Retention and tiering policies, and the plan of one retention pass (pure: no I/O).

A policy says how long each measurement's points are kept (a default, and
per-measurement entries where null means "forever") and when partitions
move to the warm and cold storage tiers (rusts.storage.engine explains the
tiers). A pass looks at every partition once and plans:

- drop: every measurement with series in the partition is past its
  retention at the partition's end. The directory goes whole; nothing is
  rewritten.
- delete: some measurements in the partition are past their retention and
  others are not (partitions hold every measurement of their window). Those
  measurements' rows of the window are deleted (a tombstone), and the
  partition is rewritten once by compaction. This costs a rewrite of the
  partition, once per measurement expiring in it (usually once per
  partition, when the measurements sharing it have few distinct periods).
- tier: the partition's age (now - its end) has reached warm_after or
  cold_after and its tier is behind, or a tiered partition holds segments in
  more than one codec (late points flushed hot).

Decisions use the partition's end, the newest time it can hold, so no
partition or row inside a retention period is ever dropped or deleted.
"""

import re
from collections.abc import Callable
from typing import NamedTuple

from rusts.storage.engine import TIERS, PartitionInfo

_DURATION = re.compile(r"(?P<count>[0-9]+)(?P<unit>ns|us|ms|s|m|h|d|w)")
_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "w": 7 * 86_400_000_000_000,
}


def parse_duration(text: str) -> int:
    """Nanoseconds of a duration such as "90s", "12h", "30d", "2w"; ValueError naming the text."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match["count"]) == 0:
        raise ValueError(f"invalid duration {text!r}: expected a positive whole number and a unit (s, m, h, d, w), e.g. 30d")
    return int(match["count"]) * _UNIT_NS[match["unit"]]


def format_duration(ns: int | None) -> str:
    """The shortest exact text for a duration ("forever" for None)."""
    if ns is None:
        return "forever"
    for unit in ("w", "d", "h", "m", "s", "ms", "us"):
        if ns % _UNIT_NS[unit] == 0:
            return f"{ns // _UNIT_NS[unit]}{unit}"
    return f"{ns}ns"


class RetentionPolicy:
    """How long points are kept and when partitions change tier; durations in ns, None = never."""

    def __init__(
        self,
        default_ns: int | None = None,
        measurements: dict[str, int | None] | None = None,
        warm_after_ns: int | None = None,
        cold_after_ns: int | None = None,
        check_interval_secs: float = 300.0,
    ) -> None:
        self.default_ns = default_ns
        self.measurements = dict(measurements or {})
        self.warm_after_ns = warm_after_ns
        self.cold_after_ns = cold_after_ns
        self.check_interval_secs = check_interval_secs
        for name, value in [("default", default_ns), ("warm_after", warm_after_ns), ("cold_after", cold_after_ns)]:
            if value is not None and value <= 0:
                raise ValueError(f"retention {name} must be positive, got {value} ns")
        for measurement, value in self.measurements.items():
            if value is not None and value <= 0:
                raise ValueError(f"retention of measurement {measurement!r} must be positive, got {value} ns")
        if warm_after_ns is not None and cold_after_ns is not None and cold_after_ns < warm_after_ns:
            raise ValueError("retention cold_after must not be shorter than warm_after")

    def retention_of(self, measurement: str) -> int | None:
        """The measurement's retention period in ns; None = forever."""
        if measurement in self.measurements:
            return self.measurements[measurement]
        return self.default_ns

    def expired(self, measurement: str, partition_end: int, now: int) -> bool:
        """Whether every point the measurement can have in a partition ending at `partition_end`
        is past its retention."""
        period = self.retention_of(measurement)
        return period is not None and partition_end <= now - period

    def tier_for(self, partition_end: int, now: int) -> str:
        """The tier a partition ending at `partition_end` belongs in by its age."""
        age = now - partition_end
        if self.cold_after_ns is not None and age >= self.cold_after_ns:
            return "cold"
        if self.warm_after_ns is not None and age >= self.warm_after_ns:
            return "warm"
        return "hot"


class Action(NamedTuple):
    """One step of a retention pass on the partition starting at `start`."""

    kind: str  # "drop", "delete" or "tier"
    start: int
    tier: str = ""
    measurements: tuple[str, ...] = ()


def plan(
    policy: RetentionPolicy, partitions: list[PartitionInfo], measurements_of: Callable[[int], set[str]], now: int
) -> list[Action]:
    """The actions of one pass over `partitions` at time `now` (see the module docstring)."""
    actions: list[Action] = []
    for info in partitions:
        present = measurements_of(info.start)
        expired = sorted(m for m in present if policy.expired(m, info.end, now))
        # A partition whose series were all dropped holds only deleted rows: the default decides.
        default = policy.default_ns
        whole = len(expired) == len(present) if present else default is not None and info.end <= now - default
        if whole:
            actions.append(Action("drop", info.start))
            continue
        if expired:
            actions.append(Action("delete", info.start, measurements=tuple(expired)))
        target = policy.tier_for(info.end, now)
        behind = TIERS.index(target) > TIERS.index(info.tier)
        mixed = info.tier != "hot" and len(info.codecs) > 1
        if behind or mixed:
            actions.append(Action("tier", info.start, tier=max(target, info.tier, key=TIERS.index)))
    return actions
