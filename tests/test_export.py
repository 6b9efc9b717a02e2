"""`rusts-export` as a real process: Parquet that pandas reads, filters, and import(export(x)) == x."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rusts.api.line_protocol import engine_parser
from rusts.query.model import Query
from rusts.storage.engine import EngineOptions, StorageEngine
from servers import PACKAGE_ROOT, RustsServer
from test_import import EXPECTED_ROWS, T0, config, importer, sorted_rows, stored, typed_table


def exporter(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    return subprocess.run([sys.executable, "-m", "rusts.exporter.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def load(tmp_path: Path) -> Path:
    """A data directory holding the typed table as measurement m (tags station, kind)."""
    pq.write_table(typed_table(), tmp_path / "in.parquet")
    result = importer("parquet", "in.parquet", "-m", "m", "--tags", "station,kind", "--timestamp-column", "when",
                      "--direct", "--config", str(config(tmp_path)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return tmp_path / "rusts.yml"


def test_export_then_import_stores_the_same_rows(tmp_path: Path) -> None:
    cfg = load(tmp_path)
    result = exporter("parquet", "out.parquet", "-m", "m", "--config", str(cfg), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "4 rows of m to out.parquet" in result.stderr
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.schema.field("time").type == pa.timestamp("ns", "UTC")
    assert table.schema.field("big").type == pa.uint64() and table.schema.field("ok").type == pa.bool_()
    assert table.num_rows == 4
    metadata = pq.ParquetFile(tmp_path / "out.parquet").metadata
    encodings = {metadata.schema.column(i).name: metadata.row_group(0).column(i).encodings for i in range(metadata.num_columns)}
    # Integers and time delta-packed; the rest dictionary-encoded (RLE_DICTIONARY or its fallback).
    assert "DELTA_BINARY_PACKED" in encodings["time"] and "DELTA_BINARY_PACKED" in encodings["big"]
    assert "RLE_DICTIONARY" in encodings["station"]
    frame = pd.read_parquet(tmp_path / "out.parquet")
    assert str(frame["time"].dtype) == "datetime64[ns, UTC]"
    assert frame["station"].tolist()[:3] == ["a", "b", "a"] and frame["station"].isna().tolist()[3]

    again = tmp_path / "again"
    again.mkdir()
    # No --tags: the export recorded which columns are tags.
    back = importer("parquet", str(tmp_path / "out.parquet"), "-m", "m", "--direct", "--config", str(config(again)), cwd=again)
    assert back.returncode == 0, back.stderr
    columns, rows = stored(again, Query("m"))
    assert sorted_rows(columns, rows) == EXPECTED_ROWS
    second = exporter("parquet", "out2.parquet", "-m", "m", "--config", str(again / "rusts.yml"), cwd=again)
    assert second.returncode == 0, second.stderr
    assert pq.read_table(again / "out2.parquet").equals(table)


def test_time_range_and_where_select_rows(tmp_path: Path) -> None:
    cfg = str(load(tmp_path))
    result = exporter("parquet", "a.parquet", "-m", "m", "--config", cfg, "--start", "2025-11-01T00:00:01Z",
                      "--end", str(T0 + 3_000_000_000), "--where", "station = 'a' OR kind = 'y'", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    table = pq.read_table(tmp_path / "a.parquet")
    assert table.column("time").cast(pa.int64()).to_pylist() == [T0 + 2_000_500_000]
    fields = exporter("parquet", "b.parquet", "-m", "m", "--config", cfg, "--where", "count > 0", cwd=tmp_path)
    assert fields.returncode == 0, fields.stderr
    assert pq.read_table(tmp_path / "b.parquet").column("count").to_pylist() == [1, 4]


def test_bad_requests_exit_2_and_leave_no_file(tmp_path: Path) -> None:
    cfg = str(load(tmp_path))
    for args, message in (
        (["-m", "nope"], "nope"),
        (["-m", "m", "--start", "yesterday"], "--start 'yesterday' is neither"),
        (["-m", "m", "--where", "nosuch = 1"], "nosuch"),
    ):
        result = exporter("parquet", "x.parquet", *args, "--config", cfg, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert not (tmp_path / "x.parquet").exists() and not (tmp_path / "x.parquet.tmp").exists()


def test_both_tools_check_rusts_yml_as_the_server_does(tmp_path: Path) -> None:
    """A misspelt key is the server's clear one-line error and exit status 2, and nothing is written."""
    pq.write_table(typed_table(), tmp_path / "in.parquet")
    bad = tmp_path / "bad.yml"
    bad.write_text(f"storage: {{data_dir: '{tmp_path / 'data'}', wal_durabilty: none}}\n")
    runs = [
        importer("parquet", "in.parquet", "-m", "m", "--timestamp-column", "when", "--direct", "--config", str(bad), cwd=tmp_path),
        exporter("parquet", "out.parquet", "-m", "m", "--config", str(bad), cwd=tmp_path),
    ]
    for result in runs:
        assert result.returncode == 2, result.stderr
        assert "storage.wal_durabilty: unknown key; did you mean wal_durability?" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "out.parquet").exists()


def test_export_refuses_a_directory_a_server_holds(tmp_path: Path) -> None:
    server = RustsServer(tmp_path)
    try:
        server.write("m v=1 1")
        result = exporter("parquet", "x.parquet", "-m", "m", "--config", str(server.config), cwd=tmp_path)
        assert result.returncode == 1
        assert f"a running server holds {tmp_path / 'data'}" in result.stderr
    finally:
        server.stop()


def test_many_series_over_several_windows_with_fields_missing_by_series_and_row(tmp_path: Path) -> None:
    # Six series over three days (three partitions, some rows still in the WAL at export time):
    # an integer only the even series carry, a bool only the odd ones, a string every third row.
    day = 86_400 * 10**9
    expected: list[tuple[int, str, float, int | None, bool | None, str | None]] = []
    lines: list[str] = []
    for row in range(240):
        host = f"h{row % 6}"
        at = T0 + (row // 6) * (3 * day // 40) + row % 6
        value = row * 0.25
        integer = row if row % 6 % 2 == 0 else None
        flag = (row % 4 == 1) if row % 6 % 2 == 1 else None
        text = f"s{row}" if row % 3 == 0 else None
        fields = [f"f={value}"] + ([f"i={integer}i"] if integer is not None else []) \
            + ([f"b={'true' if flag else 'false'}"] if flag is not None else []) + ([f's="{text}"'] if text else [])
        lines.append(f"m,host={host} {','.join(fields)} {at}")
        expected.append((at, host, value, integer, flag, text))
    engine = StorageEngine.open(EngineOptions(str(tmp_path / "data"), wal_durability="every_write"), engine_parser)
    try:
        assert not engine.write_line_protocol("\n".join(lines[:180]).encode()).errors
        engine.flush()
        assert not engine.write_line_protocol("\n".join(lines[180:]).encode()).errors
    finally:
        engine.close()
    cfg = config(tmp_path)
    result = exporter("parquet", "out.parquet", "-m", "m", "--config", str(cfg), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    table = pq.read_table(tmp_path / "out.parquet")
    got = list(zip(*(table.column(name).to_pylist() for name in ("time", "host", "f", "i", "b", "s"))))
    times = table.column("time").cast(pa.int64()).to_pylist()
    rows = [(times[k], *got[k][1:]) for k in range(len(got))]
    assert rows == sorted(expected)  # time order, ties by series key
