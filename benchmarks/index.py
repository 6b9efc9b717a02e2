"""Series index, tag index and bloom filter speed, with fixed seeds.

    python benchmarks/index.py [series]        (default 1,000,000 series)

Prints: get_or_create rate for new and for existing series, flush and
open (reload + tag index rebuild) time, tag query times, and bloom filter
add and probe rates. Series look like a fleet: cpu with host (unique per
series), region (8) and dc (32) tags.
"""

import re
import sys
import tempfile
import time
from collections.abc import Callable, Sized

import numpy as np

from rusts.core.hashing import series_key
from rusts.index.bloom import BloomFilter
from rusts.index.series import SeriesIndex


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    series = [
        ("cpu", [("dc", f"dc-{i % 32:02d}"), ("host", f"host-{i:07d}"), ("region", f"region-{i % 8}")])
        for i in range(count)
    ]
    keys = [series_key(m, t) for m, t in series]
    with tempfile.TemporaryDirectory() as directory:
        index = SeriesIndex.open(directory)
        start = time.perf_counter()
        for (measurement, tags), key in zip(series, keys):
            index.get_or_create(measurement, tags, key)
        elapsed = time.perf_counter() - start
        print(f"get_or_create new       {count / elapsed / 1e3:8.1f} k series/s")
        start = time.perf_counter()
        for (measurement, tags), key in zip(series, keys):
            index.get_or_create(measurement, tags, key)
        elapsed = time.perf_counter() - start
        print(f"get_or_create existing  {count / elapsed / 1e6:8.2f} M series/s (key given)")
        start = time.perf_counter()
        for measurement, tags in series[: count // 10]:
            index.get_or_create(measurement, tags)
        elapsed = time.perf_counter() - start
        print(f"get_or_create existing  {count / 10 / elapsed / 1e6:8.2f} M series/s (key computed)")
        start = time.perf_counter()
        index.close()
        print(f"flush                   {time.perf_counter() - start:8.3f} s")
        start = time.perf_counter()
        index = SeriesIndex.open(directory)
        print(f"open {count:,} series  {time.perf_counter() - start:8.3f} s")
        tags_index = index.tags
        queries: list[tuple[str, Callable[[], Sized]]] = [
            ("region = 'region-3'", lambda: tags_index.series_for("cpu", "region", "region-3")),
            ("region=3 AND dc=dc-11", lambda: tags_index.series_for("cpu", "region", "region-3")
             & tags_index.series_for("cpu", "dc", "dc-11")),
            ("dc IN (4 values)", lambda: tags_index.series_for_values("cpu", "dc", ["dc-01", "dc-02", "dc-03", "dc-04"])),
            ("NOT region = 'region-3'", lambda: tags_index.complement("cpu", tags_index.series_for("cpu", "region", "region-3"))),
            ("host =~ /99$/ (regex)", lambda: tags_index.series_matching("cpu", "host", re.compile("99$").search)),
            ("ids_of(region = 3)", lambda: index.ids_of(tags_index.series_for("cpu", "region", "region-3"))),
        ]
        for name, query in queries:
            start = time.perf_counter()
            result = query()
            print(f"query {name:26s} {1e3 * (time.perf_counter() - start):8.2f} ms  ({len(result):,} series)")
        index.close()
    rng = np.random.default_rng(11)
    ids = rng.integers(0, 2**63, count, dtype=np.uint64)
    bloom = BloomFilter.for_capacity(count, fpr=0.01)
    start = time.perf_counter()
    bloom.add_many(ids)
    print(f"bloom add_many          {count / (time.perf_counter() - start) / 1e6:8.2f} M ids/s (k={bloom.probes})")
    probes = rng.integers(0, 2**63, count, dtype=np.uint64)
    start = time.perf_counter()
    hits = bloom.might_contain_many(probes)
    print(f"bloom might_contain_many{count / (time.perf_counter() - start) / 1e6:8.2f} M ids/s (fpr {hits.mean():.4f})")
    start = time.perf_counter()
    for value in probes[:100_000].tolist():
        bloom.might_contain(value)
    print(f"bloom might_contain     {100_000 / (time.perf_counter() - start) / 1e3:8.1f} k ids/s")


if __name__ == "__main__":
    main()
