"""The HTTP API (Litestar). Interpreted: Litestar introspects its handlers.

Routes so far: the probes (`/health`, `/ready`), writes in InfluxDB line
protocol (`/write`, and `/api/v2/write` for InfluxDB 2.x clients and
Telegraf's influxdb_v2 output) and `/stats`. Queries arrive with the query
engine (issue 4).

The storage engine opens in a background thread when the app starts, so
`/health` answers at once while `/ready` says 503 until recovery (WAL
replay) is done; writes before then get 503 too.
"""

import asyncio
import threading
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, get, post
from litestar.datastructures import State
from litestar.response import Response

import rusts
from rusts.api.line_protocol import PRECISION_MULTIPLIERS
from rusts.core.errors import RustsError
from rusts.storage.engine import StorageEngine

# Reasons a write is refused as a whole, and their HTTP status (one table, per STYLE).
STATUS_BAD_REQUEST = 400
STATUS_TOO_LARGE = 413
STATUS_UNAVAILABLE = 503
STATUS_UNSUPPORTED_MEDIA = 415
REJECTED_LINES_SHOWN = 100


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
    return Response({"version": rusts.__version__, "compiled": rusts.COMPILED, **holder.engine.statistics()})


async def _write(request: Request[Any, Any, State], precision: str) -> Response[Any]:
    holder: EngineHolder = request.app.state.engines
    engine = holder.engine
    if engine is None:
        return _error(STATUS_UNAVAILABLE, "the storage engine is not ready (recovering)")
    multiplier = PRECISION_MULTIPLIERS.get(precision)
    if multiplier is None:
        return _error(STATUS_BAD_REQUEST, f"unknown precision {precision!r}: expected ns, us, ms or s")
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
    try:
        result = await asyncio.to_thread(engine.write_line_protocol, body, multiplier, None)
    except RustsError as exc:
        return _error(STATUS_UNAVAILABLE, f"write failed, nothing from this request was stored: {exc}")
    if not result.errors:
        return Response(None, status_code=204)
    first = result.errors[0]
    return _error(
        STATUS_BAD_REQUEST,
        f"partial write: {len(result.errors)} line(s) rejected, first: {first}",
        written=result.points,
        rejected=[{"line": e.line, "error": e.message} for e in result.errors[:REJECTED_LINES_SHOWN]],
    )


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


def create_app(open_engine: Callable[[], StorageEngine], max_body_size: int) -> Litestar:
    """The app; `open_engine` runs in a background thread at start-up."""
    holder = EngineHolder()

    def opener() -> None:
        try:
            holder.engine = open_engine()
        except Exception as exc:  # reported by /ready and the log; the process keeps serving /health
            holder.failure = str(exc)
            raise
        finally:
            holder.ready.set()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        thread = threading.Thread(target=opener, name="rusts-open", daemon=True)
        thread.start()
        try:
            yield
        finally:
            await asyncio.to_thread(holder.ready.wait)
            if holder.engine is not None:
                await asyncio.to_thread(holder.engine.close)

    return Litestar(
        route_handlers=[health, ready, stats, write_v1, write_v2],
        lifespan=[lifespan],
        state=State({"engines": holder, "max_body_size": max_body_size}),
        request_max_body_size=max_body_size,
    )
