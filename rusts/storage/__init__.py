"""WAL, memtable, segments, partitions and the engine (issue 3)."""
