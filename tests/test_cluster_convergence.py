"""Convergence (rusts.cluster.convergence): copies of a shard that took one point's overwrites in
different orders become equal without an operator. The watch and the merge as functions, then real
`rusts --cluster` processes whose copies are made to differ: a holder overwritten behind the
cluster's back, two coordinators racing to overwrite the same points."""

import functools
import json
import threading
from pathlib import Path
from typing import Any

from cluster_fixtures import ClusterNodeProcess, start_cluster, stop_cluster, wait_for
from rusts.cluster.checksum import ShardFingerprint, range_fingerprint
from rusts.cluster.convergence import WINDOW_NS, OverwriteWatch, merge, missing_from, precedence
from rusts.cluster.sharding import shard_of_series_key
from rusts.core.hashing import series_key
from rusts.api.line_protocol import engine_parser
from rusts.api.parse_pool import MIN_POOLED_BYTES, parse_for_write
from rusts.core import workers
from rusts.storage.columns import RowsTable
from rusts.storage.engine import EngineOptions, StorageEngine

BASE = 1_764_000_000 * 1_000_000_000
SECOND = 1_000_000_000
QUIET = "anti_entropy_quiet_secs = 1\n"


def test_the_watch_marks_only_points_at_or_before_a_series_latest_time() -> None:
    watch = OverwriteWatch()
    watch.seen(["cpu", "cpu"], [1, 2], [BASE, BASE], [BASE + 5 * SECOND, BASE])
    watch.seen(["cpu"], [1], [BASE + 6 * SECOND], [BASE + 9 * SECOND])  # later points: nothing to check
    assert watch.dirty_windows() == 0 and watch.take_quiet(float("inf")) == []
    watch.seen(["cpu", "cpu"], [1, 3], [BASE + 2 * SECOND, BASE], [BASE + 20 * SECOND, BASE])  # series 3 is new
    assert watch.dirty_windows() == 1
    assert watch.take_quiet(0.0) == []  # marked now: not quiet before the start of time
    window = BASE // WINDOW_NS
    assert watch.take_quiet(float("inf")) == [("cpu", window * WINDOW_NS, (window + 1) * WINDOW_NS)]
    assert watch.dirty_windows() == 0
    # A late point two windows back, and marks that touch: consecutive windows come back as one range.
    watch.seen(["cpu"], [2], [BASE - 2 * WINDOW_NS], [BASE - WINDOW_NS])
    watch.mark("mem", BASE, BASE + 1, 5.0)
    watch.mark("mem", BASE + 3 * WINDOW_NS, BASE + 3 * WINDOW_NS + 1, 5.0)
    ranges = watch.take_quiet(float("inf"))
    assert ranges == [
        ("cpu", (window - 2) * WINDOW_NS, window * WINDOW_NS),
        ("mem", window * WINDOW_NS, (window + 1) * WINDOW_NS),
        ("mem", (window + 3) * WINDOW_NS, (window + 4) * WINDOW_NS),
    ]
    watch.mark("wide", 0, BASE, 1.0)  # years of windows: kept as one range
    assert watch.take_quiet(float("inf")) == [("wide", 0, BASE)]


def test_the_merge_keeps_every_point_and_the_winning_copys_values() -> None:
    tags = [("host", "a")]
    owner = [(1, tags, {"v": 1.0}), (2, tags, {"v": 2.0})]
    replica = [(1, tags, {"v": 9.0, "w": 3}), (3, tags, {"v": 4.0})]
    merged = merge([owner, replica])
    assert merged == {((("host", "a"),), 1): {"v": 1.0, "w": 3}, ((("host", "a"),), 2): {"v": 2.0}, ((("host", "a"),), 3): {"v": 4.0}}
    assert missing_from(merged, owner) == [(1, tags, {"v": 1.0, "w": 3}), (3, tags, {"v": 4.0})]
    assert missing_from(merged, replica) == [(1, tags, {"v": 1.0, "w": 3}), (2, tags, {"v": 2.0})]
    assert missing_from(merged, [(t, list(k), f) for (k, t), f in merged.items()]) == []

    one, two = ShardFingerprint({"m": 1}, "aa"), ShardFingerprint({"m": 1}, "bb")
    assert precedence(["n0", "n1"], {"n0": one, "n1": two}) == ["n0", "n1"]  # no majority: cluster.toml order
    assert precedence(["n0", "n1", "n2"], {"n0": one, "n1": two, "n2": two}) == ["n1", "n2", "n0"]
    assert precedence(["n0", "n1", "n2"], {"n0": one, "n1": one, "n2": two}) == ["n0", "n1", "n2"]


def test_range_fingerprints_ignore_columns_the_range_does_not_hold(tmp_path: Path) -> None:
    engines = [StorageEngine.open(EngineOptions(str(tmp_path / name)), engine_parser) for name in ("a", "b")]
    try:
        shared = f"cpu,host=a v=1.5 {BASE}\ncpu,host=b v=2.5,n=3i {BASE + SECOND}\n".encode()
        for engine in engines:
            engine.write_line_protocol(shared)
        # Only the first copy knows field `late` and tag `zone`, from a point outside the range.
        engines[0].write_line_protocol(f"cpu,host=a,zone=z late=true {BASE + 3600 * SECOND}".encode())
        first, second = (range_fingerprint(engine, "cpu", BASE, BASE + 60 * SECOND) for engine in engines)
        assert first == second and first.points == {"cpu": 2}
        assert range_fingerprint(engines[0], "cpu", BASE, BASE + 7200 * SECOND) != range_fingerprint(engines[1], "cpu", BASE, BASE + 7200 * SECOND)
        assert range_fingerprint(engines[1], "nothing", 0, BASE).points == {"nothing": 0}
    finally:
        for engine in engines:
            engine.close()


def test_both_write_paths_tell_the_watch(tmp_path: Path, pool: workers.WorkerPool) -> None:
    # The per-series path, and a many-series body stored as one table (rusts.api.parse_pool).
    engine = StorageEngine.open(EngineOptions(str(tmp_path / "e")), engine_parser)
    engine.rows_parser = functools.partial(parse_for_write, pool=pool)
    watch = OverwriteWatch()
    engine.overwrite_watch = watch.seen
    try:
        engine.write_line_protocol(f"cpu,host=a v=7.5 {BASE + 10 * SECOND}".encode())
        assert watch.dirty_windows() == 0
        engine.write_line_protocol(f"cpu,host=a v=8.5 {BASE + 10 * SECOND}".encode())
        assert watch.take_quiet(float("inf")) == [("cpu", BASE // WINDOW_NS * WINDOW_NS, (BASE // WINDOW_NS + 1) * WINDOW_NS)]

        def table(at: int, hosts: range) -> bytes:
            return "\n".join(f"mem,host=h{h} used={h}i,free={h * 2}i {at}" for h in hosts).encode()

        first = table(BASE + 2 * WINDOW_NS, range(4000))
        assert len(first) >= MIN_POOLED_BYTES and isinstance(parse_for_write(first, 1, 0, pool), RowsTable)
        engine.write_line_protocol(first)
        engine.write_line_protocol(table(BASE + 3 * WINDOW_NS, range(4000)))  # later: nothing
        assert watch.dirty_windows() == 0
        engine.write_line_protocol(table(BASE + 2 * WINDOW_NS, range(3000, 7000)))  # 1000 series overwritten
        window = (BASE + 2 * WINDOW_NS) // WINDOW_NS
        assert watch.take_quiet(float("inf")) == [("mem", window * WINDOW_NS, (window + 1) * WINDOW_NS)]
    finally:
        engine.close()


# ---- real processes ----


def host_on(shard: int) -> str:
    return next(f"h{i}" for i in range(1000) if shard_of_series_key(series_key("cpu", [("host", f"h{i}")]), 3) == shard)


def values(node: ClusterNodeProcess, host: str) -> list[tuple[int, Any]]:
    code, body = node.request("POST", "/sql?epoch=ns", json.dumps({"query": f"SELECT time, v FROM cpu WHERE host = '{host}' ORDER BY time"}).encode())
    assert code == 200, body
    return [(row[0], row[1]) for row in body["rows"]]


def converged(nodes: list[ClusterNodeProcess], shard: int) -> bool:
    prints = [node.fingerprint(shard) for node in nodes]
    return all(found == prints[0] for found in prints)


def total(nodes: list[ClusterNodeProcess], key: str) -> int:
    return sum(int(node.status()["convergence"][key]) for node in nodes)


def test_a_holder_overwritten_behind_the_clusters_back_converges_to_the_owners_copy(tmp_path: Path) -> None:
    # Shard 1: owner n1, replica n2 (replication factor 2, no majority between two copies). n2 is given
    # another value for a point and a late point directly: both copies end with the owner's value and
    # both points, and every node answers the same.
    nodes = start_cluster(tmp_path, "Sync", 2, extra=QUIET)
    host = host_on(1)
    owner, replica = nodes[1], nodes[2]
    try:
        lines = "\n".join(f"cpu,host={host} v={i}.5 {BASE + i * SECOND}" for i in range(10))
        assert nodes[0].request("POST", "/write", lines.encode())[0] == 204
        assert converged([owner, replica], 1)
        behind = f"cpu,host={host} v=99.5 {BASE + 3 * SECOND}\ncpu,host={host} v=42.5 {BASE - SECOND}".encode()
        assert replica.request("POST", "/internal/write?shard=1&precision=ns", behind)[0] == 204
        assert not converged([owner, replica], 1)
        wait_for("the copies of shard 1 equal again", lambda: converged([owner, replica], 1), limit=60)
        expected = [(BASE - SECOND, 42.5), *((BASE + i * SECOND, i + 0.5) for i in range(10))]
        for node in nodes:
            assert values(node, host) == expected
        assert total(nodes, "ranges_repaired") >= 1 and total(nodes, "points_repaired") == 2
        wait_for("no window left to check", lambda: total(nodes, "dirty_windows") == 0)
    finally:
        stop_cluster(nodes)


def test_with_three_copies_the_majoritys_value_wins(tmp_path: Path) -> None:
    # Every node holds shard 0 (replication factor 3). Its owner n0 is overwritten directly: the two
    # replicas agree, so their value is put back on the owner.
    nodes = start_cluster(tmp_path, "Quorum", 3, extra=QUIET)
    host = host_on(0)
    try:
        assert nodes[1].request("POST", "/write", f"cpu,host={host} v=1.5 {BASE}\ncpu,host={host} v=2.5 {BASE + SECOND}".encode())[0] == 204
        assert nodes[0].request("POST", "/internal/write?shard=0&precision=ns", f"cpu,host={host} v=7.5 {BASE}".encode())[0] == 204
        assert values(nodes[0], host)[0] == (BASE, 7.5)  # the owner answers for its shard first
        wait_for("the copies of shard 0 equal again", lambda: converged(nodes, 0), limit=60)
        for node in nodes:
            assert values(node, host) == [(BASE, 1.5), (BASE + SECOND, 2.5)]
    finally:
        stop_cluster(nodes)


def test_two_coordinators_racing_to_overwrite_the_same_points_leave_equal_copies(tmp_path: Path) -> None:
    # n0 and n1 overwrite the same 60 points (of every shard) over and over with their own values, in
    # step (each round's two writes sent at once); the holders store the two writers' values in different
    # orders (without convergence, some copies keep different values). Once the writers stop, every
    # shard's copies become equal, and every node answers alike.
    nodes = start_cluster(tmp_path, "Quorum", 2, timeout=5.0, extra=QUIET)
    hosts = [f"r{i}" for i in range(6)]
    refused: list[Any] = []
    step = threading.Barrier(2, timeout=60)

    def writer(node: ClusterNodeProcess, offset: int) -> None:
        for round_ in range(40):
            step.wait()
            body = "\n".join(
                f"cpu,host={host} v={offset + round_}.25 {BASE + t * SECOND}" for host in hosts for t in range(10)
            )
            code, answer = node.request("POST", "/write", body.encode())
            if code != 204:
                refused.append((code, answer))

    try:
        threads = [threading.Thread(target=writer, args=(node, offset)) for node, offset in ((nodes[0], 1000), (nodes[1], 2000))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not refused, refused[:3]
        for shard in range(3):
            shard_holders = [node for node in nodes if shard in (int(node.node_id[1:]), (int(node.node_id[1:]) - 1) % 3)]
            wait_for(f"the copies of shard {shard} equal", lambda: converged(shard_holders, shard), limit=90)
        answers = [[values(node, host) for host in hosts] for node in nodes]
        assert answers[0] == answers[1] == answers[2]
        assert all(len(rows) == 10 for rows in answers[0])
        assert all(value in (1039.25, 2039.25) for rows in answers[0] for _, value in rows)
    finally:
        stop_cluster(nodes)
