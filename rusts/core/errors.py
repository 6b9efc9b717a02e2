"""The one error hierarchy of RusTs.

Every error a user can cause derives from RustsError and says where it
happened (file and offset, line and column, config key). Protocol layers map
these classes to HTTP statuses and SQLSTATEs in one table each. A broken
invariant is a bug and raises AssertionError("BUG: ...") instead.
"""


class RustsError(Exception):
    """Base of every error RusTs raises on purpose."""


class ConfigError(RustsError):
    """A configuration file that cannot be used: names the file and the key."""

    def __init__(self, path: str, key: str, message: str) -> None:
        self.path = path
        self.key = key
        self.message = message
        where = f"{path}: {key}: " if key else f"{path}: "
        super().__init__(where + message)


class CodecError(RustsError):
    """Encoded data that cannot be decoded: truncated, corrupt or of an unknown kind."""

    def __init__(self, codec: str, message: str, offset: int = -1) -> None:
        self.codec = codec
        self.offset = offset
        where = f" at byte {offset}" if offset >= 0 else ""
        super().__init__(f"{codec}: {message}{where}")


class CorruptDataError(RustsError):
    """A stored file whose contents fail their checks: names the file and offset."""

    def __init__(self, path: str, message: str, offset: int = -1) -> None:
        self.path = path
        self.offset = offset
        where = f" at offset {offset}" if offset >= 0 else ""
        super().__init__(f"{path}{where}: {message}")


class LineProtocolError(RustsError):
    """One line of InfluxDB line protocol that cannot be stored.

    `line` is 1-based within the request body; `column` is 1-based within
    the line (0 when the error is about the line as a whole).
    """

    def __init__(self, line: int, column: int, message: str) -> None:
        self.line = line
        self.column = column
        self.message = message
        where = f"line {line}" + (f", column {column}" if column > 0 else "")
        super().__init__(f"{where}: {message}")


class FieldTypeConflictError(RustsError):
    """A field written with a type other than the one it already has."""

    def __init__(self, measurement: str, field: str, existing: str, attempted: str) -> None:
        self.measurement = measurement
        self.field = field
        self.existing = existing
        self.attempted = attempted
        super().__init__(
            f"field type conflict: field {field!r} of measurement {measurement!r} "
            f"is {existing}, got {attempted}"
        )


class QueryError(RustsError):
    """A query that cannot be answered as asked."""


class AuthError(RustsError):
    """Missing or wrong credentials."""


class RateLimitError(RustsError):
    """Too many requests from one client."""

    def __init__(self, retry_after_secs: float) -> None:
        self.retry_after_secs = retry_after_secs
        super().__init__(f"rate limit exceeded, retry after {retry_after_secs:.1f}s")


class WalError(RustsError):
    """A write-ahead log operation that failed (disk full, I/O error, closed log): names the file."""

    def __init__(self, path: str, message: str, offset: int = -1) -> None:
        self.path = path
        self.offset = offset
        where = f" at offset {offset}" if offset >= 0 else ""
        super().__init__(f"{path}{where}: {message}")
