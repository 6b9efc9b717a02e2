"""What a continuous aggregate is: its name and its defining SELECT, checked once at CREATE.

    CREATE CONTINUOUS AGGREGATE cpu_1m AS
        SELECT time_bucket('1m', time) AS time, host, avg(usage) AS usage FROM cpu GROUP BY 1, 2

The defining query must read one measurement, group by a time bucket (that column is the
materialized point's time), and may group by tags (each output under its tag's own name, so it
stays a tag of the result) and compute any aggregate functions the SQL dialect has (each output
column becomes a field). It may filter rows by tags, fields and absolute times, and use HAVING.
It may not use LIMIT/OFFSET, gap filling or now() (their answers depend on more than the rows of a
bucket), and may not read its own result.

Because every output row depends only on the rows of its own bucket, the aggregate over a range
of whole buckets is the defining query with `time >= start AND time < end` added to its WHERE:
that is how the refresher recomputes exactly the buckets that changed.
"""

import re
import time
from typing import Final, NamedTuple

from sqlglot import exp

from rusts.query.model import Column
from rusts.sql.errors import UnsupportedSqlError
from rusts.sql.translator import parse_statement, translate_select
from rusts.storage.engine import StorageEngine

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class AggregateDefinition(NamedTuple):
    """A checked definition; `interval`/`offset` place its buckets (offset + k * interval)."""

    name: str
    sql: str
    source: str
    interval: int
    offset: int
    time_column: str
    tag_columns: list[str]
    field_columns: list[Column]

    def bucket_start(self, timestamp: int) -> int:
        return self.offset + (timestamp - self.offset) // self.interval * self.interval

    def bounded_select(self, start: int, end: int) -> exp.Select:
        """The defining query restricted to [start, end) (whole buckets)."""
        statement = _parsed(self.sql)
        bounded = statement.where(f"time >= {start} AND time < {end}", append=True, copy=True)
        assert isinstance(bounded, exp.Select), "BUG: where() keeps a SELECT a SELECT"
        return bounded


_PARSED: dict[str, exp.Select] = {}


def _parsed(sql: str) -> exp.Select:
    """The parsed defining query, parsed once (sqlglot takes milliseconds; refreshes are frequent)."""
    statement = _PARSED.get(sql)
    if statement is None:
        parsed = parse_statement(sql)
        assert isinstance(parsed, exp.Select), "BUG: a checked definition is a SELECT"
        statement = _PARSED[sql] = parsed
    return statement


def check_definition(engine: StorageEngine, name: str, sql: str) -> AggregateDefinition:
    """The definition of aggregate `name` as `sql`, or UnsupportedSqlError saying what is wrong."""
    if _NAME.fullmatch(name) is None:
        raise UnsupportedSqlError(f"continuous aggregate name {name!r} (letters, digits and _, not first a digit)", name)
    statement = parse_statement(sql)
    if not isinstance(statement, exp.Select):
        raise UnsupportedSqlError("continuous aggregate defined by anything but a SELECT", sql)
    for arg, what in (("limit", "LIMIT"), ("offset", "OFFSET")):
        if statement.args.get(arg) is not None:
            raise UnsupportedSqlError(f"{what} in a continuous aggregate", sql)
    for node in statement.walk():
        if isinstance(node, (exp.CurrentTimestamp, exp.CurrentDate, exp.CurrentTime)) or (
            isinstance(node, exp.Anonymous) and str(node.this).lower() == "now"
        ):
            raise UnsupportedSqlError("now() in a continuous aggregate (its buckets would change with the clock)", sql)
    translation = translate_select(engine, statement, time.time_ns())
    if translation.source is not None:
        raise UnsupportedSqlError("a subquery or WITH in a continuous aggregate (define it over the measurement)", sql)
    query = translation.query
    group_by = query.group_by
    if group_by is None or group_by.time is None or not query.aggregations:
        raise UnsupportedSqlError("continuous aggregate without GROUP BY a time bucket (time_bucket('1m', time))", sql)
    if group_by.fill != "none":
        raise UnsupportedSqlError("gap filling in a continuous aggregate", sql)
    if query.measurement == name:
        raise UnsupportedSqlError(f"continuous aggregate {name!r} reading its own result", sql)
    columns = translation.columns()
    times = [c for c in columns if c.type == "timestamp"]
    if len(times) != 1:
        raise UnsupportedSqlError("continuous aggregate without exactly one time bucket column", sql)
    tags = [c.name for c in columns if c.name in group_by.tags]
    if sorted(tags) != sorted(group_by.tags):
        raise UnsupportedSqlError("a grouped tag missing from the SELECT list or renamed (keep each tag's own name)", sql)
    fields = [c for c in columns if c.type != "timestamp" and c.name not in group_by.tags]
    if not fields:
        raise UnsupportedSqlError("continuous aggregate without an aggregate column", sql)
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise UnsupportedSqlError("two output columns with the same name (give each an alias)", sql)
    return AggregateDefinition(
        name, sql, query.measurement, group_by.time.interval, group_by.time.offset, times[0].name, tags, fields
    )
