"""One cluster node: its shard engines, the coordinator of writes and queries, and the background chores.

Assembled by the server (rusts.server.main) from cluster.toml; the HTTP side
(rusts.api.cluster_routes) calls the `internal_*` methods and `status`.

Layout under data_dir:

    shards/<n>/   one StorageEngine per shard this node holds (owned or replica)
    schema/       the front engine: no points, the cluster-wide schema (rusts.cluster.schema)
    hints/        hinted handoff logs, one per peer (rusts.cluster.handoff)
    AGGREGATES_OWED  peers owed a catch-up of aggregate changes (rusts.cluster.owed)

The front engine is what the rest of the server sees as "the engine": its
`write_router` is `ClusterNode.write` and its `query_router` a ClusterQueries,
so /write, /query, /sql, pgwire and SQL INSERT all go through the cluster.

Writes (`write`): the coordinator parses the body with the engine's parser
(bad lines are refused with the parser's own messages) and checks field
types cluster-wide. It splits the accepted records by shard (stamping records
without a time), and replicates each shard's part to its holders; a shard whose
mode's promise was not kept raises ReplicationShortError (HTTP 503 naming the
shards). Lines a holder refused (a type conflict only that shard knew) come
back in its answer and are reported with the client's line numbers.

Queries (`ClusterQueries`): every shard the query needs is asked once, at one
live holder (this node first when it holds the shard), in parallel; partial
answers are merged (rusts.cluster.merge). A shard no holder answered for
raises ShardsUnavailableError (HTTP 503 naming the shards), never a short answer.

Deletes and drops (`delete`, `drop`: the front engine's delete_router and
drop_router): one ShardDelete (rusts.cluster.deletes) to every holder of every
shard, replicated and judged like a write (ReplicationShortError when the mode's
promise was not kept), hinted for the holders that missed it in the same log as
write hints. A drop also removes the measurement from every node's front schema.

Hint keepers: every coordinator's hints for a node go to one node, its keeper
(`keeper_of`: the first other node in cluster.toml order), through
POST /internal/hints, so a node that was down receives every write and delete
it missed in one order, the order they reached its keeper, whichever node
coordinated them. A keeper that is down too: the coordinator keeps the hints
itself (ordered among its own only). Every node learns from each peer which
nodes it holds hints for (GET /internal/hints, each round) and sends such a
node nothing directly until those are delivered (new writes are hinted behind).

Continuous aggregates: each node's front keeps its own (rusts.aggregation),
refreshed through the cluster. A write or delete is told to the aggregates
that read its measurement, on every node that has one: this node's front
listeners directly, each peer whose aggregates read it (as its last
GET /internal/state said) through POST /internal/written and
POST /internal/deleted, before the write is acknowledged. A node learns a
peer's aggregate sources once a round, so writes in between (after an
aggregate is created, while the peer was unreachable, or when telling it failed:
the peer is then forgotten as a reader) would go untold: every node remembers
the time ranges it wrote or deleted per measurement over the last RECENT_SECS, and when it learns that a peer reads a measurement it did not know
the peer read, it sends those ranges (POST /internal/changed), which the peer's
aggregates recompute. A peer out of reach for longer is told to recompute
everything it reads, as is a peer this node was restarted without telling
(AGGREGATES_OWED keeps those across restarts). An aggregate several nodes define alike is refreshed by
one of them (`aggregate_holders`: the first in cluster.toml order that answers);
the others keep its changes pending until it stops answering.

Background loop (a thread, every `interval` seconds): probe each peer's
/health, learn which nodes the peers hold hints for and which measurements
their aggregates read, deliver pending hints to peers that answer, refresh
the schema.

Timeouts: one `timeout` (rusts --cluster-timeout) bounds every request to a
peer (a forwarded write, a partial query, a schema fetch) and the whole
replication of one write; health probes use at most 1 s.
"""

import hashlib
import logging
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec
import numpy as np

from rusts.aggregation.continuous import registry_if_any
from rusts.cluster.checksum import ShardFingerprint, fingerprint, range_fingerprint
from rusts.cluster.client import ClientPool, NodeClient, Outcome, Peer
from rusts.cluster.config import DEFAULT_MAX_HINT_BYTES, DEFAULT_QUIET_SECS, ClusterConfig
from rusts.cluster.convergence import Converger, copy_points
from rusts.cluster.deletes import ShardDelete, apply_delete, decode_delete, delete_of_keys, drop_of, encode_delete
from rusts.cluster.handoff import DELETE_KIND, Hint, HintStore, HintStoreFullError
from rusts.cluster.membership import HealthTracker, StaticMembership
from rusts.cluster.owed import OwedPeers
from rusts.cluster.merge import PartialAnswer, encode_partial, merge_partials, partial_answer
from rusts.cluster.repair import RepairError, RepairReport, ShardRepair, peer_answer, push_shard
from rusts.cluster.replication import ReplicationShortError, Replicator, WriteDecision, delete_path
from rusts.cluster.router import gather, http_fetcher
from rusts.cluster.schema import FrontEngine, NodeSchema, SchemaMirror, decode_schema, encode_schema, export_schema, schema_version
from rusts.cluster.sharding import SplitBatch, record_lines, split_lines
from rusts.cluster.status import cluster_status, encode_status
from rusts.core.errors import LineProtocolError, RustsError
from rusts.core.types import I64_MAX, I64_MIN
from rusts.query.model import Column, Query, QueryResult
from rusts.storage.engine import AggregateHolders, StorageEngine, WriteResult

# (a directory relative to data_dir such as "shards/3", the engine class) -> the opened engine
OpenEngine = Callable[[str, type[StorageEngine]], StorageEngine]

PROBE_TIMEOUT_SECS = 1.0
RECENT_SECS = 600  # how far back a node remembers the time ranges it wrote, for aggregates it learns of late
CLIENTS_PER_PEER = 8
REPAIR_TIMEOUT_SECS = 3600.0  # a repair pushes a whole shard: its requests may take long
CONVERGE_TIMEOUT_SECS = 120.0  # a convergence reads one range of a copy at a time
LAYOUT_HEADER = "X-Rusts-Cluster"  # "<cluster_name>/<layout digest>" on every request to a peer


def layout_of(config: ClusterConfig) -> str:
    """`<cluster_name>/<digest>` of everything in cluster.toml but this node's own settings (node_id, the
    hint bound): equal on every node of one cluster, different as soon as two nodes disagree about nodes,
    shards, mode or sharding."""
    shape = msgspec.structs.replace(
        config, node_id="", max_hint_bytes_per_peer=DEFAULT_MAX_HINT_BYTES, anti_entropy_quiet_secs=DEFAULT_QUIET_SECS
    )
    return f"{config.cluster_name}/{hashlib.blake2b(msgspec.json.encode(shape), digest_size=8).hexdigest()}"

_log = logging.getLogger("rusts.cluster")


def aggregate_key(name: str, sql: str) -> str:
    """`<name>/<digest of its SQL>`: equal on two nodes exactly when they define the aggregate alike."""
    return f"{name}/{hashlib.blake2b(sql.encode('utf-8'), digest_size=8).hexdigest()}"


class NotHolderError(RustsError):
    """A request for a shard this node does not hold (HTTP 404)."""

    def __init__(self, node_id: str, shard: int, held: list[int]) -> None:
        self.shard = shard
        super().__init__(f"node {node_id} does not hold shard {shard} (it holds {', '.join(map(str, held)) or 'none'})")


class LayoutMismatchError(RustsError):
    """A request from a node whose cluster.toml differs from this node's (HTTP 409): nothing is stored."""


class SchemaError(RustsError):
    """A schema announcement that cannot be read (HTTP 400)."""


class HintsRequestError(RustsError):
    """Hints sent to a node that is not their keeper, or unreadable (HTTP 400, said by the route)."""


class ShardsUnavailableError(RustsError):
    """A query that needs shards none of whose holders answered (HTTP 503): no answer rather than a short one."""

    sqlstate = "57P03"  # pgwire reports it (cannot_connect_now: retry once a holder is back)

    def __init__(self, missing: list[int], message: str) -> None:
        self.missing = missing
        super().__init__(f"the answer would miss shard(s) {', '.join(map(str, missing))}: {message}")


class OwnPart:
    """A part of a write this node stores itself, as the coordinator parsed it: the client's line
    numbers of its records (in the part's order) and the parser's batches of its rows."""

    __slots__ = ("lines", "batches")

    def __init__(self, lines: list[int], batches: list[Any]) -> None:
        self.lines = lines
        self.batches = batches


def _rows_in(batch: Any, lines: list[int]) -> Any:
    """The parser batch with only its rows of `lines`, or None when it has none there."""
    keep = np.isin(batch.lines, lines)
    if keep.all():
        return batch
    return _rows_of(batch, np.flatnonzero(keep)) if keep.any() else None


def _rows_of(batch: Any, rows: Any) -> Any:
    """A parser batch with only the rows at `rows` (fields left without a value there are dropped)."""
    columns = {}
    for name, column in batch.columns.items():
        taken = column.take(rows)
        if taken.present is None or bool(taken.present.any()):
            columns[name] = taken
    return type(batch)(batch.key, batch.measurement, batch.tags, batch.timestamps[rows], batch.lines[rows], columns)


class ClusterNode:
    """This node's part of the cluster. `open` (once) opens the shard engines and returns the front engine."""

    def __init__(
        self,
        config: ClusterConfig,
        data_dir: str,
        open_engine: OpenEngine,
        timeout: float,
        headers: dict[str, str] | None = None,
        interval: float = 1.0,
    ) -> None:
        self.config = config
        self.data_dir = data_dir
        self.timeout = timeout
        self.interval = interval
        self._open_engine = open_engine
        self.membership = StaticMembership(config)
        self.sharding = self.membership.sharding()
        self.node_id = config.node_id
        peers = [node for node in config.nodes if node.id != self.node_id]
        self.layout = layout_of(config)
        self._headers = dict(headers or {})
        self._repairers: dict[str, Peer] = {}
        self._repair_lock = threading.Lock()
        headers = {**(headers or {}), LAYOUT_HEADER: self.layout}
        self.clients: dict[str, Peer] = {
            node.id: ClientPool(node.id, node.address, timeout, headers, CLIENTS_PER_PEER) for node in peers
        }
        self._probes: dict[str, Peer] = {
            node.id: NodeClient(node.id, node.address, min(timeout, PROBE_TIMEOUT_SECS), headers) for node in peers
        }
        self.health = HealthTracker([node.id for node in peers])
        self.hints = HintStore(os.path.join(data_dir, "hints"), config.max_hint_bytes_per_peer)
        # peer -> (nodes it holds hints for, nodes it marked for resync), as its last answer said
        self._remote_hints: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
        self._remote_sources: dict[str, frozenset[str]] = {}  # peer -> measurements its aggregates read
        self._remote_aggregates: dict[str, frozenset[str]] = {}  # peer -> its aggregates' aggregate_key
        self._lost_at: dict[str, float] = {}  # peer -> when its state was last dropped (monotonic)
        self._opened_at = time.monotonic()
        os.makedirs(data_dir, exist_ok=True)
        self.owed = OwedPeers(data_dir, [node.id for node in peers])  # peers owed an aggregate catch-up
        # measurement -> second (monotonic) -> [lowest, highest] timestamp this node wrote in it then
        self._recent: dict[str, dict[int, list[int]]] = {}
        self._recent_lock = threading.Lock()
        self._remote_lock = threading.Lock()
        self.shards: dict[int, StorageEngine] = {}
        self.front: StorageEngine | None = None
        self.mirror: SchemaMirror | None = None
        self.replicator = Replicator(
            self.node_id, config.replication_mode, self.sharding, self.clients, self.local_write, self.hints,
            workers=16, health=self.health, deadline=timeout, hinted_elsewhere=self.hinted_elsewhere, keep=self.keep_hints,
        )
        self.queries = ClusterQueries(self)
        self._announcer = ThreadPoolExecutor(max_workers=max(1, len(peers)), thread_name_prefix="rusts-announce")
        # One delivery at a time per peer (a hint handed out twice could replay an old delete after newer
        # writes); deliveries started by hints arriving for a live peer run on their own thread.
        self._delivery_locks = {node_id: threading.Lock() for node_id in self.clients}
        self._deliverer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rusts-deliver")
        self._delivery_queued: set[str] = set()
        self._queued_lock = threading.Lock()
        self._schema_versions: dict[str, int] = {}
        self._schema_lock = threading.Lock()
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None
        self.converger: Converger | None = None

    # ---- life ----

    def open(self) -> StorageEngine:
        """Open every shard engine this node holds and the front engine; start the background loop."""
        for shard in self.sharding.shards_of_node(self.node_id):
            self.shards[shard] = self._open_engine(os.path.join("shards", str(shard)), StorageEngine)
        front = self._open_engine("schema", FrontEngine)
        self.mirror = SchemaMirror(front)
        self.mirror.absorb(export_schema(list(self.shards.values())))
        front.write_router = self.write
        front.query_router = self.queries
        if isinstance(front, FrontEngine):
            front.delete_router = self.delete
            front.drop_router = self.drop
            front.aggregate_holders = self.aggregate_holders
            front.routed_sequence = time.time_ns()
        self.front = front
        self._loop = threading.Thread(target=self._background, name="rusts-cluster", daemon=True)
        self._loop.start()
        headers = {**self._headers, LAYOUT_HEADER: self.layout}
        readers: dict[str, Peer] = {
            node.id: NodeClient(node.id, node.address, max(CONVERGE_TIMEOUT_SECS, self.timeout), headers)
            for node in self.config.nodes if node.id != self.node_id
        }
        self.converger = Converger(
            self.node_id, self.sharding, self.shards, readers, self.converging_ready, self._tell_converged,
            self.config.anti_entropy_quiet_secs, self.interval,
        )
        self.converger.start()
        return front

    def close(self) -> None:
        """Stop the loop, the forwarding pool and the peer connections; close the shard engines (not the front)."""
        self._stop.set()
        if self._loop is not None:
            self._loop.join()
        if self.converger is not None:
            self.converger.close()
        self.replicator.close()
        self.queries.close()
        self._announcer.shutdown(wait=True)
        self._deliverer.shutdown(wait=True)
        for peer in [*self.clients.values(), *self._probes.values()]:
            peer.close()
        for engine in self.shards.values():
            engine.close()
        self.hints.close()

    def _background(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.health.probe(self._probes)
                self._poll_hint_keepers()
                self._forget_old_ranges()
                for node_id in self.clients:
                    if self._stop.is_set():
                        return
                    if self.health.healthy(node_id) and self.hints.pending(node_id, 1):
                        self._deliver_to(node_id)
                self.refresh_schema()
            except Exception:
                _log.exception("cluster background round failed; the next one retries")

    def _deliver_to(self, node_id: str) -> None:
        with self._delivery_locks[node_id]:
            delivered = self.hints.deliver(node_id, self._hand_over(node_id))
        if delivered:
            _log.info("delivered %d hint(s) to %s", delivered, node_id)

    def _deliver_soon(self, node_id: str) -> None:
        """Hints just arrived for a peer that answers (it missed one write, or is catching up): deliver them
        now rather than at the next round, so that the others, which send it nothing directly while this
        node holds hints for it, soon see it caught up."""
        if self._stop.is_set() or not self.health.healthy(node_id):
            return
        with self._queued_lock:
            if node_id in self._delivery_queued:
                return
            self._delivery_queued.add(node_id)

        def run() -> None:
            with self._queued_lock:
                self._delivery_queued.discard(node_id)
            try:
                self._deliver_to(node_id)
            except Exception:
                _log.exception("delivery of hints to %s failed; the next round retries", node_id)

        try:
            self._deliverer.submit(run)
        except RuntimeError:
            pass  # shutting down: the hints stay for the next start

    def _hand_over(self, node_id: str) -> Callable[[Hint], bool]:
        client = self.clients[node_id]

        def send(hint: Hint) -> bool:
            if hint.is_delete:
                outcome = client.post(delete_path(hint.shard), hint.body, "application/msgpack")
            else:
                outcome = client.write(hint.shard, hint.body, hint.multiplier)
            self.health.record(node_id, outcome.status is not None, outcome.error)
            if not outcome.stored and not outcome.retriable:
                # A refusal that will not pass (the node no longer holds the shard, the data is bad for
                # it) would block every later hint: say so and drop it.
                _log.warning("hint %d for %s (shard %d) refused, dropped: %s", hint.sequence, node_id, hint.shard, outcome.error)
                return True
            if outcome.stored and hint.is_delete:
                self._after_late_delete(hint.body)
            return outcome.stored

        return send

    # ---- hint keepers ----

    def keeper_of(self, node_id: str) -> str:
        """The node that keeps every coordinator's hints for `node_id`: the first other node in cluster.toml."""
        return next(node.id for node in self.config.nodes if node.id != node_id)

    def keep_hints(self, target: str, hints: list[tuple[int, bytes, int]], accepted: int) -> None:
        """The Replicator's `keep`: the hints go to `target`'s keeper (this node's store when it is the keeper,
        or when the keeper cannot take them now); HintStoreFullError when the keeper's bound refuses them."""
        keeper = self.keeper_of(target)
        if keeper != self.node_id and self.health.healthy(keeper):
            body = msgspec.msgpack.encode(KeptHints(accepted, hints))
            outcome = self.clients[keeper].post(f"/internal/hints?{urllib.parse.urlencode({'node': target})}", body, "application/msgpack")
            if outcome.stored:
                with self._remote_lock:
                    held, marked = self._remote_hints.get(keeper, (frozenset(), frozenset()))
                    self._remote_hints[keeper] = (held | {target}, marked)  # until its next answer says otherwise
                return
            if outcome.status == STATUS_INSUFFICIENT_STORAGE:
                raise HintStoreFullError(target, f"{keeper}: {outcome.error}", False)  # the keeper logged it
            _log.warning("hint keeper %s for %s did not take %d hint(s) (%s); kept here", keeper, target, len(hints), outcome.error)
        self.hints.append_many(target, hints, accepted)
        self._deliver_soon(target)

    def internal_keep(self, target: str, body: bytes) -> None:
        """POST /internal/hints: keep another coordinator's hints for `target` (this node is its keeper)."""
        if target == self.node_id or target not in self.clients:
            raise HintsRequestError(f"node {self.node_id} keeps no hints for {target!r}: not one of its peers")
        try:
            kept = msgspec.msgpack.decode(body, type=KeptHints)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise HintsRequestError(f"unreadable hints: {error}") from None
        try:
            self.hints.append_many(target, kept.hints, kept.accepted)
        except HintStoreFullError as error:
            if error.first:
                _log.error("%s; /cluster/status shows resync_needed", error)
            raise
        self._deliver_soon(target)

    def internal_state(self) -> bytes:
        """GET /internal/state: the nodes this node holds hints for, those it marked for resync, and the
        measurements its continuous aggregates read (JSON)."""
        return msgspec.json.encode(
            NodeState(
                sorted(self.hints.pending_counts()), sorted(self.hints.resync_needed()), sorted(self.aggregate_sources()),
                sorted(self.aggregate_keys()),
            )
        )

    def _poll_hint_keepers(self) -> None:
        for node_id, client in self.clients.items():
            if not self.health.healthy(node_id):
                with self._remote_lock:
                    self._remote_hints.pop(node_id, None)  # its hints wait for it; the others need not
                    self._remote_aggregates.pop(node_id, None)
                self._lose_sources(node_id)
                continue
            outcome = client.get("/internal/state")
            if not outcome.stored:
                continue
            try:
                state = msgspec.json.decode(outcome.body, type=NodeState)
            except (msgspec.DecodeError, msgspec.ValidationError) as error:
                _log.warning("the state of %s is unreadable: %s", node_id, error)
                continue
            with self._remote_lock:
                self._remote_hints[node_id] = (frozenset(state.pending_hints), frozenset(state.resync))
                known = self._remote_sources.get(node_id)
                self._remote_sources[node_id] = frozenset(state.aggregate_sources)
                self._remote_aggregates[node_id] = frozenset(state.aggregates)
            new = set(state.aggregate_sources) - (known or set())
            if new:
                self._catch_up_aggregates(node_id, new, known is None)

    def hinted_elsewhere(self, node_id: str) -> bool:
        """Whether a live peer holds hints for `node_id` (as its last answer said)."""
        with self._remote_lock:
            return any(node_id in held for peer, (held, _) in self._remote_hints.items() if peer != node_id)

    def _marked_elsewhere(self, node_id: str) -> bool:
        with self._remote_lock:
            return any(node_id in marked for peer, (_, marked) in self._remote_hints.items() if peer != node_id)

    # ---- writes ----

    def write(self, body: bytes, multiplier: int, default_time: int | None) -> WriteResult:
        """The front engine's write_router: parse, check, split by shard, replicate; see the module docstring."""
        front, mirror = self._front()
        stamp = time.time_ns() if default_time is None else default_time
        # Lines without a time get the coordinator's clock in whole units of the precision, as the
        # holders read it from the forwarded parts (split_lines appends it so).
        batches, errors = front.parser(body, multiplier, stamp // multiplier * multiplier)
        admitted = mirror.admit(batches, errors)
        if not admitted.lines:
            return WriteResult(0, 0, admitted.errors, 0)
        split = split_lines(body, self.sharding, multiplier, stamp, admitted.lines, track_times=True)
        decision = self.replicator.replicate(split, multiplier, self._own_parts(batches, split))
        if split.touched:
            self._remember(split.touched)
            if self._sources_anywhere() & set(split.touched):
                self._tell_written(split.touched)
        later = [*split.errors, *_holder_refusals(split, decision)]
        news = mirror.register(admitted)
        if news is not None:
            self._announce(news)
        refused = _by_line([*admitted.errors, *later])
        points = admitted.points - len({e.line for e in later} - {e.line for e in admitted.errors})
        if not decision.ok:
            raise ReplicationShortError(self.config.replication_mode, decision, points)
        return WriteResult(points, admitted.values, refused, 0)

    def _own_parts(self, batches: list[Any], split: SplitBatch) -> dict[int, OwnPart]:
        """The parsed rows of each part of `split` this node stores itself, so that its engines store
        them without parsing the part again. Only where a series' rows all go to one shard (not
        ByTime). A part's batches are taken whole when their rows add up to the split's (no line of
        it was refused), else cut to the split's lines; a part that still does not add up is left to
        be parsed."""
        if self.sharding.strategy == "ByTime":
            return {}
        by_shard: dict[int, list[Any]] = {}
        for batch in batches:
            shard = self.sharding.shard_of(batch.measurement, batch.key, 0)
            if shard in self.shards and shard in split.shards:
                by_shard.setdefault(shard, []).append(batch)
        own: dict[int, OwnPart] = {}
        for shard, found in by_shard.items():
            part = split.shards[shard]
            if sum(len(batch.timestamps) for batch in found) != part.points:
                found = [cut for cut in (_rows_in(batch, part.lines) for batch in found) if cut is not None]
            if sum(len(batch.timestamps) for batch in found) == part.points:
                own[shard] = OwnPart(part.lines, found)
        return own

    def local_write(self, shard: int, body: bytes, multiplier: int, parsed: Any = None) -> Outcome:
        """The Replicator's write (or delete, multiplier DELETE_KIND) into this node's engine of `shard`;
        `parsed` (an OwnPart): the coordinator's parse of the part, stored without parsing it again."""
        if multiplier == DELETE_KIND:
            return self._local_delete(shard, body)
        try:
            if isinstance(parsed, OwnPart):
                result = self._store_own_part(shard, body, multiplier, parsed)
            else:
                result = self.internal_write(shard, body, multiplier)
        except NotHolderError as exc:
            return Outcome(self.node_id, False, False, None, str(exc))
        except Exception as exc:
            _log.exception("local write to shard %d failed", shard)
            return Outcome(self.node_id, False, True, None, f"local write failed: {exc}")
        return Outcome(self.node_id, True, False, 200 if result.errors else 204, "", encode_refusals(result))

    def internal_write(self, shard: int, body: bytes, multiplier: int) -> WriteResult:
        """POST /internal/write: store a shard's part here (never forwarded again)."""
        return self.shard_engine(shard).write_line_protocol(body, multiplier, None)

    def _store_own_part(self, shard: int, body: bytes, multiplier: int, part: OwnPart) -> WriteResult:
        """Store the coordinator's parsed rows of a part; refusals renumbered as the part's own lines,
        as a holder that parsed the part would number them (the Replicator maps those back)."""
        result = self.shard_engine(shard).write_parsed(body, multiplier, part.batches)
        if not result.errors:
            return result
        own = dict(zip(part.lines, record_lines(body)))
        renumbered = [LineProtocolError(own.get(e.line, 0), e.column, e.message) for e in result.errors]
        return WriteResult(result.points, result.field_values, renumbered, result.sequence)

    # ---- continuous aggregates ----

    def aggregate_sources(self) -> set[str]:
        """The measurements this node's continuous aggregates read."""
        front, _ = self._front()
        registry = registry_if_any(front, quiet=True)
        if registry is None:
            return set()
        return {aggregate.definition.source for aggregate in list(registry.aggregates.values())}

    def aggregate_keys(self) -> set[str]:
        """This node's continuous aggregates as aggregate_key values."""
        front, _ = self._front()
        registry = registry_if_any(front, quiet=True)
        if registry is None:
            return set()
        return {aggregate_key(a.definition.name, a.definition.sql) for a in list(registry.aggregates.values())}

    def aggregate_holders(self, name: str, sql: str) -> AggregateHolders:
        """Who keeps the continuous aggregate `name` defined by `sql` (the front engine's aggregate_holders).
        Its refresher is the first node in cluster.toml order among this one and the peers that answer
        and define it alike (same name, same SQL): one node does the work that every node defining it
        would otherwise repeat. The others keep its changes pending; when the refresher stops answering
        (the health probes' down_after rounds), the next in order recomputes them."""
        key = aggregate_key(name, sql)
        with self._remote_lock:
            alike = {peer for peer, keys in self._remote_aggregates.items() if key in keys}
        alike = {peer for peer in alike if self.health.healthy(peer)}
        for node in self.config.nodes:
            if node.id == self.node_id:
                break
            if node.id in alike:
                return AggregateHolders(node.id, False, True)
        return AggregateHolders(self.node_id, True, bool(alike))

    def _remember(self, touched: dict[str, list[int]]) -> None:
        second = int(time.monotonic())
        with self._recent_lock:
            for measurement, stamps in touched.items():
                low, high = min(stamps), max(stamps)
                seconds = self._recent.setdefault(measurement, {})
                seen = seconds.get(second)
                if seen is None:
                    seconds[second] = [low, high]
                else:
                    seen[0], seen[1] = min(seen[0], low), max(seen[1], high)

    def _forget_old_ranges(self) -> None:
        oldest = int(time.monotonic()) - RECENT_SECS
        with self._recent_lock:
            for measurement in list(self._recent):
                seconds = {second: span for second, span in self._recent[measurement].items() if second >= oldest}
                if seconds:
                    self._recent[measurement] = seconds
                else:
                    del self._recent[measurement]

    def recent_ranges(self, measurement: str) -> list[list[int]]:
        """The time ranges [start, end) this node wrote in `measurement` over the last RECENT_SECS, merged."""
        with self._recent_lock:
            spans = sorted(self._recent.get(measurement, {}).values())
        merged: list[list[int]] = []
        for low, high in spans:
            if merged and low <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], high + 1)
            else:
                merged.append([low, high + 1])
        return merged

    def _catch_up_aggregates(self, node_id: str, sources: set[str], unknown_before: bool) -> None:
        """A peer reads measurements it did not (as far as this node knew): tell it what this node wrote in
        them recently, or everything when this node may have written untold for longer than it remembers."""
        lost = self._lost_at.get(node_id, self._opened_at)
        # Owed from before this process started (rusts.cluster.owed): what it was not told is not remembered.
        owed = node_id in self.owed and lost == self._opened_at
        everything = owed or (unknown_before and time.monotonic() - lost > RECENT_SECS)
        changed = {m: [[I64_MIN, I64_MAX]] if everything else self.recent_ranges(m) for m in sorted(sources)}
        changed = {m: ranges for m, ranges in changed.items() if ranges}
        if changed:
            outcome = self.clients[node_id].post("/internal/changed", msgspec.msgpack.encode(changed), "application/msgpack")
            if not outcome.stored:
                _log.warning("%s: recent writes not told to its continuous aggregates: %s", node_id, outcome.error)
                self.owed.add(node_id)
                with self._remote_lock:
                    self._remote_sources.pop(node_id, None)  # try again next round
                    self._lost_at.setdefault(node_id, lost)
                return
        self.owed.discard(node_id)

    def internal_changed(self, body: bytes) -> None:
        """POST /internal/changed: time ranges per measurement that changed, for the aggregates here (they
        recompute them, as after a delete of those ranges)."""
        try:
            changed = msgspec.msgpack.decode(body, type=dict[str, list[tuple[int, int]]])
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise HintsRequestError(f"unreadable changed ranges: {error}") from None
        front, _ = self._front()
        for measurement, ranges in changed.items():
            some = front.series_ids(measurement)[:1]  # the listeners take series ids and look up their measurement
            for start, end in ranges:
                if some:
                    for listener in list(front.delete_listeners):
                        listener(some, start, end)

    def _sources_anywhere(self) -> set[str]:
        with self._remote_lock:
            remote = set().union(*self._remote_sources.values()) if self._remote_sources else set()
        return remote | self.aggregate_sources()

    def _tell_written(self, touched: dict[str, list[int]]) -> None:
        """Tell the aggregates here and on the peers whose aggregates read these measurements."""
        times = {measurement: sorted(set(stamps)) for measurement, stamps in touched.items()}
        self._hear_written(times)
        self._tell_peers("/internal/written", set(times), msgspec.msgpack.encode(times))

    def _tell_peers(self, path: str, measurements: set[str], body: bytes) -> None:
        """Tell each peer whose aggregates read one of `measurements`. A peer this node cannot tell (it looks
        down, or the request fails) is forgotten as a reader: the next round that reaches it learns its
        sources anew and sends it the ranges this node changed in them recently (_catch_up_aggregates),
        this change included, as for a peer that was away."""
        with self._remote_lock:
            peers = [node_id for node_id, sources in self._remote_sources.items() if sources & measurements]
        sends = []
        for node_id in peers:
            if self.health.healthy(node_id):
                sends.append((node_id, self._announcer.submit(self.clients[node_id].post, path, body, "application/msgpack")))
            else:
                self._lose_sources(node_id)
        for node_id, send in sends:
            outcome = send.result()
            if not outcome.stored:
                _log.warning("%s: %s not told to its continuous aggregates (told at its return): %s", node_id, path, outcome.error)
                self._lose_sources(node_id)

    def _lose_sources(self, node_id: str) -> None:
        with self._remote_lock:
            lost = self._remote_sources.pop(node_id, None)
            if lost is not None:
                self._lost_at[node_id] = time.monotonic()
        if lost:  # it reads something: until a catch-up reaches it, it is owed one, also across a restart
            self.owed.add(node_id)

    def _hear_written(self, times: dict[str, list[int]]) -> None:
        front, _ = self._front()
        if not isinstance(front, FrontEngine) or not front.write_listeners:
            return
        written = [(measurement, np.asarray(stamps, dtype=np.int64)) for measurement, stamps in times.items()]
        sequence = front.next_sequence()
        for listener in list(front.write_listeners):
            listener(sequence, written)

    def internal_written(self, body: bytes) -> None:
        """POST /internal/written: timestamps per measurement another coordinator wrote, for the aggregates here."""
        try:
            times = msgspec.msgpack.decode(body, type=dict[str, list[int]])
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise HintsRequestError(f"unreadable written times: {error}") from None
        self._hear_written(times)

    def internal_deleted(self, body: bytes) -> None:
        """POST /internal/deleted: a delete another coordinator did, for the aggregates here."""
        operation = decode_delete(body)
        front, _ = self._front()
        ids = [found for found in (front.index.id_of(key) for key in operation.keys) if found is not None]
        if ids:
            for listener in list(front.delete_listeners):
                listener(ids, operation.start, operation.end)

    def _tell_deleted(self, keys: list[str], start: int, end: int) -> None:
        front, _ = self._front()
        ids = [found for found in (front.index.id_of(key) for key in keys) if found is not None]
        measurements = {entry.measurement for entry in (front.index.lookup(i) for i in ids) if entry is not None}
        if measurements:
            self._remember({measurement: [start, end - 1] for measurement in measurements})  # for a catch-up
            self._tell_peers("/internal/deleted", measurements, encode_delete(delete_of_keys(keys, start, end)))

    # ---- deletes ----

    def delete(self, keys: list[str], start: int, end: int) -> None:
        """The front engine's delete_router: the rows of these series in [start, end) on every holder."""
        try:
            self._replicate_delete(delete_of_keys(keys, start, end))
        finally:
            self._tell_deleted(keys, start, end)  # applied where it could: the aggregates recompute those buckets

    def drop(self, measurement: str) -> None:
        """The front engine's drop_router: the measurement off every holder and every node's front schema."""
        front, _ = self._front()
        keys = [found.key for found in (front.index.lookup(i) for i in front.series_ids(measurement)) if found is not None]
        try:
            self._replicate_delete(drop_of(measurement))
        finally:
            self._tell_deleted(keys, I64_MIN, I64_MAX)
            # Forgotten even when some holder missed it: the live ones dropped it, the others have a hint.
            self._forget(measurement)
            self._announce(NodeSchema(0, [], [measurement]))

    def _replicate_delete(self, operation: ShardDelete) -> None:
        decision = self.replicator.replicate_delete(encode_delete(operation))
        if not decision.ok:
            raise ReplicationShortError(self.config.replication_mode, decision, 0, operation.describe())

    def _local_delete(self, shard: int, body: bytes) -> Outcome:
        try:
            self.internal_delete(shard, body)
        except NotHolderError as exc:
            return Outcome(self.node_id, False, False, None, str(exc))
        except Exception as exc:
            _log.exception("local delete on shard %d failed", shard)
            return Outcome(self.node_id, False, True, None, f"local delete failed: {exc}")
        return Outcome(self.node_id, True, False, 204, "")

    def internal_delete(self, shard: int, body: bytes) -> int:
        """POST /internal/delete: apply a delete to shard `shard` here (never forwarded); series touched.
        A drop also leaves this node's front schema (it may have re-learnt it from its stale shards)."""
        engine = self.shard_engine(shard)
        operation = decode_delete(body)
        touched = apply_delete(engine, operation)
        if operation.drop:
            self._forget(operation.measurement)
        return touched

    def _after_late_delete(self, body: bytes) -> None:
        """A drop delivered by a hint: peers may have pulled the holder's stale schema meanwhile, so
        everyone forgets the measurement again (and pulls what the shards hold now)."""
        try:
            operation = decode_delete(body)
        except RustsError:
            return
        if operation.drop:
            self._forget(operation.measurement)
            self._announce(NodeSchema(0, [], [operation.measurement]))

    def _forget(self, measurement: str) -> None:
        _, mirror = self._front()
        with self._schema_lock:
            mirror.forget(measurement)
            # The next refresh pulls every whole schema again: a measurement written again after the drop
            # comes back from the shards that hold it.
            self._schema_versions.clear()

    def check_layout(self, claimed: str | None) -> None:
        """LayoutMismatchError when a peer's request says it runs another cluster.toml (None: not a peer)."""
        if claimed is not None and claimed != self.layout:
            raise LayoutMismatchError(
                f"node {self.node_id} runs cluster layout {self.layout}, the request came from a node running "
                f"{claimed}: their cluster.toml files differ (beyond node_id)"
            )

    def shard_engine(self, shard: int) -> StorageEngine:
        engine = self.shards.get(shard)
        if engine is None:
            raise NotHolderError(self.node_id, shard, sorted(self.shards))
        return engine

    # ---- queries and the rest of the internal API ----

    def internal_query(self, shard: int, query: Query, timeout: float | None) -> bytes:
        """POST /internal/query: this shard's partial answer (msgpack)."""
        return encode_partial(partial_answer(self.shard_engine(shard), query, timeout))

    def internal_fingerprint(
        self, shard: int, timeout: float | None, measurement: str | None = None, start: int = I64_MIN, end: int = I64_MAX
    ) -> ShardFingerprint:
        """GET /internal/fingerprint: points per measurement and a digest of this node's copy of `shard`,
        or of one measurement's points in [start, end) (rusts.cluster.checksum.range_fingerprint)."""
        if measurement is None:
            return fingerprint(self.shard_engine(shard), timeout)
        return range_fingerprint(self.shard_engine(shard), measurement, start, end, timeout)

    def internal_points(self, shard: int, measurement: str, start: int, end: int, timeout: float | None) -> bytes:
        """GET /internal/points: this node's points of `measurement` in [start, end) of `shard` (msgpack CopyPoints)."""
        return msgspec.msgpack.encode(copy_points(self.shard_engine(shard), measurement, start, end, timeout))

    def converging_ready(self, node_id: str) -> bool:
        """Whether copies on `node_id` may be compared now (rusts.cluster.convergence): it answers and, as
        far as this node knows, misses nothing, not even hints other nodes keep for it."""
        if node_id == self.node_id:
            return not self.hinted_elsewhere(node_id) and not self._marked_elsewhere(node_id)
        return self.up_to_date(node_id)

    def _tell_converged(self, measurement: str, times: list[int]) -> None:
        """A merge changed these points: tell the continuous aggregates as a write would."""
        touched = {measurement: times}
        self._remember(touched)
        if measurement in self._sources_anywhere():
            self._tell_written(touched)

    def repair(self, target: str) -> RepairReport:
        """POST /cluster/repair: make every copy `target` holds equal to a live copy elsewhere
        (rusts.cluster.repair), the shards this node holds pushed from here and each other shard
        by a live holder asked over /internal/repair. When all agree afterwards, the resync marks
        for `target` are dropped here and on the peers. RepairError for a node that is not a peer."""
        if target not in self.clients:
            raise RepairError(f"{target!r} is not a peer of node {self.node_id}")
        reports: list[ShardRepair] = []
        for shard in self.sharding.shards_of_node(target):
            try:
                reports.append(self._repair_shard(target, shard))
            except RepairError as error:
                reports.append(ShardRepair(shard, "", error=str(error)))
        in_sync = all(report.in_sync for report in reports)
        if in_sync:
            self.hints.clear_resync(target)
            for peer_id, client in self._repair_clients().items():
                if peer_id != target:
                    client.post(f"/cluster/resync-done?node={target}", b"", "application/json")  # 404: no mark there
        return RepairReport(target, reports, in_sync)

    def _repair_shard(self, target: str, shard: int) -> ShardRepair:
        clients = self._repair_clients()
        engine = self.shards.get(shard)
        if engine is not None:
            return push_shard(engine, shard, self.node_id, clients[target])
        sources = [n for n in self.sharding.owners(shard) if n not in (target, self.node_id) and self.health.healthy(n)]
        if not sources:
            raise RepairError(f"no live node but {target} holds shard {shard}")
        outcome = clients[sources[0]].post(f"/internal/repair?node={target}&shard={shard}", b"", "application/json")
        return peer_answer(outcome, ShardRepair, f"the repair of shard {shard} of {target}")

    def internal_repair(self, target: str, shard: int) -> ShardRepair:
        """POST /internal/repair: push this node's copy of `shard` to `target`."""
        if target not in self.clients:
            raise RepairError(f"{target!r} is not a peer of node {self.node_id}")
        return push_shard(self.shard_engine(shard), shard, self.node_id, self._repair_clients()[target])

    def _repair_clients(self) -> dict[str, Peer]:
        """Clients for repairs: a shard's copy can take far longer than the cluster's request timeout."""
        with self._repair_lock:
            if not self._repairers:
                headers = {**self._headers, LAYOUT_HEADER: self.layout}
                self._repairers = {
                    node.id: NodeClient(node.id, node.address, REPAIR_TIMEOUT_SECS, headers)
                    for node in self.config.nodes if node.id != self.node_id
                }
            return dict(self._repairers)

    def internal_schema(self, known_version: int | None) -> bytes | None:
        """GET /internal/schema: this node's shards' schema (msgpack), or None when `known_version` is current."""
        engines = list(self.shards.values())
        if known_version is not None and schema_version(engines) == known_version:
            return None
        return encode_schema(export_schema(engines))

    def status(self) -> bytes:
        """GET /cluster/status (JSON)."""
        status = cluster_status(self.config, self.membership, self.health, self.hints)
        if self.converger is not None:
            status.convergence = self.converger.status()
        return encode_status(status)

    def refresh_schema(self) -> bool:
        """Absorb what this node's shards and every answering peer know; whether anything was new."""
        _, mirror = self._front()
        with self._schema_lock:
            grew = False
            local = list(self.shards.values())
            version = schema_version(local)
            if self._schema_versions.get(self.node_id) != version:
                grew = mirror.absorb(export_schema(local)) or grew
                self._schema_versions[self.node_id] = version
            for node_id, client in self.clients.items():
                if not self.health.healthy(node_id):
                    continue
                known = self._schema_versions.get(node_id)
                outcome = client.get("/internal/schema" + ("" if known is None else f"?version={known}"))
                if outcome.status == 204 or not outcome.stored:
                    continue
                try:
                    schema = decode_schema(outcome.body)
                except (msgspec.DecodeError, msgspec.ValidationError) as error:
                    _log.warning("schema from %s unreadable: %s", node_id, error)
                    continue
                grew = mirror.absorb(schema) or grew
                self._schema_versions[node_id] = schema.version
            return grew

    def _announce(self, news: NodeSchema) -> None:
        """Tell every live peer about new series and fields (in parallel, each within the timeout); a peer
        that misses it learns them from its next pull of the schema."""
        body = encode_schema(news)
        peers = [client for node_id, client in self.clients.items() if self.health.healthy(node_id)]
        sends = [self._announcer.submit(client.post, "/internal/schema", body, "application/msgpack") for client in peers]
        for send in sends:
            send.result()

    def internal_absorb(self, body: bytes) -> None:
        """POST /internal/schema: new series and fields a coordinator announces."""
        _, mirror = self._front()
        try:
            schema = decode_schema(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise SchemaError(f"unreadable schema announcement: {error}") from None
        for measurement in schema.dropped:
            self._forget(measurement)
        mirror.absorb(schema)

    def up_to_date(self, node_id: str) -> bool:
        """Healthy and, as far as this node knows, missing nothing: no hints waiting for it, no resync mark.
        The router asks such holders first (a node catching up answers only when no other holder does)."""
        if node_id == self.node_id:
            return True
        hints = self.hints
        return (
            self.health.healthy(node_id)
            and hints.last_sequence(node_id) <= hints.acknowledged(node_id)
            and node_id not in hints.resync_needed()
            and not self.hinted_elsewhere(node_id)
            and not self._marked_elsewhere(node_id)
        )

    def _front(self) -> tuple[StorageEngine, SchemaMirror]:
        if self.front is None or self.mirror is None:
            raise AssertionError("BUG: the cluster node is used before open()")
        return self.front, self.mirror


class ClusterQueries:
    """The front engine's query_router (rusts.query.executor.QueryRouter): scatter, gather, merge."""

    def __init__(self, node: ClusterNode) -> None:
        self.node = node
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="rusts-gather")

    def execute(self, query: Query, timeout: float | None) -> QueryResult:
        node = self.node

        def local(shard: int, asked: Query) -> PartialAnswer:
            return partial_answer(node.shard_engine(shard), asked, timeout)

        fetch = http_fetcher(node.clients, local, node.node_id, timeout)
        gathered = gather(query, node.sharding, node.node_id, fetch, node.up_to_date, self._pool)
        if not gathered.complete:
            raise ShardsUnavailableError(sorted(gathered.missing), gathered.missing_message())
        return merge_partials(query, [gathered.partials[shard] for shard in sorted(gathered.partials)])

    def execute_batches(
        self, query: Query, timeout: float | None, batch_rows: int
    ) -> tuple[list[Column], Iterator[list[list[Any]]]]:
        """The merged answer, sliced (a cluster answer is merged whole before the first row goes out)."""
        result = self.execute(query, timeout)
        rows = result.rows
        return result.columns, (rows[at : at + batch_rows] for at in range(0, len(rows), batch_rows))

    def close(self) -> None:
        self._pool.shutdown(wait=False)


STATUS_INSUFFICIENT_STORAGE = 507  # a keeper's hint store is at its bound


class KeptHints(msgspec.Struct, array_like=True):
    """The body of POST /internal/hints (msgpack): hints for one node, accepted at one time."""

    accepted: int
    hints: list[tuple[int, bytes, int]]  # shard, body, multiplier or DELETE_KIND


class NodeState(msgspec.Struct):
    """The body of GET /internal/state (JSON)."""

    pending_hints: list[str]  # nodes this node holds hints for
    resync: list[str]  # nodes it marked as needing a resync
    aggregate_sources: list[str]  # measurements its continuous aggregates read
    # its continuous aggregates as "<name>/<digest of the defining SQL>" (aggregate_key); absent from older nodes
    aggregates: list[str] = []


class Refusal(msgspec.Struct):
    line: int
    error: str
    column: int = 0


class Refusals(msgspec.Struct):
    points: int
    rejected: list[Refusal]


def encode_refusals(result: WriteResult) -> bytes:
    """The body of a 200 from /internal/write: the lines the holder refused (empty when it took all)."""
    if not result.errors:
        return b""
    return msgspec.json.encode(Refusals(result.points, [Refusal(e.line, e.message, e.column) for e in result.errors]))


def _holder_refusals(split: SplitBatch, decision: WriteDecision) -> list[LineProtocolError]:
    """Lines a holder stored the rest of its part without (its answer's `rejected`), in the client's numbering."""
    refused: list[LineProtocolError] = []
    for shard, outcomes in decision.outcomes.items():
        answer = next((o.body for o in outcomes if o.stored and o.body), b"")
        if not answer:
            continue
        try:
            refusals = msgspec.json.decode(answer, type=Refusals)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        batch = split.shards[shard]
        original = dict(zip(record_lines(bytes(batch.body)), batch.lines))
        for refusal in refusals.rejected:
            refused.append(LineProtocolError(original.get(refusal.line, 0), refusal.column, refusal.error))
    return refused


def _by_line(errors: list[LineProtocolError]) -> list[LineProtocolError]:
    """One error per line (the first), in line order."""
    first: dict[int, LineProtocolError] = {}
    for error in errors:
        first.setdefault(error.line, error)
    return [first[line] for line in sorted(first)]
