"""rusts-import and rusts-export on the trips-like Parquet file: rows/s and peak RSS of each child process.

Runs, each as its own process on its own temporary directory:

- `rusts-import ... --direct` into a fresh data directory (wal_durability periodic);
- `rusts-export parquet` of the directly imported measurement;
- `rusts-import ...` in REST mode to a fresh `rusts` server (127.0.0.1, free port), once with Arrow
  bodies to /write/arrow (the default) and once with line protocol to /write (--line-protocol);
- the importer's conversion alone, in this process (Arrow batches -> series batches, and -> line
  protocol text): how fast the importer itself is, without the storage engine or a server.

Peak RSS comes from os.wait4 on each child. Client and server share the machine's CPUs.

Run: python benchmarks/importer.py [--rows N] [--parquet trips.parquet] [--skip-rest] [--keep]
(PYTHONPATH=. measures the source tree; a compiled build gives the figures that count.)
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pyarrow.parquet as pq  # noqa: E402

import rusts  # noqa: E402
import trips  # noqa: E402

IMPORT_ARGS = ["-m", "trips", "--tags", "hvfhs_license_num,dispatching_base_num", "--timestamp-column", "pickup_datetime"]
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(rusts.__file__)))


def child(module: str, args: list[str], cwd: str) -> tuple[float, int, str]:
    """Run `python -m module args`: wall seconds, peak RSS in MiB, stderr's last lines."""
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    started = time.perf_counter()
    with open(os.path.join(cwd, f"{module}.err"), "w+") as err:
        process = subprocess.Popen([sys.executable, "-m", module, *args], cwd=cwd, env=env,
                                   stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - started
        err.seek(0)
        tail = "".join(err.readlines()[-3:])
    if process.returncode != 0:
        raise SystemExit(f"{module} {' '.join(args)} failed ({process.returncode}):\n{tail}")
    return elapsed, usage.ru_maxrss // 1024, tail


def write_config(directory: str, port: int = 0) -> str:
    path = os.path.join(directory, "rusts.yml")
    with open(path, "w") as handle:
        if port:
            handle.write(f"server: {{host: 127.0.0.1, port: {port}}}\npostgres: {{enabled: false}}\n")
        handle.write(f"storage: {{data_dir: '{os.path.join(directory, 'data')}', wal_durability: periodic}}\n")
        handle.write("logging: {level: warn}\n")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def conversion_alone(path: str) -> tuple[float, float]:
    """Rows/s of the importer's own work: to series batches (direct), to line protocol (REST)."""
    from rusts.importer.columns import ImportSpec, plan_columns
    from rusts.importer.convert import Converter
    from rusts.importer.points import line_protocol, series_batches

    spec = ImportSpec("trips", IMPORT_ARGS[3].split(","), "pickup_datetime")
    source = pq.ParquetFile(path)
    plan = plan_columns(spec, source.schema_arrow, path)
    batches = list(source.iter_batches(batch_size=65_536))
    rows = sum(b.num_rows for b in batches)
    line_protocol(Converter(spec, plan, path, None).convert(batches[0]), 0, 10)  # pyarrow's first-call set-up
    converter = Converter(spec, plan, path, None)
    started = time.perf_counter()
    for batch in batches:
        series_batches(converter.convert(batch), "trips")
    direct = rows / (time.perf_counter() - started)
    converter = Converter(spec, plan, path, None)
    started = time.perf_counter()
    for batch in batches:
        line_protocol(converter.convert(batch))
    rest = rows / (time.perf_counter() - started)
    return direct, rest


def peak_rss_mib(pid: int) -> int:
    """VmHWM of a running process, in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return 0


def rest_import(path: str, rows: int, work: str, label: str, extra: list[str]) -> None:
    port = free_port()
    config = write_config(work, port)
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    with open(os.path.join(work, "server.log"), "w") as log:
        server = subprocess.Popen([sys.executable, "-m", "rusts.server.cli", "--config", config], cwd=work, env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("server did not become ready; see " + os.path.join(work, "server.log")) from None
                time.sleep(0.2)
        elapsed, rss, _ = child("rusts.importer.cli", ["parquet", path, *IMPORT_ARGS, "--url", f"http://127.0.0.1:{port}", *extra], work)
        print(f"{label:<20} {rows / elapsed:>12,.0f} rows/s   {elapsed:6.2f} s   importer peak RSS {rss:,} MiB, "
              f"server {peak_rss_mib(server.pid):,} MiB")
    finally:
        server.terminate()
        server.wait(timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=trips.DEFAULT_ROWS)
    parser.add_argument("--parquet", help="the trips file (written with benchmarks/trips.py when missing)")
    parser.add_argument("--skip-rest", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="rusts-import-bench-")
    try:
        path = args.parquet or os.path.join(work, "trips.parquet")
        if not os.path.exists(path):
            subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "trips.py"), "--rows", str(args.rows),
                            "--parquet", path], check=True, stdout=subprocess.DEVNULL)
        rows = pq.ParquetFile(path).metadata.num_rows
        # Byte-compile the package first, as pip does when it installs one: a machine with
        # PYTHONDONTWRITEBYTECODE set would otherwise compile every module in every child.
        compileall.compile_dir(os.path.join(PACKAGE_ROOT, "rusts"), quiet=1)
        print(f"rusts {rusts.__version__}, compiled={rusts.COMPILED}, {rows:,} trips-like rows from {path}")
        direct = os.path.join(work, "direct")
        os.mkdir(direct)
        config = write_config(direct)
        elapsed, rss, _ = child("rusts.importer.cli", ["parquet", path, *IMPORT_ARGS, "--direct", "--config", config], direct)
        print(f"import direct        {rows / elapsed:>12,.0f} rows/s   {elapsed:6.2f} s   peak RSS {rss:,} MiB")
        out = os.path.join(work, "export.parquet")
        elapsed, rss, _ = child("rusts.exporter.cli", ["parquet", out, "-m", "trips", "--config", config], direct)
        print(f"export               {rows / elapsed:>12,.0f} rows/s   {elapsed:6.2f} s   peak RSS {rss:,} MiB   "
              f"{os.path.getsize(out) / 1e6:.1f} MB")
        if not args.skip_rest:
            for label, extra in (("import REST (Arrow)", []), ("import REST (LP)", ["--line-protocol"])):
                rest = os.path.join(work, extra[0][2:] if extra else "arrow")
                os.mkdir(rest)
                rest_import(path, rows, rest, label, extra)
        # Last: a child's peak RSS starts from this process's at fork time, and this holds the whole file.
        direct_rate, rest_rate = conversion_alone(path)
        print(f"convert alone        {direct_rate:>12,.0f} rows/s to series batches, {rest_rate:,.0f} rows/s to line protocol")
        print("(wall time of each child process, start-up and engine open/close included)")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
