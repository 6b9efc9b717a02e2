"""rusts.yml decoding: defaults, round trips, and one clear line per mistake."""

from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
import yaml

from rusts.core.errors import ConfigError
from rusts.config.file import (
    AuthConfig,
    CompressionConfig,
    Config,
    LoggingConfig,
    MemtableConfig,
    PostgresConfig,
    ServerConfig,
    StorageConfig,
    default_config_text,
    downsampling_policies,
    load_config,
    parse_config,
)

REPO_CONFIG = Path(__file__).resolve().parent.parent / "rusts.yml"


def test_defaults_are_the_decided_values() -> None:
    config = Config()
    assert config.server == ServerConfig(
        host="0.0.0.0", port=8086, max_body_size=26214400, request_timeout=30,
        rate_limit_per_sec=0, rate_limit_burst=None,
    )
    assert config.server.effective_rate_limit_burst == 1
    storage = config.storage
    assert (storage.data_dir, storage.wal_dir) == ("./data", None)
    assert (storage.wal_durability, storage.wal_sync_interval_ms) == ("periodic", 100)
    assert storage.wal_retention_secs == 3600
    assert storage.memtable == MemtableConfig(
        max_size_bytes=64 * 1024 * 1024, max_points=1_000_000, max_age_secs=60
    )
    assert storage.partition_duration_secs == 24 * 3600
    assert storage.compression == CompressionConfig(hot="lz4", cold="zstd", zstd_level=3)
    assert config.auth == AuthConfig(enabled=False, jwt_secret=None, token_expiration=86400)
    assert config.logging == LoggingConfig(
        level="info", show_target=False, show_thread_ids=False, show_location=False
    )
    assert config.postgres == PostgresConfig(
        enabled=True, host="0.0.0.0", port=5432, max_connections=100
    )


def test_template_decodes_to_the_defaults() -> None:
    assert parse_config(default_config_text(), "rusts.yml") == Config()


def _key_paths(struct_type: mi.StructType, prefix: str = "") -> list[str]:
    paths = []
    for field in struct_type.fields:
        path = prefix + field.name
        nested = field.type
        paths += _key_paths(nested, path + ".") if isinstance(nested, mi.StructType) else [path]
    return paths


def _has_key(raw: Any, path: str) -> bool:
    for name in path.split("."):
        if not isinstance(raw, dict) or name not in raw:
            return False
        raw = raw[name]
    return True


def test_template_spells_out_every_key() -> None:
    raw = yaml.safe_load(default_config_text())
    config_type = mi.type_info(Config)
    assert isinstance(config_type, mi.StructType)
    missing = [path for path in _key_paths(config_type) if not _has_key(raw, path)]
    assert missing == []


def test_every_template_key_has_a_comment_line_above_it() -> None:
    lines = default_config_text().splitlines()
    for index, line in enumerate(lines):
        if ":" in line and not line.lstrip().startswith("#") and not line.endswith(":"):
            assert lines[index - 1].lstrip().startswith("#"), line


def test_repo_rusts_yml_is_the_template_byte_for_byte() -> None:
    assert REPO_CONFIG.read_bytes() == default_config_text().encode("utf-8")


NON_DEFAULT = Config(
    server=ServerConfig(
        host="127.0.0.1", port=9000, max_body_size=1024, request_timeout=5,
        rate_limit_per_sec=50, rate_limit_burst=7,
    ),
    storage=StorageConfig(
        data_dir="/var/lib/rusts",
        wal_dir="/fast/wal",
        wal_durability="every_write",
        wal_sync_interval_ms=7,
        wal_retention_secs=None,
        memtable=MemtableConfig(max_size_bytes=1, max_points=2, max_age_secs=3),
        partition_duration_secs=3600,
        compression=CompressionConfig(hot="none", cold="lz4", zstd_level=22),
    ),
    auth=AuthConfig(enabled=True, jwt_secret="s3cret", token_expiration=60),
    logging=LoggingConfig(
        level="trace", show_target=True, show_thread_ids=True, show_location=True
    ),
    postgres=PostgresConfig(enabled=False, host="::1", port=15432, max_connections=1),
)

SECTIONS = [field.name for field in msgspec.structs.fields(Config)]


@pytest.mark.parametrize("section", SECTIONS)
def test_each_section_round_trips(section: str) -> None:
    value = getattr(NON_DEFAULT, section)
    text = msgspec.yaml.encode({section: value}).decode()
    assert getattr(parse_config(text, "rusts.yml"), section) == value


def test_whole_config_round_trips() -> None:
    text = msgspec.yaml.encode(NON_DEFAULT).decode()
    assert parse_config(text, "rusts.yml") == NON_DEFAULT


def test_missing_keys_take_their_defaults() -> None:
    config = parse_config("storage:\n  memtable:\n    max_points: 5\n", "rusts.yml")
    assert config.storage.memtable.max_points == 5
    assert config.storage.memtable.max_age_secs == 60
    assert config.server == ServerConfig()


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_an_empty_file_means_defaults(text: str) -> None:
    assert parse_config(text, "rusts.yml") == Config()


def test_null_wal_dir_is_under_data_dir() -> None:
    config = parse_config("storage: {data_dir: /d}", "rusts.yml")
    assert config.effective_wal_dir == "/d/wal" == config.storage.effective_wal_dir
    config = parse_config("storage: {data_dir: /d, wal_dir: /w}", "rusts.yml")
    assert config.effective_wal_dir == "/w"


def test_rate_limit_burst_defaults_to_twice_the_rate() -> None:
    assert parse_config("server: {rate_limit_per_sec: 10}", "rusts.yml").server.effective_rate_limit_burst == 20
    config = parse_config("server: {rate_limit_per_sec: 10, rate_limit_burst: 3}", "rusts.yml")
    assert config.server.effective_rate_limit_burst == 3


def test_config_is_immutable() -> None:
    with pytest.raises(AttributeError):
        Config().server.port = 1  # type: ignore[misc]


def test_no_file_means_defaults_and_no_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config(None) == (Config(), None)


def test_rusts_yml_in_the_working_directory_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rusts.yml").write_text("server: {port: 9999}\n")
    config, source = load_config(None)
    assert (config.server.port, source) == (9999, "rusts.yml")


def _error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "conf/rusts.yml")
    return caught.value


BAD_INPUTS = [
    # (rusts.yml text, key named, words the message must hold)
    ("server: {port: eighty}", "server.port", 'from 1 to 65535, got the string "eighty"'),
    ("server: {port: 0}", "server.port", "from 1 to 65535, got 0"),
    ("server: {port: 70000}", "server.port", "got 70000"),
    ("server: {port: 80.5}", "server.port", "expected an integer"),
    ("server: {port: true}", "server.port", "got true"),
    ("server: {host: ''}", "server.host", "expected a non-empty string"),
    ("server: {max_body_size: 0}", "server.max_body_size", "expected an integer from 1 to 1000000000, got 0"),
    ("server: {prot: 1}", "server.prot", "unknown key; did you mean port?"),
    ("server: {rate_limit_per_sec: -1}", "server.rate_limit_per_sec", "expected an integer >= 0, got -1"),
    ("server: {rate_limit_burst: 0}", "server.rate_limit_burst", "expected an integer >= 1 or null, got 0"),
    ("servr: {}", "servr", "unknown key; did you mean server?"),
    ("storage: {memtable: {max_pts: 1}}", "storage.memtable.max_pts", "one of: max_size_bytes"),
    ("storage: {wal_durability: fast}", "storage.wal_durability", "expected one of every_write"),
    ("storage: {wal_retention_secs: -1}", "storage.wal_retention_secs", "or null, got -1"),
    ("storage: {memtable: {max_points: -5}}", "storage.memtable.max_points", "got -5"),
    ("storage: {compression: {hot: gzip}}", "storage.compression.hot", "one of lz4, none, zstd"),
    ("storage: {compression: {zstd_level: 23}}", "storage.compression.zstd_level", "from 1 to 22"),
    ("storage: {memtable: 64}", "storage.memtable", "expected a mapping of max_size_bytes"),
    ("storage:\n", "storage", "got null"),
    ("auth: {enabled: 'yes please'}", "auth.enabled", "expected true or false"),
    ("auth: {enabled: true}", "auth.jwt_secret", "required when auth.enabled is true"),
    ("auth: {jwt_secret: 2024-01-01}", "auth.jwt_secret", "got the date 2024-01-01"),
    ("logging: {level: verbose}", "logging.level", "one of debug, error, info, trace, warn"),
    ("postgres: {max_connections: 0}", "postgres.max_connections", "got 0"),
    ("postgres: {port: 8086}", "postgres.port", "is also server.port"),
    ("server: {1: 2}", "server", "every key must be a name, got 1"),
    ("storage: {downsampling: {cpu: {tiers: {'1m average': 7d}}}}", "storage.downsampling.cpu", "unknown function 'average'"),
    ("storage: {downsampling: {cpu: {tiers: {'1m': 7days}}}}", "storage.downsampling.cpu", "'7days' is not a period"),
    ("storage: {downsampling: {cpu: {raw: 24h}}}", "storage.downsampling.cpu", "without a tier"),
    ("storage: {downsampling: {cpu: {raw: 1 day, tiers: {1m: 7d}}}}", "storage.downsampling.cpu.raw", "a duration such as 30d"),
    ("storage: {downsampling: {cpu: {tiers: {1m: 7d}, fields: {n: median}}}}", "storage.downsampling.cpu", "field 'n': unknown function"),
    ("storage: {downsampling: {cpu: {tiers: {1m: 7d}, rwa: 1d}}}", "storage.downsampling.cpu.rwa", "did you mean raw?"),
    ("storage: {retention: {measurements: {cpu: 2d}}, downsampling: {cpu: {raw: 1d, tiers: {1m: 7d}}}}",
     "storage.downsampling.cpu.raw", "storage.retention.measurements.cpu also sets its retention"),
]


def test_downsampling_policies_from_the_configuration() -> None:
    text = "storage: {downsampling: {trips: {raw: 24h, tiers: {'1m avg': 7d, '1h avg': null}, fields: {tips: sum}}}}"
    (policy,) = downsampling_policies(parse_config(text, "rusts.yml"))
    assert policy.text() == "raw: 1d, 1m avg: 1w, 1h avg: forever" and policy.fields == {"tips": "sum"}
    assert [policy.tier_name(t) for t in policy.tiers] == ["trips_1m", "trips_1h"]
    assert downsampling_policies(parse_config("", "rusts.yml")) == []


@pytest.mark.parametrize(("text", "key", "words"), BAD_INPUTS)
def test_a_bad_value_names_file_and_key(text: str, key: str, words: str) -> None:
    error = _error(text)
    assert (error.path, error.key) == ("conf/rusts.yml", key)
    assert str(error).startswith(f"conf/rusts.yml: {key}: ")
    assert words in error.message
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("- server\n", "a mapping of server, storage, auth, logging, postgres, cluster, got a list"),
        ("just words", 'got the string "just words"'),
        ("server: {port: [\n", "invalid YAML at line 2, column 1"),
        ("server:\n\tport: 1\n", "invalid YAML at line 2"),
        ("storage: {}\nstorage: {}\n", "invalid YAML at line 2, column 1: duplicate key 'storage'"),
        ("a: 1\n---\nb: 2\n", "invalid YAML at line 2"),
        ("x: !!python/object/apply:os.system [ls]", "could not determine a constructor"),
    ],
)
def test_a_bad_document_names_the_file(text: str, words: str) -> None:
    error = _error(text)
    assert str(error).startswith("conf/rusts.yml: ")
    assert words in str(error)
    assert "\n" not in str(error)


def test_a_given_file_must_exist(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.yml")
    with pytest.raises(ConfigError, match="nope.yml: no such file"):
        load_config(path)


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(str(tmp_path))


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rusts.yml"
    path.write_bytes(b"server: {host: \xff}\n")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_config(str(path))
