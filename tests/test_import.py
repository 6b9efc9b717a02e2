"""`rusts-import` as a real process on real files: types, skips, bad input, direct and REST modes, dedup."""

import datetime
import decimal
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rusts.api.line_protocol import engine_parser
from rusts.core.prefetch import prefetched
from rusts.query.executor import execute
from rusts.query.model import Query
from rusts.storage.engine import EngineOptions, StorageEngine
from servers import PACKAGE_ROOT, RustsServer

T0 = 1_761_955_200_000_000_000  # 2025-11-01T00:00:00Z


def importer(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    return subprocess.run(
        [sys.executable, "-m", "rusts.importer.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )


def config(tmp_path: Path) -> Path:
    path = tmp_path / "rusts.yml"
    path.write_text(f"storage: {{data_dir: '{tmp_path / 'data'}', wal_durability: none}}\n")
    return path


def stored(tmp_path: Path, query: Query) -> tuple[list[str], list[list[Any]]]:
    """The answer to `query` from the data directory (opened after the importer exited)."""
    engine = StorageEngine.open(EngineOptions(str(tmp_path / "data"), wal_durability="none"), engine_parser)
    try:
        result = execute(engine, query)
    finally:
        engine.close()
    return [c.name for c in result.columns], result.rows


KIND_X = "x y,z=1"  # a tag value that needs escaping in line protocol and in a series key


def typed_table() -> pa.Table:
    utc = datetime.timezone.utc
    return pa.table({
        "when": pa.array([datetime.datetime(2025, 11, 1, 0, 0, i, 500, tzinfo=utc) for i in range(4)], pa.timestamp("us", "America/New_York")),
        "station": pa.array(["a", "b", "a", None]),
        "kind": pa.array([KIND_X, KIND_X, "y", KIND_X]).dictionary_encode(),
        "temp": pa.array([1.5, None, float("nan"), 2.25], pa.float32()),
        "count": pa.array([1, -2, None, 4], pa.int16()),
        "big": pa.array([2**64 - 1, 0, 7, None], pa.uint64()),
        "ok": pa.array([True, False, None, True]),
        "note": pa.array(['say "hi"\\', None, "é, =x", "plain"]).dictionary_encode(),
        "price": pa.array([decimal.Decimal("1.25"), None, decimal.Decimal("3.50"), None], pa.decimal128(6, 2)),
        "day": pa.array([datetime.date(2025, 11, 1), None, None, datetime.date(1970, 1, 2)], pa.date32()),
    })


EXPECTED_ROWS = [
    # time, kind, station, big, count, day, note, ok, price, temp
    [T0 + 500_000, KIND_X, "a", 2**64 - 1, 1, T0, 'say "hi"\\', True, 1.25, 1.5],
    [T0 + 1_000_500_000, KIND_X, "b", 0, -2, None, None, False, None, None],
    [T0 + 2_000_500_000, "y", "a", 7, None, None, "é, =x", None, 3.5, None],
    [T0 + 3_000_500_000, KIND_X, None, None, 4, 86_400_000_000_000, "plain", True, None, 2.25],
]


def sorted_rows(columns: list[str], rows: list[list[Any]]) -> list[list[Any]]:
    order = ["time", "kind", "station", "big", "count", "day", "note", "ok", "price", "temp"]
    return sorted(([row[columns.index(name)] for name in order] for row in rows), key=lambda r: r[0])


@pytest.mark.parametrize("mode", ["direct", "rest"])
def test_every_arrow_type_lands_as_its_field_kind(tmp_path: Path, mode: str) -> None:
    pq.write_table(typed_table(), tmp_path / "in.parquet")
    args = ["parquet", "in.parquet", "-m", "m", "--tags", "station,kind", "--timestamp-column", "when"]
    if mode == "direct":
        result = importer(*args, "--direct", "--config", str(config(tmp_path)), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        columns, rows = stored(tmp_path, Query("m"))
    else:
        server = RustsServer(tmp_path)
        try:
            result = importer(*args, "--url", f"http://127.0.0.1:{server.port}", "--gzip", cwd=tmp_path)
            assert result.returncode == 0, result.stderr
            answer = server.sql("SELECT * FROM m")
        finally:
            server.stop()
        columns, rows = [c["name"] for c in answer["columns"]], answer["rows"]
    assert sorted_rows(columns, rows) == EXPECTED_ROWS
    assert "4 rows read, 4 written, 0 skipped" in result.stderr


def test_direct_mode_stores_flag_strings_through_several_flushes(tmp_path: Path) -> None:
    """Few-valued string fields (flags, with nulls) travel as dictionary codes in direct mode, from
    the Parquet batches through the memtable to segments; a many-valued one as strings. Both read
    back row for row, across several flushes and partitions (two days)."""
    rows = 6_000
    step = 2 * 86_400 * 10**9 // rows
    flags = [None if i % 7 == 0 else ("Y" if i % 3 else "N") for i in range(rows)]
    table = pa.table({
        "when": pa.array([T0 + i * step for i in range(rows)], pa.timestamp("ns", "UTC")),
        "station": pa.array(["a", "b", "c"] * (rows // 3)),
        "flag": pa.array(flags).dictionary_encode(),
        "note": pa.array([f"n{i}" for i in range(rows)]),
        "value": pa.array([float(i) for i in range(rows)]),
    })
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=1_000)
    (tmp_path / "rusts.yml").write_text(
        f"storage: {{data_dir: '{tmp_path / 'data'}', wal_durability: none, memtable: {{max_points: 1500}}}}\n"
    )
    result = importer("parquet", "in.parquet", "-m", "m", "--tags", "station", "--timestamp-column", "when",
                      "--batch-size", "500", "--direct", "--config", str(tmp_path / "rusts.yml"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "data" / "partitions").glob("*/*.rseg"))) >= 4  # flushed as it went
    columns, answer = stored(tmp_path, Query("m"))
    got = sorted((row[columns.index("time")], row[columns.index("station")], row[columns.index("flag")],
                  row[columns.index("note")], row[columns.index("value")]) for row in answer)
    assert got == [(T0 + i * step, "abc"[i % 3], flags[i], f"n{i}", float(i)) for i in range(rows)]


def test_rows_without_time_or_fields_are_skipped_and_counted(tmp_path: Path) -> None:
    table = pa.table({
        "time": pa.array([T0, None, T0 + 2, T0 + 3], pa.timestamp("ns")),
        "host": ["a", "a", "a", "a"],
        "v": pa.array([1.0, 2.0, None, float("inf")]),
    })
    pq.write_table(table, tmp_path / "in.parquet")
    result = importer("parquet", "in.parquet", "-m", "m", "--tags", "host", "--direct", "--config", str(config(tmp_path)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "4 rows read, 1 written, 3 skipped" in result.stderr
    assert "skipped 1 rows without a timestamp" in result.stderr
    assert "skipped 2 rows without any field value" in result.stderr
    assert stored(tmp_path, Query("m"))[1] == [[T0, "a", 1.0]]


def test_integer_timestamps_need_and_use_a_unit(tmp_path: Path) -> None:
    pq.write_table(pa.table({"ts": [1_761_955_200, 1_761_955_201], "v": [1, 2]}), tmp_path / "in.parquet")
    cfg = str(config(tmp_path))
    refused = importer("parquet", "in.parquet", "-m", "m", "--timestamp-column", "ts", "--direct", "--config", cfg, cwd=tmp_path)
    assert refused.returncode == 2
    assert "--timestamp-unit" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    ok = importer("parquet", "in.parquet", "-m", "m", "--timestamp-column", "ts", "--timestamp-unit", "s",
                  "--direct", "--config", cfg, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert stored(tmp_path, Query("m"))[1] == [[T0, 1], [T0 + 1_000_000_000, 2]]


def test_same_series_and_time_later_wins_or_unique_time_keeps_both(tmp_path: Path) -> None:
    table = pa.table({"time": pa.array([T0, T0, T0, T0 + 5], pa.timestamp("ns")), "v": [1.0, 2.0, 3.0, 4.0],
                      "w": pa.array([10.0, None, None, None])})
    pq.write_table(table, tmp_path / "in.parquet")
    cfg = str(config(tmp_path))
    merged = importer("parquet", "in.parquet", "-m", "merged", "--direct", "--config", cfg, cwd=tmp_path)
    assert merged.returncode == 0, merged.stderr
    assert "2 rows had the series and time of an earlier row" in merged.stderr
    # Batches of 2 rows: the run of T0 crosses a batch boundary.
    unique = importer("parquet", "in.parquet", "-m", "unique", "--unique-time", "--batch-size", "2",
                      "--direct", "--config", cfg, cwd=tmp_path)
    assert unique.returncode == 0, unique.stderr
    assert stored(tmp_path, Query("merged"))[1] == [[T0, 3.0, 10.0], [T0 + 5, 4.0, None]]
    assert stored(tmp_path, Query("unique"))[1] == [[T0, 1.0, 10.0], [T0 + 1, 2.0, None], [T0 + 2, 3.0, None], [T0 + 5, 4.0, None]]


@pytest.mark.parametrize(
    "write, args, message",
    [
        (lambda p: p.write_bytes(b"time,v\n1,2\n"), ["-m", "m"], "not a Parquet file"),
        (None, ["-m", "m"], "no such file"),
        ("table", ["-m", "m", "--tags", "nope"], "no column 'nope'"),
        ("table", ["-m", "m", "--timestamp-column", "v"], "timestamp column 'v' has type double"),
        ("table", ["-m", "m", "--fields", "v,blob"], "column 'blob' has type list<element: int64>"),
    ],
)
def test_bad_input_is_one_clear_line_exit_2_and_nothing_written(tmp_path: Path, write: Any, args: list[str], message: str) -> None:
    path = tmp_path / "in.parquet"
    if write == "table":
        pq.write_table(pa.table({"time": pa.array([T0], pa.timestamp("ns")), "v": [1.0], "blob": [[1, 2]]}), path)
    elif write is not None:
        write(path)
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"time": pa.array([T0], pa.timestamp("ns")), "v": [1.0], "blob": [[1]]}), good)
    # The good file comes first: a schema error in a later file must still write nothing.
    fields = [] if "--fields" in args else ["--fields", "v"]
    result = importer("parquet", "good.parquet", "in.parquet", *args, *fields, "--direct",
                      "--config", str(config(tmp_path)), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "data").exists()


def test_direct_mode_refuses_a_directory_a_server_holds(tmp_path: Path) -> None:
    server = RustsServer(tmp_path)
    try:
        pq.write_table(pa.table({"time": pa.array([T0], pa.timestamp("ns")), "v": [1.0]}), tmp_path / "in.parquet")
        result = importer("parquet", "in.parquet", "-m", "m", "--direct", "--config", str(server.config), cwd=tmp_path)
        assert result.returncode == 1
        assert f"a running server holds {tmp_path / 'data'}; use REST mode (--url) or stop it" in result.stderr
    finally:
        server.stop()


def ids_table(start: int, stop: int) -> pa.Table:
    ids = list(range(start, stop))
    return pa.table({
        "time": pa.array([T0 + i * 1_000_000_000 for i in ids], pa.timestamp("ns", "UTC")),
        "sensor": [f"s{i % 3}" for i in ids],
        "trip_id": [f"t{i}" for i in ids],
        "seq": ids,
        "v": [float(i) for i in ids],
    })


@pytest.mark.parametrize("column", ["seq", "trip_id"])
def test_dedup_by_field_or_tag_in_direct_mode(tmp_path: Path, column: str) -> None:
    tags = "sensor,trip_id" if column == "trip_id" else "sensor"
    cfg = str(config(tmp_path))
    pq.write_table(ids_table(0, 60), tmp_path / "first.parquet")
    pq.write_table(pa.concat_tables([ids_table(40, 100), ids_table(90, 100)]), tmp_path / "second.parquet")
    first = importer("parquet", "first.parquet", "-m", "m", "--tags", tags, "--dedup-column", column, "--direct", "--config", cfg, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = importer("parquet", "second.parquet", "-m", "m", "--tags", tags, "--dedup-column", column, "--direct", "--config", cfg, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "70 rows read, 40 written, 30 skipped" in second.stderr
    assert "skipped 30 rows with a dedup value already stored or seen earlier" in second.stderr
    columns, rows = stored(tmp_path, Query("m", fields=["seq"]))
    assert sorted(row[columns.index("seq")] for row in rows) == list(range(100))


def test_rest_mode_dedups_by_tag(tmp_path: Path) -> None:
    server = RustsServer(tmp_path)
    try:
        url = f"http://127.0.0.1:{server.port}"
        pq.write_table(ids_table(0, 50), tmp_path / "a.parquet")
        pq.write_table(ids_table(25, 80), tmp_path / "b.parquet")
        args = ["-m", "m", "--tags", "sensor,trip_id", "--dedup-column", "trip_id", "--url", url, "--lines-per-request", "7"]
        assert importer("parquet", "a.parquet", *args, cwd=tmp_path).returncode == 0
        again = importer("parquet", "a.parquet", "b.parquet", *args, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert "105 rows read, 30 written, 75 skipped" in again.stderr
        assert server.sql("SELECT count(v) FROM m")["rows"] == [[80]]
    finally:
        server.stop()


def test_rest_mode_reports_an_unreachable_server(tmp_path: Path) -> None:
    from servers import free_port

    pq.write_table(pa.table({"time": pa.array([T0], pa.timestamp("ns")), "v": [1.0]}), tmp_path / "in.parquet")
    result = importer("parquet", "in.parquet", "-m", "m", "--url", f"http://127.0.0.1:{free_port()}", cwd=tmp_path)
    assert result.returncode == 1
    assert "cannot reach http://127.0.0.1:" in result.stderr


def test_csv_with_inferred_and_given_types(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text(
        "ts,station,temp,code,flag\n"
        "2025-11-01T00:00:00Z,a,1.5,7,true\n"
        "2025-11-01T00:00:01Z,b,,8,false\n"
        "2025-11-01T00:00:02Z,a,2,,\n"
    )
    result = importer("csv", "in.csv", "-m", "w", "--tags", "station", "--timestamp-column", "ts",
                      "--types", "code:float", "--direct", "--config", str(config(tmp_path)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    columns, rows = stored(tmp_path, Query("w"))
    assert columns == ["time", "station", "code", "flag", "temp"]
    assert rows == [[T0, "a", 7.0, True, 1.5], [T0 + 1_000_000_000, "b", 8.0, False, None], [T0 + 2_000_000_000, "a", None, None, 2.0]]
    bad = importer("csv", "in.csv", "-m", "w", "--types", "code:complex", "--direct", "--config", str(config(tmp_path)), cwd=tmp_path)
    assert bad.returncode == 2 and "unknown kind 'complex' for column 'code'" in bad.stderr


def interrupted_import(args: list[str], cwd: Path) -> int:
    """Start an import, Ctrl-C it after its first progress line; the rows it says it wrote."""
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    process = subprocess.Popen([sys.executable, "-m", "rusts.importer.cli", *args], cwd=cwd, env=env,
                               stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    first = process.stderr.readline()
    assert "rows read" in first, first
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 130, rest
    closing = next(line for line in rest.splitlines() if line.startswith("rusts-import: interrupted:"))
    assert "re-run with --dedup-column to resume" in rest
    return int(closing.split("rows read, ")[1].split(" written")[0].replace(",", ""))


@pytest.mark.parametrize("mode", ["direct", "rest"])
def test_ctrl_c_stops_cleanly_and_a_dedup_rerun_completes_without_duplicates(tmp_path: Path, mode: str) -> None:
    rows = 30_000
    pq.write_table(ids_table(0, rows), tmp_path / "big.parquet", row_group_size=1_000)
    server = RustsServer(tmp_path) if mode == "rest" else None
    target = ["--url", f"http://127.0.0.1:{server.port}"] if server else ["--direct", "--config", str(config(tmp_path))]
    args = ["parquet", "big.parquet", "-m", "m", "--tags", "sensor", "--dedup-column", "seq", *target,
            "--batch-size", "500", "--lines-per-request", "500", "--progress-interval", "0"]

    def stored_seq() -> list[int]:
        if server is None:
            columns, found = stored(tmp_path, Query("m", fields=["seq"]))
        else:
            status, answer = server.request("POST", "/query", b'{"measurement": "m", "fields": ["seq"]}')
            assert status == 200, answer
            columns, found = [c["name"] for c in answer["columns"]], answer["rows"]
        return sorted(row[columns.index("seq")] for row in found)

    try:
        written = interrupted_import(args, tmp_path)
        assert 0 < written < rows
        assert stored_seq() == list(range(written))
        resumed = importer(*args, cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        assert f"{rows - written:,} written" in resumed.stderr
        assert stored_seq() == list(range(rows))
    finally:
        if server is not None:
            server.stop()


def test_rest_mode_sends_the_token_and_explains_a_refusal(tmp_path: Path) -> None:
    from rusts.api.auth import issue_token

    secret = "import-test-secret-0123456789abcdef"
    server = RustsServer(tmp_path, auth=f"{{enabled: true, jwt_secret: {secret}, token_expiration: 3600}}")
    try:
        pq.write_table(ids_table(0, 10), tmp_path / "in.parquet")
        args = ["parquet", "in.parquet", "-m", "m", "--tags", "sensor", "--url", f"http://127.0.0.1:{server.port}"]
        refused = importer(*args, cwd=tmp_path)
        assert refused.returncode == 1
        assert "refused the write (401)" in refused.stderr and "--token" in refused.stderr
        token = issue_token(secret, "importer", 3600)
        ok = importer(*args, "--token", token, "--dedup-column", "seq", cwd=tmp_path)
        assert ok.returncode == 0, ok.stderr
        assert "10 rows read, 10 written" in ok.stderr
    finally:
        server.stop()


def test_a_bad_value_in_a_later_csv_block_stops_with_a_summary(tmp_path: Path) -> None:
    rows = 600_000  # more than one 8 MiB block: the types come from the first
    good = "".join(f"{T0 + i},{i}\n" for i in range(rows))
    (tmp_path / "in.csv").write_text("ts,v\n" + good + f"{T0},not-a-number\n")
    result = importer("csv", "in.csv", "-m", "m", "--timestamp-column", "ts", "--timestamp-unit", "ns",
                      "--direct", "--config", str(config(tmp_path)), cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("rusts-import: in.csv: after row ") and "not-a-number" in lines[-1], result.stderr
    closing = next(line for line in lines if line.startswith("rusts-import: stopped by bad input:"))
    written = int(closing.split("rows read, ")[1].split(" written")[0].replace(",", ""))
    assert 0 < written < rows
    assert len(stored(tmp_path, Query("m"))[1]) == written


def test_a_tag_value_with_a_backslash_goes_every_way_but_line_protocol(tmp_path: Path) -> None:
    table = pa.table({"time": pa.array([T0, T0 + 1], pa.timestamp("ns")), "host": ["ok", "bad\\"], "v": [1.0, 2.0]})
    pq.write_table(table, tmp_path / "in.parquet")
    direct = importer("parquet", "in.parquet", "-m", "m", "--tags", "host", "--direct", "--config", str(config(tmp_path)), cwd=tmp_path)
    assert direct.returncode == 0, direct.stderr
    assert stored(tmp_path, Query("m"))[1] == [[T0, "ok", 1.0], [T0 + 1, "bad\\", 2.0]]
    rest_dir = tmp_path / "rest"
    rest_dir.mkdir()
    server = RustsServer(rest_dir)
    try:
        args = ["parquet", str(tmp_path / "in.parquet"), "-m", "m", "--tags", "host", "--url", f"http://127.0.0.1:{server.port}"]
        lp = importer(*args, "--line-protocol", cwd=tmp_path)
        assert lp.returncode == 1
        assert "2 rows read, 1 written, 1 skipped" in lp.stderr
        assert "holds a backslash, which this line protocol cannot always carry (--direct can store it)" in lp.stderr
        assert server.sql("SELECT * FROM m")["rows"] == [[T0, "ok", 1.0]]
        arrow = importer(*args, cwd=tmp_path)
        assert arrow.returncode == 0, arrow.stderr
        assert server.sql("SELECT * FROM m ORDER BY time")["rows"] == [[T0, "ok", 1.0], [T0 + 1, "bad\\", 2.0]]
    finally:
        server.stop()


def test_help_describes_modes_flags_and_duplicate_times(tmp_path: Path) -> None:
    top = importer("--help", cwd=tmp_path)
    assert top.returncode == 0 and "parquet" in top.stdout and "csv" in top.stdout
    assert "NOT IMPLEMENTED" not in top.stdout and "--unique-time" in top.stdout
    for fmt in ("parquet", "csv"):
        sub = importer(fmt, "--help", cwd=tmp_path)
        assert sub.returncode == 0
        for flag in ("--measurement", "--tags", "--timestamp-column", "--timestamp-unit", "--fields", "--direct",
                     "--dedup-column", "--config", "--url", "--token", "--batch-size", "--unique-time"):
            assert flag in sub.stdout, (fmt, flag)
    assert "--types" in importer("csv", "--help", cwd=tmp_path).stdout
    usage = importer("parquet", "x.parquet", cwd=tmp_path)
    assert usage.returncode == 2 and "--measurement" in usage.stderr


def test_console_scripts_name_the_importer_and_exporter() -> None:
    import tomllib

    scripts = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["rusts-import"] == "rusts.importer.cli:main"
    assert scripts["rusts-export"] == "rusts.exporter.cli:main"


def test_prefetched_batches_keep_order_raise_in_place_and_stop_when_closed() -> None:
    def items(fail_at: int | None) -> Any:
        for i in range(50):
            if i == fail_at:
                raise ValueError(f"bad batch {i}")
            yield i

    assert list(prefetched(items(None))) == list(range(50))
    seen: list[int] = []
    with pytest.raises(ValueError, match="bad batch 7"):
        for item in prefetched(items(7)):
            seen.append(item)
    assert seen == list(range(7))  # everything before the failure arrived, in order

    produced: list[int] = []

    def endless() -> Any:
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    stream = prefetched(endless(), depth=2)
    assert next(stream) == 0
    stream.close()  # the consumer stopped: the reader stops within its put timeout
    time.sleep(0.5)
    count = len(produced)
    time.sleep(0.3)
    assert len(produced) == count <= 5


def test_a_server_without_the_arrow_endpoint_gets_line_protocol(tmp_path: Path) -> None:
    """An older server (here a stand-in that only knows POST /write) answers 404 to the first Arrow
    body; the importer sends that batch and the rest as line protocol, and no row is lost or doubled."""
    import http.server
    import threading

    received: list[str] = []
    paths: list[str] = []

    class OldServer(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            paths.append(self.path.split("?")[0])
            if self.path.startswith("/write?"):
                received.extend(body.decode().splitlines())
                self.send_response(204)
            else:
                self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OldServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        rows = 2_500
        table = pa.table({"time": pa.array([T0 + i for i in range(rows)], pa.timestamp("ns")),
                          "host": [f"h{i % 3}" for i in range(rows)], "v": [float(i) for i in range(rows)]})
        pq.write_table(table, tmp_path / "in.parquet")
        result = importer("parquet", "in.parquet", "-m", "m", "--tags", "host", "--batch-size", "1000",
                          "--url", f"http://127.0.0.1:{httpd.server_address[1]}", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert paths[0] == "/write/arrow" and set(paths[1:]) == {"/write"}
        assert sorted(received) == sorted(f"m,host=h{i % 3} v={i} {T0 + i}" for i in range(rows))  # Arrow writes 2.0 as 2, a float in line protocol
    finally:
        httpd.shutdown()


def test_rest_bodies_shrink_to_a_servers_smaller_max_body_size(tmp_path: Path) -> None:
    rows = 30_000
    table = pa.table({"time": pa.array([T0 + i for i in range(rows)], pa.timestamp("ns")),
                      "host": [f"h{i % 5}" for i in range(rows)], "v": [float(i) for i in range(rows)],
                      "note": [f"n{i % 97}" for i in range(rows)]})
    pq.write_table(table, tmp_path / "in.parquet")
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    server = RustsServer(server_dir, server_extra=", max_body_size: 100000")
    try:
        result = importer("parquet", str(tmp_path / "in.parquet"), "-m", "m", "--tags", "host",
                          "--url", f"http://127.0.0.1:{server.port}", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert f"{rows:,} written" in result.stderr
        assert server.sql("SELECT count(v), sum(v) FROM m")["rows"] == [[rows, float(sum(range(rows)))]]
    finally:
        server.stop()
