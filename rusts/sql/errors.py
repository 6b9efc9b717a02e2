"""SQL errors, each with its PostgreSQL SQLSTATE, and `sqlstate_of` for any error RusTs raises.

Every class here is a QueryError, so the HTTP layer answers them 400 like the
JSON model's errors. `sqlstate_of` is the one table from error class to
SQLSTATE (the pgwire layer calls it): an error's own `sqlstate` attribute
wins, then the most specific class in SQLSTATE_OF.
"""

from typing import Final

from rusts.core.errors import FieldTypeConflictError, LineProtocolError, QueryError, WalError
from rusts.query.errors import (
    FieldTypeError,
    InvalidQueryError,
    QueryTimeoutError,
    UnknownFieldError,
    UnknownMeasurementError,
)

SYNTAX_ERROR: Final = "42601"
FEATURE_NOT_SUPPORTED: Final = "0A000"
UNDEFINED_TABLE: Final = "42P01"
UNDEFINED_COLUMN: Final = "42703"
UNDEFINED_FUNCTION: Final = "42883"
DUPLICATE_COLUMN: Final = "42701"
AMBIGUOUS_COLUMN: Final = "42702"
DATATYPE_MISMATCH: Final = "42804"
GROUPING_ERROR: Final = "42803"
WINDOWING_ERROR: Final = "42P20"
INVALID_COLUMN_REFERENCE: Final = "42P10"
INVALID_LIMIT: Final = "2201W"
INVALID_OFFSET: Final = "2201X"
DIVISION_BY_ZERO: Final = "22012"
NUMERIC_VALUE_OUT_OF_RANGE: Final = "22003"
INVALID_PARAMETER_VALUE: Final = "22023"
INVALID_REGULAR_EXPRESSION: Final = "2201B"
INVALID_TEXT_REPRESENTATION: Final = "22P02"
DATA_EXCEPTION: Final = "22000"
NOT_NULL_VIOLATION: Final = "23502"
QUERY_CANCELED: Final = "57014"
IO_ERROR: Final = "58030"
INTERNAL_ERROR: Final = "XX000"


class SqlError(QueryError):
    """Base of the SQL layer's errors; `sqlstate` is the PostgreSQL error code."""

    sqlstate: str = INTERNAL_ERROR


class SqlSyntaxError(SqlError):
    """Text sqlglot cannot parse; carries sqlglot's line and column (1-based, 0 when unknown)."""

    sqlstate = SYNTAX_ERROR

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        self.line = line
        self.column = column
        where = f" at line {line}, column {column}" if line else ""
        super().__init__(f"SQL syntax error{where}: {message}")


class UnsupportedSqlError(SqlError):
    """Valid SQL that RusTs does not answer (yet): names the construct and quotes the fragment."""

    sqlstate = FEATURE_NOT_SUPPORTED

    def __init__(self, construct: str, fragment: str = "", line: int = 0, column: int = 0) -> None:
        self.construct = construct
        self.fragment = fragment
        self.line = line
        self.column = column
        where = f" at line {line}, column {column}" if line else ""
        quoted = f": {fragment}" if fragment else ""
        super().__init__(f"unsupported SQL{where}: {construct}{quoted}")


class NeedsRowsError(UnsupportedSqlError):
    """An aggregating SELECT the executor's model cannot take but its rows can answer
    (rusts.sql.regroup): the translator tries again that way, and reports this if it cannot."""


class DivisionByZeroError(SqlError):
    sqlstate = DIVISION_BY_ZERO

    def __init__(self) -> None:
        super().__init__("division by zero")


class OutOfRangeError(SqlError):
    """An arithmetic result outside its type (bigint, float8)."""

    sqlstate = NUMERIC_VALUE_OUT_OF_RANGE


class AggregateArgumentError(FieldTypeError):
    """An aggregate function over a field of a type it does not take, as min(boolean) or sum(text)
    (PostgreSQL: function does not exist)."""

    sqlstate = UNDEFINED_FUNCTION


class OperatorTypeError(SqlError):
    """An operator applied to types it does not take (PostgreSQL: operator does not exist)."""

    sqlstate = UNDEFINED_FUNCTION


class DatatypeMismatchError(SqlError):
    """A value of the wrong type for its column (INSERT), or a condition that is not boolean."""

    sqlstate = DATATYPE_MISMATCH


class GroupingError(SqlError):
    """An aggregate inside GROUP BY, or a column of an aggregating SELECT that is neither grouped nor
    inside an aggregate."""

    sqlstate = GROUPING_ERROR


class WindowingError(SqlError):
    """A window function where SQL allows none (WHERE, GROUP BY, HAVING, inside another window
    function), or a frame that cannot be (starting at UNBOUNDED FOLLOWING, ...)."""

    sqlstate = WINDOWING_ERROR


class UndefinedWindowError(SqlError):
    """OVER name of a window the WINDOW clause does not define."""

    sqlstate = "42704"


class WindowArgumentError(SqlError):
    """ntile's (22014) or nth_value's (22016) count not positive, or a negative frame offset (22013)."""

    def __init__(self, message: str, sqlstate: str) -> None:
        self.sqlstate = sqlstate
        super().__init__(message)


class DuplicateAliasError(SqlError):
    """Two tables of one FROM with the same name (42712)."""

    sqlstate = "42712"


class CardinalityError(SqlError):
    """A subquery used as a value that answered more than one row (21000)."""

    sqlstate = "21000"


class PositionError(SqlError):
    """ORDER BY 3 or GROUP BY 2 beyond the SELECT list."""

    sqlstate = INVALID_COLUMN_REFERENCE


class PagingError(SqlError):
    """A negative LIMIT (2201W) or OFFSET (2201X)."""

    def __init__(self, clause: str) -> None:
        self.sqlstate = INVALID_LIMIT if clause == "LIMIT" else INVALID_OFFSET
        super().__init__(f"{clause} must not be negative")


class DuplicateColumnError(SqlError):
    sqlstate = DUPLICATE_COLUMN


class InvalidTextError(SqlError):
    """A string literal that is no value of the type it is compared with ('x' against a bigint field)."""

    sqlstate = INVALID_TEXT_REPRESENTATION


class InvalidRegexError(SqlError):
    sqlstate = INVALID_REGULAR_EXPRESSION


class AmbiguousColumnError(SqlError):
    """A name that stands for two different SELECT-list columns (ORDER BY j with j and j::float8)."""

    sqlstate = AMBIGUOUS_COLUMN


class NotNullViolationError(SqlError):
    sqlstate = NOT_NULL_VIOLATION


class DuplicateTableError(SqlError):
    """CREATE TABLE of a measurement that exists."""

    sqlstate = "42P07"


class WrongObjectTypeError(SqlError):
    """A statement for one kind of object naming another (DROP TABLE of a continuous aggregate)."""

    sqlstate = "42809"


class WriteRejectedError(SqlError):
    """An INSERT whose rows the write path refused (for example a field type changed meanwhile)."""

    sqlstate = DATA_EXCEPTION


# The one table from error class to SQLSTATE for errors without their own; the most specific class wins.
SQLSTATE_OF: Final[dict[type[Exception], str]] = {
    UnknownMeasurementError: UNDEFINED_TABLE,
    UnknownFieldError: UNDEFINED_COLUMN,
    FieldTypeError: DATATYPE_MISMATCH,
    InvalidQueryError: INVALID_PARAMETER_VALUE,
    QueryTimeoutError: QUERY_CANCELED,
    FieldTypeConflictError: DATATYPE_MISMATCH,
    LineProtocolError: DATA_EXCEPTION,
    WalError: IO_ERROR,
    QueryError: DATA_EXCEPTION,
}


def sqlstate_of(exc: Exception) -> str:
    """The SQLSTATE of any error: its own `sqlstate`, else SQLSTATE_OF, else XX000 (internal_error)."""
    own = getattr(exc, "sqlstate", None)
    if isinstance(own, str):
        return own
    for cls in type(exc).__mro__:
        code = SQLSTATE_OF.get(cls)
        if code is not None:
            return code
    return INTERNAL_ERROR
