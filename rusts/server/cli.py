"""The `rusts` command (also installed as `rusts-server`): read the
configuration, then run the server, or one of the configuration chores.

Exit status: 0 success; 1 a failure other than the configuration (such as
refusing to overwrite a file); 2 a bad configuration or bad usage.

This module stays interpreted: it runs once and argparse gains nothing from
compilation (see rusts/_compiled.py).
"""

import argparse
import os
import sys
from typing import TYPE_CHECKING

import rusts
from rusts.core.errors import ConfigError
from rusts.cluster.config import load_cluster_config
from rusts.config.file import DEFAULT_CONFIG_PATH, Config, default_config_text, load_config

if TYPE_CHECKING:
    from rusts.server.cluster_node import ClusterOptions

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_CONFIG = 2

DESCRIPTION = """\
RusTs time series database server: InfluxDB line protocol and SQL over HTTP,
and the PostgreSQL wire protocol.

With no option the server starts with the configuration in ./rusts.yml,
or with the built-in defaults when there is no ./rusts.yml.

other commands:
  rusts wal tail [--from-seq N] [--config PATH]
                 print the write-ahead log as line protocol (change data capture)
  rusts token create [--config PATH] [--subject NAME] [--expires-in SECS]
                 print an API token signed with auth.jwt_secret"""

EPILOG = f"""\
exit status:
  {EXIT_OK}  success
  {EXIT_FAILURE}  failure other than the configuration (e.g. refusing to overwrite a file)
  {EXIT_BAD_CONFIG}  bad configuration or bad usage (one line on stderr names the file and key)"""


def build_parser(prog: str = "rusts") -> argparse.ArgumentParser:
    """The parser of `rusts`.

    Later commands (such as `rusts wal tail`) come as subparsers; the options
    here stay the behaviour of a bare `rusts`.
    """
    parser = argparse.ArgumentParser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="read the configuration from PATH, which must exist "
        f"(default: ./{DEFAULT_CONFIG_PATH} when present, otherwise the built-in defaults)",
    )
    chores = parser.add_mutually_exclusive_group()
    chores.add_argument(
        "--generate-config",
        nargs="?",
        const=DEFAULT_CONFIG_PATH,
        metavar="PATH",
        help=f"write the default configuration, with a comment on each key, to PATH "
        f"(default: ./{DEFAULT_CONFIG_PATH}; '-' writes to stdout) and exit; "
        "an existing file is left alone unless --force is given",
    )
    chores.add_argument(
        "--check-config",
        action="store_true",
        help="check the configuration (from --config, ./rusts.yml or the defaults), "
        "print 'config OK: <source>' and exit without starting the server",
    )
    chores.add_argument(
        "--version",
        action="store_true",
        help="print the version and whether the compiled modules are in use, and exit",
    )
    parser.add_argument(
        "--cluster",
        metavar="PATH",
        help="run as a node of the cluster described in PATH (cluster.toml: node_id, nodes, shards, "
        "replication; see docs/cluster.md; or a cluster: section of rusts.yml); with --check-config, check it too",
    )
    parser.add_argument(
        "--cluster-timeout",
        type=float,
        metavar="SECS",
        help="with --cluster (or rusts.yml's cluster:): seconds to wait for a peer (a forwarded write, a shard's query answer) "
        "before counting it missed and failing over (default: 10)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="with --generate-config: overwrite PATH if it exists",
    )
    return parser


def build_wal_parser(prog: str = "rusts") -> argparse.ArgumentParser:
    """The parser of `rusts wal tail`: change data capture from the write-ahead log."""
    parser = argparse.ArgumentParser(
        prog=f"{prog} wal tail",
        description="Print every write retained in the write-ahead log, in order, as line protocol "
        "(lines that had no timestamp get the one the server gave them). Keep the WAL forever "
        "with storage.wal_retention_secs: null to capture every change.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--from-seq", type=int, default=0, metavar="N", help="start at WAL sequence number N (default: the oldest retained)")
    parser.add_argument("--with-seq", action="store_true", help="prefix each record with a '# seq N' comment line")
    parser.add_argument("--config", metavar="PATH", help="read storage.wal_dir from PATH (default: ./rusts.yml or the defaults)")
    return parser


def _config_or_report(path: str | None) -> tuple[Config, str | None] | None:
    """The configuration and its source, or None after printing why it is unusable."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def wal_tail(argv: list[str]) -> int:
    """`rusts wal tail`: the points of every retained write, as line protocol on stdout.

    Each record is parsed as the server parsed it, so lines it rejected as
    malformed do not appear; every point is printed with its nanosecond
    timestamp, one per line.
    """
    from rusts.api.line_protocol import parse_body
    from rusts.api.lp_format import format_point
    from rusts.storage.wal import PAYLOAD_LINE_PROTOCOL, decode_lp_payload, read_records
    from rusts.storage.wal_batches import PAYLOAD_COLUMNAR, decode_columnar_payload, format_lines

    parser = build_wal_parser(_program_name())
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_CONFIG
    loaded = _config_or_report(args.config)
    if loaded is None:
        return EXIT_BAD_CONFIG
    config = loaded[0]
    wal_dir = config.effective_wal_dir
    if not os.path.isdir(wal_dir):
        print(f"error: no write-ahead log at {wal_dir!r}", file=sys.stderr)
        return EXIT_FAILURE
    for sequence, payload in read_records(wal_dir, args.from_seq):
        kind = payload[0] if payload else -1
        if kind not in (PAYLOAD_LINE_PROTOCOL, PAYLOAD_COLUMNAR):
            print(f"warning: WAL record {sequence} has payload kind {kind}, unknown to this build; skipped", file=sys.stderr)
            continue
        if args.with_seq:
            sys.stdout.write(f"# seq={sequence}\n")
        if kind == PAYLOAD_COLUMNAR:
            sys.stdout.write(format_lines(decode_columnar_payload(payload)))
            continue
        body, multiplier, default_time = decode_lp_payload(payload)
        for point in parse_body(body, multiplier, default_time).points():
            sys.stdout.write(format_point(point) + "\n")
    sys.stdout.flush()
    return EXIT_OK


def build_token_parser(prog: str = "rusts") -> argparse.ArgumentParser:
    """The parser of `rusts token create`."""
    parser = argparse.ArgumentParser(
        prog=f"{prog} token create",
        description="Print a JWT (HS256) signed with auth.jwt_secret, for 'Authorization: Bearer <token>' "
        "(or 'Authorization: Token <token>', or the InfluxDB 1.x password).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="PATH", help="read auth.jwt_secret from PATH (default: ./rusts.yml)")
    parser.add_argument("--subject", default="rusts", metavar="NAME", help="who the token is for (the 'sub' claim; default: rusts)")
    parser.add_argument(
        "--expires-in", type=int, metavar="SECS",
        help="seconds the token stays valid (default: auth.token_expiration)",
    )
    return parser


def token_create(argv: list[str]) -> int:
    """`rusts token create`: one signed token on stdout."""
    from rusts.api.auth import issue_token

    parser = build_token_parser(_program_name())
    try:
        args = parser.parse_args(argv)
        if args.expires_in is not None and args.expires_in < 1:
            parser.error("--expires-in must be at least 1 second")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_CONFIG
    loaded = _config_or_report(args.config)
    if loaded is None:
        return EXIT_BAD_CONFIG
    config, source = loaded
    secret = config.auth.jwt_secret
    if secret is None:
        print(f"error: {source or 'built-in defaults'}: auth.jwt_secret: not set; a token needs a secret", file=sys.stderr)
        return EXIT_BAD_CONFIG
    expires_in = args.expires_in if args.expires_in is not None else config.auth.token_expiration
    print(issue_token(secret, args.subject, expires_in))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run `rusts` with `argv` (default: the process arguments); the exit status."""
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:2] == ["wal", "tail"]:
        return wal_tail(arguments[2:])
    if arguments[:2] == ["token", "create"]:
        return token_create(arguments[2:])
    parser = build_parser(_program_name())
    try:
        args = parser.parse_args(arguments)
        _check_combinations(parser, args)
    except SystemExit as exc:  # argparse exits for --help and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_CONFIG
    if args.version:
        return print_version()
    if args.generate_config is not None:
        return generate_config(args.generate_config, force=args.force)
    loaded = _config_or_report(args.config)
    if loaded is None:
        return EXIT_BAD_CONFIG
    config, source = loaded
    if args.cluster_timeout is not None and args.cluster is None and config.cluster is None:
        print(f"{parser.prog}: error: --cluster-timeout only goes with --cluster or a cluster: section in rusts.yml",
              file=sys.stderr)
        return EXIT_BAD_CONFIG
    try:
        cluster = _cluster_options(args, config, source)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    if args.check_config:
        if cluster is not None:
            try:
                if cluster.config is None:
                    load_cluster_config(cluster.path)
            except ConfigError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_BAD_CONFIG
            print(f"cluster config OK: {cluster.path}")
        print(f"config OK: {source or f'built-in defaults (no ./{DEFAULT_CONFIG_PATH})'}")
        return EXIT_OK
    return start_server(config, source or "built-in defaults", cluster)


def _program_name() -> str:
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return name if name.startswith("rusts") else "rusts"


def _cluster_options(args: argparse.Namespace, config: Config, source: str | None) -> "ClusterOptions | None":
    """The cluster this process is a node of: --cluster's file or rusts.yml's `cluster:` section (not both)."""
    from rusts.server.cluster_node import DEFAULT_TIMEOUT_SECS, ClusterOptions

    timeout = DEFAULT_TIMEOUT_SECS if args.cluster_timeout is None else args.cluster_timeout
    if config.cluster is not None:
        where = source or DEFAULT_CONFIG_PATH
        if args.cluster is not None:
            raise ConfigError(where, "cluster", f"given here and by --cluster {args.cluster}: keep one of them")
        return ClusterOptions(f"{where} (cluster:)", timeout, config.cluster)
    if args.cluster is None:
        return None
    return ClusterOptions(args.cluster, timeout)


def _check_combinations(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.force and args.generate_config is None:
        parser.error("--force only goes with --generate-config")
    if args.cluster_timeout is not None and not args.cluster_timeout > 0:
        parser.error(f"--cluster-timeout must be more than 0 seconds, got {args.cluster_timeout:g}")
    if args.cluster is not None and args.generate_config is not None:
        parser.error("--generate-config writes the defaults; it does not read --cluster")
    if args.config is not None and args.generate_config is not None:
        parser.error("--generate-config writes the defaults; it does not read --config")


def print_version() -> int:
    """Print `rusts <version> (compiled|pure Python)`."""
    build = "compiled" if rusts.COMPILED else "pure Python"
    print(f"rusts {rusts.__version__} ({build})")
    return EXIT_OK


def generate_config(path: str, *, force: bool) -> int:
    """Write the default configuration to `path` ('-': stdout)."""
    text = default_config_text()
    if path == "-":
        sys.stdout.write(text)
        return EXIT_OK
    try:
        with open(path, "w" if force else "x", encoding="utf-8", newline="\n") as file:
            file.write(text)
    except FileExistsError:
        print(f"error: {path} exists; pass --force to overwrite it", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as exc:
        print(f"error: {path}: cannot write: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"wrote the default configuration to {path}")
    return EXIT_OK


def start_server(config: Config, source: str = DEFAULT_CONFIG_PATH, cluster: "ClusterOptions | None" = None) -> int:
    """Run the server (as a node of `cluster` when given) until it stops; its exit status."""
    # Imported late: --help and --generate-config must not pay for the server's imports.
    from rusts.server.main import run_server

    try:
        return run_server(config, source, cluster)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG


if __name__ == "__main__":
    raise SystemExit(main())
