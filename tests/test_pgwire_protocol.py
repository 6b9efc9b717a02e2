"""The PostgreSQL wire protocol at the message level, against the real server: startup, errors and
recovery, the extended protocol's rules, hostile input, limits, authentication and TLS."""

import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers import PACKAGE_ROOT, RustsServer, free_port

psycopg = pytest.importorskip("psycopg")


class Raw:
    """A hand-driven protocol 3.0 client on a plain socket."""

    def __init__(self, port: int, user: str = "rusts", startup: bool = True) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buffer = b""
        self.position = 0
        if startup:
            self.startup(user)

    def startup(self, user: str = "rusts", version: int = 196608) -> None:
        body = struct.pack("!i", version) + b"user\0" + user.encode() + b"\0database\0rusts\0\0"
        self.sock.sendall(struct.pack("!i", len(body) + 4) + body)

    def send(self, kind: bytes, body: bytes = b"") -> None:
        self.sock.sendall(kind + struct.pack("!i", len(body) + 4) + body)

    def query(self, text: str) -> None:
        self.send(b"Q", text.encode() + b"\0")

    def recv(self) -> tuple[bytes, bytes]:
        header = self._exactly(5)
        kind, length = header[:1], struct.unpack("!i", header[1:])[0]
        return kind, self._exactly(length - 4)

    def _exactly(self, size: int) -> bytes:
        while len(self.buffer) - self.position < size:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("server closed the connection")
            self.buffer = self.buffer[self.position:] + chunk
            self.position = 0
        piece = self.buffer[self.position:self.position + size]
        self.position += size
        return piece

    def until_ready(self) -> list[tuple[bytes, bytes]]:
        messages = []
        while True:
            kind, body = self.recv()
            messages.append((kind, body))
            if kind == b"Z":
                return messages

    def closed(self) -> bool:
        try:
            while True:
                self.recv()
        except (EOFError, ConnectionError):
            return True

    def close(self) -> None:
        self.sock.close()


def kinds(messages: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join(kind for kind, _ in messages)


def error_fields(body: bytes) -> dict[str, str]:
    return {part[:1]: part[1:] for part in body.decode().split("\0") if part}


def sqlstate(messages: list[tuple[bytes, bytes]]) -> str:
    return next(error_fields(body)["C"] for kind, body in messages if kind == b"E")


def assert_serves(server: RustsServer) -> None:
    """A new connection starts up and answers a query."""
    fresh = Raw(server.pg_port)
    fresh.until_ready()
    fresh.query("SELECT COUNT(*) FROM m")
    assert kinds(fresh.until_ready()) == b"TDCZ"
    fresh.close()


def cstr(text: str) -> bytes:
    return text.encode() + b"\0"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RustsServer]:
    running = RustsServer(tmp_path_factory.mktemp("pgproto"), postgres_extra=", max_connections: 6")
    try:
        running.write("\n".join(f"m,host=h{i % 2} v={i}.5,n={i}i {1_700_000_000_000_000_000 + i * 1000}" for i in range(10)))
        yield running
    finally:
        assert running.stop() == 0, running.output()
    log = running.output()
    assert "Traceback" not in log and "internal error" not in log, log  # every bad message was foreseen


@pytest.fixture
def raw(server: RustsServer) -> Iterator[Raw]:
    client = Raw(server.pg_port)
    messages = client.until_ready()
    assert messages[0] == (b"R", struct.pack("!i", 0))
    statuses = dict(body.split(b"\0")[:2] for kind, body in messages if kind == b"S")
    assert statuses[b"server_encoding"] == b"UTF8" and statuses[b"integer_datetimes"] == b"on"
    assert b"K" in kinds(messages) and messages[-1] == (b"Z", b"I")
    yield client
    client.close()


def test_ssl_request_without_tls_is_refused_with_n(server: RustsServer) -> None:
    client = Raw(server.pg_port, startup=False)
    client.sock.sendall(struct.pack("!ii", 8, 80877103))
    assert client.sock.recv(1) == b"N"
    client.startup()
    assert client.until_ready()[-1] == (b"Z", b"I")
    client.close()


def test_simple_query_with_several_statements_and_an_empty_one(raw: Raw) -> None:
    raw.query("SELECT COUNT(*) FROM m; ; SELECT v FROM m ORDER BY time LIMIT 2")
    messages = raw.until_ready()
    assert kinds(messages) == b"TDCTDDCZ"
    assert messages[2][1] == cstr("SELECT 1") and messages[6][1] == cstr("SELECT 2")
    raw.query("  ")
    assert kinds(raw.until_ready()) == b"IZ"


def test_an_error_stops_the_rest_of_the_query_string_and_the_connection_carries_on(raw: Raw) -> None:
    raw.query("SELECT nope FROM m; SELECT COUNT(*) FROM m")
    messages = raw.until_ready()
    assert kinds(messages) == b"EZ"
    assert sqlstate(messages) == "42703"
    raw.query("SELECT COUNT(*) FROM m")
    messages = raw.until_ready()
    assert kinds(messages) == b"TDCZ" and messages[1][1].endswith(b"10")


def test_transaction_status_is_tracked(raw: Raw) -> None:
    raw.query("BEGIN")
    assert raw.until_ready()[-1] == (b"Z", b"T")
    raw.query("SELECT nope FROM m")
    assert raw.until_ready()[-1] == (b"Z", b"E")
    raw.query("SELECT COUNT(*) FROM m")
    messages = raw.until_ready()
    assert sqlstate(messages) == "25P02" and messages[-1] == (b"Z", b"E")
    raw.query("COMMIT")
    messages = raw.until_ready()
    assert messages[0] == (b"C", cstr("ROLLBACK")) and messages[-1] == (b"Z", b"I")


def test_extended_protocol_skips_to_sync_after_an_error(raw: Raw) -> None:
    raw.send(b"P", cstr("") + cstr("SELECT nope FROM m") + struct.pack("!h", 0))
    raw.send(b"B", cstr("") + cstr("") + struct.pack("!hhh", 0, 0, 0))
    raw.send(b"E", cstr("") + struct.pack("!i", 0))
    raw.send(b"S")
    messages = raw.until_ready()
    assert kinds(messages).endswith(b"EZ") and b"D" not in kinds(messages) and b"C" not in kinds(messages)
    raw.send(b"B", cstr("") + cstr("missing") + struct.pack("!hhh", 0, 0, 0))
    raw.send(b"D", b"P" + cstr(""))
    raw.send(b"E", cstr("") + struct.pack("!i", 0))
    raw.send(b"S")
    messages = raw.until_ready()
    assert kinds(messages) == b"EZ" and sqlstate(messages) == "26000"
    raw.send(b"P", cstr("s1") + cstr("SELECT v FROM m WHERE host = $1 ORDER BY time") + struct.pack("!hi", 1, 25))
    raw.send(b"B", cstr("p1") + cstr("s1") + struct.pack("!hh", 0, 1) + struct.pack("!i", 2) + b"h0" + struct.pack("!hh", 1, 1))
    raw.send(b"D", b"P" + cstr("p1"))
    raw.send(b"E", cstr("p1") + struct.pack("!i", 2))
    raw.send(b"E", cstr("p1") + struct.pack("!i", 0))
    raw.send(b"S")
    messages = raw.until_ready()
    assert kinds(messages) == b"12TDDsDDDCZ"
    assert messages[3][1] == struct.pack("!hi", 1, 8) + struct.pack("!d", 0.5)  # binary float8
    assert messages[-2][1] == cstr("SELECT 3")


def test_describe_statement_reports_parameter_and_column_types(raw: Raw) -> None:
    raw.send(b"P", cstr("d") + cstr("SELECT time, v, n, host FROM m WHERE n > $1 LIMIT $2") + struct.pack("!h", 0))
    raw.send(b"D", b"S" + cstr("d"))
    raw.send(b"S")
    messages = raw.until_ready()
    assert kinds(messages) == b"1tTZ"
    assert messages[1][1] == struct.pack("!hii", 2, 20, 20)
    body = messages[2][1]
    oids = []
    position = 2
    for _ in range(struct.unpack("!h", body[:2])[0]):
        position = body.index(b"\0", position) + 1
        oids.append(struct.unpack("!i", body[position + 6:position + 10])[0])
        position += 18
    assert oids == [1184, 701, 20, 25]


def test_unknown_message_type_closes_only_that_connection(server: RustsServer, raw: Raw) -> None:
    other = Raw(server.pg_port)
    other.until_ready()
    raw.send(b"@", b"junk")
    kind, body = raw.recv()
    assert kind == b"E" and error_fields(body)["C"] == "08P01"
    assert raw.closed()
    other.query("SELECT COUNT(*) FROM m")
    assert kinds(other.until_ready()) == b"TDCZ"
    other.close()


@pytest.mark.parametrize("length", [2, 1 << 30, 0x7FFFFFFF])
def test_bad_or_huge_length_prefix_is_refused_without_reading_it(server: RustsServer, raw: Raw, length: int) -> None:
    raw.sock.sendall(b"Q" + struct.pack("!i", length))
    kind, body = raw.recv()
    assert kind == b"E" and error_fields(body)["C"] == "08P01"
    assert raw.closed()
    assert server.process.poll() is None
    assert_serves(server)


def test_garbage_instead_of_a_startup_packet(server: RustsServer) -> None:
    client = Raw(server.pg_port, startup=False)
    client.sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    kind, body = client.recv()
    assert kind == b"E" and error_fields(body)["C"] == "08P01"
    client.close()
    client = Raw(server.pg_port, startup=False)
    client.startup(version=2 << 16)
    kind, body = client.recv()
    assert error_fields(body)["C"] == "0A000"
    client.close()


def test_max_connections_is_enforced(server: RustsServer) -> None:
    clients = []
    try:
        while True:
            client = Raw(server.pg_port)
            messages = client.until_ready() if len(clients) < 10 else []
            if b"E" in kinds(messages):
                assert sqlstate(messages) == "53300"
                break
            clients.append(client)
        assert len(clients) == 6
    except EOFError:
        pass
    finally:
        for client in clients:
            client.close()
    assert len(clients) == 6


# ---- authentication and TLS -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["password", "md5", "scram-sha-256"])
def test_password_authentication(tmp_path: Path, method: str, psql_path: str) -> None:
    server = RustsServer(tmp_path, postgres_extra=f", auth_method: {method}, users: {{alice: 'wonder land'}}")
    try:
        good = f"host=127.0.0.1 port={server.pg_port} user=alice dbname=rusts password='wonder land'"
        with psycopg.connect(good) as conn:
            assert conn.execute("SHOW TABLES").fetchall() == []
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(good.replace("wonder land", "wrong"))
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(good.replace("user=alice", "user=mallory"))
        result = subprocess.run(
            [psql_path, "-h", "127.0.0.1", "-p", str(server.pg_port), "-U", "alice", "-d", "rusts", "-X", "-A", "-t", "-c", "SELECT 1"],
            capture_output=True, text=True, timeout=60, env={"PGPASSWORD": "wonder land", "PATH": "/usr/bin:/bin"},
        )
        assert result.stdout.strip() == "1", result.stderr
    finally:
        assert server.stop() == 0, server.output()


def test_wrong_password_is_sqlstate_28p01(tmp_path: Path) -> None:
    server = RustsServer(tmp_path, postgres_extra=", auth_method: scram-sha-256, users: {alice: pw}")
    try:
        with pytest.raises(psycopg.OperationalError) as raised:
            psycopg.connect(f"host=127.0.0.1 port={server.pg_port} user=alice dbname=rusts password=nope")
        assert "28P01" in str(raised.value) or "password authentication failed" in str(raised.value)
    finally:
        assert server.stop() == 0, server.output()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_tls_with_scram(tmp_path: Path, psql_path: str) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-keyout", str(tmp_path / "server.key"), "-out", str(tmp_path / "server.crt")],
        check=True, capture_output=True,
    )
    server = RustsServer(
        tmp_path,
        postgres_extra=f", auth_method: scram-sha-256, users: {{alice: pw}}, tls: {{cert_file: '{tmp_path / 'server.crt'}', key_file: '{tmp_path / 'server.key'}'}}",
    )
    try:
        with psycopg.connect(f"host=127.0.0.1 port={server.pg_port} user=alice dbname=rusts password=pw sslmode=require") as conn:
            assert conn.pgconn.ssl_in_use
            assert conn.execute("SELECT 1").fetchone() == (1,)
        result = subprocess.run(
            [psql_path, f"host=127.0.0.1 port={server.pg_port} user=alice dbname=rusts sslmode=require", "-X", "-A", "-t", "-c", "SELECT 1"],
            capture_output=True, text=True, timeout=60, env={"PGPASSWORD": "pw", "PATH": "/usr/bin:/bin"},
        )
        assert result.stdout.strip() == "1", result.stderr
    finally:
        assert server.stop() == 0, server.output()


def test_bad_tls_files_stop_startup_with_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "rusts.yml").write_text(
        f"server: {{host: 127.0.0.1, port: {free_port()}}}\n"
        f"postgres: {{host: 127.0.0.1, port: {free_port()}, tls: {{cert_file: missing.crt, key_file: missing.key}}}}\n"
        f"storage: {{data_dir: '{tmp_path / 'data'}'}}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "rusts.server.cli", "--config", str(tmp_path / "rusts.yml")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env={**os.environ, "PYTHONPATH": PACKAGE_ROOT},
    )
    assert result.returncode == 2
    assert "postgres.tls" in result.stderr and "missing.crt" in result.stderr


def test_cancel_request_ends_a_streaming_query_and_the_connection_carries_on(tmp_path: Path) -> None:
    server = RustsServer(tmp_path)
    try:
        padding = "x" * 120
        for start in range(0, 120_000, 30_000):
            server.write("\n".join(f'big,k=a s="{padding}{i}" {1_700_000_000_000_000_000 + i * 1000}' for i in range(start, start + 30_000)))
        client = Raw(server.pg_port)
        messages = client.until_ready()
        pid, secret = struct.unpack("!ii", next(body for kind, body in messages if kind == b"K"))
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        client.query("SELECT s FROM big")
        time.sleep(1.0)  # the server fills the socket buffers and waits for this client to read
        other = Raw(server.pg_port, startup=False)
        other.sock.sendall(struct.pack("!iiii", 16, 80877102, pid, secret))
        assert other.sock.recv(1) == b""  # the server closes a cancel connection without a word
        other.close()
        time.sleep(0.5)
        messages = client.until_ready()
        rows = sum(1 for kind, _ in messages if kind == b"D")
        assert 0 < rows < 120_000
        assert sqlstate(messages) == "57014" and messages[-1] == (b"Z", b"I")
        client.query("SELECT COUNT(*) FROM big")
        messages = client.until_ready()
        assert kinds(messages) == b"TDCZ" and messages[1][1].endswith(b"120000")
        client.close()
    finally:
        assert server.stop() == 0, server.output()


HOSTILE = [
    b"P" + struct.pack("!i", 4 + 3) + b"s\0x",  # Parse with an unterminated query string
    b"B" + struct.pack("!i", 4 + 6) + b"\0\0" + struct.pack("!h", 32767) + b"\0\0",  # 32767 format codes announced, none sent
    b"P" + struct.pack("!i", 4 + 13) + b"\0SELECT 1\0" + struct.pack("!h", 10000),  # 10000 parameter types announced
    b"D" + struct.pack("!i", 4 + 2) + b"Z\0",  # Describe of an unknown kind
    b"E" + struct.pack("!i", 4 + 1) + b"\0",  # Execute without its row limit
    b"C" + struct.pack("!i", 4 + 2) + b"Q\0",  # Close of an unknown kind
    b"Q" + struct.pack("!i", 4 + 3) + b"\xff\xfe\0",  # a query that is not UTF-8
    b"p" + struct.pack("!i", 4 + 3) + b"pw\0",  # a password after authentication
]


@pytest.mark.parametrize("message", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_messages_get_an_error_and_hurt_nobody_else(server: RustsServer, message: bytes) -> None:
    bystander = Raw(server.pg_port)
    bystander.until_ready()
    client = Raw(server.pg_port)
    client.until_ready()
    client.sock.sendall(message + b"S\0\0\0\4")
    try:
        messages = client.until_ready()
        assert b"E" in kinds(messages)  # an error, then the connection is usable again
        client.query("SELECT COUNT(*) FROM m")
        assert kinds(client.until_ready()) == b"TDCZ"
    except (EOFError, ConnectionError):
        pass  # or the connection was closed after an error
    client.close()
    bystander.query("SELECT COUNT(*) FROM m")
    assert kinds(bystander.until_ready()) == b"TDCZ"
    bystander.close()
    assert server.process.poll() is None


def test_copy_data_outside_copy_in_mode_is_dropped(server: RustsServer) -> None:
    """After a refused COPY FROM a client may still send its rows and CopyDone: the protocol says they
    are dropped, so the statement after them is not answered with an error meant for them."""
    client = Raw(server.pg_port)
    client.until_ready()
    client.query("COPY m FROM STDIN")
    assert b"E" in kinds(client.until_ready())
    client.sock.sendall(b"d" + struct.pack("!i", 4 + 3) + b"abc" + b"c\0\0\0\4" + b"f" + struct.pack("!i", 4 + 3) + b"no\0")
    client.query("SELECT COUNT(*) FROM m")
    assert kinds(client.until_ready()) == b"TDCZ"
    client.close()


def test_random_bytes_never_take_the_server_down(server: RustsServer) -> None:
    import random

    rng = random.Random(20261122)
    for _ in range(60):
        client = Raw(server.pg_port, startup=rng.random() < 0.7)
        try:
            if rng.random() < 0.5:
                kind = rng.choice(b"PBDECSHQXdpF@\0")
                body = rng.randbytes(rng.randrange(0, 64))
                client.sock.sendall(bytes([kind]) + struct.pack("!i", len(body) + 4) + body)
            else:
                client.sock.sendall(rng.randbytes(rng.randrange(1, 200)))
            client.sock.settimeout(2)
            client.closed()
        except (OSError, EOFError):
            pass
        finally:
            client.close()
    assert server.process.poll() is None
    assert_serves(server)


def test_a_silent_client_is_let_go_after_the_authentication_timeout(tmp_path: Path) -> None:
    import asyncio

    from rusts.api.line_protocol import engine_parser
    from rusts.api.router import EngineHolder
    from rusts.pgwire.connection import PgSettings
    from rusts.pgwire.server import PgServer
    from rusts.storage.engine import EngineOptions, StorageEngine

    async def scenario() -> None:
        holder = EngineHolder()
        holder.engine = StorageEngine.open(EngineOptions(str(tmp_path)), engine_parser)
        holder.ready.set()
        server = PgServer(PgSettings(port=0, authentication_timeout=0.5), holder)
        await server.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(struct.pack("!i", 8))  # the start of a startup packet, then nothing
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 10)
            assert answer[:1] == b"E" and b"08006" in answer and b"authentication" in answer
            writer.close()
        finally:
            await server.stop()
            holder.engine.close()

    asyncio.run(scenario())
