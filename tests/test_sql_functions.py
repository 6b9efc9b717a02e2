"""Scalar functions, CASE and text casts in SELECT lists, checked against PostgreSQL 15's answers.

Each expected value is what PostgreSQL answered for the same query over the same rows (table cpu:
time timestamptz, host text, usage float8, n int8, s text). Where RusTs answers double precision
and PostgreSQL numeric (round(x::numeric, n), extract), the numbers are compared by value.
"""

import math
from pathlib import Path
from typing import Any, Iterator

import pytest

from rusts.api.line_protocol import engine_parser
from rusts.core.errors import QueryError
from rusts.sql import execute_sql, sqlstate_of
from rusts.storage.engine import EngineOptions, StorageEngine

BASE = 1_765_000_000_000_000_000  # 2025-12-06T05:46:40Z, a Saturday
HOUR = 3_600_000_000_000
ROWS = [("a", 1.5, 3, "Hello world"), ("b", -2.25, -7, "xyz"), ("a", 0.0, 0, "ab,cd"), ("c", 100.125, 12, "  pad  ")]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorageEngine]:
    directory: Path = tmp_path_factory.mktemp("functions")
    engine = StorageEngine.open(EngineOptions(str(directory), wal_durability="none"), engine_parser)
    lines = [f'cpu,host={h} usage={u},n={n}i,s="{s}" {BASE + k * HOUR}' for k, (h, u, n, s) in enumerate(ROWS)]
    assert engine.write_line_protocol("\n".join(lines).encode()).errors == []
    yield engine
    engine.close()


def same_value(got: Any, expected: Any) -> bool:
    if isinstance(expected, float):
        return isinstance(got, float) and (math.isclose(got, expected, rel_tol=1e-15) or got == expected)
    return bool(got == expected) and type(got) is type(expected)


ANSWERS = [
    ("SELECT host, round(usage) FROM cpu ORDER BY time", [["a", 2.0], ["b", -2.0], ["a", 0.0], ["c", 100.0]]),
    (
        "SELECT abs(n), abs(usage), sign(usage), ceil(usage), floor(usage), trunc(usage) FROM cpu ORDER BY time",
        [[3, 1.5, 1.0, 2.0, 1.0, 1.0], [7, 2.25, -1.0, -2.0, -3.0, -2.0], [0, 0.0, 0.0, 0.0, 0.0, 0.0],
         [12, 100.125, 1.0, 101.0, 100.0, 100.0]],
    ),
    ("SELECT host, round(avg(usage)::numeric, 2) AS a FROM cpu GROUP BY host ORDER BY host",
     [["a", 0.75], ["b", -2.25], ["c", 100.13]]),
    ("SELECT round(usage::numeric, 1) FROM cpu ORDER BY time", [[1.5], [-2.3], [0.0], [100.1]]),
    (
        "SELECT sqrt(abs(usage)), power(n, 2), exp(n), ln(abs(usage) + 1), log(abs(usage) + 1), log10(100) FROM cpu ORDER BY time",
        [
            [1.224744871391589, 9.0, 20.085536923187668, 0.9162907318741551, 0.3979400086720376, 2.0],
            [1.5, 49.0, 0.0009118819655545162, 1.1786549963416462, 0.5118833609788744, 2.0],
            [0.0, 0.0, 1.0, 0.0, 0.0, 2.0],
            [10.00624804809475, 144.0, 162754.79141900392, 4.616357375378656, 2.004858534620329, 2.0],
        ],
    ),
    (
        "SELECT coalesce(NULL, usage), coalesce(NULL, NULL, 'x'), nullif(n, 0), greatest(n, usage), least(n, 1) FROM cpu ORDER BY time",
        [[1.5, "x", 3, 3.0, 1], [-2.25, "x", -7, -2.25, -7], [0.0, "x", None, 0.0, 0], [100.125, "x", 12, 100.125, 1]],
    ),
    (
        "SELECT CASE WHEN usage > 1 THEN 'high' WHEN usage < 0 THEN 'neg' ELSE 'low' END AS lvl, host FROM cpu ORDER BY time",
        [["high", "a"], ["neg", "b"], ["low", "a"], ["high", "c"]],
    ),
    ("SELECT CASE host WHEN 'a' THEN 1 WHEN 'b' THEN 2.5 END FROM cpu ORDER BY time", [[1.0], [2.5], [1.0], [None]]),
    # only the branch taken is computed: 1 / n is never divided by zero
    ("SELECT CASE WHEN n = 0 THEN -1 ELSE 12 / n END FROM cpu ORDER BY time", [[4], [-1], [-1], [1]]),
    (
        "SELECT host, CASE WHEN max(usage) > 50 THEN 'hot' ELSE 'ok' END FROM cpu GROUP BY host ORDER BY host",
        [["a", "ok"], ["b", "ok"], ["c", "hot"]],
    ),
    (
        "SELECT lower(s), upper(s), length(s), reverse(s), initcap(s) FROM cpu ORDER BY time",
        [
            ["hello world", "HELLO WORLD", 11, "dlrow olleH", "Hello World"],
            ["xyz", "XYZ", 3, "zyx", "Xyz"],
            ["ab,cd", "AB,CD", 5, "dc,ba", "Ab,Cd"],
            ["  pad  ", "  PAD  ", 7, "  dap  ", "  Pad  "],
        ],
    ),
    (
        "SELECT substring(s, 2, 3), substr(s, 0, 2), left(s, 2), right(s, -1), replace(s, 'l', 'L'), strpos(s, 'o') FROM cpu ORDER BY time",
        [
            ["ell", "H", "He", "ello world", "HeLLo worLd", 5],
            ["yz", "x", "xy", "yz", "xyz", 0],
            ["b,c", "a", "ab", "b,cd", "ab,cd", 0],
            [" pa", " ", "  ", " pad  ", "  pad  ", 0],
        ],
    ),
    ("SELECT trim(s), ltrim(s), rtrim(s), btrim(s, ' pd') FROM cpu WHERE host = 'c'", [["pad", "pad  ", "  pad", "a"]]),
    (
        "SELECT host || '-' || s, concat(host, n, usage, NULL), concat_ws('/', host, n) FROM cpu ORDER BY time",
        [["a-Hello world", "a31.5", "a/3"], ["b-xyz", "b-7-2.25", "b/-7"], ["a-ab,cd", "a00", "a/0"],
         ["c-  pad  ", "c12100.125", "c/12"]],
    ),
    (
        "SELECT usage::text, n::text, time::text FROM cpu ORDER BY time LIMIT 2",
        [["1.5", "3", "2025-12-06 05:46:40+00"], ["-2.25", "-7", "2025-12-06 06:46:40+00"]],
    ),
    (
        "SELECT extract(hour from time), extract(dow from time), extract(doy from time), extract(year from time), "
        "date_part('minute', time), extract(quarter from time), extract(week from time) FROM cpu ORDER BY time LIMIT 2",
        [[5.0, 6.0, 340.0, 2025.0, 46.0, 4.0, 49.0], [6.0, 6.0, 340.0, 2025.0, 46.0, 4.0, 49.0]],
    ),
    ("SELECT to_timestamp(n * 3600 + 1700000000) FROM cpu WHERE host = 'b'", [[1_699_974_800_000_000_000]]),
    ("SELECT host FROM cpu WHERE length(s) > 3 ORDER BY time", [["a"], ["a"], ["c"]]),
    # type modifiers: numeric(p, s) rounds to s places, varchar(n) cuts, char(n) cuts and pads
    (
        "SELECT host, usage::numeric(10,1), s::varchar(3), host::char(3) FROM cpu ORDER BY time",
        [["a", 1.5, "Hel", "a  "], ["b", -2.3, "xyz", "b  "], ["a", 0.0, "ab,", "a  "], ["c", 100.1, "  p", "c  "]],
    ),
    # a date is its day: compared with a date, grouped rows count (all four rows fall on 2025-12-06)
    ("SELECT count(*) FROM cpu WHERE time::date = '2025-12-06'", [[4]]),
    ("SELECT time::date FROM cpu WHERE host = 'b'", [[BASE - BASE % (24 * HOUR)]]),
    # numeric (integers, decimal literals, ::numeric, avg of integers) rounds halves away from zero,
    # double precision to even
    (
        "SELECT round((n + 2) / 2.0), ((n + 2) / 2.0)::bigint, round(((n + 2) / 2.0)::float8) FROM cpu ORDER BY time",
        [[3.0, 3, 2.0], [-3.0, -3, -2.0], [1.0, 1, 1.0], [7.0, 7, 7.0]],
    ),
    ("SELECT log10(n * 0 + 1000) = 3, floor(log10(n * 0 + 1000000)) FROM cpu WHERE host = 'b'", [[True, 6.0]]),
    ("SELECT host, count(host), min(host) FROM cpu GROUP BY host ORDER BY host", [["a", 2, "a"], ["b", 1, "b"], ["c", 1, "c"]]),
    ("SELECT concat(host, usage > 0), ceil(usage)::text FROM cpu WHERE host = 'b'", [["bf", "-2"]]),
    ("SELECT ceil(usage * 0.1)::text FROM cpu WHERE host = 'b'", [["-0"]]),
    # what SQLAlchemy writes: IS TRUE / IS NOT FALSE, startswith / contains, IS [NOT] DISTINCT FROM, ESCAPE
    ("SELECT host FROM cpu WHERE (usage > 0) IS TRUE ORDER BY time", [["a"], ["c"]]),
    ("SELECT host FROM cpu WHERE NOT ((usage > 0) IS FALSE) ORDER BY time", [["a"], ["c"]]),
    ("SELECT count(*) FROM cpu WHERE s LIKE '%' || 'o' || '%'", [[1]]),
    ("SELECT host FROM cpu WHERE host LIKE 'a' || '%' ORDER BY time", [["a"], ["a"]]),
    ("SELECT count(*) FROM cpu WHERE s LIKE 'ab/,%' ESCAPE '/'", [[1]]),
    ("SELECT host FROM cpu WHERE host IS DISTINCT FROM 'a' ORDER BY time", [["b"], ["c"]]),
    ("SELECT host, count(*) FROM cpu WHERE s LIKE 'x' || '%' OR n IS DISTINCT FROM 0 GROUP BY host ORDER BY host",
     [["a", 1], ["b", 1], ["c", 1]]),
    ("SELECT string_agg(host, ',' ORDER BY time) FROM cpu", [["a,b,a,c"]]),
    ("SELECT host, string_agg(s, ' | ' ORDER BY n DESC) FROM cpu GROUP BY host ORDER BY host",
     [["a", "Hello world | ab,cd"], ["b", "xyz"], ["c", "  pad  "]]),
    ("SELECT string_agg(s, '' ORDER BY s) FILTER (WHERE n > 0), string_agg(host, NULL ORDER BY host DESC) FROM cpu",
     [["  pad  Hello world", "cbaa"]]),
    ("SELECT string_agg(host, ',') FROM cpu WHERE usage > 1000", [[None]]),
    ("SELECT count(*), sum(2), max('x'), count(NULL), count(*) + 1 AS c", [[1, 2, "x", 0, 2]]),
    ("SELECT count(*) WHERE false", [[0]]),
    ("SELECT div(n, 3), div(-7, 2), octet_length(s), bit_length(host) FROM cpu ORDER BY time",
     [[1.0, -3.0, 11, 8], [-2.0, -3.0, 3, 8], [0.0, -3.0, 5, 8], [4.0, -3.0, 7, 8]]),  # numeric: a double precision here
    ("SELECT div(7.5, 2), div(usage::numeric, 2) FROM cpu WHERE host = 'c'", [[3.0, 50.0]]),
    ("SELECT host FROM cpu WHERE s SIMILAR TO '%(world|d)' ORDER BY time", [["a"], ["a"]]),
    ("SELECT s SIMILAR TO '[a-z]{3}', s NOT SIMILAR TO '%,%' FROM cpu ORDER BY time",
     [[False, True], [True, True], [False, False], [False, True]]),
    ("SELECT count(*) FROM cpu WHERE host SIMILAR TO '(a|c)'", [[3]]),
    ("SELECT 'a.c' SIMILAR TO 'a.c', 'abc' SIMILAR TO 'a.c', 'a%' SIMILAR TO 'a#%' ESCAPE '#', 'aaa' SIMILAR TO 'a{2,3}'",
     [[True, False, True, True]]),
]


@pytest.mark.parametrize(("sql", "expected"), ANSWERS, ids=[sql for sql, _ in ANSWERS])
def test_answers_as_postgresql(engine: StorageEngine, sql: str, expected: list[list[Any]]) -> None:
    got = execute_sql(engine, sql).rows
    assert len(got) == len(expected), got
    for got_row, expected_row in zip(got, expected):
        assert len(got_row) == len(expected_row) and all(map(same_value, got_row, expected_row)), (got_row, expected_row)


ERRORS = [
    ("SELECT sqrt(usage) FROM cpu", "2201F", "cannot take square root of a negative number"),
    ("SELECT ln(usage) FROM cpu WHERE host = 'a'", "2201E", "cannot take logarithm of zero"),
    ("SELECT power(usage, 0.5) FROM cpu", "2201F", "a negative number raised to a non-integer power yields a complex result"),
    ("SELECT exp(n * 1000) FROM cpu", "22003", "value out of range: overflow"),
    ("SELECT exp(usage * 1000) FROM cpu WHERE n < 0", "22003", "value out of range: underflow"),
    ("SELECT power(usage, -1000) FROM cpu WHERE host = 'c'", "22003", "value out of range: underflow"),
    ("SELECT CASE WHEN n > 0 THEN 1 ELSE 'x' END FROM cpu", "22P02", "x"),
    ("SELECT CASE WHEN n THEN 1 END FROM cpu", "42804", "argument of CASE/WHEN must be type boolean, not type bigint"),
    ("SELECT CASE WHEN n > 0 THEN n ELSE s END FROM cpu", "42804", "CASE types text and bigint cannot be matched"),
    ("SELECT lower(n) FROM cpu", "42883", "function lower(bigint) does not exist"),
    ("SELECT n || n FROM cpu", "42883", "operator does not exist: bigint || bigint"),
    ("SELECT substring(s, 1, -1) FROM cpu", "22011", "negative substring length not allowed"),
    ("SELECT nullif(n, n) + n / 0 FROM cpu", "22012", "division by zero"),  # the NULL does not spare the error
    ("SELECT host, usage FROM cpu GROUP BY host", "42803",
     'column "cpu.usage" must appear in the GROUP BY clause or be used in an aggregate function'),
    ("SELECT host, count(*) FROM cpu", "42803", 'column "cpu.host" must appear in the GROUP BY clause'),
    ("SELECT usage FROM cpu ORDER BY 3", "42P10", "ORDER BY position 3 is not in select list"),
    ("SELECT host FROM cpu GROUP BY 2", "42P10", "GROUP BY position 2 is not in select list"),
    ("SELECT usage FROM cpu LIMIT -1", "2201W", "LIMIT must not be negative"),
    ("SELECT count(*) FROM cpu WHERE time > '2024-13-01'", "22008", 'date/time field value out of range: "2024-13-01"'),
    ("SELECT '2024-13-01'::timestamptz", "22008", "date/time field value out of range"),
    ("SELECT count(*) FROM cpu WHERE time > 'abc'", "22007", 'invalid input syntax for type timestamp with time zone: "abc"'),
    ("SELECT n + 'x' FROM cpu", "22P02", 'invalid input syntax for type bigint: "x"'),
    ("SELECT '1e400'::float8", "22003", '"1e400" is out of range for type double precision'),
    ("SELECT usage FROM cpu OFFSET -1", "2201X", "OFFSET must not be negative"),
    ("SELECT string_agg(n, ',') FROM cpu", "42883", "function string_agg(bigint, unknown) does not exist"),
    ("SELECT div(n, 0) FROM cpu", "22012", "division by zero"),
    ("SELECT div(usage, 2) FROM cpu", "42883", "function div(double precision, "),
]


@pytest.mark.parametrize(("sql", "sqlstate", "words"), [e for e in ERRORS if e[1]], ids=[e[0] for e in ERRORS if e[1]])
def test_errors_as_postgresql(engine: StorageEngine, sql: str, sqlstate: str, words: str) -> None:
    with pytest.raises(QueryError) as caught:
        execute_sql(engine, sql)
    assert sqlstate_of(caught.value) == sqlstate and words in str(caught.value), str(caught.value)


def test_column_names_and_types_are_postgresqls(engine: StorageEngine) -> None:
    result = execute_sql(
        engine,
        "SELECT round(usage), coalesce(n, 0), CASE WHEN n > 0 THEN 'p' END, upper(host), length(s), host || s, "
        "to_timestamp(1), usage::text, abs(n) FROM cpu LIMIT 1",
    )
    names = [column.name for column in result.columns]
    types = [column.type for column in result.columns]
    assert names == ["round", "coalesce", "case", "upper", "length", "?column?", "to_timestamp", "usage", "abs"]
    assert types == ["float", "integer", "string", "string", "integer", "string", "timestamp", "string", "integer"]


def test_unaliased_aggregates_are_named_as_postgresql_names_them(engine: StorageEngine) -> None:
    # PostgreSQL 15 over the same table: avg | count | count | sum | min | max | stddev | stddev_samp | ...
    result = execute_sql(
        engine,
        "SELECT avg(usage), count(*), count(DISTINCT host), sum(n), min(usage), max(usage), stddev(usage), "
        "stddev_samp(usage), percentile_cont(0.5) WITHIN GROUP (ORDER BY usage), avg(usage) FILTER (WHERE n > 0), "
        "max(abs(n)) FROM cpu",
    )
    names = [column.name for column in result.columns]
    assert names == [
        "avg", "count", "count", "sum", "min", "max", "stddev", "stddev_samp", "percentile_cont", "avg", "max",
    ]
    assert result.rows[0][0] == pytest.approx(24.84375) and result.rows[0][1] == 4 and result.rows[0][2] == 3
    grouped = execute_sql(engine, "SELECT host, max(n), mean(usage) FROM cpu GROUP BY host ORDER BY host")
    assert [column.name for column in grouped.columns] == ["host", "max", "mean"]
    assert [row[:2] for row in grouped.rows] == [["a", 3], ["b", -7], ["c", 12]]


def test_time_buckets_of_each_row(engine: StorageEngine) -> None:
    # PostgreSQL 15 (time_bucket as TimescaleDB's: date_bin from 2000-01-03): 05:00, 06:00, 07:00, 08:00 | 04:00, 06:00,
    # 06:00, 08:00 | 2025-12-01 for each row; columns named after the functions
    result = execute_sql(
        engine, "SELECT date_trunc('hour', time), time_bucket('2 hours', time), date_trunc('month', time) FROM cpu ORDER BY time"
    )
    assert [column.name for column in result.columns] == ["date_trunc", "time_bucket", "date_trunc"]
    hour = 3_600_000_000_000
    start = 1_764_997_200_000_000_000  # 2025-12-06 05:00 UTC
    month = 1_764_547_200_000_000_000  # 2025-12-01
    assert result.rows == [
        [start, start - hour, month], [start + hour, start + hour, month],
        [start + 2 * hour, start + hour, month], [start + 3 * hour, start + 3 * hour, month],
    ]


NON_FINITE = [  # PostgreSQL 15 over the same rows: NaN equals NaN and is above every number
    ("SELECT count(*) FROM cpu WHERE usage < 'NaN'::float8", 4),
    ("SELECT count(*) FROM cpu WHERE usage > 'NaN'::float8", 0),
    ("SELECT count(*) FROM cpu WHERE usage <> 'NaN'::float8", 4),
    ("SELECT count(*) FROM cpu WHERE usage < 'Infinity'::float8", 4),
    ("SELECT count(*) FROM cpu WHERE n > '-Infinity'::float8", 4),
    ("SELECT count(*) FROM cpu WHERE n = ANY('{3,0}'::bigint[])", 2),
    ("SELECT count(*) FROM cpu WHERE host = ANY(ARRAY['a', 'c'])", 3),
]


@pytest.mark.parametrize(("sql", "count"), NON_FINITE, ids=[sql for sql, _ in NON_FINITE])
def test_non_finite_constants_and_arrays(engine: StorageEngine, sql: str, count: int) -> None:
    assert execute_sql(engine, sql).rows == [[count]]


def test_non_finite_values_print_and_compare_as_postgresql(engine: StorageEngine) -> None:
    row = execute_sql(engine, "SELECT 'NaN'::float8, '-inf'::float8, 'NaN'::float8 = 'NaN'::float8, 1 < 'NaN'::float8").rows[0]
    assert math.isnan(row[0]) and row[1] == -math.inf and row[2:] == [True, True]
    with pytest.raises(QueryError) as caught:
        execute_sql(engine, "SELECT 'many'::float8")
    assert sqlstate_of(caught.value) == "22P02"


def test_a_double_precision_literal_rounds_halves_to_even(engine: StorageEngine) -> None:
    # PostgreSQL 15: 2 | 4 | 3 | -2 (2.5 alone is a numeric, rounded away from zero)
    sql = "SELECT round(2.5::float8), round(3.5::float8), round(2.5), round(-2.5::double precision)"
    assert execute_sql(engine, sql).rows == [[2.0, 4.0, 3.0, -2.0]]


PREDICATES = [  # PostgreSQL 15 over the same rows (n: 3, -7, 0, 12)
    ("SELECT count(*) FROM cpu WHERE n BETWEEN SYMMETRIC 3 AND -7", [[3]]),
    ("SELECT 5 BETWEEN SYMMETRIC 10 AND 1, 5 BETWEEN 10 AND 1", [[True, False]]),
    ("SELECT host, max(n) FROM cpu GROUP BY host HAVING max(n) BETWEEN SYMMETRIC 5 AND 1 ORDER BY host", [["a", 3]]),
    ("SELECT count(*) FROM cpu WHERE NOT (n BETWEEN 1 AND NULL)", [[2]]),  # n < 1 makes it false, so NOT true
    ("SELECT count(*) FROM cpu WHERE n NOT BETWEEN 2 AND NULL", [[2]]),
    ("SELECT count(*) FROM cpu WHERE n BETWEEN 1 AND NULL", [[0]]),
    ("SELECT 9007199254740993::float8 = 9007199254740993", [[True]]),  # compared as double precision
    ("SELECT round(2.5::numeric), 2.5::numeric::bigint, '2.5'::numeric::bigint", [[3.0, 3, 3]]),
    ("SELECT (-0.5)::float8::bigint, (-2.5)::float8::bigint, round((-2.5)::float8)", [[0, -2, -2.0]]),
    ("SELECT 'abcd'::varchar(2), 'abcd'::char(2), 2.345::numeric(4,2)", [["ab", "ab", 2.35]]),
]


@pytest.mark.parametrize(("sql", "expected"), PREDICATES, ids=[sql for sql, _ in PREDICATES])
def test_predicates_and_literal_casts_as_postgresql(engine: StorageEngine, sql: str, expected: list[list[Any]]) -> None:
    assert execute_sql(engine, sql).rows == expected


def test_count_distinct_takes_minus_zero_for_zero(tmp_path: Path) -> None:
    engine = StorageEngine.open(EngineOptions(str(tmp_path), wal_durability="none"), engine_parser)
    try:
        assert engine.write_line_protocol(b"m,h=a f=0.0 1\nm,h=a f=-0.0 2\nm,h=b f=-0.0 3\nm,h=b f=1.5 4").errors == []
        # PostgreSQL: 1 | a 1, b 2 (0.0 = -0.0)
        assert execute_sql(engine, "SELECT count(DISTINCT f) FROM m WHERE f = 0").rows == [[1]]
        assert execute_sql(engine, "SELECT h, count(DISTINCT f) FROM m GROUP BY h ORDER BY h").rows == [["a", 1], ["b", 2]]
    finally:
        engine.close()


def test_padding_repeat_split_md5_translate_as_postgresql(engine: StorageEngine) -> None:
    # PostgreSQL 15 over the same rows (s: 'Hello world', 'xyz', 'ab,cd', '  pad  ')
    result = execute_sql(
        engine,
        "SELECT lpad(s, 12, '*'), rpad(host, 4, 'xy'), lpad(s, 3), repeat(host, 2), split_part(s, ',', 2), "
        "split_part(s, ' ', -1), md5(s), translate(s, 'lo', 'L') FROM cpu ORDER BY time",
    )
    assert [c.name for c in result.columns] == ["lpad", "rpad", "lpad", "repeat", "split_part", "split_part", "md5", "translate"]
    assert result.rows[0] == ["*Hello world", "axyx", "Hel", "aa", "", "world", "3e25960a79dbc69b674cd4ec67a72c62", "HeLL wrLd"]
    assert result.rows[2] == ["*******ab,cd", "axyx", "ab,", "aa", "cd", "ab,cd", "b6a43c5ed719b44037dd330b1d26ee42", "ab,cd"]
    with pytest.raises(QueryError) as caught:
        execute_sql(engine, "SELECT split_part(s, ',', 0) FROM cpu")
    assert sqlstate_of(caught.value) == "22023" and "field position must not be zero" in str(caught.value)


def test_booleans_as_integers_and_percentiles_in_descending_order(engine: StorageEngine) -> None:
    # PostgreSQL 15: 2 | 2, and percentile_cont(0.25) over usage DESC is its 0.75 ascending
    assert execute_sql(engine, "SELECT sum((n > 0)::int), sum(CASE WHEN n > 0 THEN 1 ELSE 0 END) FROM cpu").rows == [[2, 2]]
    both = execute_sql(engine, "SELECT percentile_cont(0.25) WITHIN GROUP (ORDER BY usage DESC), "
                               "percentile_cont(0.75) WITHIN GROUP (ORDER BY usage) FROM cpu").rows[0]
    assert both[0] == pytest.approx(both[1]) and both[1] == pytest.approx(26.15625)
    for sql, state in [("SELECT (n > 0)::bigint FROM cpu", "42883"),
                       ("SELECT percentile_cont(1.5) WITHIN GROUP (ORDER BY usage) FROM cpu", "22003")]:
        with pytest.raises(QueryError) as caught:
            execute_sql(engine, sql)
        assert sqlstate_of(caught.value) == state, str(caught.value)


def test_aggregates_only_rows_answer(engine: StorageEngine) -> None:
    # PostgreSQL 15 over the same rows (its numeric results compared by value)
    row = execute_sql(engine, "SELECT var_samp(usage), var_pop(usage), stddev_pop(usage), variance(n) FROM cpu").rows[0]
    assert row == pytest.approx([2521.16015625, 1890.8701171875, 43.48413638543946, 62.0])
    grouped = execute_sql(engine, "SELECT host, var_samp(usage), stddev_pop(n) FROM cpu GROUP BY host ORDER BY host").rows
    assert grouped == [["a", 1.125, 1.5], ["b", None, 0.0], ["c", None, 0.0]]
    flags = execute_sql(engine, "SELECT bool_and(n > 0), bool_or(n > 0), every(n >= -7), var_pop(n), stddev_pop(n) FROM cpu")
    assert flags.rows[0][:3] == [False, True, True]
    assert [c.name for c in flags.columns] == ["bool_and", "bool_or", "every", "var_pop", "stddev_pop"]
    distinct = execute_sql(engine, "SELECT sum(DISTINCT n % 2), avg(DISTINCT n % 2), min(DISTINCT n), max(DISTINCT usage) FROM cpu")
    assert distinct.rows == [[0, 0.0, -7, 100.125]]
    assert [c.name for c in distinct.columns] == ["sum", "avg", "min", "max"]
    assert execute_sql(engine, "SELECT sum(DISTINCT n), bool_or(n > 0) FROM cpu WHERE n > 100").rows == [[None, None]]
    for sql in ("SELECT bool_and(n) FROM cpu", "SELECT sum(DISTINCT host) FROM cpu"):
        with pytest.raises(QueryError) as caught:
            execute_sql(engine, sql)
        assert sqlstate_of(caught.value) == "42883", str(caught.value)


def test_an_untyped_literal_in_arithmetic_takes_the_other_sides_type(engine: StorageEngine) -> None:
    # PostgreSQL 15: n + '1' is bigint arithmetic, usage * '2' double precision, 1 + '1' is 2
    result = execute_sql(engine, "SELECT n + '1', usage * '2', 1 + '1' FROM cpu ORDER BY time LIMIT 1")
    assert result.rows == [[4, 3.0, 2]] and [c.type for c in result.columns] == ["integer", "float", "integer"]


def test_distinct_on_keeps_the_first_row_of_each_value(engine: StorageEngine) -> None:
    # PostgreSQL 15: the latest row per host (TimescaleDB's "last value per device" idiom), and the rest
    latest = execute_sql(engine, "SELECT DISTINCT ON (host) host, time, usage FROM cpu ORDER BY host, time DESC").rows
    assert latest == [["a", BASE + 2 * HOUR, 0.0], ["b", BASE + HOUR, -2.25], ["c", BASE + 3 * HOUR, 100.125]]
    assert execute_sql(engine, "SELECT DISTINCT ON (1) host, n FROM cpu ORDER BY 1, 2 DESC LIMIT 2").rows == [["a", 3], ["b", -7]]
    flags = execute_sql(engine, "SELECT DISTINCT ON (n > 0) n > 0 AS p, host FROM cpu ORDER BY n > 0, host").rows
    assert flags == [[False, "a"], [True, "a"]]
    grouped = execute_sql(engine, "SELECT DISTINCT ON (host) host, count(*) FROM cpu GROUP BY host ORDER BY host").rows
    assert grouped == [["a", 2], ["b", 1], ["c", 1]]


def test_constant_times_and_fetch_first(engine: StorageEngine) -> None:
    # PostgreSQL 15: date_trunc of a constant time is a constant (so WHERE can use it as a bound), current_date
    # is today's midnight (UTC here), FETCH FIRST is LIMIT
    day = 1_764_979_200_000_000_000  # 2025-12-06
    now = day + 8 * HOUR
    assert execute_sql(engine, "SELECT count(*) FROM cpu WHERE time >= date_trunc('hour', '2025-12-06T07:50:00Z'::timestamptz)").rows == [[2]]
    assert execute_sql(engine, "SELECT count(*) FROM cpu WHERE time >= current_date", now=now).rows == [[4]]
    assert execute_sql(engine, "SELECT count(*) FROM cpu WHERE time < date_trunc('day', now())", now=now).rows == [[0]]
    constants = execute_sql(engine, "SELECT current_date, date_trunc('week', now()), date_trunc('quarter', now())", now=now).rows
    assert constants == [[day, 1_764_547_200_000_000_000, 1_759_276_800_000_000_000]]
    assert execute_sql(engine, "SELECT usage FROM cpu ORDER BY time OFFSET 1 ROWS FETCH NEXT 2 ROWS ONLY").rows == [[-2.25], [0.0]]


def test_limit_and_offset_take_constant_expressions_and_null(engine: StorageEngine) -> None:
    # PostgreSQL 15: LIMIT NULL is no limit, LIMIT 1 + 1 is 2, a column there is 42P10
    rows = [[1.5], [-2.25], [0.0], [100.125]]
    assert execute_sql(engine, "SELECT usage FROM cpu ORDER BY time LIMIT NULL").rows == rows
    assert execute_sql(engine, "SELECT usage FROM cpu ORDER BY time LIMIT 1 + 1 OFFSET NULL").rows == rows[:2]
    assert execute_sql(engine, "SELECT DISTINCT 1").rows == [[1]]
    with pytest.raises(QueryError) as caught:
        execute_sql(engine, "SELECT usage FROM cpu LIMIT n")
    assert sqlstate_of(caught.value) == "42P10" and "must not contain variables" in str(caught.value)


def test_percentile_disc_answers_a_value_of_the_group(engine: StorageEngine) -> None:
    # PostgreSQL 15: 0 | -7 | -7 | 12, per host in descending order a 3, b -7, c 12, and text and times too
    row = execute_sql(engine, "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY usage), percentile_disc(0.25) WITHIN GROUP "
                              "(ORDER BY n), percentile_disc(0) WITHIN GROUP (ORDER BY n), percentile_disc(1) WITHIN GROUP "
                              "(ORDER BY n) FROM cpu")
    assert row.rows == [[0.0, -7, -7, 12]] and [c.name for c in row.columns] == ["percentile_disc"] * 4
    grouped = execute_sql(engine, "SELECT host, percentile_disc(0.5) WITHIN GROUP (ORDER BY n DESC) FROM cpu GROUP BY host ORDER BY host")
    assert grouped.rows == [["a", 3], ["b", -7], ["c", 12]]
    typed = execute_sql(engine, "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY s), percentile_disc(0.5) WITHIN GROUP "
                                "(ORDER BY time) FROM cpu")
    assert typed.rows == [["Hello world", BASE + HOUR]] and [c.type for c in typed.columns] == ["string", "timestamp"]
