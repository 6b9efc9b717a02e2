"""The server process: logging, the HTTP API on uvicorn, the retention passes, clean shutdown."""

import asyncio
import errno
import logging
import signal
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

import rusts
from rusts.api.line_protocol import engine_parser
from rusts.api.parse_pool import parse_for_write
from rusts.api.router import ApiSettings, EngineHolder, Service, create_app
from rusts.core.collector import tune_for_service
from rusts.core.errors import ConfigError, RustsError
from rusts.pgwire.connection import PgSettings
from rusts.pgwire.server import pgwire_service, tls_context
from rusts.server.http_protocol import read_timeout_protocol
from rusts.aggregation.continuous import aggregates_of
from rusts.aggregation.downsampling import ensure_configured
from rusts.aggregation.policy import DownsamplingPolicy
from rusts.cluster.node import ClusterNode
from rusts.config.engine import duration_ns, engine_options
from rusts.config.file import Config, downsampling_policies
from rusts.retention.manager import RetentionManager, attach
from rusts.retention.policy import RetentionPolicy
from rusts.server.cluster_node import ClusterOptions, cluster_node, cluster_service
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


def retention_policy(config: Config) -> RetentionPolicy:
    """The retention and tiering policy from rusts.yml."""
    retention = config.storage.retention
    return RetentionPolicy(
        default_ns=duration_ns(retention.default),
        measurements={m: duration_ns(period) for m, period in retention.measurements.items()},
        warm_after_ns=duration_ns(retention.warm_after),
        cold_after_ns=duration_ns(retention.cold_after),
        check_interval_secs=float(retention.check_interval_secs),
    )


def background_service(loop: Callable[[EngineHolder, asyncio.Event], Coroutine[Any, Any, None]]) -> Service:
    """A service of create_app that runs `loop(holder, stop)` as a task until shutdown sets `stop`;
    the round under way finishes before the engine closes."""

    @asynccontextmanager
    async def service(holder: EngineHolder) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(loop(holder, stop))
        try:
            yield
        finally:
            stop.set()
            await task

    return service


def aggregates_service(
    interval_secs: float, definitions: dict[str, str], policies: list[DownsamplingPolicy] | None = None
) -> Service:
    """Continuous aggregates: opened (and the configured ones and downsampling policies created)
    once the engine is open, then refreshed every interval."""
    return background_service(lambda holder, stop: _aggregates_loop(holder, interval_secs, definitions, stop, policies or []))


async def _aggregates_loop(
    holder: EngineHolder, interval_secs: float, definitions: dict[str, str], stop: asyncio.Event,
    policies: list[DownsamplingPolicy],
) -> None:
    log = logging.getLogger("rusts.aggregation")
    await asyncio.to_thread(holder.ready.wait)
    engine = holder.engine
    if engine is None:
        return
    # Configured aggregates whose source does not exist yet (or that fail) are retried each round;
    # a bad definition in rusts.yml must not stop the server: it says why (once) and serves on.
    unapplied = dict(definitions)
    reported: set[str] = set()
    waiting = list(policies)
    while not stop.is_set():
        try:
            registry = await asyncio.to_thread(aggregates_of, engine)
            for name, sql in list(unapplied.items()):
                try:
                    await asyncio.to_thread(registry.ensure, name, sql)
                    del unapplied[name]
                except RustsError as exc:
                    if name not in reported:
                        reported.add(name)
                        log.warning("continuous aggregate %s from rusts.yml not created yet: %s", name, exc)
            if waiting:
                # A policy whose measurement has no data yet (or that differs from the stored one) is retried each round.
                failed = await asyncio.to_thread(ensure_configured, engine, waiting)
                waiting = [policy for policy, _ in failed]
                for policy, why in failed:
                    if f"downsampling {policy.measurement}" not in reported:
                        reported.add(f"downsampling {policy.measurement}")
                        log.warning("downsampling policy of %s from rusts.yml not applied yet: %s", policy.measurement, why)
            await asyncio.to_thread(registry.refresh)
        except Exception:
            log.exception("continuous aggregate refresh failed; the next one retries")
        try:
            await asyncio.wait_for(stop.wait(), interval_secs)
        except TimeoutError:
            pass


def retention_service(policy: RetentionPolicy, cluster: ClusterNode | None = None) -> Service:
    """Retention passes: one once the engine is open, then one every check_interval_secs; on every
    shard engine of a cluster node (the front engine holds no points)."""
    return background_service(lambda holder, stop: _retention_loop(holder, policy, stop, cluster))


async def _retention_loop(holder: EngineHolder, policy: RetentionPolicy, stop: asyncio.Event, cluster: ClusterNode | None) -> None:
    log = logging.getLogger("rusts.retention")
    await asyncio.to_thread(holder.ready.wait)
    if holder.engine is None:
        return
    engines = [holder.engine] if cluster is None else list(cluster.shards.values())
    managers = [RetentionManager(engine, policy) for engine in engines]
    for engine, manager in zip(engines, managers):
        attach(engine, manager)
    while not stop.is_set():
        for manager in managers:
            try:
                await asyncio.to_thread(manager.run_once)
            except Exception:
                log.exception("retention pass failed; the next one retries")
        try:
            await asyncio.wait_for(stop.wait(), policy.check_interval_secs)
        except TimeoutError:
            pass


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


def _open_engine(options: EngineOptions) -> StorageEngine:
    """The server's engine: WAL replay with the per-series parser, then writes through the rows
    parser, which stores a many-series body as one table (rusts.api.parse_pool.parse_for_write)."""
    engine = StorageEngine.open(options, engine_parser)
    engine.rows_parser = parse_for_write
    return engine


def check_can_listen(source: str, section: str, host: str, port: int) -> None:
    """ConfigError naming `section`.host or .port when (host, port) cannot be listened on (in use, not ours).

    Checked before anything starts, so that a taken port is one clear line and exit status 2
    rather than a server that opened its data directory and then fails to bind.
    """
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        raise ConfigError(source, f"{section}.host", f"cannot listen on {host!r}: the address does not resolve ({exc})") from None
    family, kind, proto, _, address = found[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            key = f"{section}.port" if exc.errno in (errno.EADDRINUSE, errno.EACCES) else f"{section}.host"
            reason = "the port is in use by another process" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise ConfigError(source, key, f"cannot listen on {host}:{port}: {reason}") from None


def _stopped(signum: int, frame: object) -> None:
    logging.getLogger("rusts.server").info("stopped by signal %d after a clean shutdown", signum)


def run_server(config: Config, source: str = "rusts.yml", cluster: ClusterOptions | None = None) -> int:
    """Serve until SIGINT or SIGTERM; the exit status. With `cluster`, as a node of that cluster."""
    configure_logging(config)
    check_can_listen(source, "server", config.server.host, config.server.port)
    if config.postgres.enabled:
        check_can_listen(source, "postgres", config.postgres.host, config.postgres.port)
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
    node = None if cluster is None else cluster_node(config, cluster, options)
    aggregates = config.storage.aggregates
    services: list[Service] = [
        retention_service(retention_policy(config), node),
        aggregates_service(aggregates.refresh_interval_ms / 1000, dict(aggregates.definitions), downsampling_policies(config)),
    ]
    if config.postgres.enabled:
        services.append(pgwire_service(pg_settings(config, source)))
    if node is None:
        app = create_app(lambda: _open_engine(options), settings, services)
    else:
        app = create_app(node.open, settings, [cluster_service(node), *services], node)
    tune_for_service()
    uvicorn.run(
        app,
        host=config.server.host,
        port=config.server.port,
        log_level=logging.getLevelName(_LEVELS[config.logging.level]).lower(),
        timeout_graceful_shutdown=config.server.request_timeout,
        http=read_timeout_protocol(float(config.server.request_timeout)),
    )
    return 0
