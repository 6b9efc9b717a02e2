"""The `rusts-import` command: load Parquet and CSV files into RusTs, each row as one point.

Every file is opened and its columns checked before anything is written, so
a schema error (a missing column, a timestamp of the wrong type, a file that
is not Parquet) writes nothing and exits with status 2. Then the files are
streamed batch by batch (memory is bounded by --batch-size, not by the file).

Exit status: 0 all rows stored or deliberately skipped; 1 the database
rejected rows, or the server or data directory failed; 2 bad input or usage;
130 interrupted (Ctrl-C: the batch in hand is finished and stored, the
summary says how far it got).
"""

import argparse
import json
import signal
import sys
import time
from types import FrameType
from typing import Any, TextIO

from rusts.core.collector import tune_for_service
from rusts.core.errors import ConfigError, RustsError
from rusts.core.pandas_probe import skip_pandas_probe
from rusts.core.kinds import KIND_NAMES
from rusts.core.prefetch import prefetched
from rusts.importer.columns import TIMESTAMP_UNITS, ColumnPlan, ImportSpec, InputError, plan_columns
from rusts.importer.convert import Converter, Dedup, Skipped
from rusts.importer.progress import Progress, summary
from rusts.importer.sinks import DEFAULT_LINES_PER_REQUEST, DirectSink, RestSink, SinkError, WriteOutcome
from rusts.config.engine import config_file_options
from rusts.importer.source import Source, open_source, parse_types

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
DEFAULT_BATCH_ROWS = 65_536

DESCRIPTION = """\
Import data files into RusTs, each row as one point.

Two modes: by default rows are streamed to a running server over its HTTP
API (--url, --token; as Arrow to POST /write/arrow); with --direct they are written straight into the
storage engine of the data_dir in rusts.yml (faster; refused while a server
holds that directory; no WAL: rows are on disk once each memtable flushes
and at the end, so after a crash re-run with --dedup-column).

Columns: --tags become tags, the --timestamp-column (default: a column named
time or timestamp) the point time, and every other column (or those of
--fields) a field. Nulls and NaN are missing fields; a row without a time or
without any field is skipped and counted.

Rows of one series with one timestamp: by default the later row wins (the
database merges them field by field, keeping a field only the earlier row
has); --unique-time keeps them all by adding 1, 2, ... ns to the repeats."""

EPILOG = """\
examples:
  rusts-import parquet trips.parquet -m trips \\
      --tags hvfhs_license_num,dispatching_base_num \\
      --timestamp-column pickup_datetime --unique-time --direct
  rusts-import csv readings.csv -m weather --tags station \\
      --timestamp-column ts --timestamp-unit s --types temp:float \\
      --url http://db:8086 --token "$RUSTS_TOKEN" --dedup-column reading_id"""


def _columns(text: str | None) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()] if text else []


def build_parser() -> argparse.ArgumentParser:
    """The parser of `rusts-import`: one subcommand per file format, the same options for both."""
    parser = argparse.ArgumentParser(
        prog="rusts-import", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    formats = parser.add_subparsers(dest="format", metavar="FORMAT", required=True)
    for name, help_text in (
        ("parquet", "import Parquet files, streaming them in record batches"),
        ("csv", "import CSV files with a header row, streaming them in blocks"),
    ):
        sub = formats.add_parser(name, help=help_text, description=help_text, epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        _add_options(sub, name == "csv")
    return parser


def _add_options(sub: argparse.ArgumentParser, csv: bool) -> None:
    sub.add_argument("files", nargs="+", metavar="FILE", help="the files to import, in order")
    sub.add_argument("-m", "--measurement", required=True, help="measurement the points are written to")
    sub.add_argument("--tags", metavar="COLS",
                     help="comma-separated columns stored as tags (default: those a rusts-export file records, else none)")
    sub.add_argument("--timestamp-column", metavar="COL", help="column holding each point's time (default: time or timestamp)")
    sub.add_argument("--timestamp-unit", choices=sorted(TIMESTAMP_UNITS), help="unit of an integer timestamp column")
    sub.add_argument("--fields", metavar="COLS", help="comma-separated columns stored as fields (default: every other column)")
    sub.add_argument("--unique-time", action="store_true",
                     help="keep rows of one series and time apart by adding 1, 2, ... ns to the repeats "
                     "(default: the later row wins)")
    sub.add_argument("--dedup-column", metavar="COL",
                     help="skip rows whose value in COL (a tag or a field) is already stored for the measurement, "
                     "or came earlier in the input; re-running with it resumes an interrupted import")
    sub.add_argument("--direct", action="store_true", help="write straight into the storage engine (see above)")
    sub.add_argument("--config", metavar="PATH", help="rusts.yml to take data_dir from (with --direct; default ./rusts.yml)")
    sub.add_argument("--url", default="http://localhost:8086", help="HTTP API of the server (default: %(default)s)")
    sub.add_argument("--token", help="JWT sent as 'Authorization: Bearer' when the server requires authentication")
    sub.add_argument("--gzip", action="store_true", help="compress request bodies (REST mode)")
    sub.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_ROWS, metavar="N",
                     help="rows read and converted at a time (default: %(default)s)")
    sub.add_argument("--lines-per-request", type=int, metavar="N",
                     help="rows per request in REST mode (default: as many as fit 8 MiB of Arrow, "
                     f"or {DEFAULT_LINES_PER_REQUEST:,} lines of line protocol)")
    sub.add_argument("--line-protocol", action="store_true",
                     help="REST mode: send line protocol to /write instead of Arrow to /write/arrow "
                     "(chosen by itself when the server has no /write/arrow)")
    sub.add_argument("--progress-interval", type=float, default=10.0, metavar="SECS",
                     help="seconds between progress lines when stderr is not a terminal (default: %(default)s)")
    if csv:
        sub.add_argument("--types", metavar="COL:KIND,...",
                         help="column types instead of inferred ones; kinds: float, int, uint, bool, string, timestamp")


class _Interrupt:
    """Ctrl-C asks to stop after the batch in hand; a second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> "_Interrupt":
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous)


class _Run:
    """The counters of one import, for progress and summary."""

    def __init__(self) -> None:
        self.rows = 0
        self.written = 0
        self.skipped = Skipped()

    def add(self, outcome: WriteOutcome, err: TextIO) -> None:
        self.written += outcome.written
        if outcome.rejected:
            if not self.skipped.rejected:
                err.write(f"\nrusts-import: the database rejected rows, first: {outcome.reason}\n")
            self.skipped.rejected += outcome.rejected


def _exported_tags(sources: list[Source]) -> list[str]:
    """The tag columns rusts-export recorded in the files' metadata (the same in every file), else none."""
    found: list[list[str]] = []
    for source in sources:
        metadata = source.schema.metadata or {}
        recorded = metadata.get(b"rusts.tags")
        try:
            tags = json.loads(recorded) if recorded is not None else []
        except ValueError:
            raise InputError(f"{source.path}: metadata rusts.tags is not a JSON list; give --tags") from None
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise InputError(f"{source.path}: metadata rusts.tags is not a list of column names; give --tags")
        found.append(tags)
    if any(tags != found[0] for tags in found):
        raise InputError("the files record different tag columns (rusts.tags); give --tags")
    return found[0] if found else []


def _check_kinds(plans: list[tuple[Source, ColumnPlan]], stored: dict[str, int]) -> None:
    """Every file must give each field one kind, the one already stored if any."""
    kinds = dict(stored)
    origin = {name: "the database" for name in stored}
    for source, plan in plans:
        for name, kind in plan.fields:
            known = kinds.setdefault(name, kind)
            origin.setdefault(name, source.path)
            if known != kind:
                raise InputError(
                    f"{source.path}: column {name!r} would be a {KIND_NAMES[kind]} field, "
                    f"but it is {KIND_NAMES[known]} in {origin[name]}"
                )


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    spec = ImportSpec(args.measurement, _columns(args.tags), args.timestamp_column, args.timestamp_unit,
                      _columns(args.fields) if args.fields else None, args.unique_time, args.dedup_column)
    if args.batch_size < 1 or (args.lines_per_request is not None and args.lines_per_request < 1):
        raise InputError("--batch-size and --lines-per-request must be at least 1")
    types = parse_types(getattr(args, "types", None))
    sources = [open_source(args.format, path, types) for path in args.files]
    if args.tags is None:
        spec.tags = _exported_tags(sources)
    plans = [(source, plan_columns(spec, source.schema, source.path)) for source in sources]
    sink: DirectSink | RestSink
    if args.direct:
        sink = DirectSink(config_file_options(args.config), spec.measurement)
    else:
        sink = RestSink(args.url, args.token, args.lines_per_request, args.gzip, arrow=not args.line_protocol)
    try:
        _check_kinds(plans, sink.engine.fields.get(spec.measurement, {}) if isinstance(sink, DirectSink) else {})
        dedup = None
        if spec.dedup_column is not None:
            is_tag = plans[0][1].dedup_is_tag
            if isinstance(sink, DirectSink):
                seen = sink.existing_values(spec.dedup_column, is_tag)
            else:
                seen = sink.existing_values(spec.measurement, spec.dedup_column, is_tag)
            dedup = Dedup(spec.dedup_column, is_tag, seen)
        return _import(spec, plans, sink, dedup, args, err)
    finally:
        sink.close()


def _import(spec: ImportSpec, plans: list[tuple[Source, ColumnPlan]], sink: DirectSink | RestSink,
            dedup: Dedup | None, args: argparse.Namespace, err: TextIO) -> int:
    state = _Run()
    total_rows = sum(s.total_rows for s, _ in plans if s.total_rows is not None) if all(s.total_rows is not None for s, _ in plans) else None
    progress = Progress(err, total_rows, sum(s.total_bytes for s, _ in plans), args.progress_interval)
    converters: list[Converter] = []
    interrupted = False
    failure: InputError | None = None
    with _Interrupt() as interrupt:
        try:
            bytes_before = 0
            for source, plan in plans:
                converter = Converter(spec, plan, source.path, dedup)
                converters.append(converter)
                columns = list(dict.fromkeys([plan.time_column, *plan.tags, *(n for n, _ in plan.fields),
                                              *([spec.dedup_column] if spec.dedup_column else [])]))
                for batch in prefetched(source.batches(columns, args.batch_size)):
                    state.rows += batch.num_rows
                    state.add(sink.write(converter.convert(batch)), err)
                    progress.update(state.rows, state.written, bytes_before + source.bytes_read)
                    if interrupt.requested:
                        break
                bytes_before += source.total_bytes
                if interrupt.requested:
                    break
            state.add(_flushed(sink), err)
            interrupted = interrupt.requested
        except InputError as exc:
            # A data error past the schema check (e.g. a CSV value of another type in a later block):
            # what came before it is stored; say how much.
            state.add(_flushed(sink), err)
            failure = exc
        except KeyboardInterrupt:
            progress.end_line()
            err.write("rusts-import: stopped at once (second Ctrl-C); writes in flight may or may not be stored\n")
            return EXIT_INTERRUPTED
    # Direct mode: rows are on disk once the engine closes, so the figures include the final flush.
    sink.close()
    progress.update(state.rows, state.written, bytes_before, force=True)
    progress.end_line()
    for converter in converters:
        _merge_skipped(state.skipped, converter.skipped)
    elapsed = time.monotonic() - progress.started
    outcome = "stopped by bad input" if failure else "interrupted" if interrupted else "done"
    for line in summary(outcome, len(plans), state.rows, state.written, state.skipped, elapsed, spec.unique_time):
        err.write(line + "\n")
    if failure is not None:
        err.write(f"rusts-import: {failure}\n")
        return EXIT_USAGE
    if interrupted:
        err.write("rusts-import: every row counted as written is stored; re-run with --dedup-column to resume without duplicates\n")
        return EXIT_INTERRUPTED
    return EXIT_FAILED if state.skipped.rejected else EXIT_OK


def _flushed(sink: DirectSink | RestSink) -> WriteOutcome:
    sink.flush()
    return sink.take_outcome() if isinstance(sink, RestSink) else WriteOutcome(0, 0)


def _merge_skipped(total: Skipped, part: Skipped) -> None:
    total.no_time += part.no_time
    total.no_fields += part.no_fields
    total.duplicate += part.duplicate
    total.same_time += part.same_time


def main(argv: list[str] | None = None) -> int:
    """Run `rusts-import` with `argv` (default: the process arguments)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits for --help and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    tune_for_service()
    skip_pandas_probe()
    try:
        return run(args, sys.stdout, sys.stderr)
    except (InputError, ConfigError) as exc:
        sys.stderr.write(f"rusts-import: {exc}\n")
        return EXIT_USAGE
    except SinkError as exc:
        sys.stderr.write(f"rusts-import: {exc}\n")
        return EXIT_FAILED
    except RustsError as exc:
        sys.stderr.write(f"rusts-import: {exc}\n")
        return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
