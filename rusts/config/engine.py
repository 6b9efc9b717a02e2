"""The storage engine's options from a checked rusts.yml, for the server and for the tools that open a
data directory in their own process (rusts-import --direct, rusts-export): all three read the file
with the same loader (rusts.config.file), so a bad key or value is the same clear error everywhere
and every storage setting (wal_dir, compression, the warm tier's age) means the same thing."""

from rusts.config.file import Config, duration_secs, load_config
from rusts.storage.engine import EngineOptions


def engine_options(config: Config) -> EngineOptions:
    """The storage engine's options from rusts.yml."""
    storage = config.storage
    return EngineOptions(
        storage.data_dir,
        wal_dir=storage.effective_wal_dir,
        wal_durability=storage.wal_durability,
        wal_sync_interval_ms=storage.wal_sync_interval_ms,
        wal_retention_secs=storage.wal_retention_secs,
        memtable_max_bytes=storage.memtable.max_size_bytes,
        memtable_max_points=storage.memtable.max_points,
        memtable_max_age_secs=storage.memtable.max_age_secs,
        partition_duration_ns=storage.partition_duration_secs * 1_000_000_000,
        hot_compression=storage.compression.hot,
        cold_compression=storage.compression.cold,
        zstd_level=storage.compression.zstd_level,
        # The engine's own age rule compacts into the warm codec from the same age the passes use.
        cold_after_ns=duration_ns(config.storage.retention.warm_after) or 2**62,
        cold_zstd_level=config.storage.retention.cold_zstd_level,
        cold_dir=config.storage.retention.cold_dir,
    )


def config_file_options(path: str | None) -> EngineOptions:
    """engine_options of the rusts.yml at `path` (else ./rusts.yml when present, else the built-in
    defaults); ConfigError naming the file and key when it does not check."""
    config, _ = load_config(path)
    return engine_options(config)


def duration_ns(duration: str | None) -> int | None:
    """A rusts.yml duration ("30d", "12h") in nanoseconds; None for null."""
    return None if duration is None else duration_secs(duration) * 1_000_000_000
