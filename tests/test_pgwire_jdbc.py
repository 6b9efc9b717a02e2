"""pgjdbc (the JDBC driver DataGrip and DBeaver use) against the real server, unchanged.

A small Java program (PROBE below) runs the seed's queries, PreparedStatements with String, double,
long and Timestamp parameters (each executed past pgjdbc's prepareThreshold of 5, so the driver
switches to named server-side statements and binary results), the DatabaseMetaData calls tools make,
transactions, savepoints, a cursor read with a fetch size, a batch INSERT and a DELETE, an error
followed by more work, and the connect-time questions DataGrip asks. It prints
one `key<TAB>value` line per check; the tests compare each with what PostgreSQL 15 answered to the
same program (docs/pgwire-clients.md, JDBC section).

Needs java, javac and /usr/share/java/postgresql.jar; the `jdbc` fixture installs Debian's
default-jdk-headless and libpostgresql-jdbc-java when running as root with apt-get, else skips.
"""

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers import RustsServer

JAR = Path("/usr/share/java/postgresql.jar")

# Three trips a second apart from 2023-11-14T22:13:20Z, and one cpu point.
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
import java.sql.*;
import java.time.Instant;
import java.util.*;

public class RustsJdbcProbe {
    interface Check { Object run() throws Exception; }

    static void check(String key, Check body) {
        Object value;
        try {
            value = body.run();
        } catch (SQLException e) {
            value = "ERROR " + e.getSQLState() + " " + String.valueOf(e.getMessage()).replace('\n', ' ');
        } catch (Exception e) {
            value = "ERROR " + e.getClass().getSimpleName() + " " + String.valueOf(e.getMessage()).replace('\n', ' ');
        }
        System.out.println(key + "\t" + value);
        System.out.flush();
    }

    static String rows(ResultSet rs, String... columns) throws SQLException {
        StringBuilder out = new StringBuilder();
        while (rs.next()) {
            if (out.length() > 0) out.append(";");
            for (int i = 0; i < columns.length; i++) {
                if (i > 0) out.append(",");
                out.append(rs.getString(columns[i]));
            }
        }
        rs.close();
        return out.toString();
    }

    static String all(ResultSet rs) throws SQLException {
        int n = rs.getMetaData().getColumnCount();
        StringBuilder out = new StringBuilder();
        while (rs.next()) {
            if (out.length() > 0) out.append(";");
            for (int i = 1; i <= n; i++) {
                if (i > 1) out.append(",");
                out.append(rs.getString(i));
            }
        }
        rs.close();
        return out.toString();
    }

    static String types(ResultSet rs) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        StringBuilder out = new StringBuilder();
        for (int i = 1; i <= md.getColumnCount(); i++) {
            if (i > 1) out.append(",");
            out.append(md.getColumnLabel(i)).append(":").append(md.getColumnTypeName(i)).append(":").append(md.getColumnType(i));
        }
        rs.close();
        return out.toString();
    }

    static String firstTrip(ResultSet rs) throws SQLException {
        rs.next();
        return rs.getTimestamp("time").toInstant() + "|" + rs.getString("hvfhs_license_num") + "|" + rs.getDouble("trip_miles")
            + "|" + rs.getLong("trip_time") + "|" + rs.getBoolean("wav");
    }

    static String repeated(Connection c, String sql, int times, Object[] values) throws SQLException {
        StringBuilder out = new StringBuilder();
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < times; i++) {
                ps.setObject(1, values[i % values.length]);
                ResultSet rs = ps.executeQuery();
                int n = 0;
                long first = -1;
                while (rs.next()) { if (n == 0) first = rs.getLong(1); n++; }
                out.append(n == 1 ? Long.toString(first) : n + "rows").append(" ");
            }
            out.append(ps.unwrap(org.postgresql.PGStatement.class).isUseServerPrepare() ? "named" : "unnamed");
        }
        return out.toString();
    }

    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", "postgres");
        props.setProperty("ApplicationName", "rusts-probe");
        try (Connection c = DriverManager.getConnection(args[0], props)) {
            if (args.length > 1) {
                check("quick", () -> all(c.createStatement().executeQuery("SELECT COUNT(*) FROM trips")));
                return;
            }
            DatabaseMetaData md = c.getMetaData();
            check("product", () -> md.getDatabaseProductName() + " " + md.getDatabaseProductVersion());
            check("major_minor", () -> md.getDatabaseMajorVersion() + "." + md.getDatabaseMinorVersion());
            check("version()", () -> { ResultSet rs = c.createStatement().executeQuery("select version()"); rs.next(); return rs.getString(1).split(" ")[0]; });
            check("isolation", () -> c.getTransactionIsolation());
            check("schema", () -> c.getSchema());
            check("session", () -> all(c.createStatement().executeQuery("select current_database(), current_schema(), current_user")));
            check("valid", () -> c.isValid(5));
            check("show_tables", () -> all(c.createStatement().executeQuery("SHOW TABLES")));
            check("select_types", () -> types(c.createStatement().executeQuery("SELECT * FROM trips LIMIT 10")));
            check("select_first", () -> firstTrip(c.createStatement().executeQuery("SELECT * FROM trips ORDER BY time LIMIT 10")));
            check("select_classes", () -> {
                ResultSet rs = c.createStatement().executeQuery("SELECT * FROM trips LIMIT 1");
                rs.next();
                return rs.getObject("time").getClass().getSimpleName() + "," + rs.getObject("trip_miles").getClass().getSimpleName() + ","
                    + rs.getObject("trip_time").getClass().getSimpleName() + "," + rs.getObject("wav").getClass().getSimpleName() + ","
                    + rs.getObject("hvfhs_license_num").getClass().getSimpleName();
            });
            check("latest", () -> all(c.createStatement().executeQuery("SELECT hvfhs_license_num, trip_miles FROM trips ORDER BY time DESC LIMIT 2")));
            check("count", () -> { ResultSet rs = c.createStatement().executeQuery("SELECT COUNT(*) FROM trips"); rs.next(); return rs.getLong(1) + ":" + rs.getMetaData().getColumnTypeName(1); });
            check("count_group", () -> all(c.createStatement().executeQuery("SELECT hvfhs_license_num, COUNT(*) FROM trips GROUP BY hvfhs_license_num ORDER BY hvfhs_license_num")));
            check("count_group_bare", () -> {
                String[] counts = all(c.createStatement().executeQuery("SELECT COUNT(*) FROM trips GROUP BY hvfhs_license_num")).split(";");
                Arrays.sort(counts);
                return String.join(",", counts);
            });
            check("prepared_string", () -> repeated(c, "SELECT COUNT(*) FROM trips WHERE hvfhs_license_num = ?", 7, new Object[]{"HV0003", "HV0005"}));
            check("prepared_double", () -> repeated(c, "SELECT COUNT(*) FROM trips WHERE trip_miles > ?", 6, new Object[]{3.0, 1.0}));
            check("prepared_long", () -> repeated(c, "SELECT trip_time, trip_miles FROM trips WHERE trip_time >= ? ORDER BY time", 6, new Object[]{700L, 1000L}));
            check("prepared_timestamp", () -> repeated(c, "SELECT COUNT(*) FROM trips WHERE time >= ?", 6,
                new Object[]{Timestamp.from(Instant.ofEpochSecond(1700000001L)), Timestamp.from(Instant.ofEpochSecond(1600000000L))}));
            check("prepared_binary", () -> {
                Set<String> seen = new TreeSet<>();
                try (PreparedStatement ps = c.prepareStatement("SELECT * FROM trips WHERE hvfhs_license_num = ? ORDER BY time")) {
                    for (int i = 0; i < 7; i++) {
                        ps.setString(1, "HV0003");
                        seen.add(firstTrip(ps.executeQuery()));
                    }
                }
                return String.join(" ", seen);
            });
            check("prepared_two", () -> {
                try (PreparedStatement ps = c.prepareStatement("SELECT hvfhs_license_num, trip_miles FROM trips WHERE hvfhs_license_num = ? AND trip_miles < ? ORDER BY time")) {
                    ps.setString(1, "HV0003");
                    ps.setDouble(2, 10.0);
                    return all(ps.executeQuery());
                }
            });
            check("getTables", () -> rows(md.getTables(null, "public", "%", new String[]{"TABLE"}), "TABLE_SCHEM", "TABLE_NAME", "TABLE_TYPE"));
            check("getTables_named", () -> rows(md.getTables(null, null, "trips", null), "TABLE_SCHEM", "TABLE_NAME", "TABLE_TYPE"));
            check("getColumns", () -> rows(md.getColumns(null, "public", "trips", "%"), "COLUMN_NAME", "TYPE_NAME", "DATA_TYPE", "ORDINAL_POSITION", "IS_NULLABLE"));
            check("getSchemas", () -> rows(md.getSchemas(), "TABLE_SCHEM"));
            check("getCatalogs", () -> rows(md.getCatalogs(), "TABLE_CAT"));
            check("getTableTypes", () -> rows(md.getTableTypes(), "TABLE_TYPE").contains("TABLE"));
            check("getPrimaryKeys", () -> rows(md.getPrimaryKeys(null, "public", "trips"), "COLUMN_NAME"));
            check("getIndexInfo", () -> rows(md.getIndexInfo(null, "public", "trips", false, true), "INDEX_NAME"));
            check("getImportedKeys", () -> rows(md.getImportedKeys(null, "public", "trips"), "FKCOLUMN_NAME"));
            check("getTypeInfo", () -> rows(md.getTypeInfo(), "TYPE_NAME").contains("float8"));
            check("getFunctions", () -> rows(md.getFunctions(null, "public", "%"), "FUNCTION_NAME"));
            check("tx_commit", () -> {
                c.setAutoCommit(false);
                ResultSet rs = c.createStatement().executeQuery("SELECT COUNT(*) FROM trips");
                rs.next();
                long n = rs.getLong(1);
                c.commit();
                rs = c.createStatement().executeQuery("SELECT COUNT(*) FROM trips");
                rs.next();
                c.rollback();
                c.setAutoCommit(true);
                return n + " " + rs.getLong(1);
            });
            check("error", () -> { try { c.createStatement().executeQuery("SELECT nosuch FROM trips"); return "no error"; } catch (SQLException e) { return e.getSQLState(); } });
            check("after_error", () -> { ResultSet rs = c.createStatement().executeQuery("SELECT COUNT(*) FROM trips"); rs.next(); return rs.getLong(1); });
            check("tx_error", () -> {
                c.setAutoCommit(false);
                String first;
                try { c.createStatement().executeQuery("SELECT nosuch FROM trips"); first = "no error"; } catch (SQLException e) { first = e.getSQLState(); }
                String second;
                try { c.createStatement().executeQuery("SELECT COUNT(*) FROM trips"); second = "ran"; } catch (SQLException e) { second = e.getSQLState(); }
                c.rollback();
                ResultSet rs = c.createStatement().executeQuery("SELECT COUNT(*) FROM trips");
                rs.next();
                c.commit();
                c.setAutoCommit(true);
                return first + " " + second + " " + rs.getLong(1);
            });
            check("prepared_error", () -> {
                try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM trips WHERE nosuch = ?")) {
                    ps.setString(1, "x");
                    try { ps.executeQuery(); return "no error"; } catch (SQLException e) { return e.getSQLState(); }
                }
            });
            check("after_prepared_error", () -> repeated(c, "SELECT COUNT(*) FROM trips WHERE hvfhs_license_num = ?", 1, new Object[]{"HV0005"}));
            check("datagrip_namespaces", () -> rows(c.createStatement().executeQuery(
                "select N.oid::bigint as id, N.xmin as state_number, nspname as name, D.description, pg_catalog.pg_get_userbyid(N.nspowner) as owner"
                + " from pg_catalog.pg_namespace N left join pg_catalog.pg_description D on N.oid = D.objoid"
                + " order by case when nspname = current_schema then -1::bigint else N.oid::bigint end"), "name"));
            check("datagrip_schemas", () -> all(c.createStatement().executeQuery("select current_database() as a, current_schemas(false) as b")));
            check("datagrip_txid", () -> all(c.createStatement().executeQuery(
                "select case when pg_catalog.pg_is_in_recovery() then null else pg_catalog.txid_current()::varchar::bigint end as current_txid")).matches("[0-9]+"));
            check("datagrip_age", () -> all(c.createStatement().executeQuery(
                "select N.nspname, pg_catalog.age(N.xmin) >= 0 from pg_catalog.pg_namespace N where N.nspname = 'public'")));
            check("fetch_size", () -> {
                // outside autocommit a fetch size makes pgjdbc read through a named portal, 2 rows per Execute
                c.setAutoCommit(false);
                try (Statement s = c.createStatement()) {
                    s.setFetchSize(2);
                    ResultSet rs = s.executeQuery("SELECT * FROM trips ORDER BY time");
                    StringBuilder out = new StringBuilder();
                    while (rs.next()) out.append(rs.getDouble("trip_miles")).append(" ");
                    c.commit();
                    return out.toString().trim();
                } finally {
                    c.setAutoCommit(true);
                }
            });
            check("offset_date_time", () -> {
                ResultSet rs = c.createStatement().executeQuery("SELECT * FROM trips ORDER BY time LIMIT 1");
                rs.next();
                return rs.getObject("time", java.time.OffsetDateTime.class).toInstant();
            });
            check("query_timeout", () -> {
                try (Statement s = c.createStatement()) {
                    s.setQueryTimeout(5);
                    ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM trips");
                    rs.next();
                    return rs.getLong(1);
                }
            });
            check("savepoint", () -> {
                c.setAutoCommit(false);
                Savepoint savepoint = c.setSavepoint();
                c.rollback(savepoint);
                c.commit();
                c.setAutoCommit(true);
                return "ok";
            });
            check("batch_insert", () -> {
                try (PreparedStatement ps = c.prepareStatement("INSERT INTO jdbc_rides (time, license, miles, seconds, wav) VALUES (?, ?, ?, ?, ?)")) {
                    for (int i = 0; i < 3; i++) {
                        ps.setTimestamp(1, Timestamp.from(Instant.ofEpochSecond(1700000100L + i)));
                        ps.setString(2, i < 2 ? "HV0009" : "HV0010");
                        ps.setDouble(3, 1.5 + i);
                        ps.setLong(4, 100L + i);
                        ps.setBoolean(5, i % 2 == 0);
                        ps.addBatch();
                    }
                    return Arrays.toString(ps.executeBatch());
                }
            });
            check("inserted", () -> {
                ResultSet rs = c.createStatement().executeQuery("SELECT time, license, miles, seconds, wav FROM jdbc_rides ORDER BY time");
                String kinds = types(c.createStatement().executeQuery("SELECT time, license, miles, seconds, wav FROM jdbc_rides"));
                StringBuilder out = new StringBuilder(kinds);
                while (rs.next()) {
                    out.append(";").append(rs.getTimestamp(1).toInstant()).append(",").append(rs.getString(2)).append(",").append(rs.getDouble(3))
                        .append(",").append(rs.getLong(4)).append(",").append(rs.getBoolean(5));
                }
                return out.toString();
            });
            check("delete", () -> c.createStatement().executeUpdate("DELETE FROM jdbc_rides WHERE license = 'HV0009'"));
            check("after_delete", () -> all(c.createStatement().executeQuery("SELECT license, miles FROM jdbc_rides")));
        }
    }
}
"""


def _install_java() -> str | None:
    """Why java cannot be had here, or None once java, javac and the pgjdbc jar are installed."""
    if shutil.which("javac") and shutil.which("java") and JAR.exists():
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "java, javac or /usr/share/java/postgresql.jar is missing and cannot be installed here (needs root and apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
        installed = subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", "default-jdk-headless", "libpostgresql-jdbc-java"],
            env=env, capture_output=True, text=True, timeout=900,
        )
    except subprocess.TimeoutExpired:
        return "installing default-jdk-headless and libpostgresql-jdbc-java took longer than 25 minutes"
    if shutil.which("javac") and shutil.which("java") and JAR.exists():
        return None
    return f"could not install default-jdk-headless and libpostgresql-jdbc-java: {installed.stderr[-1000:]}"


@pytest.fixture(scope="session")
def jdbc_probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the compiled probe (installs java and pgjdbc when it may)."""
    reason = _install_java()
    if reason is not None:
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("jdbc")
    (directory / "RustsJdbcProbe.java").write_text(PROBE)
    compiled = subprocess.run(
        ["javac", "-cp", str(JAR), "RustsJdbcProbe.java"], cwd=directory, capture_output=True, text=True, timeout=300
    )
    assert compiled.returncode == 0, compiled.stderr
    return directory


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RustsServer]:
    running = RustsServer(tmp_path_factory.mktemp("jdbcserver"))
    try:
        running.write(LINES)
        yield running
    finally:
        assert running.stop() == 0, running.output()


def run_probe(directory: Path, url: str, *extra: str, timezone: str = "UTC") -> dict[str, str]:
    done = subprocess.run(
        ["java", f"-Duser.timezone={timezone}", "-cp", f"{JAR}{os.pathsep}.", "RustsJdbcProbe", url, *extra],
        cwd=directory, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = dict(line.split("\t", 1) for line in done.stdout.splitlines() if "\t" in line)
    assert results, done.stdout + done.stderr
    return results


@pytest.fixture(scope="module")
def probe(jdbc_probe: Path, server: RustsServer) -> dict[str, str]:
    return run_probe(jdbc_probe, f"jdbc:postgresql://127.0.0.1:{server.pg_port}/rusts?sslmode=disable")


TRIPS_COLUMNS = {
    "time": "timestamptz:93",
    "hvfhs_license_num": "text:12",
    "dispatching_base_num": "text:12",
    "trip_miles": "float8:8",
    "trip_time": "int8:-5",
    "base_passenger_fare": "float8:8",
    "shared_request_flag": "text:12",
    "wav": "bool:-7",
}


def test_connect_and_what_datagrip_asks_first(probe: dict[str, str]) -> None:
    assert probe["product"] == "PostgreSQL 15.0"
    assert probe["major_minor"] == "15.0"
    assert probe["version()"] == "PostgreSQL"
    assert probe["isolation"] == "2"  # Connection.TRANSACTION_READ_COMMITTED, from SHOW TRANSACTION ISOLATION LEVEL
    assert probe["schema"] == "public"
    assert probe["session"] == "rusts,public,postgres"
    assert probe["valid"] == "true"  # isValid() sends an empty query


def test_seed_queries_values_and_types(probe: dict[str, str]) -> None:
    assert probe["show_tables"] == "cpu;trips"
    columns = dict(item.split(":", 1) for item in probe["select_types"].split(","))
    assert columns == TRIPS_COLUMNS
    assert probe["select_types"].startswith("time:")
    assert probe["select_first"] == "2023-11-14T22:13:20Z|HV0003|2.5|600|true"
    assert probe["select_classes"] == "Timestamp,Double,Long,Boolean,String"
    assert probe["latest"] == "HV0003,7.75;HV0005,4.25"
    assert probe["count"] == "3:int8"
    assert probe["count_group"] == "HV0003,2;HV0005,1"
    assert probe["count_group_bare"] == "1,2"


def test_prepared_statements_switch_to_named_statements_and_binary(probe: dict[str, str]) -> None:
    # pgjdbc sends String as varchar (1043, text), double as float8 and long as int8 (binary), Timestamp
    # as text with type 0; from the 5th execution it parses a named statement S_n and asks binary results.
    assert probe["prepared_string"] == "2 1 2 1 2 1 2 named"
    assert probe["prepared_double"] == "2 3 2 3 2 3 named"
    assert probe["prepared_long"] == "2rows 1500 2rows 1500 2rows 1500 named"
    assert probe["prepared_timestamp"] == "2 3 2 3 2 3 named"
    assert probe["prepared_binary"] == "2023-11-14T22:13:20Z|HV0003|2.5|600|true"  # the same through text and binary
    assert probe["prepared_two"] == "HV0003,2.5;HV0003,7.75"


def test_database_metadata(probe: dict[str, str]) -> None:
    assert probe["getTables"] == "public,cpu,TABLE;public,trips,TABLE"
    assert probe["getTables_named"] == "public,trips,TABLE"
    columns = [row.split(",") for row in probe["getColumns"].split(";")]
    assert [row[3] for row in columns] == [str(n) for n in range(1, 9)]
    assert columns[0][0] == "time"
    assert {row[0]: f"{row[1]}:{row[2]}" for row in columns} == TRIPS_COLUMNS
    assert {row[4] for row in columns} == {"YES"}
    assert probe["getSchemas"] == "information_schema;pg_catalog;public"
    assert probe["getCatalogs"] == "rusts"
    assert probe["getTableTypes"] == "true"
    assert probe["getTypeInfo"] == "true"
    for empty in ("getPrimaryKeys", "getIndexInfo", "getImportedKeys", "getFunctions"):
        assert probe[empty] == "", empty


def test_transactions_and_errors_leave_the_connection_usable(probe: dict[str, str]) -> None:
    assert probe["tx_commit"] == "3 3"
    assert probe["error"] == "42703"
    assert probe["after_error"] == "3"
    # inside a transaction, later statements fail with 25P02 until the rollback, as in PostgreSQL
    assert probe["tx_error"] == "42703 25P02 3"
    assert probe["prepared_error"] == "42703"
    assert probe["after_prepared_error"] == "1 named"  # the statement cache kept S_1


def test_datagrip_style_catalog_queries(probe: dict[str, str]) -> None:
    assert probe["datagrip_namespaces"].split(";")[0] == "public"  # current schema first
    assert set(probe["datagrip_namespaces"].split(";")) >= {"public", "pg_catalog", "information_schema"}
    assert probe["datagrip_schemas"] == "rusts,{public}"
    assert probe["datagrip_txid"] == "true"
    assert probe["datagrip_age"] == "public,t"


def test_cursor_fetch_and_statement_options(probe: dict[str, str]) -> None:
    assert probe["fetch_size"] == "2.5 4.25 7.75"  # Execute max_rows=2, PortalSuspended, Execute again
    assert probe["offset_date_time"] == "2023-11-14T22:13:20Z"
    assert probe["query_timeout"] == "3"
    assert probe["savepoint"] == "ok"


def test_batch_insert_and_delete(probe: dict[str, str]) -> None:
    # executeBatch: one Parse of a named statement, then Bind/Execute per row and one Sync
    assert probe["batch_insert"] == "[1, 1, 1]"
    kinds, *rows = probe["inserted"].split(";")
    assert kinds == "time:timestamptz:93,license:text:12,miles:float8:8,seconds:int8:-5,wav:bool:-7"
    assert rows == [
        "2023-11-14T22:15:00Z,HV0009,1.5,100,true",
        "2023-11-14T22:15:01Z,HV0009,2.5,101,false",
        "2023-11-14T22:15:02Z,HV0010,3.5,102,true",
    ]
    assert probe["delete"] == "2"
    assert probe["after_delete"] == "HV0010,3.5"


def test_default_sslmode_and_a_zone_far_from_utc(jdbc_probe: Path, server: RustsServer) -> None:
    # no sslmode: pgjdbc asks for TLS first (SSLRequest) and continues in clear after 'N'; the JVM's zone
    # goes to the server as the TimeZone startup parameter and timestamps still mean the same instant.
    url = f"jdbc:postgresql://127.0.0.1:{server.pg_port}/rusts"
    assert run_probe(jdbc_probe, url, "quick") == {"quick": "3"}
    far = run_probe(jdbc_probe, url, timezone="Asia/Kolkata")
    assert far["select_first"] == "2023-11-14T22:13:20Z|HV0003|2.5|600|true"
    assert far["prepared_timestamp"] == "2 3 2 3 2 3 named"
