"""The HTTP API (Litestar). Interpreted: Litestar introspects its handlers.

Routes: the probes (`/health`, `/ready`), writes in InfluxDB line
protocol (`/write`, and `/api/v2/write` for InfluxDB 2.x clients and
Telegraf's influxdb_v2 output) and as Arrow IPC streams (`/write/arrow`,
rusts/api/arrow_write.py), queries (`/query`, `/sql`), continuous
aggregates (`/aggregates`), `/stats` and `/metrics` (Prometheus); in cluster
mode also rusts/api/cluster_routes.py (`/internal/*`, `/cluster/status`).

Every request passes the Gate first (an ASGI wrapper around the Litestar
app): the rate limit per client address, then the token check (see
rusts/api/auth.py), and it records the request's status and latency for
`/metrics`. The probes are neither limited nor authenticated; `/metrics` is
authenticated but not limited, so monitoring keeps working under load.
Errors map to HTTP statuses in one table, ERROR_STATUS.

Blocking engine calls run in a thread under `server.request_timeout`
(run_blocking); past it the client gets 503, though the call itself cannot be
stopped and may still finish.

The storage engine opens in a background thread when the app starts, so
`/health` answers at once while `/ready` says 503 until recovery (WAL
replay) is done; writes before then get 503 too.
"""

import asyncio
import datetime
import math
import os
import sys
import threading
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, NamedTuple, TypeVar, cast
from urllib.parse import parse_qsl

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
from litestar import Litestar, Request, delete, get, post
from litestar.datastructures import State
from litestar.response import Response

import rusts
from rusts.aggregation.continuous import AggregateExistsError, UnknownAggregateError, aggregates_of
from rusts.cluster.node import ClusterNode, LayoutMismatchError, NotHolderError, SchemaError, ShardsUnavailableError
from rusts.cluster.replication import ReplicationShortError
from rusts.cluster.schema import ClusterUnsupportedError
from rusts.api import arrow_write, influx_compat
from rusts.api.auth import token_from_request, verify_token
from rusts.api.line_protocol import PRECISION_MULTIPLIERS
from rusts.aggregation.downsampling import execute_model
from rusts.query.errors import QueryTimeoutError, UnknownFieldError, UnknownMeasurementError
from rusts.query.model import QueryResult, parse_query
from rusts.retention.manager import default_manager
from rusts.sql.statement import SqlAnswer, execute_sql
from rusts.api.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from rusts.api.metrics import HttpMetrics, exposition
from rusts.api.ratelimit import RateLimiter
from rusts.core.errors import (
    AuthError,
    CodecError,
    ConfigError,
    CorruptDataError,
    FieldTypeConflictError,
    LineProtocolError,
    QueryError,
    RateLimitError,
    RustsError,
    WalError,
)
from rusts.storage.engine import StorageEngine

STATUS_BAD_REQUEST = 400
STATUS_UNAUTHORIZED = 401
STATUS_NOT_FOUND = 404
STATUS_CONFLICT = 409
STATUS_TOO_LARGE = 413
STATUS_UNSUPPORTED_MEDIA = 415
STATUS_TOO_MANY_REQUESTS = 429
STATUS_INTERNAL = 500
STATUS_NOT_IMPLEMENTED = 501
STATUS_UNAVAILABLE = 503
REJECTED_LINES_SHOWN = 100

# Paths open without a token, and paths not counted against the rate limit.
# Cluster traffic (/internal/*) was limited at the coordinator that took the client's request.
OPEN_PATHS = frozenset({"/health", "/ready", "/ping"})  # InfluxDB answers /ping without credentials too
UNLIMITED_PATHS = frozenset(
    {
        "/health", "/ready", "/ping", "/metrics",
        # cluster peers (rusts/api/cluster_routes.INTERNAL_PATHS): a limited hint or delete would be refused
        "/internal/write", "/internal/delete", "/internal/hints", "/internal/state", "/internal/written",
        "/internal/deleted", "/internal/changed", "/internal/query", "/internal/schema", "/internal/fingerprint",
    }
)
UNMATCHED_ROUTE = "(unmatched)"

T = TypeVar("T")


class RequestTimeoutError(RustsError):
    """A request that ran past server.request_timeout; `consequence` says what may still happen."""

    def __init__(self, what: str, timeout: float, consequence: str) -> None:
        self.timeout = timeout
        super().__init__(f"{what} timed out after {timeout:g} s (server.request_timeout); {consequence}")


# The one table from error class to HTTP status; the most specific class wins.
ERROR_STATUS: dict[type[Exception], int] = {
    AuthError: STATUS_UNAUTHORIZED,
    RateLimitError: STATUS_TOO_MANY_REQUESTS,
    RequestTimeoutError: STATUS_UNAVAILABLE,
    QueryTimeoutError: STATUS_UNAVAILABLE,
    WalError: STATUS_UNAVAILABLE,
    ReplicationShortError: STATUS_UNAVAILABLE,
    ShardsUnavailableError: STATUS_UNAVAILABLE,
    NotHolderError: STATUS_NOT_FOUND,
    SchemaError: STATUS_BAD_REQUEST,
    LayoutMismatchError: STATUS_CONFLICT,
    ClusterUnsupportedError: STATUS_NOT_IMPLEMENTED,
    LineProtocolError: STATUS_BAD_REQUEST,
    arrow_write.ArrowBodyError: STATUS_BAD_REQUEST,
    FieldTypeConflictError: STATUS_BAD_REQUEST,
    UnknownAggregateError: STATUS_NOT_FOUND,
    AggregateExistsError: STATUS_CONFLICT,
    QueryError: STATUS_BAD_REQUEST,
    CodecError: STATUS_INTERNAL,
    CorruptDataError: STATUS_INTERNAL,
    ConfigError: STATUS_INTERNAL,
    RustsError: STATUS_INTERNAL,
}


def status_of(exc: Exception) -> int:
    """The HTTP status of an error, from ERROR_STATUS."""
    for cls in type(exc).__mro__:
        status = ERROR_STATUS.get(cls)
        if status is not None:
            return status
    return STATUS_INTERNAL


def error_headers(exc: Exception) -> dict[str, str]:
    """Headers an error response must carry (RFC 6750 challenge, RFC 9110 Retry-After)."""
    if isinstance(exc, AuthError):
        return {"WWW-Authenticate": 'Bearer realm="rusts"'}
    if isinstance(exc, RateLimitError):
        return {"Retry-After": str(max(1, math.ceil(exc.retry_after_secs)))}
    return {}


def _rusts_error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Litestar's handler for a RustsError a route handler lets through."""
    return Response({"error": str(exc)}, status_code=status_of(exc), headers=error_headers(exc))


async def run_blocking(timeout: float, what: str, consequence: str, func: Callable[..., T], *args: Any) -> T:
    """`func(*args)` in a worker thread; RequestTimeoutError when it takes longer than `timeout` s.

    The thread cannot be interrupted: after a timeout it runs on, and its
    effects (a stored write) may still happen; `consequence` tells the client.
    """
    try:
        return await asyncio.wait_for(asyncio.to_thread(func, *args), timeout)
    except TimeoutError:
        raise RequestTimeoutError(what, timeout, consequence) from None


class ApiSettings(NamedTuple):
    """What the HTTP API takes from rusts.yml."""

    max_body_size: int = 25 * 1024 * 1024
    request_timeout: float = 30.0
    jwt_secret: str | None = None  # None: authentication is off
    rate_limit_per_sec: float = 0.0  # 0: no rate limit
    rate_limit_burst: int = 1


class EngineHolder:
    """The engine once it has opened, or the error that stopped it."""

    def __init__(self) -> None:
        self.engine: StorageEngine | None = None
        self.failure: str = ""
        self.ready = threading.Event()


def _error(status: int, message: str, **extra: Any) -> Response[dict[str, Any]]:
    return Response({"error": message, **extra}, status_code=status)


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok", "version": rusts.__version__}


@get("/ready", sync_to_thread=False)
def ready(state: State) -> Response[dict[str, str]]:
    """Ready to serve: recovery is done."""
    holder: EngineHolder = state.engines
    if holder.engine is not None:
        return Response({"status": "ready"}, status_code=200)
    if holder.failure:
        return Response({"status": "failed", "error": holder.failure}, status_code=STATUS_UNAVAILABLE)
    return Response({"status": "recovering"}, status_code=STATUS_UNAVAILABLE)


@get("/stats", sync_to_thread=False)
def stats(state: State) -> Response[dict[str, Any]]:
    """Counters of the storage engine."""
    holder: EngineHolder = state.engines
    if holder.engine is None:
        return _error(STATUS_UNAVAILABLE, "the storage engine is not ready")
    engine = holder.engine
    retention = default_manager(engine).report()
    answer: dict[str, Any] = {"version": rusts.__version__, "compiled": rusts.COMPILED, **engine.statistics(), "retention": retention}
    cluster: ClusterNode | None = state.get("cluster")
    if cluster is not None:
        # The front engine holds no points: each held shard's engine says what this node stores.
        answer["shards"] = {str(shard): shard_engine.statistics() for shard, shard_engine in sorted(cluster.shards.items())}
    return Response(answer)


async def _write(request: Request[Any, Any, State], precision: str) -> Response[Any]:
    holder: EngineHolder = request.app.state.engines
    engine = holder.engine
    if engine is None:
        return _error(STATUS_UNAVAILABLE, "the storage engine is not ready (recovering)")
    multiplier = PRECISION_MULTIPLIERS.get(precision or "ns")  # `?precision=` left empty: the default
    if multiplier is None:
        return _error(STATUS_BAD_REQUEST, f"unknown precision {precision!r}: expected ns, us, ms or s")
    result = await _stored(request, "its points", engine.write_line_protocol, multiplier, None)
    if isinstance(result, Response):
        return result
    if not result.errors:
        return Response(None, status_code=204)
    first = result.errors[0]
    return _error(
        STATUS_BAD_REQUEST,
        f"partial write: {len(result.errors)} line(s) rejected, first: {first}",
        written=result.points,
        rejected=[{"line": e.line, "error": e.message} for e in result.errors[:REJECTED_LINES_SHOWN]],
    )


async def _stored(request: Request[Any, Any, State], what: str, store: Callable[..., T], *args: Any) -> T | Response[Any]:
    """A write's body (_write_body) stored by `store(body, *args)` in a thread under
    server.request_timeout; a refused body or a failed write as its error answer."""
    body = await _write_body(request)
    if isinstance(body, Response):
        return body
    timeout: float = request.app.state.request_timeout
    try:
        return await run_blocking(timeout, "the write", f"the write may still complete and {what} be stored", store, body, *args)
    except RequestTimeoutError:
        raise
    except RustsError as exc:
        return _write_failure(exc)


def _write_failure(exc: RustsError) -> Response[Any]:
    """The answer to a write that stored nothing, or (in a cluster) not on every replica it should."""
    if isinstance(exc, ReplicationShortError):
        return _error(
            STATUS_UNAVAILABLE, f"write not fully replicated (resending it is safe): {exc}",
            short_shards=exc.short_shards, written=exc.points,
        )
    return _error(status_of(exc), f"write failed, nothing from this request was stored: {exc}")


async def _write_body(request: Request[Any, Any, State]) -> bytes | Response[Any]:
    """A write's body, inflated when gzip-encoded, or the error answer when it is too large or its encoding unknown."""
    limit: int = request.app.state.max_body_size
    body = await request.body()
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding == "gzip":
        try:
            body = _gunzip(body, limit)
        except ValueError as exc:
            status = STATUS_TOO_LARGE if "larger than" in str(exc) else STATUS_BAD_REQUEST
            return _error(status, str(exc))
    elif encoding not in ("", "identity"):
        return _error(STATUS_UNSUPPORTED_MEDIA, f"unsupported Content-Encoding {encoding!r}: send gzip or nothing")
    if len(body) > limit:
        return _error(STATUS_TOO_LARGE, f"request body is larger than max_body_size ({limit} bytes)")
    return body


def _gunzip(body: bytes, limit: int) -> bytes:
    """Inflate a gzip body without letting it grow past `limit` bytes."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ValueError(f"request body is not valid gzip: {exc}") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise ValueError(f"request body is larger than max_body_size ({limit} bytes) once decompressed")
    if not inflater.eof:
        raise ValueError("request body is not valid gzip: truncated")
    return out


@post("/write", status_code=200)
async def write_v1(request: Request[Any, Any, State], precision: str = "ns", db: str = "") -> Response[Any]:
    """InfluxDB 1.x write: line protocol in the body; `db` is accepted and ignored (one database)."""
    return await _write(request, precision)


@post("/api/v2/write", status_code=200)
async def write_v2(request: Request[Any, Any, State], precision: str = "ns", bucket: str = "", org: str = "") -> Response[Any]:
    """InfluxDB 2.x write: `bucket` and `org` are accepted and ignored (one database)."""
    return await _write(request, precision)


@post("/write/arrow", status_code=200)
async def write_arrow(request: Request[Any, Any, State]) -> Response[Any]:
    """Rows as an Arrow IPC stream, columns named by the query parameters (rusts/api/arrow_write.py)."""
    holder: EngineHolder = request.app.state.engines
    engine = holder.engine
    if engine is None:
        return _error(STATUS_UNAVAILABLE, "the storage engine is not ready (recovering)")
    params = dict(parse_qsl(request.url.query or "", keep_blank_values=True))
    written = await _stored(request, "its rows", arrow_write.write, engine, params)
    if isinstance(written, Response):
        return written
    errors = written.result.errors
    if not errors:
        return Response(written.answer())
    rejected = [{"row": written.body_row(e.line), "error": e.message} for e in errors[:REJECTED_LINES_SHOWN]]
    return _error(
        STATUS_BAD_REQUEST,
        f"partial write: {len(errors)} row(s) rejected, first: row {rejected[0]['row']}: {errors[0].message}",
        **written.answer(), rejected=rejected,
    )


EPOCH_DIVISORS: dict[str, int] = {"ns": 1, "n": 1, "us": 1_000, "u": 1_000, "ms": 1_000_000, "s": 1_000_000_000}


def rfc3339(ns: int) -> str:
    """`2025-11-01T00:00:00.123456789Z`: UTC with all nine digits of nanoseconds."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    day = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return f"{day:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def render_result(result: QueryResult, epoch: str | None) -> dict[str, Any]:
    """The JSON row format: timestamps as RFC 3339 strings, or integers in `epoch` units; intervals
    as PostgreSQL's text ("1 day 02:00:00")."""
    divisor = EPOCH_DIVISORS[epoch] if epoch else 0
    time_columns = [i for i, column in enumerate(result.columns) if column.type == "timestamp"]
    interval_columns = [i for i, column in enumerate(result.columns) if column.type == "interval"]
    rows = result.rows
    if (time_columns or interval_columns) and rows:
        rows = [list(row) for row in rows]
        for i in time_columns:
            values = [row[i] for row in rows]
            rendered = [None if v is None else v // divisor for v in values] if divisor else rfc3339_many(values)
            for row, value in zip(rows, rendered):
                row[i] = value
        for i in interval_columns:  # as PostgreSQL prints them: "1 day 02:00:00"
            for row in rows:
                row[i] = None if row[i] is None else str(row[i])
    return {"columns": [{"name": c.name, "type": c.type} for c in result.columns], "rows": rows}


def rfc3339_many(values: list[Any]) -> list[Any]:
    """rfc3339 of each value (None stays None), formatted by pyarrow in one pass."""
    moments = pa.array(values, pa.timestamp("ns"))  # naive = UTC; a tz-aware cast to text is 10x slower
    text = pc.replace_substring(moments.cast(pa.string()), " ", "T", max_replacements=1)
    rendered: list[Any] = pc.binary_join_element_wise(text, "Z", "").to_pylist()
    return rendered


async def _answer(request: Request[Any, Any, State], epoch: str | None, sql_only: bool) -> Response[Any]:
    """Run a query (SQL in {"query": "..."}, or the JSON model unless `sql_only`) and render its rows."""
    holder: EngineHolder = request.app.state.engines
    engine = holder.engine
    if engine is None:
        return _error(STATUS_UNAVAILABLE, "the storage engine is not ready (recovering)")
    if epoch is not None and epoch not in EPOCH_DIVISORS:
        return _error(STATUS_BAD_REQUEST, f"unknown epoch {epoch!r}: expected ns, us, ms or s")
    body = await request.body()
    timeout: float = request.app.state.request_timeout
    text = _sql_text(body)
    cluster: ClusterNode | None = request.app.state.get("cluster")
    if text is not None:
        answer = await run_blocking(
            timeout, "the statement", "it was cancelled", answer_with_refresh, cluster, execute_sql, engine, text, timeout
        )
        return Response(_render_answer(answer, epoch))
    if sql_only:
        return _error(STATUS_BAD_REQUEST, 'POST /sql takes a JSON body {"query": "SELECT ..."}')
    parsed = parse_query(body)
    result = await run_blocking(
        timeout, "the query", "it was cancelled", answer_with_refresh, cluster, execute_model, engine, parsed, timeout
    )
    return Response(render_result(result, epoch))


def answer_with_refresh(cluster: ClusterNode | None, run: Callable[..., T], *args: Any) -> T:
    """`run(*args)`; in cluster mode an unknown measurement or field first refreshes the schema from the
    peers and, when that taught this node something, runs once more (another coordinator may have
    written it a moment ago; the node's background loop refreshes every second anyway)."""
    try:
        return run(*args)
    except (UnknownMeasurementError, UnknownFieldError):
        if cluster is None or not cluster.refresh_schema():
            raise
    return run(*args)


def _render_answer(answer: SqlAnswer, epoch: str | None) -> dict[str, Any]:
    """A SELECT or SHOW answers its rows as /query does; INSERT, DELETE and DROP answer no columns and
    rows plus PostgreSQL's command tag, e.g. {"columns": [], "rows": [], "tag": "INSERT 0 2"}."""
    rendered = render_result(QueryResult(answer.columns, answer.rows), epoch)
    if not answer.columns:
        rendered["tag"] = answer.tag
    return rendered


def _sql_text(body: bytes) -> str | None:
    """The SQL of a body shaped {"query": "SELECT ..."} (the seed's /query example; any statement), else None."""
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    if isinstance(decoded, dict) and set(decoded) == {"query"} and isinstance(decoded["query"], str):
        return str(decoded["query"])
    return None


@post("/query", status_code=200)
async def query(request: Request[Any, Any, State], epoch: str | None = None) -> Response[Any]:
    """A query in the JSON model of rusts.query.model, or {"query": "SELECT ..."}; rows as {"columns", "rows"}.
    With `q` (InfluxDB 1.x tools), rusts.api.influx_compat answers."""
    if "q" in request.query_params or request.headers.get("content-type", "").startswith(influx_compat.FORM):
        text = influx_compat.influxql_text(request, await request.body())
        if text is not None:
            return influx_compat.influxql_answer(request.app.state.engines.engine, text)
    return await _answer(request, epoch, sql_only=False)


@get("/query", sync_to_thread=False)
def query_get(request: Request[Any, Any, State]) -> Response[Any]:
    """InfluxDB 1.x's GET /query?q=... (rusts.api.influx_compat)."""
    text = request.query_params.get("q")
    if text is None:
        return _error(STATUS_BAD_REQUEST, 'GET /query needs q=<InfluxQL>; queries are POST /query (JSON) or POST /sql')
    return influx_compat.influxql_answer(request.app.state.engines.engine, str(text))


_AGGREGATE_COLUMNS = ("name", "source", "bucket_ns", "query", "watermark", "pending_buckets", "stale_ranges", "realtime", "refreshes", "refreshed_by")


@get("/aggregates")
async def list_aggregates(state: State) -> Response[dict[str, Any]]:
    """The continuous aggregates: name, source, bucket, defining query, refresh state."""
    holder: EngineHolder = state.engines
    if holder.engine is None:
        return _error(STATUS_UNAVAILABLE, "the storage engine is not ready")
    registry = await run_blocking(state.request_timeout, "opening the aggregates", "try again", aggregates_of, holder.engine)
    rows = registry.rows()
    return Response({"aggregates": [dict(zip(_AGGREGATE_COLUMNS, row)) for row in rows]})


@post("/aggregates", status_code=201)
async def create_aggregate(request: Request[Any, Any, State]) -> Response[Any]:
    """Define a continuous aggregate: {"name": "cpu_1m", "query": "SELECT time_bucket('1m', time) ..."}."""
    holder: EngineHolder = request.app.state.engines
    engine = holder.engine
    if engine is None:
        return _error(STATUS_UNAVAILABLE, "the storage engine is not ready (recovering)")
    try:
        decoded = msgspec.json.decode(await request.body())
    except msgspec.DecodeError as exc:
        return _error(STATUS_BAD_REQUEST, f"body is not JSON: {exc}")
    if not (isinstance(decoded, dict) and set(decoded) == {"name", "query"} and all(isinstance(v, str) for v in decoded.values())):
        return _error(STATUS_BAD_REQUEST, 'POST /aggregates takes {"name": "...", "query": "SELECT ..."}')
    timeout: float = request.app.state.request_timeout
    registry = aggregates_of(engine)
    await run_blocking(timeout, "creating the aggregate", "it may still complete", registry.create, decoded["name"], decoded["query"])
    return Response({"name": decoded["name"]}, status_code=201)


# Declared 200 so that the not-ready answer may carry a body; success answers 204 itself.
@delete("/aggregates/{name:str}", status_code=200)
async def drop_aggregate(state: State, name: str) -> Response[Any]:
    """Forget a continuous aggregate and drop its measurement; 404 when there is none."""
    holder: EngineHolder = state.engines
    engine = holder.engine
    if engine is None:
        return _error(STATUS_UNAVAILABLE, "the storage engine is not ready (recovering)")
    await run_blocking(state.request_timeout, "dropping the aggregate", "it may still complete", lambda: aggregates_of(engine).drop(name))
    return Response(None, status_code=204)


@post("/sql", status_code=200)
async def sql(request: Request[Any, Any, State], epoch: str | None = None) -> Response[Any]:
    """SQL: {"query": "SELECT ..."}, answered in the same JSON row format as /query."""
    return await _answer(request, epoch, sql_only=True)


@get("/metrics", sync_to_thread=False)
def metrics(state: State) -> Response[str]:
    """Prometheus text exposition: engine statistics and HTTP request figures."""
    holder: EngineHolder = state.engines
    statistics = holder.engine.statistics() if holder.engine is not None else None
    return Response(exposition(state.http_metrics, statistics), media_type=METRICS_CONTENT_TYPE)


ASGIApp = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


class Gate:
    """The ASGI app uvicorn runs: rate limit, then authentication, then Litestar; records every request."""

    def __init__(self, app: Litestar, http_metrics: HttpMetrics, settings: ApiSettings) -> None:
        self.litestar = app
        # Litestar's ASGI types leave out plain mappings; the scopes passed on are uvicorn's, unchanged.
        self._inner = cast(ASGIApp, app)
        self.http_metrics = http_metrics
        self.routes = frozenset(route.path for route in app.routes)
        self.jwt_secret = settings.jwt_secret
        self.limiter = (
            RateLimiter(settings.rate_limit_per_sec, settings.rate_limit_burst) if settings.rate_limit_per_sec > 0 else None
        )

    async def __call__(
        self, scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        if scope["type"] != "http":
            await self._inner(scope, receive, send)
            return
        path: str = scope["path"]
        started = time.perf_counter()
        status = STATUS_INTERNAL  # unless a response starts

        async def recording_send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            refusal = self.refusal(scope, path)
            if refusal is None:
                await self._inner(scope, receive, recording_send)
            else:
                await _send_error(recording_send, refusal)
        finally:
            route = path if path in self.routes else UNMATCHED_ROUTE
            self.http_metrics.observe(route, scope["method"], status, time.perf_counter() - started)

    def refusal(self, scope: MutableMapping[str, Any], path: str) -> RustsError | None:
        """Why this request is refused before it reaches a handler, or None."""
        if self.limiter is not None and path not in UNLIMITED_PATHS:
            client = scope.get("client")
            try:
                self.limiter.check(client[0] if client else "")
            except RateLimitError as exc:
                return exc
        if self.jwt_secret is not None and path not in OPEN_PATHS:
            headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
            query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
            try:
                verify_token(self.jwt_secret, token_from_request(headers, query))
            except AuthError as exc:
                return exc
        return None


async def _send_error(send: Callable[[Any], Awaitable[None]], exc: Exception) -> None:
    body = msgspec.json.encode({"error": str(exc)})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(name.lower().encode(), value.encode()) for name, value in error_headers(exc).items()]
    await send({"type": "http.response.start", "status": status_of(exc), "headers": headers})
    await send({"type": "http.response.body", "body": body})


Service = Callable[[EngineHolder], AbstractAsyncContextManager[None]]


def create_app(
    open_engine: Callable[[], StorageEngine],
    settings: ApiSettings,
    services: Sequence[Service] = (),
    cluster: ClusterNode | None = None,
) -> Gate:
    """The app; `open_engine` runs in a background thread at start-up.

    Each service (the PostgreSQL listener) is entered once the engine's opening has started
    and left before the engine closes; it sees the engine through the holder. With `cluster`
    (whose `open` is then `open_engine`) the routes of rusts.api.cluster_routes are served too.
    """
    from rusts.api.cluster_routes import HANDLERS as CLUSTER_HANDLERS  # it imports this module
    holder = EngineHolder()

    def opener() -> None:
        try:
            holder.engine = open_engine()
        except Exception as exc:
            # A server that cannot open its data (directory in use, corrupt file) is of no use:
            # say why in one line and exit with status 1 rather than answer 503 forever.
            holder.failure = str(exc)
            print(f"error: cannot open the storage engine: {exc}", file=sys.stderr, flush=True)
            os._exit(1)
        finally:
            holder.ready.set()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        thread = threading.Thread(target=opener, name="rusts-open", daemon=True)
        thread.start()
        try:
            async with AsyncExitStack() as stack:
                for service in services:
                    await stack.enter_async_context(service(holder))
                yield
        finally:
            await asyncio.to_thread(holder.ready.wait)
            if holder.engine is not None:
                await asyncio.to_thread(holder.engine.close)

    http_metrics = HttpMetrics()
    app = Litestar(
        logging_config=None,  # the server configures logging (rusts.yml logging); Litestar must not replace it
        route_handlers=[
            health, ready, stats, metrics, write_v1, write_v2, write_arrow, query, query_get, sql,
            influx_compat.ping, influx_compat.ping_head, list_aggregates, create_aggregate, drop_aggregate,
            *(CLUSTER_HANDLERS if cluster is not None else []),
        ],
        lifespan=[lifespan],
        exception_handlers={RustsError: _rusts_error_response},
        state=State(
            {
                "engines": holder,
                "max_body_size": settings.max_body_size,
                "request_timeout": settings.request_timeout,
                "http_metrics": http_metrics,
                "cluster": cluster,
            }
        ),
        request_max_body_size=settings.max_body_size,
    )
    return Gate(app, http_metrics, settings)
