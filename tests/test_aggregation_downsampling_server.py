"""Downsampling in a real server: a policy created over POST /sql, EXPLAIN over POST /sql and
over the PostgreSQL wire protocol (psycopg), and /stats counting which tier answered."""

from pathlib import Path

import psycopg

from servers import RustsServer

SECOND = 1_000_000_000
HOUR = 3600 * SECOND
T0 = 1_700_000_000 * SECOND // HOUR * HOUR
QUERY = "SELECT time_bucket('1h', time) AS t, host, avg(v) AS m, count(*) AS n FROM cpu GROUP BY 1, 2 ORDER BY 1, 2"


def test_a_policy_explain_over_http_and_pgwire_and_stats(tmp_path: Path) -> None:
    server = RustsServer(tmp_path)
    try:
        server.write("\n".join(f"cpu,host=h{i % 3} v={i * 0.5} {T0 + i * 60 * SECOND}" for i in range(600)))
        server.sql("CREATE DOWNSAMPLING POLICY ON cpu (raw: forever, 1m avg: 7d, 1h avg: 365d)")
        plan = [row[0] for row in server.sql("EXPLAIN " + QUERY)["rows"]]
        assert any(line.startswith("  answered by: tier cpu_1h (1h buckets) for time >= ") for line in plan), plan
        over_http = server.sql(QUERY)["rows"]
        assert len(over_http) == 30 and over_http[0][1:] == ["h0", 14.25, 20]
        with psycopg.connect(host="127.0.0.1", port=server.pg_port, user="postgres", dbname="rusts", autocommit=True) as connection:
            cursor = connection.execute("EXPLAIN " + QUERY)
            assert cursor.description is not None and cursor.description[0].name == "QUERY PLAN"
            assert any(row[0].startswith("  answered by: tier cpu_1h (1h buckets)") for row in cursor.fetchall())
            assert [list(row[1:]) for row in connection.execute(QUERY).fetchall()] == [row[1:] for row in over_http]
        status, stats = server.request("GET", "/stats")
        assert status == 200
        downsampling = stats["retention"]["downsampling"]
        assert downsampling["answered_by"]["cpu_1h"] >= 2
        assert downsampling["policies"] == [
            {"measurement": "cpu", "policy": "raw: forever, 1m avg: 1w, 1h avg: 365d", "fields": {}, "tiers": ["cpu_1m", "cpu_1h"]}
        ]
    finally:
        server.stop()
