"""PostgreSQL session statements and catalog emulation for the pgwire server.

`answer(engine, sql, session)` takes ONE statement (the protocol code has already handled transaction
control and DEALLOCATE, split multi-statement strings and put literals in place of $n) and returns a
CatalogResult when the statement is about the session or the catalog, or None when it is a RusTs
statement (a query on measurements, SHOW TABLES / MEASUREMENTS / TAG ... / FIELD KEYS, DESCRIBE,
INSERT, DELETE, DROP) for rusts/sql.

What is answered here, and why: docs/pgwire-clients.md records what psql, psycopg, psycopg2,
asyncpg, pg8000, SQLAlchemy, pandas and Grafana send. SET / RESET / SHOW / DISCARD / CLOSE /
LISTEN / UNLISTEN act on Session.settings; a SELECT without FROM (version(), current_schema(),
SELECT 1 ...) or over pg_catalog / information_schema tables is evaluated over the virtual catalog
(catalog_tables, catalog_eval). A catalog query the evaluator cannot run answers its columns with no
rows rather than an error: clients read "nothing there" and carry on.
"""

import logging
import os
import re
import time
from typing import Final, NamedTuple

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from rusts.pgwire import types as t
from rusts.pgwire.catalog_eval import (
    Env,
    EvaluationError,
    Evaluator,
    Function,
    Moment,
    NotCatalog,
    RegType,
    SetValue,
    Unsupported,
    column_name,
    regclass,
    text_of,
)
from rusts.pgwire.catalog_settings import SETTINGS
from rusts.pgwire.catalog_tables import (
    NAMESPACE_INFORMATION_SCHEMA,
    NAMESPACE_PG_CATALOG,
    NAMESPACE_PUBLIC,
    SYSTEM_RELATIONS,
    TYPES_BY_NAME,
    TYPES_BY_OID,
    Context,
    relation_oid,
)
from rusts.pgwire.type_lookup import COLUMNS as TYPE_LOOKUP_COLUMNS, asked_oids, is_type_lookup, type_rows
from rusts.storage.engine import StorageEngine

log = logging.getLogger(__name__)

SERVER_VERSION: Final = "15.0"
VERSION_STRING: Final = f"PostgreSQL {SERVER_VERSION} (RusTs time series database) on x86_64-pc-linux-gnu, 64-bit"


class PgError(Exception):
    """An error to send to the client as an ErrorResponse with this SQLSTATE."""

    def __init__(self, sqlstate: str, message: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.message = message


class CatalogResult(NamedTuple):
    columns: list[tuple[str, int]]
    rows: list[list[object]]
    tag: str
    changed: list[str] = []


# name (lower case) -> (PostgreSQL's spelling, default, description)
_DEFAULTS: Final[dict[str, tuple[str, str, str]]] = {row[0].lower(): (row[0], row[1], row[4]) for row in SETTINGS}
# Sent as ParameterStatus after authentication and whenever they change (GUC_REPORT in PostgreSQL).
REPORTED: Final[tuple[str, ...]] = (
    "application_name",
    "client_encoding",
    "DateStyle",
    "default_transaction_read_only",
    "in_hot_standby",
    "integer_datetimes",
    "IntervalStyle",
    "is_superuser",
    "server_encoding",
    "server_version",
    "session_authorization",
    "standard_conforming_strings",
    "TimeZone",
)
_REPORTED_LOWER: Final = {name.lower(): name for name in REPORTED}
_ENCODINGS: Final = {"utf8": "UTF8", "utf-8": "UTF8", "unicode": "UTF8", "sql_ascii": "SQL_ASCII"}


class Session:
    """Per-connection state: who is connected, to which database, with which run-time parameters."""

    def __init__(self, user: str, database: str, startup: dict[str, str]) -> None:
        self.user = user
        self.database = database
        self.backend_pid = os.getpid()
        self.server_addr: str | None = None  # set by the connection code when it knows them
        self.server_port: int | None = None
        self.defaults: dict[str, str] = {name: value for name, (_spelling, value, _d) in _DEFAULTS.items()}
        self.defaults["session_authorization"] = user
        self.defaults["is_superuser"] = "on"
        for name, value in [*startup.items(), *_command_line(startup.get("options", ""))]:
            if name.lower() in ("user", "database", "options", "replication"):
                continue
            try:
                self.defaults[name.lower()] = _normalise(name.lower(), value)
            except PgError:
                self.defaults[name.lower()] = value  # PostgreSQL refuses the connection; we keep what was sent
        self.settings: dict[str, str] = dict(self.defaults)

    def reported(self) -> dict[str, str]:
        """The ParameterStatus set, with PostgreSQL's spelling of each name."""
        return {name: self.settings.get(name.lower(), "") for name in REPORTED}


def _command_line(options: str) -> list[tuple[str, str]]:
    """Settings in the `options` startup parameter: `-c name=value` or `--name=value`, backslash escapes a space
    (node-postgres and libpq send `options: '-c search_path=public -c statement_timeout=5000'`)."""
    words = [word.replace("\\ ", " ") for word in re.split(r"(?<!\\)\s+", options.strip()) if word]
    found: list[tuple[str, str]] = []
    for i, word in enumerate(words):
        assignment = ""
        if word == "-c" and i + 1 < len(words):
            assignment = words[i + 1]
        elif word.startswith("-c") and word != "-c":
            assignment = word[2:]
        elif word.startswith("--"):
            assignment = word[2:]
        name, equals, value = assignment.partition("=")
        if equals and name:
            found.append((name.replace("-", "_"), value))
    return found


def _normalise(name: str, value: str) -> str:
    """The value PostgreSQL stores for `name` (asyncpg sends client_encoding='utf-8' with quotes; a time
    setting is kept as a number of its base unit: statement_timeout '5s' -> '5000')."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == "'":
        value = value[1:-1].replace("''", "'")
    if name == "client_encoding":
        return _ENCODINGS.get(value.lower(), value.upper())
    if name in _TIME_SETTINGS:
        return _time_value(name, value)
    return value


# time settings (pg_settings.unit ms, s or min) -> milliseconds in one unit
_TIME_SETTINGS: Final[dict[str, int]] = {
    row[0].lower(): {"ms": 1, "s": 1000, "min": 60_000}[row[2]] for row in SETTINGS if row[2] in ("ms", "s", "min")
}
_TIME_UNITS: Final = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}


def _time_value(name: str, value: str) -> str:
    match = re.fullmatch(r"(-?\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?", value.strip())
    if match is None:
        raise PgError("22023", f'invalid value for parameter "{name}": "{value}"')
    base = _TIME_SETTINGS[name]
    unit = _TIME_UNITS[match.group(2)] if match.group(2) else base
    amount = float(match.group(1)) * unit / base
    # PostgreSQL rounds to whole units; a fraction is kept so that a tiny positive timeout stays a timeout
    return str(int(amount)) if amount == int(amount) else repr(amount)


def display(name: str, value: str) -> str:
    """How SHOW and current_setting() print a stored value: time settings with PostgreSQL's largest exact unit."""
    base = _TIME_SETTINGS.get(name)
    if base is None or not value.lstrip("-").isdigit() or int(value) <= 0:
        return value
    milliseconds = int(value) * base
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if size >= base and milliseconds % size == 0:
            return f"{milliseconds // size}{unit}"
    return f"{milliseconds}ms"


# PostgreSQL 15's keywords other than its unreserved ones: quote_ident quotes them (`"time"`).
_QUOTED_KEYWORDS: Final = frozenset("""
all analyse analyze and any array as asc asymmetric both case cast check collate column constraint create
current_catalog current_date current_role current_time current_timestamp current_user default deferrable desc
distinct do else end except false fetch for foreign from grant group having in initially intersect into lateral
leading limit localtime localtimestamp not null offset on only or order placing primary references returning
select session_user some symmetric table then to trailing true union unique user using variadic when where window
with authorization binary collation concurrently cross current_schema freeze full ilike inner is isnull join left
like natural notnull outer overlaps right similar tablesample verbose between bigint bit boolean char character
coalesce dec decimal exists extract float greatest grouping inout int integer interval least national nchar none
normalize numeric out overlay position precision real row setof smallint substring time timestamp treat trim values
varchar xmlattributes xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize
xmltable""".split())


def answer(engine: StorageEngine, sql: str, session: Session) -> CatalogResult | None:
    """The answer to one statement if it is a session or catalog statement, else None (for rusts/sql)."""
    text = sql.strip().rstrip(";").strip()
    word = text.split(None, 1)[0].upper() if text else ""
    handler = _STATEMENTS.get(word)
    if handler is not None:
        return handler(engine, text, session)
    if word == "WITH" and is_type_lookup(text):  # asyncpg's WITH RECURSIVE over pg_type
        rows = type_rows(asked_oids(text))
        return CatalogResult(list(TYPE_LOOKUP_COLUMNS), rows, f"SELECT {len(rows)}")
    if word in ("SELECT", "WITH", "(") or word.startswith("("):
        return _select(engine, text, session)
    return None


# ---- SET / RESET / SHOW / DISCARD / CLOSE / LISTEN -------------------------------------------------

_SET: Final = re.compile(
    r"SET\s+(?:(SESSION|LOCAL)\s+)?(?P<name>[A-Za-z_][\w.]*|\"[^\"]+\")\s*(?:=|\s+TO\s+|\s)\s*(?P<value>.*)",
    re.IGNORECASE | re.DOTALL,
)
_SET_SPECIAL: Final = re.compile(
    r"SET\s+(?:(?:SESSION|LOCAL)\s+)?(?:TIME\s+ZONE\s+(?P<zone>.+)|NAMES\s+(?P<names>.+)|"
    r"(?P<tx>(?:SESSION\s+CHARACTERISTICS\s+AS\s+)?TRANSACTION\b.*)|SESSION\s+AUTHORIZATION\s+(?P<auth>.+)|"
    r"ROLE\s+(?P<role>.+))",
    re.IGNORECASE | re.DOTALL,
)
_NOT_SESSION_SHOW: Final = re.compile(
    r"SHOW\s+(TABLES|MEASUREMENTS|TAG\s|FIELD\s|SERIES|DATABASES|RETENTION|CONTINUOUS|DOWNSAMPLING|PARTITIONS)", re.IGNORECASE
)


def _set(engine: StorageEngine, text: str, session: Session) -> CatalogResult:
    special = _SET_SPECIAL.fullmatch(text)
    if special is not None:
        if special.group("tx") is not None:
            return CatalogResult([], [], "SET")
        if special.group("zone") is not None:
            return _assign(session, "timezone", special.group("zone"))
        if special.group("names") is not None:
            return _assign(session, "client_encoding", special.group("names"))
        return CatalogResult([], [], "SET")
    match = _SET.fullmatch(text)
    if match is None:
        raise PgError("42601", f"syntax error in SET statement: {text!r}")
    return _assign(session, match.group("name").strip('"').lower(), match.group("value"))


def _assign(session: Session, name: str, raw: str) -> CatalogResult:
    raw = raw.strip()
    if raw.upper() in ("DEFAULT", "LOCAL"):
        return _reset_one(session, name)
    if name not in session.settings and "." not in name:
        raise PgError("42704", f'unrecognized configuration parameter "{name}"')
    value = _set_value(name, raw)
    session.settings[name] = value
    return CatalogResult([], [], "SET", [_REPORTED_LOWER[name]] if name in _REPORTED_LOWER else [])


def _set_value(name: str, raw: str) -> str:
    """The stored text of a SET value: a list of words, numbers or quoted strings, joined by ', '."""
    parts = [part.strip() for part in re.findall(r"'(?:[^']|'')*'|\"[^\"]*\"|[^,]+", raw) if part.strip()]
    values = [_normalise(name, part) for part in parts]
    if name == "timezone" and values and values[0].upper() in ("UTC", "GMT", "Z"):
        return "UTC"
    return ", ".join(values)


def _reset(engine: StorageEngine, text: str, session: Session) -> CatalogResult:
    match = re.fullmatch(r"RESET\s+(?P<name>ALL|[A-Za-z_][\w.]*|\"[^\"]+\")", text, re.IGNORECASE)
    if match is None:
        raise PgError("42601", f"syntax error in RESET statement: {text!r}")
    name = match.group("name").strip('"').lower()
    if name == "all":
        changed = [_REPORTED_LOWER[n] for n in _REPORTED_LOWER if session.settings.get(n) != session.defaults.get(n)]
        session.settings = dict(session.defaults)
        return CatalogResult([], [], "RESET", changed)
    result = _reset_one(session, name)
    return CatalogResult([], [], "RESET", result.changed)


def _reset_one(session: Session, name: str) -> CatalogResult:
    if name not in session.defaults:
        if "." in name:
            session.settings.pop(name, None)
            return CatalogResult([], [], "SET")
        raise PgError("42704", f'unrecognized configuration parameter "{name}"')
    changed = session.settings.get(name) != session.defaults[name]
    session.settings[name] = session.defaults[name]
    return CatalogResult([], [], "SET", [_REPORTED_LOWER[name]] if changed and name in _REPORTED_LOWER else [])


_SHOW_ALIASES: Final[dict[str, str]] = {
    "transaction isolation level": "transaction_isolation",
    "time zone": "timezone",
    "session authorization": "session_authorization",
    "transaction read only": "transaction_read_only",
}


def _show(engine: StorageEngine, text: str, session: Session) -> CatalogResult | None:
    if _NOT_SESSION_SHOW.match(text):
        return None
    name = " ".join(text.split()[1:]).strip('"').lower()
    if name == "all":
        rows: list[list[object]] = [
            [spelling, display(key, session.settings.get(key, default)), description]
            for key, (spelling, default, description) in sorted(_DEFAULTS.items())
        ]
        return CatalogResult([("name", t.TEXT), ("setting", t.TEXT), ("description", t.TEXT)], rows, "SHOW")
    name = _SHOW_ALIASES.get(name, name)
    value = session.settings.get(name)
    if value is None:
        raise PgError("42704", f'unrecognized configuration parameter "{name}"')
    return CatalogResult([(name, t.TEXT)], [[display(name, value)]], "SHOW")


def _discard(engine: StorageEngine, text: str, session: Session) -> CatalogResult:
    what = " ".join(text.split()[1:]).upper()
    if what not in ("ALL", "PLANS", "SEQUENCES", "TEMP", "TEMPORARY"):
        raise PgError("42601", f"DISCARD {what or '(nothing)'}: expected ALL, PLANS, SEQUENCES or TEMP")
    if what == "ALL":
        changed = [_REPORTED_LOWER[n] for n in _REPORTED_LOWER if session.settings.get(n) != session.defaults.get(n)]
        session.settings = dict(session.defaults)
        return CatalogResult([], [], "DISCARD ALL", changed)
    return CatalogResult([], [], "DISCARD " + ("TEMP" if what == "TEMPORARY" else what))


def _close(engine: StorageEngine, text: str, session: Session) -> CatalogResult:
    target = " ".join(text.split()[1:])
    if target.upper() == "ALL":
        return CatalogResult([], [], "CLOSE CURSOR ALL")
    raise PgError("34000", f'cursor "{target}" does not exist')


def _listen(engine: StorageEngine, text: str, session: Session) -> CatalogResult:
    return CatalogResult([], [], text.split()[0].upper())


def _statement_show(engine: StorageEngine, text: str, session: Session) -> CatalogResult | None:
    return _show(engine, text, session)


_STATEMENTS: Final = {
    "SET": _set,
    "RESET": _reset,
    "SHOW": _statement_show,
    "DISCARD": _discard,
    "CLOSE": _close,
    "LISTEN": _listen,
    "UNLISTEN": _listen,
}


# ---- SELECT over the virtual catalog ----------------------------------------------------------------


def _prepare(text: str) -> str:
    """Rewrite what sqlglot does not read: OPERATOR(pg_catalog.~), COLLATE pg_catalog.default, ::pg_catalog.x."""
    text = re.sub(r"OPERATOR\s*\(\s*pg_catalog\s*\.\s*([~!=<>*]+)\s*\)", r" \1 ", text)
    text = re.sub(r"\s+COLLATE\s+(?:pg_catalog\.)?\"?(?:default|C|POSIX)\"?", "", text, flags=re.IGNORECASE)
    return re.sub(r"::\s*pg_catalog\.", "::", text)


def _tables_of(tree: exp.Expr) -> list[exp.Table]:
    """The tables a statement reads, leaving out references to its own WITH names."""
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    return [
        table
        for table in tree.find_all(exp.Table)
        if isinstance(table.this, exp.Identifier) and not (not table.db and table.name.lower() in ctes)
    ]


def _select(engine: StorageEngine, text: str, session: Session) -> CatalogResult | None:
    try:
        # PostgreSQL folds unquoted identifiers to lower case: pgjdbc's `NULL AS TABLE_CAT` is column table_cat
        tree = normalize_identifiers(sqlglot.parse_one(_prepare(text), read="postgres"), dialect="postgres")
    except SqlglotError:
        return None  # not ours to judge: rusts/sql reports the syntax error with its position
    ctx = Context(engine, session.user, session.database, session.settings)
    tables = _tables_of(tree)
    catalog = [tb for tb in tables if _is_catalog_name(tb)]
    if tables and len(catalog) < len(tables):
        return None  # reads a measurement
    evaluator = Evaluator(ctx, _functions(session))
    try:
        table = evaluator.run(tree)
    except NotCatalog:
        return None
    except EvaluationError as error:
        raise PgError(error.sqlstate, error.message) from None
    except Unsupported as error:
        if not tables:  # SELECT round(2.5), SELECT 'a' || 'b': rusts.sql computes constants and functions too
            log.debug("a SELECT without FROM left to rusts.sql (%s): %s", error, text[:200])
            return None
        log.info("catalog query answered with no rows (%s): %s", error, text[:200])
        return _empty(evaluator, tree)
    rows = [[_output(value) for value in row] for row in table.rows]
    return CatalogResult(table.columns, rows, f"SELECT {len(rows)}", evaluator.changed)


def _is_catalog_name(table: exp.Table) -> bool:
    schema = table.db.lower()
    name = table.name.lower()
    return schema in ("pg_catalog", "information_schema") or (schema == "" and name.startswith("pg_"))


def _empty(evaluator: Evaluator, tree: exp.Expr) -> CatalogResult:
    select = tree
    while isinstance(select, exp.Union):
        select = select.this
    if not isinstance(select, exp.Select):
        return CatalogResult([], [], "SELECT 0")
    try:
        _envs, typing = evaluator._from(select, None)
    except (Unsupported, NotCatalog):
        typing = Env({}, None)
    items = evaluator.select_items(select, typing)
    columns = [(column_name(item), evaluator.type_of(item, typing)) for item in items]
    return CatalogResult(columns, [], "SELECT 0")


def _output(value: object) -> object:
    """A value as CatalogResult carries it: regclass/regtype as their names, sets never escape."""
    if isinstance(value, (RegType,)) or (isinstance(value, int) and type(value).__name__ == "RegClass"):
        return text_of(value)
    if isinstance(value, SetValue):
        return list(value)
    if isinstance(value, list):
        return [_output(v) for v in value]
    return value


# ---- functions ----------------------------------------------------------------------------------------


def _functions(session: Session) -> dict[str, tuple[Function, int]]:
    """Implementations of the PostgreSQL functions catalog queries call, with their result type."""

    def setting(ev: Evaluator, args: list[object]) -> object:
        name = str(args[0]).lower()
        if name not in session.settings:
            if len(args) > 1 and args[1] is True:
                return None
            raise PgError("42704", f'unrecognized configuration parameter "{args[0]}"')
        return display(name, session.settings[name])

    def set_config(ev: Evaluator, args: list[object]) -> object:
        name = str(args[0]).lower()
        if name not in session.settings and "." not in name:
            raise PgError("42704", f'unrecognized configuration parameter "{args[0]}"')
        session.settings[name] = _normalise(name, str(args[1]))
        if name in _REPORTED_LOWER:
            ev.changed.append(_REPORTED_LOWER[name])
        return display(name, session.settings[name])

    def to_regclass(ev: Evaluator, args: list[object], strict: bool = False) -> object:
        value = args[0]
        if value is None:
            return None
        if isinstance(value, int):
            return regclass(value, _relation_name(ev, value) or str(value))
        name = str(value).strip('"')
        for prefix in ("pg_catalog.", "public."):
            name = name.removeprefix(prefix)
        if name in SYSTEM_RELATIONS:
            return regclass(SYSTEM_RELATIONS[name], name)
        if name in ev.ctx.engine.measurements():
            return regclass(relation_oid(name), name)
        if strict:
            raise PgError("42P01", f'relation "{value}" does not exist')
        return None

    def to_regtype(ev: Evaluator, args: list[object], strict: bool = False) -> object:
        value = args[0]
        if value is None:
            return None
        if isinstance(value, int):
            return RegType(value)
        found = TYPES_BY_NAME.get(str(value).strip().lower().removeprefix("pg_catalog."))
        if found is None:
            if strict:
                raise PgError("42704", f'type "{value}" does not exist')
            return None
        return RegType(found.oid)

    def regnamespace(ev: Evaluator, args: list[object]) -> object:
        names = {NAMESPACE_PG_CATALOG: "pg_catalog", NAMESPACE_PUBLIC: "public"}
        names[NAMESPACE_INFORMATION_SCHEMA] = "information_schema"
        value = args[0]
        return names.get(value, str(value)) if isinstance(value, int) else value

    def format_type(ev: Evaluator, args: list[object]) -> object:
        oid = args[0]
        if not isinstance(oid, int):
            return None
        found = TYPES_BY_OID.get(oid)
        return found.formatted if found is not None else "???"

    def unnest(ev: Evaluator, args: list[object]) -> object:
        return SetValue(args[0]) if isinstance(args[0], list) else SetValue()

    def series(ev: Evaluator, args: list[object]) -> object:
        start, stop = args[0], args[1]
        step = args[2] if len(args) > 2 else 1
        if not isinstance(start, int) or not isinstance(stop, int) or not isinstance(step, int) or step == 0:
            raise Unsupported("generate_series of non-integers")
        return SetValue(range(start, stop + (1 if step > 0 else -1), step))

    def quote_ident(ev: Evaluator, args: list[object]) -> object:
        name = args[0]
        if name is None:
            return None
        text = str(name)
        plain = re.fullmatch(r"[a-z_][a-z0-9_$]*", text) is not None and text not in _QUOTED_KEYWORDS
        return text if plain else '"' + text.replace('"', '""') + '"'

    def array_to_string(ev: Evaluator, args: list[object]) -> object:
        if not isinstance(args[0], list):
            return None
        return str(args[1]).join(text_of(v) for v in args[0] if v is not None)

    def size_pretty(ev: Evaluator, args: list[object]) -> object:
        size = args[0]
        return None if not isinstance(size, int) else f"{size} bytes" if size < 10240 else f"{size // 1024} kB"

    def coalesce(ev: Evaluator, args: list[object]) -> object:
        return next((a for a in args if a is not None), None)

    def json_object(ev: Evaluator, args: list[object]) -> object:
        import json

        pairs = {str(args[i]): args[i + 1] for i in range(0, len(args) - 1, 2)}
        return json.dumps(pairs)

    def array_length(ev: Evaluator, args: list[object]) -> object:
        return len(args[0]) if isinstance(args[0], list) and args[0] else None

    def parse_ident(ev: Evaluator, args: list[object]) -> object:
        if args[0] is None:
            return None
        parts = re.findall(r'\s*("(?:[^"]|"")*"|[^."]+)\s*(?:\.|$)', str(args[0]))
        return [part[1:-1].replace('""', '"') if part.startswith('"') else part.strip().lower() for part in parts]

    def trim(ev: Evaluator, args: list[object]) -> object:
        return None if args[0] is None else str(args[0]).strip(" " if len(args) < 2 else str(args[1]))

    def array_lower(ev: Evaluator, args: list[object]) -> object:
        return 1 if isinstance(args[0], list) and args[0] else None

    def string_to_array(ev: Evaluator, args: list[object]) -> object:
        text, delimiter = args[0], args[1] if len(args) > 1 else None
        if text is None:
            return None
        if delimiter is None:
            return list(str(text))
        return [part for part in str(text).split(str(delimiter))] if delimiter != "" else [str(text)]

    def age(ev: Evaluator, args: list[object]) -> object:
        # age(xid): every catalog row has xmin 1 and txid_current() is 1 (age(timestamp) is an interval: refused)
        if args[0] is None:
            return None
        if isinstance(args[0], int) and not isinstance(args[0], bool):
            return max(0, 1 - args[0])
        raise Unsupported("age() of a non-xid")

    def const(value: object) -> Function:
        return lambda ev, args: value

    def nothing(ev: Evaluator, args: list[object]) -> object:
        return None

    def lower(ev: Evaluator, args: list[object]) -> object:
        return None if args[0] is None else text_of(args[0]).lower()

    def upper(ev: Evaluator, args: list[object]) -> object:
        return None if args[0] is None else text_of(args[0]).upper()

    def length(ev: Evaluator, args: list[object]) -> object:
        return None if args[0] is None else len(text_of(args[0]))

    return {
        "version": (const(VERSION_STRING), t.TEXT),
        "current_schema": (const("public"), t.NAME),
        "current_schemas": (lambda ev, args: ["pg_catalog", "public"] if args and args[0] else ["public"], t.NAME_ARRAY),
        "current_database": (const(session.database), t.NAME),
        "current_catalog": (const(session.database), t.NAME),
        "current_user": (const(session.user), t.NAME),
        "current_role": (const(session.user), t.NAME),
        "session_user": (const(session.user), t.NAME),
        "user": (const(session.user), t.NAME),
        "current_setting": (setting, t.TEXT),
        "set_config": (set_config, t.TEXT),
        "pg_backend_pid": (const(session.backend_pid), t.INT4),
        "pg_advisory_unlock_all": (const(""), t.VOID),
        "pg_is_in_recovery": (const(False), t.BOOL),
        "pg_postmaster_start_time": (const(Moment(_STARTED_NS)), t.TIMESTAMPTZ),
        "now": (lambda ev, args: Moment(time.time_ns() // 1000 * 1000), t.TIMESTAMPTZ),
        "inet_server_addr": (const(session.server_addr), t.INET),
        "inet_server_port": (const(session.server_port), t.INT4),
        "inet_client_addr": (nothing, t.INET),
        "to_regtype": (to_regtype, t.REGTYPE),
        "to_regtype_strict": (lambda ev, args: to_regtype(ev, args, True), t.REGTYPE),
        "to_regclass": (to_regclass, t.REGCLASS),
        "to_regclass_strict": (lambda ev, args: to_regclass(ev, args, True), t.REGCLASS),
        "regnamespace": (regnamespace, t.TEXT),
        "format_type": (format_type, t.TEXT),
        "pg_get_userbyid": (const(session.user), t.NAME),
        "pg_table_is_visible": (const(True), t.BOOL),
        "pg_type_is_visible": (const(True), t.BOOL),
        "pg_function_is_visible": (const(True), t.BOOL),
        "pg_collation_is_visible": (const(True), t.BOOL),
        "pg_relation_is_publishable": (const(False), t.BOOL),
        "has_table_privilege": (const(True), t.BOOL),
        "has_schema_privilege": (const(True), t.BOOL),
        "has_database_privilege": (const(True), t.BOOL),
        "pg_encoding_to_char": (lambda ev, args: "UTF8" if args[0] == 6 else "SQL_ASCII", t.NAME),
        "pg_get_expr": (nothing, t.TEXT),
        "pg_get_constraintdef": (nothing, t.TEXT),
        "pg_get_indexdef": (nothing, t.TEXT),
        "pg_get_serial_sequence": (nothing, t.TEXT),
        "pg_get_partkeydef": (nothing, t.TEXT),
        "pg_tablespace_location": (const(""), t.TEXT),
        "pg_get_statisticsobjdef_columns": (nothing, t.TEXT),
        "obj_description": (nothing, t.TEXT),
        "col_description": (nothing, t.TEXT),
        "shobj_description": (nothing, t.TEXT),
        "pg_table_size": (const(0), t.INT8),
        "pg_total_relation_size": (const(0), t.INT8),
        "pg_relation_size": (const(0), t.INT8),
        "pg_database_size": (const(0), t.INT8),
        "pg_size_pretty": (size_pretty, t.TEXT),
        "unnest": (unnest, t.TEXT),
        "generate_series": (series, t.INT4),
        "quote_ident": (quote_ident, t.TEXT),
        "array_to_string": (array_to_string, t.TEXT),
        "array_length": (array_length, t.INT4),
        "array_upper": (array_length, t.INT4),
        "array_lower": (array_lower, t.INT4),
        "parse_ident": (parse_ident, t.TEXT_ARRAY),
        "string_to_array": (string_to_array, t.TEXT_ARRAY),
        "coalesce": (coalesce, t.TEXT),
        "json_build_object": (json_object, t.JSON),
        "lower": (lower, t.TEXT),
        "trim": (trim, t.TEXT),
        "btrim": (trim, t.TEXT),
        "upper": (upper, t.TEXT),
        "length": (length, t.INT4),
        "txid_current": (const(1), t.INT8),
        "age": (age, t.INT4),
        "nullif": (lambda ev, args: None if args[0] is not None and args[0] == args[1] else args[0], t.TEXT),
    }


_STARTED_NS: Final = time.time_ns() // 1000 * 1000


def _relation_name(ev: Evaluator, oid: int) -> str | None:
    for name, system_oid in SYSTEM_RELATIONS.items():
        if system_oid == oid:
            return name
    return next((m for m in ev.ctx.engine.measurements() if relation_oid(m) == oid), None)
