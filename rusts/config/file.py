"""The server configuration: `rusts.yml` decoded into msgspec Structs.

Every key has a default, so a missing file, an empty file or a missing key
means "use the default". Anything else that is wrong (an unknown key, a
wrong type, a value out of range, invalid YAML, a duplicated key) raises
ConfigError with one line naming the file, the key and what was expected.

Adding a key: one field in its section Struct below, plus its commented line
in DEFAULT_CONFIG_TEXT (tests/test_config.py fails until both are there).

This module stays interpreted: compiled msgspec Structs lose their class
options (see rusts/_compiled.py).
"""

import copy
import datetime
import difflib
import os
import re
import socket
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
import msgspec.inspect as mi
import yaml

from rusts.cluster.config import ClusterConfig, cluster_config_from_mapping
from rusts.core.errors import ConfigError, RustsError
from rusts.core.textfile import describe_value, read_config_text

DEFAULT_CONFIG_PATH = "rusts.yml"

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Positive = Annotated[int, msgspec.Meta(ge=1)]
# A write's body is one WAL record (at most 1 GiB with its header): a larger limit could never be met.
MAX_BODY_LIMIT = 1_000_000_000
BodySize = Annotated[int, msgspec.Meta(ge=1, le=MAX_BODY_LIMIT)]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
ZstdLevel = Annotated[int, msgspec.Meta(ge=1, le=22)]
WalDurability = Literal["every_write", "periodic", "os_default", "none"]
Codec = Literal["lz4", "zstd", "none"]
LogLevel = Literal["trace", "debug", "info", "warn", "error"]
PgAuthMethod = Literal["trust", "password", "md5", "scram-sha-256"]
DURATION_PATTERN = "^[1-9][0-9]*(s|m|h|d|w)$"
Duration = Annotated[str, msgspec.Meta(pattern=DURATION_PATTERN)]


class Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Base of every section: unknown keys are errors, values are immutable.

    Subclasses repeat frozen=True only because mypy does not know that
    msgspec inherits it.
    """


class ServerConfig(Section, frozen=True):
    """The HTTP API listener."""

    host: NonEmpty = "0.0.0.0"
    port: Port = 8086
    max_body_size: BodySize = 25 * 1024 * 1024
    request_timeout: Positive = 30
    rate_limit_per_sec: NonNegative = 0
    rate_limit_burst: Positive | None = None

    @property
    def effective_rate_limit_burst(self) -> int:
        """The token bucket size: rate_limit_burst, or twice rate_limit_per_sec when it is null."""
        return self.rate_limit_burst if self.rate_limit_burst is not None else max(1, 2 * self.rate_limit_per_sec)


class MemtableConfig(Section, frozen=True):
    """Flush triggers: the memtable is flushed when any one is reached."""

    max_size_bytes: Positive = 64 * 1024 * 1024
    max_points: Positive = 1_000_000
    max_age_secs: Positive = 60


class CompressionConfig(Section, frozen=True):
    """Block codecs for recent (hot) and old (cold) partitions."""

    hot: Codec = "lz4"
    cold: Codec = "zstd"
    zstd_level: ZstdLevel = 3


class RetentionConfig(Section, frozen=True):
    """How long points are kept, and when partitions move to the warm and cold tiers
    (durations such as 30d; rusts.retention.policy says what a pass does)."""

    default: Duration | None = None
    # Values are checked by _measurement_periods: msgspec's message would not name the measurement.
    measurements: dict[NonEmpty, str | None] = msgspec.field(default_factory=dict)
    warm_after: Duration | None = "2d"
    cold_after: Duration | None = None
    cold_zstd_level: ZstdLevel = 9
    cold_dir: NonEmpty | None = None
    check_interval_secs: Positive = 300


class AggregatesConfig(Section, frozen=True):
    """Continuous aggregates: how often they are refreshed, and those rusts.yml defines."""

    refresh_interval_ms: Positive = 1000
    definitions: dict[NonEmpty, NonEmpty] = msgspec.field(default_factory=dict)


class DownsamplingConfig(Section, frozen=True):
    """One measurement's downsampling policy (rusts.aggregation.policy): raw kept for `raw`, tiers
    such as {"1m avg": 7d, "1h avg": 365d} (null = forever), per-field functions such as {tips: sum}."""

    raw: Duration | None = None
    # Keys and values are checked by _downsampling: msgspec's message would not name the tier.
    tiers: dict[NonEmpty, str | None] = msgspec.field(default_factory=dict)
    fields: dict[NonEmpty, NonEmpty] = msgspec.field(default_factory=dict)


class StorageConfig(Section, frozen=True):
    """Where data lives and how durably it is written."""

    data_dir: NonEmpty = "./data"
    wal_dir: NonEmpty | None = None
    wal_durability: WalDurability = "periodic"
    wal_sync_interval_ms: Positive = 100
    wal_retention_secs: NonNegative | None = 3600
    memtable: MemtableConfig = msgspec.field(default_factory=MemtableConfig)
    partition_duration_secs: Positive = 86400
    compression: CompressionConfig = msgspec.field(default_factory=CompressionConfig)
    retention: RetentionConfig = msgspec.field(default_factory=RetentionConfig)
    aggregates: AggregatesConfig = msgspec.field(default_factory=AggregatesConfig)
    downsampling: dict[NonEmpty, DownsamplingConfig] = msgspec.field(default_factory=dict)

    @property
    def effective_wal_dir(self) -> str:
        """The WAL directory: wal_dir, or <data_dir>/wal when wal_dir is null."""
        return self.wal_dir if self.wal_dir is not None else os.path.join(self.data_dir, "wal")


class AuthConfig(Section, frozen=True):
    """JWT authentication of API requests."""

    enabled: bool = False
    jwt_secret: NonEmpty | None = None
    token_expiration: Positive = 86400


class LoggingConfig(Section, frozen=True):
    """What the server logs and how each line looks."""

    level: LogLevel = "info"
    show_target: bool = False
    show_thread_ids: bool = False
    show_location: bool = False


class TlsConfig(Section, frozen=True):
    """A PEM certificate (chain) and its private key."""

    cert_file: NonEmpty
    key_file: NonEmpty


class PostgresConfig(Section, frozen=True):
    """The PostgreSQL wire protocol listener."""

    enabled: bool = True
    host: NonEmpty = "0.0.0.0"
    port: Port = 5432
    max_connections: Positive = 100
    auth_method: PgAuthMethod = "trust"
    users: dict[NonEmpty, str] = msgspec.field(default_factory=dict)
    tls: TlsConfig | None = None


class Config(Section, frozen=True):
    """The whole of rusts.yml."""

    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    auth: AuthConfig = msgspec.field(default_factory=AuthConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    postgres: PostgresConfig = msgspec.field(default_factory=PostgresConfig)
    # The keys of cluster.toml (rusts.cluster.config), decoded and checked there: its own error messages.
    cluster: ClusterConfig | None = None

    @property
    def effective_wal_dir(self) -> str:
        """The WAL directory: storage.wal_dir, or <data_dir>/wal when it is null."""
        return self.storage.effective_wal_dir


DEFAULT_CONFIG_TEXT = """\
# RusTs server configuration.
# Written by `rusts --generate-config`; every value below is the default.
# A missing key takes its default; an unknown key stops start-up.
# Relative paths are relative to the directory the server starts in.

server:
  # Address the HTTP API listens on ("0.0.0.0" = every interface).
  host: "0.0.0.0"
  # TCP port of the HTTP API.
  port: 8086
  # Largest request body accepted, in bytes (26214400 = 25 MiB; at most 1000000000).
  max_body_size: 26214400
  # Seconds a write or query may run before the client gets 503 (a write
  # that timed out may still complete).
  request_timeout: 30
  # Requests per second allowed to one client address; more get 429. 0 = no limit.
  # /health and /ready are exempt, and so is /metrics.
  rate_limit_per_sec: 0
  # Requests one client address may send at once above that rate; null = twice rate_limit_per_sec.
  rate_limit_burst: null

storage:
  # Directory of partitions, segments and the checkpoint.
  data_dir: "./data"
  # Directory of the write-ahead log; null = <data_dir>/wal.
  wal_dir: null
  # When the WAL is synced to disk: every_write, periodic, os_default or none.
  wal_durability: periodic
  # Milliseconds between WAL syncs when wal_durability is periodic.
  wal_sync_interval_ms: 100
  # Seconds a flushed WAL file is kept before removal; null = forever (for CDC).
  wal_retention_secs: 3600
  # The memtable is flushed to a segment when any one of these is reached.
  memtable:
    # Memory held by the memtable, in bytes (67108864 = 64 MiB).
    max_size_bytes: 67108864
    # Points held by the memtable.
    max_points: 1000000
    # Seconds since the oldest unflushed write.
    max_age_secs: 60
  # Time span of one partition, in seconds (86400 = 24 h).
  partition_duration_secs: 86400
  compression:
    # Codec of recent (hot) partitions: lz4, zstd or none.
    hot: lz4
    # Codec of old partitions (the warm and cold tiers, see retention): lz4, zstd or none.
    cold: zstd
    # zstd level, from 1 (fastest) to 22 (smallest).
    zstd_level: 3
  retention:
    # How long points are kept, e.g. 30d (a whole number and s, m, h, d or w); null = forever.
    # Partitions past it are dropped whole; a measurement that shares a partition with
    # longer-kept ones is deleted from it (the partition is rewritten once).
    default: null
    # Periods per measurement, overriding default, e.g. {cpu: 30d, logs: 7d}; null = forever.
    measurements: {}
    # Age (since a partition's time window ended) at which it is recompressed with
    # storage.compression.cold at storage.compression.zstd_level (warm tier); null = never.
    warm_after: 2d
    # Age at which it is recompressed at cold_zstd_level and moved to cold_dir (cold tier); null = never.
    cold_after: null
    # zstd level of the cold tier, from 1 (fastest) to 22 (smallest).
    cold_zstd_level: 9
    # Directory for cold partitions, e.g. on a slower disk; null = they stay under data_dir.
    # Keep it set while it holds partitions: they are read from there.
    cold_dir: null
    # Seconds between retention and tiering passes (one also runs at start).
    check_interval_secs: 300
  aggregates:
    # Milliseconds between refreshes of continuous aggregates (each recomputes only the
    # time buckets written or deleted since the last one).
    refresh_interval_ms: 1000
    # Aggregates created at start (and re-created when their query here changes), e.g.
    # {cpu_1m: "SELECT time_bucket('1m', time) AS time, host, avg(usage) AS usage FROM cpu GROUP BY 1, 2"}.
    # Others can be created with CREATE CONTINUOUS AGGREGATE and are kept with the data.
    definitions: {}
  # Downsampling policies per measurement: raw points kept for `raw`, and coarser tiers (continuous
  # aggregates named <measurement>_<interval>, e.g. trips_1m) each kept for its own period (null =
  # forever); a tier is "<interval> <function>", the function (avg, sum, count, min, max, first,
  # last) applies to every field unless `fields` names another. Long-range queries are answered
  # from the coarsest tier that fits. E.g.
  # {trips: {raw: 24h, tiers: {"1m avg": 7d, "1h avg": 365d}, fields: {tips: sum, tolls: max}}}
  downsampling: {}

auth:
  # Require a JWT bearer token on API requests (not on /health and /ready).
  # Create one with `rusts token create`.
  enabled: false
  # Secret that signs tokens (HMAC); required when enabled. Keep it out of version control.
  jwt_secret: null
  # Seconds a newly issued token stays valid (86400 = 24 h).
  token_expiration: 86400

logging:
  # Least severe level logged: trace, debug, info, warn or error.
  level: info
  # Show the module that logged each line.
  show_target: false
  # Show the thread id on each line.
  show_thread_ids: false
  # Show the source file and line of each log call.
  show_location: false

postgres:
  # Serve the PostgreSQL wire protocol (psql, DataGrip, SQLAlchemy).
  enabled: true
  # Address the PostgreSQL listener binds ("0.0.0.0" = every interface).
  host: "0.0.0.0"
  # TCP port of the PostgreSQL listener.
  port: 5432
  # Most concurrent PostgreSQL connections; more are refused.
  max_connections: 100
  # How clients prove who they are: trust (anyone, as any user), password
  # (cleartext), md5 or scram-sha-256 (checked against users below).
  auth_method: trust
  # User names and their passwords, e.g. {grafana: "s3cret"}. Keep this file private.
  users: {}
  # TLS for clients that ask for it: {cert_file: server.crt, key_file: server.key}
  # (PEM). null = no TLS (an SSLRequest is answered 'N').
  tls: null

# Run as a node of a static cluster: the keys of cluster.toml (docs/cluster.md), e.g.
#   cluster:
#     node_id: node1
#     cluster_name: rusts-prod
#     replication_mode: Quorum        # Sync | Quorum | Async
#     replication_factor: 2
#     shard_count: 16
#     sharding_strategy: BySeries     # BySeries | ByMeasurement | ByTime
#     nodes:
#       - {id: node1, address: "10.0.1.1:8086", shards: [0, 1], replica_shards: [2, 3]}
#       - {id: node2, address: "10.0.1.2:8086", shards: [2, 3], replica_shards: [0, 1]}
# null = a single node (or `rusts --cluster cluster.toml`; not both).
cluster: null
"""


def default_config_text() -> str:
    """The commented default rusts.yml that `rusts --generate-config` writes."""
    return DEFAULT_CONFIG_TEXT


def load_config(path: str | None) -> tuple[Config, str | None]:
    """The configuration and the file it came from (None: built-in defaults).

    With `path` None, ./rusts.yml is read when it exists; otherwise the
    defaults apply. A given `path` must exist.
    """
    if path is None:
        if not os.path.lexists(DEFAULT_CONFIG_PATH):
            return Config(), None
        path = DEFAULT_CONFIG_PATH
    return parse_config(read_config_file(path), path), path


def read_config_file(path: str) -> str:
    """The text of a configuration file, or ConfigError saying why not."""
    return read_config_text(path, "YAML")


def parse_config(text: str, path: str) -> Config:
    """Decode and check YAML text; `path` only names the file in errors."""
    raw = _load_yaml(text, path)
    if raw is None:
        return Config()
    cluster = None
    if isinstance(raw, dict) and raw.get("cluster") is not None:
        raw = dict(raw)
        cluster = raw.pop("cluster")  # decoded by rusts.cluster.config, whose messages know its keys
    try:
        config = msgspec.convert(
            raw, type=Config, builtin_types=(datetime.datetime, datetime.date)
        )
    except msgspec.ValidationError as exc:
        key, message = _explain(str(exc), raw)
        raise ConfigError(path, key, message) from None
    _check_together(config, path)
    if cluster is not None:
        config = msgspec.structs.replace(config, cluster=cluster_config_from_mapping(cluster, path))
    return config


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping.

    YAML lets the last one win, which would silently drop a whole section.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                continue  # msgspec rejects non-string keys with a clearer message
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _load_yaml(text: str, path: str) -> Any:
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(path, "", "invalid YAML" + _yaml_where(exc)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, "", f"invalid YAML: {' '.join(str(exc).split())}") from None


def _yaml_where(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = " ".join(str(exc.problem or exc.context or "unreadable").split())
    return f"{where}: {problem}"


# --- Turning msgspec's validation messages into one line for a person ---

_AT = re.compile(r"^(?P<message>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.DOTALL)
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<name>[^`]*)`")
_KEY_IN = re.compile(r" - at `key` in `(?P<path>[^`]*)`$")
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def _explain(error: str, raw: Any) -> tuple[str, str]:
    """(key, message) for a msgspec ValidationError message about `raw`."""
    key_in = _KEY_IN.search(error)
    if key_in is not None:
        return _key_not_a_name(raw, _steps(key_in["path"]))
    match = _AT.match(error)
    assert match is not None, "BUG: the pattern matches every string"
    message, path = match["message"], match["path"] or "$"
    steps = _steps(_named_entries(path, raw))
    unknown = _UNKNOWN.match(message)
    if unknown is not None:
        return _unknown_key(steps, unknown["name"])
    field_type = _type_at(steps)
    if field_type is None:
        return _dotted(steps), message[:1].lower() + message[1:]
    return _dotted(steps), (
        f"expected {_describe(field_type)}, got {_render(_value_at(raw, steps))}"
    )


def _named_entries(path: str, raw: Any) -> str:
    """`path` with each `[...]` (msgspec's "some entry of this mapping") replaced by the key of the
    entry that fails: the one whose value alone, in place of the whole mapping, is still refused."""
    while "[...]" in path:
        prefix, rest = path.split("[...]", 1)
        mapping = _value_at(raw, _steps(prefix))
        culprit = next((key for key in mapping if _fails_alone(raw, _steps(prefix), key)), None) if isinstance(mapping, dict) else None
        if culprit is None:
            return prefix + rest
        path = f"{prefix}.{culprit}{rest}"
    return path


def _fails_alone(raw: Any, steps: list[str | int], key: str) -> bool:
    trimmed = copy.deepcopy(raw)
    parent = _value_at(trimmed, steps[:-1]) if steps else None
    mapping = _value_at(trimmed, steps)
    only = {key: mapping[key]}
    if parent is None:
        trimmed = only
    else:
        parent[steps[-1]] = only
    try:
        msgspec.convert(trimmed, type=Config, builtin_types=(datetime.datetime, datetime.date))
    except msgspec.ValidationError:
        return True
    return False


def _steps(path: str) -> list[str | int]:
    """`$.storage.memtable.max_points` -> ["storage", "memtable", "max_points"]."""
    return [name if name else int(index) for name, index in _STEP.findall(path)]


def _dotted(steps: list[str | int]) -> str:
    text = ""
    for step in steps:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


def _key_not_a_name(raw: Any, steps: list[str | int]) -> tuple[str, str]:
    mapping = _value_at(raw, steps)
    bad = next((key for key in mapping if not isinstance(key, str)), None)
    return _dotted(steps), f"every key must be a name, got {_render(bad)}"


def _unknown_key(steps: list[str | int], name: str) -> tuple[str, str]:
    section = _type_at(steps)
    known = [field.name for field in section.fields] if isinstance(section, mi.StructType) else []
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return _dotted([*steps, name]), f"unknown key; {hint}expected one of: {', '.join(known)}"


def _type_at(steps: list[str | int]) -> mi.Type | None:
    """The declared type of the key at `steps`, None when there is none."""
    current: mi.Type | None = mi.type_info(Config)
    for step in steps:
        current = _child_type(current, step)
    return current


def _child_type(parent: mi.Type | None, step: str | int) -> mi.Type | None:
    if isinstance(parent, mi.UnionType):
        children = (_child_type(member, step) for member in parent.types)
        return next((child for child in children if child is not None), None)
    if isinstance(parent, mi.StructType) and isinstance(step, str):
        return next((field.type for field in parent.fields if field.name == step), None)
    if isinstance(parent, mi.ListType) and isinstance(step, int):
        return parent.item_type
    if isinstance(parent, mi.DictType) and isinstance(step, str):
        return parent.value_type
    return None


def _value_at(raw: Any, steps: list[str | int]) -> Any:
    for step in steps:
        raw = raw[step]
    return raw


def _describe(field_type: mi.Type) -> str:
    """What a person should write for a value of this type."""
    describe = _DESCRIBERS.get(type(field_type))
    return describe(field_type) if describe is not None else str(field_type)


def _describe_int(field_type: mi.Type) -> str:
    assert isinstance(field_type, mi.IntType), "BUG: dispatched on the type"
    low, high = field_type.ge, field_type.le
    if low is not None and high is not None:
        return f"an integer from {low} to {high}"
    return "an integer" + (f" >= {low}" if low is not None else "")


_PATTERN_NAMES = {DURATION_PATTERN: "a duration such as 30d (a whole number and s, m, h, d or w)"}


def _describe_str(field_type: mi.Type) -> str:
    assert isinstance(field_type, mi.StrType), "BUG: dispatched on the type"
    if field_type.pattern is not None and field_type.pattern in _PATTERN_NAMES:
        return _PATTERN_NAMES[field_type.pattern]
    return "a non-empty string" if field_type.min_length else "a string"


def _describe_literal(field_type: mi.Type) -> str:
    assert isinstance(field_type, mi.LiteralType), "BUG: dispatched on the type"
    return "one of " + ", ".join(str(value) for value in field_type.values)


def _describe_union(field_type: mi.Type) -> str:
    assert isinstance(field_type, mi.UnionType), "BUG: dispatched on the type"
    return " or ".join(_describe(member) for member in field_type.types)


def _describe_struct(field_type: mi.Type) -> str:
    assert isinstance(field_type, mi.StructType), "BUG: dispatched on the type"
    return "a mapping of " + ", ".join(field.name for field in field_type.fields)


def _describe_list(field_type: mi.Type) -> str:
    assert isinstance(field_type, mi.ListType), "BUG: dispatched on the type"
    return f"a list of ({_describe(field_type.item_type)})"


_DESCRIBERS: dict[type[mi.Type], Callable[[mi.Type], str]] = {
    mi.BoolType: lambda _: "true or false",
    mi.DictType: lambda _: "a mapping",
    mi.FloatType: lambda _: "a number",
    mi.IntType: _describe_int,
    mi.ListType: _describe_list,
    mi.LiteralType: _describe_literal,
    mi.NoneType: lambda _: "null",
    mi.StrType: _describe_str,
    mi.StructType: _describe_struct,
    mi.UnionType: _describe_union,
}


def _render(value: Any) -> str:
    return describe_value(value, "a mapping")


# --- Rules that involve more than one key ---


def _auth_secret(config: Config) -> tuple[str, str] | None:
    if config.auth.enabled and config.auth.jwt_secret is None:
        return "auth.jwt_secret", "required when auth.enabled is true"
    return None


_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::"})


def _listener_ports(config: Config) -> tuple[str, str] | None:
    server, postgres = config.server, config.postgres
    if not postgres.enabled or server.port != postgres.port:
        return None
    hosts = {server.host, postgres.host}
    if len(hosts) == 1 or hosts & _WILDCARD_HOSTS:
        return "postgres.port", (
            f"{postgres.port} is also server.port; the listeners need different ports"
        )
    return None


def _hosts_resolve(config: Config) -> tuple[str, str] | None:
    listeners = [("server.host", config.server.host)]
    if config.postgres.enabled:
        listeners.append(("postgres.host", config.postgres.host))
    for key, host in listeners:
        try:
            socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except (OSError, UnicodeError) as exc:
            return key, f"cannot listen on {host!r}: the address does not resolve ({exc})"
    return None


_DURATION_SECS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def duration_secs(text: str) -> int:
    """Seconds of a Duration value (already checked against DURATION_PATTERN)."""
    return int(text[:-1]) * _DURATION_SECS[text[-1]]


def _tier_order(config: Config) -> tuple[str, str] | None:
    warm, cold = config.storage.retention.warm_after, config.storage.retention.cold_after
    if warm is not None and cold is not None and duration_secs(cold) < duration_secs(warm):
        return "storage.retention.cold_after", f"{cold} is shorter than storage.retention.warm_after ({warm})"
    return None


def _measurement_periods(config: Config) -> tuple[str, str] | None:
    for measurement, period in config.storage.retention.measurements.items():
        if period is not None and re.fullmatch(DURATION_PATTERN, period) is None:
            return f"storage.retention.measurements.{measurement}", f"expected {_PATTERN_NAMES[DURATION_PATTERN]} or null, got {_render(period)}"
    return None


def _cold_dir(config: Config) -> tuple[str, str] | None:
    cold_dir = config.storage.retention.cold_dir
    if cold_dir is not None and os.path.realpath(cold_dir) == os.path.realpath(config.storage.data_dir):
        return "storage.retention.cold_dir", "must not be storage.data_dir (cold partitions need a directory of their own)"
    return None


def downsampling_policies(config: Config) -> list[Any]:
    """The downsampling policies of rusts.yml (rusts.aggregation.policy.DownsamplingPolicy);
    rusts.aggregation.downsampling.ensure_policy makes each hold."""
    from rusts.aggregation.policy import build_policy  # heavy (SQL); only when a policy is configured

    return [
        build_policy(measurement, section.raw, list(section.tiers.items()), dict(section.fields))
        for measurement, section in config.storage.downsampling.items()
    ]


def _downsampling(config: Config) -> tuple[str, str] | None:
    if not config.storage.downsampling:
        return None
    from rusts.aggregation.policy import build_policy

    for measurement, section in config.storage.downsampling.items():
        key = f"storage.downsampling.{measurement}"
        try:
            build_policy(measurement, section.raw, list(section.tiers.items()), dict(section.fields))
        except RustsError as exc:
            return key, str(exc)
        if section.raw is not None and measurement in config.storage.retention.measurements:
            return f"{key}.raw", f"storage.retention.measurements.{measurement} also sets its retention: keep one"
    return None


_CHECKS: tuple[Callable[[Config], tuple[str, str] | None], ...] = (
    _auth_secret, _listener_ports, _hosts_resolve, _tier_order, _measurement_periods, _cold_dir, _downsampling,
)


def _check_together(config: Config, path: str) -> None:
    for check in _CHECKS:
        problem = check(config)
        if problem is not None:
            raise ConfigError(path, *problem)
