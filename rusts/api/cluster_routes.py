"""The HTTP routes of cluster mode (rusts.cluster.node.ClusterNode in the app state as "cluster").

    POST /internal/write?shard=N&precision=P   a shard's part of a write, from a coordinator or a hint:
                                               204 stored; 200 + {"points", "rejected": [{"line",
                                               "error", "column"}]} when some lines were refused; 400 bad
                                               precision; 404 shard not held here; 503 not ready
    POST /internal/delete?shard=N              a delete or drop for shard N (msgpack ShardDelete,
                                               rusts.cluster.deletes), from a coordinator or a hint:
                                               204 applied; 400 unreadable; 404 shard not held here
    POST /internal/hints?node=ID               another coordinator's hints for node ID, to keep here (this node
                                               is ID's hint keeper; msgpack KeptHints): 204 kept on disk; 400
                                               not a peer or unreadable; 507 the hint store is at its bound
    GET  /internal/state                       {"pending_hints": [node...], "resync": [node...],
                                               "aggregate_sources": [measurement...]}: the nodes this node
                                               holds hints for, those it marked as needing a resync, the
                                               measurements its continuous aggregates read
    POST /internal/written                     {measurement: [ns...]} (msgpack) another coordinator wrote: to
                                               this node's continuous aggregates; 204
    POST /internal/deleted                     a ShardDelete another coordinator did: to this node's
                                               continuous aggregates; 204
    POST /internal/changed                     {measurement: [[start, end]...]} (msgpack) written recently by
                                               the sender: this node's aggregates recompute them; 204
    POST /internal/query?shard=N[&timeout=T]   a JSON Query -> msgpack PartialAnswer; 400 bad query
    GET  /internal/schema[?version=V]          msgpack NodeSchema of this node's shards; 204 when V is current
    POST /internal/schema                      new series and fields a coordinator announces (msgpack
                                               NodeSchema); 204
    GET  /internal/fingerprint?shard=N[&timeout=T]  {"points": {measurement: rows}, "digest": hex} of this
                                               copy; T seconds at most (default server.request_timeout, up
                                               to an hour: a repair reads whole shards)
         [&measurement=M&start=S&end=E]        of M's points in [S, E) only (rusts.cluster.checksum)
    GET  /internal/points?shard=N&measurement=M&start=S&end=E[&timeout=T]  msgpack CopyPoints: this copy's
                                               points of M in [S, E), for a convergence merge
    GET  /cluster/status                       nodes, health, shards, pending hints (rusts.cluster.status)
    POST /cluster/resync-done?node=ID          an operator says node ID's copies were brought up to date:
                                               this node drops its resync mark for it; 204, 404 when none
    POST /cluster/repair?node=ID               make every copy node ID holds equal to a live copy elsewhere
                                               (rusts.cluster.repair); 200 + RepairReport when all agree
                                               after (the resync marks for ID are then dropped everywhere),
                                               409 + the report when some do not, 400 not a peer
    POST /internal/repair?node=ID&shard=N      push this node's copy of shard N to node ID (what a
                                               /cluster/repair asks of a holder): 200 + ShardRepair;
                                               404 shard not held here; 502 the push failed

Internal routes never forward again: a coordinator already chose the holders.
They need the cluster's token when authentication is on (the node's clients
send one) and are not rate limited (the client's request was, at the coordinator).
A peer's request carries X-Rusts-Cluster (cluster name and a digest of
cluster.toml without node_id); one that differs from this node's is refused with
409 before anything is stored (a request without it, from an operator, is served).
"""

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.response import Response

from rusts.api.line_protocol import PRECISION_MULTIPLIERS
from rusts.api.router import STATUS_BAD_REQUEST, STATUS_UNAVAILABLE, EngineHolder, run_blocking

STATUS_BAD_GATEWAY = 502
from rusts.cluster.deletes import DeleteBodyError
from rusts.cluster.handoff import HintStoreFullError
from rusts.cluster.node import LAYOUT_HEADER, REPAIR_TIMEOUT_SECS, STATUS_INSUFFICIENT_STORAGE, ClusterNode, HintsRequestError
from rusts.cluster.repair import RepairError
from rusts.core.types import I64_MAX, I64_MIN
from rusts.query.model import parse_query

INTERNAL_PATHS = frozenset(
    {
        "/internal/write", "/internal/delete", "/internal/hints", "/internal/state", "/internal/written",
        "/internal/deleted", "/internal/changed", "/internal/query", "/internal/schema", "/internal/fingerprint",
        "/internal/points", "/internal/repair",
    }
)


def _node(state: State, request: Request[Any, Any, State] | None = None) -> ClusterNode | None:
    """The node once its engines are open (None while recovering); LayoutMismatchError (409) when the
    request comes from a node with another cluster.toml."""
    holder: EngineHolder = state.engines
    node: ClusterNode = state.cluster
    if request is not None:
        node.check_layout(request.headers.get(LAYOUT_HEADER))
    return node if holder.engine is not None else None


def _not_ready() -> Response[Any]:
    return Response({"error": "the cluster node is not ready (recovering)"}, status_code=STATUS_UNAVAILABLE)


@post("/internal/write", status_code=200)
async def internal_write(request: Request[Any, Any, State], shard: int, precision: str = "ns") -> Response[Any]:
    """Store a shard's part of a write on this node."""
    node = _node(request.app.state, request)
    if node is None:
        return _not_ready()
    multiplier = PRECISION_MULTIPLIERS.get(precision)
    if multiplier is None:
        return Response({"error": f"unknown precision {precision!r}: expected ns, us, ms or s"}, status_code=STATUS_BAD_REQUEST)
    body = await request.body()
    timeout: float = request.app.state.request_timeout
    result = await run_blocking(timeout, "the shard write", "it may still complete", node.internal_write, shard, body, multiplier)
    if not result.errors:
        return Response(None, status_code=204)
    return Response(
        {"points": result.points, "rejected": [{"line": e.line, "error": e.message, "column": e.column} for e in result.errors]},
        status_code=200,
    )


@post("/internal/delete", status_code=200)
async def internal_delete(request: Request[Any, Any, State], shard: int) -> Response[Any]:
    """Apply a delete or a drop to a shard this node holds."""
    node = _node(request.app.state, request)
    if node is None:
        return _not_ready()
    body = await request.body()
    timeout: float = request.app.state.request_timeout
    try:
        await run_blocking(timeout, "the shard delete", "it may still complete", node.internal_delete, shard, body)
    except DeleteBodyError as error:
        return Response({"error": str(error)}, status_code=STATUS_BAD_REQUEST)
    return Response(None, status_code=204)


@post("/internal/hints", status_code=200)
async def keep_hints(request: Request[Any, Any, State], node: str) -> Response[Any]:
    """Keep hints another coordinator has for `node` (this node is its keeper), durably before answering."""
    cluster = _node(request.app.state, request)
    if cluster is None:
        return _not_ready()
    body = await request.body()
    timeout: float = request.app.state.request_timeout
    try:
        await run_blocking(timeout, "keeping the hints", "they may still be kept", cluster.internal_keep, node, body)
    except HintsRequestError as error:
        return Response({"error": str(error)}, status_code=STATUS_BAD_REQUEST)
    except HintStoreFullError as error:
        return Response({"error": str(error)}, status_code=STATUS_INSUFFICIENT_STORAGE)
    return Response(None, status_code=204)


@get("/internal/state")
async def node_state(request: Request[Any, Any, State]) -> Response[Any]:
    """The nodes this node holds hints for, those it marked for resync, what its aggregates read."""
    cluster = _node(request.app.state, request)
    if cluster is None:
        return _not_ready()
    timeout: float = request.app.state.request_timeout
    answer = await run_blocking(timeout, "the node state", "try again", cluster.internal_state)
    return Response(answer, media_type="application/json")


@post("/internal/written", status_code=200)
async def written(request: Request[Any, Any, State]) -> Response[Any]:
    """Timestamps another coordinator wrote, for this node's continuous aggregates."""
    cluster = _node(request.app.state, request)
    if cluster is None:
        return _not_ready()
    body = await request.body()
    timeout: float = request.app.state.request_timeout
    try:
        await run_blocking(timeout, "telling the aggregates", "they may still hear it", cluster.internal_written, body)
    except HintsRequestError as error:
        return Response({"error": str(error)}, status_code=STATUS_BAD_REQUEST)
    return Response(None, status_code=204)


@post("/internal/changed", status_code=200)
async def changed(request: Request[Any, Any, State]) -> Response[Any]:
    """Time ranges another node wrote before it knew this node's aggregates read them."""
    cluster = _node(request.app.state, request)
    if cluster is None:
        return _not_ready()
    body = await request.body()
    timeout: float = request.app.state.request_timeout
    try:
        await run_blocking(timeout, "telling the aggregates", "they may still hear it", cluster.internal_changed, body)
    except HintsRequestError as error:
        return Response({"error": str(error)}, status_code=STATUS_BAD_REQUEST)
    return Response(None, status_code=204)


@post("/internal/deleted", status_code=200)
async def deleted(request: Request[Any, Any, State]) -> Response[Any]:
    """A delete another coordinator did, for this node's continuous aggregates."""
    cluster = _node(request.app.state, request)
    if cluster is None:
        return _not_ready()
    body = await request.body()
    timeout: float = request.app.state.request_timeout
    try:
        await run_blocking(timeout, "telling the aggregates", "they may still hear it", cluster.internal_deleted, body)
    except DeleteBodyError as error:
        return Response({"error": str(error)}, status_code=STATUS_BAD_REQUEST)
    return Response(None, status_code=204)


@post("/internal/query", status_code=200)
async def internal_query(request: Request[Any, Any, State], shard: int, timeout: float | None = None) -> Response[Any]:
    """This node's partial answer for one shard."""
    node = _node(request.app.state, request)
    if node is None:
        return _not_ready()
    limit: float = request.app.state.request_timeout
    budget = limit if timeout is None else min(timeout, limit)
    query = parse_query(await request.body())
    answer = await run_blocking(budget, "the shard query", "it was cancelled", node.internal_query, shard, query, budget)
    return Response(answer, media_type="application/msgpack")


@get("/internal/schema")
async def internal_schema(request: Request[Any, Any, State], version: int | None = None) -> Response[Any]:
    """The schema of this node's shards, unless `version` is still current (204)."""
    state = request.app.state
    node = _node(state, request)
    if node is None:
        return _not_ready()
    answer = await run_blocking(state.request_timeout, "the schema export", "try again", node.internal_schema, version)
    if answer is None:
        return Response(None, status_code=204)
    return Response(answer, media_type="application/msgpack")


@post("/internal/schema", status_code=200)
async def announce_schema(request: Request[Any, Any, State]) -> Response[Any]:
    """New series and fields another node's write brought: into this node's front schema."""
    node = _node(request.app.state, request)
    if node is None:
        return _not_ready()
    body = await request.body()
    await run_blocking(request.app.state.request_timeout, "the schema update", "it may still complete", node.internal_absorb, body)
    return Response(None, status_code=204)


@get("/internal/fingerprint")
async def internal_fingerprint(
    state: State, shard: int, timeout: float | None = None, measurement: str | None = None, start: int = I64_MIN,
    end: int = I64_MAX,
) -> Response[Any]:
    """Points per measurement and a digest of this node's copy of a shard, or of one measurement's
    points in [start, end). `timeout` (seconds, at most REPAIR_TIMEOUT_SECS; default
    server.request_timeout): a repair reads whole shards."""
    node = _node(state)
    if node is None:
        return _not_ready()
    budget = _patience(state, timeout)
    found = await run_blocking(
        budget, "the fingerprint", "it was cancelled", node.internal_fingerprint, shard, budget, measurement, start, end
    )
    return Response(msgspec.to_builtins(found))


@get("/internal/points")
async def internal_points(
    state: State, shard: int, measurement: str, start: int, end: int, timeout: float | None = None
) -> Response[Any]:
    """This node's points of one measurement's range of a shard (msgpack CopyPoints)."""
    node = _node(state)
    if node is None:
        return _not_ready()
    budget = _patience(state, timeout)
    found = await run_blocking(budget, "the points", "it was cancelled", node.internal_points, shard, measurement, start, end, budget)
    return Response(found, media_type="application/msgpack")


def _patience(state: State, timeout: float | None) -> float:
    """A reading of a whole copy or range may take up to REPAIR_TIMEOUT_SECS when the caller says so."""
    return float(state.request_timeout) if timeout is None else min(max(timeout, 0.001), REPAIR_TIMEOUT_SECS)


@get("/cluster/status")
async def status(state: State) -> Response[Any]:
    """Nodes, their health and shards, and the hints this node holds for each."""
    node: ClusterNode = state.cluster
    return Response(node.status(), media_type="application/json")


@post("/cluster/resync-done", status_code=200)
async def resync_done(state: State, node: str) -> Response[Any]:
    """Forget this node's resync mark for a peer (after the operator resynchronised its shards)."""
    cluster: ClusterNode = state.cluster
    if not cluster.hints.clear_resync(node):
        return Response({"error": f"this node has no resync mark for {node!r}"}, status_code=404)
    return Response(None, status_code=204)


@post("/cluster/repair", status_code=200)
async def repair(state: State, node: str) -> Response[Any]:
    """Bring node `node`'s copies back to the data of live copies elsewhere (an operator's call)."""
    cluster = _node(state)
    if cluster is None:
        return _not_ready()
    try:
        report = await run_blocking(REPAIR_TIMEOUT_SECS, "the repair", "it may still complete", cluster.repair, node)
    except RepairError as error:
        return Response({"error": str(error)}, status_code=STATUS_BAD_REQUEST)
    return Response(msgspec.to_builtins(report), status_code=200 if report.in_sync else 409)


@post("/internal/repair", status_code=200)
async def internal_repair(request: Request[Any, Any, State], node: str, shard: int) -> Response[Any]:
    """Push this node's copy of a shard to node `node` (asked by a /cluster/repair elsewhere)."""
    cluster = _node(request.app.state, request)
    if cluster is None:
        return _not_ready()
    try:
        report = await run_blocking(REPAIR_TIMEOUT_SECS, "the shard repair", "it may still complete", cluster.internal_repair, node, shard)
    except RepairError as error:
        return Response({"error": str(error)}, status_code=STATUS_BAD_GATEWAY)
    return Response(msgspec.to_builtins(report))


HANDLERS = [
    internal_write, internal_delete, keep_hints, node_state, written, deleted, changed, internal_query, internal_schema,
    announce_schema, internal_fingerprint, internal_points, status, resync_done, repair, internal_repair,
]

