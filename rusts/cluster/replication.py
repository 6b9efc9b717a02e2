"""Replication of a write batch: forward each shard's part to its holders, and judge the outcome.

The decision is a pure function (`decide`) over the outcomes per shard:

    Sync     every holder of the shard stored it
    Quorum   a majority of its holders (replication_factor // 2 + 1)
    Async    at least one holder (the first to answer); the others continue in the background

A shard that falls short is named with what it got, what it needed and why
each holder failed; the write's answer must say so (e.g. 503), never report
success. Independently of the mode, every holder that failed for a reason that
may pass (unreachable, timeout, 5xx) gets a hint (rusts.cluster.handoff), so
it catches up when it returns; a holder that rejected the data (4xx) gets none.

`replicate` does the forwarding: all holders of all shards in parallel, the
local node through a callable, peers through NodeClients, each with its
timeout. Writes are idempotent (the same point written twice is the same point),
which is what makes hint replay and the client's one retry safe.

Deletes (`replicate_delete`) travel the same way and are judged by the same
mode: one body (rusts.cluster.deletes.ShardDelete) to every holder of every
shard, peers through POST /internal/delete, hints of the delete kind for the
holders that missed it, queued in the same log as write hints so a returning
node applies writes and deletes in the coordinator's order.

A hint store at its bound (rusts.cluster.handoff) stores nothing more for that
holder: the miss counts against the mode like any other (Sync answers 503), the
error is logged and the holder is marked as needing a resync.
"""

import logging
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol

from rusts.cluster.client import Outcome, Peer
from rusts.cluster.config import ReplicationMode
from rusts.cluster.handoff import DELETE_KIND, HintStore, HintStoreFullError
from rusts.cluster.membership import HealthTracker
from rusts.cluster.sharding import Sharding, SplitBatch
from rusts.core.errors import RustsError

# (shard, body, multiplier) -> outcome on this node; multiplier DELETE_KIND: the body is a delete
class LocalWrite(Protocol):
    """This node's own write of a shard's part; `parsed`: the coordinator's parse of it, when it has one."""

    def __call__(self, shard: int, body: bytes, multiplier: int, parsed: Any = None) -> Outcome: ...

# (node id, [(shard, body, multiplier or DELETE_KIND)], accepted ns) -> stored durably somewhere, or raises
KeepHints = Callable[[str, list[tuple[int, bytes, int]], int], object]

_log = logging.getLogger("rusts.cluster")


def delete_path(shard: int) -> str:
    return "/internal/delete?" + urllib.parse.urlencode({"shard": shard})


def required_acks(mode: ReplicationMode, holders: int) -> int:
    """How many holders must store a shard's part for the mode's promise."""
    if mode == "Sync":
        return holders
    if mode == "Quorum":
        return holders // 2 + 1
    return 1


class Shortfall:
    """A shard whose part was not stored on enough holders."""

    __slots__ = ("shard", "stored", "needed", "failures")

    def __init__(self, shard: int, stored: int, needed: int, failures: list[Outcome]) -> None:
        self.shard = shard
        self.stored = stored
        self.needed = needed
        self.failures = failures

    def describe(self) -> str:
        why = "; ".join(f"{o.node_id}: {o.error or 'no answer'}" for o in self.failures)
        return f"shard {self.shard} stored on {self.stored} of {self.needed} holders needed ({why})"


class WriteDecision:
    """The verdict on one replicated write: ok, or which shards fell short and why."""

    __slots__ = ("ok", "shortfalls", "hinted", "outcomes")

    def __init__(
        self, shortfalls: list[Shortfall], hinted: list[tuple[str, int]], outcomes: dict[int, list[Outcome]] | None = None
    ) -> None:
        self.ok = not shortfalls
        self.shortfalls = shortfalls
        self.hinted = hinted  # (node id, shard) of the hints stored for this write
        self.outcomes = outcomes or {}  # per shard, the outcomes known when the write was judged

    @property
    def short_shards(self) -> list[int]:
        return [s.shard for s in self.shortfalls]

    def message(self) -> str:
        if self.ok:
            return "stored"
        return "replication fell short: " + "; ".join(s.describe() for s in self.shortfalls)


class ReplicationShortError(RustsError):
    """A write whose replication mode's promise was not kept for some shards (HTTP 503). The parts of
    other shards are stored; resending the whole write is safe (writes are idempotent)."""

    sqlstate = "57P03"  # pgwire reports it (cannot_connect_now: the write may be resent)

    def __init__(self, mode: ReplicationMode, decision: WriteDecision, points: int, operation: str = "") -> None:
        self.mode = mode
        self.short_shards = decision.short_shards
        self.points = points
        shards = ", ".join(map(str, self.short_shards))
        if operation:
            super().__init__(
                f"{mode} replication of the {operation} not achieved for shard(s) {shards} (it was applied where it "
                f"could and hinted for the others; resending it is safe): {decision.message()}"
            )
        else:
            super().__init__(f"{mode} replication not achieved for shard(s) {shards}: {decision.message()}")


def decide(mode: ReplicationMode, outcomes: dict[int, list[Outcome]], holders: dict[int, int]) -> list[Shortfall]:
    """Shards whose outcomes do not keep the mode's promise, ascending. `holders`: copies per shard
    (an outcome missing from a shard's list counts as not stored)."""
    short: list[Shortfall] = []
    for shard in sorted(outcomes):
        results = outcomes[shard]
        stored = sum(1 for o in results if o.stored)
        needed = required_acks(mode, holders[shard])
        if stored < needed:
            short.append(Shortfall(shard, stored, needed, [o for o in results if not o.stored]))
    return short


class Replicator:
    """Forwards split batches to shard holders and keeps hints for the ones that missed them."""

    def __init__(
        self,
        node_id: str,
        mode: ReplicationMode,
        sharding: Sharding,
        clients: dict[str, Peer],
        local_write: LocalWrite,
        hints: HintStore,
        workers: int = 8,
        health: HealthTracker | None = None,
        deadline: float | None = None,
        hinted_elsewhere: Callable[[str], bool] | None = None,
        keep: KeepHints | None = None,
    ) -> None:
        """`health`: skip holders seen down (they get a hint at once) and record what each send saw;
        `deadline`: seconds a whole write may wait for holders (default: the longest client timeout);
        sends queued behind a slow peer are then counted as missed, and hinted; `hinted_elsewhere(node)`:
        whether another coordinator is known to hold hints for that node (then writes to it are hinted
        here too, behind them); `keep(node, hints, accepted)`: where hints go (default: this node's store;
        rusts.cluster.node sends them to the node's hint keeper), HintStoreFullError when they cannot."""
        self.health = health
        self.hinted_elsewhere = hinted_elsewhere
        self.keep = keep if keep is not None else hints.append_many
        timeouts = [client.timeout for client in clients.values()]
        self.deadline = deadline if deadline is not None else (max(timeouts) if timeouts else 30.0)
        self.node_id = node_id
        self.mode = mode
        self.sharding = sharding
        self.clients = clients
        self.local_write = local_write
        self.hints = hints
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rusts-replicate")
        self._hinted_lock = threading.Lock()

    def _send(self, node_id: str, shard: int, body: bytes, multiplier: int, parsed: Any = None) -> Outcome:
        if node_id == self.node_id:
            if parsed is None:
                return self.local_write(shard, body, multiplier)
            return self.local_write(shard, body, multiplier, parsed)
        client = self.clients.get(node_id)
        if client is None:
            return Outcome(node_id, False, False, None, "no client for this node")
        if multiplier == DELETE_KIND:
            outcome = client.post(delete_path(shard), body, "application/msgpack")
        else:
            outcome = client.write(shard, body, multiplier)
        if self.health is not None:
            self.health.record(node_id, outcome.status is not None, outcome.error)
        return outcome

    def _settle(
        self, outcome: Outcome, shard: int, body: bytes, multiplier: int, hinted: list[tuple[str, int]] | None, accepted: int
    ) -> None:
        """Keep a hint for a holder that missed the write for a reason that may pass: into `hinted`
        (stored by _store_hints, one fsync per node) during a write, at once when None (late Async sends)."""
        if outcome.stored or not outcome.retriable or outcome.node_id == self.node_id:
            return
        if hinted is None:
            self._keep(outcome.node_id, [(shard, body, multiplier)], accepted)
            return
        with self._hinted_lock:
            hinted.append((outcome.node_id, shard))

    def _store_hints(self, hinted: list[tuple[str, int]], bodies: dict[int, bytes], multiplier: int, accepted: int) -> None:
        by_node: dict[str, list[tuple[int, bytes, int]]] = {}
        for node_id, shard in hinted:
            by_node.setdefault(node_id, []).append((shard, bodies[shard], multiplier))
        for node_id, hints in by_node.items():
            self._keep(node_id, hints, accepted)

    def _keep(self, node_id: str, hints: list[tuple[int, bytes, int]], accepted: int) -> None:
        try:
            self.keep(node_id, hints, accepted)
        except HintStoreFullError as error:
            # Once per overflow (the resync mark counts the rest): a node that stays down would flood the log.
            if error.first:
                _log.error("%s (shards %s); /cluster/status shows resync_needed", error, sorted({s for s, _, _ in hints}))

    def _hint_instead(self, node_id: str) -> str:
        """Why a write to `node_id` is hinted without a send ("" when it is sent): the node is seen
        down, or it still has hints to receive. Writes to a node catching up queue behind its hints,
        so a hint delivered late never overwrites a newer value written directly in the meantime
        (a hint in flight stays pending until it is acknowledged)."""
        if node_id == self.node_id:
            return ""
        if self.health is not None and not self.health.healthy(node_id):
            return "node is down (health checks); hinted"
        if self.hints.last_sequence(node_id) > self.hints.acknowledged(node_id):
            return "node is catching up on hinted writes; hinted behind them"
        if self.hinted_elsewhere is not None and self.hinted_elsewhere(node_id):
            return "node is catching up on another coordinator's hints; hinted behind them"
        return ""

    def replicate(self, split: SplitBatch, multiplier: int, parsed: dict[int, Any] | None = None) -> WriteDecision:
        """Send every shard's part to all its holders in parallel and judge by the mode. Sync and Quorum
        wait for every holder, up to the deadline; Async returns once each shard has one holder that
        stored it (or all failed), the rest finish in the background and hint on failure. A holder that
        has not answered by the deadline counts as not stored and gets a hint (writes are idempotent,
        so a late success only makes the hint redundant). `parsed`: per shard, what this node's own
        write of that part may store instead of parsing it (ClusterNode.local_write)."""
        return self._replicate({shard: bytes(batch.body) for shard, batch in split.shards.items()}, multiplier, parsed)

    def replicate_delete(self, body: bytes) -> WriteDecision:
        """Send a delete (msgpack ShardDelete) to every holder of every shard, judged like a write."""
        return self._replicate({shard: body for shard in range(self.sharding.shard_count)}, DELETE_KIND)

    def _replicate(self, bodies: dict[int, bytes], multiplier: int, parsed: dict[int, Any] | None = None) -> WriteDecision:
        accepted = time.time_ns()  # the hints' accepted time: orders them against other coordinators' hints
        hinted: list[tuple[str, int]] = []
        futures: dict[Future[Outcome], tuple[int, bytes, str]] = {}
        holders: dict[int, int] = {}
        outcomes: dict[int, list[Outcome]] = {}
        for shard, body in bodies.items():
            owners = self.sharding.owners(shard)
            holders[shard] = len(owners)
            outcomes[shard] = []
            for node_id in owners:
                why = self._hint_instead(node_id)
                if why:
                    skipped = Outcome(node_id, False, True, None, why)
                    outcomes[shard].append(skipped)
                    self._settle(skipped, shard, body, multiplier, hinted, accepted)
                    continue
                mine = parsed.get(shard) if parsed is not None and node_id == self.node_id else None
                futures[self._pool.submit(self._send, node_id, shard, body, multiplier, mine)] = (shard, body, node_id)
        waiting = set(futures)
        ends = time.monotonic() + self.deadline
        while waiting:
            left = ends - time.monotonic()
            if left <= 0:
                break
            done, waiting = wait(waiting, timeout=left, return_when=FIRST_COMPLETED)
            for future in done:
                shard, body, _ = futures[future]
                outcome = future.result()
                outcomes[shard].append(outcome)
                self._settle(outcome, shard, body, multiplier, hinted, accepted)
            if self.mode == "Async" and all(any(o.stored for o in outcomes[s]) for s in holders):
                break
        for future in waiting:
            shard, body, node_id = futures[future]
            if self.mode == "Async" and all(any(o.stored for o in outcomes[s]) for s in holders):
                future.add_done_callback(self._later(shard, body, multiplier, accepted))
                continue
            late = Outcome(node_id, False, True, None, f"no answer within {self.deadline:g}s")
            outcomes[shard].append(late)
            self._settle(late, shard, body, multiplier, hinted, accepted)
        self._store_hints(hinted, bodies, multiplier, accepted)
        return WriteDecision(decide(self.mode, outcomes, holders), hinted, outcomes)

    def _later(self, shard: int, body: bytes, multiplier: int, accepted: int) -> Callable[[Future[Outcome]], None]:
        """What to do with an Async holder's outcome that arrives after the write was answered."""

        def settle(future: Future[Outcome]) -> None:
            self._settle(future.result(), shard, body, multiplier, None, accepted)

        return settle

    def close(self) -> None:
        self._pool.shutdown(wait=True)
