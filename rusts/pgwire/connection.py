"""One PostgreSQL client connection: startup, authentication, then the simple and extended query protocols.

The connection owns its prepared statements and portals and tracks the transaction status that
ReadyForQuery reports (idle, in a block, failed block) although RusTs has no transactions: a
statement takes effect when it runs, and ROLLBACK undoes nothing (README says so).

Statements run in worker threads; rows are encoded there too, in chunks, and written with
back-pressure, so a large result never sits whole in memory on the wire side and a slow reader
slows only its own query. An error ends the statement, not the connection; a protocol violation
(bad length, unknown message, oversized message) ends only this connection.
"""

import asyncio
import logging
import os
import re
import secrets
import ssl
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple

from rusts.pgwire import protocol as p
from rusts.pgwire.auth import AuthFailed, ScramExchange, check_cleartext, check_md5, md5_salt
from rusts.pgwire.execution import Outcome, describe, execute, parameter_oids
from rusts.pgwire.statements import SqlScanError, deallocate_target, fill_placeholders, placeholders, split_statements, transaction_command
from rusts.pgwire.rows import encode_rows, take_rows
from rusts.pgwire.values import ValueError22, decode_binary_parameter, literal, result_formats

if TYPE_CHECKING:
    from rusts.api.router import EngineHolder
    from rusts.pgwire.catalog import Session

log = logging.getLogger("rusts.pgwire")

AuthMethod = Literal["trust", "password", "md5", "scram-sha-256"]
CHUNK_BYTES: Final = 256 * 1024
CHUNK_ROWS: Final = 4096
IDLE: Final = b"I"
IN_BLOCK: Final = b"T"
FAILED: Final = b"E"


class PgSettings(NamedTuple):
    """What the listener takes from rusts.yml."""

    host: str = "127.0.0.1"
    port: int = 5432
    max_connections: int = 100
    auth_method: AuthMethod = "trust"
    users: dict[str, str] = {}
    tls: ssl.SSLContext | None = None
    request_timeout: float = 30.0
    max_message_size: int = 25 * 1024 * 1024


class PgError(Exception):
    """An error reported to the client with a SQLSTATE; the connection carries on."""

    def __init__(self, sqlstate: str, text: str) -> None:
        super().__init__(text)
        self.sqlstate = sqlstate


class Registry:
    """The open connections: for max_connections and for CancelRequest (pid + secret)."""

    def __init__(self) -> None:
        self.by_pid: dict[int, "Connection"] = {}
        self._next_pid = os.getpid() * 1000 % 1_000_000_000

    def add(self, connection: "Connection") -> int:
        self._next_pid = self._next_pid % 2_000_000_000 + 1
        self.by_pid[self._next_pid] = connection
        return self._next_pid

    def remove(self, pid: int) -> None:
        self.by_pid.pop(pid, None)

    def cancel(self, pid: int, secret: int) -> None:
        connection = self.by_pid.get(pid)
        if connection is not None and secrets.compare_digest(connection.secret.to_bytes(4, "big", signed=True), secret.to_bytes(4, "big", signed=True)):
            connection.cancel()


class Statement:
    """A parsed (prepared) statement: its text, parameter types, and result columns once described."""

    def __init__(self, text: str, oids: list[int]) -> None:
        self.text = text
        self.oids = oids
        self.columns: list[tuple[str, int]] | None = None


class Portal:
    """A bound statement: the SQL with parameters filled in, and its rows once executed."""

    def __init__(self, statement: Statement, sql: str, formats: list[int]) -> None:
        self.statement = statement
        self.sql = sql
        self.format_codes = formats
        self.outcome: Outcome | None = None
        self.rows: Iterator[list[object]] | None = None
        self.sent = 0
        self.done = False


class Connection:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        settings: PgSettings,
        registry: Registry,
        holder: "EngineHolder",
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.settings = settings
        self.registry = registry
        self.holder = holder
        self.secret = secrets.randbits(31)
        self.pid = 0
        self.status = IDLE
        self.statements: dict[str, Statement] = {}
        self.portals: dict[str, Portal] = {}
        self.out: list[bytes] = []
        self.out_size = 0
        self.session: "Session | None" = None
        self.cancelled = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    # ---- plumbing ---------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self.out.append(data)
        self.out_size += len(data)

    async def flush(self) -> None:
        if self.out:
            self.writer.write(b"".join(self.out))
            self.out.clear()
            self.out_size = 0
        await self.writer.drain()

    def cancel(self) -> None:
        self.cancelled.set()

    # ---- life cycle -------------------------------------------------------------------------

    async def serve(self) -> None:
        """Run the connection to its end; never raises."""
        try:
            if await self.startup():
                await self.loop()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass  # the client went away
        except (p.ProtocolViolation, PgError, AuthFailed, ValueError22) as exc:
            await self.fatal(exc.sqlstate, str(exc))
        except Exception:
            log.exception("pgwire connection failed")
            await self.fatal("XX000", "internal error; the server log has details")
        finally:
            if self.pid:
                self.registry.remove(self.pid)
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, ssl.SSLError, OSError):
                pass

    async def fatal(self, sqlstate: str, text: str) -> None:
        try:
            self.send(p.error_response(sqlstate, text, "FATAL"))
            await self.flush()
        except (ConnectionError, ssl.SSLError, OSError, RuntimeError):
            pass

    async def startup(self) -> bool:
        """Startup and authentication; False when the connection ends here (cancel request, refusal)."""
        tls_done = False
        while True:
            code, body = await p.read_startup(self.reader)
            if code == p.SSL_REQUEST and not tls_done:
                if self.settings.tls is None:
                    self.writer.write(b"N")
                    await self.writer.drain()
                    continue
                self.writer.write(b"S")
                await self.writer.drain()
                await self.writer.start_tls(self.settings.tls)
                tls_done = True
                continue
            if code == p.GSSENC_REQUEST:
                self.writer.write(b"N")
                await self.writer.drain()
                continue
            if code == p.CANCEL_REQUEST:
                pid, secret = body.int32(), body.int32()
                self.registry.cancel(pid, secret)
                return False
            break
        if code >> 16 != 3:
            raise PgError("0A000", f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}: this server supports 3.0")
        parameters: dict[str, str] = {}
        while not body.at_end():
            name = body.cstring()
            if not name:
                break
            parameters[name] = body.cstring()
        unknown = [name for name in parameters if name.startswith("_pq_.")]
        if code & 0xFFFF or unknown:
            self.send(p.negotiate_protocol_version(0, unknown))
        user = parameters.get("user", "")
        if not user:
            raise PgError("28000", "no PostgreSQL user name specified in startup packet")
        if len(self.registry.by_pid) >= self.settings.max_connections:
            raise PgError("53300", "sorry, too many clients already")
        await self.authenticate(user)
        if not self.holder.ready.is_set():
            raise PgError("57P03", "the database system is starting up")
        if self.holder.engine is None:
            raise PgError("57P03", f"the storage engine could not open: {self.holder.failure}")
        from rusts.pgwire.catalog import Session

        self.session = Session(user, parameters.get("database") or user, parameters)
        self.pid = self.registry.add(self)
        self.session.backend_pid = self.pid
        address = self.writer.get_extra_info("sockname")
        if isinstance(address, tuple) and len(address) >= 2:
            self.session.server_addr, self.session.server_port = str(address[0]), int(address[1])
        self.send(p.authentication(0))
        for name, value in self.session.reported().items():
            self.send(p.parameter_status(name, value))
        self.send(p.backend_key_data(self.pid, self.secret))
        self.send(p.ready_for_query(self.status))
        await self.flush()
        return True

    async def authenticate(self, user: str) -> None:
        method = self.settings.auth_method
        users = self.settings.users
        if method == "trust":
            return
        if method == "password":
            self.send(p.authentication(3))
            await self.flush()
            check_cleartext(users, user, (await self.password_message()).cstring())
        elif method == "md5":
            salt = md5_salt()
            self.send(p.authentication(5, salt))
            await self.flush()
            check_md5(users, user, salt, (await self.password_message()).cstring())
        else:
            exchange = ScramExchange(users, user)
            self.send(p.authentication(10, p.cstr("SCRAM-SHA-256") + b"\0"))
            await self.flush()
            initial = await self.password_message()
            mechanism = initial.cstring()
            if mechanism != "SCRAM-SHA-256":
                raise AuthFailed(f"SASL mechanism {mechanism!r} is not offered (only SCRAM-SHA-256)", "08P01")
            size = initial.int32()
            self.send(p.authentication(11, exchange.first(initial.take(size) if size >= 0 else b"")))
            await self.flush()
            self.send(p.authentication(12, exchange.final((await self.password_message()).rest())))

    async def password_message(self) -> p.Payload:
        kind, body = await p.read_message(self.reader, 64 * 1024)
        if kind != b"p":
            raise p.ProtocolViolation(f"expected a password message, got message type {kind!r}")
        return p.Payload(body, "password")

    # ---- the message loop -------------------------------------------------------------------

    async def loop(self) -> None:
        skipping = False  # after an error in the extended protocol, until Sync
        while True:
            kind, body = await p.read_message(self.reader, self.settings.max_message_size)
            self.cancelled.clear()  # a CancelRequest ends what runs when it arrives, not a later statement
            payload = p.Payload(body, _NAMES.get(kind, repr(kind)))
            if kind == b"X":
                return
            if kind == b"Q":
                await self.simple_query(payload.cstring())
                self.send(p.ready_for_query(self.status))
                await self.flush()
                continue
            if kind == b"S":
                skipping = False
                self.portals.pop("", None)
                self.send(p.ready_for_query(self.status))
                await self.flush()
                continue
            if kind == b"H":
                await self.flush()
                continue
            if kind not in _EXTENDED:
                if kind in (b"d", b"c", b"f", b"F"):
                    self.error(PgError("0A000", f"{_NAMES[kind]} is not supported by RusTs"))
                    skipping = True
                    continue
                raise p.ProtocolViolation(f"invalid frontend message type {kind!r}")
            if skipping:
                continue
            try:
                await self.extended(kind, payload)
            except p.ProtocolViolation:
                raise
            except Exception as exc:
                self.error(exc)
                skipping = True
            if self.out_size > CHUNK_BYTES:
                await self.flush()

    def error(self, exc: BaseException) -> None:
        """Report `exc` as an ErrorResponse and mark a transaction block failed."""
        sqlstate = sqlstate_of(exc)
        if sqlstate == "XX000":
            log.error("pgwire statement failed", exc_info=exc)
        self.send(p.error_response(sqlstate, str(exc) or type(exc).__name__))
        if self.status == IN_BLOCK:
            self.status = FAILED

    # ---- simple query -----------------------------------------------------------------------

    async def simple_query(self, text: str) -> None:
        try:
            pieces = split_statements(text)
        except SqlScanError as exc:
            self.error(exc)
            return
        if not pieces:
            self.send(p.EMPTY_QUERY)
            return
        for sql in pieces:
            try:
                outcome = await self.run(sql)
                if outcome is None:
                    continue
                formats = [0] * len(outcome.columns)
                if outcome.columns:
                    self.send(p.row_description(outcome.columns, formats))
                sent = await self.stream(outcome, iter(outcome.rows), formats, 0)
                self.send(p.command_complete(outcome.tag_for(sent)))
            except Exception as exc:
                self.error(exc)
                return

    # ---- extended query ---------------------------------------------------------------------

    async def extended(self, kind: bytes, payload: p.Payload) -> None:
        if kind == b"P":
            name, text = payload.cstring(), payload.cstring()
            declared = [payload.int32() for _ in range(payload.int16())]
            if name and name in self.statements:
                raise PgError("42P05", f'prepared statement "{name}" already exists')
            if len(split_statements(text)) > 1:
                raise PgError("42601", "cannot insert multiple commands into a prepared statement")
            count = max(placeholders(text), len(declared))
            oids = declared + [0] * (count - len(declared))
            if 0 in oids:
                oids = await asyncio.to_thread(parameter_oids, self.engine(), text, oids)
            self.statements[name] = Statement(text, oids)
            self.send(p.PARSE_COMPLETE)
        elif kind == b"B":
            self.bind(payload)
            self.send(p.BIND_COMPLETE)
        elif kind == b"D":
            target, name = payload.byte(), payload.cstring()
            if target == b"S":
                statement = self.statement(name)
                self.send(p.parameter_description(statement.oids))
                if statement.columns is None:
                    statement.columns = await self.in_thread(describe, self.engine(), self.session_(), statement.text)
                self.send(p.row_description(statement.columns, [0] * len(statement.columns)) if statement.columns else p.NO_DATA)
            elif target == b"P":
                portal = self.portal(name)
                outcome = await self.start(portal)
                if outcome is None or not outcome.columns:
                    self.send(p.NO_DATA)
                else:
                    formats = result_formats(portal.format_codes, len(outcome.columns))
                    self.send(p.row_description(outcome.columns, formats))
            else:
                raise p.ProtocolViolation(f"invalid Describe target {target!r}")
        elif kind == b"E":
            name, limit = payload.cstring(), payload.int32()
            await self.execute_portal(self.portal(name), limit)
        elif kind == b"C":
            target, name = payload.byte(), payload.cstring()
            if target == b"S":
                self.statements.pop(name, None)
            elif target == b"P":
                self.portals.pop(name, None)
            else:
                raise p.ProtocolViolation(f"invalid Close target {target!r}")
            self.send(p.CLOSE_COMPLETE)

    def bind(self, payload: p.Payload) -> None:
        portal_name, statement_name = payload.cstring(), payload.cstring()
        statement = self.statement(statement_name)
        codes = [payload.int16() for _ in range(payload.int16())]
        count = payload.int16()
        if count != len(statement.oids):
            raise PgError("08P01", f"bind message supplies {count} parameters, but prepared statement \"{statement_name}\" requires {len(statement.oids)}")
        if len(codes) not in (0, 1, count):
            raise PgError("08P01", f"bind message has {len(codes)} parameter formats but {count} parameters")
        literals: list[str] = []
        for index in range(count):
            size = payload.int32()
            fmt = codes[0] if len(codes) == 1 else (codes[index] if codes else 0)
            oid = statement.oids[index]
            value: object
            if size < 0:
                value = None
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
        self.portals[portal_name] = Portal(statement, sql, result_codes)

    async def start(self, portal: Portal) -> Outcome | None:
        """Run the portal's statement once; its outcome (None for an empty query)."""
        if portal.outcome is None and not portal.done:
            pieces = split_statements(portal.sql)
            if not pieces:
                portal.done = True
                return None
            portal.outcome = await self.run(pieces[0])
            if portal.outcome is None:
                portal.done = True
                return None
            portal.rows = iter(portal.outcome.rows)
        return portal.outcome

    async def execute_portal(self, portal: Portal, limit: int) -> None:
        outcome = await self.start(portal)
        if outcome is None:
            self.send(p.EMPTY_QUERY if not portal.statement.text.strip() else p.command_complete("SELECT 0"))
            return
        formats = result_formats(portal.format_codes, len(outcome.columns))
        assert portal.rows is not None
        sent = await self.stream(outcome, portal.rows, formats, limit)
        portal.sent += sent
        if limit > 0 and sent == limit and not portal.done:
            if await self.in_thread(_has_more, portal):
                self.send(p.PORTAL_SUSPENDED)
                return
        portal.done = True
        self.send(p.command_complete(outcome.tag_for(sent)))

    # ---- running statements -----------------------------------------------------------------

    async def run(self, sql: str) -> Outcome | None:
        """Run one statement; its outcome, or None when the connection answered it itself (nothing to send but the tag)."""
        command = transaction_command(sql)
        if command is not None:
            return self.transaction(command)
        if self.status == FAILED:
            raise PgError("25P02", "current transaction is aborted, commands ignored until end of transaction block")
        target = deallocate_target(sql)
        if target is not None:
            if target:
                if self.statements.pop(target, None) is None:
                    raise PgError("26000", f'prepared statement "{target}" does not exist')
            else:
                self.statements = {name: s for name, s in self.statements.items() if not name}
            return Outcome([], [], "DEALLOCATE ALL" if not target else "DEALLOCATE")
        if _SESSION_WORD.match(sql):  # SET/RESET touch only the session: no thread, no timeout (SET statement_timeout = 0 must work)
            outcome = execute(self.engine(), self.session_(), sql, self.settings.request_timeout)
        else:
            outcome = await self.in_thread(execute, self.engine(), self.session_(), sql, self.settings.request_timeout)
        for name in outcome.changed:
            value = self.session_().reported().get(name)
            if value is not None:
                self.send(p.parameter_status(name, value))
        return outcome

    def transaction(self, command: str) -> Outcome:
        tag = command.upper()
        if command in ("begin", "start transaction"):
            if self.status != IDLE:
                self.send(p.notice_response("25001", "there is already a transaction in progress", "WARNING"))
            else:
                self.status = IN_BLOCK
            return Outcome([], [], "BEGIN" if command == "begin" else "START TRANSACTION")
        if command in ("commit", "end", "rollback", "abort"):
            failed = self.status == FAILED
            if self.status == IDLE:
                self.send(p.notice_response("25P01", "there is no transaction in progress", "WARNING"))
            self.status = IDLE
            return Outcome([], [], "ROLLBACK" if command in ("rollback", "abort") or failed else "COMMIT")
        if command == "rollback to":
            if self.status == IDLE:
                raise PgError("25P01", "ROLLBACK TO SAVEPOINT can only be used in transaction blocks")
            self.status = IN_BLOCK
            return Outcome([], [], "ROLLBACK")
        if command in ("savepoint", "release"):
            if self.status == IDLE:
                raise PgError("25P01", f"{tag} can only be used in transaction blocks")
            if self.status == FAILED:
                raise PgError("25P02", "current transaction is aborted, commands ignored until end of transaction block")
            return Outcome([], [], tag)
        raise PgError("0A000", f"{tag} is not supported: RusTs has no two-phase commit")

    async def in_thread(self, func: "Callable[..., T]", *args: object) -> "T":
        """`func(*args)` in a worker thread, ended early (SQLSTATE 57014) by a CancelRequest or the request timeout."""
        if self.cancelled.is_set():
            raise PgError("57014", "canceling statement due to user request")
        timeout, source = self.settings.request_timeout, "server.request_timeout"
        limit = statement_timeout(self.session.settings.get("statement_timeout", "0")) if self.session else 0.0
        if 0 < limit < timeout:
            timeout, source = limit, "statement_timeout"
        work = asyncio.ensure_future(asyncio.to_thread(func, *args))
        cancel = asyncio.ensure_future(self.cancelled.wait())
        try:
            done, _ = await asyncio.wait({work, cancel}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            cancel.cancel()
        if work in done:
            return work.result()
        work.add_done_callback(_discard)
        if cancel in done:
            raise PgError("57014", "canceling statement due to user request")
        raise PgError("57014", f"canceling statement due to statement timeout ({timeout:g} s, {source})")

    async def stream(self, outcome: Outcome, rows: Iterator[list[object]], formats: list[int], limit: int) -> int:
        """Send DataRows from `rows` (at most `limit` when > 0); how many were sent."""
        oids = [oid for _, oid in outcome.columns]
        sent = 0
        while limit <= 0 or sent < limit:
            if self.cancelled.is_set():
                raise PgError("57014", "canceling statement due to user request")
            room = CHUNK_ROWS if limit <= 0 else min(CHUNK_ROWS, limit - sent)
            if outcome.materialized:
                chunk, count = _encode_chunk(rows, oids, formats, room)
            else:
                chunk, count = await self.in_thread(_encode_chunk, rows, oids, formats, room)
            if count:
                self.send(chunk)
                sent += count
                if self.out_size > CHUNK_BYTES:
                    await self.flush()
            if count < room:
                break
        return sent

    # ---- lookups ----------------------------------------------------------------------------

    def engine(self) -> "StorageEngine":
        engine = self.holder.engine
        if engine is None:
            raise PgError("57P03", "the storage engine is not open")
        return engine

    def session_(self) -> "Session":
        assert self.session is not None
        return self.session

    def statement(self, name: str) -> Statement:
        statement = self.statements.get(name)
        if statement is None:
            raise PgError("26000", f'prepared statement "{name}" does not exist' if name else "unnamed prepared statement does not exist")
        return statement

    def portal(self, name: str) -> Portal:
        portal = self.portals.get(name)
        if portal is None:
            raise PgError("34000", f'portal "{name}" does not exist' if name else "unnamed portal does not exist")
        return portal


_SESSION_WORD: Final = re.compile(r"\s*(set|reset)\b", re.IGNORECASE)
_TIMEOUT_UNITS: Final = {"": 0.001, "ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def statement_timeout(value: str) -> float:
    """PostgreSQL's statement_timeout setting in seconds (a bare number is milliseconds; 0 = none)."""
    text = value.strip().strip("'").lower()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz").strip()
    unit = text[len(number):].strip()
    try:
        return max(0.0, float(number) * _TIMEOUT_UNITS[unit])
    except (ValueError, KeyError):
        return 0.0


def _encode_chunk(rows: Iterator[list[object]], oids: list[int], formats: list[int], room: int) -> tuple[bytes, int]:
    """The next `room` rows (or fewer, at the end) as DataRow messages, and how many there were."""
    taken = take_rows(rows, room)
    return encode_rows(taken, oids, formats), len(taken)


def _has_more(portal: Portal) -> bool:
    """Whether the portal has another row; peeks by re-chaining the one it took."""
    assert portal.rows is not None
    try:
        first = next(portal.rows)
    except StopIteration:
        return False
    rest = portal.rows
    portal.rows = _chain(first, rest)
    return True


def _chain(first: list[object], rest: Iterator[list[object]]) -> Iterator[list[object]]:
    yield first
    yield from rest


def _discard(future: "asyncio.Future[Any]") -> None:
    if not future.cancelled():
        future.exception()


def sqlstate_of(exc: BaseException) -> str:
    from rusts.pgwire.execution import sqlstate_for

    return sqlstate_for(exc)


_EXTENDED: Final = frozenset({b"P", b"B", b"D", b"E", b"C"})
_NAMES: Final = {
    b"Q": "Query", b"P": "Parse", b"B": "Bind", b"D": "Describe", b"E": "Execute", b"C": "Close", b"S": "Sync",
    b"H": "Flush", b"X": "Terminate", b"d": "COPY data", b"c": "COPY done", b"f": "COPY fail", b"F": "FunctionCall",
    b"p": "password",
}

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    from rusts.pgwire.values import Encoder
    from rusts.storage.engine import StorageEngine

    T = TypeVar("T")
