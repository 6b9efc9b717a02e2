"""Query errors, one class per kind, all QueryError (so protocol layers map them in one row)."""

from rusts.core.errors import QueryError


class UnknownMeasurementError(QueryError):
    def __init__(self, measurement: str) -> None:
        self.measurement = measurement
        super().__init__(f"unknown measurement {measurement!r}")


class UnknownFieldError(QueryError):
    def __init__(self, measurement: str, field: str, where: str) -> None:
        self.measurement = measurement
        self.field = field
        super().__init__(f"{where}: measurement {measurement!r} has no field {field!r}")


class FieldTypeError(QueryError):
    def __init__(self, field: str, kind: str, where: str) -> None:
        self.field = field
        self.kind = kind
        super().__init__(f"{where}: field {field!r} is {kind}, which it cannot take")


class InvalidQueryError(QueryError):
    """A query whose parameters contradict themselves (start >= end, p outside [0, 100], ...)."""


class QueryTimeoutError(QueryError):
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(f"query cancelled: it ran longer than its timeout of {timeout:g} s")


class SumOutOfRangeError(QueryError):
    """An integer sum outside its field's type (PostgreSQL's 22003, numeric_value_out_of_range)."""

    sqlstate = "22003"

    def __init__(self, field: str, kind: str) -> None:
        self.field = field
        super().__init__(f"sum({field}): {kind} out of range")
