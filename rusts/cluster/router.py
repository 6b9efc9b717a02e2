"""The query router's gathering half: ask every shard a query needs, once, with failover between its holders.

For each shard (rusts.cluster.sharding.Sharding.shards_for_query) the router
tries its holders in order, the ones believed healthy first, the local node
before peers when it holds the shard; the first holder that answers supplies
that shard's PartialAnswer. Shards are asked in parallel. A shard none of
whose holders answers is reported missing, with each holder's error, and the
caller must not present a total without it (merge what came, and say which
shards are missing, or refuse: the server's choice, see docs/cluster.md).

Fetching is a callable so the router is tested without a server:

    fetch(node_id, shard, query) -> PartialAnswer      raises FetchError when that holder cannot answer

`http_fetcher` builds one from NodeClients and POST /internal/query?shard=N.
A query error (bad query, unknown field on every shard) is not a failover
reason: it is the answer, and propagates.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import msgspec

from rusts.cluster.client import Peer
from rusts.cluster.merge import PartialAnswer, decode_partial
from rusts.cluster.sharding import Sharding
from rusts.core.errors import QueryError, RustsError
from rusts.query.model import Query


class FetchError(RustsError):
    """One holder could not answer for one shard (down, timed out, 5xx): try the next."""


Fetch = Callable[[str, int, Query], PartialAnswer]


class Gathered:
    """Partial answers per shard that answered, and for each missing shard why every holder failed."""

    __slots__ = ("partials", "missing", "answered_by")

    def __init__(self) -> None:
        self.partials: dict[int, PartialAnswer] = {}
        self.answered_by: dict[int, str] = {}
        self.missing: dict[int, list[str]] = {}

    @property
    def complete(self) -> bool:
        return not self.missing

    def missing_message(self) -> str:
        parts = [f"shard {shard} ({'; '.join(errors)})" for shard, errors in sorted(self.missing.items())]
        return "no holder answered for " + ", ".join(parts)


def holder_order(holders: list[str], local_id: str, healthy: Callable[[str], bool]) -> list[str]:
    """Holders to try: healthy before unhealthy, the local node first among equals, else config order."""
    return sorted(holders, key=lambda node: (not healthy(node), node != local_id))


def gather(
    query: Query,
    sharding: Sharding,
    local_id: str,
    fetch: Fetch,
    healthy: Callable[[str], bool] = lambda node: True,
    pool: ThreadPoolExecutor | None = None,
) -> Gathered:
    """Every needed shard's partial answer, in parallel, failing over between holders."""
    start = query.time_range.start if query.time_range is not None else None
    end = query.time_range.end if query.time_range is not None else None
    shards = sharding.shards_for_query(query.measurement, start, end)
    gathered = Gathered()
    own_pool = pool is None
    workers = pool or ThreadPoolExecutor(max_workers=max(1, min(16, len(shards))), thread_name_prefix="rusts-gather")
    try:
        futures = {
            shard: workers.submit(_one_shard, query, shard, holder_order(sharding.owners(shard), local_id, healthy), fetch)
            for shard in shards
        }
        for shard, future in futures.items():
            answer, node, errors = future.result()
            if answer is None:
                gathered.missing[shard] = errors
            else:
                gathered.partials[shard] = answer
                gathered.answered_by[shard] = node
    finally:
        if own_pool:
            workers.shutdown(wait=False)
    return gathered


def _one_shard(query: Query, shard: int, holders: list[str], fetch: Fetch) -> tuple[PartialAnswer | None, str, list[str]]:
    errors: list[str] = []
    for node in holders:
        try:
            return fetch(node, shard, query), node, errors
        except FetchError as error:
            errors.append(f"{node}: {error}")
    return None, "", errors


def http_fetcher(
    clients: dict[str, Peer], local: Callable[[int, Query], PartialAnswer] | None, local_id: str, timeout: float | None = None
) -> Fetch:
    """A Fetch over POST /internal/query?shard=N[&timeout=T] (msgpack PartialAnswer back); `local` answers
    this node's shards. A 4xx answer (other than 404 and 429) is the query's error: it propagates."""

    suffix = "" if timeout is None else f"&timeout={timeout:g}"

    def fetch(node: str, shard: int, query: Query) -> PartialAnswer:
        if node == local_id and local is not None:
            return local(shard, query)
        client = clients.get(node)
        if client is None:
            raise FetchError("no client for this node")
        outcome = client.post(f"/internal/query?shard={shard}{suffix}", msgspec.json.encode(query), "application/json")
        if outcome.stored:
            try:
                return decode_partial(outcome.body)
            except (msgspec.DecodeError, msgspec.ValidationError) as error:
                raise FetchError(f"malformed partial answer: {error}") from None
        if outcome.status is not None and 400 <= outcome.status < 500 and outcome.status not in (404, 429):
            raise QueryError(_error_text(outcome.body) or f"HTTP {outcome.status}")
        raise FetchError(outcome.error)

    return fetch


def _error_text(body: bytes) -> str:
    """The message of an error answer: {"error": "..."} as the API sends it, else the text."""
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        decoded = None
    if isinstance(decoded, dict) and isinstance(decoded.get("error"), str):
        return str(decoded["error"])
    return body.decode("utf-8", "replace").strip()
