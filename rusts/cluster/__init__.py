"""Static cluster configuration, sharding and replication (issue 8)."""
