"""The server process: logging, the HTTP API on uvicorn, clean shutdown."""

import logging

import uvicorn

import rusts
from rusts.api.router import create_app
from rusts.server.config import Config

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


def run_server(config: Config) -> int:
    """Serve until SIGINT or SIGTERM; the exit status."""
    configure_logging(config)
    log = logging.getLogger("rusts.server")
    build = "compiled" if rusts.COMPILED else "pure Python"
    log.info("rusts %s (%s) listening on http://%s:%d", rusts.__version__, build, config.server.host, config.server.port)
    uvicorn.run(
        create_app(),
        host=config.server.host,
        port=config.server.port,
        log_level=logging.getLevelName(_LEVELS[config.logging.level]).lower(),
        timeout_graceful_shutdown=config.server.request_timeout,
    )
    return 0
