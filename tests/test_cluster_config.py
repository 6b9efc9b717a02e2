"""cluster.toml: the seed's keys decoded, every mistake one line naming file, line and key."""

from pathlib import Path

import pytest

from rusts.cluster.config import ClusterConfig, load_cluster_config, parse_cluster_config
from rusts.core.errors import ConfigError

GOOD = """\
# cluster.toml
node_id = "node1"
cluster_name = "rusts-prod"
replication_mode = "Quorum"
replication_factor = 2
shard_count = 4
sharding_strategy = "BySeries"

[[nodes]]
id = "node1"
address = "127.0.0.1:8086"
shards = [0, 1]
replica_shards = [2, 3]

[[nodes]]
id = "node2"
address = "127.0.0.1:8087"
shards = [2, 3]
replica_shards = [0, 1]
"""

# The seed's own example: shards 8..15 have no replica although replication_factor is 2.
SEED = """\
node_id = "node1"
cluster_name = "rusts-prod"
replication_mode = "Quorum"
replication_factor = 2
shard_count = 16
sharding_strategy = "BySeries"

[[nodes]]
id = "node1"
address = "10.0.1.1:8086"
shards = [0, 1, 2, 3, 4, 5, 6, 7]

[[nodes]]
id = "node2"
address = "10.0.1.2:8086"
shards = [8, 9, 10, 11, 12, 13, 14, 15]
replica_shards = [0, 1, 2, 3, 4, 5, 6, 7]
"""


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_cluster_config(text, "cluster.toml")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_good_file_decodes() -> None:
    config = parse_cluster_config(GOOD, "cluster.toml")
    assert isinstance(config, ClusterConfig)
    assert config.node_id == "node1" and config.cluster_name == "rusts-prod"
    assert config.replication_mode == "Quorum" and config.replication_factor == 2
    assert config.shard_count == 4 and config.sharding_strategy == "BySeries"
    assert config.shard_window_secs is None
    assert [n.id for n in config.nodes] == ["node1", "node2"]
    assert config.this_node.shards == [0, 1] and config.this_node.replica_shards == [2, 3]
    assert (config.node("node2").host, config.node("node2").port) == ("127.0.0.1", 8087)


def test_load_from_file(tmp_path: Path) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(GOOD)
    assert load_cluster_config(str(path)).node_id == "node1"
    with pytest.raises(ConfigError, match="no such file"):
        load_cluster_config(str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="is a directory"):
        load_cluster_config(str(tmp_path))
    path.write_bytes(b"node_id = \"\xff\"")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_cluster_config(str(path))


def test_replica_shards_default_to_none_with_one_copy() -> None:
    text = GOOD.replace("replication_factor = 2", "replication_factor = 1")
    text = text.replace("replica_shards = [2, 3]\n", "").replace("replica_shards = [0, 1]\n", "")
    config = parse_cluster_config(text, "cluster.toml")
    assert config.nodes[1].replica_shards == []


def test_seed_example_lacks_replicas() -> None:
    assert error_of(SEED) == (
        "cluster.toml:4: replication_factor: shard 8 has 0 replica(s) (none); replication_factor 2 "
        "needs exactly 1 in the replica_shards of nodes other than its owner"
    )


def test_by_time_needs_its_window() -> None:
    text = GOOD.replace('"BySeries"', '"ByTime"')
    assert error_of(text) == (
        "cluster.toml: shard_window_secs: required when sharding_strategy is ByTime (seconds of one shard's time window)"
    )
    config = parse_cluster_config(text.replace("shard_count = 4", "shard_count = 4\nshard_window_secs = 3600"), "c.toml")
    assert config.shard_window_secs == 3600
    assert error_of(GOOD.replace("shard_count = 4", "shard_count = 4\nshard_window_secs = 60")) == (
        "cluster.toml:7: shard_window_secs: only used when sharding_strategy is ByTime, not BySeries"
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('"Quorum"', '"Majority"', 'cluster.toml:4: replication_mode: expected one of Sync, Quorum, Async, got the string "Majority"'),
        ('"BySeries"', '"ByHost"', 'cluster.toml:7: sharding_strategy: expected one of BySeries, ByMeasurement, ByTime, got the string "ByHost"'),
        ("shard_count = 4", 'shard_count = "4"', 'cluster.toml:6: shard_count: expected an integer from 1 to 65536, got the string "4"'),
        ("shard_count = 4", "shard_count = 0", "cluster.toml:6: shard_count: expected an integer from 1 to 65536, got 0"),
        ("replication_factor = 2", "replication_factor = 0", "cluster.toml:5: replication_factor: expected an integer >= 1, got 0"),
        ("shard_count = 4", "shard_count = 4\nanti_entropy_quiet_secs = 0.5", "cluster.toml:7: anti_entropy_quiet_secs: expected an integer >= 1 (seconds), got 0.5"),
        ("replication_factor = 2", "replication_factor = 3", "cluster.toml:5: replication_factor: 3 copies need as many nodes, the cluster has 2"),
        ('cluster_name = "rusts-prod"\n', "", "cluster.toml: cluster_name: required key is missing"),
        ('cluster_name = "rusts-prod"\n', 'cluster_name = "x"\nreplicas = 2\n', "cluster.toml:4: replicas: unknown key; expected one of: node_id, cluster_name, replication_mode, replication_factor, shard_count, sharding_strategy, shard_window_secs, max_hint_bytes_per_peer, anti_entropy_quiet_secs, nodes"),
        ('id = "node2"\n', 'id = "node2"\nweight = 2\n', "cluster.toml:17: nodes[1].weight: unknown key; expected one of: id, address, shards, replica_shards"),
        ('address = "127.0.0.1:8087"\n', "", "cluster.toml:15: nodes[1].address: required key is missing"),
        ("\nshards = [2, 3]", '\nshards = [2, "3"]', 'cluster.toml:18: nodes[1].shards[1]: expected a shard number (an integer >= 0), got the string "3"'),
        ("\nshards = [2, 3]", "\nshards = [2, -3]", "cluster.toml:18: nodes[1].shards[1]: expected a shard number (an integer >= 0), got -3"),
        ("\nshards = [2, 3]", "\nshards = [2, 3, 4]", "cluster.toml:18: nodes[1].shards: shard 4 is out of range: shard_count is 4 (shards 0 to 3)"),
        ("\nshards = [2, 3]", "\nshards = [2, 3, 3]", "cluster.toml:18: nodes[1].shards: shard 3 is listed twice"),
        ("\nshards = [2, 3]", "\nshards = [1, 2, 3]", "cluster.toml:19: nodes[1].replica_shards: shard 1 is also in this node's shards: a replica must live on another node than the owner"),
        ("\nshards = [2, 3]", "\nshards = [2]", "cluster.toml:9: nodes: shard 3 has no owner: list it in the shards of one node"),
        ("replica_shards = [0, 1]", "replica_shards = [0]", "cluster.toml:5: replication_factor: shard 1 has 0 replica(s) (none); replication_factor 2 needs exactly 1 in the replica_shards of nodes other than its owner"),
        ('node_id = "node1"', 'node_id = "node3"', "cluster.toml:2: node_id: 'node3' is not the id of any [[nodes]] entry (ids: node1, node2)"),
        ('id = "node2"', 'id = "node1"', "cluster.toml:16: nodes[1].id: 'node1' is also the id of nodes[0]"),
        ('"127.0.0.1:8087"', '"127.0.0.1:8086"', "cluster.toml:17: nodes[1].address: '127.0.0.1:8086' is also the address of nodes[0]"),
        ('"127.0.0.1:8087"', '"127.0.0.1"', "cluster.toml:17: nodes[1].address: expected host:port with a port from 1 to 65535, got '127.0.0.1'"),
        ('"127.0.0.1:8087"', '"127.0.0.1:70000"', "cluster.toml:17: nodes[1].address: expected host:port with a port from 1 to 65535, got '127.0.0.1:70000'"),
        ("shard_count = 4", "shard_count = 4 x", "cluster.toml: invalid TOML: Expected newline or end of document after a statement (at line 6, column 17)"),
    ],
)
def test_errors_name_file_line_and_key(old: str, new: str, expected: str) -> None:
    assert old in GOOD
    assert error_of(GOOD.replace(old, new, 1)) == expected


def test_two_owners_and_too_many_replicas() -> None:
    three = GOOD.replace("replication_factor = 2", "replication_factor = 2") + (
        '\n[[nodes]]\nid = "node3"\naddress = "127.0.0.1:8088"\nshards = [0]\n'
    )
    assert error_of(three) == "cluster.toml:24: nodes[2].shards: shard 0 is also owned by 'node1'; a shard has exactly one owner"
    extra = GOOD + '\n[[nodes]]\nid = "node3"\naddress = "127.0.0.1:8088"\nreplica_shards = [3]\n'
    assert error_of(extra) == (
        "cluster.toml:24: nodes[2].replica_shards: shard 3 has 2 replica(s) ('node1', 'node3'); "
        "replication_factor 2 needs exactly 1 in the replica_shards of nodes other than its owner"
    )
