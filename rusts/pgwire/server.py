"""The PostgreSQL listener: accepts connections beside the HTTP API, in the same event loop and on
the same storage engine, and stops before the engine closes.
"""

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from rusts.api.router import EngineHolder
from rusts.pgwire.connection import Connection, PgSettings, Registry

log = logging.getLogger("rusts.pgwire")
SHUTDOWN_GRACE = 5.0  # seconds a busy connection gets to finish after shutdown told it to end


def tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server TLS context from PEM files; OSError/ssl.SSLError name what is wrong."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


class PgServer:
    """The listening socket and the tasks of its open connections."""

    def __init__(self, settings: PgSettings, holder: EngineHolder) -> None:
        self.settings = settings
        self.holder = holder
        self.registry = Registry()
        self.tasks: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        try:
            self.server = await asyncio.start_server(
                self._accept, self.settings.host, self.settings.port, limit=1 << 16, reuse_address=True
            )
        except OSError as exc:
            message = f"cannot listen for PostgreSQL clients on {self.settings.host}:{self.settings.port}: {exc.strerror or exc}"
            log.error("%s (set postgres.port, or postgres.enabled: false)", message)
            raise
        log.info(
            "PostgreSQL wire protocol on %s:%d (authentication %s, TLS %s)",
            self.settings.host, self.port, self.settings.auth_method, "on" if self.settings.tls else "off",
        )

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            await Connection(reader, writer, self.settings, self.registry, self.holder).serve()
        except asyncio.CancelledError:
            writer.close()  # shutdown ended a connection still busy after the grace period
        finally:
            self.tasks.discard(task)

    async def stop(self) -> None:
        """Stop listening and end every connection with 57P01, as PostgreSQL's shutdown does."""
        if self.server is not None:
            self.server.close()
        for connection in list(self.registry.by_pid.values()):
            connection.terminate("57P01", "terminating connection due to administrator command")
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=SHUTDOWN_GRACE)
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=SHUTDOWN_GRACE)


def pgwire_service(settings: PgSettings) -> Callable[[EngineHolder], AbstractAsyncContextManager[None]]:
    """The listener as a service of rusts.api.router.create_app."""

    @asynccontextmanager
    async def service(holder: EngineHolder) -> AsyncIterator[None]:
        server = PgServer(settings, holder)
        await server.start()
        try:
            yield
        finally:
            await server.stop()

    return service
