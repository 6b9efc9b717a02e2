"""A three-node cluster.toml shared by the cluster tests (replication factor 2, three shards)."""

THREE_NODES = """\
node_id = "n0"
cluster_name = "t"
replication_mode = "Quorum"
replication_factor = 2
shard_count = 3
sharding_strategy = "BySeries"
[[nodes]]
id = "n0"
address = "127.0.0.1:9000"
shards = [0]
replica_shards = [2]
[[nodes]]
id = "n1"
address = "127.0.0.1:9001"
shards = [1]
replica_shards = [0]
[[nodes]]
id = "n2"
address = "127.0.0.1:9002"
shards = [2]
replica_shards = [1]
"""
