"""uvicorn's HTTP protocol with a read timeout: a client that stalls part-way through a request
cannot hold a connection (and the handler awaiting its body) forever.

uvicorn times out only idle keep-alive connections between requests. Here, while a request is
being received (from its first byte, or from the connection's opening, until its body is
complete), every gap between incoming bytes may last at most `read_timeout` seconds
(server.request_timeout). Past that, a client that began a request is answered 408 and the
connection closed; one that never sent a byte is closed. A request whose body is complete is
the handlers' to time out (rusts.api.router.run_blocking). Interpreted, not compiled: it
subclasses uvicorn's class.
"""

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _timeout_answer(seconds: float) -> bytes:
    text = (
        f"request timed out: no bytes of it arrived for {seconds:g} s (server.request_timeout); "
        "nothing of it was stored\n"
    ).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: text/plain; charset=utf-8\r\n"
        "connection: close\r\n"
        f"content-length: {len(text)}\r\n\r\n"
    ).encode()
    return head + text


class ReadTimeoutProtocol(HttpToolsProtocol):
    """HttpToolsProtocol whose requests must keep arriving: see the module docstring."""

    read_timeout: float = 30.0
    _read_timer: asyncio.TimerHandle | None = None
    _receiving: bool = False
    _began: bool = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._receiving = True
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._receiving:
            self._arm()
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._receiving = True
        self._began = True
        self._arm()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._receiving = False
        self._began = False
        self._disarm()

    def _arm(self) -> None:
        self._disarm()
        self._read_timer = self.loop.call_later(self.read_timeout, self._expired)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _expired(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused:  # we stopped reading (a handler is behind): not the client's stall
            self._arm()
            return
        cycle = self.cycle
        if self._began and (cycle is None or not cycle.response_started):
            self.transport.write(_timeout_answer(self.read_timeout))
        self.transport.close()


def read_timeout_protocol(seconds: float) -> type[ReadTimeoutProtocol]:
    """The protocol class uvicorn.run takes as `http`, with this read timeout."""
    return type("ReadTimeoutProtocol", (ReadTimeoutProtocol,), {"read_timeout": seconds})
