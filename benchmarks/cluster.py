"""A 3-node cluster against one node on this machine: ingest, query latency, replication overhead, scatter-gather.

Every system is real `rusts` processes on 127.0.0.1 (python -m rusts.server.cli from this checkout), each
with its own data directory and wal_durability os_default (what survives a kill -9):

    single     one node
    rf1        3 nodes, 3 shards BySeries, replication_factor 1 (sharding and coordination, no copies)
    rf2        3 nodes, 3 shards BySeries, replication_factor 2, Quorum (= every holder with 2 copies)
    rf2-async  as rf2, Async (acknowledged by the first holder, the second copy in the background)

Data: benchmarks/query.py's trips-like month (fixed seed 42, 120 series, 13 fields + a string),
sent as line protocol in batches of 5,000 lines.

Figures (after a warm-up of 2 batches that creates every series and starts the parse workers):
- ingest from 1 client into node 0, and from 3 clients (one per node; the single node gets all three):
  rows/s, and the CPU seconds every process of the system used per 100k rows (user + system of each
  node and its parse workers, from /proc): the cluster's coordination and copies cost CPU, which on
  a 2-core machine is throughput;
- queries: median latency of benchmarks/query.py's six queries (5 runs after a warm-up) through node 0;
  on the cluster each is a scatter-gather over 3 shards, so the difference to one node is its cost.

This machine has 2 cores shared by every process, so a cluster cannot be faster than one node here:
the figures say what the cluster costs, not how it scales.
`--coordinator` prints instead what the coordinator spends per 5,000-line batch before forwarding, in this
process (no servers): the engine's parse, the cluster-wide type check and schema registration, the split by
shard (with the timestamps continuous aggregates hear).
Run: python benchmarks/cluster.py [--rows N] [--systems single,rf1,rf2,rf2-async] [--coordinator]
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import rusts  # noqa: E402

from query import QUERIES, trips_lines  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 5_000
WARMUP_BATCHES = 2
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cluster_toml(node_id: str, ports: list[int], mode: str, factor: int) -> str:
    nodes = "".join(
        f'[[nodes]]\nid = "n{i}"\naddress = "127.0.0.1:{port}"\nshards = [{i}]\n'
        f"replica_shards = {sorted((i - k) % len(ports) for k in range(1, factor))}\n"
        for i, port in enumerate(ports)
    )
    return (
        f'node_id = "{node_id}"\ncluster_name = "bench"\nreplication_mode = "{mode}"\nreplication_factor = {factor}\n'
        f'shard_count = {len(ports)}\nsharding_strategy = "BySeries"\n' + nodes
    )


class Node:
    def __init__(self, directory: str, port: int, cluster: str | None) -> None:
        os.makedirs(directory)
        self.port = port
        config = os.path.join(directory, "rusts.yml")
        with open(config, "w") as file:
            file.write(
                f"server: {{host: 127.0.0.1, port: {port}, request_timeout: 120}}\n"
                f"storage: {{data_dir: '{directory}/data', wal_durability: os_default}}\n"
                "postgres: {enabled: false}\nlogging: {level: warn}\n"
            )
        command = [sys.executable, "-m", "rusts.server.cli", "--config", config]
        if cluster is not None:
            path = os.path.join(directory, "cluster.toml")
            with open(path, "w") as file:
                file.write(cluster)
            command += ["--cluster", path, "--cluster-timeout", "30"]
        self.log = open(os.path.join(directory, "output.log"), "wb")
        self.process = subprocess.Popen(command, cwd=directory, env={**os.environ, "PYTHONPATH": ROOT},
                                        stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"node on {self.port} exited")
            try:
                if request(self.port, "GET", "/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"node on {self.port} not ready")

    def cpu_secs(self) -> float:
        """User + system seconds of the node and its live children (the line-protocol parse workers)."""
        total = 0.0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as file:
                    fields = file.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(entry) == self.process.pid or int(fields[1]) == self.process.pid:
                total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        return total

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def request(port: int, method: str, path: str, body: bytes | None = None, connection: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
    response = conn.getresponse()
    data = response.read()
    if connection is None:
        conn.close()
    return response.status, data


def start(kind: str, workdir: str) -> list[Node]:
    if kind == "single":
        nodes = [Node(os.path.join(workdir, "single"), free_port(), None)]
    else:
        factor, mode = {"rf1": (1, "Quorum"), "rf2": (2, "Quorum"), "rf2-async": (2, "Async")}[kind]
        ports = [free_port() for _ in range(3)]
        nodes = [Node(os.path.join(workdir, f"{kind}-n{i}"), port, cluster_toml(f"n{i}", ports, mode, factor))
                 for i, port in enumerate(ports)]
    try:
        for node in nodes:
            node.wait_ready()
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


def ingest(nodes: list[Node], batches: list[bytes], clients: int) -> tuple[float, float]:
    """Wall seconds and CPU seconds of every process to write all batches from `clients` threads
    (client i writes to node i % len(nodes))."""
    cpu_before = sum(node.cpu_secs() for node in nodes)
    failures: list[str] = []

    def client(index: int) -> None:
        port = nodes[index % len(nodes)].port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        for body in batches[index::clients]:
            status, answer = request(port, "POST", "/write", body, conn)
            if status != 204:
                failures.append(f"{status} {answer[:200]!r}")
        conn.close()

    began = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    if failures:
        raise SystemExit(f"{len(failures)} writes failed, first: {failures[0]}")
    return wall, sum(node.cpu_secs() for node in nodes) - cpu_before


def query_medians(node: Node, repeats: int) -> dict[str, tuple[float, Any]]:
    results: dict[str, tuple[float, Any]] = {}
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=300)
    for name, body in QUERIES.items():
        status, answer = request(node.port, "POST", "/query?epoch=ns", body, conn)
        if status != 200:
            raise SystemExit(f"{name}: {status} {answer[:300]!r}")
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            request(node.port, "POST", "/query?epoch=ns", body, conn)
            times.append(time.perf_counter() - began)
        results[name] = (statistics.median(times) * 1000, json.loads(answer)["rows"][:3])
    conn.close()
    return results


def same(left: Any, right: Any) -> bool:
    """Equal, floats to 12 digits (a sum's last digits depend on the order rows are added in)."""
    if isinstance(left, float) and isinstance(right, float):
        return abs(left - right) <= 1e-12 * max(abs(left), abs(right), 1.0)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right))
    return bool(left == right)


def coordinator_costs(repeats: int) -> None:
    """Median ms per 5,000-line trips batch of each step the coordinator does before forwarding."""
    from rusts.api.line_protocol import engine_parser, parse_in_process
    from rusts.cluster.config import parse_cluster_config
    from rusts.cluster.schema import SchemaMirror
    from rusts.cluster.sharding import Sharding, split_lines
    from rusts.storage.engine import EngineOptions, StorageEngine

    body = ("\n".join(trips_lines(BATCH, 42)) + "\n").encode()
    ports = [9000, 9001, 9002]
    sharding = Sharding(parse_cluster_config(cluster_toml("n0", ports, "Quorum", 2), "cluster.toml"))
    directory = tempfile.mkdtemp(prefix="rusts-coordinator-bench-")
    front = StorageEngine.open(EngineOptions(data_dir=directory), engine_parser)
    try:
        mirror = SchemaMirror(front)

        def timed(step: Any) -> float:
            runs = []
            for _ in range(repeats):
                started = time.perf_counter()
                step()
                runs.append(time.perf_counter() - started)
            return statistics.median(runs) * 1000

        batches, errors = parse_in_process(body, 1, 0)
        mirror.register(mirror.admit(batches, errors))  # the series exist, as after the first batch
        print(f"coordinator, per {BATCH}-line batch ({len(body)} bytes), median of {repeats}:")
        print(f"  parse (engine parser, in process)   {timed(lambda: parse_in_process(body, 1, 0)):8.1f} ms")
        print(f"  type check + schema registration    {timed(lambda: mirror.register(mirror.admit(batches, errors))):8.1f} ms")
        print(f"  split by shard                      {timed(lambda: split_lines(body, sharding, 1, 0)):8.1f} ms")
        print(f"  split by shard, with timestamps     {timed(lambda: split_lines(body, sharding, 1, 0, track_times=True)):8.1f} ms")
    finally:
        front.close()
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--systems", default="single,rf1,rf2,rf2-async")
    parser.add_argument("--coordinator", action="store_true", help="only the coordinator's per-batch costs, in process")
    args = parser.parse_args()
    systems = args.systems.split(",")
    print(f"rusts {rusts.__version__}, compiled={rusts.COMPILED}, python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    if args.coordinator:
        coordinator_costs(max(args.repeats, 7))
        return
    lines = trips_lines(args.rows, 42)
    batches = ["\n".join(lines[i : i + BATCH]).encode() for i in range(0, len(lines), BATCH)]
    half = len(batches) // 2
    workdir = tempfile.mkdtemp(prefix="rusts-cluster-bench-")
    ingest_rows: list[tuple[str, float, float, float, float]] = []
    latencies: dict[str, dict[str, float]] = {}
    answers: dict[str, dict[str, Any]] = {}
    try:
        for kind in systems:
            nodes = start(kind, workdir)
            try:
                ingest(nodes, batches[:WARMUP_BATCHES], 1)  # series created, workers and code paths warm
                one_wall, one_cpu = ingest(nodes, batches[WARMUP_BATCHES:half], 1)
                many_wall, many_cpu = ingest(nodes, batches[half:], 3)
                if kind.endswith("async"):
                    time.sleep(2)  # the background copies land before the queries (Async reads may trail writes)
                rows_one = sum(b.count(b"\n") + 1 for b in batches[WARMUP_BATCHES:half])
                rows_many = sum(b.count(b"\n") + 1 for b in batches[half:])
                ingest_rows.append((kind, rows_one / one_wall, one_cpu / rows_one * 1e5, rows_many / many_wall, many_cpu / rows_many * 1e5))
                print(f"{kind}: ingested; 1 client {rows_one / one_wall:,.0f} rows/s, 3 clients {rows_many / many_wall:,.0f} rows/s", flush=True)
                measured = query_medians(nodes[0], args.repeats)
                latencies[kind] = {name: ms for name, (ms, _) in measured.items()}
                answers[kind] = {name: rows for name, (_, rows) in measured.items()}
            finally:
                for node in nodes:
                    node.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{args.rows:,} rows, batches of {BATCH:,} lines")
    print(f"{'system':<10} {'1 client rows/s':>16} {'CPU s/100k rows':>16} {'3 clients rows/s':>17} {'CPU s/100k rows':>16}")
    for kind, one, one_cpu, many, many_cpu in ingest_rows:
        print(f"{kind:<10} {one:>16,.0f} {one_cpu:>16.2f} {many:>17,.0f} {many_cpu:>16.2f}")
    figures = {kind: (one, one_cpu, many, many_cpu) for kind, one, one_cpu, many, many_cpu in ingest_rows}
    if "rf1" in figures and "rf2" in figures:
        rf1, rf2 = figures["rf1"], figures["rf2"]
        print(f"replication factor 2 against 1: rows/s x{rf2[0] / rf1[0]:.2f} (1 client), x{rf2[2] / rf1[2]:.2f} (3 clients); "
              f"CPU per row x{rf2[1] / rf1[1]:.2f}, x{rf2[3] / rf1[3]:.2f}")
    if "single" in figures and "rf1" in figures:
        one, rf1 = figures["single"], figures["rf1"]
        print(f"coordination (rf1 against one node): CPU per row x{rf1[1] / one[1]:.2f} (1 client), x{rf1[3] / one[3]:.2f} (3 clients)")
    print(f"\n{'query (ms, median)':<38}" + "".join(f"{kind:>11}" for kind in systems))
    for name in QUERIES:
        print(f"{name:<38}" + "".join(f"{latencies[kind][name]:>11.1f}" for kind in systems))
    reference = systems[0]
    for kind in systems[1:]:
        differing = [name for name in QUERIES if not same(answers[kind][name], answers[reference][name])]
        if differing:
            print(f"note: {kind} answered differently from {reference} in the first rows of: {', '.join(differing)}")


if __name__ == "__main__":
    main()
