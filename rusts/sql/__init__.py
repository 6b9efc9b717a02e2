"""SQL onto the query model (issue 5): `run_sql(engine, text)` and `translate(engine, text)`.

    catalog      SHOW TABLES / MEASUREMENTS / TAG KEYS / TAG VALUES / FIELD KEYS, DESCRIBE (regex, no sqlglot)
    translator   SELECT -> rusts.query.model.Query, run by rusts.query.executor (one evaluator for SQL and JSON)
    where        WHERE -> time range, tag predicate tree, field predicates
    nodes        reading sqlglot nodes: columns, literals, timestamps, intervals, positions
    times        timestamp and interval literals as nanoseconds
    errors       SqlSyntaxError, UnsupportedSqlError (both QueryError)
"""
