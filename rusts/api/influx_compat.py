"""What InfluxDB 1.x tools ask of a server besides /write, answered as InfluxDB 1.8 does.

- `GET|HEAD /ping`: 204 with `X-Influxdb-Version` (the API level answered: 1.8) and
  `X-Influxdb-Build: RusTs <version>`; `?verbose=true` answers 200 `{"version": ...}`. Telegraf,
  the influxdb clients' `ping()` and load balancers' health checks use it.
- `GET|POST /query?q=...` (InfluxQL, the query string or a form body): RusTs keeps one database
  and answers SQL, not InfluxQL, so only the management statements tools send on their own are
  answered: `CREATE DATABASE` (Telegraf at start-up; a no-op here, as for an existing database),
  `SHOW DATABASES`, `SHOW MEASUREMENTS` and `SHOW RETENTION POLICIES`. Any other statement gets
  InfluxDB's per-statement error shape, `{"results": [{"statement_id": 0, "error": "..."}]}`, with
  a message pointing at SQL (`POST /sql`, or the PostgreSQL port).

A POST /query whose body is the JSON model or `{"query": "SELECT ..."}` is rusts.api.router's.
"""

import re
from typing import Any, Final
from urllib.parse import parse_qsl

from litestar import Request, Response, get, head

import rusts
from rusts.storage.engine import StorageEngine

API_VERSION: Final = "1.8.10"
DATABASE: Final = "rusts"
FORM: Final = "application/x-www-form-urlencoded"

_HEADERS: Final = {"X-Influxdb-Version": API_VERSION, "X-Influxdb-Build": f"RusTs {rusts.__version__}"}
_CREATE: Final = re.compile(r'create\s+database\s+("(?:[^"\\]|\\.)+"|\w+)(\s+with\s+.*)?', re.IGNORECASE | re.DOTALL)
_SHOW_DATABASES: Final = re.compile(r"show\s+databases", re.IGNORECASE)
_SHOW_MEASUREMENTS: Final = re.compile(r"show\s+measurements(\s+on\s+\S+)?", re.IGNORECASE)
_SHOW_POLICIES: Final = re.compile(r"show\s+retention\s+policies(\s+on\s+\S+)?", re.IGNORECASE)
_NOT_INFLUXQL: Final = (
    "RusTs answers SQL, not InfluxQL: send this query as SQL to POST /sql ({\"query\": \"SELECT ...\"}) "
    "or over the PostgreSQL protocol; /query?q= answers only CREATE DATABASE, SHOW DATABASES, "
    "SHOW MEASUREMENTS and SHOW RETENTION POLICIES"
)


@get("/ping", sync_to_thread=False)
def ping(verbose: str | None = None) -> Response[Any]:
    if verbose is not None and verbose.lower() in ("true", "1"):
        return Response({"version": API_VERSION}, status_code=200, headers=_HEADERS)
    return Response(None, status_code=204, headers=_HEADERS)


@head("/ping", sync_to_thread=False)
def ping_head() -> Response[None]:
    return Response(None, status_code=204, headers=_HEADERS)


def influxql_text(request: Request[Any, Any, Any], body: bytes) -> str | None:
    """The InfluxQL of a /query request (`q` in the query string, or in a form body); None if it has none."""
    text = request.query_params.get("q")
    if text is None and request.headers.get("content-type", "").split(";")[0].strip().lower() == FORM:
        text = dict(parse_qsl(body.decode("utf-8", "replace"))).get("q")
    return None if text is None else str(text)


def influxql_answer(engine: StorageEngine | None, text: str) -> Response[Any]:
    """InfluxDB 1.8's answer to `text` (statements separated by ';'): see the module docstring."""
    statements = [part.strip() for part in text.split(";") if part.strip()]
    if not statements:
        return Response({"error": "missing query text (q)"}, status_code=400, headers=_HEADERS)
    results = [_statement(engine, number, statement) for number, statement in enumerate(statements)]
    return Response({"results": results}, status_code=200, headers=_HEADERS)


def _series(name: str, columns: list[str], values: list[list[Any]]) -> dict[str, Any]:
    return {"name": name, "columns": columns, "values": values} if values else {"name": name, "columns": columns}


def _statement(engine: StorageEngine | None, number: int, statement: str) -> dict[str, Any]:
    if _CREATE.fullmatch(statement):
        return {"statement_id": number}
    if _SHOW_DATABASES.fullmatch(statement):
        return {"statement_id": number, "series": [_series("databases", ["name"], [[DATABASE]])]}
    if _SHOW_POLICIES.fullmatch(statement):
        policy = ["autogen", "0s", "168h0m0s", 1, True]
        return {"statement_id": number, "series": [_series("", ["name", "duration", "shardGroupDuration", "replicaN", "default"], [policy])]}
    if _SHOW_MEASUREMENTS.fullmatch(statement):
        if engine is None:
            return {"statement_id": number, "error": "the storage engine is not ready (recovering)"}
        names = [[name] for name in engine.measurements()]
        return {"statement_id": number, "series": [_series("measurements", ["name"], names)]} if names else {"statement_id": number}
    return {"statement_id": number, "error": _NOT_INFLUXQL}
