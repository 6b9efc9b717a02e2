"""The static cluster configuration: `cluster.toml` decoded into msgspec Structs and checked.

The keys are exactly the seed's:

    node_id = "node1"                  # which [[nodes]] entry this process is
    cluster_name = "rusts-prod"
    replication_mode = "Quorum"        # Sync | Quorum | Async
    replication_factor = 2             # copies of every shard (owner + replicas)
    shard_count = 16
    sharding_strategy = "BySeries"     # BySeries | ByMeasurement | ByTime
    shard_window_secs = 86400          # ByTime only: the time window of one shard turn

    [[nodes]]
    id = "node1"
    address = "10.0.1.1:8086"          # host:port of the node's HTTP API
    shards = [0, 1, 2, 3]              # shards this node owns
    replica_shards = [4, 5, 6, 7]      # shards it keeps a replica of (default: none)

    max_hint_bytes_per_peer = 1073741824   # optional, this node's own: the hinted handoff bound
    anti_entropy_quiet_secs = 10           # optional, this node's own: rusts.cluster.convergence

`shard_window_secs` is the one key the seed leaves unnamed (it says ByTime maps
a time window to a shard): required with ByTime, refused with the others.
`max_hint_bytes_per_peer` (default 1 GiB) bounds the hints this node keeps for
one peer (rusts.cluster.handoff); like node_id it may differ between nodes.
`anti_entropy_quiet_secs` (default 10) is how long a range that took an
overwrite must see no other before its copies are compared
(rusts.cluster.convergence); it too may differ between nodes.

Checks beyond the types: node ids and addresses unique, node_id names a node,
every shard 0..shard_count-1 has exactly one owner and exactly
replication_factor - 1 replicas, each on a node other than its owner and other
than each other, and no shard number outside the range. Every error is one
ConfigError line: `cluster.toml:LINE: key: what is wrong`, the line found in
the TOML text (the line of the key, or of the [[nodes]] entry when the key is
absent).

The same keys may instead be a `cluster:` mapping in rusts.yml
(`cluster_config_from_mapping`, called by rusts.config.file), checked the
same way; its errors name `cluster.<key>` (YAML keeps no line numbers here).

This module stays interpreted (msgspec Structs lose their class options when compiled).
"""

import re
import tomllib
from typing import Annotated, Any, Literal

import msgspec

from rusts.core.errors import ConfigError
from rusts.core.textfile import describe_value, read_config_text

ReplicationMode = Literal["Sync", "Quorum", "Async"]
ShardingStrategy = Literal["BySeries", "ByMeasurement", "ByTime"]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
Positive = Annotated[int, msgspec.Meta(ge=1)]
ShardNumber = Annotated[int, msgspec.Meta(ge=0)]
MAX_SHARDS = 65536
ShardCount = Annotated[int, msgspec.Meta(ge=1, le=MAX_SHARDS)]
DEFAULT_MAX_HINT_BYTES = 1 << 30
DEFAULT_QUIET_SECS = 10
_ADDRESS = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[0-9]{1,5})$")


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Unknown keys are errors; values are immutable."""


class NodeConfig(_Section, frozen=True, kw_only=True):
    """One [[nodes]] entry."""

    id: NonEmpty
    address: NonEmpty
    shards: list[ShardNumber] = msgspec.field(default_factory=list)
    replica_shards: list[ShardNumber] = msgspec.field(default_factory=list)

    @property
    def host(self) -> str:
        return self.address.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])


class ClusterConfig(_Section, frozen=True, kw_only=True):
    """The whole of cluster.toml."""

    node_id: NonEmpty
    cluster_name: NonEmpty
    replication_mode: ReplicationMode
    replication_factor: Positive
    shard_count: ShardCount
    sharding_strategy: ShardingStrategy
    shard_window_secs: Positive | None = None
    max_hint_bytes_per_peer: Positive = DEFAULT_MAX_HINT_BYTES
    anti_entropy_quiet_secs: Positive = DEFAULT_QUIET_SECS
    nodes: list[NodeConfig]

    def node(self, node_id: str) -> NodeConfig:
        """The node with this id; KeyError when there is none."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    @property
    def this_node(self) -> NodeConfig:
        return self.node(self.node_id)


def load_cluster_config(path: str) -> ClusterConfig:
    """Read and check a cluster.toml; ConfigError (one line) when it cannot be used."""
    text = read_config_text(path, "TOML")
    return parse_cluster_config(text, path)


def parse_cluster_config(text: str, path: str) -> ClusterConfig:
    """Decode and check TOML text; `path` only names the file in errors."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already ends with "(at line L, column C)".
        raise ConfigError(path, "", f"invalid TOML: {exc}") from None
    locate = _Locator(text, path)
    try:
        config = msgspec.convert(raw, type=ClusterConfig)
    except msgspec.ValidationError as exc:
        raise locate.error(*_explain(str(exc), raw)) from None
    for check in _CHECKS:
        problem = check(config)
        if problem is not None:
            raise locate.error(*problem)
    return config


def cluster_config_from_mapping(raw: Any, path: str, section: str = "cluster") -> ClusterConfig:
    """The cluster.toml keys given as a mapping (the `cluster:` section of rusts.yml), decoded and checked
    as cluster.toml is; ConfigError naming `<section>.<key>` in `path`."""
    if not isinstance(raw, dict):
        raise ConfigError(path, section, f"expected a mapping of the cluster.toml keys (node_id, nodes, ...), got {_render(raw)}")
    try:
        config = msgspec.convert(raw, type=ClusterConfig)
    except msgspec.ValidationError as exc:
        key, message = _explain(str(exc), raw)
        raise ConfigError(path, f"{section}.{key}" if key else section, message) from None
    for check in _CHECKS:
        problem = check(config)
        if problem is not None:
            key, message = problem
            raise ConfigError(path, f"{section}.{key}" if key else section, message)
    return config


# --- Finding the line of a key in the TOML text ---

_TABLE_HEADER = re.compile(r"^\s*\[")
_NODES_HEADER = re.compile(r"^\s*\[\[\s*nodes\s*\]\]")


class _Locator:
    """Line numbers of top-level keys and of keys inside each [[nodes]] entry."""

    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self.top: dict[str, int] = {}
        self.nodes: list[tuple[int, dict[str, int]]] = []  # (header line, key -> line)
        section: dict[str, int] | None = self.top
        for number, line in enumerate(text.splitlines(), start=1):
            if _NODES_HEADER.match(line):
                section = {}
                self.nodes.append((number, section))
                continue
            if _TABLE_HEADER.match(line):
                section = None  # an unknown table: msgspec reports it by name
                continue
            match = re.match(r"^\s*([A-Za-z0-9_-]+|\"[^\"]*\")\s*=", line)
            if match is not None and section is not None:
                section.setdefault(match.group(1).strip('"'), number)

    def line_of(self, key: str) -> int | None:
        """`nodes[1].shards` -> the line of `shards` in the second entry (or of the entry itself)."""
        steps = re.findall(r"[^.\[\]]+", key)
        if not steps:
            return None
        if steps[0] != "nodes":
            return self.top.get(steps[0])
        if len(steps) < 2 or not steps[1].isdigit():
            return self.top.get("nodes", self.nodes[0][0] if self.nodes else None)
        index = int(steps[1])
        if index >= len(self.nodes):
            return self.top.get("nodes")
        header, keys = self.nodes[index]
        return keys.get(steps[2], header) if len(steps) > 2 else header

    def error(self, key: str, message: str) -> ConfigError:
        line = self.line_of(key)
        return ConfigError(self.path if line is None else f"{self.path}:{line}", key, message)


# --- msgspec's validation messages as one line for a person ---

_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<name>[^`]*)`")
_MISSING = re.compile(r"Object missing required field `(?P<name>[^`]*)`")
_EXPECTATIONS = {
    "replication_mode": "one of Sync, Quorum, Async",
    "sharding_strategy": "one of BySeries, ByMeasurement, ByTime",
    "replication_factor": "an integer >= 1",
    "shard_count": f"an integer from 1 to {MAX_SHARDS}",
    "shard_window_secs": "an integer >= 1 (seconds)",
    "anti_entropy_quiet_secs": "an integer >= 1 (seconds)",
    "shards": "a list of shard numbers (integers >= 0)",
    "replica_shards": "a list of shard numbers (integers >= 0)",
    "nodes": "[[nodes]] entries",
}
_TOP_KEYS = [field.name for field in msgspec.structs.fields(ClusterConfig)]
_NODE_KEYS = [field.name for field in msgspec.structs.fields(NodeConfig)]


def _explain(error: str, raw: dict[str, Any]) -> tuple[str, str]:
    """(key, message) for a msgspec ValidationError message about `raw`."""
    match = _AT.match(error)
    assert match is not None, "BUG: the pattern matches every string"
    message, where = match["message"], match["path"] or ""
    key = where.lstrip(".")
    in_node = key.startswith("nodes[")
    unknown = _UNKNOWN.match(message)
    if unknown is not None:
        known = _NODE_KEYS if in_node else _TOP_KEYS
        full = f"{key}.{unknown['name']}" if key else unknown["name"]
        return full, f"unknown key; expected one of: {', '.join(known)}"
    missing = _MISSING.match(message)
    if missing is not None:
        full = f"{key}.{missing['name']}" if key else missing["name"]
        return full, "required key is missing"
    last = re.findall(r"[A-Za-z_]+", key)
    expected = _EXPECTATIONS.get(last[-1]) if last else None
    if key.endswith("]") and last and last[-1] in ("shards", "replica_shards"):
        expected = "a shard number (an integer >= 0)"
    if expected is None:
        return key, message[:1].lower() + message[1:]
    return key, f"expected {expected}, got {_render(_value_at(raw, key))}"


def _value_at(raw: Any, key: str) -> Any:
    for step in re.findall(r"[^.\[\]]+", key):
        try:
            raw = raw[int(step)] if step.isdigit() else raw[step]
        except (KeyError, IndexError, TypeError):
            return None
    return raw


def _render(value: Any) -> str:
    return describe_value(value, "a table")


# --- Rules that involve more than one key ---

Problem = tuple[str, str] | None


def _node_named(config: ClusterConfig) -> Problem:
    if any(node.id == config.node_id for node in config.nodes):
        return None
    known = ", ".join(node.id for node in config.nodes) or "none"
    return "node_id", f"{config.node_id!r} is not the id of any [[nodes]] entry (ids: {known})"


def _unique_nodes(config: ClusterConfig) -> Problem:
    ids: dict[str, int] = {}
    addresses: dict[str, int] = {}
    for i, node in enumerate(config.nodes):
        if node.id in ids:
            return f"nodes[{i}].id", f"{node.id!r} is also the id of nodes[{ids[node.id]}]"
        ids[node.id] = i
        if _ADDRESS.match(node.address) is None or not 1 <= node.port <= 65535:
            return f"nodes[{i}].address", f"expected host:port with a port from 1 to 65535, got {node.address!r}"
        if node.address in addresses:
            return f"nodes[{i}].address", f"{node.address!r} is also the address of nodes[{addresses[node.address]}]"
        addresses[node.address] = i
    return None


def _enough_nodes(config: ClusterConfig) -> Problem:
    if not config.nodes:
        return "nodes", "at least one [[nodes]] entry is required"
    if config.replication_factor > len(config.nodes):
        return "replication_factor", (
            f"{config.replication_factor} copies need as many nodes, the cluster has {len(config.nodes)}"
        )
    return None


def _shards_in_range(config: ClusterConfig) -> Problem:
    for i, node in enumerate(config.nodes):
        for key, shards in (("shards", node.shards), ("replica_shards", node.replica_shards)):
            for shard in shards:
                if shard >= config.shard_count:
                    return f"nodes[{i}].{key}", f"shard {shard} is out of range: shard_count is {config.shard_count} (shards 0 to {config.shard_count - 1})"
            if len(set(shards)) != len(shards):
                twice = next(s for s in shards if shards.count(s) > 1)
                return f"nodes[{i}].{key}", f"shard {twice} is listed twice"
        both = set(node.shards) & set(node.replica_shards)
        if both:
            return f"nodes[{i}].replica_shards", f"shard {min(both)} is also in this node's shards: a replica must live on another node than the owner"
    return None


def _owners_and_replicas(config: ClusterConfig) -> Problem:
    owners: dict[int, int] = {}
    replicas: dict[int, list[int]] = {}
    for i, node in enumerate(config.nodes):
        for shard in node.shards:
            if shard in owners:
                return f"nodes[{i}].shards", f"shard {shard} is also owned by {config.nodes[owners[shard]].id!r}; a shard has exactly one owner"
            owners[shard] = i
        for shard in node.replica_shards:
            replicas.setdefault(shard, []).append(i)
    wanted = config.replication_factor - 1
    for shard in range(config.shard_count):
        if shard not in owners:
            return "nodes", f"shard {shard} has no owner: list it in the shards of one node"
        held = replicas.get(shard, [])
        if len(held) != wanted:
            names = ", ".join(repr(config.nodes[i].id) for i in held) or "none"
            where = f"nodes[{held[-1]}].replica_shards" if len(held) > wanted else "replication_factor"
            return where, (
                f"shard {shard} has {len(held)} replica(s) ({names}); replication_factor {config.replication_factor} "
                f"needs exactly {wanted} in the replica_shards of nodes other than its owner"
            )
    return None


def _time_window(config: ClusterConfig) -> Problem:
    if config.sharding_strategy == "ByTime" and config.shard_window_secs is None:
        return "shard_window_secs", "required when sharding_strategy is ByTime (seconds of one shard's time window)"
    if config.sharding_strategy != "ByTime" and config.shard_window_secs is not None:
        return "shard_window_secs", f"only used when sharding_strategy is ByTime, not {config.sharding_strategy}"
    return None


_CHECKS = (_enough_nodes, _node_named, _unique_nodes, _time_window, _shards_in_range, _owners_and_replicas)
