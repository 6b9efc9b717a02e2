"""Continuous aggregates in cluster mode, with three real `rusts --cluster` processes: an aggregate defined on one
node hears the writes and deletes every node coordinates, and its materialized rows equal its defining query and
one node's aggregate over the same data; after a kill -9 of its node it is recomputed whole."""

import json
import signal
import time
from pathlib import Path
from typing import Any

from cluster_fixtures import ClusterNodeProcess, start_cluster, stop_cluster, wait_for
from servers import RustsServer
from test_cluster_nodes import BASE, SECOND, dataset, same

DEFINITION = "SELECT time_bucket('1m', time) AS time, host, avg(usage) AS m, max(procs) AS hi, count(*) AS n FROM cpu GROUP BY 1, 2"
DEFINED = "SELECT time, host, m, hi, n FROM cpu_1m ORDER BY time, host"
DIRECT = DEFINITION + " ORDER BY 1, 2"


def rows(node: RustsServer, text: str) -> Any:
    code, answer = node.request("POST", "/sql?epoch=ns", json.dumps({"query": text}).encode())
    assert code == 200, (text, answer)
    return answer["rows"]


def up_to_date(single: RustsServer, nodes: list[ClusterNodeProcess]) -> None:
    """The single node's aggregate equals its defining query; then every cluster node's aggregate equals it."""
    expected = rows(single, DIRECT)
    wait_for("the single node's aggregate refreshed", lambda: rows(single, DEFINED) == expected)
    for node in nodes:
        assert same(rows(node, DIRECT), expected), node.node_id
        wait_for(f"the aggregate as read through {node.node_id}", lambda: same(rows(node, DEFINED), expected))


def test_an_aggregate_on_one_node_hears_every_coordinator(tmp_path: Path) -> None:
    (tmp_path / "single").mkdir()
    single = RustsServer(tmp_path / "single")
    nodes = start_cluster(tmp_path, "Quorum", 2)
    owner = nodes[1]
    try:
        single.write(dataset())
        nodes[0].write(dataset())
        definition = json.dumps({"name": "cpu_1m", "query": DEFINITION}).encode()
        assert single.request("POST", "/aggregates", definition)[0] == 201
        assert owner.request("POST", "/aggregates", definition)[0] == 201
        up_to_date(single, nodes)
        # Writes into existing buckets and new ones, coordinated by the two nodes without the aggregate.
        for i, node in enumerate((nodes[0], nodes[2], nodes[0])):
            late = "\n".join(
                f"cpu,host=h{(i + j) % 13},region=r{j % 4} usage={j}.5,procs={100 + j}i {BASE + (i * 900 + j * 31) * SECOND}"
                for j in range(40)
            )
            single.write(late)
            node.write(late)
        up_to_date(single, nodes)
        # Deletes through another node: the buckets they touch are recomputed (rows gone, or shrunk).
        window = f"time >= {BASE + 1200 * SECOND} AND time < {BASE + 2400 * SECOND}"
        for text in ("DELETE FROM cpu WHERE host = 'h4'", f"DELETE FROM cpu WHERE region = 'r1' AND {window}"):
            assert rows(single, text) == rows(nodes[2], text)
        up_to_date(single, nodes)
        # kill -9 of the aggregate's node: it recomputes whole at its start, then hears writes again.
        owner.kill()
        owner.start()
        wait_for("n1 seen up again by n2", lambda: {n["id"]: n["health"] for n in nodes[2].status()["nodes"]}["n1"] == "up")
        more = "\n".join(f"cpu,host=h{j % 13},region=r0 usage={j}.25,procs={j}i {BASE + (j * 53) * SECOND}" for j in range(30))
        single.write(more)
        nodes[2].write(more)
        up_to_date(single, nodes)
    finally:
        stop_cluster(nodes)
        single.stop()


def listed(node: ClusterNodeProcess) -> dict[str, Any]:
    code, answer = node.request("GET", "/aggregates")
    assert code == 200, answer
    return {row["name"]: row for row in answer["aggregates"]}["cpu_1m"]


def test_an_aggregate_defined_on_two_nodes_is_refreshed_by_the_first_until_it_stops_answering(tmp_path: Path) -> None:
    (tmp_path / "single").mkdir()
    single = RustsServer(tmp_path / "single")
    nodes = start_cluster(tmp_path, "Quorum", 3)
    first, second = nodes[1], nodes[2]
    try:
        single.write(dataset())
        nodes[0].write(dataset())
        definition = json.dumps({"name": "cpu_1m", "query": DEFINITION}).encode()
        for node in (single, first):
            assert node.request("POST", "/aggregates", definition)[0] == 201
        # cpu_1m's rows exist now: n2 may define it too once it knows that n1 defines it alike (its
        # state, polled once a round); until then the name is taken (409).
        wait_for("n2 defines cpu_1m too", lambda: second.request("POST", "/aggregates", definition)[0] == 201)
        assert second.request("POST", "/aggregates", json.dumps({"name": "cpu_1m", "query": DIRECT}).encode())[0] == 409
        wait_for("n2 leaves cpu_1m to n1", lambda: listed(second)["refreshed_by"] == "n1")
        assert listed(first)["refreshed_by"] == "n1"
        late = "\n".join(f"cpu,host=h{j % 13},region=r1 usage={j}.75,procs={j}i {BASE + (j * 47) * SECOND}" for j in range(60))
        single.write(late)
        nodes[0].write(late)
        up_to_date(single, nodes)
        # n1 materialized every change; n2 heard of them too (pending buckets, or ranges told as changed)
        # but never refreshed: its background refresh, once a second, leaves cpu_1m to n1.
        time.sleep(2.5)
        kept = listed(second)
        assert kept["refreshes"] == 0 and kept["pending_buckets"] + kept["stale_ranges"] > 0, kept
        assert listed(first)["refreshes"] > 0
        # n1 stops answering: n2 takes over, recomputing what it kept pending and what comes next.
        first.kill()
        wait_for("n2 refreshes cpu_1m itself", lambda: listed(second)["refreshed_by"] == "n2")
        more = "\n".join(f"cpu,host=h{j % 13},region=r2 usage={j}.125,procs={j}i {BASE + (j * 61) * SECOND}" for j in range(50))
        single.write(more)
        nodes[0].write(more)
        up_to_date(single, [nodes[0], second])
        wait_for("n2's pending buckets recomputed", lambda: listed(second)["pending_buckets"] == 0)
        # n1 back: it refreshes again. Dropped on n2, the aggregate's rows stay (n1 still keeps them).
        first.start()
        wait_for("n2 leaves cpu_1m to n1 again", lambda: listed(second)["refreshed_by"] == "n1")
        assert second.request("DELETE", "/aggregates/cpu_1m")[0] == 204
        last = "\n".join(f"cpu,host=h{j % 13},region=r3 usage={j}.5,procs={j}i {BASE + (j * 67) * SECOND}" for j in range(40))
        single.write(last)
        nodes[0].write(last)
        up_to_date(single, nodes)
        code, answer = second.request("GET", "/aggregates")
        assert code == 200 and answer["aggregates"] == []
    finally:
        stop_cluster(nodes)
        single.stop()


def aggregate_on_n1_heard_by_n0(single: RustsServer, nodes: list[ClusterNodeProcess]) -> None:
    """The data set on the single node and through n0, cpu_1m defined on the single node and n1, and a few
    background rounds, so that n0 knows that n1's aggregate reads cpu."""
    single.write(dataset())
    nodes[0].write(dataset())
    definition = json.dumps({"name": "cpu_1m", "query": DEFINITION}).encode()
    for node in (single, nodes[1]):
        assert node.request("POST", "/aggregates", definition)[0] == 201
    up_to_date(single, nodes)
    time.sleep(2.5)


def test_a_change_a_peer_missed_while_briefly_unreachable_reaches_its_aggregate(tmp_path: Path) -> None:
    """n1 stopped (SIGSTOP) during one write and continued right after: n0 could not tell n1's aggregate of
    it (the request timed out, or n1 looked down after the write's own forwards failed) and makes it up
    at the next round that reaches n1, though no round saw n1 down. (A 0.3 s peer timeout makes the write's
    forwards to n1 fail fast, before a background round finds n1 down; the aggregate's own queries are small.)"""
    (tmp_path / "single").mkdir()
    single = RustsServer(tmp_path / "single")
    nodes = start_cluster(tmp_path, "Quorum", 3, timeout=0.3)
    owner = nodes[1]
    try:
        aggregate_on_n1_heard_by_n0(single, nodes)
        late = "\n".join(f"cpu,host=h{j % 13},region=r1 usage={j}.75,procs={j}i {BASE + (j * 47) * SECOND}" for j in range(60))
        single.write(late)
        owner.process.send_signal(signal.SIGSTOP)
        try:
            nodes[0].write(late)
        finally:
            owner.process.send_signal(signal.SIGCONT)
        up_to_date(single, nodes)
    finally:
        stop_cluster(nodes)
        single.stop()


def test_a_change_a_peer_missed_reaches_its_aggregate_though_the_coordinator_restarted(tmp_path: Path) -> None:
    """n1 stopped (SIGSTOP) during a write through n0; n0 is then killed (kill -9) and started again before n1
    continues. What n0 could not tell n1's aggregate was in n0's memory only: n0 kept n1 as owed a catch-up
    on disk (AGGREGATES_OWED), so after its restart it tells n1 to recompute what its aggregate reads."""
    (tmp_path / "single").mkdir()
    single = RustsServer(tmp_path / "single")
    nodes = start_cluster(tmp_path, "Quorum", 3, timeout=0.3)
    coordinator, owner = nodes[0], nodes[1]
    try:
        aggregate_on_n1_heard_by_n0(single, nodes)
        late = "\n".join(f"cpu,host=h{j % 13},region=r2 usage={j}.125,procs={j}i {BASE + (j * 41) * SECOND}" for j in range(60))
        single.write(late)
        owner.process.send_signal(signal.SIGSTOP)
        try:
            coordinator.write(late)
            owed = json.loads((coordinator.data_dir / "AGGREGATES_OWED").read_text())
            assert owed["peers"] == ["n1"]
            coordinator.kill()
            coordinator.start()
        finally:
            owner.process.send_signal(signal.SIGCONT)
        up_to_date(single, nodes)
        wait_for("n1 no longer owed", lambda: json.loads((coordinator.data_dir / "AGGREGATES_OWED").read_text())["peers"] == [])
    finally:
        stop_cluster(nodes)
        single.stop()
