"""Line protocol: the grammar, every per-line error, and fast path == general scanner."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rusts.api.line_protocol import parse_lines, parse_lines_ok
from rusts.core.hashing import series_id, series_key
from rusts.core.types import FieldType
from rusts.core.kinds import KIND_NAMES


def rows_of(body: bytes | str, fast: bool = True, precision: str = "ns", default_time: int = 0) -> tuple[list, list]:
    """(rows, errors) in a comparable form: rows sorted by line number."""
    result = parse_lines_ok(body, precision=precision, default_time=default_time, fast=fast)
    rows = []
    for batch in result.series:
        assert batch.series_id == series_id(batch.measurement, batch.tags)
        assert len(batch.lines) == len(batch.timestamps)
        for row, line in enumerate(batch.lines.tolist()):
            fields = {}
            for name, column in batch.columns.items():
                assert len(column.values) == len(batch.timestamps)
                if KIND_NAMES[column.kind] == "string":  # absent rows hold "", never None
                    assert all(isinstance(v, str) for v in column.values)
                if column.present is None or bool(column.present[row]):
                    value = column.values[row]
                    fields[name] = (KIND_NAMES[column.kind], value.item() if hasattr(value, "item") else value)
            rows.append((line, batch.key, int(batch.timestamps[row]), fields))
    rows.sort(key=lambda r: r[0])
    errors = [(e.line, e.message) for e in result.errors]
    return rows, errors


def one(line: str, **kwargs: object) -> dict:
    rows, errors = rows_of(line, **kwargs)  # type: ignore[arg-type]
    assert errors == [], errors
    assert len(rows) == 1
    _, key, ts, fields = rows[0]
    return {"key": key, "ts": ts, "fields": fields}


def error_of(line: str) -> str:
    for fast in (True, False):
        rows, errors = rows_of(line, fast=fast)
        assert rows == [], rows
        assert len(errors) == 1, errors
    return errors[0][1]


# --- the grammar -----------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "key", "ts", "fields"),
    [
        ("cpu value=1 10", "cpu", 10, {"value": ("float", 1.0)}),
        ("cpu,host=a,region=eu value=1.5 10", "cpu,host=a,region=eu", 10, {"value": ("float", 1.5)}),
        ("cpu,region=eu,host=a value=1.5 10", "cpu,host=a,region=eu", 10, {"value": ("float", 1.5)}),
        ("cpu v=-1e3,w=2.5E-2,x=.5,y=5.,z=-0.0 1", "cpu", 1, {"v": ("float", -1000.0), "w": ("float", 0.025), "x": ("float", 0.5), "y": ("float", 5.0), "z": ("float", -0.0)}),
        ("cpu i=-9223372036854775808i,j=9223372036854775807i 1", "cpu", 1, {"i": ("integer", -(2**63)), "j": ("integer", 2**63 - 1)}),
        ("cpu u=0u,v=18446744073709551615u 1", "cpu", 1, {"u": ("unsigned", 0), "v": ("unsigned", 2**64 - 1)}),
        ("cpu a=t,b=T,c=true,d=True,e=TRUE 1", "cpu", 1, {k: ("boolean", True) for k in "abcde"}),
        ("cpu a=f,b=F,c=false,d=False,e=FALSE 1", "cpu", 1, {k: ("boolean", False) for k in "abcde"}),
        ('cpu s="hello, world = yes" 1', "cpu", 1, {"s": ("string", "hello, world = yes")}),
        ('cpu s="" 1', "cpu", 1, {"s": ("string", "")}),
        ('cpu s="say \\"hi\\" \\\\ \\n" 1', "cpu", 1, {"s": ("string", 'say "hi" \\ \\n')}),
        ("my\\ cpu\\,x,ho\\ st=a\\,b\\=c f\\=1\\ 2=1 1", "my\\ cpu\\,x,ho\\ st=a\\,b\\=c", 1, {"f=1 2": ("float", 1.0)}),
        ("cpu,host=a v=1,v=2 1", "cpu,host=a", 1, {"v": ("float", 2.0)}),
        ("cpu v=1 -5", "cpu", -5, {"v": ("float", 1.0)}),
        ("cpu v=1   7  ", "cpu", 7, {"v": ("float", 1.0)}),
        ("  cpu v=1 7", "cpu", 7, {"v": ("float", 1.0)}),
        ("cpu v=1 7\r", "cpu", 7, {"v": ("float", 1.0)}),
        ("cpu=x v=1 7", "cpu=x", 7, {"v": ("float", 1.0)}),
        ('cpu,t="q" v=1 7', 'cpu,t="q"', 7, {"v": ("float", 1.0)}),
        ("温度,地点=東京 値=21.5 7", "温度,地点=東京", 7, {"値": ("float", 21.5)}),
    ],
)
def test_valid_lines(line: str, key: str, ts: int, fields: dict) -> None:
    for fast in (True, False):
        got = one(line, fast=fast)
        assert got == {"key": key, "ts": ts, "fields": fields}


def test_backslash_before_an_ordinary_character_is_literal() -> None:
    got = one("c\\pu,ho\\st=a\\b f\\x=1 1")
    assert got["fields"] == {"f\\x": ("float", 1.0)}
    (batch,) = parse_lines_ok("c\\pu,ho\\st=a\\b f\\x=1 1").series
    assert batch.measurement == "c\\pu"
    assert batch.tags == [("ho\\st", "a\\b")]


def test_a_doubled_backslash_is_one_backslash_even_before_a_delimiter() -> None:
    # The line protocol reference: two contiguous backslashes read as one, the first escaping the second.
    line = r"c\\pu,t=a\\,u=b\\\,c,v=x\\y f\\=1,g\\\\h=2 1"
    for fast in (True, False):
        (batch,) = parse_lines_ok(line, fast=fast).series
        assert batch.measurement == "c\\pu"
        assert batch.tags == [("t", "a\\"), ("u", "b\\,c"), ("v", "x\\y")]
        assert sorted(batch.columns) == ["f\\", "g\\\\h"]
    # \\\ is \\ followed by a lone backslash before an ordinary character: two backslashes
    (batch,) = parse_lines_ok(r"m,t=a\\\b f=1 1").series
    assert batch.tags == [("t", "a\\\\b")]


def test_the_time_range_is_line_protocols() -> None:
    # -9223372036854775806 .. 9223372036854775806; the i64 ends would be unreachable by any query.
    for ts in (2**63 - 2, -(2**63) + 2):
        assert one(f"cpu v=1 {ts}")["ts"] == ts
    for ts in (2**63 - 1, -(2**63) + 1, -(2**63)):
        assert "out of range" in error_of(f"cpu v=1 {ts}")
    assert "out of range" in rows_of("cpu v=1 9223372037", precision="s")[1][0][1]


@pytest.mark.parametrize(
    ("line", "message"),
    [("_cpu v=1 1", "measurement name '_cpu' starts with '_'"), ("cpu,_host=a v=1 1", "tag key '_host' starts with '_'"),
     ("cpu _v=1 1", "field key '_v' starts with '_'"), ("cpu v=1,_w=2 1", "field key '_w' starts with '_'")],
)
def test_names_starting_with_an_underscore_are_reserved(line: str, message: str) -> None:
    assert message in error_of(line)
    assert one("cpu,host=_a v_=1 1")["key"] == "cpu,host=_a", "only a leading underscore of a name is reserved"


def test_a_string_field_holds_at_most_64_kb() -> None:
    for fast in (True, False):
        assert one(f'cpu s="{"x" * 65536}" 1', fast=fast)["fields"]["s"] == ("string", "x" * 65536)
        assert "longer than the limit of 65536 bytes" in rows_of(f'cpu s="{"x" * 65537}" 1', fast=fast)[1][0][1]
        # the limit is in UTF-8 bytes: 16385 four-byte characters are over it
        assert "longer than the limit" in rows_of(f'cpu s="{"😀" * 16385}" 1', fast=fast)[1][0][1]
        assert one(f'cpu s="{"😀" * 16384}" 1', fast=fast)["fields"]["s"][1] == "😀" * 16384


def test_errors_name_the_column_where_they_are_found() -> None:
    cases = [("cpu,a=1,b=2,a=3 v=1", 13, "duplicate tag key 'a'"), ("cpu,host=a", 11, "missing fields"),
             ('cpu v=1,s="open', 11, "unterminated string"), ("cpu\tv=1 1", 0, "a tab in the measurement or tags is part of the name")]
    for line, column, message in cases:
        for fast in (True, False):
            (error,) = parse_lines_ok(line, fast=fast).errors
            assert message in error.message and (column == 0 or error.column == column), (line, error)


def test_field_types_are_numpy_columns() -> None:
    body = "\n".join(f"m,h=a f={i}.5,i={i}i,u={i}u,b=t,s=\"x{i}\" {i}" for i in range(100))
    (batch,) = parse_lines_ok(body).series
    assert batch.columns["f"].values.dtype == np.float64
    assert batch.columns["i"].values.dtype == np.int64
    assert batch.columns["u"].values.dtype == np.uint64
    assert batch.columns["b"].values.dtype == np.bool_
    assert batch.columns["s"].values == [f"x{i}" for i in range(100)]
    assert batch.timestamps.tolist() == list(range(100))


def test_missing_timestamp_uses_default_and_precision_scales() -> None:
    assert one("cpu v=1", default_time=123)["ts"] == 123
    assert one("cpu v=1 5", precision="s")["ts"] == 5_000_000_000
    assert one("cpu v=1 5", precision="ms")["ts"] == 5_000_000
    assert one("cpu v=1 5", precision="us")["ts"] == 5_000
    with pytest.raises(ValueError, match="unknown precision 'h'"):
        parse_lines_ok("cpu v=1", precision="h")


def test_comments_blank_lines_crlf() -> None:
    rows, errors = rows_of("# a comment\r\n\r\n   \ncpu v=1 1\r\n  # indented comment\ncpu v=2 2\r\n")
    assert errors == []
    assert [(r[0], r[2]) for r in rows] == [(4, 1), (6, 2)]


def test_newline_inside_a_string_belongs_to_the_value() -> None:
    rows, errors = rows_of('cpu s="two\nlines",v=1 5\ncpu v=2 6')
    assert errors == []
    assert rows[0][3]["s"] == ("string", "two\nlines")
    assert rows[1][0] == 3


# --- errors, one line at a time ---------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("cpu", "missing fields"),
        ("cpu ", "missing fields"),
        ("cpu,host=a", "missing fields"),
        (",host=a v=1", "missing measurement name"),
        (" v=1", "missing fields"),
        ("cpu,host v=1", "missing tag value"),
        ("cpu,=a v=1", "empty tag key"),
        ("cpu,host= v=1", "missing tag value"),
        ("cpu,a=1,a=2 v=1", "duplicate tag key 'a'"),
        ("cpu,time=1 v=1", "tag key 'time' is reserved"),
        ("cpu time=1", "field key 'time' is reserved"),
        ("cpu v= 1", "missing value for field 'v'"),
        ("cpu =1", "empty field key"),
        ("cpu v", "missing '=' after field key"),
        ("cpu v=abc", "invalid field value 'abc'"),
        ("cpu v=nan", "invalid field value 'nan'"),
        ("cpu v=inf", "invalid field value 'inf'"),
        ("cpu v=-inf", "invalid field value '-inf'"),
        ("cpu v=+1", "invalid field value '+1'"),
        ("cpu v=1e999", "out of range"),
        ("cpu v=1.2.3", "invalid field value"),
        ("cpu v=9223372036854775808i", "out of range for a signed 64-bit integer"),
        ("cpu v=-9223372036854775809i", "out of range for a signed 64-bit integer"),
        ("cpu v=18446744073709551616u", "out of range for an unsigned 64-bit integer"),
        ("cpu v=-1u", "out of range for an unsigned 64-bit integer"),
        ("cpu v=1.5i", "invalid field value '1.5i'"),
        ("cpu v=i", "invalid field value 'i'"),
        ("cpu v=yes", "invalid field value 'yes'"),
        ("cpu v=tru", "invalid field value 'tru'"),
        ('cpu v="open', "unterminated string"),
        ('cpu v="a"b', "unexpected 'b' after field value"),
        ("cpu v=1 12x", "invalid timestamp '12x'"),
        ("cpu v=1 1.5", "invalid timestamp '1.5'"),
        ("cpu v=1 99999999999999999999", "out of range"),
        ("cpu v=1 1 2", "unexpected text after the timestamp"),
        ("cpu\\", "bad escape"),
        ("cpu,host=a\\", "bad escape"),
    ],
)
def test_bad_lines(line: str, message: str) -> None:
    assert message in error_of(line)


def test_timestamp_overflow_after_precision() -> None:
    assert "out of range" in rows_of("cpu v=1 9300000000000", precision="s")[1][0][1]


def test_bad_lines_never_fail_the_batch() -> None:
    body = "cpu v=1 1\ncpu v=oops 2\ncpu v=3 3\nnot valid\ncpu v=5 5\n"
    for fast in (True, False):
        rows, errors = rows_of(body, fast=fast)
        assert [r[0] for r in rows] == [1, 3, 5]
        assert [e[0] for e in errors] == [2, 4]


def test_invalid_utf8_is_an_error_for_that_line_only() -> None:
    body = b"cpu v=1 1\ncpu,host=\xff\xfe v=2 2\ncpu v=3 3\n"
    rows, errors = rows_of(body)
    assert [r[0] for r in rows] == [1, 3]
    assert errors == [(2, "invalid UTF-8")]


def test_type_conflict_in_one_batch_rejects_the_later_line() -> None:
    body = "cpu v=1i 1\ncpu v=1.5 2\ncpu v=2i 3\nmem v=1.5 4\n"
    for fast in (True, False):
        rows, errors = rows_of(body, fast=fast)
        assert [r[0] for r in rows] == [1, 3, 4]
        assert errors == [(2, "field type conflict: field 'v' of measurement 'cpu' is integer earlier in this batch, got float")]


def test_general_and_fast_rows_of_one_series_merge_in_line_order() -> None:
    # The first line has a backslash (general scanner), the second not (fast path).
    body = 'cpu,host=a v=1,s="x \\"q\\"",b=t 10\ncpu,host=a v=2 20\ncpu,host=a v=3,s="y" 30'
    (batch,) = parse_lines_ok(body).series
    assert batch.timestamps.tolist() == [10, 20, 30]
    assert batch.columns["s"].values == ['x "q"', "", "y"]
    assert batch.columns["s"].present.tolist() == [True, False, True]
    assert batch.columns["b"].present.tolist() == [True, False, False]


def test_sparse_fields_are_masked() -> None:
    body = "m a=1 1\nm b=2i 2\nm a=3,b=4i 3\n"
    for fast in (True, False):
        (batch,) = parse_lines_ok(body, fast=fast).series
        assert batch.columns["a"].present is not None
        assert batch.columns["a"].present.tolist() == [True, False, True]
        assert batch.columns["b"].present.tolist() == [False, True, True]


def test_parse_lines_raises_the_first_error_and_builds_points() -> None:
    points = parse_lines("cpu,b=2,a=1 v=1i,s=\"x\" 5")
    assert points[0].series_key == "cpu,a=1,b=2"
    assert points[0].field_dict()["v"].type is FieldType.INTEGER
    with pytest.raises(Exception, match="line 2"):
        parse_lines("cpu v=1 1\ncpu v=x 2")


# --- property tests ----------------------------------------------------------

names = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=8)
tag_values = names
string_values = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), max_size=10)


def escape_name(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def escape_key(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


field_value = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(lambda v: ("float", v, repr(v))),
    st.integers(-(2**63), 2**63 - 1).map(lambda v: ("integer", v, f"{v}i")),
    st.integers(0, 2**64 - 1).map(lambda v: ("unsigned", v, f"{v}u")),
    st.booleans().map(lambda v: ("boolean", v, "true" if v else "F")),
    string_values.map(lambda v: ("string", v, '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"')),
)


def valid_key(text: str) -> bool:
    # 'time' and names starting with '_' are reserved; a leading '#' on the measurement makes a comment.
    return text != "time" and not text.startswith(("#", "_")) and "\n" not in text


points = st.tuples(
    names.filter(valid_key),
    st.dictionaries(names.filter(valid_key), tag_values.filter(valid_key), max_size=3),
    st.dictionaries(names.filter(valid_key), field_value, min_size=1, max_size=4),
    st.integers(-(2**63) + 2, 2**63 - 2),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(points, min_size=1, max_size=8))
def test_round_trip_of_generated_points(generated: list) -> None:
    lines = []
    expected = []
    for n, (measurement, tags, fields, ts) in enumerate(generated, start=1):
        tag_text = "".join(f",{escape_key(k)}={escape_key(v)}" for k, v in tags.items())
        field_text = ",".join(f"{escape_key(k)}={text}" for k, (_, _, text) in fields.items())
        lines.append(f"{escape_name(measurement)}{tag_text} {field_text} {ts}")
        key = series_key(measurement, sorted(tags.items()))
        expected.append((key, ts, {k: (kind, value) for k, (kind, value, _) in fields.items()}))
    body = "\n".join(lines)
    for fast in (True, False):
        rows, errors = rows_of(body, fast=fast)
        # A field that changes type within one series is a conflict; skip those batches.
        if errors:
            assert all("field type conflict" in message for _, message in errors)
            continue
        got = [(key, ts, fields) for _, key, ts, fields in rows]
        assert len(got) == len(expected)
        for (gk, gts, gf), (ek, ets, ef) in zip(got, expected):
            assert (gk, gts) == (ek, ets)
            assert gf.keys() == ef.keys()
            for name, (kind, value) in ef.items():
                assert gf[name][0] == kind
                if kind == "float":
                    assert math.copysign(1, gf[name][1]) == math.copysign(1, value) and gf[name][1] == value
                else:
                    assert gf[name][1] == value


fragments = st.sampled_from(
    ["cpu", "cpu,host=a", "cpu,host=b", "mem", " ", ",", "=", "v", "w", "1", "-", ".", "5", "e", "i", "u", "t",
     "false", '"', "\\", "x", "#", "\t", "time", "nan", "inf", "+", "0", "9999999999999999999999",
     '"a,b=c"', '"x y"', '""', "\r", "v=1", ",w=2i", ' 5', '"s"']
)
noisy_lines = st.lists(fragments, min_size=1, max_size=12).map("".join)
template_lines = st.builds(
    lambda series, a, b, ts: f"{series} v={a},w={b} {ts}",
    st.sampled_from(["cpu", "cpu,host=a", "mem,host=b"]),
    st.sampled_from(["1", "1.5", "-2", "3i", "4u", "t", '"s"', "x", "1e999", ".5", "-.5", "+1", "nan", '""',
                     '"a"b"', '"a,b=c d"', "tru", "-i", "i", "-", "1 ", "01"]),
    st.sampled_from(["2", "2i", "F", '"a b"', "7u", "-0", '"x" ', "2,", '"1 2"']),
    st.sampled_from(["1", "2", "-3", "", "9999999999999999999", "x"]),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(noisy_lines, template_lines, template_lines), min_size=1, max_size=30))
def test_fast_path_agrees_with_general_scanner(lines: list[str]) -> None:
    body = "\n".join(lines)
    assert rows_of(body, fast=True, default_time=42) == rows_of(body, fast=False, default_time=42)


def test_a_long_unterminated_string_is_one_error_found_in_linear_time() -> None:
    from rusts.api.line_protocol import parse_in_process

    # 200k lines inside an unclosed quote: re-parsing after every line took minutes.
    body = ('m,host=a s="' + "a\n" * 200_000).encode() + b"tail"
    batches, errors = parse_in_process(body, 1, 0)
    assert batches == [] and [(e.line, e.message) for e in errors] == [(1, "unterminated string field value: no closing quote")]
    closed = ('m,host=a s="' + "a\n" * 30_000 + 'b\\"c\nd" 5\nm,host=b x=1i 6').encode()
    batches, errors = parse_in_process(closed, 1, 0)
    assert errors == []
    values = {b.key: b.columns for b in batches}
    assert values["m,host=a"]["s"].values == ["a\n" * 30_000 + 'b"c\nd']
    assert values["m,host=b"]["x"].values.tolist() == [1]


def test_nul_characters_and_oversized_keys_are_refused_by_line() -> None:
    for fast in (True, False):
        rows, errors = rows_of(b"c\x00pu v=1 1\ncpu v=2 2\ncpu s=\"a\x00b\" 3", fast=fast)
        assert [r[0] for r in rows] == [2] and errors == [(1, "NUL character (0x00) in a line"), (3, "NUL character (0x00) in a line")]
        for line in ("m" * 70_000 + " v=1 1", "m,t=" + "v" * 70_000 + " v=1 1"):
            assert "longer than 65535 bytes, the limit of a series key" in rows_of(line, fast=fast)[1][0][1]
        assert "field key is longer than 65535 bytes" in rows_of("m " + "f" * 70_000 + "=1 1", fast=fast)[1][0][1]
    assert one("m" * 60_000 + " " + "f" * 60_000 + "=1 1")["ts"] == 1
