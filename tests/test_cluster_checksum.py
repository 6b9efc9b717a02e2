"""Shard fingerprints: equal data in any write order gives equal fingerprints; one changed value does not."""

import random
from pathlib import Path

from rusts.api.line_protocol import engine_parser
from rusts.cluster.checksum import fingerprint
from rusts.storage.engine import EngineOptions, StorageEngine


def test_fingerprints_follow_the_data_not_the_write_order(tmp_path: Path) -> None:
    rng = random.Random(5)
    lines = [f"m{i % 2},host=h{rng.randint(0, 9)} v={rng.random()},s=\"x{i}\" {i * 10**9}" for i in range(2000)]
    engines = [StorageEngine.open(EngineOptions(str(tmp_path / n)), engine_parser) for n in ("a", "b", "c")]
    engines[0].write_line_protocol(("\n".join(lines) + "\n").encode())
    shuffled = lines[:]
    rng.shuffle(shuffled)
    for start in range(0, 2000, 300):  # other batches, a flush between: segments and memtable
        engines[1].write_line_protocol(("\n".join(shuffled[start : start + 300]) + "\n").encode())
        if start == 900:
            engines[1].flush()
    engines[2].write_line_protocol(("\n".join(lines) + "\n").encode())
    engines[2].write_line_protocol(lines[7].replace(" v=", " v=1").encode())  # one value differs
    first, second, third = (fingerprint(engine) for engine in engines)
    assert first == second
    assert first.points == {"m0": 1000, "m1": 1000}
    assert third.points == first.points and third.digest != first.digest
    empty = StorageEngine.open(EngineOptions(str(tmp_path / "empty")), engine_parser)
    assert fingerprint(empty).points == {} and fingerprint(empty).digest != first.digest
    for engine in [*engines, empty]:
        engine.close()
