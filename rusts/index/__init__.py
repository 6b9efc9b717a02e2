"""Series index, tag index and bloom filters (issue 3).

- series: SeriesIndex, SeriesId <-> (measurement, tags, key), collisions kept
  apart, persisted append-only in `series.idx`; owns the tag index.
- tags: TagIndex, measurement -> tag key -> tag value -> roaring bitmap of
  dense u32 series numbers (not u64 ids; see series for why).
- bloom: BloomFilter on u64 series ids, one per partition, for pruning.
"""
