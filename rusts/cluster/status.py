"""The body of GET /cluster/status: the cluster's shape, each node's health, shards and pending hints.

Example (JSON):

    {"cluster_name": "rusts-prod", "node_id": "node1", "replication_mode": "Quorum",
     "replication_factor": 2, "shard_count": 16, "sharding_strategy": "BySeries",
     "membership_version": 1,
     "nodes": [{"id": "node2", "address": "10.0.1.2:8086", "health": "down", "failures": 3,
                "last_seen": 1764000000.5, "last_error": "timed out after 5s",
                "shards": [8, 9], "replica_shards": [0, 1], "pending_hints": 12,
                "pending_hint_bytes": 40960, "oldest_hint_accepted": 1763999000.25,
                "resync_needed": [8]}, ...],
     "shards_without_a_healthy_holder": [8],
     "convergence": {"dirty_windows": 0, "ranges_checked": 12, "ranges_repaired": 1,
                     "points_repaired": 3, "last_error": ""}}

This node reports itself "up". Pending hints are those this node holds for
each peer (a write or delete that peer missed, coordinated here or handed here
by the coordinator because this node is the peer's hint keeper), and when the
oldest of them was accepted (Unix seconds);
`resync_needed` the shards of that peer that missed something this node could
not hint (its hint store was at its bound, rusts.cluster.handoff): hints alone
will not make those copies equal again. `convergence` is what this node's
anti-entropy did since it started (rusts.cluster.convergence).
"""

import msgspec

from rusts.cluster.config import ClusterConfig
from rusts.cluster.convergence import ConvergenceStats
from rusts.cluster.handoff import HintStore
from rusts.cluster.membership import HealthTracker, Membership


class NodeStatus(msgspec.Struct):
    id: str
    address: str
    health: str
    failures: int
    last_seen: float | None
    last_error: str
    shards: list[int]
    replica_shards: list[int]
    pending_hints: int
    pending_hint_bytes: int
    oldest_hint_accepted: float | None = None
    resync_needed: list[int] = []


class ClusterStatus(msgspec.Struct):
    cluster_name: str
    node_id: str
    replication_mode: str
    replication_factor: int
    shard_count: int
    sharding_strategy: str
    membership_version: int
    nodes: list[NodeStatus]
    shards_without_a_healthy_holder: list[int]
    convergence: ConvergenceStats = msgspec.field(default_factory=ConvergenceStats)


def cluster_status(config: ClusterConfig, membership: Membership, health: HealthTracker, hints: HintStore) -> ClusterStatus:
    """Status as this node sees it now."""
    seen = health.snapshot()
    pending = hints.pending_counts()
    stale = hints.resync_needed()
    heads = hints.heads()
    nodes: list[NodeStatus] = []
    for node in membership.nodes():
        state = seen.get(node.id)
        is_self = node.id == membership.node_id
        hint_count, hint_bytes = pending.get(node.id, (0, 0))
        nodes.append(
            NodeStatus(
                id=node.id,
                address=node.address,
                health="up" if is_self else (state.state if state is not None else "unknown"),
                failures=0 if is_self or state is None else state.failures,
                last_seen=None if is_self or state is None else state.last_seen,
                last_error="" if is_self or state is None else state.last_error,
                shards=sorted(node.shards),
                replica_shards=sorted(node.replica_shards),
                pending_hints=hint_count,
                pending_hint_bytes=hint_bytes,
                oldest_hint_accepted=heads[node.id] / 1e9 if heads.get(node.id) else None,
                resync_needed=sorted(stale[node.id].shards) if node.id in stale else [],
            )
        )
    down = {n.id for n in nodes if n.health == "down"}
    sharding = membership.sharding()
    orphaned = [shard for shard in range(sharding.shard_count) if all(owner in down for owner in sharding.owners(shard))]
    return ClusterStatus(
        cluster_name=config.cluster_name,
        node_id=membership.node_id,
        replication_mode=config.replication_mode,
        replication_factor=config.replication_factor,
        shard_count=config.shard_count,
        sharding_strategy=config.sharding_strategy,
        membership_version=membership.version(),
        nodes=nodes,
        shards_without_a_healthy_holder=orphaned,
    )


def encode_status(status: ClusterStatus) -> bytes:
    return msgspec.json.encode(status)
