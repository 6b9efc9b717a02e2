"""The router's gathering half: every shard asked once, failover to another holder, missing shards named;
over real engines (one per node and shard) and over HTTP to a listening peer."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import pytest

from rusts.api.line_protocol import engine_parser
from cluster_fixtures import THREE_NODES
from rusts.cluster.client import NodeClient
from rusts.cluster.config import parse_cluster_config
from rusts.cluster.merge import encode_partial, merge_partials, partial_answer
from rusts.cluster.router import FetchError, gather, holder_order, http_fetcher
from rusts.cluster.sharding import Sharding, split_lines
from rusts.core.errors import QueryError
from rusts.query.executor import execute
from rusts.query.model import Query, parse_query
from rusts.storage.engine import EngineOptions, StorageEngine

TEXT = THREE_NODES
BODY = b"".join(f"cpu,host=h{i % 17} v={i},n={i % 5}i {1_000_000_000 * (i % 40)}\n".encode() for i in range(600))
QUERY = msgspec.convert(
    {"measurement": "cpu", "aggregations": [{"function": "mean", "field": "v"}, {"function": "count", "field": "*"}],
     "group_by": {"tags": ["host"]}}, Query)


class Nodes:
    def __init__(self, tmp_path: Path) -> None:
        self.sharding = Sharding(parse_cluster_config(TEXT, "cluster.toml"))
        self.engines: dict[tuple[str, int], StorageEngine] = {}
        split = split_lines(BODY, self.sharding, 1, 0)
        for shard, batch in split.shards.items():
            for node in self.sharding.owners(shard):
                engine = StorageEngine.open(EngineOptions(str(tmp_path / f"{node}-{shard}")), engine_parser)
                assert not engine.write_line_protocol(bytes(batch.body)).errors
                self.engines[(node, shard)] = engine
        self.whole = StorageEngine.open(EngineOptions(str(tmp_path / "whole")), engine_parser)
        self.whole.write_line_protocol(BODY)
        self.down: set[str] = set()
        self.asked: list[tuple[str, int]] = []
        self.lock = threading.Lock()

    def fetch(self, node: str, shard: int, query: Query) -> Any:
        with self.lock:
            self.asked.append((node, shard))
        if node in self.down:
            raise FetchError("connection refused")
        return partial_answer(self.engines[(node, shard)], query)

    def close(self) -> None:
        for engine in [*self.engines.values(), self.whole]:
            engine.close()


@pytest.fixture
def nodes(tmp_path: Path) -> Any:
    built = Nodes(tmp_path)
    yield built
    built.close()


def test_holder_order() -> None:
    assert holder_order(["n1", "n0"], "n0", lambda n: True) == ["n0", "n1"]
    assert holder_order(["n1", "n0", "n2"], "n0", lambda n: n != "n0") == ["n1", "n2", "n0"]


def test_all_up_each_shard_asked_once_and_local_first(nodes: Nodes) -> None:
    gathered = gather(QUERY, nodes.sharding, "n0", nodes.fetch)
    assert gathered.complete and sorted(gathered.partials) == [0, 1, 2]
    assert sorted(nodes.asked) == [("n0", 0), ("n0", 2), ("n1", 1)]
    merged = merge_partials(QUERY, list(gathered.partials.values()))
    assert merged == execute(nodes.whole, QUERY) or _close(merged.rows, execute(nodes.whole, QUERY).rows)


def _close(a: list[list[Any]], b: list[list[Any]]) -> bool:
    return len(a) == len(b) and all(
        x == y or (isinstance(x, float) and abs(x - y) < 1e-9 * max(1.0, abs(x))) for r, s in zip(a, b) for x, y in zip(r, s)
    )


def test_failover_to_another_holder(nodes: Nodes) -> None:
    nodes.down = {"n1"}
    gathered = gather(QUERY, nodes.sharding, "n0", nodes.fetch)
    assert gathered.complete and gathered.answered_by == {0: "n0", 1: "n2", 2: "n0"}
    assert _close(merge_partials(QUERY, list(gathered.partials.values())).rows, execute(nodes.whole, QUERY).rows)


def test_a_shard_without_any_holder_is_named(nodes: Nodes) -> None:
    nodes.down = {"n1", "n2"}
    gathered = gather(QUERY, nodes.sharding, "n0", nodes.fetch)
    assert not gathered.complete and sorted(gathered.partials) == [0, 2]
    assert gathered.missing_message() == "no holder answered for shard 1 (n1: connection refused; n2: connection refused)"


def test_query_errors_propagate(nodes: Nodes) -> None:
    bad = msgspec.structs.replace(QUERY, aggregations=[msgspec.convert({"function": "mean", "field": "nope"}, type=type(QUERY.aggregations[0]))])
    with pytest.raises(QueryError):
        merge_partials(bad, list(gather(bad, nodes.sharding, "n0", nodes.fetch).partials.values()))


def test_http_fetcher_against_a_listening_peer(nodes: Nodes) -> None:
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            seen.append(self.path)
            query = parse_query(self.rfile.read(int(self.headers["Content-Length"])))
            shard = int(self.path.split("shard=")[1])
            if query.measurement == "bad":
                status, answer = 400, b"invalid query: no such thing"
            else:
                status, answer = 200, encode_partial(partial_answer(nodes.engines[("n1", shard)], query))
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        client = NodeClient("n1", f"127.0.0.1:{server.server_address[1]}", timeout=5)
        fetch = http_fetcher({"n1": client}, lambda shard, query: partial_answer(nodes.engines[("n0", shard)], query), "n0")
        gathered = gather(QUERY, nodes.sharding, "n0", fetch, healthy=lambda node: node != "n2")
        assert gathered.answered_by == {0: "n0", 1: "n1", 2: "n0"} and seen == ["/internal/query?shard=1"]
        assert _close(merge_partials(QUERY, list(gathered.partials.values())).rows, execute(nodes.whole, QUERY).rows)
        with pytest.raises(QueryError, match="invalid query: no such thing"):
            fetch("n1", 1, msgspec.structs.replace(QUERY, measurement="bad"))
        with pytest.raises(FetchError, match="no client for this node"):
            fetch("n2", 1, QUERY)
        server.shutdown()
        server.server_close()
        client.close()
        with pytest.raises(FetchError, match="unreachable|connection lost"):
            fetch("n1", 1, QUERY)
    finally:
        server.server_close()
