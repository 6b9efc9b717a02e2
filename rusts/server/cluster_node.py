"""Cluster mode's assembly: cluster.toml + rusts.yml -> a ClusterNode, and the service that closes it.

`rusts --cluster cluster.toml [--cluster-timeout SECS]`, or a `cluster:`
section in rusts.yml with the same keys (rusts.config.file): the node's engines
live under storage.data_dir (shards/<n>/, schema/, hints/; see
rusts.cluster.node), each shard engine with the storage settings of rusts.yml
(its WAL under storage.wal_dir/shards/<n>/ when wal_dir is set apart, the
memtable budget shared between the shards). With authentication on, the node
signs its own token for the peers (they share auth.jwt_secret).
"""

import asyncio
import copy
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NamedTuple

from rusts.api.auth import issue_token
from rusts.api.line_protocol import engine_parser
from rusts.api.router import EngineHolder, Service
from rusts.cluster.config import ClusterConfig, load_cluster_config
from rusts.cluster.node import ClusterNode
from rusts.core.errors import ConfigError
from rusts.config.file import Config
from rusts.storage.engine import EngineOptions, StorageEngine

DEFAULT_TIMEOUT_SECS = 10.0
TOKEN_LIFETIME_SECS = 10 * 365 * 86_400  # the process's own token; it is re-signed at every start
MIN_MEMTABLE_BYTES = 4 * 1024 * 1024


class ClusterOptions(NamedTuple):
    """What the command line (and rusts.yml) say about the cluster: `path` names where it was described;
    `config` is the description already read (rusts.yml's cluster: section), None to read cluster.toml at `path`."""

    path: str
    timeout: float = DEFAULT_TIMEOUT_SECS
    config: ClusterConfig | None = None


def cluster_node(config: Config, options: ClusterOptions, base: EngineOptions) -> ClusterNode:
    """The node of cluster.toml; ConfigError when the file is unusable."""
    cluster = options.config if options.config is not None else load_cluster_config(options.path)
    log = logging.getLogger("rusts.cluster")
    me = cluster.this_node
    if me.port != config.server.port:
        log.warning("%s: this node's address %s has another port than server.port %d (fine behind a port mapping)",
                    options.path, me.address, config.server.port)
    if options.timeout <= 0:
        raise ConfigError(options.path, "--cluster-timeout", f"must be more than 0 seconds, got {options.timeout:g}")
    held = cluster.node(cluster.node_id)
    shares = max(1, len(held.shards) + len(held.replica_shards))
    headers: dict[str, str] = {}
    if config.auth.enabled and config.auth.jwt_secret:
        token = issue_token(config.auth.jwt_secret, f"rusts-cluster-{cluster.node_id}", TOKEN_LIFETIME_SECS)
        headers["Authorization"] = f"Bearer {token}"
    separate_wal = base.wal_dir != os.path.join(base.data_dir, "wal")

    def open_engine(part: str, kind: type[StorageEngine]) -> StorageEngine:
        data_dir = os.path.join(base.data_dir, part)
        wal_dir = os.path.join(base.wal_dir, part) if separate_wal else None
        cold_dir = os.path.join(base.cold_dir, part) if base.cold_dir else None
        memtable = base.memtable_max_bytes if part == "schema" else max(MIN_MEMTABLE_BYTES, base.memtable_max_bytes // shares)
        options = copy.copy(base)  # everything as rusts.yml says but where this part lives
        options.data_dir = data_dir
        options.wal_dir = wal_dir if wal_dir is not None else os.path.join(data_dir, "wal")
        options.memtable_max_bytes = memtable
        options.cold_dir = cold_dir
        return kind.open(options, engine_parser)

    log.info(
        "cluster %s: node %s, %s replication, factor %d, %d shards %s; this node holds %s",
        cluster.cluster_name, cluster.node_id, cluster.replication_mode, cluster.replication_factor,
        cluster.shard_count, cluster.sharding_strategy, sorted([*held.shards, *held.replica_shards]),
    )
    return ClusterNode(cluster, base.data_dir, open_engine, options.timeout, headers)


def cluster_service(node: ClusterNode) -> Service:
    """Closes the node (its loop, connections and shard engines) at shutdown, before the front engine closes."""

    @asynccontextmanager
    async def service(holder: EngineHolder) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await asyncio.to_thread(holder.ready.wait)
            if holder.engine is not None:
                await asyncio.to_thread(node.close)

    return service
