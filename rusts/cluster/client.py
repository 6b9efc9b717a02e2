"""The internal HTTP client one node uses to reach another: forwarded writes, partial queries.

Endpoints it calls (the receiving side is for the server layer to add):

    POST /internal/write?shard=N&precision=P   body: line protocol of shard N, every record
                                               timestamped. 204 (or 200) = stored as the
                                               receiving node's WAL durability promises.
    POST /internal/query                        body: a Query (JSON); answer: a PartialAnswer
                                               (msgpack, rusts.cluster.merge.encode_partial).

One NodeClient per peer keeps one keep-alive connection (http.client) and
serialises its requests; a ClientPool keeps several NodeClients to one peer
(created on demand, at most `size` at once), so requests to one peer run in
parallel and a slow request does not queue the others behind it. Every request has a timeout (connect and each
read). A request on a reused connection that finds it closed by the peer is
sent once more on a new connection (the peer closed it idle, before reading);
a timeout is never retried here: the caller decides (hinted handoff).
"""

import http.client
import socket
import threading
import urllib.parse
from typing import Protocol

PRECISION_NAMES: dict[int, str] = {1: "ns", 1_000: "us", 1_000_000: "ms", 1_000_000_000: "s"}


class Outcome:
    """What one request to one node came to.

    stored      the node acknowledged it
    retriable   it failed for a reason that may pass (unreachable, timeout, 5xx): worth a hint
    status      the HTTP status, None when no answer came
    """

    __slots__ = ("node_id", "stored", "retriable", "status", "error", "body")

    def __init__(self, node_id: str, stored: bool, retriable: bool, status: int | None, error: str, body: bytes = b"") -> None:
        self.node_id = node_id
        self.stored = stored
        self.retriable = retriable
        self.status = status
        self.error = error
        self.body = body

    def __repr__(self) -> str:
        state = "stored" if self.stored else ("retriable" if self.retriable else "rejected")
        return f"Outcome({self.node_id!r}, {state}, status={self.status}, error={self.error!r})"


class NodeClient:
    """Requests to one peer over one keep-alive connection."""

    def __init__(self, node_id: str, address: str, timeout: float, headers: dict[str, str] | None = None) -> None:
        self.node_id = node_id
        host, _, port = address.rpartition(":")
        self.host = host.strip("[]")
        self.port = int(port)
        self.timeout = timeout
        self.headers = dict(headers or {})
        self._connection: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def write(self, shard: int, body: bytes, multiplier: int = 1) -> Outcome:
        """Forward one shard's line protocol; stored only on a 2xx answer."""
        precision = PRECISION_NAMES.get(multiplier)
        if precision is None:
            raise ValueError(f"no precision name for {multiplier} ns per unit")
        query = urllib.parse.urlencode({"shard": shard, "precision": precision})
        return self.post(f"/internal/write?{query}", body, "text/plain; charset=utf-8")

    def get(self, path: str) -> Outcome:
        """GET (health probes, status); `stored` means a 2xx answer."""
        return self._request("GET", path, None, dict(self.headers))

    def post(self, path: str, body: bytes, content_type: str) -> Outcome:
        """POST and read the whole answer; never raises for network trouble (the Outcome says it)."""
        headers = {**self.headers, "Content-Type": content_type, "Content-Length": str(len(body))}
        return self._request("POST", path, body, headers)

    def _request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Outcome:
        with self._lock:
            for attempt in (0, 1):
                reused = self._connection is not None
                try:
                    connection = self._connect()
                    connection.request(method, path, body=body, headers=headers)
                    response = connection.getresponse()
                    answer = response.read()
                    if response.will_close:
                        self._drop()
                    status = response.status
                    stored = 200 <= status < 300
                    error = "" if stored else f"HTTP {status}: {answer[:200].decode('utf-8', 'replace').strip()}"
                    return Outcome(self.node_id, stored, status >= 500 or status == 429, status, error, answer)
                except (TimeoutError, socket.timeout):
                    self._drop()
                    return Outcome(self.node_id, False, True, None, f"timed out after {self.timeout:g}s")
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                    self._drop()
                    if reused and attempt == 0:
                        continue  # the peer closed an idle keep-alive connection: one fresh try
                    return Outcome(self.node_id, False, True, None, f"connection lost: {exc or type(exc).__name__}")
                except (OSError, http.client.HTTPException) as exc:
                    self._drop()
                    return Outcome(self.node_id, False, True, None, f"unreachable: {exc or type(exc).__name__}")
        raise AssertionError("BUG: the retry loop always returns")

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._connection

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def close(self) -> None:
        with self._lock:
            self._drop()


class Peer(Protocol):
    """What the replicator, the router and the health probes need of a peer: a NodeClient or a ClientPool."""

    @property
    def node_id(self) -> str: ...

    @property
    def timeout(self) -> float: ...

    def write(self, shard: int, body: bytes, multiplier: int = 1) -> Outcome: ...

    def get(self, path: str) -> Outcome: ...

    def post(self, path: str, body: bytes, content_type: str) -> Outcome: ...

    def close(self) -> None: ...


class ClientPool:
    """Up to `size` keep-alive NodeClients to one peer; each request takes an idle one (or opens one),
    so requests to the peer run in parallel. Blocks when `size` requests are already under way."""

    def __init__(self, node_id: str, address: str, timeout: float, headers: dict[str, str] | None = None, size: int = 4) -> None:
        if size < 1:
            raise ValueError(f"a client pool needs at least one client, got {size}")
        self._node_id = node_id
        self._timeout = timeout
        self._address = address
        self._headers = dict(headers or {})
        self._idle: list[NodeClient] = []
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()

    @property
    def node_id(self) -> str:
        return self._node_id

    @property
    def timeout(self) -> float:
        return self._timeout

    def _take(self) -> NodeClient:
        self._slots.acquire()
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return NodeClient(self._node_id, self._address, self._timeout, self._headers)

    def _give_back(self, client: NodeClient) -> None:
        with self._lock:
            self._idle.append(client)
        self._slots.release()

    def write(self, shard: int, body: bytes, multiplier: int = 1) -> Outcome:
        client = self._take()
        try:
            return client.write(shard, body, multiplier)
        finally:
            self._give_back(client)

    def get(self, path: str) -> Outcome:
        client = self._take()
        try:
            return client.get(path)
        finally:
            self._give_back(client)

    def post(self, path: str, body: bytes, content_type: str) -> Outcome:
        client = self._take()
        try:
            return client.post(path, body, content_type)
        finally:
            self._give_back(client)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for client in idle:
            client.close()
