"""DELETE and DROP MEASUREMENT in cluster mode, with three real `rusts --cluster` processes: the answers of one
node holding the same data, on every node (schema included), and a node killed before the deletes catching up
by hinted handoff, writes and deletes applied in the coordinator's order, replicas equal by fingerprint."""

import json
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cluster_fixtures import ClusterNodeProcess, start_cluster, stop_cluster, wait_for
from servers import RustsServer
from test_cluster_nodes import BASE, JSON_QUERIES, SECOND, SQL_QUERIES, dataset, pg_rows, post, same

AFTER_QUERIES = [
    *SQL_QUERIES,
    "SELECT host, count(*), sum(procs) FROM cpu GROUP BY host ORDER BY host",
    "SELECT count(*), min(time), max(time) FROM cpu WHERE host = 'h1'",
    "SHOW TAG VALUES FROM cpu WITH KEY = host",
    "SELECT host, count(*), sum(used) FROM mem GROUP BY host ORDER BY host",
    "SHOW TAG KEYS FROM mem",
    "SHOW FIELD KEYS FROM mem",
]


def sql_answer(node: RustsServer, text: str) -> tuple[int, Any]:
    return node.request("POST", "/sql?epoch=ns", json.dumps({"query": text}).encode())


def both(single: RustsServer, through: RustsServer, text: str) -> Any:
    """Run a statement on the single node and through a cluster node: the same answer."""
    expected = sql_answer(single, text)
    assert expected[0] == 200, (text, expected)
    answer = sql_answer(through, text)
    assert answer == expected, (text, answer, expected)
    return answer[1]


def assert_every_node_answers_as(single: RustsServer, nodes: list[ClusterNodeProcess]) -> None:
    for text in AFTER_QUERIES:
        expected = sql_answer(single, text)
        for node in nodes:
            assert same(sql_answer(node, text), expected), (node.node_id, text)
    for query in JSON_QUERIES:
        expected = post(single, "/query?epoch=ns", query)
        for node in nodes:
            assert same(post(node, "/query?epoch=ns", query), expected), (node.node_id, query)


def assert_replicas_equal(nodes: list[ClusterNodeProcess]) -> dict[int, dict[str, Any]]:
    """Every holder of every shard has the same points per measurement and digest; the prints by shard."""
    layout = nodes[0].status()["nodes"]
    prints: dict[int, dict[str, Any]] = {}
    for shard in range(3):
        ids = {n["id"] for n in layout if shard in n["shards"] + n["replica_shards"]}
        copies = [node.fingerprint(shard) for node in nodes if node.node_id in ids]
        assert len(copies) >= 2 and all(c == copies[0] for c in copies), (shard, copies)
        prints[shard] = copies[0]
    return prints


def deletes_and_drop(single: RustsServer, nodes: list[ClusterNodeProcess]) -> None:
    """The same deletes and drop on the single node and through the cluster's nodes, answers compared."""
    assert both(single, nodes[1], "DELETE FROM cpu WHERE host = 'h1'")["tag"] == "DELETE 116"
    window = f"time >= {BASE + 600 * SECOND} AND time < {BASE + 3000 * SECOND}"
    both(single, nodes[2], f"DELETE FROM cpu WHERE region = 'r2' AND {window}")
    both(single, nodes[0], f"DELETE FROM cpu WHERE host = 'nobody' AND {window}")  # matches nothing
    # h1 again, after its delete: these rows must stay, on every replica.
    again = "\n".join(f"cpu,host=h1,region=r1 usage={i}.5,procs={i}i {BASE + i * 7 * SECOND}" for i in range(20))
    single.write(again)
    nodes[0].write(again)
    both(single, nodes[2], "DROP MEASUREMENT mem")
    # Dropped means forgotten: the measurement takes new fields, of other types too.
    fresh = "\n".join(f"mem,host=m{i % 3},rack=k{i % 2} used={i}.25 {BASE + i * SECOND}" for i in range(30))
    single.write(fresh)
    nodes[1].write(fresh)


@pytest.mark.parametrize("strategy", ["BySeries", "ByTime"])
def test_deletes_and_drops_answer_as_one_node(tmp_path: Path, strategy: str) -> None:
    (tmp_path / "single").mkdir()
    single = RustsServer(tmp_path / "single")
    nodes = start_cluster(tmp_path, "Quorum", 2, strategy)
    try:
        single.write(dataset())
        nodes[0].write(dataset())
        # Before the drop, every node's schema has mem's `zone` tag and integer `used`.
        for node in nodes:
            assert same(sql_answer(node, "SHOW FIELD KEYS FROM mem"), sql_answer(single, "SHOW FIELD KEYS FROM mem"))
        deletes_and_drop(single, nodes)
        assert_every_node_answers_as(single, nodes)
        for node in nodes[1:]:
            assert pg_rows(node.pg_port, "SELECT host, count(*) FROM cpu GROUP BY host ORDER BY host") == pg_rows(
                single.pg_port, "SELECT host, count(*) FROM cpu GROUP BY host ORDER BY host")
        # A drop through pgwire, then an unknown measurement for both.
        with psycopg.connect(host="127.0.0.1", port=nodes[0].pg_port, user="rusts", dbname="rusts") as conn:
            conn.execute("DROP MEASUREMENT mem")
        sql_answer(single, "DROP MEASUREMENT mem")
        for node in nodes:
            assert sql_answer(node, "SELECT * FROM mem") == sql_answer(single, "SELECT * FROM mem")
            assert sql_answer(node, "SHOW MEASUREMENTS") == sql_answer(single, "SHOW MEASUREMENTS")
        prints = assert_replicas_equal(nodes)
        assert all("mem" not in p["points"] for p in prints.values()), prints
        assert sum(p["points"].get("cpu", 0) for p in prints.values()) == sql_answer(single, "SELECT count(*) FROM cpu")[1]["rows"][0][0]
    finally:
        stop_cluster(nodes)
        single.stop()


@pytest.mark.parametrize(("mode", "factor"), [("Quorum", 3), ("Sync", 2)])
def test_a_node_killed_before_deletes_catches_up_in_order(tmp_path: Path, mode: str, factor: int) -> None:
    (tmp_path / "single").mkdir()
    single = RustsServer(tmp_path / "single")
    nodes = start_cluster(tmp_path, mode, factor, timeout=3.0)
    coordinator, other, victim = nodes
    try:
        single.write(dataset())
        coordinator.write(dataset())
        victim.kill()
        # While it is down, through both live nodes in turn: writes the victim misses, deletes covering some of
        # them, writes again into deleted ranges, a drop and new writes to it. Every coordinator's hints go to
        # the victim's keeper (n0, the first other node), so they reach it in one order.
        late = "\n".join(f"cpu,host=late{i % 4},region=r0 usage={i}.0,procs={i}i {BASE + i * 3 * SECOND}" for i in range(40))
        single.write(late)
        code, answer = coordinator.request("POST", "/write", late.encode())
        assert code == (204 if mode == "Quorum" else 503), answer
        if mode == "Quorum":
            deletes_and_drop(single, [other, coordinator, other])
            both(single, other, "DELETE FROM cpu WHERE host = 'late2'")
        else:
            # Sync cannot keep its promise without the victim: 503 (pgwire 57P03) naming the shards it holds,
            # the delete applied on the live holders and hinted for the victim. Resending is safe.
            for text in ("DELETE FROM cpu WHERE host = 'h1'", "DELETE FROM cpu WHERE host = 'late2'", "DROP MEASUREMENT mem"):
                sql_answer(single, text)
                code, answer = sql_answer(other, text)
                assert code == 503 and "Sync replication of the" in answer["error"], answer
                assert "not achieved for shard(s) 1, 2" in answer["error"], answer
            with pytest.raises(psycopg.Error) as caught:
                pg_rows(coordinator.pg_port, "DELETE FROM cpu WHERE host = 'late1'")
            assert caught.value.sqlstate == "57P03" and "shard(s) 1, 2" in str(caught.value), caught.value
            sql_answer(single, "DELETE FROM cpu WHERE host = 'late1'")
        assert coordinator.pending_hints() > 0 and other.pending_hints() == 0  # n1 handed its hints to n0
        victim.start()
        wait_for("hints delivered to the restarted node", lambda: coordinator.pending_hints() == 0)
        assert_every_node_answers_as(single, nodes)
        prints = assert_replicas_equal(nodes)
        assert sum(p["points"].get("cpu", 0) for p in prints.values()) == sql_answer(single, "SELECT count(*) FROM cpu")[1]["rows"][0][0]
        # The restarted node's own schema forgot the dropped measurement's old series and fields.
        for text in ("SHOW TAG KEYS FROM mem", "SHOW FIELD KEYS FROM mem", "SHOW MEASUREMENTS"):
            assert sql_answer(victim, text) == sql_answer(single, text), text
    finally:
        stop_cluster(nodes)
        single.stop()


def test_kill_minus_nine_during_a_stream_of_writes_and_deletes(tmp_path: Path) -> None:
    (tmp_path / "single").mkdir()
    single = RustsServer(tmp_path / "single")
    nodes = start_cluster(tmp_path, "Quorum", 3, timeout=3.0)
    coordinator, other, victim = nodes
    killer = threading.Timer(0.05, victim.kill)
    try:
        for round_ in range(16):
            if round_ == 5:
                killer.start()  # lands during one of the next requests, whichever
            body = "\n".join(f"flow,series=d{i % 5} v={round_ * 20 + i}i {BASE + (round_ * 20 + i) * SECOND}" for i in range(20))
            single.write(body)
            code, answer = other.request("POST", "/write", body.encode())  # writes through n1, deletes through n0
            assert code == 204, answer  # Quorum of 3: two live holders are enough
            start, end = BASE + (round_ * 20 - 10) * SECOND, BASE + (round_ * 20 + 5) * SECOND
            both(single, coordinator, f"DELETE FROM flow WHERE series = 'd{round_ % 5}' AND time >= {start} AND time < {end}")
        killer.join()
        assert victim.process.poll() is not None and coordinator.pending_hints() > 0
        victim.start()
        wait_for("hints delivered to the restarted node", lambda: coordinator.pending_hints() == 0)
        for text in ("SELECT series, count(*), sum(v) FROM flow GROUP BY series ORDER BY series",
                     "SELECT time, series, v FROM flow ORDER BY time"):
            expected = sql_answer(single, text)
            for node in nodes:
                assert sql_answer(node, text) == expected, (node.node_id, text)
        prints = assert_replicas_equal(nodes)
        assert sum(p["points"].get("flow", 0) for p in prints.values()) == sql_answer(single, "SELECT count(*) FROM flow")[1]["rows"][0][0]
    finally:
        killer.cancel()
        stop_cluster(nodes)
        single.stop()
