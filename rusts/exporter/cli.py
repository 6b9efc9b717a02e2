"""The `rusts-export` command: a measurement to a Parquet file, for DuckDB, pandas, polars or Spark.

It reads the data directory of rusts.yml directly (refused while a server
holds it) and streams window by window, so memory does not grow with the
measurement. Exit status: 0 written; 1 the data directory failed; 2 bad
input or usage; 130 interrupted (no file is left behind).
"""

import argparse
import datetime
import sys
import time

from rusts.api.line_protocol import engine_parser
from rusts.core.errors import ConfigError, QueryError, RustsError
from rusts.core.pandas_probe import skip_pandas_probe
from rusts.exporter.parquet import export_parquet
from rusts.config.engine import config_file_options
from rusts.query.model import Query, TimeRange
from rusts.storage.engine import DataDirectoryInUse, StorageEngine

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

EPILOG = """\
examples:
  rusts-export parquet trips.parquet -m trips --start 2025-11-01 --end 2025-11-08
  rusts-export parquet hv3.parquet -m trips --where "hvfhs_license_num = 'HV0003' AND tips > 0"
  duckdb -c "SELECT hvfhs_license_num, avg(tips) FROM 'hv3.parquet' GROUP BY 1"
"""


class ExportError(RustsError):
    """The export cannot run on this data directory: says why."""


class UsageError(RustsError):
    """An option that cannot be used: names it."""


def parse_time(text: str, option: str) -> int:
    """Nanoseconds since the epoch from an integer (ns) or an ISO 8601 date or time (UTC unless it says)."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} {text!r} is neither nanoseconds since the epoch nor an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    delta = moment - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rusts-export",
        description="Export a measurement: tags and fields as columns, time as timestamp[ns, UTC].",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    formats = parser.add_subparsers(dest="format", metavar="FORMAT", required=True)
    sub = formats.add_parser("parquet", help="write a Parquet file", epilog=EPILOG,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    sub.add_argument("output", metavar="OUT", help="the Parquet file to write (replaced when complete)")
    sub.add_argument("-m", "--measurement", required=True, help="the measurement to export")
    sub.add_argument("--start", metavar="T", help="first time included: ns since the epoch or ISO 8601 (UTC by default)")
    sub.add_argument("--end", metavar="T", help="first time excluded, like --start")
    sub.add_argument("--where", metavar="COND", help="an SQL condition on tags and fields, e.g. \"host = 'a' AND v > 1\"")
    sub.add_argument("--config", metavar="PATH", help="rusts.yml to take data_dir from (default ./rusts.yml)")
    sub.add_argument("--compression", default="zstd", choices=("zstd", "snappy", "gzip", "lz4", "none"),
                     help="Parquet compression (default: %(default)s)")
    return parser


def _query(engine: StorageEngine, args: argparse.Namespace) -> Query:
    query = Query(args.measurement)
    if args.where:
        # sqlglot takes 0.1 s to import: only --where needs it.
        from rusts.sql.translator import translate

        name = args.measurement.replace('"', '""')
        translated = translate(engine, f'SELECT * FROM "{name}" WHERE {args.where}')
        if not isinstance(translated, Query):
            raise UsageError(f"--where {args.where!r} is not a condition")
        query = Query(args.measurement, time_range=translated.time_range, tag_filter=translated.tag_filter,
                      field_filter=translated.field_filter)
    start = parse_time(args.start, "--start") if args.start else None
    end = parse_time(args.end, "--end") if args.end else None
    if start is not None or end is not None:
        given = query.time_range or TimeRange()
        starts = [t for t in (given.start, start) if t is not None]
        ends = [t for t in (given.end, end) if t is not None]
        query.time_range = TimeRange(max(starts) if starts else None, min(ends) if ends else None)
    return query


def run(args: argparse.Namespace) -> int:
    options = config_file_options(args.config)
    try:
        engine = StorageEngine.open(options, engine_parser)
    except DataDirectoryInUse:
        raise ExportError(f"a running server holds {options.data_dir}; stop it to export from its data directory") from None
    started = time.monotonic()
    try:
        rows = export_parquet(engine, _query(engine, args), args.output, args.compression)
    finally:
        engine.close()
    elapsed = time.monotonic() - started
    rate = rows / elapsed if elapsed > 0 else 0.0
    sys.stderr.write(f"rusts-export: {rows:,} rows of {args.measurement} to {args.output} in {elapsed:.2f} s ({rate:,.0f} rows/s)\n")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run `rusts-export` with `argv` (default: the process arguments)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits for --help and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    skip_pandas_probe()
    try:
        return run(args)
    except (UsageError, QueryError, ConfigError) as exc:
        sys.stderr.write(f"rusts-export: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("rusts-export: interrupted; no file written\n")
        return EXIT_INTERRUPTED
    except (RustsError, OSError) as exc:
        sys.stderr.write(f"rusts-export: {exc}\n")
        return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
