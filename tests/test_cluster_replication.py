"""Forwarding writes over HTTP to real listening peers (keep-alive, timeouts, dead peers) and the replication
verdict per mode, with hints kept for holders that missed a write."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rusts.cluster.client import NodeClient, Outcome
from rusts.cluster.config import parse_cluster_config
from rusts.cluster.handoff import HintStore
from rusts.cluster.membership import HealthTracker
from rusts.cluster.replication import Replicator, decide, required_acks
from rusts.cluster.sharding import Sharding, split_lines


class Peer:
    """A stand-in node: answers POST /internal/write, records what it stored and on which connection."""

    def __init__(self) -> None:
        self.stored: list[tuple[str, bytes]] = []
        self.connections: set[int] = set()
        self.behaviour = "store"  # store | fail | reject | slow | close
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.sockets: list[Any] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with peer.lock:
                    peer.connections.add(self.client_address[1])
                    peer.sockets.append(self.connection)
                behaviour = peer.behaviour
                if behaviour == "slow":
                    peer.release.wait(10)
                if behaviour in ("close", "close_once"):
                    if behaviour == "close_once":
                        peer.behaviour = "store"
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                status = {"store": 204, "slow": 204, "fail": 503, "reject": 400}[behaviour]
                if status == 204:
                    with peer.lock:
                        peer.stored.append((self.path, body))
                answer = b"" if status == 204 else b"no room" if status == 503 else b"bad line"
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    self.close_connection = True  # the client gave up (timed out) before the answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Down as a killed node is: no listener, established connections cut."""
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            for sock in self.sockets:
                try:
                    sock.shutdown(2)
                except OSError:
                    pass


@pytest.fixture
def peers() -> Any:
    started = [Peer() for _ in range(3)]
    yield started
    for peer in started:
        peer.stop()


def test_client_keeps_the_connection_and_encodes_precision(peers: list[Peer]) -> None:
    client = NodeClient("n1", peers[0].address, timeout=5)
    for shard in range(5):
        outcome = client.write(shard, b"cpu v=1 1\n", 1_000_000)
        assert outcome.stored and outcome.status == 204 and outcome.error == ""
    assert [path for path, _ in peers[0].stored] == [f"/internal/write?shard={s}&precision=ms" for s in range(5)]
    assert len(peers[0].connections) == 1
    with pytest.raises(ValueError, match="no precision name for 7 ns per unit"):
        client.write(0, b"x", 7)
    client.close()


def test_client_outcomes_for_failures(peers: list[Peer]) -> None:
    client = NodeClient("n1", peers[0].address, timeout=0.5)
    peers[0].behaviour = "fail"
    outcome = client.write(1, b"cpu v=1 1\n")
    assert (outcome.stored, outcome.retriable, outcome.status, outcome.error) == (False, True, 503, "HTTP 503: no room")
    peers[0].behaviour = "reject"
    outcome = client.write(1, b"cpu v=1 1\n")
    assert (outcome.stored, outcome.retriable, outcome.status) == (False, False, 400)
    peers[0].behaviour = "slow"
    outcome = client.write(1, b"cpu v=1 1\n")
    assert (outcome.stored, outcome.retriable, outcome.status, outcome.error) == (False, True, None, "timed out after 0.5s")
    peers[0].release.set()
    peers[0].behaviour = "store"
    assert client.write(1, b"cpu v=2 2\n").stored  # a fresh connection after the timeout
    peers[0].stop()
    outcome = client.write(1, b"cpu v=3 3\n")
    assert not outcome.stored and outcome.retriable and outcome.status is None
    assert outcome.error.startswith(("unreachable", "connection lost"))


def test_client_retries_once_when_the_peer_closed_an_idle_connection(peers: list[Peer]) -> None:
    client = NodeClient("n1", peers[0].address, timeout=5)
    assert client.write(0, b"a 1\n").stored
    peers[0].behaviour = "close"
    outcome = client.write(0, b"b 2\n")
    assert not outcome.stored and outcome.error.startswith("connection lost")
    peers[0].behaviour = "store"
    assert client.write(0, b"c 3\n").stored
    peers[0].behaviour = "close_once"  # drops the kept connection: the client sends again on a new one
    assert client.write(0, b"d 4\n").stored
    assert [body for _, body in peers[0].stored] == [b"a 1\n", b"c 3\n", b"d 4\n"]


def ok(node: str) -> Outcome:
    return Outcome(node, True, False, 204, "")


def down(node: str) -> Outcome:
    return Outcome(node, False, True, None, "timed out after 1s")


def test_required_acks() -> None:
    assert [required_acks("Sync", n) for n in (1, 2, 3)] == [1, 2, 3]
    assert [required_acks("Quorum", n) for n in (1, 2, 3, 4, 5)] == [1, 2, 2, 3, 3]
    assert [required_acks("Async", n) for n in (1, 2, 3)] == [1, 1, 1]


def test_decide_names_the_shards_that_fell_short() -> None:
    outcomes = {0: [ok("a"), ok("b"), ok("c")], 1: [ok("a"), down("b"), ok("c")], 2: [down("a"), down("b"), ok("c")], 3: [down("a"), down("b"), down("c")]}
    holders = {0: 3, 1: 3, 2: 3, 3: 3}
    assert [s.shard for s in decide("Sync", outcomes, holders)] == [1, 2, 3]
    assert [s.shard for s in decide("Quorum", outcomes, holders)] == [2, 3]
    assert [s.shard for s in decide("Async", outcomes, holders)] == [3]
    short = decide("Quorum", outcomes, holders)[0]
    assert short.describe() == "shard 2 stored on 1 of 2 holders needed (a: timed out after 1s; b: timed out after 1s)"
    assert [s.shard for s in decide("Sync", {5: [ok("a")]}, {5: 2})] == [5]  # a missing outcome counts as not stored


def cluster(mode: str, addresses: list[str], shards: int = 3) -> Sharding:
    text = f'node_id = "n0"\ncluster_name = "t"\nreplication_mode = "{mode}"\nreplication_factor = 3\nshard_count = {shards}\nsharding_strategy = "BySeries"\n'
    for n, address in enumerate(addresses):
        owned = [s for s in range(shards) if s % 3 == n]
        text += f'[[nodes]]\nid = "n{n}"\naddress = "{address}"\nshards = {owned}\nreplica_shards = {[s for s in range(shards) if s % 3 != n]}\n'
    return Sharding(parse_cluster_config(text, "cluster.toml"))


BODY = b"".join(f"cpu,host=h{i} v={i} {i}\n".encode() for i in range(30))


def replicator(
    mode: str, peers: list[Peer], tmp_path: Path, local: list[tuple[int, bytes]], health: HealthTracker | None = None, deadline: float | None = None, shards: int = 3
) -> Replicator:
    sharding = cluster(mode, [p.address for p in peers], shards)
    clients = {f"n{n}": NodeClient(f"n{n}", peers[n].address, timeout=0.5) for n in (1, 2)}

    def local_write(shard: int, body: bytes, multiplier: int) -> Outcome:
        local.append((shard, body))
        return Outcome("n0", True, False, None, "")

    return Replicator("n0", mode, sharding, clients, local_write, HintStore(str(tmp_path / "hints")), health=health, deadline=deadline)  # type: ignore[arg-type]


def test_replicate_everywhere_when_all_are_up(peers: list[Peer], tmp_path: Path) -> None:
    local: list[tuple[int, bytes]] = []
    rep = replicator("Sync", peers, tmp_path, local)
    split = split_lines(BODY, rep.sharding, 1, 0)
    decision = rep.replicate(split, 1)
    assert decision.ok and decision.hinted == [] and decision.message() == "stored"
    expected = sorted((s, bytes(b.body)) for s, b in split.shards.items())
    assert sorted(local) == expected
    for peer in peers[1:]:
        assert sorted((int(p.split("shard=")[1].split("&")[0]), b) for p, b in peer.stored) == expected
    rep.close()


@pytest.mark.parametrize(("mode", "ok"), [("Sync", False), ("Quorum", True), ("Async", True)])
def test_one_peer_down_gets_hints(peers: list[Peer], tmp_path: Path, mode: str, ok: bool) -> None:
    local: list[tuple[int, bytes]] = []
    rep = replicator(mode, peers, tmp_path, local)
    peers[2].stop()
    split = split_lines(BODY, rep.sharding, 1, 0)
    decision = rep.replicate(split, 1)
    assert decision.ok is ok
    if not ok:
        assert decision.short_shards == sorted(split.shards)
        assert decision.message().startswith("replication fell short: shard 0 stored on 2 of 3 holders needed (n2: ")
    rep.close()  # waits for Async's background sends
    hints = rep.hints.pending("n2")
    assert sorted((h.shard, h.body) for h in hints) == sorted((s, bytes(b.body)) for s, b in split.shards.items())
    assert rep.hints.pending("n1") == []


def test_quorum_falls_short_with_two_peers_down_and_a_rejection_is_not_hinted(peers: list[Peer], tmp_path: Path) -> None:
    rep = replicator("Quorum", peers, tmp_path, [])
    peers[1].behaviour = "fail"
    peers[2].behaviour = "reject"
    decision = rep.replicate(split_lines(BODY, rep.sharding, 1, 0), 1)
    assert not decision.ok and decision.short_shards == [0, 1, 2]
    assert "n1: HTTP 503: no room" in decision.message() and "n2: HTTP 400: bad line" in decision.message()
    assert sorted(n for n, _ in decision.hinted) == ["n1"] * 3
    assert rep.hints.pending("n2") == []
    rep.close()


def test_a_slow_peer_does_not_stall_past_the_timeout(peers: list[Peer], tmp_path: Path) -> None:
    rep = replicator("Quorum", peers, tmp_path, [])
    peers[2].behaviour = "slow"
    decision = rep.replicate(split_lines(BODY, rep.sharding, 1, 0), 1)
    peers[2].release.set()
    assert decision.ok
    assert {n for n, _ in decision.hinted} == {"n2"}
    rep.close()


def test_the_deadline_bounds_a_write_queued_behind_a_slow_peer(peers: list[Peer], tmp_path: Path) -> None:
    """Nine shards: the slow peer's sends queue on its one connection; the deadline answers the write
    and hints every shard that peer has not stored."""
    rep = replicator("Sync", peers, tmp_path, [], deadline=1.0, shards=9)
    peers[2].behaviour = "slow"
    split = split_lines(BODY, rep.sharding, 1, 0)
    decision = rep.replicate(split, 1)
    assert not decision.ok and decision.short_shards == sorted(split.shards)
    assert "n2: no answer within 1s" in decision.message()  # sends still queued at the deadline
    assert sorted(s for n, s in decision.hinted if n == "n2") == sorted(split.shards)
    peers[2].release.set()
    rep.close()
    assert sorted(h.shard for h in rep.hints.pending("n2")) == sorted(split.shards)


def test_a_node_seen_down_is_not_sent_to_and_is_hinted(peers: list[Peer], tmp_path: Path) -> None:
    health = HealthTracker(["n0", "n1", "n2"], down_after=1)
    health.record("n2", False, "refused")
    rep = replicator("Sync", peers, tmp_path, [], health=health)
    split = split_lines(BODY, rep.sharding, 1, 0)
    decision = rep.replicate(split, 1)
    assert not decision.ok and "n2: node is down (health checks); hinted" in decision.message()
    assert peers[2].connections == set() and peers[2].stored == []
    assert sorted(s for _, s in decision.hinted) == sorted(split.shards)
    assert health.snapshot()["n1"].state == "up"  # sends are recorded
    rep.close()


def test_writes_to_a_node_with_pending_hints_queue_behind_them(peers: list[Peer], tmp_path: Path) -> None:
    """v1 is hinted while n2 is away; n2 returns and v2 is written before the hint is delivered: v2
    must not reach n2 before v1, or the late hint would overwrite it."""
    rep = replicator("Quorum", peers, tmp_path, [])
    peers[2].behaviour = "fail"  # 503: a reason that may pass, so hinted
    first = split_lines(b"cpu,host=a v=1 5\n", rep.sharding, 1, 0)
    assert rep.replicate(first, 1).ok
    assert len(rep.hints.pending("n2")) == 1
    peers[2].behaviour = "store"
    second = split_lines(b"cpu,host=a v=2 5\n", rep.sharding, 1, 0)
    decision = rep.replicate(second, 1)
    assert decision.ok and peers[2].stored == []  # not sent ahead of the hint
    assert [o.error for o in decision.outcomes[next(iter(second.shards))] if o.node_id == "n2"] == [
        "node is catching up on hinted writes; hinted behind them"
    ]
    client = rep.clients["n2"]
    assert rep.hints.deliver("n2", lambda h: client.write(h.shard, h.body, h.multiplier).stored) == 2
    assert [b for _, b in peers[2].stored] == [b"cpu,host=a v=1 5\n", b"cpu,host=a v=2 5\n"]
    third = split_lines(b"cpu,host=a v=3 5\n", rep.sharding, 1, 0)
    assert rep.replicate(third, 1).ok and [b for _, b in peers[2].stored][-1] == b"cpu,host=a v=3 5\n"  # caught up: sent
    rep.close()


def test_a_delete_goes_to_every_holder_of_every_shard_and_is_hinted_behind_writes(peers: list[Peer], tmp_path: Path) -> None:
    local: list[tuple[int, bytes]] = []
    rep = replicator("Quorum", peers, tmp_path, local)
    assert rep.replicate_delete(b"delete-op").ok
    assert sorted(local) == [(s, b"delete-op") for s in range(3)]
    assert sorted(p for p, _ in peers[1].stored) == [f"/internal/delete?shard={s}" for s in range(3)]
    peers[2].stop()
    assert rep.replicate(split_lines(BODY, rep.sharding, 1, 0), 1).ok  # Quorum: two of three holders
    decision = rep.replicate_delete(b"second")
    assert decision.ok and sorted(shard for node, shard in decision.hinted if node == "n2") == [0, 1, 2]
    kinds = [(h.is_delete, h.body == b"second") for h in rep.hints.pending("n2")]
    assert kinds[-3:] == [(True, True)] * 3 and not any(is_delete for is_delete, _ in kinds[:-3])
    rep.close()
