"""The `rusts` and `rusts-import` commands, run as real processes."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import rusts

REPO = Path(__file__).resolve().parent.parent
# The processes import the same rusts package as this test (source tree or install).
PACKAGE_ROOT = str(Path(rusts.__file__).resolve().parent.parent)


def run(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def rusts_cmd(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run("rusts.server.cli", *args, cwd=cwd)


def test_console_scripts_point_at_the_mains() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["rusts"] == scripts["rusts-server"] == "rusts.server.cli:main"
    assert scripts["rusts-import"] == "rusts.importer.cli:main"


def test_help_names_every_option(tmp_path: Path) -> None:
    result = rusts_cmd("--help", cwd=tmp_path)
    assert result.returncode == 0
    flags = ("--config PATH", "--generate-config [PATH]", "--check-config", "--version", "--force")
    for flag in flags:
        assert flag in result.stdout
    assert "rusts.yml" in result.stdout and "exit status" in result.stdout


def test_version_says_whether_compiled(tmp_path: Path) -> None:
    result = rusts_cmd("--version", cwd=tmp_path)
    assert result.returncode == 0
    build = "compiled" if rusts.COMPILED else "pure Python"
    assert result.stdout == f"rusts {rusts.__version__} ({build})\n"
    assert re.fullmatch(r"rusts \d+\.\d+\.\d+ \((compiled|pure Python)\)\n", result.stdout)


def test_generate_config_to_stdout_is_the_repo_file(tmp_path: Path) -> None:
    result = rusts_cmd("--generate-config", "-", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.encode() == (REPO / "rusts.yml").read_bytes()


def test_generate_config_writes_rusts_yml_here_by_default(tmp_path: Path) -> None:
    result = rusts_cmd("--generate-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "rusts.yml").read_bytes() == (REPO / "rusts.yml").read_bytes()


def test_generate_config_keeps_an_existing_file_unless_forced(tmp_path: Path) -> None:
    target = tmp_path / "mine.yml"
    target.write_text("server: {port: 1234}\n")
    refused = rusts_cmd("--generate-config", str(target), cwd=tmp_path)
    assert refused.returncode == 1
    assert "--force" in refused.stderr
    assert target.read_text() == "server: {port: 1234}\n"
    forced = rusts_cmd("--generate-config", str(target), "--force", cwd=tmp_path)
    assert forced.returncode == 0
    assert target.read_bytes() == (REPO / "rusts.yml").read_bytes()


def test_check_config_with_no_file_uses_defaults(tmp_path: Path) -> None:
    result = rusts_cmd("--check-config", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == "config OK: built-in defaults (no ./rusts.yml)\n"


def test_check_config_reads_rusts_yml_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "rusts.yml").write_text("server: {port: 9999}\n")
    result = rusts_cmd("--check-config", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "config OK: rusts.yml\n")


def test_check_config_reads_the_given_file(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.yml"
    config.write_text(rusts_cmd("--generate-config", "-", cwd=tmp_path).stdout)
    result = rusts_cmd("--check-config", "--config", str(config), cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, f"config OK: {config}\n")


BAD_FILES = [
    # (rusts.yml text, the key the error line names)
    ("server: {port: eighty}\n", "server.port: expected an integer from 1 to 65535"),
    ("server: {prot: 1}\n", "server.prot: unknown key"),
    ("wal: {}\n", "wal: unknown key"),
    ("storage: {wal_durability: sometimes}\n", "storage.wal_durability: expected one of"),
    ("storage: {memtable: {max_points: 0}}\n", "storage.memtable.max_points: expected an integer"),
    ("auth: {enabled: true}\n", "auth.jwt_secret: required"),
    ("logging: {show_target: 3}\n", "logging.show_target: expected true or false"),
    ("- a list\n", "expected a mapping of server"),
    ("server: {port: [\n", "invalid YAML at line 2"),
    ("server: {}\nserver: {}\n", "invalid YAML at line 2, column 1: duplicate key 'server'"),
    ("server: {max_body_size: 1000000000000}\n", "server.max_body_size: expected an integer from 1 to 1000000000"),
    ("server: {host: no-such-host.invalid}\n", "server.host: cannot listen on 'no-such-host.invalid': the address does not resolve"),
    ("postgres: {host: no-such-host.invalid}\n", "postgres.host: cannot listen on 'no-such-host.invalid'"),
]


@pytest.mark.parametrize(("text", "words"), BAD_FILES)
def test_a_bad_file_stops_with_one_line_and_status_2(tmp_path: Path, text: str, words: str) -> None:
    config = tmp_path / "bad.yml"
    config.write_text(text)
    result = rusts_cmd("--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {config}: {words}")
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n")


def test_a_bad_rusts_yml_here_stops_the_bare_command(tmp_path: Path) -> None:
    (tmp_path / "rusts.yml").write_text("postgres: {port: 0}\n")
    result = rusts_cmd(cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "error: rusts.yml: postgres.port: expected an integer from 1 to 65535, got 0\n"
    )


def test_check_config_fails_the_same_way(tmp_path: Path) -> None:
    (tmp_path / "rusts.yml").write_text("server: {port: 0}\n")
    result = rusts_cmd("--check-config", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: rusts.yml: server.port: ")


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    result = rusts_cmd("--config", "absent.yml", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, "error: absent.yml: no such file\n")


def test_a_directory_as_config_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    result = rusts_cmd("--config", "conf", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "error: conf: is a directory, expected a YAML file\n"


@pytest.mark.parametrize(
    "args",
    [
        ["--force"],
        ["--generate-config", "--config", "x.yml"],
        ["--check-config", "--version"],
        ["--no-such-flag"],
    ],
)
def test_bad_usage_is_status_2(tmp_path: Path, args: list[str]) -> None:
    result = rusts_cmd(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "usage: rusts" in result.stderr


def test_token_create_prints_a_token_signed_with_the_secret(tmp_path: Path) -> None:
    import time

    from rusts.api.auth import verify_token

    config = tmp_path / "conf.yml"
    config.write_text("auth: {enabled: true, jwt_secret: s3cret, token_expiration: 120}\n")
    result = rusts_cmd("token", "create", "--config", str(config), "--subject", "telegraf", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    claims = verify_token("s3cret", result.stdout.strip())
    assert claims["sub"] == "telegraf" and claims["exp"] - claims["iat"] == 120
    assert abs(claims["iat"] - time.time()) < 60
    longer = rusts_cmd("token", "create", "--config", str(config), "--expires-in", "7", cwd=tmp_path)
    claims = verify_token("s3cret", longer.stdout.strip())
    assert (claims["sub"], claims["exp"] - claims["iat"]) == ("rusts", 7)


def test_token_create_needs_a_secret(tmp_path: Path) -> None:
    result = rusts_cmd("token", "create", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "error: built-in defaults: auth.jwt_secret: not set; a token needs a secret\n"
    bad = rusts_cmd("token", "create", "--expires-in", "0", cwd=tmp_path)
    assert bad.returncode == 2 and "--expires-in" in bad.stderr


def test_help_mentions_token_create(tmp_path: Path) -> None:
    assert "rusts token create" in rusts_cmd("--help", cwd=tmp_path).stdout
    result = rusts_cmd("token", "create", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for flag in ("--config PATH", "--subject NAME", "--expires-in SECS"):
        assert flag in result.stdout


def test_a_port_in_use_or_a_foreign_address_stops_start_up_naming_the_key(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with socket.socket() as spare:
            spare.bind(("127.0.0.1", 0))
            free = spare.getsockname()[1]
        data = tmp_path / "data"
        cases = [
            (f"server: {{host: 127.0.0.1, port: {port}}}\n", f"server.port: cannot listen on 127.0.0.1:{port}: the port is in use"),
            (
                f"server: {{host: 127.0.0.1, port: {free}}}\npostgres: {{host: 127.0.0.1, port: {port}}}\n",
                f"postgres.port: cannot listen on 127.0.0.1:{port}: the port is in use",
            ),
            (f"server: {{host: 192.0.2.1, port: {free}}}\n", "server.host: cannot listen on 192.0.2.1"),
        ]
        for text, words in cases:
            config = tmp_path / "taken.yml"
            config.write_text(text + f"storage: {{data_dir: '{data}'}}\n")
            result = rusts_cmd("--config", str(config), cwd=tmp_path)
            assert result.returncode == 2, result.stderr
            assert f"error: {config}: {words}" in result.stderr
            assert not data.exists()  # refused before the data directory was opened
