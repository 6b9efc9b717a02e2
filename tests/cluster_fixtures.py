"""A three-node cluster.toml shared by the cluster tests (replication factor 2, three shards)."""

THREE_NODES = """\
node_id = "n0"
cluster_name = "t"
replication_mode = "Quorum"
replication_factor = 2
shard_count = 3
sharding_strategy = "BySeries"
[[nodes]]
id = "n0"
address = "127.0.0.1:9000"
shards = [0]
replica_shards = [2]
[[nodes]]
id = "n1"
address = "127.0.0.1:9001"
shards = [1]
replica_shards = [0]
[[nodes]]
id = "n2"
address = "127.0.0.1:9002"
shards = [2]
replica_shards = [1]
"""


# ---- real `rusts --cluster` processes ----

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from servers import PACKAGE_ROOT, RustsServer, free_port


def cluster_toml(
    node_id: str, ports: list[int], mode: str, replication_factor: int, strategy: str = "BySeries", extra: str = ""
) -> str:
    """Three nodes, three shards: node i owns shard i and keeps replicas of the next replication_factor - 1
    shards before it (rf 2: shard i - 1; rf 3: every other shard)."""
    nodes = []
    for i, port in enumerate(ports):
        replicas = sorted((i - k) % len(ports) for k in range(1, replication_factor))
        nodes.append(
            f'[[nodes]]\nid = "n{i}"\naddress = "127.0.0.1:{port}"\nshards = [{i}]\nreplica_shards = {replicas}\n'
        )
    window = "shard_window_secs = 3600\n" if strategy == "ByTime" else ""
    return (
        f'node_id = "{node_id}"\ncluster_name = "test"\nreplication_mode = "{mode}"\n'
        f"replication_factor = {replication_factor}\nshard_count = {len(ports)}\n"
        f'sharding_strategy = "{strategy}"\n{window}{extra}' + "".join(nodes)
    )


class ClusterNodeProcess(RustsServer):
    """`python -m rusts.server.cli --cluster cluster.toml` on fixed ports (restartable on the same ones). The WAL
    is written at every write (os_default) so that a kill -9 keeps what the node acknowledged."""

    def __init__(
        self, directory: Path, node_id: str, toml_text: str, port: int, timeout: float, durability: str = "os_default",
        auth: str = "{enabled: false}", in_yml: bool = False,
    ) -> None:
        """`in_yml`: the cluster as a `cluster:` section of rusts.yml (the same keys as cluster.toml), no --cluster."""
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.node_id = node_id
        self.port = port
        self.pg_port = free_port()
        self.timeout = timeout
        self.data_dir = directory / "data"
        self.config = directory / "rusts.yml"
        self.cluster = directory / "cluster.toml"
        self.cluster.write_text(toml_text)
        self.in_yml = in_yml
        section = f"cluster: {json.dumps(tomllib.loads(toml_text))}\n" if in_yml else ""
        self.config.write_text(
            f"server: {{host: 127.0.0.1, port: {port}}}\n"
            f"storage: {{data_dir: '{self.data_dir}', wal_durability: {durability}}}\n"
            f"postgres: {{host: 127.0.0.1, port: {self.pg_port}}}\n"
            f"auth: {auth}\n"
            "logging: {level: warn}\n" + section
        )
        self.log = directory / "output.log"
        self.start(wait=False)

    def start(self, wait: bool = True) -> None:
        env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rusts.server.cli", "--config", str(self.config),
                 *([] if self.in_yml else ["--cluster", str(self.cluster)]), "--cluster-timeout", f"{self.timeout:g}"],
                cwd=self.directory, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        if wait:
            self.wait_ready()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """kill -9, and reap it."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def status(self) -> dict[str, Any]:
        code, body = self.request("GET", "/cluster/status")
        assert code == 200, body
        return dict(body)

    def pending_hints(self) -> int:
        return sum(int(node["pending_hints"]) for node in self.status()["nodes"])

    def fingerprint(self, shard: int) -> dict[str, Any]:
        code, body = self.request("GET", f"/internal/fingerprint?shard={shard}")
        assert code == 200, body
        return dict(body)

    def query(self, query: dict[str, Any]) -> tuple[int, Any]:
        return self.request("POST", "/query?epoch=ns", json.dumps(query).encode())


def start_cluster(
    directory: Path, mode: str, replication_factor: int, strategy: str = "BySeries", timeout: float = 2.0,
    auth: str = "{enabled: false}", extra: str = "", in_yml: tuple[bool, bool, bool] = (False, False, False),
) -> list[ClusterNodeProcess]:
    """Three nodes started together (each waits for none of the others); `extra`: more top-level cluster.toml lines."""
    ports = [free_port() for _ in range(3)]
    nodes = [
        ClusterNodeProcess(
            directory / f"n{i}", f"n{i}", cluster_toml(f"n{i}", ports, mode, replication_factor, strategy, extra), port, timeout,
            auth=auth, in_yml=in_yml[i],
        )
        for i, port in enumerate(ports)
    ]
    try:
        for node in nodes:
            node.wait_ready()
    except BaseException:
        stop_cluster(nodes)
        raise
    return nodes


def stop_cluster(nodes: list[ClusterNodeProcess]) -> None:
    for node in nodes:
        if node.process.poll() is None:
            node.process.send_signal(signal.SIGCONT)
    for node in nodes:
        node.stop()


def wait_for(what: str, check: Any, limit: float = 60.0) -> None:
    """Poll `check()` until it is true; AssertionError naming `what` after `limit` seconds (a hang guard, not a timing claim)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not reached in {limit:g} s")
