"""SQL beyond the query model: arithmetic, HAVING, ORDER BY, gap filling, INSERT/DELETE/DROP, and the
statement interface pgwire calls (execute_sql, describe_sql, parameter_types, sqlstate_of), against a real
engine on a temporary directory. Expected values come from the JSON query model's answer, computed here."""

from pathlib import Path
from typing import Any, Iterator

import msgspec
import pytest

from rusts.api.line_protocol import engine_parser
from rusts.core.errors import QueryError
from rusts.query.errors import QueryTimeoutError
from rusts.query.executor import execute
from rusts.query.model import Column, Query, QueryResult
from rusts.sql import SqlAnswer, describe_sql, execute_sql, parameter_types, sqlstate_of
from rusts.sql.errors import UnsupportedSqlError
from rusts.sql.translator import translate
from rusts.storage.engine import EngineOptions, StorageEngine

MINUTE = 60_000_000_000
BASE = 1_761_955_200_000_000_000  # 2025-11-01T00:00:00Z
NOW = BASE + 3_600_000_000_000


def open_engine(directory: Path) -> StorageEngine:
    return StorageEngine.open(EngineOptions(str(directory), memtable_max_age_secs=10**6), engine_parser)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[StorageEngine]:
    engine = open_engine(tmp_path)
    lines = []
    for i in range(40):
        host = ["a", "b", "c"][i % 3]
        fields = [f"usage={i * 1.25}"]
        if i % 4:
            fields.append(f"n={i - 20}i")
        lines.append(f"cpu,host={host} {','.join(fields)} {BASE + i * MINUTE}")
    lines.append(f"cpu,host=d usage=7.0,n=9i {BASE + 50 * MINUTE}")
    assert engine.write_line_protocol("\n".join(lines).encode()).errors == []
    engine.flush()
    yield engine
    engine.close()


def sql(engine: StorageEngine, text: str) -> SqlAnswer:
    return execute_sql(engine, text, now=NOW)


def json(engine: StorageEngine, body: dict[str, Any]) -> QueryResult:
    return execute(engine, msgspec.convert(body, Query))


def column(result: QueryResult, name: str) -> list[Any]:
    index = [c.name for c in result.columns].index(name)
    return [row[index] for row in result.rows]


def error_of(engine: StorageEngine, text: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        sql(engine, text)
    return caught.value


# --- arithmetic ---------------------------------------------------------------------------------------------


def test_arithmetic_on_fields_follows_postgresql(engine: StorageEngine) -> None:
    raw = json(engine, {"measurement": "cpu", "fields": ["usage", "n"]})
    usage, n = column(raw, "usage"), column(raw, "n")
    got = sql(engine, "SELECT usage * 1.609 AS km, n / 3, -n, (n - 2) % 5, usage + n, 7 / 2, 10.0 / 4 FROM cpu")
    assert [(c.name, c.type) for c in got.columns] == [
        ("km", "float"), ("?column?", "integer"), ("?column?", "integer"), ("?column?", "integer"),
        ("?column?", "float"), ("?column?", "integer"), ("?column?", "float"),
    ]
    assert got.tag == f"SELECT {len(raw.rows)}"

    def truncated(a: int, b: int) -> int:
        return int(a / b)  # small values: float division then truncation toward zero is exact here

    for row, u, v in zip(got.rows, usage, n):
        assert row[0] == u * 1.609
        if v is None:
            assert row[1:5] == [None, None, None, None]  # NULL propagates
        else:
            assert row[1] == truncated(v, 3) and isinstance(row[1], int)
            assert row[2] == -v
            assert row[3] == (v - 2) - 5 * truncated(v - 2, 5)  # sign follows the dividend
            assert row[4] == u + v
        assert row[5] == 3 and row[6] == 2.5
    assert any(v is not None and v < 0 and v % 3 for v in n), "data should include negative non-multiples"


def test_division_by_zero_and_overflow_are_errors(engine: StorageEngine) -> None:
    for text in ("SELECT n / 0 FROM cpu", "SELECT usage / (n - n) FROM cpu", "SELECT n % 0 FROM cpu",
                 "SELECT SUM(usage) / 0 FROM cpu"):
        error = error_of(engine, text)
        assert str(error) == "division by zero" and sqlstate_of(error) == "22012", text
    error = error_of(engine, "SELECT n * 9223372036854775807 FROM cpu")
    assert "bigint out of range" in str(error) and sqlstate_of(error) == "22003"


def test_operators_on_wrong_types_are_refused(engine: StorageEngine) -> None:
    error = error_of(engine, "SELECT host * 2, usage FROM cpu")
    assert "operator does not exist: text * bigint" in str(error) and sqlstate_of(error) == "42883"
    error = error_of(engine, "SELECT upper(usage), usage FROM cpu")
    assert "function upper(double precision) does not exist" in str(error) and sqlstate_of(error) == "42883"


def test_arithmetic_on_aggregates(engine: StorageEngine) -> None:
    expected = json(engine, {"measurement": "cpu", "group_by": {"tags": ["host"]}, "aggregations": [
        {"function": "sum", "field": "usage"}, {"function": "count", "field": "*"},
        {"function": "max", "field": "n"}, {"function": "min", "field": "n"}]})
    got = sql(engine, "SELECT host, SUM(usage) / COUNT(*) AS avg, MAX(n) - MIN(n) AS range, COUNT(*) * 2 "
                      "FROM cpu GROUP BY host")
    assert [(c.name, c.type) for c in got.columns] == [
        ("host", "string"), ("avg", "float"), ("range", "integer"), ("?column?", "integer")]
    assert got.rows == [[host, s / c, mx - mn, c * 2] for _, host, s, c, mx, mn in expected.rows]
    # one aggregation per distinct aggregate: COUNT(*) is computed once
    query = translate(engine, "SELECT SUM(usage) / COUNT(*), COUNT(*) FROM cpu")
    assert isinstance(query, Query) and [a.function for a in query.aggregations] == ["sum", "count"]


def test_casts(engine: StorageEngine) -> None:
    got = sql(engine, "SELECT usage::bigint AS u, n::float8 AS f FROM cpu WHERE host = 'a' LIMIT 3")
    assert [(c.name, c.type) for c in got.columns] == [("u", "integer"), ("f", "float")]
    raw = json(engine, {"measurement": "cpu", "fields": ["usage", "n"], "tag_filter": {"type": "eq", "key": "host", "value": "a"}, "limit": 3})
    assert got.rows == [[round(u), None if v is None else float(v)] for u, v in zip(column(raw, "usage"), column(raw, "n"))]


# --- HAVING and ORDER BY ------------------------------------------------------------------------------------


def test_having_on_aggregates_and_aliases(engine: StorageEngine) -> None:
    counts = {row[1]: row[2] for row in json(engine, {"measurement": "cpu", "group_by": {"tags": ["host"]},
                                                      "aggregations": [{"function": "count", "field": "*"}]}).rows}
    got = sql(engine, "SELECT host, COUNT(*) AS c FROM cpu GROUP BY host HAVING COUNT(*) > 1")
    assert got.rows == [[h, c] for h, c in sorted(counts.items()) if c > 1]
    assert sql(engine, "SELECT host, COUNT(*) AS c FROM cpu GROUP BY host HAVING c > 1").rows == got.rows
    # an aggregate only in HAVING is computed but not answered
    got = sql(engine, "SELECT host FROM cpu GROUP BY host HAVING MAX(usage) > 40 AND NOT host = 'c'")
    maxima = {r[1]: r[2] for r in json(engine, {"measurement": "cpu", "group_by": {"tags": ["host"]},
                                              "aggregations": [{"function": "max", "field": "usage"}]}).rows}
    assert got.rows == [[h] for h, m in sorted(maxima.items()) if m > 40 and h != "c"]
    assert [c.name for c in got.columns] == ["host"]
    # NULL in a comparison is not true: MIN(n) of a host without n is NULL
    assert sql(engine, "SELECT host FROM cpu GROUP BY host HAVING MIN(n) IS NULL OR MIN(n) < -100").rows == []
    error = error_of(engine, "SELECT host, COUNT(*) FROM cpu GROUP BY host HAVING COUNT(*)")
    assert sqlstate_of(error) == "42804"
    assert "HAVING without GROUP BY" in str(error_of(engine, "SELECT usage FROM cpu HAVING usage > 1"))


def test_order_by_outputs_positions_and_nulls(engine: StorageEngine) -> None:
    raw = json(engine, {"measurement": "cpu", "fields": ["n", "usage"]})
    rows = [[r[0], r[1], r[2], r[3]] for r in raw.rows]  # time, host, n, usage
    got = sql(engine, "SELECT time, host, n, usage FROM cpu ORDER BY n DESC NULLS LAST, time LIMIT 5 OFFSET 2")
    present = sorted((r for r in rows if r[2] is not None), key=lambda r: (-r[2], r[0]))
    nulls = [r for r in rows if r[2] is None]
    assert got.rows == (present + nulls)[2:7]
    assert sql(engine, "SELECT time, host, n, usage FROM cpu ORDER BY 3 DESC NULLS LAST, 1 LIMIT 5 OFFSET 2").rows == got.rows
    # DESC puts NULLs first by default, ASC last
    first = sql(engine, "SELECT n, usage FROM cpu ORDER BY n DESC").rows
    assert [r[0] for r in first[: len(nulls)]] == [None] * len(nulls) and first[len(nulls)][0] is not None
    assert sql(engine, "SELECT n AS x, usage FROM cpu ORDER BY x").rows[-1][0] is None
    # several keys: host ascending, then usage descending
    got = sql(engine, "SELECT host, usage FROM cpu ORDER BY host, usage DESC")
    assert got.rows == sorted(([r[1], r[3]] for r in rows), key=lambda r: (r[0], -r[1]))
    # a field only in ORDER BY is read but rows keep the SELECT list's fields
    got = sql(engine, "SELECT n FROM cpu ORDER BY usage DESC LIMIT 3")
    assert got.rows == [[r[2]] for r in sorted((r for r in rows if r[2] is not None), key=lambda r: -r[3])[:3]]
    # aggregates ordered by an output and an aggregate not selected
    got = sql(engine, "SELECT host, COUNT(*) AS c FROM cpu GROUP BY host ORDER BY c DESC, MAX(usage) LIMIT 2")
    counts = json(engine, {"measurement": "cpu", "group_by": {"tags": ["host"]},
                           "aggregations": [{"function": "count", "field": "*"}, {"function": "max", "field": "usage"}]})
    assert got.rows == [[r[1], r[2]] for r in sorted(counts.rows, key=lambda r: (-r[2], r[3]))[:2]]


def test_limit_is_pushed_only_when_ordered_by_time(engine: StorageEngine) -> None:
    pushed = translate(engine, "SELECT usage FROM cpu ORDER BY time DESC LIMIT 3")
    assert isinstance(pushed, Query) and (pushed.order, pushed.limit) == ("desc", 3)
    kept = translate(engine, "SELECT usage FROM cpu ORDER BY usage DESC LIMIT 3")
    assert isinstance(kept, Query) and (kept.order, kept.limit, kept.offset) == ("asc", None, 0)
    having = translate(engine, "SELECT host, COUNT(*) FROM cpu GROUP BY host HAVING COUNT(*) > 1 LIMIT 1")
    assert isinstance(having, Query) and having.limit is None
    # tags and buckets come tag by tag from the executor: ORDER BY time sorts afterwards
    got = sql(engine, "SELECT host, time_bucket('10 minutes', time) AS t, COUNT(*) FROM cpu GROUP BY 1, 2 ORDER BY t DESC, host LIMIT 4")
    times = [r[1] for r in got.rows]
    assert times == sorted(times, reverse=True) and len(got.rows) == 4


# --- gap filling --------------------------------------------------------------------------------------------


GAP_RANGE = f"time >= '2025-10-31T23:00:00Z' AND time < '2025-11-01T02:00:00Z'"


@pytest.mark.parametrize(("wrapper", "fill"), [("", "null"), ("locf", "previous"), ("interpolate", "linear")])
def test_gapfill_equals_json_fill(engine: StorageEngine, wrapper: str, fill: str) -> None:
    got = sql(engine, f"SELECT time_bucket_gapfill('10 minutes', time) AS bucket, host, {wrapper}(AVG(usage)) AS u, "
                      f"COUNT(*) FROM cpu WHERE {GAP_RANGE} GROUP BY bucket, host")
    expected = json(engine, {
        "measurement": "cpu", "time_range": {"start": BASE - 60 * MINUTE, "end": BASE + 120 * MINUTE},
        "aggregations": [{"function": "mean", "field": "usage", "alias": "u"}, {"function": "count", "field": "*"}],
        "group_by": {"tags": ["host"], "time": {"interval": 10 * MINUTE, "offset": 946_857_600_000_000_000 % (10 * MINUTE)},
                     "fill": fill}})
    assert [c.name for c in got.columns] == ["bucket", "host", "u", "count"]
    assert got.rows == [[r[0], r[1], r[2], r[3]] for r in expected.rows]
    assert len(got.rows) == 4 * 18 and any(r[2] is None for r in got.rows)


def test_gapfill_needs_a_bounded_range_and_one_fill(engine: StorageEngine) -> None:
    assert "time range bounded on both sides" in str(error_of(
        engine, "SELECT time_bucket_gapfill('1 minute', time), AVG(usage) FROM cpu WHERE time > '2025-11-01' GROUP BY 1"))
    assert "different gap fills" in str(error_of(
        engine, f"SELECT time_bucket_gapfill('1 minute', time), locf(AVG(usage)), MAX(n) FROM cpu WHERE {GAP_RANGE} GROUP BY 1"))
    assert "locf() without time_bucket_gapfill" in str(error_of(
        engine, "SELECT time_bucket('1 minute', time), locf(AVG(usage)) FROM cpu GROUP BY 1"))


# --- INSERT, DELETE, DROP -----------------------------------------------------------------------------------


def test_insert_goes_through_the_wal_with_escaping(tmp_path: Path) -> None:
    engine = open_engine(tmp_path)
    assert engine.write_line_protocol(b'my\\ m\\,x s="init" 1').errors == []  # a string field to insert into
    answer = execute_sql(engine, (
        "INSERT INTO \"my m,x\" (time, \"host name\", note, s, usage, n, ok) VALUES "
        "('2025-11-01T00:00:00Z', 'a b,c=d\\e', 'x=1', 'say \"hi\" \\ there', 1.5, 3, TRUE), "
        "(1761955260000000000, 'x', NULL, NULL, 2, -4, FALSE), "
        "(TIMESTAMP '2025-11-01 00:02:00', NULL, 'n\u00e9', 'two\nlines', -3, NULL, NULL)"), now=NOW)
    assert (answer.columns, answer.rows, answer.tag) == ([], [], "INSERT 0 3")
    engine.close()  # the points are in the WAL only: a reopen replays them
    engine = open_engine(tmp_path)
    try:
        got = execute_sql(engine, 'SELECT * FROM "my m,x" WHERE time > 1')
        assert [(c.name, c.type) for c in got.columns] == [
            ("time", "timestamp"), ("host name", "string"), ("note", "string"),
            ("n", "integer"), ("ok", "boolean"), ("s", "string"), ("usage", "float")]
        assert got.rows == [
            [BASE, "a b,c=d\\e", "x=1", 3, True, 'say "hi" \\ there', 1.5],
            [BASE + MINUTE, "x", None, -4, False, None, 2.0],
            [BASE + 2 * MINUTE, None, "n\u00e9", None, None, "two\nlines", -3.0],
        ]
        # the measurement's types now hold: an integer literal fits a float field, a string does not
        execute_sql(engine, "INSERT INTO \"my m,x\" (usage, \"host name\") VALUES (4, 'y')", now=NOW)
        assert execute_sql(engine, "SELECT time, usage FROM \"my m,x\" WHERE \"host name\" = 'y'").rows == [[NOW, 4.0]]
        for bad, state in [("(usage) VALUES ('4')", "42804"), ("(n) VALUES (1.5)", "42804"), ("(ok) VALUES (1)", "42804"),
                           ("(\"host name\") VALUES (1)", "42804"), ("(\"host name\") VALUES ('z')", "23502"),
                           ("(usage, usage) VALUES (1, 2)", "42701"), ("(usage) VALUES (1, 2)", "42804")]:
            with pytest.raises(QueryError) as caught:
                execute_sql(engine, f'INSERT INTO "my m,x" {bad}', now=NOW)
            assert sqlstate_of(caught.value) == state, (bad, caught.value)
        # a backslash anywhere in a name, even last, is written escaped and read back as it was
        execute_sql(engine, "INSERT INTO \"my m,x\" (\"host name\", usage) VALUES ('ends\\', 1)", now=NOW + 1)
        assert execute_sql(engine, "SELECT time FROM \"my m,x\" WHERE \"host name\" = 'ends\\'").rows == [[NOW + 1]]
        with pytest.raises(UnsupportedSqlError, match="without a column list"):
            execute_sql(engine, 'INSERT INTO "my m,x" VALUES (1)')
        assert len(execute_sql(engine, 'SELECT * FROM "my m,x"').rows) == 6, "refused statements wrote nothing"
    finally:
        engine.close()


def test_create_table_declares_the_roles_insert_follows(tmp_path: Path) -> None:
    engine = open_engine(tmp_path)
    try:
        create = "CREATE TABLE readings (time TIMESTAMPTZ, site TEXT, v FLOAT(53), n BIGINT, ok BOOLEAN)"
        assert execute_sql(engine, create).tag == "CREATE TABLE"
        assert parameter_types(engine, "INSERT INTO readings (time, site, v, n, ok) VALUES ($1, $2, $3, $4, $5)") == [
            "timestamp", "string", "float", "integer", "boolean"]
        # v is declared double precision: an integer value is stored as a float, not an integer field
        execute_sql(engine, "INSERT INTO readings (time, site, v, n, ok) VALUES (5, 'a', 1, 2, true)")
        assert engine.field_types("readings") == {"v": "float", "n": "integer", "ok": "boolean"}
        assert engine.tag_keys("readings") == ["site"]
        assert execute_sql(engine, "SELECT time, site, v FROM readings").rows == [[5, "a", 1.0]]
        for text, state in [(create, "42P07"), ("CREATE TABLE t2 (time TIMESTAMPTZ, at TIMESTAMPTZ)", "42804"),
                            ("CREATE TABLE t3 (time TIMESTAMPTZ, j JSONB)", "42804"),
                            ("CREATE TABLE t4 AS SELECT * FROM readings", "0A000")]:
            with pytest.raises(QueryError) as caught:
                execute_sql(engine, text)
            assert sqlstate_of(caught.value) == state, (text, caught.value)
        # an index (pandas' to_sql makes one on its index column) adds nothing to what tags and time give
        assert execute_sql(engine, "CREATE INDEX i ON readings (site)").tag == "CREATE INDEX"
        assert execute_sql(engine, create.replace("TABLE", "TABLE IF NOT EXISTS")).tag == "CREATE TABLE"
        # a declared measurement not written yet can be dropped; then it is unknown again
        execute_sql(engine, "CREATE TABLE later (time TIMESTAMPTZ, x BIGINT)")
        assert execute_sql(engine, "DROP TABLE later").tag == "DROP TABLE"
        assert sqlstate_of(error_of(engine, "DROP TABLE later")) == "42P01"
        # an unquoted new name is stored in lower case, as PostgreSQL folds it; a quoted one as written
        execute_sql(engine, 'INSERT INTO Mixed (time, v) VALUES (1, 1.5)')
        execute_sql(engine, 'INSERT INTO "Mixed" (time, v) VALUES (2, 2.5)')
        assert execute_sql(engine, "SELECT time, v FROM MIXED").rows == [[1, 1.5]]
        assert execute_sql(engine, 'SELECT time, v FROM "Mixed"').rows == [[2, 2.5]]
        execute_sql(engine, "DELETE FROM MIXED WHERE time = 1")
        assert execute_sql(engine, 'SELECT COUNT(*) FROM "Mixed"').rows == [[1]]
    finally:
        engine.close()


def test_delete_by_tag_and_time(engine: StorageEngine) -> None:
    before = json(engine, {"measurement": "cpu", "fields": ["usage"]}).rows
    cut = BASE + 20 * MINUTE
    doomed = [r for r in before if r[1] == "a" and r[0] < cut]
    answer = sql(engine, "DELETE FROM cpu WHERE host = 'a' AND time < '2025-11-01T00:20:00Z'")
    assert answer.tag == f"DELETE {len(doomed)}" and doomed
    after = json(engine, {"measurement": "cpu", "fields": ["usage"]}).rows
    assert after == [r for r in before if r not in doomed]
    assert sql(engine, "DELETE FROM cpu WHERE host IN ('b', 'zz') OR host ~ '^d'").tag.startswith("DELETE ")
    assert {r[1] for r in json(engine, {"measurement": "cpu", "fields": ["usage"]}).rows} == {"a", "c"}
    error = error_of(engine, "DELETE FROM cpu WHERE usage > 3")
    assert "condition on field 'usage'" in str(error) and sqlstate_of(error) == "0A000"
    assert sqlstate_of(error_of(engine, "DELETE FROM nope")) == "42P01"


def test_drop(engine: StorageEngine) -> None:
    assert sql(engine, "DROP TABLE cpu").tag == "DROP TABLE"
    assert sql(engine, "SHOW TABLES").rows == []
    assert sql(engine, "DROP MEASUREMENT IF EXISTS cpu").tag == "DROP MEASUREMENT"
    assert sqlstate_of(error_of(engine, "DROP MEASUREMENT cpu")) == "42P01"
    assert sqlstate_of(error_of(engine, "DROP TABLE cpu, other CASCADE")) == "0A000"


# --- the statement interface --------------------------------------------------------------------------------


DESCRIBED = [
    "SELECT * FROM cpu",
    "SELECT usage * 2 AS u, n / 2, host FROM cpu ORDER BY u",
    "SELECT host, COUNT(*), AVG(n), SUM(n), MAX(usage) - MIN(usage), FIRST(n) FROM cpu GROUP BY host",
    "SELECT time_bucket('5 minutes', time) AS t, COUNT(DISTINCT host) FROM cpu GROUP BY t",
    "SHOW FIELD KEYS FROM cpu",
    "DESCRIBE cpu",
    "SHOW TABLES",
]


@pytest.mark.parametrize("text", DESCRIBED)
def test_describe_matches_execute(engine: StorageEngine, text: str) -> None:
    assert describe_sql(engine, text, now=NOW) == sql(engine, text).columns


def test_describe_with_placeholders_and_statements_without_rows(engine: StorageEngine) -> None:
    text = "SELECT usage * $1 AS x, n FROM cpu WHERE time > $2 AND host = $3 AND n > $4 LIMIT $5"
    assert describe_sql(engine, text) == [Column("x", "float"), Column("n", "integer")]
    assert parameter_types(engine, text) == ["float", "timestamp", "string", "integer", "integer"]
    # what pgwire substitutes runs
    filled = ("SELECT usage * 2.0 AS x, n FROM cpu WHERE time > '2025-11-01 00:10:00.5+00' AND host = 'a' "
              "AND n > -100 LIMIT 2")
    assert len(sql(engine, filled).rows) == 2
    assert sql(engine, filled.replace("'2025-11-01 00:10:00.5+00'", "'2025-11-01 00:10:00.5+00'::timestamptz")).rows == sql(engine, filled).rows
    for statement in ("INSERT INTO cpu (time, host, usage) VALUES ($1, $2, $3)", "DELETE FROM cpu WHERE time < $1",
                      "DROP TABLE cpu"):
        assert describe_sql(engine, statement) == []
    assert parameter_types(engine, "INSERT INTO cpu (time, host, usage, n, fresh) VALUES ($1, $2, $3, $4, $5)") == [
        "timestamp", "string", "float", "integer", "string"]
    assert parameter_types(engine, "DELETE FROM cpu WHERE host IN ($2, 'x') AND time BETWEEN $1 AND now()") == [
        "timestamp", "string"]
    assert parameter_types(engine, "SELECT $1::int8, $3 FROM cpu WHERE $2 < usage") == ["integer", "float", "string"]
    assert parameter_types(engine, "SELECT host FROM cpu GROUP BY host HAVING COUNT(*) > $1 OFFSET $2") == [
        "integer", "integer"]
    assert parameter_types(engine, "SHOW TABLES") == []


def test_seed_examples_and_tags(engine: StorageEngine) -> None:
    assert sql(engine, "SHOW TABLES") == SqlAnswer([Column("name", "string")], [["cpu"]], "SHOW")
    assert sql(engine, "SELECT * FROM cpu LIMIT 10").tag == "SELECT 10"
    assert sql(engine, "SELECT COUNT(*) FROM cpu").rows == [[41]]
    assert sql(engine, "SELECT COUNT(*) FROM cpu GROUP BY host").rows == [[14], [13], [13], [1]]


def test_sqlstates() -> None:
    from rusts.query.errors import InvalidQueryError, UnknownFieldError, UnknownMeasurementError

    assert sqlstate_of(UnknownMeasurementError("m")) == "42P01"
    assert sqlstate_of(UnknownFieldError("m", "f", "here")) == "42703"
    assert sqlstate_of(QueryTimeoutError(1.0)) == "57014"
    assert sqlstate_of(InvalidQueryError("x")) == "22023"
    assert sqlstate_of(ValueError("x")) == "XX000"


def test_errors_name_constructs(engine: StorageEngine) -> None:
    assert sqlstate_of(error_of(engine, "SELECT bogus FROM cpu")) == "42703"
    assert sqlstate_of(error_of(engine, "SELECT * FROM nope")) == "42P01"
    assert sqlstate_of(error_of(engine, "SELEC 1")) == "42601"
    assert sqlstate_of(error_of(engine, "UPDATE cpu SET usage = 1")) == "0A000"
    assert sqlstate_of(error_of(engine, "SELECT usage FROM cpu ORDER BY 9")) == "42P10"  # as PostgreSQL
