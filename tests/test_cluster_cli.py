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
        (["--cluster-timeout", "5"], "--cluster-timeout only goes with --cluster"),
        (["--cluster", "c.toml", "--cluster-timeout", "0"], "--cluster-timeout must be more than 0 seconds"),
        (["--cluster", "c.toml", "--generate-config", "-"], "does not read --cluster"),
    ],
)
def test_bad_usage(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == EXIT_BAD_CONFIG
    assert message in capsys.readouterr().err
