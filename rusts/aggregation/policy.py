"""Downsampling policies: what they say and how they are written (pure: no engine, no I/O).

A policy keeps a measurement's raw points for a period and, for longer, coarser copies of it,
each a continuous aggregate over the raw points (a tier) kept for its own period:

    raw: 24h, 1m avg: 7d, 1h avg: 365d          in SQL and in rusts.yml (tiers as a mapping)
    fields: {requests: sum, latency_max: max}    the function of a field where it is not the tier's

A tier is `<interval> [<function>]: <period>`; the function is the default of the tier's
fields (avg when left out) and `fields` overrides it per field in every tier: mean for gauges,
sum for counters of events, max or last where that is what the field means. Functions: avg
(mean), sum, count, min, max, first, last, and for `fields` also none (the field is not kept in
the tiers). String and boolean fields take last unless the policy says first, count or none
(avg, sum, min and max are refused for them). A period of `forever`
(null in rusts.yml) keeps a tier for good.

Tier `<interval>` of measurement m is the aggregate named `m_<interval>` (trips_1m, trips_1h).

Stored in the continuous aggregates' state file (rusts.aggregation.continuous) as

    {"measurement": m, "raw": ns | null, "tiers": [[interval ns, function, period ns | null], ...],
     "fields": {field: function}}
"""

import re
from typing import Final, NamedTuple

from rusts.sql.errors import UnsupportedSqlError

_UNIT_NS: Final = {"s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000, "d": 86_400_000_000_000, "w": 604_800_000_000_000}
_DURATION: Final = re.compile(r"([1-9][0-9]*)(s|m|h|d|w)")
FUNCTIONS: Final = {"avg": "mean", "mean": "mean", "sum": "sum", "count": "count", "min": "min", "max": "max", "first": "first", "last": "last"}
# What each stored function lets a coarser bucket be computed from (see rusts.aggregation.downsampling).
NUMERIC_ONLY: Final = frozenset({"mean", "sum", "min", "max"})
FOREVER: Final = "forever"


class DownsamplingError(UnsupportedSqlError):
    """A policy that cannot be kept as written (feature_not_supported, with what is wrong)."""


class Tier(NamedTuple):
    """Buckets of `interval` ns, fields aggregated with `function` unless the policy's fields say
    otherwise, kept for `period` ns (None = forever)."""

    interval: int
    function: str
    period: int | None

    @property
    def label(self) -> str:
        return format_duration(self.interval)


class DownsamplingPolicy(NamedTuple):
    measurement: str
    raw: int | None
    tiers: tuple[Tier, ...]
    fields: dict[str, str]

    def tier_name(self, tier: Tier) -> str:
        return f"{self.measurement}_{tier.label}"

    def function_of(self, tier: Tier, field: str) -> str:
        return self.fields.get(field, tier.function)

    def text(self) -> str:
        """The policy as the SQL statement writes it (SHOW DOWNSAMPLING POLICIES)."""
        parts = [f"raw: {format_duration(self.raw)}"]
        parts += [f"{t.label} {_sql_name(t.function)}: {format_duration(t.period)}" for t in self.tiers]
        return ", ".join(parts)

    def shape(self) -> tuple[tuple[tuple[int, str], ...], tuple[tuple[str, str], ...]]:
        """What decides the tiers' contents (periods only decide how long they are kept)."""
        return tuple((t.interval, t.function) for t in self.tiers), tuple(sorted(self.fields.items()))

    def as_json(self) -> dict[str, object]:
        return {
            "measurement": self.measurement, "raw": self.raw,
            "tiers": [[t.interval, t.function, t.period] for t in self.tiers], "fields": dict(self.fields),
        }

    @classmethod
    def from_json(cls, saved: dict[str, object]) -> "DownsamplingPolicy":
        tiers = saved["tiers"]
        fields = saved["fields"]
        assert isinstance(tiers, list) and isinstance(fields, dict), "BUG: a saved policy's shape"
        raw = saved["raw"]
        return cls(
            str(saved["measurement"]), None if raw is None else int(str(raw)),
            tuple(Tier(int(i), str(f), None if p is None else int(p)) for i, f, p in tiers), dict(fields),
        )


def _sql_name(function: str) -> str:
    return "avg" if function == "mean" else function


def format_duration(ns: int | None) -> str:
    if ns is None:
        return FOREVER
    for unit in ("w", "d", "h", "m", "s"):
        if ns % _UNIT_NS[unit] == 0:
            return f"{ns // _UNIT_NS[unit]}{unit}"
    return f"{ns}ns"


def parse_period(text: str, what: str) -> int | None:
    """ns of a period such as 7d; None for forever; DownsamplingError naming `what`."""
    stripped = text.strip()
    if stripped.lower() in (FOREVER, "null", "none"):
        return None
    match = _DURATION.fullmatch(stripped)
    if match is None:
        raise DownsamplingError(f"{what}: {text!r} is not a period (a whole number and s, m, h, d or w, e.g. 7d; or forever)", text)
    return int(match[1]) * _UNIT_NS[match[2]]


def parse_function(text: str, what: str) -> str:
    function = FUNCTIONS.get(text.strip().lower())
    if function is None:
        raise DownsamplingError(f"{what}: unknown function {text.strip()!r} (expected one of {', '.join(sorted(FUNCTIONS))})", text)
    return function


def parse_tier(key: str, period: str | None) -> Tier:
    """`1m avg` and its period (`7d`, None or forever)."""
    words = key.split()
    if not 1 <= len(words) <= 2:
        raise DownsamplingError(f"tier {key!r}: expected an interval and optionally a function, e.g. '1m avg'", key)
    interval = parse_period(words[0], f"tier {key!r}")
    if interval is None:
        raise DownsamplingError(f"tier {key!r}: the interval cannot be forever", key)
    function = parse_function(words[1], f"tier {key!r}") if len(words) == 2 else "mean"
    return Tier(interval, function, None if period is None else parse_period(period, f"tier {key!r}"))


def build_policy(measurement: str, raw: str | None, tiers: list[tuple[str, str | None]], fields: dict[str, str]) -> DownsamplingPolicy:
    """A checked policy: tiers by increasing interval, none twice, at least one."""
    if not tiers:
        raise DownsamplingError(f"downsampling policy of {measurement!r} without a tier (e.g. '1m avg: 7d')", measurement)
    parsed = sorted((parse_tier(key, period) for key, period in tiers), key=lambda t: t.interval)
    intervals = [t.interval for t in parsed]
    if len(set(intervals)) != len(intervals):
        raise DownsamplingError(f"downsampling policy of {measurement!r} has two tiers of the same interval", measurement)
    chosen = {
        name: "none" if function.strip().lower() == "none" else parse_function(function, f"field {name!r}")
        for name, function in fields.items()
    }
    return DownsamplingPolicy(measurement, None if raw is None else parse_period(raw, "raw"), tuple(parsed), chosen)


_ENTRY: Final = re.compile(r"\s*(?P<key>[^:,]+?)\s*:\s*(?P<value>[^,]+?)\s*(?:,|$)")


def parse_entries(text: str, what: str) -> list[tuple[str, str]]:
    """`a: b, c d: e` as [(a, b), (c d, e)]; DownsamplingError naming `what` when it is not that."""
    entries: list[tuple[str, str]] = []
    position = 0
    stripped = text.strip()
    while position < len(stripped):
        match = _ENTRY.match(stripped, position)
        if match is None or match.end() == position:
            raise DownsamplingError(f"{what}: cannot read {stripped[position:]!r} (expected 'name: value, ...')", text)
        entries.append((match["key"], match["value"]))
        position = match.end()
    return entries


def policy_from_text(measurement: str, tiers_text: str, fields_text: str = "") -> DownsamplingPolicy:
    """The policy of `raw: 24h, 1m avg: 7d` and `tips: sum, ...` (the SQL statement's lists)."""
    raw: str | None = None
    tiers: list[tuple[str, str | None]] = []
    for key, value in parse_entries(tiers_text, "downsampling tiers"):
        if key.lower() == "raw":
            raw = value
        else:
            tiers.append((key, value))
    return build_policy(measurement, raw, tiers, dict(parse_entries(fields_text, "downsampling fields")))
