"""One PostgreSQL client connection: startup, authentication, then the simple and extended query protocols.

Each frontend message type has its handler (`handle_<message>`, dispatched by type byte). The
connection owns its prepared statements and portals (rusts.pgwire.portals) and the transaction
status ReadyForQuery reports (rusts.pgwire.transactions); what a statement means is
rusts.pgwire.execution's business.

Statements run in worker threads; rows are encoded there too, in chunks, and written with
back-pressure, so a large result never sits whole in memory on the wire side and a slow reader
slows only its own query. A CancelRequest or a timeout ends the running statement (57014). An error
ends the statement, not the connection; a protocol violation (bad length, unknown message,
oversized message) ends only this connection.
"""

import asyncio
import logging
import os
import re
import secrets
import ssl
from collections.abc import Awaitable, Callable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple, TypeVar

from rusts.pgwire import protocol as p
from rusts.pgwire.auth import AuthFailed, ScramExchange, check_cleartext, check_md5, md5_salt
from rusts.pgwire.catalog import Session
from rusts.pgwire.copy import copy_lines, copy_plan
from rusts.pgwire.cursors import CursorCommand, cursor_command
from rusts.pgwire.errors import PgError
from rusts.pgwire.execution import Outcome, describe, execute, parameter_oids, sqlstate_for
from rusts.pgwire.portals import Portal, Statement, bind
from rusts.pgwire.rows import encode_chunk
from rusts.pgwire.statements import SqlScanError, deallocate_target, placeholders, split_statements, transaction_command
from rusts.pgwire.transactions import IDLE, TransactionState
from rusts.pgwire.values import ValueError22, result_formats
from rusts.storage.engine import StorageEngine

if TYPE_CHECKING:
    from rusts.api.router import EngineHolder

log = logging.getLogger("rusts.pgwire")

T = TypeVar("T")
AuthMethod = Literal["trust", "password", "md5", "scram-sha-256"]
Handler = Callable[["Connection", p.Payload], Awaitable[None]]
CHUNK_BYTES: Final = 256 * 1024  # buffered output flushed (with back-pressure) past this size
CHUNK_ROWS: Final = 16384  # rows encoded per worker-thread call (Arrow costs ~30 us a call per column)
_SESSION_WORD: Final = re.compile(r"\s*(set|reset)\b", re.IGNORECASE)
_TIMEOUT_UNITS: Final = {"": 0.001, "ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


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
    authentication_timeout: float = 60.0  # as PostgreSQL's: a silent client cannot hold a connection slot


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
        if connection is not None and secrets.compare_digest(_int_bytes(connection.secret), _int_bytes(secret)):
            connection.cancelled.set()


class Connection:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, settings: PgSettings, registry: Registry,
        holder: "EngineHolder",
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.settings = settings
        self.registry = registry
        self.holder = holder
        self.secret = secrets.randbits(31)
        self.pid = 0
        self.transaction = TransactionState()
        self.statements: dict[str, Statement] = {}
        self.portals: dict[str, Portal] = {}
        self.cursors: dict[str, bool] = {}  # SQL cursors (portals too): name -> declared WITH HOLD
        self.out: list[bytes] = []
        self.out_size = 0
        self.session: Session | None = None
        self.cancelled = asyncio.Event()
        self.skipping = False  # after an error in the extended protocol, until Sync

    # ---- output -----------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self.out.append(data)
        self.out_size += len(data)

    async def flush(self) -> None:
        if self.out:
            self.writer.write(b"".join(self.out))
            self.out.clear()
            self.out_size = 0
        await self.writer.drain()

    def error(self, exc: BaseException) -> None:
        """Report `exc` as an ErrorResponse; a transaction block, if open, is now failed."""
        sqlstate = sqlstate_for(exc)
        if sqlstate == "XX000":
            log.error("pgwire statement failed", exc_info=exc)
        self.send(p.error_response(sqlstate, str(exc) or type(exc).__name__))
        self.transaction.failed()

    def terminate(self, sqlstate: str, text: str) -> None:
        """Tell the client the server is ending this connection (only whole messages were ever written)."""
        try:
            self.writer.write(p.error_response(sqlstate, text, "FATAL"))
            self.writer.close()  # the message loop then reads end-of-stream and finishes
        except (ConnectionError, RuntimeError, OSError):
            pass

    async def fatal(self, sqlstate: str, text: str) -> None:
        try:
            self.send(p.error_response(sqlstate, text, "FATAL"))
            await self.flush()
        except (ConnectionError, ssl.SSLError, OSError, RuntimeError):
            pass

    # ---- life cycle -------------------------------------------------------------------------

    async def serve(self) -> None:
        """Run the connection to its end; never raises."""
        try:
            try:
                started = await asyncio.wait_for(self.startup(), self.settings.authentication_timeout)
            except TimeoutError:
                limit = self.settings.authentication_timeout
                raise PgError("08006", f"startup and authentication took longer than {limit:g} s") from None
            if started:
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

    async def startup(self) -> bool:
        """Startup and authentication; False when the connection ends here (a cancel request)."""
        tls_done = False
        while True:
            code, body = await p.read_startup(self.reader)
            if code == p.SSL_REQUEST and not tls_done:
                answer = b"N" if self.settings.tls is None else b"S"
                self.writer.write(answer)
                await self.writer.drain()
                if self.settings.tls is not None:
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
        self.session = Session(user, parameters.get("database") or user, parameters)
        self.pid = self.registry.add(self)
        self.session.backend_pid = self.pid
        address = self.writer.get_extra_info("sockname")
        if isinstance(address, tuple) and len(address) >= 2:
            self.session.server_addr, self.session.server_port = str(address[0]), int(address[1])
        self.send(p.authentication(p.AUTH_OK))
        for name, value in self.session.reported().items():
            self.send(p.parameter_status(name, value))
        self.send(p.backend_key_data(self.pid, self.secret))
        self.send(p.ready_for_query(self.transaction.status))
        await self.flush()
        return True

    async def authenticate(self, user: str) -> None:
        method = self.settings.auth_method
        users = self.settings.users
        if method == "trust":
            return
        if method == "password":
            self.send(p.authentication(p.AUTH_CLEARTEXT))
            await self.flush()
            check_cleartext(users, user, (await self.password_message()).cstring())
        elif method == "md5":
            salt = md5_salt()
            self.send(p.authentication(p.AUTH_MD5, salt))
            await self.flush()
            check_md5(users, user, salt, (await self.password_message()).cstring())
        else:
            exchange = ScramExchange(users, user)
            self.send(p.authentication(p.AUTH_SASL, p.cstr("SCRAM-SHA-256") + b"\0"))
            await self.flush()
            initial = await self.password_message()
            mechanism = initial.cstring()
            if mechanism != "SCRAM-SHA-256":
                raise AuthFailed(f"SASL mechanism {mechanism!r} is not offered (only SCRAM-SHA-256)", "08P01")
            size = initial.int32()
            self.send(p.authentication(p.AUTH_SASL_CONTINUE, exchange.first(initial.take(size) if size >= 0 else b"")))
            await self.flush()
            self.send(p.authentication(p.AUTH_SASL_FINAL, exchange.final((await self.password_message()).rest())))

    async def password_message(self) -> p.Payload:
        kind, body = await p.read_message(self.reader, 64 * 1024)
        if kind != p.PASSWORD:
            raise p.ProtocolViolation(f"expected a password message, got message type {kind!r}")
        return p.Payload(body, "password")

    # ---- the message loop -------------------------------------------------------------------

    async def loop(self) -> None:
        while True:
            kind, body = await p.read_message(self.reader, self.settings.max_message_size)
            self.cancelled.clear()  # a CancelRequest ends what runs when it arrives, not a later statement
            if kind == p.TERMINATE:
                return
            handler = _HANDLERS.get(kind)
            if handler is None:
                raise p.ProtocolViolation(f"invalid frontend message type {kind!r}")
            if self.skipping and kind in p.EXTENDED_MESSAGES:
                continue
            payload = p.Payload(body, p.MESSAGE_NAMES[kind])
            try:
                await handler(self, payload)
            except p.ProtocolViolation:
                raise
            except Exception as exc:  # the statement's error, reported; the connection carries on
                self.error(exc)
                self.skipping = kind in p.EXTENDED_MESSAGES or kind in p.COPY_MESSAGES
            if self.out_size > CHUNK_BYTES:
                await self.flush()

    async def handle_query(self, payload: p.Payload) -> None:
        try:
            pieces = split_statements(payload.cstring())
        except SqlScanError as exc:
            self.error(exc)
            pieces = None
        if pieces == []:
            self.send(p.EMPTY_QUERY)
        for sql in pieces or []:
            try:
                outcome = await self.run(sql)
                if outcome.copy is not None:
                    self.send(p.command_complete(f"COPY {await self.copy_out(outcome, iter(outcome.rows))}"))
                    continue
                formats = [0] * len(outcome.columns)
                if outcome.columns:
                    self.send(p.row_description(outcome.columns, formats))
                sent = await self.stream(outcome, iter(outcome.rows), formats, 0)
                self.send(p.command_complete(outcome.tag_for(sent)))
            except Exception as exc:  # the rest of the string is not run, as in PostgreSQL
                self.error(exc)
                break
        self.send(p.ready_for_query(self.transaction.status))
        await self.flush()

    async def handle_sync(self, payload: p.Payload) -> None:
        self.skipping = False
        self.portals.pop("", None)
        self.send(p.ready_for_query(self.transaction.status))
        await self.flush()

    async def handle_flush(self, payload: p.Payload) -> None:
        await self.flush()

    async def handle_parse(self, payload: p.Payload) -> None:
        name, text = payload.cstring(), payload.cstring()
        declared = [payload.int32() for _ in range(payload.int16())]
        if name and name in self.statements:
            raise PgError("42P05", f'prepared statement "{name}" already exists')
        if len(split_statements(text)) > 1:
            raise PgError("42601", "cannot insert multiple commands into a prepared statement")
        count = max(placeholders(text), len(declared))
        oids = declared + [0] * (count - len(declared))
        if 0 in oids:
            oids = await self.in_thread(parameter_oids, self.engine(), text, oids)
        self.statements[name] = Statement(text, oids)
        self.send(p.PARSE_COMPLETE)

    async def handle_bind(self, payload: p.Payload) -> None:
        portal_name, statement_name = payload.cstring(), payload.cstring()
        self.portals[portal_name] = bind(payload, self.statement(statement_name), statement_name)
        self.send(p.BIND_COMPLETE)

    async def handle_describe(self, payload: p.Payload) -> None:
        target, name = payload.byte(), payload.cstring()
        if target == b"S":
            statement = self.statement(name)
            self.send(p.parameter_description(statement.oids))
            if statement.columns is None:
                statement.columns = await self.in_thread(describe, self.engine(), self.session_(), statement.text)
            columns = statement.columns
            self.send(p.row_description(columns, [0] * len(columns)) if columns else p.NO_DATA)
        elif target == b"P":
            portal = self.portal(name)
            outcome = await self.start(portal)
            if outcome is None or not outcome.columns or outcome.copy is not None:
                self.send(p.NO_DATA)
            else:
                self.send(p.row_description(outcome.columns, result_formats(portal.format_codes, len(outcome.columns))))
        else:
            raise p.ProtocolViolation(f"invalid Describe target {target!r}")

    async def handle_execute(self, payload: p.Payload) -> None:
        name, limit = payload.cstring(), payload.int32()
        portal = self.portal(name)
        outcome = await self.start(portal)
        if outcome is None:
            self.send(p.EMPTY_QUERY if not portal.statement.text.strip() else p.command_complete("SELECT 0"))
            return
        assert portal.rows is not None, "BUG: a started portal has rows"
        if outcome.copy is not None:
            portal.done = True
            self.send(p.command_complete(f"COPY {await self.copy_out(outcome, portal.rows)}"))
            return
        sent = await self.stream(outcome, portal.rows, result_formats(portal.format_codes, len(outcome.columns)), limit)
        if limit > 0 and sent == limit and not portal.done and await self.in_thread(portal.peek):
            self.send(p.PORTAL_SUSPENDED)
            return
        portal.done = True
        self.send(p.command_complete(outcome.tag_for(sent)))

    async def handle_close(self, payload: p.Payload) -> None:
        target, name = payload.byte(), payload.cstring()
        if target == b"S":
            self.statements.pop(name, None)
        elif target == b"P":
            self.close_cursor(name)
        else:
            raise p.ProtocolViolation(f"invalid Close target {target!r}")
        self.send(p.CLOSE_COMPLETE)

    async def handle_stray_copy(self, payload: p.Payload) -> None:
        """CopyData, CopyDone or CopyFail outside copy-in mode (RusTs never enters it): dropped."""

    async def handle_unsupported(self, payload: p.Payload) -> None:
        raise PgError("0A000", f"{payload.what} is not supported by RusTs")

    # ---- running statements -----------------------------------------------------------------

    async def start(self, portal: Portal) -> Outcome | None:
        """Run the portal's statement once; its outcome (None for an empty query)."""
        if portal.outcome is None and not portal.done:
            pieces = split_statements(portal.sql)
            if not pieces:
                portal.done = True
                return None
            portal.outcome = await self.run(pieces[0])
            portal.rows = iter(portal.outcome.rows)
        return portal.outcome

    async def run(self, sql: str) -> Outcome:
        """Run one statement: transaction control and DEALLOCATE here, the rest by rusts.pgwire.execution."""
        command = transaction_command(sql)
        if command is not None:
            tag, warning = self.transaction.apply(command)
            if warning is not None:
                self.send(p.notice_response(warning[0], warning[1], "WARNING"))
            if self.transaction.status == IDLE:  # the block ended: so do its cursors WITHOUT HOLD
                for name in [name for name, hold in self.cursors.items() if not hold]:
                    self.close_cursor(name)
            return Outcome([], [], tag)
        self.transaction.check_usable()
        cursor = cursor_command(sql)
        if cursor is not None:
            return await self.run_cursor(cursor)
        plan = copy_plan(sql)
        if plan is not None:
            outcome = await self.run(plan.select)
            outcome.copy = plan
            return outcome
        target = deallocate_target(sql)
        if target is not None:
            return self.deallocate(target)
        if _SESSION_WORD.match(sql):  # SET/RESET touch only the session: no thread, no timeout (SET statement_timeout = 0 must work)
            outcome = execute(self.engine(), self.session_(), sql, self.settings.request_timeout)
        else:
            outcome = await self.in_thread(execute, self.engine(), self.session_(), sql, self.settings.request_timeout)
        reported = self.session_().reported()
        for name in outcome.changed:
            if name in reported:
                self.send(p.parameter_status(name, reported[name]))
        return outcome

    async def run_cursor(self, command: CursorCommand) -> Outcome:
        if command.kind == "declare":
            if command.name in self.portals:
                raise PgError("42P03", f'cursor "{command.name}" already exists')
            declared = Portal(Statement(command.query, []), command.query, [])
            await self.start(declared)  # the query's errors are DECLARE's, as in PostgreSQL
            self.portals[command.name] = declared
            self.cursors[command.name] = command.hold
            return Outcome([], [], "DECLARE CURSOR")
        if command.kind == "close":
            if not command.name:
                for name in list(self.cursors):
                    self.close_cursor(name)
                return Outcome([], [], "CLOSE CURSOR ALL")
            if command.name not in self.portals:
                raise PgError("34000", f'cursor "{command.name}" does not exist')
            self.close_cursor(command.name)
            return Outcome([], [], "CLOSE CURSOR")
        portal = self.portals.get(command.name)
        if portal is None:
            raise PgError("34000", f'cursor "{command.name}" does not exist')
        outcome = await self.start(portal)
        if outcome is None or portal.rows is None:
            return Outcome([], [], f"{command.kind.upper()} 0")
        rows = portal.rows
        if outcome.materialized:
            taken = _take(rows, command.rows)
        else:  # taking rows runs the query: in a worker thread
            taken = await self.in_thread(_take, rows, command.rows)
        if command.kind == "move":
            return Outcome([], [], f"MOVE {len(taken)}")
        return Outcome(outcome.columns, taken, f"FETCH {len(taken)}")

    def close_cursor(self, name: str) -> None:
        self.portals.pop(name, None)
        self.cursors.pop(name, None)

    def deallocate(self, target: str) -> Outcome:
        if not target:
            self.statements = {name: s for name, s in self.statements.items() if not name}
            return Outcome([], [], "DEALLOCATE ALL")
        if self.statements.pop(target, None) is None:
            raise PgError("26000", f'prepared statement "{target}" does not exist')
        return Outcome([], [], "DEALLOCATE")

    async def in_thread(self, func: Callable[..., T], *args: object) -> T:
        """`func(*args)` in a worker thread, ended early (SQLSTATE 57014) by a CancelRequest or a timeout
        (server.request_timeout, or the session's statement_timeout when shorter)."""
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
        work.add_done_callback(_discard)  # the thread cannot be stopped; its result is dropped
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
                chunk, count = encode_chunk(rows, oids, formats, room)
            else:  # taking rows runs the query: in a worker thread
                chunk, count = await self.in_thread(encode_chunk, rows, oids, formats, room)
            if count:
                self.send(chunk)
                sent += count
                if self.out_size > CHUNK_BYTES:
                    await self.flush()
            if count < room:
                break
        return sent

    async def copy_out(self, outcome: Outcome, rows: Iterator[list[object]]) -> int:
        """Send a COPY ... TO STDOUT: CopyOutResponse, a CopyData per line, CopyDone; the rows sent."""
        assert outcome.copy is not None, "BUG: copy_out of a statement that is not a COPY"
        count = len(outcome.columns)
        self.send(p.message(b"H", b"\0" + count.to_bytes(2, "big") + b"\0\0" * count))
        names = [name for name, _ in outcome.columns]
        lines = copy_lines(outcome.copy, names, [oid for _, oid in outcome.columns], rows)
        sent = -1 if outcome.copy.header else 0
        while True:
            if self.cancelled.is_set():
                raise PgError("57014", "canceling statement due to user request")
            if outcome.materialized:
                chunk = _take(lines, CHUNK_ROWS)
            else:  # taking rows runs the query: in a worker thread
                chunk = await self.in_thread(_take, lines, CHUNK_ROWS)
            for line in chunk:
                self.send(p.message(b"d", line))
            sent += len(chunk)
            if self.out_size > CHUNK_BYTES:
                await self.flush()
            if len(chunk) < CHUNK_ROWS:
                break
        self.send(p.message(b"c"))
        return max(sent, 0)

    # ---- lookups ----------------------------------------------------------------------------

    def engine(self) -> StorageEngine:
        engine = self.holder.engine
        if engine is None:
            raise PgError("57P03", "the storage engine is not open")
        return engine

    def session_(self) -> Session:
        assert self.session is not None, "BUG: a statement before startup completed"
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


_HANDLERS: Final[dict[bytes, Handler]] = {
    p.QUERY: Connection.handle_query,
    p.PARSE: Connection.handle_parse,
    p.BIND: Connection.handle_bind,
    p.DESCRIBE: Connection.handle_describe,
    p.EXECUTE: Connection.handle_execute,
    p.CLOSE: Connection.handle_close,
    p.SYNC: Connection.handle_sync,
    p.FLUSH: Connection.handle_flush,
    # COPY FROM is refused when asked for (ErrorResponse), so its data arrives outside copy-in mode: the
    # protocol says to drop it (asyncpg sends its rows and CopyDone after the refusal)
    **{kind: Connection.handle_stray_copy for kind in p.COPY_MESSAGES},
    **{kind: Connection.handle_unsupported for kind in (p.FUNCTION_CALL, p.PASSWORD)},
}


def statement_timeout(value: str) -> float:
    """PostgreSQL's statement_timeout setting in seconds (a bare number is milliseconds; 0 = none)."""
    text = value.strip().strip("'").lower()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz").strip()
    unit = text[len(number):].strip()
    try:
        return max(0.0, float(number) * _TIMEOUT_UNITS[unit])
    except (ValueError, KeyError):
        return 0.0


def _take(items: Iterator[T], count: int | None) -> list[T]:
    """The next `count` items (all that are left when None)."""
    return list(items if count is None else islice(items, count))


def _discard(future: "asyncio.Future[Any]") -> None:
    if not future.cancelled():
        future.exception()


def _int_bytes(number: int) -> bytes:
    return number.to_bytes(4, "big", signed=True)
