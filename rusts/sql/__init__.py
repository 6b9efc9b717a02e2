"""SQL onto the query model (issue 5). Protocol layers call the statement interface:

    execute_sql(engine, text, timeout, now) -> SqlAnswer(columns, rows, tag)
    stream_sql(engine, text, timeout, now)  -> SqlStream(columns, row batches, tag), bounded memory
    describe_sql(engine, text, now)         -> the columns, from the catalogue only
    parameter_types(engine, text)           -> the type of each placeholder $1..$n
    sqlstate_of(exc)                        -> the PostgreSQL SQLSTATE of any error

Modules:
    statement    the interface above: dispatch by statement kind
    catalog      SHOW TABLES / MEASUREMENTS / TAG KEYS / TAG VALUES / FIELD KEYS, DESCRIBE (regex, no sqlglot)
    translator   SELECT -> rusts.query.model.Query, run by rusts.query.executor (one evaluator for SQL and JSON),
                 then HAVING, ORDER BY, paging and SELECT-list expressions on its rows; run_sql for SELECT/catalog
    expressions  typed row expressions with PostgreSQL's arithmetic, NULL and comparison semantics
    writes       INSERT (through line protocol and the WAL), DELETE, DROP TABLE / MEASUREMENT
    where        WHERE -> time range, tag predicate tree, field predicates
    nodes        reading sqlglot nodes: columns, literals, timestamps, intervals, positions
    times        timestamp and interval literals as nanoseconds
    errors       the SQL errors, each with a SQLSTATE (all QueryError), and sqlstate_of
"""

from rusts.sql.errors import sqlstate_of
from rusts.sql.statement import SqlAnswer, SqlStream, describe_sql, execute_sql, parameter_types, stream_sql

__all__ = ["SqlAnswer", "SqlStream", "describe_sql", "execute_sql", "parameter_types", "sqlstate_of", "stream_sql"]
