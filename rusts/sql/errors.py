"""SQL errors: all QueryError, so protocol layers map them in the same row as the JSON model's errors."""

from rusts.core.errors import QueryError


class SqlSyntaxError(QueryError):
    """Text sqlglot cannot parse; carries sqlglot's line and column (1-based, 0 when unknown)."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        self.line = line
        self.column = column
        where = f" at line {line}, column {column}" if line else ""
        super().__init__(f"SQL syntax error{where}: {message}")


class UnsupportedSqlError(QueryError):
    """Valid SQL that RusTs does not answer (yet): names the construct and quotes the fragment."""

    def __init__(self, construct: str, fragment: str = "", line: int = 0, column: int = 0) -> None:
        self.construct = construct
        self.fragment = fragment
        self.line = line
        self.column = column
        where = f" at line {line}, column {column}" if line else ""
        quoted = f": {fragment}" if fragment else ""
        super().__init__(f"unsupported SQL{where}: {construct}{quoted}")
