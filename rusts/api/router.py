"""The HTTP API (Litestar). Interpreted: Litestar introspects its handlers.

This first cut serves the probes only; the write, query and stats routes
arrive with the storage engine (issue 3) and the query engine (issue 4).
"""

from litestar import Litestar, get
from litestar.response import Response

import rusts


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok", "version": rusts.__version__}


@get("/ready", sync_to_thread=False)
def ready() -> Response[dict[str, str]]:
    """Ready to serve: true once recovery is done (nothing to recover yet)."""
    return Response({"status": "ready"}, status_code=200)


def create_app() -> Litestar:
    return Litestar(route_handlers=[health, ready])
