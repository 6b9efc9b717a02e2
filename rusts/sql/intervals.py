"""SQL intervals: durations as PostgreSQL keeps them, in days and a time part, without months.

PostgreSQL's interval has months, days and microseconds, each kept apart: `interval '36 hours'` is
36 hours (printed `36:00:00`), `interval '1 day 12 hours'` is a day and 12 hours (`1 day
12:00:00`), and the difference of two timestamps is "justified" into days of 24 hours (`1 day
12:00:00`). RusTs keeps the days and the time part the same way (the time part in nanoseconds, as
its timestamps), so answers print as PostgreSQL prints them; months and years, whose length depends
on the calendar, are refused where an interval is written.

Arithmetic follows PostgreSQL's: timestamp - timestamp, timestamp +/- interval, interval +/-
interval (days and time apart), interval * or / a number (a fraction of a day passed down to the
time part), unary minus. Intervals compare by their length (a day as 24 hours); sum and avg add
days and time apart, as PostgreSQL's do. Every timestamp is UTC, so a day is 24 hours there too.
On the wire (text and binary) the time part has PostgreSQL's microseconds, rounded to even.
"""

import math
import re
from typing import Final

from rusts.sql.times import DAY, UNITS

_HOUR: Final = 3_600 * 1_000_000_000
# the units PostgreSQL reads in an interval (rusts.sql.times.UNITS): days and weeks apart, as days
_TIME_UNITS: Final = {name: ns for name, ns in UNITS.items() if ns < DAY}
_DAY_UNITS: Final = {name: ns // DAY for name, ns in UNITS.items() if ns >= DAY}
_PART: Final = re.compile(r"\s*([+-]?\d+(?:\.\d*)?|[+-]?\.\d+)\s*([a-zA-Z]+)")
_CLOCK: Final = re.compile(r"\s*([+-])?(\d+):(\d{1,2})(?::(\d{1,2}(?:\.\d+)?))?")


class Interval:
    """A duration of `days` days and `ns` nanoseconds (either may be negative)."""

    __slots__ = ("days", "ns")

    def __init__(self, days: int, ns: int) -> None:
        self.days = days
        self.ns = ns

    def length(self) -> int:
        """Nanoseconds, a day as 24 hours (how PostgreSQL compares intervals)."""
        return self.days * DAY + self.ns

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Interval) and self.length() == other.length()

    def __hash__(self) -> int:
        return hash(self.length())

    def __lt__(self, other: "Interval") -> bool:
        return self.length() < other.length()

    def __le__(self, other: "Interval") -> bool:
        return self.length() <= other.length()

    def __gt__(self, other: "Interval") -> bool:
        return self.length() > other.length()

    def __ge__(self, other: "Interval") -> bool:
        return self.length() >= other.length()

    def __repr__(self) -> str:
        return f"Interval({self.days}, {self.ns})"

    def __str__(self) -> str:
        return interval_text(self)


def between(later: int, earlier: int) -> Interval:
    """timestamp - timestamp: the difference in whole days (toward zero) and the rest, as PostgreSQL justifies it."""
    difference = later - earlier
    days = _toward_zero(difference, DAY)
    return Interval(days, difference - days * DAY)


def _toward_zero(value: int, unit: int) -> int:
    """value / unit, cut toward zero."""
    whole = abs(value) // unit
    return whole if value >= 0 else -whole


def _microseconds(ns: int) -> int:
    """Nanoseconds as whole microseconds, halves to even, as PostgreSQL rounds (rint) what it computes."""
    whole, rest = divmod(ns, 1000)
    return whole + 1 if rest > 500 or (rest == 500 and whole % 2) else whole


def shifted(moment: int, span: Interval, sign: int) -> int:
    """timestamp + interval (sign 1) or - interval (sign -1), in UTC."""
    return moment + sign * span.length()


def added(a: Interval, b: Interval, sign: int) -> Interval:
    return Interval(a.days + sign * b.days, a.ns + sign * b.ns)


def negated(a: Interval) -> Interval:
    return Interval(-a.days, -a.ns)


def scaled(a: Interval, factor: float) -> Interval:
    """interval * factor: the days scaled and cut to whole days, their fraction passed to the time part."""
    exact = a.days * factor
    days = math.trunc(exact)
    return Interval(days, round(a.ns * factor + (exact - days) * DAY))


def total(values: list[Interval]) -> Interval:
    """sum(interval): days and time added apart."""
    return Interval(sum(v.days for v in values), sum(v.ns for v in values))


def mean(values: list[Interval]) -> Interval:
    """avg(interval): the sum divided by the count."""
    return scaled(total(values), 1.0 / len(values))


def epoch_seconds(span: Interval) -> float:
    """extract(epoch from interval): seconds, a day as 24 hours."""
    return span.length() / 1e9


def interval_text(span: Interval) -> str:
    """PostgreSQL's output (IntervalStyle postgres): `1 day 02:00:00`, `-1 days -02:00:00`, `00:00:00.5`."""
    parts: list[str] = []
    if span.days:
        parts.append(f"{span.days} day{'' if span.days == 1 else 's'}")
    us = _microseconds(span.ns)
    if us or not parts:
        sign = "-" if us < 0 else ("+" if span.days < 0 else "")
        seconds, micro = divmod(abs(us), 1_000_000)
        hours, rest = divmod(seconds, 3600)
        clock = f"{sign}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
        if micro:
            clock += f".{micro:06d}".rstrip("0")
        parts.append(clock)
    return " ".join(parts)


def wire_parts(span: Interval) -> tuple[int, int, int]:
    """(microseconds, days, months) as PostgreSQL's binary format sends an interval."""
    return _microseconds(span.ns), span.days, 0


def parse_interval_text(text: str) -> Interval | None:
    """An interval from PostgreSQL's input forms without months: '1 day 2 hours', '90 minutes',
    '1.5 days', '02:30:00', '1 day 02:30', '-3 hours'; None when it is none of those."""
    text = text.strip()
    if not text:
        return None
    try:
        return Interval(0, round(float(text) * 1e9)) if text.lstrip("+-").replace(".", "", 1).isdigit() else _parsed(text)
    except ValueError:
        return None


def _parsed(text: str) -> Interval | None:
    """parse_interval_text of text that is not a bare number (which is seconds)."""
    days, ns, position = 0, 0, 0
    while position < len(text):
        clock = _CLOCK.match(text, position)
        if clock is not None and clock.end() > position and (clock.end() == len(text) or text[clock.end()].isspace()):
            sign = -1 if clock.group(1) == "-" else 1
            seconds = float(clock.group(4)) if clock.group(4) else 0.0
            ns += sign * (int(clock.group(2)) * _HOUR + int(clock.group(3)) * 60_000_000_000 + round(seconds * 1e9))
            position = clock.end()
            continue
        match = _PART.match(text, position)
        if match is None or match.end() == position:
            return None
        amount, unit = match.group(1), match.group(2).lower()
        if unit in _DAY_UNITS:
            exact = float(amount) * _DAY_UNITS[unit]
            whole = math.trunc(exact)
            days += whole
            ns += round((exact - whole) * DAY)
        elif unit in _TIME_UNITS:
            ns += round(float(amount) * _TIME_UNITS[unit]) if "." in amount else int(amount) * _TIME_UNITS[unit]
        else:
            return None
        position = match.end()
        if text[position:].strip().lower() == "ago":  # '3 hours ago'
            return Interval(-days, -ns)
    return Interval(days, ns)

