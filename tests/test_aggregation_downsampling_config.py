"""Downsampling policies from rusts.yml in a real server: applied once the measurement has data,
then a query is answered from the tier. Needs the server's aggregates loop (rusts.server.main) to
apply storage.downsampling; skipped until it does."""

import time
from pathlib import Path

import pytest

import rusts.server.main as server_main
from test_aggregation_server import Server

SECOND = 1_000_000_000
HOUR = 3600 * SECOND
DAY = 24 * HOUR
T0 = 1_700_000_000 * SECOND // HOUR * HOUR
WIRED = "downsampling_policies" in Path(server_main.__file__).read_text()
POLICY = ", downsampling: {cpu: {raw: null, tiers: {'1m avg': 7d, '1d max': null}}}"


@pytest.mark.skipif(not WIRED, reason="rusts.server.main does not apply storage.downsampling yet")
def test_a_configured_policy_is_applied_once_its_measurement_has_data(tmp_path: Path) -> None:
    server = Server(tmp_path, POLICY)
    try:
        server.write([f"cpu,host=h{i % 2} v={i}.5 {T0 + i * 60 * SECOND}" for i in range(300)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            shown = server.sql("SHOW DOWNSAMPLING POLICIES")["rows"]
            if shown:
                break
            time.sleep(0.1)
        assert [row[1] for row in shown] == ["cpu", "cpu_1m", "cpu_1d"]
        query = "SELECT time_bucket('1d', time) AS t, host, max(v) FROM cpu GROUP BY 1, 2 ORDER BY 1, 2"
        expected: dict[tuple[int, str], float] = {}
        for i in range(300):
            key = ((T0 + i * 60 * SECOND) // DAY * DAY, f"h{i % 2}")
            expected[key] = max(expected.get(key, 0.0), i + 0.5)
        plan = [row[0] for row in server.sql("EXPLAIN " + query)["rows"]]
        assert "  answered by: tier cpu_1d (1d buckets) for the whole range" in plan, plan
        assert server.sql(query)["rows"] == [[t, host, v] for (t, host), v in sorted(expected.items())]
    finally:
        server.stop()
