"""Wrong answers found by differential testing against PostgreSQL 15 (tools/sql_oracle.py), kept fixed.

Each expected value is PostgreSQL's answer to the same query over the same rows (table m: time
timestamptz, host text, dc text, f float8, j int8, s text, b bool; NULL where a row lacks a field),
written down with the query as the case's id. Numbers PostgreSQL answers as numeric are compared by value.
"""

import math
from pathlib import Path
from typing import Any, Iterator

import pytest

from rusts.api.line_protocol import engine_parser
from rusts.core.errors import QueryError
from rusts.sql import execute_sql, sqlstate_of
from rusts.sql.translator import translate
from rusts.storage.engine import EngineOptions, StorageEngine

BASE = 1_761_955_200_000_000_000  # 2025-11-01T00:00:00Z
MINUTE = 60_000_000_000
NOW = BASE + 3_600_000_000_000

# (host, dc, minute, fields as line protocol): sparse on purpose, as a table with NULLs
ROWS = [
    ("a", "x", 0, "f=1.5,j=3i"),
    ("a", "x", 1, "j=-7i"),
    ("b", "y", 2, 's="x"'),
    ("b", "x", 3, "f=-2.5,j=0i"),
    ("c", "y", 4, "f=1e-200,j=2i"),
    ("c", "y", 5, "f=1e-200,b=true"),
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorageEngine]:
    directory: Path = tmp_path_factory.mktemp("oracle")
    engine = StorageEngine.open(EngineOptions(str(directory), memtable_max_age_secs=10**6), engine_parser)
    lines = [f"m,dc={dc},host={host} {fields} {BASE + minute * MINUTE}" for host, dc, minute, fields in ROWS]
    # big: floats whose sums and squares overflow float8 (PostgreSQL: 22003 rather than infinity)
    huge = [("a", "1e300"), ("a", "-1e300"), ("a", "3.0"), ("b", "1.5e308"), ("b", "1.5e308")]
    lines += [f"big,host={host} f={value} {BASE + k * MINUTE}" for k, (host, value) in enumerate(huge)]
    # sp: a tag some series lack (NULL in PostgreSQL)
    lines += [f"sp,host=a,dc=x v=1 {BASE}", f"sp,host=b v=2 {BASE}", f"sp,host=c,dc=y v=3 {BASE}"]
    # st: strings for MIN/MAX (lowercase ASCII and '': the same order in every collation)
    words = [("a", "b"), ("a", "ab"), ("a", ""), ("b", "ba"), ("b", "a")]
    lines += [f'st,host={host} s="{word}",n={k}i {BASE + k * MINUTE}' for k, (host, word) in enumerate(words)]
    lines += [f"st,host=c n=9i {BASE + 9 * MINUTE}"]
    assert engine.write_line_protocol("\n".join(lines).encode()).errors == []
    engine.flush()
    yield engine
    engine.close()


def rows_of(engine: StorageEngine, text: str) -> list[list[Any]]:
    return execute_sql(engine, text, now=NOW).rows


def same_value(got: Any, expected: Any) -> bool:
    if isinstance(got, float) or isinstance(expected, float):
        return got is not None and expected is not None and math.isclose(got, expected, rel_tol=1e-12)
    return bool(got == expected) and type(got) is type(expected)


def assert_rows(got: list[list[Any]], expected: list[list[Any]]) -> None:
    assert len(got) == len(expected), got
    for got_row, expected_row in zip(got, expected):
        assert len(got_row) == len(expected_row) and all(map(same_value, got_row, expected_row)), (got_row, expected_row)


ANSWERS = [
    # a row lacking the named field is answered with NULL, not left out
    ("SELECT f FROM m ORDER BY time", [[1.5], [None], [None], [-2.5], [1e-200], [1e-200]]),
    ("SELECT s, b FROM m WHERE host = 'b' ORDER BY time", [["x", None], [None, None]]),
    ("SELECT j + 1 FROM m ORDER BY j + 1 NULLS FIRST, time", [[None], [None], [-6], [1], [3], [4]]),
    # a SELECT of no field answers every row
    (
        "SELECT time, host FROM m ORDER BY time",
        [[BASE + k * MINUTE, host] for k, host in enumerate(["a", "a", "b", "b", "c", "c"])],
    ),
    # an empty time range answers no rows; an ungrouped aggregate over it one row
    ("SELECT j FROM m WHERE time > '2025-11-01T00:03:00Z' AND time < '2025-11-01T00:01:00Z'", []),
    (
        "SELECT COUNT(*), COUNT(f), SUM(f), MAX(j) FROM m "
        "WHERE time >= '2025-11-01T00:03:00Z' AND time < '2025-11-01T00:03:00Z'",
        [[0, 0, None, None]],
    ),
    (
        "SELECT host, COUNT(*) FROM m WHERE time BETWEEN '2025-11-01T00:05:00Z' AND '2025-11-01T00:01:00Z' GROUP BY host",
        [],
    ),
    # SUM(bigint) is numeric: arithmetic on it keeps fractions (integer division would truncate)
    (
        "SELECT host, SUM(j) / 3 AS q, SUM(j) % 3 AS r, SUM(j) FROM m GROUP BY host ORDER BY host",
        [["a", -4 / 3, -1.0, -4], ["b", 0.0, 0.0, 0], ["c", 2 / 3, 2.0, 2]],
    ),
    ("SELECT SUM(j) * 1.5, -SUM(j), SUM(j) + 1 FROM m", [[-3.0, 2.0, -1.0]]),
    # AVG(bigint) is numeric too: its cast to bigint rounds halves away from zero (float8 rounds them to even)
    ("SELECT AVG(j)::bigint, AVG(j), AVG(f)::bigint FROM m WHERE j > 1", [[3, 2.5, 1]]),
    # a quoted literal compared with a number or boolean is read as one (an untyped literal in PostgreSQL)
    ("SELECT j FROM m WHERE j < '3' ORDER BY time", [[-7], [0], [2]]),
    ("SELECT f FROM m WHERE f > ' 1.0 ' ORDER BY time", [[1.5]]),
    ("SELECT j FROM m WHERE b = 'yes'", [[None]]),
    ("SELECT host, COUNT(*) FROM m GROUP BY host HAVING COUNT(*) > '1' ORDER BY host", [["a", 2], ["b", 2], ["c", 2]]),
    ("SELECT j FROM m WHERE j IN ('3', '2') OR f > 1e300 ORDER BY time", [[3], [2]]),
    # LIMIT 0 computes nothing, so 10 / 0 is no error
    ("SELECT j, 10 / j FROM m ORDER BY j LIMIT 0", []),
    # other integer aggregates stay bigint: integer division truncates toward zero
    ("SELECT MIN(j) / 2, COUNT(*) / 4 FROM m", [[-3, 1]]),
    ("SELECT MAX(f) FROM big", [[1.5e308]]),
    # a missing tag is NULL: its comparisons are NULL, and so are their negations
    ("SELECT v FROM sp WHERE NOT (dc = 'x') ORDER BY v", [[3.0]]),
    ("SELECT v FROM sp WHERE dc <> 'x' ORDER BY v", [[3.0]]),
    ("SELECT v FROM sp WHERE NOT (host IN ('a') OR dc = 'x') ORDER BY v", [[3.0]]),
    ("SELECT v FROM sp WHERE NOT (dc = 'x' AND host = 'b') ORDER BY v", [[1.0], [3.0]]),
    ("SELECT v FROM sp WHERE dc NOT LIKE 'x%' ORDER BY v", [[3.0]]),
    ("SELECT v FROM sp WHERE dc !~ 'x' ORDER BY v", [[3.0]]),
    ("SELECT v FROM sp WHERE dc NOT IN ('x') ORDER BY v", [[3.0]]),
    ("SELECT v FROM sp WHERE dc IS NULL ORDER BY v", [[2.0]]),
    ("SELECT v FROM sp WHERE NOT (dc IS NULL) ORDER BY v", [[1.0], [3.0]]),
    ("SELECT v FROM sp WHERE dc = '' ORDER BY v", []),
    ("SELECT COUNT(*) FROM sp WHERE NOT (dc = 'x')", [[1]]),
    ("SELECT dc, COUNT(*) FROM sp GROUP BY dc ORDER BY dc", [["x", 1], ["y", 1], [None, 1]]),
    # WHERE terms a SELECT of rows tests on each row (the query model has no room for them)
    ("SELECT f FROM m WHERE f > 0 OR j < 0 ORDER BY time", [[1.5], [None], [1e-200], [1e-200]]),
    ("SELECT s FROM m WHERE s LIKE 'x%'", [["x"]]),
    ("SELECT j FROM m WHERE b", [[None]]),
    ("SELECT j FROM m WHERE f IS NULL ORDER BY time", [[-7], [None]]),
    ("SELECT f FROM m WHERE f > j ORDER BY time", []),
    ("SELECT host FROM m WHERE NOT b OR j = 0 ORDER BY time", [["b"]]),
    # a comparison with the NULL literal is NULL, and so is its negation: no row either way
    ("SELECT COUNT(*) FROM m WHERE host = NULL", [[0]]),
    ("SELECT j FROM m WHERE NOT (host <> NULL)", []),
    ("SELECT COUNT(*) FROM m WHERE j > NULL", [[0]]),
    ("SELECT COUNT(*) FROM m WHERE host NOT IN ('a', NULL)", [[0]]),
    ("SELECT host FROM m WHERE host IN ('a', NULL) ORDER BY time", [["a"], ["a"]]),
    ("SELECT v FROM sp WHERE dc = NULL OR host = 'b' ORDER BY v", [[2.0]]),
    # a literal cast to a float type is a float: division by an integer keeps its fraction
    ("SELECT 7::double precision / 2, CAST(7 AS real) / 2, '7'::float8 / 2 FROM m LIMIT 1", [[3.5, 3.5, 3.5]]),
    ("SELECT j / 2::double precision FROM m WHERE j = 3", [[1.5]]),
    ("SELECT j FROM m WHERE j / 2::double precision = 1.5", [[3]]),
    # casts of literals compare and limit as the literal (SQLAlchemy casts every bound parameter)
    ("SELECT COUNT(*) FROM m WHERE j > 1::BIGINT AND host = 'a'::VARCHAR AND f > 1.4::FLOAT", [[1]]),
    ("SELECT j FROM m WHERE j > 0 ORDER BY time LIMIT 1::INTEGER", [[3]]),
    ("SELECT COUNT(*) FROM m WHERE b = TRUE::BOOLEAN", [[1]]),
    ("SELECT 2.5::bigint, (-2.5)::bigint, 1.4::int FROM m LIMIT 1", [[3, -3, 1]]),
    # SELECT DISTINCT of tags (Grafana's template variables)
    ("SELECT DISTINCT host FROM m ORDER BY host", [["a"], ["b"], ["c"]]),
    ("SELECT DISTINCT dc, host AS h FROM m WHERE host IN ('a', 'b') ORDER BY dc, h", [["x", "a"], ["x", "b"], ["y", "b"]]),
    ("SELECT DISTINCT dc FROM sp ORDER BY dc", [["x"], ["y"], [None]]),
    # unquoted names fold to lower case (a name that exists as written is taken first)
    ("SELECT COUNT(*) FROM M WHERE HOST = 'a'", [[2]]),
    ("SELECT Host, J FROM m WHERE host = 'a' ORDER BY TIME", [["a", 3], ["a", -7]]),
    # MIN and MAX of a text column, NULL where a group has no value
    ("SELECT host, MIN(s), MAX(s) FROM st GROUP BY host ORDER BY host", [["a", "", "b"], ["b", "a", "ba"], ["c", None, None]]),
    ("SELECT MIN(s), MAX(s), COUNT(s) FROM st", [["", "ba", 5]]),
    ("SELECT MAX(s) FROM st WHERE host = 'c'", [[None]]),
    # the same column twice may be ordered by its name
    ("SELECT j, j FROM m WHERE j >= -100 ORDER BY j", [[-7, -7], [0, 0], [2, 2], [3, 3]]),
]


@pytest.mark.parametrize(("text", "expected"), ANSWERS, ids=[text for text, _ in ANSWERS])
def test_answers_as_postgresql(engine: StorageEngine, text: str, expected: list[list[Any]]) -> None:
    assert_rows(rows_of(engine, text), expected)


def test_a_select_of_rows_reads_only_its_fields_when_that_loses_no_row(engine: StorageEngine) -> None:
    # some rows of m lack f: every field is read, so they answer NULL (SELECT f FROM m: 6 rows)
    assert translate(engine, "SELECT f FROM m", now=NOW).fields is None
    assert len(rows_of(engine, "SELECT f FROM m")) == 6
    # every row of sp has v, and every row with j >= -100 has j: only the named fields are read
    assert translate(engine, "SELECT v FROM sp", now=NOW).fields == ["v"]
    assert translate(engine, "SELECT j FROM m WHERE j >= -100", now=NOW).fields == ["j"]
    assert translate(engine, "SELECT host, j FROM m WHERE host = 'b'", now=NOW).fields is None


def test_sum_of_integers_is_still_a_bigint_column(engine: StorageEngine) -> None:
    # SELECT SUM(j) FROM m: PostgreSQL says numeric; RusTs answers bigint, the same value
    answer = execute_sql(engine, "SELECT SUM(j), SUM(j) / 3 AS q FROM m", now=NOW)
    assert [(c.name, c.type) for c in answer.columns] == [("sum", "integer"), ("q", "float")]
    assert_rows(answer.rows, [[-2, -2 / 3]])


ERRORS = [
    # a quoted name is taken as written: "M" is not m
    ('SELECT COUNT(*) FROM "M"', "42P01", "M"),
    ('SELECT "HOST" FROM m', "42703", "HOST"),
    # float8 underflow: a product or quotient of non-zero numbers that rounds to 0
    ("SELECT f * f FROM m WHERE host = 'c'", "22003", "underflow"),
    ("SELECT f / 1e300 FROM m WHERE host = 'c'", "22003", "underflow"),
    # an ORDER BY name standing for two different SELECT-list columns
    ("SELECT j, j::float8 FROM m ORDER BY j", "42702", "ambiguous"),
    # every row's SELECT list is computed before the sort, also rows LIMIT leaves out
    ("SELECT j, 10 / j FROM m ORDER BY j DESC LIMIT 1", "22012", "division by zero"),
    ("SELECT date_trunc('minute', time) AS t, 10 / MIN(j) FROM m GROUP BY t ORDER BY t LIMIT 1", "22012", "division by zero"),
    # a quoted literal that is no value of the column's type
    ("SELECT j FROM m WHERE j = 'x'", "22P02", 'invalid input syntax for type bigint: "x"'),
    ("SELECT j FROM m WHERE j = '2.5'", "22P02", "bigint"),
    ("SELECT j FROM m WHERE b = 'maybe'", "22P02", "boolean"),
    # a float aggregate that overflows is an error, never infinity
    ("SELECT STDDEV(f) FROM big WHERE host = 'a'", "22003", "overflow"),
    ("SELECT SUM(f) FROM big WHERE host = 'b'", "22003", "overflow"),
    ("SELECT host, COUNT(*) FROM big GROUP BY host HAVING SUM(f) > 0", "22003", "overflow"),
    # PostgreSQL has no MIN or MAX of booleans (it has bool_and and bool_or)
    ("SELECT MIN(b) FROM m", "42883", "numeric or string"),
]


@pytest.mark.parametrize(("text", "sqlstate", "words"), ERRORS, ids=[text for text, _, _ in ERRORS])
def test_errors_as_postgresql(engine: StorageEngine, text: str, sqlstate: str, words: str) -> None:
    with pytest.raises(QueryError) as caught:
        rows_of(engine, text)
    assert sqlstate_of(caught.value) == sqlstate
    assert words in str(caught.value)
