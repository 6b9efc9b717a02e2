"""The server process: logging, the HTTP API on uvicorn, clean shutdown."""

import logging
import signal

import uvicorn

import rusts
from rusts.api.line_protocol import engine_parser
from rusts.api.router import ApiSettings, Service, create_app
from rusts.core.errors import ConfigError
from rusts.pgwire.connection import PgSettings
from rusts.pgwire.server import pgwire_service, tls_context
from rusts.server.config import Config
from rusts.storage.engine import EngineOptions, StorageEngine

_LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}


def configure_logging(config: Config) -> None:
    """Log lines per the `logging` section."""
    parts = ["%(asctime)s %(levelname)s"]
    if config.logging.show_target:
        parts.append("%(name)s")
    if config.logging.show_thread_ids:
        parts.append("[%(thread)d]")
    if config.logging.show_location:
        parts.append("%(pathname)s:%(lineno)d")
    logging.basicConfig(level=_LEVELS[config.logging.level], format=" ".join(parts) + ": %(message)s")


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
    )


def api_settings(config: Config) -> ApiSettings:
    """The HTTP API's settings from rusts.yml."""
    server = config.server
    return ApiSettings(
        max_body_size=server.max_body_size,
        request_timeout=float(server.request_timeout),
        jwt_secret=config.auth.jwt_secret if config.auth.enabled else None,
        rate_limit_per_sec=float(server.rate_limit_per_sec),
        rate_limit_burst=server.effective_rate_limit_burst,
    )


def pg_settings(config: Config, source: str) -> PgSettings:
    """The PostgreSQL listener's settings from rusts.yml; ConfigError for unusable TLS files."""
    postgres = config.postgres
    tls = None
    if postgres.tls is not None:
        try:
            tls = tls_context(postgres.tls.cert_file, postgres.tls.key_file)
        except (OSError, ValueError) as exc:
            raise ConfigError(source, "postgres.tls", f"cannot load {postgres.tls.cert_file} / {postgres.tls.key_file}: {exc}") from None
    if postgres.auth_method != "trust" and not postgres.users:
        raise ConfigError(source, "postgres.users", f"auth_method {postgres.auth_method} needs at least one user")
    return PgSettings(
        host=postgres.host,
        port=postgres.port,
        max_connections=postgres.max_connections,
        auth_method=postgres.auth_method,
        users=dict(postgres.users),
        tls=tls,
        request_timeout=float(config.server.request_timeout),
        max_message_size=max(config.server.max_body_size, 1 << 20),
    )


def _stopped(signum: int, frame: object) -> None:
    logging.getLogger("rusts.server").info("stopped by signal %d after a clean shutdown", signum)


def run_server(config: Config, source: str = "rusts.yml") -> int:
    """Serve until SIGINT or SIGTERM; the exit status."""
    configure_logging(config)
    log = logging.getLogger("rusts.server")
    build = "compiled" if rusts.COMPILED else "pure Python"
    log.info("rusts %s (%s) listening on http://%s:%d", rusts.__version__, build, config.server.host, config.server.port)
    # uvicorn stops gracefully on SIGTERM/SIGINT, then re-raises the signal
    # through the handlers that were installed before it: these, so that a
    # clean shutdown (flush, checkpoint) exits with status 0.
    settings = api_settings(config)
    limit = f"{config.server.rate_limit_per_sec}/s per client, burst {settings.rate_limit_burst}" if settings.rate_limit_per_sec else "off"
    log.info("authentication %s; rate limit %s", "on" if settings.jwt_secret else "off", limit)
    signal.signal(signal.SIGTERM, _stopped)
    signal.signal(signal.SIGINT, _stopped)
    options = engine_options(config)
    services: list[Service] = [pgwire_service(pg_settings(config, source))] if config.postgres.enabled else []
    app = create_app(lambda: StorageEngine.open(options, engine_parser), settings, services)
    uvicorn.run(
        app,
        host=config.server.host,
        port=config.server.port,
        log_level=logging.getLevelName(_LEVELS[config.logging.level]).lower(),
        timeout_graceful_shutdown=config.server.request_timeout,
    )
    return 0
