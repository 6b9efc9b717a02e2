"""node-postgres (`pg` on npm) against the real server, unchanged.

A small Node.js program (PROBE below) runs the seed's queries over the simple protocol, `$1`
queries (node-postgres sends every parameter as text with type 0: the server infers the types), a
named prepared statement reused without a new Parse, rowMode 'array', several statements in one
string, a transaction, errors followed by more work, information_schema look-ups, and a Pool whose
connections carry statement_timeout and `options: '-c search_path=public'` in the startup packet. It prints one
`key<TAB>value` line per check, each value written as `type:value` in JavaScript terms; the tests
compare them with what PostgreSQL 15 answered to the same program (docs/pgwire-clients.md).

Needs node and npm; the `node_probe` fixture installs Debian's nodejs and npm when running as root
with apt-get, and `pg@8` from the npm registry into /tmp/rusts-test-node, else skips.
"""

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers import RustsServer

NODE_CACHE = Path("/tmp/rusts-test-node")

LINES = "\n".join(
    [
        "trips,hvfhs_license_num=HV0003,dispatching_base_num=B03404 trip_miles=2.5,trip_time=600i,"
        'base_passenger_fare=12.3,shared_request_flag="N",wav=true 1700000000000000000',
        "trips,hvfhs_license_num=HV0005,dispatching_base_num=B03406 trip_miles=4.25,trip_time=900i,"
        'base_passenger_fare=20.5,shared_request_flag="N",wav=false 1700000001000000000',
        "trips,hvfhs_license_num=HV0003,dispatching_base_num=B03404 trip_miles=7.75,trip_time=1500i,"
        'base_passenger_fare=31.0,shared_request_flag="Y",wav=false 1700000002000000000',
        "cpu,host=a,region=eu usage=1.5 1700000000000000000",
    ]
)

PROBE = r"""
const { Client, Pool } = require("pg");

function describe(value) {
  if (value === null) return "null";
  if (value instanceof Date) return "Date:" + value.toISOString();
  if (Array.isArray(value)) return "[" + value.map(describe).join(",") + "]";
  return typeof value + ":" + String(value);
}

function rows(result) {
  return result.rows.map((row) => result.fields.map((f) => describe(row[f.name])).join(",")).join(";");
}

function fields(result) {
  return result.fields.map((f) => f.name + ":" + f.dataTypeID).join(",");
}

async function check(key, body) {
  let value;
  try {
    value = await body();
  } catch (e) {
    value = "ERROR " + e.code + " " + String(e.message).replace(/\n/g, " ");
  }
  console.log(key + "\t" + value);
}

async function main() {
  const client = new Client({
    host: "127.0.0.1", port: Number(process.argv[2]), user: "postgres", database: "rusts", application_name: "rusts-node-probe",
  });
  await client.connect();
  await check("version", async () => (await client.query("SELECT version()")).rows[0].version.split(" ")[0]);
  await check("show_tables", async () => rows(await client.query("SHOW TABLES")));
  await check("select_fields", async () => fields(await client.query("SELECT * FROM trips LIMIT 10")));
  await check("select_first", async () => {
    const r = await client.query("SELECT * FROM trips ORDER BY time LIMIT 10");
    const first = r.rows[0];
    return r.rows.length + "|" + ["time", "hvfhs_license_num", "trip_miles", "trip_time", "wav"].map((k) => describe(first[k])).join(",");
  });
  await check("latest", async () => rows(await client.query("SELECT hvfhs_license_num, trip_miles FROM trips ORDER BY time DESC LIMIT 2")));
  await check("count", async () => { const r = await client.query("SELECT COUNT(*) FROM trips"); return fields(r) + "|" + rows(r); });
  await check("count_group", async () => rows(await client.query("SELECT COUNT(*) FROM trips GROUP BY hvfhs_license_num")).split(";").sort().join(";"));
  await check("param_string", async () => rows(await client.query("SELECT COUNT(*) FROM trips WHERE hvfhs_license_num = $1", ["HV0005"])));
  await check("param_number", async () => rows(await client.query("SELECT COUNT(*) FROM trips WHERE trip_miles > $1", [3])));
  await check("param_float", async () => rows(await client.query("SELECT COUNT(*) FROM trips WHERE trip_miles < $1", [2.75])));
  await check("param_int", async () => rows(await client.query("SELECT trip_time FROM trips WHERE trip_time >= $1", [1000])));
  await check("param_date", async () => rows(await client.query("SELECT COUNT(*) FROM trips WHERE time >= $1", [new Date(1700000000500)])));
  await check("param_bool", async () => rows(await client.query("SELECT hvfhs_license_num, trip_miles FROM trips WHERE wav = $1", [true])));
  await check("param_two", async () => rows(await client.query(
    "SELECT hvfhs_license_num, trip_miles FROM trips WHERE hvfhs_license_num = $1 AND trip_miles < $2 ORDER BY time", ["HV0003", 10])));
  await check("named", async () => {
    const out = [];
    for (const license of ["HV0003", "HV0005", "HV0003"]) {
      const r = await client.query({ name: "count-by-license", text: "SELECT COUNT(*) FROM trips WHERE hvfhs_license_num = $1", values: [license] });
      out.push(describe(r.rows[0].count));
    }
    return out.join(" ");
  });
  await check("array_mode", async () => JSON.stringify((await client.query({
    text: "SELECT hvfhs_license_num, trip_miles FROM trips ORDER BY time", rowMode: "array" })).rows));
  await check("multi", async () => (await client.query("SELECT 1 AS a; SELECT COUNT(*) FROM trips")).map((x) => rows(x)).join("|"));
  await check("tx", async () => {
    await client.query("BEGIN");
    const r = await client.query("SELECT COUNT(*) FROM trips");
    await client.query("COMMIT");
    return rows(r);
  });
  await check("tx_error", async () => {
    await client.query("BEGIN");
    let first = "no error";
    try { await client.query("SELECT nosuch FROM trips"); } catch (e) { first = e.code; }
    let second = "ran";
    try { await client.query("SELECT COUNT(*) FROM trips"); } catch (e) { second = e.code; }
    await client.query("ROLLBACK");
    return first + " " + second;
  });
  await check("error", async () => { try { await client.query("SELECT nosuch FROM trips"); return "no error"; } catch (e) { return e.code; } });
  await check("after_error", async () => rows(await client.query("SELECT COUNT(*) FROM trips")));
  await check("param_error", async () => {
    try { await client.query("SELECT COUNT(*) FROM trips WHERE nosuch = $1", ["x"]); return "no error"; } catch (e) { return e.code; }
  });
  await check("after_param_error", async () => rows(await client.query("SELECT COUNT(*) FROM trips WHERE hvfhs_license_num = $1", ["HV0003"])));
  await check("tables", async () => rows(await client.query(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name", ["public"])));
  await check("columns", async () => rows(await client.query(
    "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position", ["trips"])));
  await client.end();

  // a pool of 3 connections running 6 queries at once; statement_timeout and options go in the startup packet
  const pool = new Pool({
    host: "127.0.0.1", port: Number(process.argv[2]), user: "postgres", database: "rusts", max: 3,
    statement_timeout: 5000, options: "-c search_path=public",
  });
  await check("pool", async () => (await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((miles) =>
    pool.query("SELECT COUNT(*) FROM trips WHERE trip_miles > $1", [miles])))).map((r) => r.rows[0].count).join(" "));
  await check("pool_settings", async () => {
    const timeout = (await pool.query("SHOW statement_timeout")).rows[0].statement_timeout;
    const path = (await pool.query("SHOW search_path")).rows[0].search_path;
    return timeout + " " + path;
  });
  await check("pool_release_after_error", async () => {
    const c = await pool.connect();
    try {
      await c.query("BEGIN");
      await c.query("SELECT nosuch FROM trips").catch(() => null);
      await c.query("ROLLBACK");
    } finally {
      c.release();
    }
    return rows(await pool.query("SELECT COUNT(*) FROM trips"));
  });
  await pool.end();

  // binary: true asks every result column in binary (node-postgres then decodes int8, float8, bool itself)
  const binary = new Client({ host: "127.0.0.1", port: Number(process.argv[2]), user: "postgres", database: "rusts", binary: true });
  await binary.connect();
  await check("binary", async () => rows(await binary.query(
    "SELECT hvfhs_license_num, trip_miles, wav FROM trips WHERE hvfhs_license_num = $1 ORDER BY time", ["HV0003"])));
  await check("binary_count", async () => rows(await binary.query("SELECT COUNT(*) FROM trips")));
  await binary.end();
}

main().catch((e) => { console.log("FATAL\t" + e.message); process.exit(1); });
"""


def _quiet(command: list[str], timeout: int, cwd: Path | None = None) -> subprocess.CompletedProcess[str] | None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "npm_config_update_notifier": "false"}
    try:
        return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def _install_node() -> str | None:
    """Why node and pg cannot be had here, or None once node runs and NODE_CACHE holds pg."""
    if not (shutil.which("node") and shutil.which("npm")):
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            return "node and npm are missing and cannot be installed here (needs root and apt-get)"
        _quiet(["apt-get", "update", "-q"], 600)
        done = _quiet(["apt-get", "install", "-y", "-q", "--no-install-recommends", "nodejs", "npm"], 900)
        if not (shutil.which("node") and shutil.which("npm")):
            return f"could not install nodejs and npm: {done.stderr[-1000:] if done else 'timed out'}"
    if (NODE_CACHE / "node_modules" / "pg" / "package.json").exists():
        return None
    NODE_CACHE.mkdir(parents=True, exist_ok=True)
    done = _quiet(["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(NODE_CACHE), "pg@8"], 300)
    if not (NODE_CACHE / "node_modules" / "pg" / "package.json").exists():
        return f"could not npm install pg@8 into {NODE_CACHE}: {done.stderr[-1000:] if done else 'timed out'}"
    return None


@pytest.fixture(scope="session")
def node_probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The probe script, next to nothing: it finds `pg` through NODE_PATH."""
    reason = _install_node()
    if reason is not None:
        pytest.skip(reason)
    script = tmp_path_factory.mktemp("node") / "probe.js"
    script.write_text(PROBE)
    return script


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RustsServer]:
    running = RustsServer(tmp_path_factory.mktemp("nodeserver"))
    try:
        running.write(LINES)
        yield running
    finally:
        assert running.stop() == 0, running.output()


def run_probe(script: Path, port: int, timezone: str = "UTC") -> dict[str, str]:
    env = {**os.environ, "NODE_PATH": str(NODE_CACHE / "node_modules"), "TZ": timezone}
    done = subprocess.run(["node", str(script), str(port)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    results = dict(line.split("\t", 1) for line in done.stdout.splitlines() if "\t" in line)
    assert "version" in results, done.stdout + done.stderr
    return results


@pytest.fixture(scope="module")
def probe(node_probe: Path, server: RustsServer) -> dict[str, str]:
    return run_probe(node_probe, server.pg_port)


TRIPS_FIELDS = {
    "time": "1184",
    "hvfhs_license_num": "25",
    "dispatching_base_num": "25",
    "trip_miles": "701",
    "trip_time": "20",
    "base_passenger_fare": "701",
    "shared_request_flag": "25",
    "wav": "16",
}


def test_seed_queries_and_javascript_types(probe: dict[str, str]) -> None:
    assert probe["version"] == "PostgreSQL"
    assert probe["show_tables"] == "string:cpu;string:trips"
    assert dict(item.split(":") for item in probe["select_fields"].split(",")) == TRIPS_FIELDS
    # timestamptz -> Date, float8 -> number, int8 -> string (node-postgres's defaults), bool -> boolean
    assert probe["select_first"] == "3|Date:2023-11-14T22:13:20.000Z,string:HV0003,number:2.5,string:600,boolean:true"
    assert probe["latest"] == "string:HV0003,number:7.75;string:HV0005,number:4.25"
    assert probe["count"] == "count:20|string:3"
    assert probe["count_group"] == "string:1;string:2"
    assert probe["array_mode"] == '[["HV0003",2.5],["HV0005",4.25],["HV0003",7.75]]'
    assert probe["multi"] == "number:1|string:3"


def test_untyped_text_parameters(probe: dict[str, str]) -> None:
    assert probe["param_string"] == "string:1"
    assert probe["param_number"] == "string:2"
    assert probe["param_float"] == "string:1"
    assert probe["param_int"] == "string:1500"
    assert probe["param_date"] == "string:2"  # sent as '2023-11-14T22:13:20.500+00:00'
    assert probe["param_bool"] == "string:HV0003,number:2.5"
    assert probe["param_two"] == "string:HV0003,number:2.5;string:HV0003,number:7.75"
    assert probe["named"] == "string:2 string:1 string:2"  # Parse once, then Bind to the named statement


def test_transactions_and_errors_leave_the_connection_usable(probe: dict[str, str]) -> None:
    assert probe["tx"] == "string:3"
    assert probe["tx_error"] == "42703 25P02"
    assert probe["error"] == "42703"
    assert probe["after_error"] == "string:3"
    assert probe["param_error"] == "42703"
    assert probe["after_param_error"] == "string:2"


def test_information_schema(probe: dict[str, str]) -> None:
    assert probe["tables"] == "string:cpu;string:trips"
    columns = [row.split(",") for row in probe["columns"].split(";")]
    assert columns[0] == ["string:time", "string:timestamp with time zone"]
    assert sorted(columns) == sorted(
        [
            ["string:time", "string:timestamp with time zone"],
            ["string:hvfhs_license_num", "string:text"],
            ["string:dispatching_base_num", "string:text"],
            ["string:trip_miles", "string:double precision"],
            ["string:trip_time", "string:bigint"],
            ["string:base_passenger_fare", "string:double precision"],
            ["string:shared_request_flag", "string:text"],
            ["string:wav", "string:boolean"],
        ]
    )


def test_pool_with_startup_settings(probe: dict[str, str]) -> None:
    assert probe["pool"] == "3 3 3 2 2 1 1 1"  # trip_miles 2.5, 4.25, 7.75 against 0..7
    assert probe["pool_settings"] == "5s public"  # as PostgreSQL shows statement_timeout=5000 and -c search_path=public
    assert probe["pool_release_after_error"] == "string:3"


def test_binary_results(probe: dict[str, str]) -> None:
    # no int8 or timestamptz column here: node-postgres 8.23 decodes those wrongly in binary (1500 -> '1519',
    # every time the same date), against PostgreSQL 15 just the same
    assert probe["binary"] == "string:HV0003,number:2.5,boolean:true;string:HV0003,number:7.75,boolean:false"
    assert probe["binary_count"] == "string:3"


def test_a_client_far_from_utc(node_probe: Path, server: RustsServer) -> None:
    # node-postgres sends a Date parameter in the process's local zone ('...T17:13:20.500-05:00')
    far = run_probe(node_probe, server.pg_port, timezone="America/New_York")
    assert far["param_date"] == "string:2"
    assert far["select_first"].startswith("3|Date:2023-11-14T22:13:20.000Z,")
