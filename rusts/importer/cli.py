"""The `rusts-import` command: load Parquet files into RusTs.

Only the command line exists so far: it takes the options the importer will
have and then says, on stderr and with exit status 2, that nothing was
imported. The importer itself arrives with issue 7.
"""

import argparse
import sys

EXIT_NOT_IMPLEMENTED = 2

DESCRIPTION = """\
Import data files into RusTs, each row as one point.

NOT IMPLEMENTED YET: this version checks its arguments and then exits with
status 2 without importing anything. The importer arrives with issue 7; the
options below are the interface it will have.

Two modes: by default rows are streamed to a running server over its HTTP
API; with --direct they are written straight into the storage engine in the
data_dir of rusts.yml (faster; the server must not be running on that
directory)."""

EPILOG = """\
example:
  rusts-import parquet trips.parquet -m trips \\
      --tags hvfhs_license_num,dispatching_base_num \\
      --timestamp-column pickup_datetime --direct"""


def build_parser() -> argparse.ArgumentParser:
    """The parser of `rusts-import`: one subcommand per file format."""
    parser = argparse.ArgumentParser(
        prog="rusts-import",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    formats = parser.add_subparsers(dest="format", metavar="FORMAT", required=True)
    _add_parquet(formats)
    return parser


def _add_parquet(formats: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parquet = formats.add_parser(
        "parquet",
        help="import a Parquet file, streaming it in row groups",
        description="Import a Parquet file, streaming it in row groups. "
        "NOT IMPLEMENTED YET (issue 7).",
    )
    parquet.add_argument("file", metavar="FILE", help="the Parquet file to import")
    parquet.add_argument(
        "-m", "--measurement", required=True, help="measurement the points are written to"
    )
    parquet.add_argument(
        "--tags",
        metavar="COLS",
        help="comma-separated columns stored as tags; every other column becomes a field",
    )
    parquet.add_argument(
        "--timestamp-column", metavar="COL", help="column holding each point's timestamp"
    )
    parquet.add_argument(
        "--direct",
        action="store_true",
        help="write straight into the storage engine instead of through the HTTP API",
    )
    parquet.add_argument(
        "--dedup-column",
        metavar="COL",
        help="skip rows whose value in COL is already stored "
        "(with --direct, COL must be a field, not a tag)",
    )
    parquet.add_argument(
        "--config",
        metavar="PATH",
        help="rusts.yml to take data_dir from (with --direct)",
    )
    parquet.add_argument(
        "--url",
        default="http://localhost:8086",
        help="HTTP API of the server to stream to (default: %(default)s)",
    )


def main(argv: list[str] | None = None) -> int:
    """Run `rusts-import` with `argv` (default: the process arguments)."""
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits for --help and usage errors
        return exc.code if isinstance(exc.code, int) else 2
    print(
        "rusts-import: not implemented yet; the importer arrives with issue 7. "
        "Nothing was imported.",
        file=sys.stderr,
    )
    return EXIT_NOT_IMPLEMENTED


if __name__ == "__main__":
    raise SystemExit(main())
