"""`rusts --cluster` on the command line: checked with --check-config, bad files and bad usage exit 2 with one line."""

from pathlib import Path

import pytest

from cluster_fixtures import THREE_NODES
from rusts.server.cli import EXIT_BAD_CONFIG, EXIT_OK, main


def test_check_config_checks_the_cluster_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    good = tmp_path / "cluster.toml"
    good.write_text(THREE_NODES)
    assert main(["--check-config", "--cluster", str(good)]) == EXIT_OK
    assert f"cluster config OK: {good}" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text(THREE_NODES.replace("shards = [1]", "shards = [7]"))
    assert main(["--check-config", "--cluster", str(bad)]) == EXIT_BAD_CONFIG
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: {bad}:") and "nodes[1].shards" in error and "out of range" in error, error
    assert len(error.splitlines()) == 1


def test_a_missing_cluster_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["--check-config", "--cluster", str(tmp_path / "nope.toml")]) == EXIT_BAD_CONFIG
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "nope.toml" in error and len(error.splitlines()) == 1, error


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cluster-timeout", "5"], "--cluster-timeout only goes with --cluster or a cluster: section in rusts.yml"),
        (["--cluster", "c.toml", "--cluster-timeout", "0"], "--cluster-timeout must be more than 0 seconds"),
        (["--cluster", "c.toml", "--generate-config", "-"], "does not read --cluster"),
    ],
)
def test_bad_usage(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == EXIT_BAD_CONFIG
    assert message in capsys.readouterr().err


YML_CLUSTER = """\
cluster:
  node_id: n0
  cluster_name: t
  replication_mode: Quorum
  replication_factor: 2
  shard_count: 3
  sharding_strategy: BySeries
  nodes:
    - {id: n0, address: "127.0.0.1:9000", shards: [0], replica_shards: [2]}
    - {id: n1, address: "127.0.0.1:9001", shards: [1], replica_shards: [0]}
    - {id: n2, address: "127.0.0.1:9002", shards: [2], replica_shards: [1]}
"""


def test_a_cluster_section_in_rusts_yml_is_checked_like_cluster_toml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rusts.cluster.config import parse_cluster_config
    from rusts.config.file import load_config

    monkeypatch.chdir(tmp_path)
    good = tmp_path / "n0.yml"
    good.write_text("server: {port: 9000}\n" + YML_CLUSTER)
    assert main(["--check-config", "--config", str(good)]) == EXIT_OK
    assert f"cluster config OK: {good} (cluster:)" in capsys.readouterr().out
    # The same settings as the cluster.toml of the same cluster.
    assert load_config(str(good))[0].cluster == parse_cluster_config(THREE_NODES, "cluster.toml")
    toml = tmp_path / "cluster.toml"
    toml.write_text(THREE_NODES)
    assert main(["--check-config", "--config", str(good), "--cluster", str(toml)]) == EXIT_BAD_CONFIG
    assert capsys.readouterr().err.strip() == f"error: {good}: cluster: given here and by --cluster {toml}: keep one of them"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("  shard_count: 3\n", "  shard_count: 3\n  replicas: 2\n",
         "cluster.replicas: unknown key; expected one of: node_id, cluster_name, replication_mode, replication_factor, "
         "shard_count, sharding_strategy, shard_window_secs, max_hint_bytes_per_peer, anti_entropy_quiet_secs, nodes"),
        ("shards: [1], replica", "shard: [1], replica",
         "cluster.nodes[1].shard: unknown key; expected one of: id, address, shards, replica_shards"),
        ("shards: [1]", "shards: [7]", "cluster.nodes[1].shards: shard 7 is out of range: shard_count is 3 (shards 0 to 2)"),
        ("replication_mode: Quorum", "replication_mode: Most", 'cluster.replication_mode: expected one of Sync, Quorum, Async, got the string "Most"'),
        ("  node_id: n0\n", "", "cluster.node_id: required key is missing"),
        ("  node_id: n0\n", "  node_id: n9\n", "cluster.node_id: "),
    ],
)
def test_bad_keys_of_the_cluster_section_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, expected: str) -> None:
    assert old in YML_CLUSTER
    path = tmp_path / "rusts.yml"
    path.write_text(YML_CLUSTER.replace(old, new, 1))
    assert main(["--check-config", "--config", str(path)]) == EXIT_BAD_CONFIG
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: {path}: {expected}"), error
    assert len(error.splitlines()) == 1


def test_a_cluster_section_must_be_a_mapping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rusts.yml"
    path.write_text("cluster: [n0, n1]\n")
    assert main(["--check-config", "--config", str(path)]) == EXIT_BAD_CONFIG
    assert capsys.readouterr().err.strip() == (
        f"error: {path}: cluster: expected a mapping of the cluster.toml keys (node_id, nodes, ...), got a list")
