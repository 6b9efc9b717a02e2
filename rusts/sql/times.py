"""Time literals of SQL: timestamps and intervals, as int64 nanoseconds.

Timestamps are ISO 8601 strings ('2025-11-01', '2025-11-01T00:00:00Z',
'2025-11-01 00:00:00.123456789+02:00'); without a zone they are UTC.
Intervals are fixed durations ('5 minutes', '1h', '1 day 2 hours'); months
and years have no fixed length and are refused.
"""

import re
from datetime import datetime, timedelta, timezone
from typing import Final

from rusts.sql.errors import SqlError

SECOND: Final = 1_000_000_000
DAY: Final = 86_400 * SECOND
UNITS: Final[dict[str, int]] = {
    **dict.fromkeys(("ns", "nanosecond", "nanoseconds"), 1),
    **dict.fromkeys(("us", "µs", "usec", "usecs", "microsecond", "microseconds"), 1_000),
    **dict.fromkeys(("ms", "msec", "msecs", "millisecond", "milliseconds"), 1_000_000),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), SECOND),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60 * SECOND),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3_600 * SECOND),
    **dict.fromkeys(("d", "day", "days"), DAY),
    **dict.fromkeys(("w", "week", "weeks"), 7 * DAY),
}
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_TIMESTAMP: Final = re.compile(
    r"(\d{4}-\d\d-\d\d)(?:[T ](\d\d:\d\d(?::\d\d)?)(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d\d(?::?\d\d)?)?", re.IGNORECASE
)
_PART: Final = re.compile(r"\s*([+-]?\d+(?:\.\d+)?)\s*([a-zµ]+)\s*", re.IGNORECASE)


class TimestampInputError(SqlError):
    """Text that is no timestamp: 22008 when it has a timestamp's shape but a field out of range
    ('2024-13-01'), else 22007, with PostgreSQL's words."""

    def __init__(self, text: str) -> None:
        if _TIMESTAMP.fullmatch(text.strip()) is not None:
            self.sqlstate = "22008"
            super().__init__(f'date/time field value out of range: "{text}"')
        else:
            self.sqlstate = "22007"
            super().__init__(f'invalid input syntax for type timestamp with time zone: "{text}"')


def parse_timestamp(text: str) -> int | None:
    """Nanoseconds since the epoch, or None when `text` is not an ISO 8601 timestamp."""
    match = _TIMESTAMP.fullmatch(text.strip())
    if match is None:
        return None
    day, clock, fraction, zone = match.groups()
    if zone is None or zone.upper() == "Z":
        zone = "+00:00"
    elif len(zone) == 3:
        zone += ":00"
    try:
        moment = datetime.fromisoformat(f"{day}T{clock or '00:00'}{zone}")
    except ValueError:
        return None
    seconds = (moment - _EPOCH) // timedelta(seconds=1)
    return seconds * SECOND + int((fraction or "").ljust(9, "0"))


def parse_interval(text: str) -> int | None:
    """Nanoseconds of a fixed interval such as '5 minutes' or '1h30m', or None when it is not one."""
    position, total = 0, 0
    text = text.strip()
    if not text:
        return None
    while position < len(text):
        match = _PART.match(text, position)
        if match is None or match.end() == position:
            return None
        unit = UNITS.get(match.group(2).lower())
        if unit is None:
            return None
        total += round(float(match.group(1)) * unit) if "." in match.group(1) else int(match.group(1)) * unit
        position = match.end()
    return total


CALENDAR_UNITS: Final = frozenset({"month", "quarter", "year", "decade", "century", "millennium"})
# date_trunc's calendar units and their spellings (PostgreSQL takes plurals and abbreviations)
CALENDAR_SPELLINGS: Final = {
    "mon": "month", "mons": "month", "months": "month", "qtr": "quarter", "quarters": "quarter", "y": "year",
    "yr": "year", "yrs": "year", "years": "year", "decades": "decade", "centuries": "century", "millennia": "millennium",
    "millenniums": "millennium", "mil": "millennium", "mils": "millennium",
}
_CALENDAR_YEARS: Final = {"year": 1, "decade": 10, "century": 100, "millennium": 1000}
_NAIVE_EPOCH: Final = datetime(1970, 1, 1)
# date_trunc('week') starts weeks on Monday; 1970-01-01 was a Thursday, so Monday buckets sit 4 days later.
WEEK_OFFSET: Final = 4 * DAY


def calendar_start(ns: int, unit: str) -> int:
    """The start (UTC) of the month, quarter, year, decade, century or millennium holding `ns`
    (PostgreSQL's centuries and millennia start in years 1, 101, 2001 ...)."""
    moment = _NAIVE_EPOCH + timedelta(microseconds=ns // 1000)
    years = _CALENDAR_YEARS.get(unit)
    if years is None:
        months = 3 if unit == "quarter" else 1
        start = datetime(moment.year, moment.month - (moment.month - 1) % months, 1)
    elif years <= 10:
        start = datetime(moment.year - moment.year % years, 1, 1)
    else:
        start = datetime(moment.year - (moment.year - 1) % years, 1, 1)
    return (start - _NAIVE_EPOCH) // timedelta(microseconds=1) * 1000


def calendar_name(unit: str) -> str | None:
    """The calendar unit (month, quarter, year ...) a date_trunc unit spells, or None for any other."""
    unit = CALENDAR_SPELLINGS.get(unit, unit)
    return unit if unit in CALENDAR_UNITS else None


def fixed_width(unit: str) -> tuple[int, int] | None:
    """(width, offset) in ns of date_trunc to a fixed unit up to a week (weeks start on Monday), or None.
    date_trunc takes words, not the abbreviations intervals take ('m', 'h')."""
    width = UNITS.get(unit, UNITS.get(unit.rstrip("s"), 0))
    if not width or unit in ("m", "w", "d", "h", "s", "ms", "us", "ns"):
        return None
    return width, WEEK_OFFSET if width == 7 * DAY else 0


def floor_to(ns: int, width: int, offset: int) -> int:
    """The start of the window of `width` ns (windows start at `offset` modulo width) holding `ns`."""
    return offset + (ns - offset) // width * width


def truncate(ns: int, unit: str) -> int | None:
    """date_trunc(unit, ns) in UTC, or None for a unit date_trunc does not take."""
    calendar = calendar_name(unit)
    if calendar is not None:
        return calendar_start(ns, calendar)
    fixed = fixed_width(unit)
    return None if fixed is None else floor_to(ns, *fixed)
