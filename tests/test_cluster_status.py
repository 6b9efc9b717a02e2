"""Membership, health tracking from real probes, and the /cluster/status body."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec

from cluster_fixtures import THREE_NODES
from rusts.cluster.client import NodeClient
from rusts.cluster.config import parse_cluster_config
from rusts.cluster.handoff import HintStore
from rusts.cluster.membership import HealthTracker, StaticMembership
from rusts.cluster.status import cluster_status, encode_status

TEXT = THREE_NODES


class Health(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        answer = b'{"status":"ok"}'
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


def test_health_from_probes_and_status(tmp_path: Path) -> None:
    config = parse_cluster_config(TEXT, "cluster.toml")
    membership = StaticMembership(config)
    assert membership.node_id == "n0" and membership.version() == 1
    assert [n.id for n in membership.nodes()] == ["n0", "n1", "n2"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    dead = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    dead_port = dead.server_address[1]
    dead.server_close()  # a port nobody listens on
    clients = {
        "n1": NodeClient("n1", f"127.0.0.1:{server.server_address[1]}", timeout=2),
        "n2": NodeClient("n2", f"127.0.0.1:{dead_port}", timeout=2),
    }
    health = HealthTracker(["n0", "n1", "n2"], down_after=2)
    assert health.healthy("n2") and health.snapshot()["n2"].state == "unknown"
    health.probe(clients)
    assert health.snapshot()["n1"].state == "up" and health.snapshot()["n2"].state == "unknown"
    health.probe(clients)
    assert health.snapshot()["n2"].state == "down" and not health.healthy("n2") and health.healthy("n1")
    hints = HintStore(str(tmp_path / "hints"))
    hints.append("n2", 2, b"cpu v=1 1\n")
    hints.append("n2", 1, b"cpu v=2 2\n")
    status = msgspec.json.decode(encode_status(cluster_status(config, membership, health, hints)))
    assert status["cluster_name"] == "t" and status["replication_mode"] == "Quorum" and status["membership_version"] == 1
    by_id = {n["id"]: n for n in status["nodes"]}
    assert by_id["n0"]["health"] == "up" and by_id["n0"]["shards"] == [0] and by_id["n0"]["replica_shards"] == [2]
    assert by_id["n1"]["health"] == "up" and by_id["n1"]["last_seen"] is not None and by_id["n1"]["pending_hints"] == 0
    assert by_id["n2"]["health"] == "down" and by_id["n2"]["failures"] == 2 and by_id["n2"]["last_error"].startswith("unreachable")
    assert (by_id["n2"]["pending_hints"], by_id["n2"]["pending_hint_bytes"]) == (2, 20)
    assert status["shards_without_a_healthy_holder"] == []
    health.record("n1", False, "timed out after 2s")
    health.record("n1", False, "timed out after 2s")
    status = cluster_status(config, membership, health, hints)
    assert status.shards_without_a_healthy_holder == [1]  # held by n1 and n2, both down
    health.record("n2", True)
    assert health.healthy("n2") and cluster_status(config, membership, health, hints).shards_without_a_healthy_holder == []
    server.shutdown()
    server.server_close()
    hints.close()
