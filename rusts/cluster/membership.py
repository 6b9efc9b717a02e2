"""Who is in the cluster and how healthy each node looks: the seam for dynamic membership.

Everything else in rusts.cluster asks a Membership for the nodes and the
sharding instead of reading cluster.toml itself, so a membership backed by
etcd, Consul or the Kubernetes API (watching for nodes and shard moves) can
replace StaticMembership without touching the router or the replicator. Such a
backend must hand out a new Sharding object on every change (Shardings are
never mutated, so a request that took one keeps a consistent view) and bump
`version`.

HealthTracker keeps what probes and real requests saw of each peer: a node is
"up" after an answer, "down" after `down_after` failures in a row, "unknown"
before anything was seen. The router tries healthy holders first; the
replicator still sends to every holder (a missed write becomes a hint).
"""

import threading
import time
from typing import Literal, Protocol

from rusts.cluster.client import Peer
from rusts.cluster.config import ClusterConfig, NodeConfig
from rusts.cluster.sharding import Sharding

Health = Literal["up", "down", "unknown"]


class Membership(Protocol):
    """The current members and sharding (static or from an external coordinator)."""

    @property
    def node_id(self) -> str: ...

    def nodes(self) -> list[NodeConfig]: ...

    def sharding(self) -> Sharding: ...

    def version(self) -> int: ...


class StaticMembership:
    """The members of cluster.toml, fixed for the life of the process."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self._sharding = Sharding(config)

    @property
    def node_id(self) -> str:
        return self.config.node_id

    def nodes(self) -> list[NodeConfig]:
        return list(self.config.nodes)

    def sharding(self) -> Sharding:
        return self._sharding

    def version(self) -> int:
        return 1


class NodeHealth:
    __slots__ = ("state", "failures", "last_seen", "last_error")

    def __init__(self) -> None:
        self.state: Health = "unknown"
        self.failures = 0
        self.last_seen: float | None = None  # time.time() of the last answer
        self.last_error = ""


class HealthTracker:
    """Per-node health from probes and request outcomes. Thread-safe."""

    def __init__(self, node_ids: list[str], down_after: int = 2) -> None:
        self.down_after = down_after
        self._lock = threading.Lock()
        self._nodes = {node_id: NodeHealth() for node_id in node_ids}

    def record(self, node_id: str, answered: bool, error: str = "") -> None:
        """An answer (any HTTP status) or a failure to get one (refused, timed out)."""
        with self._lock:
            health = self._nodes.setdefault(node_id, NodeHealth())
            if answered:
                health.state, health.failures, health.last_seen, health.last_error = "up", 0, time.time(), ""
                return
            health.failures += 1
            health.last_error = error
            if health.failures >= self.down_after:
                health.state = "down"

    def healthy(self, node_id: str) -> bool:
        """False only for a node seen down (unknown nodes are worth trying)."""
        with self._lock:
            health = self._nodes.get(node_id)
            return health is None or health.state != "down"

    def snapshot(self) -> dict[str, NodeHealth]:
        with self._lock:
            copies: dict[str, NodeHealth] = {}
            for node_id, health in self._nodes.items():
                copy = NodeHealth()
                copy.state, copy.failures, copy.last_seen, copy.last_error = health.state, health.failures, health.last_seen, health.last_error
                copies[node_id] = copy
            return copies

    def probe(self, clients: dict[str, Peer], path: str = "/health") -> None:
        """GET `path` on every peer once and record what came back (the server runs this periodically)."""
        for node_id, client in clients.items():
            outcome = client.get(path)
            self.record(node_id, outcome.status is not None, outcome.error)
