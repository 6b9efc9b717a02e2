"""PostgreSQL frontend/backend protocol 3.0: reading frontend messages, building backend ones.

Only framing lives here; what a message means is rusts.pgwire.connection's business.
Every read is bounded: a length prefix below 4 or above the connection's limit is a
ProtocolViolation, which closes that connection (SQLSTATE 08P01) and nothing else.
"""

import asyncio
import struct
from typing import Final

PROTOCOL_3_0: Final = 196608  # 3 << 16
SSL_REQUEST: Final = 80877103
GSSENC_REQUEST: Final = 80877104
CANCEL_REQUEST: Final = 80877102
MAX_STARTUP_LENGTH: Final = 10_000

# Frontend message types.
QUERY: Final = b"Q"
PARSE: Final = b"P"
BIND: Final = b"B"
DESCRIBE: Final = b"D"
EXECUTE: Final = b"E"
CLOSE: Final = b"C"
SYNC: Final = b"S"
FLUSH: Final = b"H"
TERMINATE: Final = b"X"
PASSWORD: Final = b"p"  # also SASLInitialResponse and SASLResponse
FUNCTION_CALL: Final = b"F"
COPY_MESSAGES: Final = (b"d", b"c", b"f")  # CopyData, CopyDone, CopyFail
EXTENDED_MESSAGES: Final = frozenset({PARSE, BIND, DESCRIBE, EXECUTE, CLOSE})  # skipped after an error, until Sync
MESSAGE_NAMES: Final = {
    QUERY: "Query", PARSE: "Parse", BIND: "Bind", DESCRIBE: "Describe", EXECUTE: "Execute", CLOSE: "Close",
    SYNC: "Sync", FLUSH: "Flush", TERMINATE: "Terminate", PASSWORD: "password", FUNCTION_CALL: "FunctionCall",
    b"d": "COPY data", b"c": "COPY done", b"f": "COPY fail",
}

# Authentication request codes (the Int32 after 'R').
AUTH_OK: Final = 0
AUTH_CLEARTEXT: Final = 3
AUTH_MD5: Final = 5
AUTH_SASL: Final = 10
AUTH_SASL_CONTINUE: Final = 11
AUTH_SASL_FINAL: Final = 12

_I16: Final = struct.Struct("!h")
_I32: Final = struct.Struct("!i")
_HEADER: Final = struct.Struct("!ci")


class ProtocolViolation(Exception):
    """A frontend message that breaks the protocol; the connection is closed after saying so."""

    sqlstate = "08P01"


class Payload:
    """Cursor over one message body; every read checks the bounds."""

    __slots__ = ("data", "pos", "what")

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def _take(self, size: int) -> bytes:
        end = self.pos + size
        if size < 0 or end > len(self.data):
            raise ProtocolViolation(f"{self.what} message is shorter than its contents say")
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def int16(self) -> int:
        value: int = _I16.unpack(self._take(2))[0]
        return value

    def int32(self) -> int:
        value: int = _I32.unpack(self._take(4))[0]
        return value

    def byte(self) -> bytes:
        return self._take(1)

    def take(self, size: int) -> bytes:
        return self._take(size)

    def cstring(self) -> str:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise ProtocolViolation(f"{self.what} message has an unterminated string")
        raw = self.data[self.pos:end]
        self.pos = end + 1
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolViolation(f"{self.what} message has a string that is not UTF-8") from None

    def rest(self) -> bytes:
        chunk = self.data[self.pos:]
        self.pos = len(self.data)
        return chunk

    def at_end(self) -> bool:
        return self.pos >= len(self.data)


async def read_startup(reader: asyncio.StreamReader) -> tuple[int, Payload]:
    """The startup-phase packet (no type byte): its code and the rest of it."""
    length = _I32.unpack(await reader.readexactly(4))[0]
    if length < 8 or length > MAX_STARTUP_LENGTH:
        raise ProtocolViolation(f"invalid startup packet length {length}")
    body = await reader.readexactly(length - 4)
    code: int = _I32.unpack(body[:4])[0]
    return code, Payload(body[4:], "startup")


async def read_message(reader: asyncio.StreamReader, limit: int) -> tuple[bytes, bytes]:
    """One typed frontend message: (type byte, body)."""
    kind, length = _HEADER.unpack(await reader.readexactly(5))
    if length < 4:
        raise ProtocolViolation(f"invalid message length {length} for message type {kind!r}")
    if length - 4 > limit:
        raise ProtocolViolation(
            f"message of type {kind!r} is {length - 4} bytes, over the limit of {limit} (server.max_body_size)"
        )
    return kind, await reader.readexactly(length - 4)


def message(kind: bytes, body: bytes = b"") -> bytes:
    return kind + _I32.pack(len(body) + 4) + body


def cstr(text: str) -> bytes:
    return text.encode("utf-8") + b"\0"


def authentication(code: int, extra: bytes = b"") -> bytes:
    return message(b"R", _I32.pack(code) + extra)


def parameter_status(name: str, value: str) -> bytes:
    return message(b"S", cstr(name) + cstr(value))


def backend_key_data(pid: int, secret: int) -> bytes:
    return message(b"K", _I32.pack(pid) + _I32.pack(secret))


def ready_for_query(status: bytes) -> bytes:
    return message(b"Z", status)


def command_complete(tag: str) -> bytes:
    return message(b"C", cstr(tag))


def row_description(columns: list[tuple[str, int]], formats: list[int]) -> bytes:
    parts = [_I16.pack(len(columns))]
    for (name, oid), fmt in zip(columns, formats):
        size = _TYPE_SIZES.get(oid, -1)
        parts.append(cstr(name) + struct.pack("!ihihih", 0, 0, oid, size, -1, fmt))
    return message(b"T", b"".join(parts))


def parameter_description(oids: list[int]) -> bytes:
    return message(b"t", _I16.pack(len(oids)) + b"".join(_I32.pack(oid) for oid in oids))


def negotiate_protocol_version(minor: int, unknown: list[str]) -> bytes:
    return message(b"v", _I32.pack(minor) + _I32.pack(len(unknown)) + b"".join(cstr(name) for name in unknown))


def error_response(sqlstate: str, text: str, severity: str = "ERROR", position: int | None = None) -> bytes:
    return message(b"E", _fields(sqlstate, text, severity, position))


def notice_response(sqlstate: str, text: str, severity: str = "NOTICE") -> bytes:
    return message(b"N", _fields(sqlstate, text, severity, None))


def _fields(sqlstate: str, text: str, severity: str, position: int | None) -> bytes:
    body = b"S" + cstr(severity) + b"V" + cstr(severity) + b"C" + cstr(sqlstate) + b"M" + cstr(text)
    if position is not None:
        body += b"P" + cstr(str(position))
    return body + b"\0"


PARSE_COMPLETE: Final = message(b"1")
BIND_COMPLETE: Final = message(b"2")
CLOSE_COMPLETE: Final = message(b"3")
NO_DATA: Final = message(b"n")
PORTAL_SUSPENDED: Final = message(b"s")
EMPTY_QUERY: Final = message(b"I")

# pg_type.typlen of the types RusTs sends; -1 (variable) for the rest.
_TYPE_SIZES: Final = {16: 1, 18: 1, 19: 64, 20: 8, 21: 2, 23: 4, 26: 4, 700: 4, 701: 8, 1114: 8, 1184: 8, 2205: 4, 2206: 4}
