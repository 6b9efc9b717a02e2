"""Prepared statements and portals of the extended query protocol, and the Bind message that joins them.

Bind turns each parameter (text, or binary by its type OID) into an SQL literal of the type the
statement needs and fills the placeholders, so what runs is one plain statement, as with the
simple protocol.
"""

from collections.abc import Iterator

from rusts.pgwire import protocol as p
from rusts.pgwire.errors import PgError
from rusts.pgwire.execution import Outcome
from rusts.pgwire.statements import fill_placeholders
from rusts.pgwire.values import decode_binary_parameter, literal


class Statement:
    """A parsed (prepared) statement: its text, parameter types, and result columns once described."""

    def __init__(self, text: str, oids: list[int]) -> None:
        self.text = text
        self.oids = oids
        self.columns: list[tuple[str, int]] | None = None


class Portal:
    """A bound statement: the SQL with parameters filled in, and its rows once executed."""

    def __init__(self, statement: Statement, sql: str, format_codes: list[int]) -> None:
        self.statement = statement
        self.sql = sql
        self.format_codes = format_codes
        self.outcome: Outcome | None = None
        self.rows: Iterator[list[object]] | None = None
        self.done = False

    def peek(self) -> bool:
        """Whether another row remains (the one looked at is kept for the next Execute). Blocking."""
        assert self.rows is not None, "BUG: peek before the portal ran"
        try:
            first = next(self.rows)
        except StopIteration:
            return False
        self.rows = _chain(first, self.rows)
        return True


def _chain(first: list[object], rest: Iterator[list[object]]) -> Iterator[list[object]]:
    yield first
    yield from rest


def bind(payload: p.Payload, statement: Statement, statement_name: str) -> Portal:
    """The portal a Bind message (read past its portal and statement names) makes of `statement`."""
    codes = [payload.int16() for _ in range(payload.int16())]
    count = payload.int16()
    if count != len(statement.oids):
        raise PgError(
            "08P01", f'bind message supplies {count} parameters, but prepared statement "{statement_name}" requires {len(statement.oids)}'
        )
    if len(codes) not in (0, 1, count):
        raise PgError("08P01", f"bind message has {len(codes)} parameter formats but {count} parameters")
    literals: list[str] = []
    for index in range(count):
        size = payload.int32()
        fmt = codes[0] if len(codes) == 1 else (codes[index] if codes else 0)
        oid = statement.oids[index]
        value: object
        if size == -1:
            value = None
        elif size < 0:
            raise p.ProtocolViolation(f"Bind: parameter ${index + 1} has length {size} (only -1, NULL, is negative)")
        elif fmt == 1:
            value = decode_binary_parameter(oid, payload.take(size), index + 1)
        else:
            try:
                value = payload.take(size).decode("utf-8")
            except UnicodeDecodeError:
                raise PgError("22021", f"parameter ${index + 1} is not valid UTF-8") from None
        literals.append(literal(value, oid, index + 1))
    result_codes = [payload.int16() for _ in range(payload.int16())]
    if any(code not in (0, 1) for code in result_codes + codes):
        raise PgError("08P01", "format codes must be 0 (text) or 1 (binary)")
    sql = fill_placeholders(statement.text, literals) if literals else statement.text
    return Portal(statement, sql, result_codes)
