"""Time buckets in SQL: which expressions group rows by a time window, and which window.

time_bucket / time_bucket_gapfill (TimescaleDB's, aligned to 2000-01-03), date_bin, date_trunc to
a fixed unit up to a week (weeks start on Monday) and Grafana's `floor(extract(epoch from time) / N) * N`
are a fixed-width window the executor groups by (a TimeGroup). date_trunc to a calendar unit (month,
quarter, year ...) has no fixed width: calendar_unit names it, and the row path computes it per row.
Times are UTC.
"""

from typing import Final

from sqlglot import exp

from rusts.query.model import TimeGroup
from rusts.sql.nodes import Scope, duration, instant, unparen, unsupported
from rusts.sql.times import calendar_name, fixed_width

# TimescaleDB aligns time_bucket to 2000-01-03 (a Monday), which matters for widths not dividing a day.
_TIME_BUCKET_ORIGIN: Final = 946_857_600 * 1_000_000_000


def is_gapfill(node: exp.Expression) -> bool:
    return isinstance(node, exp.Anonymous) and node.name.lower() == "time_bucket_gapfill"


def is_epoch_of_time(scope: Scope, node: exp.Expression) -> bool:
    """`extract(epoch from time)`."""
    return (
        isinstance(node, exp.Extract) and node.this.name.lower() == "epoch" and scope.column(unparen(node.expression)) == "time"
    )


def epoch_bucket(scope: Scope, node: exp.Expression) -> TimeGroup | None:
    """`floor(extract(epoch from time) / N) * N`, the bucket Grafana's $__timeGroup macro writes (N whole
    seconds), or None. Its value is the bucket's start in epoch seconds."""
    if not (isinstance(node, exp.Mul) and isinstance(unparen(node.this), exp.Floor)):
        return None
    floor = unparen(node.this)
    quotient = unparen(floor.this)
    if not (isinstance(quotient, exp.Div) and is_epoch_of_time(scope, unparen(quotient.this))):
        return None
    divisor, factor = unparen(quotient.expression), unparen(node.expression)
    if not (isinstance(divisor, exp.Literal) and isinstance(factor, exp.Literal)) or divisor.is_string or factor.is_string:
        return None
    width = float(divisor.this)
    if width != float(factor.this) or width <= 0 or width != int(width) or floor.args.get("decimals"):
        raise unsupported("floor(extract(epoch from time) / N) * N with N other than the same whole number of seconds", node)
    return TimeGroup(int(width) * 1_000_000_000, 0)


def bucket_of(scope: Scope, node: exp.Expression) -> TimeGroup | None:
    """The time grouping of time_bucket / date_bin / date_trunc / Grafana's epoch bucket of the time
    column, or None when `node` is none of them (a bucket of another timestamp: see bucket_parts)."""
    epoch_group = epoch_bucket(scope, node)
    if epoch_group is not None:
        return epoch_group
    parts = bucket_parts(scope, node)
    if parts is None:
        return None
    group, source = parts
    return group if scope.column(source) == "time" else None


def bucket_parts(scope: Scope, node: exp.Expression) -> tuple[TimeGroup, exp.Expression] | None:
    """A fixed-width time_bucket / date_bin / date_trunc of any timestamp: its grouping and what it
    truncates (the time column, or another timestamp expression, truncated row by row)."""
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("time_bucket", "time_bucket_gapfill"):
        if len(node.expressions) != 2:
            raise unsupported(f"{node.name} with other than 2 arguments (width, time)", node)
        width, source = node.expressions
        interval = duration(width)
        return TimeGroup(interval, _TIME_BUCKET_ORIGIN % interval), source
    if isinstance(node, exp.DateBin):
        extra = [k for k, v in node.args.items() if v and k not in ("this", "expression", "unit", "origin")]
        if extra:
            raise unsupported(f"date_bin with {', '.join(extra)}", node)
        interval = duration(node.this)
        origin_node = node.args.get("origin") or node.args.get("unit")
        origin = 0 if origin_node is None else instant(origin_node, scope.now)
        return TimeGroup(interval, origin % interval), node.expression
    if isinstance(node, (exp.TimestampTrunc, exp.DateTrunc)) and calendar_unit(node) is None:
        unit = _trunc_unit(node)
        fixed = fixed_width(unit)
        if fixed is None:
            raise unsupported(f"date_trunc to {unit or '?'!r} (fixed units up to week)", node)
        return TimeGroup(*fixed), node.this
    return None


def _trunc_unit(node: exp.Expression) -> str:
    if node.args.get("zone"):
        raise unsupported("date_trunc with a time zone (times are UTC)", node)
    unit_node = node.args.get("unit")
    return unit_node.name.lower() if isinstance(unit_node, exp.Expression) else ""


def calendar_unit(node: exp.Expression) -> str | None:
    """The unit of `date_trunc('month' | 'quarter' | 'year' | ..., t)`, a truncation of varying width; None
    for any other expression."""
    if not isinstance(node, (exp.TimestampTrunc, exp.DateTrunc)):
        return None
    return calendar_name(_trunc_unit(node))


