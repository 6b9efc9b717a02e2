"""Differential test of RusTs's SQL against a real PostgreSQL: the same rows, the same queries, answers compared.

    python tools/sql_oracle.py --pg-bin /usr/lib/postgresql/15/bin [--seed 1] [--queries 2000] [--rows 600]
    python tools/sql_oracle.py --dsn 'host=127.0.0.1 port=5432 user=postgres dbname=postgres' ...
    python tools/sql_oracle.py --pg-bin ... --seed 12 --rows 1500 --spread --layers 3 --query 'SELECT COUNT(*) FROM m'


With --pg-bin it starts a throwaway cluster in a temporary directory (as the postgres user when run as
root) on a free port and stops it at the end. Random rows (fixed seed) go into a RusTs engine in a
temporary directory (line protocol, in-process) and into a PostgreSQL table `m` (time timestamptz, one
text column per tag, one column per field, NULL where a row lacks a field; times are whole microseconds).
Queries come from a small grammar of what RusTs claims to support (README, "SQL over HTTP"); time_bucket
is written as date_bin(width, time, '2000-01-03') for PostgreSQL. Answers are compared as multisets, or
in order when ORDER BY fully determines it; floats with a relative tolerance, numeric by value.

Printed: each difference (query, both answers), then counts. "refused" means RusTs raised an error PostgreSQL
did not; those are listed apart (a refusal must name the construct; it is not a wrong answer).
Known, not bugs of the SQL layer: with --extremes, SUM of a bigint field wraps in the executor (PostgreSQL
answers a numeric), AVG of huge bigints loses digits (float8), and PostgreSQL refuses AVG/SUM of floats whose
squares overflow. Whether PostgreSQL raises an error (10 / 0) in a row or group that LIMIT leaves out depends
on its plan (a sorted GroupAggregate stops early); RusTs always computes every row's SELECT list before a sort.
A developer tool, not part of the test suite.
"""

import argparse
import datetime
import decimal
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from rusts.api.line_protocol import engine_parser  # noqa: E402
from rusts.core.errors import QueryError  # noqa: E402
from rusts.sql import execute_sql  # noqa: E402
from rusts.storage.engine import EngineOptions, StorageEngine  # noqa: E402

BASE_US = 1_761_955_200_000_000  # 2025-11-01T00:00:00Z
HOSTS = ["a", "b", "c", "d", "e"]
DCS = ["x", "y"]
WORDS = ["apple", "Banana", "cherry", "date", "élan", "fig_1", "g%h", ""]
NOW_NS = (BASE_US + 6 * 3600 * 1_000_000) * 1000


# ---- the cluster ----


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self, bin_dir: str) -> None:
        self.bin = Path(bin_dir)
        self.dir = Path(tempfile.mkdtemp(prefix="sql_oracle_pg_"))
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.dir, "postgres")

    def _run(self, *args: str) -> None:
        command = list(args)
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)

    def start(self) -> str:
        data = self.dir / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync",
                  "-E", "UTF8", "--locale=C.UTF-8")  # strings compare by code point, as in RusTs
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c TimeZone=UTC"
        self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.dir / "log"), "-w", "start")
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---- the data ----


def make_rows(rng: random.Random, count: int, extremes: bool, spread: bool = False) -> list[dict[str, Any]]:
    """Rows with sparse fields; `extremes` adds values whose sums and squares overflow (1e300, +-2**62);
    `spread` adds 2-hour gaps, so that the rows span days (several partitions)."""
    big_float = 1e300 if extremes else 1e15
    big_ints = [2**62, -(2**62), 2**63 - 1, -(2**63)] if extremes else [2**40, -(2**40), 2**53 + 1]
    rows: list[dict[str, Any]] = []
    at = BASE_US
    for _ in range(count):
        at += rng.choice([1, 7, 1000, 1_000_000, 13_000_000, 60_000_000, 61_000_001] + ([7_200_000_000] if spread else []))
        row: dict[str, Any] = {"time": at, "host": rng.choice(HOSTS), "dc": rng.choice(DCS) if rng.random() < 0.9 else None}
        if rng.random() < 0.8:
            row["f"] = rng.choice([round(rng.uniform(-100, 100), 3), 0.0, -0.5, 2.5, big_float, -1e-300, 7.0])
        if rng.random() < 0.8:
            row["i"] = rng.choice([rng.randint(-50, 50), 0, 7, -7, *big_ints])
        if rng.random() < 0.7:
            row["j"] = rng.choice([rng.randint(-9, 9), 3, -3, 0])
        if rng.random() < 0.6:
            row["s"] = rng.choice(WORDS)
        if rng.random() < 0.5:
            row["b"] = rng.random() < 0.5
        if not any(k in row for k in ("f", "i", "j", "s", "b")):
            row["j"] = rng.randint(-9, 9)
        rows.append(row)
    return rows


def line_of(row: dict[str, Any]) -> str:
    fields = []
    for key in ("f", "i", "j", "s", "b"):
        if key not in row:
            continue
        value = row[key]
        if key == "f":
            fields.append(f"f={value!r}")
        elif key in ("i", "j"):
            fields.append(f"{key}={value}i")
        elif key == "s":
            fields.append('s="' + value.replace("\\", "\\\\").replace('"', '\\"') + '"')
        else:
            fields.append(f"b={'true' if value else 'false'}")
    dc = "" if row["dc"] is None else f",dc={row['dc']}"
    return f"m{dc},host={row['host']} {','.join(fields)} {row['time'] * 1000}"


def load(engine: StorageEngine, conn: psycopg.Connection[Any], rows: list[dict[str, Any]], layers: int = 1) -> None:
    """The rows into both; RusTs gets them in `layers` shuffled batches, each flushed to a segment but the
    last when there are several (so that answers combine segments and the memtable)."""
    shuffled = list(rows)
    random.Random(len(rows)).shuffle(shuffled)
    size = -(-len(rows) // layers)
    for start in range(0, len(rows), size):
        batch = shuffled[start : start + size]
        result = engine.write_line_protocol("\n".join(line_of(r) for r in batch).encode())
        assert not result.errors, result.errors
        if layers == 1 or start + size < len(rows):
            engine.flush()
    conn.execute("DROP TABLE IF EXISTS m")
    conn.execute("CREATE TABLE m (time timestamptz, host text, dc text, f float8, i int8, j int8, s text, b bool)")
    with conn.cursor().copy("COPY m FROM STDIN") as copy:
        for r in rows:
            when = datetime.datetime.fromtimestamp(0, datetime.UTC) + datetime.timedelta(microseconds=r["time"])
            copy.write_row([when, r["host"], r.get("dc"), r.get("f"), r.get("i"), r.get("j"), r.get("s"), r.get("b")])
    conn.commit()


# ---- the queries ----

TIME_LITERALS = ["'2025-11-01T00:30:00Z'", "'2025-11-01 01:00:00+00'", "'2025-11-01T02:00:00Z'::timestamptz"]
BUCKETS = [
    ("time_bucket('5 minutes', time)", "date_bin('5 minutes', time, '2000-01-03')"),
    ("time_bucket('7 minutes', time)", "date_bin('7 minutes', time, '2000-01-03')"),
    ("date_bin('10 minutes', time, '2000-01-01')", None),
    ("date_bin('90 seconds', time, '2025-11-01 00:00:17+00')", None),
    ("date_trunc('hour', time)", None),
    ("date_trunc('minute', time)", None),
    ("date_trunc('day', time)", None),
    ("date_trunc('week', time)", None),
    ("time_bucket('1 hour', time)", "date_bin('1 hour', time, '2000-01-03')"),
    ("time_bucket('1 day', time)", "date_bin('1 day', time, '2000-01-03')"),
    ("date_bin('13 minutes', time, '2025-10-31 23:59:59.5+00')", None),
]
AGGREGATES = [
    "COUNT(*)", "COUNT(f)", "COUNT(i)", "COUNT(s)", "COUNT(DISTINCT host)", "COUNT(DISTINCT dc)",
    "SUM(f)", "SUM(j)", "AVG(f)", "AVG(j)", "MIN(f)", "MAX(f)", "MIN(i)", "MAX(i)", "MIN(j)", "MAX(j)",
    "STDDEV(f)", "STDDEV(j)", "PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY f)",
    "PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY j)", "PERCENTILE_CONT(0) WITHIN GROUP (ORDER BY f)",
    "MIN(s)", "MAX(s)", "SUM(i)", "AVG(i)", "MIN(b)", "MAX(b)", "stddev_samp(f)",
    "COUNT(*) + 0.5", "AVG(j) * 2", "MAX(j) - MIN(j)", "SUM(f) / COUNT(f)", "AVG(j)::bigint", "COUNT(j) % 3",
    "-MAX(j)", "SUM(j) * 2", "MIN(f) > 0", "COUNT(*) - COUNT(f)", "(MAX(j) + 1) / 2", "SUM(j) / COUNT(j)",
    "COUNT(DISTINCT j)", "COUNT(DISTINCT s)", "COUNT(DISTINCT f)", "PERCENTILE_CONT(0.25) WITHIN GROUP (ORDER BY j)",
    "PERCENTILE_CONT(1) WITHIN GROUP (ORDER BY f)", "1", "COUNT(b)", "STDDEV(i)", "AVG(f) > AVG(j)",
]
SCALARS = [
    "f", "i", "j", "s", "b", "f * 2", "j + 1", "j / 3", "j % 3", "-j", "i + j", "f + j", "j * j",
    "f::bigint", "j::float8", "(j - 7) / 2", "i * 2", "i - j", "f / 4", "j / j", "1.5 * j", "j % -4",
    "f - f", "i / 1000", "-f", "s LIKE '%a%'", "j > 2 OR f < 0", "b IS NULL", "j IN (1, 2)", "dc",
]
FIELD_CONDITIONS = [
    "f > 0", "f <= 2.5", "f = 7", "j >= 0", "j < 3", "j = -3", "i > 0", "i != 7", "s = 'apple'", "s <> 'date'",
    "b = true", "b = false", "f != 0", "j <> 0", "s > 'c'", "s < 'Z'", "f >= -0.5", "j > 100", "f < -1e300",
    "j > 2.5", "j = 2.0", "s = 5", "b = 1", "j = 'x'", "f > '1.5'", "j < '3'", "b = 'true'", "s = true", "f = 7.0",
]
# terms a SELECT of rows tests on each row (the model has no room for them)
ROW_CONDITIONS = [
    "(f > 0 OR j < 0)", "NOT (f > 0)", "f IS NULL", "j IS NOT NULL", "s LIKE 'a%'", "s NOT LIKE '%e%'",
    "s ~ 'an'", "s ILIKE 'b%'", "b", "NOT b", "f > j", "j + 1 > 2", "(host = 'a' OR f < 0)", "time != '2025-11-01T00:00:07Z'",
    "(time < '2025-11-01T00:20:00Z' OR j = 3)", "s IN ('apple', 'date')", "j NOT IN (1, 2, 3)", "j BETWEEN -2 AND 2",
    "f = NULL", "b IS NOT NULL", "dc IS NULL", "dc IS NOT NULL", "host > 'b'",
]
TAG_CONDITIONS = [
    "host = 'a'", "host <> 'b'", "host IN ('a', 'c')", "host NOT IN ('d')", "host LIKE 'a%'", "dc = 'x'",
    "host ~ '^[ab]'", "host !~ 'c'", "NOT (host = 'a')", "(host = 'a' OR dc = 'y')", "host LIKE '_'",
    "(host = 'c' AND dc = 'x')", "NOT (host IN ('a', 'b') OR dc = 'x')", "host ILIKE 'A'", "host ~* 'B'",
    "host NOT LIKE 'e'", "dc IS NULL", "(dc = 'x' OR dc IS NULL)", "host = 'zz'", "NOT (dc <> 'y')",
    "host IN ('b', 'zz') AND NOT dc IN ('x')",
]


def time_condition(rng: random.Random) -> str:
    a, b = rng.sample(TIME_LITERALS[:2], 2) if rng.random() < 0.3 else (rng.choice(TIME_LITERALS), None)
    op = rng.choice([">", ">=", "<", "<="])
    if rng.random() < 0.2:
        return f"time BETWEEN '2025-11-01T00:10:00Z' AND '2025-11-01T01:40:00Z'"
    if rng.random() < 0.15:
        return f"time >= '{rng.choice(['2030-01-01', '2025-11-01T00:00:00.000001Z'])}'"
    return f"time {op} {a}" + ("" if b is None else f" AND time < {b}")


def where_clause(rng: random.Random, rows: bool = False) -> str:
    terms: list[str] = []
    if rows and rng.random() < 0.4:
        terms.append(rng.choice(ROW_CONDITIONS))
    if rng.random() < 0.4:
        terms.append(time_condition(rng))
    if rng.random() < 0.4:
        terms.append(rng.choice(TAG_CONDITIONS))
    if rng.random() < 0.35:
        terms.append(rng.choice(FIELD_CONDITIONS))
    return (" WHERE " + " AND ".join(terms)) if terms else ""


def raw_query(rng: random.Random) -> tuple[str, bool]:
    """A non-aggregating SELECT and whether its ORDER BY fixes the order of rows."""
    picked = rng.sample(SCALARS, rng.randint(1, 3))
    extra = rng.sample(["time", "host", "dc"], rng.randint(0, 2))
    items = extra + picked
    text = f"SELECT {', '.join(items)} FROM m" + where_clause(rng, rows=True)
    ordered = False
    if rng.random() < 0.6:
        key = rng.choice(items)
        direction = rng.choice(["", " DESC", " ASC NULLS FIRST", " DESC NULLS LAST", " NULLS LAST"])
        text += f" ORDER BY {key}{direction}, time" if key != "time" else f" ORDER BY time{rng.choice(['', ' DESC'])}"
        ordered = True
        if rng.random() < 0.5:
            text += f" LIMIT {rng.randint(0, 30)}"
            if rng.random() < 0.5:
                text += f" OFFSET {rng.randint(0, 40)}"
    return text, ordered


def aggregate_query(rng: random.Random) -> tuple[str, str, bool]:
    aggregates = rng.sample(AGGREGATES, rng.randint(1, 3))
    if rng.random() < 0.25:
        a, b = rng.sample(AGGREGATES[:18], 2)
        aggregates.append(f"{a} {rng.choice(['+', '-', '*', '/'])} {b}")
    groups: list[str] = []
    pg_groups: list[str] = []
    if rng.random() < 0.5:
        tags = rng.sample(["host", "dc"], rng.randint(1, 2))
        groups += tags
        pg_groups += tags
    if rng.random() < 0.4:
        rusts_bucket, pg_bucket = rng.choice(BUCKETS)
        groups.insert(0, rusts_bucket)
        pg_groups.insert(0, pg_bucket or rusts_bucket)
    names = [f"g{k}" for k in range(len(groups))]
    select = [f"{g} AS {n}" for g, n in zip(groups, names)]
    pg_select = [f"{g} AS {n}" for g, n in zip(pg_groups, names)]
    tail = [f"{a} AS a{k}" for k, a in enumerate(aggregates)]
    where = where_clause(rng)
    group = f" GROUP BY {', '.join(names)}" if names else ""
    having = ""
    if rng.random() < 0.3:
        having = " HAVING " + rng.choice(
            ["COUNT(*) > 3", "SUM(f) > 0", "MAX(j) >= 5", "COUNT(f) = 0", "AVG(j) < 0", "MIN(f) IS NULL", "a0 IS NOT NULL",
             "COUNT(*) > 3 OR MIN(j) < 0", "NOT (SUM(j) > 0)", "MAX(j) IN (8, 9)", "AVG(j) BETWEEN -1 AND 1"]
        )
        if "a0" in having and not names:
            having = " HAVING COUNT(*) > 1"
        if "a0" in having:  # an output alias in HAVING is RusTs's extension; PostgreSQL needs the expression
            pg_having = " HAVING " + aggregates[0] + " IS NOT NULL"
        else:
            pg_having = having
    else:
        pg_having = ""
    order = ""
    ordered = False
    if names and rng.random() < 0.6:
        keys = [k + rng.choice(["", " DESC"]) for k in names]
        keys += [rng.choice(["a0", "a0 DESC", "a0 NULLS FIRST", "a0 DESC NULLS LAST"])] if rng.random() < 0.3 else []
        rng.shuffle(keys)
        order = " ORDER BY " + ", ".join(keys)
        ordered = True
        if rng.random() < 0.4:
            order += f" LIMIT {rng.randint(0, 6)} OFFSET {rng.randint(0, 3)}"
    rusts_text = f"SELECT {', '.join(select + tail)} FROM m{where}{group}{having}{order}"
    pg_text = f"SELECT {', '.join(pg_select + tail)} FROM m{where}{group}{pg_having}{order}"
    return rusts_text, pg_text, ordered


def make_queries(rng: random.Random, count: int) -> list[tuple[str, str, bool]]:
    queries = []
    for _ in range(count):
        if rng.random() < 0.45:
            text, ordered = raw_query(rng)
            queries.append((text, text, ordered))
        else:
            queries.append(aggregate_query(rng))
    return queries


# ---- comparing ----


def normal(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        delta = value - datetime.datetime.fromtimestamp(0, datetime.UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b if isinstance(a, bool) and isinstance(b, bool) else False
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        fa, fb = float(a), float(b)
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        return math.isclose(fa, fb, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def rows_equal(ours: list[list[Any]], theirs: list[list[Any]], ordered: bool) -> bool:
    if len(ours) != len(theirs):
        return False
    if not ordered:
        ours = sorted(ours, key=sort_key)
        theirs = sorted(theirs, key=sort_key)
    return all(len(x) == len(y) and all(same(p, q) for p, q in zip(x, y)) for x, y in zip(ours, theirs))


def sort_key(row: list[Any]) -> tuple[Any, ...]:
    key = []
    for value in row:
        if value is None:
            key.append((0, 0, ""))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            key.append((1, round(float(value), 6) if math.isfinite(float(value)) else float(value), ""))
        else:
            key.append((2, 0, str(value)))
    return tuple(key)


def run_pg(conn: psycopg.Connection[Any], text: str) -> tuple[list[list[Any]] | None, str]:
    try:
        rows = conn.execute(text).fetchall()
        conn.commit()
        return [[normal(v) for v in row] for row in rows], ""
    except psycopg.Error as error:
        conn.rollback()
        return None, f"{error.sqlstate}: {str(error).splitlines()[0]}"


def run_rusts(engine: StorageEngine, text: str) -> tuple[list[list[Any]] | None, str]:
    try:
        answer = execute_sql(engine, text, now=NOW_NS)
        return answer.rows, ""
    except QueryError as error:
        return None, f"{type(error).__name__}: {error}"
    except Exception as error:  # a crash is a finding too
        return None, f"CRASH {type(error).__name__}: {error}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-bin", help="directory of initdb/pg_ctl (starts a throwaway cluster)")
    parser.add_argument("--dsn", help="an existing PostgreSQL to use instead (its table m is replaced)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--extremes", action="store_true", help="data whose sums overflow (SUM/AVG/STDDEV limits)")
    parser.add_argument("--spread", action="store_true", help="rows spanning days (several partitions)")
    parser.add_argument("--layers", type=int, default=1, help="write in this many batches, the last unflushed")
    parser.add_argument("--query", action="append", help="run only this query (repeatable) and print both answers")
    parser.add_argument("--show", type=int, default=40, help="differences printed in full")
    parser.add_argument("--refusals", action="store_true", help="print each refusal too")
    args = parser.parse_args()
    if not args.pg_bin and not args.dsn:
        parser.error("give --pg-bin or --dsn")
    cluster = Cluster(args.pg_bin) if args.dsn is None else None
    dsn = cluster.start() if cluster is not None else args.dsn
    work = Path(tempfile.mkdtemp(prefix="sql_oracle_rusts_"))
    engine = StorageEngine.open(EngineOptions(str(work), memtable_max_age_secs=10**6), engine_parser)
    try:
        with psycopg.connect(dsn) as conn:
            conn.execute("SET TimeZone = 'UTC'")
            rng = random.Random(args.seed)
            load(engine, conn, make_rows(rng, args.rows, args.extremes, args.spread), args.layers)
            queries = make_queries(rng, args.queries)
            if args.query:
                queries = [(text, text, "ORDER BY" in text.upper()) for text in args.query]
                args.show = len(queries)
                args.refusals = True
            return compare_all(engine, conn, queries, args)
    finally:
        engine.close()
        shutil.rmtree(work, ignore_errors=True)
        if cluster is not None:
            cluster.stop()


def compare_all(engine: StorageEngine, conn: psycopg.Connection[Any], queries: list[tuple[str, str, bool]], args: Any) -> int:
    counts: Counter[str] = Counter()
    refusals: Counter[str] = Counter()
    both: Counter[str] = Counter()
    shown = 0
    for rusts_text, pg_text, ordered in queries:
        ours, our_error = run_rusts(engine, rusts_text)
        theirs, their_error = run_pg(conn, pg_text)
        if ours is not None and theirs is not None:
            verdict = "same" if rows_equal(ours, theirs, ordered) else "DIFFERENT"
        elif ours is None and theirs is None:
            verdict = "both refused"
            both[their_error.split(":")[0] + " / " + our_error.split(":")[0]] += 1
        elif ours is None:
            verdict = "CRASH" if our_error.startswith("CRASH") else "refused"
            if verdict == "refused":
                refusals[our_error.split(":", 1)[0] + ":" + our_error.split(":", 2)[1][:90]] += 1
        else:
            verdict = "ANSWERED where PostgreSQL refused"
        counts[verdict] += 1
        if (verdict in ("same", "both refused") and not args.query) or (verdict == "refused" and not args.refusals):
            continue
        shown += 1
        if shown > args.show:
            continue
        print(f"--- {verdict}\nrusts: {rusts_text}")
        if pg_text != rusts_text:
            print(f"pg:    {pg_text}")
        print(f"  rusts: {our_error or preview(ours)}\n  pg:    {their_error or preview(theirs)}")
    print("\n== refusals by message ==")
    for message, n in refusals.most_common(20):
        print(f"{n:5}  {message}")
    print("\n== both refused (PostgreSQL SQLSTATE / RusTs error) ==")
    for pair, n in both.most_common(20):
        print(f"{n:5}  {pair}")
    print("\n== verdicts ==")
    for verdict, n in counts.most_common():
        print(f"{n:6}  {verdict}")
    return 1 if counts["DIFFERENT"] or counts["CRASH"] or counts["ANSWERED where PostgreSQL refused"] else 0


def preview(rows: list[list[Any]] | None) -> str:
    assert rows is not None
    text = repr(rows[:8])
    return f"{len(rows)} rows {text[:600]}"


if __name__ == "__main__":
    sys.exit(main())
