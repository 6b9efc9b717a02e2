"""The pgwire building blocks on their own: value encodings (columnar against per-value), statement
splitting and placeholders, parameter literals, and the SCRAM-SHA-256 exchange against a client-side
computation from RFC 5802."""

import base64
import hashlib
import hmac
import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rusts.pgwire import types as t
from rusts.pgwire.auth import AuthFailed, ScramExchange, check_md5
from rusts.pgwire.rows import encode_columnar, encode_rows
from rusts.pgwire.statements import deallocate_target, fill_placeholders, placeholders, split_statements, transaction_command
from rusts.core.pgtext import float_text, timestamp_text
from rusts.pgwire.values import ValueError22, data_row, encoders, literal

FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e14, 1e15, 1e-4, 1e-5, 123456789012345.0, 0.0, -0.0])
INTS = st.integers(-(1 << 63), (1 << 63) - 1)
TIMES = st.integers(-(1 << 62), (1 << 62))
COLUMNS = {t.FLOAT8: FLOATS, t.INT8: INTS, t.BOOL: st.booleans(), t.TEXT: st.text(), t.TIMESTAMPTZ: TIMES}


def per_value(rows: list[list[object]], oids: list[int], formats: list[int]) -> bytes:
    encode = encoders(oids, formats)
    out = b""
    for row in rows:
        body = data_row(row, encode)
        out += b"D" + struct.pack("!i", len(body) + 4) + body
    return out


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[list[object]], list[int], list[int]]:
    oids = draw(st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=5))
    formats = draw(st.lists(st.sampled_from([0, 1]), min_size=len(oids), max_size=len(oids)))
    rows = draw(st.lists(st.tuples(*[st.none() | COLUMNS[oid] for oid in oids]).map(list), max_size=20))
    return rows, oids, formats


@settings(max_examples=300, deadline=None)
@given(batches())
def test_columnar_rows_are_the_per_value_bytes(batch: tuple[list[list[object]], list[int], list[int]]) -> None:
    rows, oids, formats = batch
    expected = per_value(rows, oids, formats)
    assert encode_rows(list(rows), oids, formats) == expected
    if rows:
        assert encode_columnar(list(rows), oids, formats) == expected


def test_rows_of_types_without_a_columnar_path_and_unsigned_overflow() -> None:
    rows: list[list[object]] = [["pg_catalog", [1, 2]], [None, None]]
    oids = [t.NAME, t.INT2_ARRAY]
    assert encode_rows(list(rows), oids, [0, 0]) == per_value(rows, oids, [0, 0])
    big: list[list[object]] = [[(1 << 64) - 1]] * 1500  # enough rows for the columnar path, which falls back
    assert encode_rows(list(big), [t.INT8], [0]) == per_value(big, [t.INT8], [0])
    with pytest.raises(ValueError22):
        encode_rows(list(big), [t.INT8], [1])


@pytest.mark.parametrize(("value", "text"), [
    (1.0, "1"), (-2.5, "-2.5"), (1e15, "1e+15"), (1e14, "100000000000000"), (1234567890123456.0, "1.234567890123456e+15"),
    (0.0001, "0.0001"), (1e-5, "1e-05"), (1 / 3, "0.3333333333333333"), (-0.0, "-0"), (math.inf, "Infinity"),
    (-math.inf, "-Infinity"), (math.nan, "NaN"), (5e-324, "5e-324"), (12500.0, "12500"),
])
def test_float_text_is_float8out(value: float, text: str) -> None:
    assert float_text(value) == text


def test_timestamp_text_truncates_nanoseconds_to_microseconds() -> None:
    assert timestamp_text(0) == "1970-01-01 00:00:00+00"
    assert timestamp_text(1_700_000_000_123_456_789) == "2023-11-14 22:13:20.123456+00"
    assert timestamp_text(-1) == "1969-12-31 23:59:59.999999+00"


def test_split_statements_respects_quotes_comments_and_dollar_quotes() -> None:
    text = "SELECT 'a;b'; SELECT \"x;y\" FROM t -- c;\n; SELECT $$p;q$$; /* a; /* b; */ */ SELECT E'\\';'"
    assert split_statements(text) == ["SELECT 'a;b'", " SELECT \"x;y\" FROM t -- c;\n", " SELECT $$p;q$$", " /* a; /* b; */ */ SELECT E'\\';'"]
    assert split_statements(" ; -- nothing\n;") == []


def test_placeholders_are_found_and_filled_outside_literals() -> None:
    text = "SELECT '$1', $2 FROM m WHERE a = $1 AND b = $10 -- $3"
    assert placeholders(text) == 10
    filled = fill_placeholders("SELECT '$1' FROM m WHERE a = $1 AND b = $2", ["'x''y'", "5"])
    assert filled == "SELECT '$1' FROM m WHERE a = 'x''y' AND b = 5"


@pytest.mark.parametrize(("text", "command"), [
    ("BEGIN", "begin"), ("start transaction isolation level read committed", "start transaction"), ("COMMIT", "commit"),
    ("end", "end"), ("ROLLBACK", "rollback"), ("rollback to savepoint s", "rollback to"), ("SAVEPOINT _pg3_1", "savepoint"),
    ("SELECT 1", None), ("beginning", None),
])
def test_transaction_commands(text: str, command: str | None) -> None:
    assert transaction_command(text) == command


def test_deallocate_targets() -> None:
    assert deallocate_target("DEALLOCATE ALL") == ""
    assert deallocate_target("deallocate prepare _pg3_0") == "_pg3_0"
    assert deallocate_target('DEALLOCATE "Mixed"') == "Mixed"
    assert deallocate_target("SELECT 1") is None


def test_parameter_literals_by_type() -> None:
    assert literal("O'Brien", t.TEXT, 1) == "'O''Brien'"
    assert literal(" 42 ", t.INT8, 1) == "42"
    assert literal("2.50", 1700, 1) == "2.50"
    assert literal("yes", t.BOOL, 1) == "TRUE"
    assert literal(None, t.INT8, 1) == "NULL"
    assert literal(3, 0, 1) == "3"
    with pytest.raises(ValueError22, match=r"parameter \$2: invalid input syntax for type bigint"):
        literal("1; DROP TABLE x", t.INT8, 2)
    assert literal(2.5, t.FLOAT8, 1) == "2.5::float8" and literal("2.5", t.FLOAT4, 1) == "2.5::float8"
    assert literal("NaN", t.FLOAT8, 1) == "'NaN'::float8"  # typed, so that it is not compared as text
    with pytest.raises(ValueError22):
        literal("1.5e", t.FLOAT8, 1)


def _client_proof(password: str, client_first_bare: str, server_first: str, final_without_proof: str) -> tuple[str, bytes]:
    attributes = dict(part.split("=", 1) for part in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attributes["s"]), int(attributes["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored = hashlib.sha256(client_key).digest()
    auth_message = f"{client_first_bare},{server_first},{final_without_proof}".encode()
    signature = hmac.new(stored, auth_message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return base64.b64encode(proof).decode(), hmac.new(server_key, auth_message, hashlib.sha256).digest()


@pytest.mark.parametrize(("user", "password", "ok"), [("alice", "pw", True), ("alice", "bad", False), ("nobody", "pw", False)])
def test_scram_exchange(user: str, password: str, ok: bool) -> None:
    exchange = ScramExchange({"alice": "pw"}, user)
    bare = "n=,r=clientnonce123"
    server_first = exchange.first(f"n,,{bare}".encode()).decode()
    nonce = dict(part.split("=", 1) for part in server_first.split(","))["r"]
    assert nonce.startswith("clientnonce123")
    without_proof = f"c=biws,r={nonce}"
    proof, server_signature = _client_proof(password, bare, server_first, without_proof)
    if ok:
        final = exchange.final(f"{without_proof},p={proof}".encode())
        assert final == b"v=" + base64.b64encode(server_signature)
    else:
        with pytest.raises(AuthFailed) as failed:
            exchange.final(f"{without_proof},p={proof}".encode())
        assert failed.value.sqlstate == "28P01"


def test_scram_rejects_a_tampered_nonce() -> None:
    exchange = ScramExchange({"alice": "pw"}, "alice")
    exchange.first(b"n,,n=,r=abc")
    with pytest.raises(AuthFailed, match="nonce"):
        exchange.final(b"c=biws,r=abcXYZ,p=AAAA")


def test_md5() -> None:
    salt = b"\x01\x02\x03\x04"
    inner = hashlib.md5(b"pwalice").hexdigest()
    good = "md5" + hashlib.md5(inner.encode() + salt).hexdigest()
    check_md5({"alice": "pw"}, "alice", salt, good)
    with pytest.raises(AuthFailed):
        check_md5({"alice": "pw"}, "alice", salt, "md5" + "0" * 32)


@pytest.mark.parametrize("value", ["0", "1.5", "-12345.678", "0.0001", "100000000", "123456789.000123", "-0.5", "1e-10", "NaN"])
def test_numeric_binary_matches_postgres_numeric_send(value: str) -> None:
    from decimal import Decimal

    raw = encoders([1700], [1])[0](Decimal(value))
    count, weight, sign, scale = struct.unpack("!hhHh", raw[:8])
    digits = struct.unpack(f"!{count}H", raw[8:])
    if value == "NaN":
        assert sign == 0xC000
        return
    number = sum(Decimal(d) * Decimal(10000) ** (weight - i) for i, d in enumerate(digits))
    if sign == 0x4000:
        number = -number
    assert number == Decimal(value)
    assert scale == max(0, -Decimal(value).as_tuple().exponent)  # type: ignore[operator]


def test_transaction_status_follows_postgresql() -> None:
    from rusts.pgwire.errors import PgError
    from rusts.pgwire.transactions import FAILED, IDLE, IN_BLOCK, TransactionState

    state = TransactionState()
    assert state.apply("commit") == ("COMMIT", ("25P01", "there is no transaction in progress"))
    assert state.apply("begin").tag == "BEGIN" and state.status == IN_BLOCK
    assert state.apply("begin").warning is not None and state.status == IN_BLOCK
    assert state.apply("savepoint").tag == "SAVEPOINT"
    state.failed()
    assert state.status == FAILED
    with pytest.raises(PgError) as refused:
        state.check_usable()
    assert refused.value.sqlstate == "25P02"
    with pytest.raises(PgError):
        state.apply("release")
    assert state.apply("rollback to").tag == "ROLLBACK" and state.status == IN_BLOCK
    state.failed()
    assert state.apply("commit").tag == "ROLLBACK" and state.status == IDLE  # COMMIT of a failed block rolls back
    state.failed()
    assert state.status == IDLE  # an error outside a block leaves it idle
    with pytest.raises(PgError) as outside:
        state.apply("savepoint")
    assert outside.value.sqlstate == "25P01"


def test_copy_plans_and_their_lines() -> None:
    from rusts.pgwire import types as pgtypes
    from rusts.pgwire.copy import copy_lines, copy_plan
    from rusts.pgwire.errors import PgError

    assert copy_plan("SELECT 1") is None
    plan = copy_plan("copy (SELECT a FROM m WHERE s = ')') TO STDOUT")
    assert plan is not None and (plan.select, plan.csv, plan.delimiter, plan.null) == ("SELECT a FROM m WHERE s = ')'", False, "\t", "\\N")
    plan = copy_plan('COPY "My m" (a, b) TO STDOUT WITH (FORMAT \'csv\', HEADER true, NULL \'-\', DELIMITER \';\')')
    assert plan is not None and plan.select == 'SELECT a, b FROM "My m"' and (plan.csv, plan.header, plan.null, plan.delimiter) == (True, True, "-", ";")
    plan = copy_plan("COPY m TO STDOUT DELIMITER AS '|' CSV HEADER")
    assert plan is not None and (plan.select, plan.csv, plan.header, plan.delimiter) == ('SELECT * FROM "m"', True, True, "|")
    for bad, state in [("COPY m FROM STDIN", "0A000"), ("COPY m TO '/tmp/x'", "0A000"), ("COPY m TO STDOUT (FORMAT binary)", "0A000"),
                       ("COPY m TO STDOUT (HEADER)", "0A000"), ("COPY m TO STDOUT (COLOUR red)", "42601"), ("COPY (SELECT 1 TO STDOUT", "42601")]:
        with pytest.raises(PgError) as caught:
            copy_plan(bad)
        assert caught.value.sqlstate == state, bad
    rows: list[list[object]] = [["a\tb\\c\nd", None, 1.5, True], ["x,y", "", 2.0, False], ['say "hi"', "\\.", -0.5, None]]
    oids = [pgtypes.TEXT, pgtypes.TEXT, pgtypes.FLOAT8, pgtypes.BOOL]
    text = copy_plan("COPY m TO STDOUT")
    assert text is not None
    assert list(copy_lines(text, ["s", "t", "f", "b"], oids, rows)) == [
        b"a\\tb\\\\c\\nd\t\\N\t1.5\tt\n", b"x,y\t\t2\tf\n", b'say "hi"\t\\\\.\t-0.5\t\\N\n']
    csv = copy_plan("COPY m TO STDOUT (FORMAT csv, HEADER)")
    assert csv is not None
    assert list(copy_lines(csv, ["s", "t", "f", "b"], oids, rows)) == [
        b"s,t,f,b\n", b'"a\tb\\c\nd",,1.5,t\n', b'"x,y","",2,f\n', b'"say ""hi""","\\.",-0.5,\n']


def test_cursor_commands() -> None:
    from rusts.pgwire.cursors import CursorCommand, cursor_command
    from rusts.pgwire.errors import PgError

    assert cursor_command("SELECT 1") is None
    assert cursor_command('DECLARE "Big" NO SCROLL CURSOR WITH HOLD FOR SELECT * FROM m;') == CursorCommand(
        "declare", "Big", query="SELECT * FROM m", hold=True)
    assert cursor_command("declare c cursor without hold for select 1") == CursorCommand("declare", "c", query="select 1")
    assert cursor_command('FETCH FORWARD 2000 FROM "c"') == CursorCommand("fetch", "c", 2000)
    assert cursor_command("fetch all in C") == CursorCommand("fetch", "c", None)
    assert cursor_command("FETCH c") == CursorCommand("fetch", "c", 1)
    assert cursor_command("MOVE FORWARD ALL FROM c") == CursorCommand("move", "c", None)
    assert cursor_command("CLOSE ALL") == CursorCommand("close", "")
    for bad, state in [("DECLARE c SCROLL CURSOR FOR SELECT 1", "0A000"), ("DECLARE c BINARY CURSOR FOR SELECT 1", "0A000"),
                       ("FETCH BACKWARD 1 FROM c", "55000"), ("FETCH PRIOR FROM c", "55000"), ("DECLARE c FOR x", "42601")]:
        with pytest.raises(PgError) as caught:
            cursor_command(bad)
        assert caught.value.sqlstate == state, bad


def test_bind_refuses_a_negative_parameter_length_other_than_null() -> None:
    from rusts.pgwire import protocol as p
    from rusts.pgwire.portals import Statement, bind

    statement = Statement("SELECT $1", [t.TEXT])
    assert bind(p.Payload(struct.pack("!hhi", 0, 1, -1) + struct.pack("!h", 0), "Bind"), statement, "s").sql == "SELECT NULL"
    with pytest.raises(p.ProtocolViolation, match="length -7"):
        bind(p.Payload(struct.pack("!hhi", 0, 1, -7) + struct.pack("!h", 0), "Bind"), statement, "s")


def test_binary_date_and_interval_parameters() -> None:
    import struct

    from rusts.pgwire.values import decode_binary_parameter

    day = decode_binary_parameter(t.DATE, struct.pack("!i", 9471), 1)  # 2025-12-06 is day 9471 after 2000-01-01
    assert literal(day, t.DATE, 1) == "'2025-12-06 00:00:00+00'::timestamptz"
    before = decode_binary_parameter(t.DATE, struct.pack("!i", -1), 1)
    assert literal(before, t.DATE, 1) == "'1999-12-31 00:00:00+00'::timestamptz"
    span = decode_binary_parameter(t.INTERVAL, struct.pack("!qii", 1_500_000, 2, 0), 2)
    assert literal(span, t.INTERVAL, 2) == f"'{2 * 86_400_000_000 + 1_500_000} microseconds'::interval"
    with pytest.raises(ValueError22, match="months is not a fixed duration"):
        decode_binary_parameter(t.INTERVAL, struct.pack("!qii", 0, 0, 1), 3)


def test_asyncpg_type_lookup_answers_as_postgresql() -> None:
    import asyncpg.introspection  # the statement asyncpg sends, with $1 bound as the server sees it

    from rusts.pgwire.type_lookup import asked_oids, is_type_lookup, type_rows

    text = asyncpg.introspection.INTRO_LOOKUP_TYPES_13.replace("$1::oid[]", "'{\"1016\",\"22\",\"25\"}'::oid[]")
    assert is_type_lookup(text) and asked_oids(text) == [1016, 22, 25]
    # PostgreSQL 15's rows for the same oids (its order within one depth is unspecified)
    expected = [
        [20, "pg_catalog", "int8", "b", None, 0, None, None, None, None, 1, None, "-", None],
        [21, "pg_catalog", "int2", "b", None, 0, None, None, None, None, 1, None, "-", None],
        [25, "pg_catalog", "text", "b", None, 0, None, None, None, None, 0, None, "-", None],
        [1016, "pg_catalog", "_int8", "b", None, 20, ",", None, None, None, 0, None, "bigint", None],
        [22, "pg_catalog", "int2vector", "b", None, 21, ",", None, None, None, 0, None, "smallint", None],
    ]
    rows = type_rows(asked_oids(text))
    assert sorted(rows, key=repr) == sorted(expected, key=repr)
    assert [row[10] for row in rows] == [1, 1, 0, 0, 0]  # deepest first
    assert asked_oids(asyncpg.introspection.INTRO_LOOKUP_TYPES_13.replace("$1::oid[]", "NULL::oid[]")) == []


def test_binary_array_parameters_decode_and_quote() -> None:
    from rusts.pgwire.values import decode_binary_parameter, literal

    def array(element: int, items: list[bytes | None]) -> bytes:
        head = struct.pack("!iiIii", 1, int(any(i is None for i in items)), element, len(items), 1)
        return head + b"".join(struct.pack("!i", -1) if i is None else struct.pack("!i", len(i)) + i for i in items)

    texts = decode_binary_parameter(t.TEXT_ARRAY, array(t.TEXT, [b"a", b'b "q"', b"it's", None]), 1)
    assert texts == ["a", 'b "q"', "it's", None]
    assert literal(texts, t.TEXT_ARRAY, 1) == """'{"a","b \\"q\\"","it''s",NULL}'"""
    numbers = decode_binary_parameter(t.INT8_ARRAY, array(t.INT8, [struct.pack("!q", 3), struct.pack("!q", -7)]), 1)
    assert numbers == [3, -7] and literal(numbers, t.INT8_ARRAY, 1) == """'{"3","-7"}'"""
    assert decode_binary_parameter(t.INT8_ARRAY, struct.pack("!iiI", 0, 0, t.INT8), 1) == []
    with pytest.raises(Exception, match="invalid binary value"):
        decode_binary_parameter(t.INT8_ARRAY, array(t.INT8, [b"\x00\x01"]) + b"junk", 1)
    assert literal(float("nan"), t.FLOAT8, 1) == "'NaN'::float8" and literal("-Infinity", t.FLOAT8, 1) == "'-Infinity'::float8"
