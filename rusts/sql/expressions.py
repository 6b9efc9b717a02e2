"""Row expressions: what the SQL layer computes on the executor's result rows.

The executor answers columns (time, tags, fields, aggregates); SELECT-list
arithmetic, HAVING and ORDER BY keys are small typed trees over those
columns, evaluated row by row after the executor. Types and semantics follow
PostgreSQL: NULL propagates through arithmetic and comparisons (three-valued
logic in AND/OR/NOT); integer op integer stays integer (bigint: a result
outside int64 is error 22003) and `/` truncates toward zero; a float on
either side makes the result float8; division (and %) by zero is error 22012,
never infinity; a float8 * or / whose result rounds to 0 from non-zero
operands is error 22003 (underflow), as PostgreSQL checks. Unsigned fields
compute as integers. A decimal literal (1.609) is a float8 here (PostgreSQL
would say numeric).

Types are the result-column types: "float", "integer", "unsigned",
"boolean", "string", "timestamp", and "unknown" for a bare NULL literal;
"numeric" is SUM or AVG of an integer field (PostgreSQL's SUM(bigint) and
AVG(bigint) are numeric): answered alone as bigint (SUM) or float8 (AVG), but
arithmetic on it is numeric arithmetic, done here in float8 (SUM(n) / COUNT(*)
keeps its fraction, never truncates), and its cast to bigint rounds halves
away from zero, as numeric does (a float8 rounds them to even).
"""

import math
import re
from typing import Any, Final

from rusts.sql.errors import DivisionByZeroError, InvalidTextError, OperatorTypeError, OutOfRangeError
from rusts.sql.intervals import Interval, added, between, negated, scaled, shifted

I64_MIN: Final = -(2**63)
I64_MAX: Final = 2**63 - 1
NUMERIC: Final = frozenset({"float", "integer", "unsigned", "numeric"})
PG_TYPE_NAMES: Final = {
    "float": "double precision", "numeric": "numeric", "integer": "bigint", "unsigned": "bigint", "boolean": "boolean",
    "string": "text", "timestamp": "timestamp with time zone", "unknown": "unknown", "interval": "interval",
}


class Expr:
    """A typed expression over one result row.

    `decimal`: PostgreSQL would compute it in integer or numeric arithmetic (integers, SUM/AVG of
    them, decimal literals, casts to numeric), not float8. Values are float8 here either way, but
    where the two round differently (round(x), ::bigint: numeric rounds halves away from zero,
    float8 to even) it says which rule applies.
    """

    type: str = "unknown"
    decimal: bool = False

    def value(self, row: list[Any]) -> Any:
        raise NotImplementedError

    def refs(self) -> list["Ref"]:
        return []


class Ref(Expr):
    """A column of the executor's result; `index` is bound once the result's layout is known.
    `shown` is the column's type in the answer when `type` is "numeric"."""

    def __init__(self, key: tuple[str, str | int], type_: str, shown: str = "") -> None:
        self.key = key
        self.type = type_
        self.shown = shown or type_
        self.index = -1
        self.decimal = type_ in ("integer", "unsigned", "numeric")

    def value(self, row: list[Any]) -> Any:
        return row[self.index]

    def refs(self) -> list["Ref"]:
        return [self]


class Const(Expr):
    def __init__(self, constant: Any, type_: str, decimal: bool = False) -> None:
        self.constant = constant
        self.type = type_
        self.decimal = decimal or type_ == "integer"

    def value(self, row: list[Any]) -> Any:
        return self.constant


def _checked_integer(result: int) -> int:
    if not I64_MIN <= result <= I64_MAX:
        raise OutOfRangeError("bigint out of range")
    return result


def _checked_float(result: float, inputs: tuple[float, float]) -> float:
    if math.isinf(result) and not any(math.isinf(v) for v in inputs):
        raise OutOfRangeError("value out of range: overflow")
    return result


def _truncating_divide(a: int, b: int) -> int:
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient


def _integer_op(op: str, a: int, b: int) -> int:
    if op == "+":
        return _checked_integer(a + b)
    if op == "-":
        return _checked_integer(a - b)
    if op == "*":
        return _checked_integer(a * b)
    if b == 0:
        raise DivisionByZeroError()
    quotient = _truncating_divide(a, b)
    return _checked_integer(quotient) if op == "/" else a - b * quotient


def _time_op(op: str, a: Any, b: Any) -> Any:
    """An operator on times and intervals (rusts.sql.intervals); the types were checked."""
    if isinstance(a, Interval) and isinstance(b, Interval):
        return added(a, b, 1 if op == "+" else -1)
    if isinstance(a, Interval):
        if op in ("*", "/"):
            if op == "/" and b == 0:
                raise DivisionByZeroError()
            return scaled(a, float(b) if op == "*" else 1.0 / float(b))
        return shifted(int(b), a, 1)  # interval + timestamp
    if isinstance(b, Interval):
        if op == "*":
            return scaled(b, float(a))
        return _checked_integer(shifted(int(a), b, 1 if op == "+" else -1))
    return between(int(a), int(b))  # timestamp - timestamp


def _float_op(op: str, a: float, b: float) -> float:
    if op == "+":
        return _checked_float(a + b, (a, b))
    if op == "-":
        return _checked_float(a - b, (a, b))
    if op == "*":
        product = _checked_float(a * b, (a, b))
        if product == 0.0 and a != 0.0 and b != 0.0:
            raise OutOfRangeError("value out of range: underflow")
        return product
    if b == 0.0:
        raise DivisionByZeroError()
    if op == "%":
        return math.fmod(a, b)
    quotient = _checked_float(a / b, (a, b))
    if quotient == 0.0 and a != 0.0 and not math.isinf(b):
        raise OutOfRangeError("value out of range: underflow")
    return quotient


# (op, left type, right type) -> result type, for the operators on times and intervals
_TIME_ARITHMETIC: Final = {
    ("-", "timestamp", "timestamp"): "interval", ("+", "timestamp", "interval"): "timestamp",
    ("-", "timestamp", "interval"): "timestamp", ("+", "interval", "timestamp"): "timestamp",
    ("+", "interval", "interval"): "interval", ("-", "interval", "interval"): "interval",
    **{("*", "interval", number): "interval" for number in NUMERIC},
    **{("*", number, "interval"): "interval" for number in NUMERIC},
    **{("/", "interval", number): "interval" for number in NUMERIC},
    **{(op, "interval", "unknown"): "interval" for op in "+-*/"},  # interval * NULL
    ("+", "unknown", "interval"): "interval", ("*", "unknown", "interval"): "interval",
}


def arithmetic_type(op: str, left: str, right: str) -> str:
    """The result type of `left op right`; OperatorTypeError when PostgreSQL has no such operator."""
    if "interval" in (left, right) or (left, right) == ("timestamp", "timestamp"):
        found = _TIME_ARITHMETIC.get((op, left, right))
        if found is not None:
            return found
        raise OperatorTypeError(
            f"operator does not exist: {PG_TYPE_NAMES.get(left, left)} {op} {PG_TYPE_NAMES.get(right, right)}"
        )
    for side in (left, right):
        if side not in NUMERIC and side != "unknown":
            raise OperatorTypeError(
                f"operator does not exist: {PG_TYPE_NAMES.get(left, left)} {op} {PG_TYPE_NAMES.get(right, right)}"
            )
    if "float" in (left, right) or "numeric" in (left, right):
        return "float"
    if left == "unknown" and right == "unknown":
        return "unknown"
    return "integer"


class Arithmetic(Expr):
    """+ - * / % with PostgreSQL's integer and float8 semantics."""

    def __init__(self, op: str, left: Expr, right: Expr) -> None:
        self.op = op
        self.left = left
        self.right = right
        self.type = arithmetic_type(op, left.type, right.type)
        self.decimal = left.decimal and right.decimal
        self.timed = "interval" in (self.type, left.type, right.type)

    def value(self, row: list[Any]) -> Any:
        # both sides are computed, as PostgreSQL does: NULL + 1 / 0 is an error, not NULL
        a = self.left.value(row)
        b = self.right.value(row)
        if a is None or b is None:
            return None
        if self.type == "float":
            return _float_op(self.op, float(a), float(b))
        if self.timed:
            return _time_op(self.op, a, b)
        return _integer_op(self.op, int(a), int(b))

    def refs(self) -> list[Ref]:
        return self.left.refs() + self.right.refs()


class Negate(Expr):
    def __init__(self, operand: Expr) -> None:
        self.operand = operand
        self.type = "interval" if operand.type == "interval" else arithmetic_type("-", "integer", operand.type)
        self.decimal = operand.decimal

    def value(self, row: list[Any]) -> Any:
        a = self.operand.value(row)
        if a is None:
            return None
        if isinstance(a, Interval):
            return negated(a)
        return -float(a) if self.type == "float" else _checked_integer(-int(a))

    def refs(self) -> list[Ref]:
        return self.operand.refs()


class CastNumber(Expr):
    """`x::float8` or `x::bigint` of a number (a float rounds half to even, as PostgreSQL's rint)."""

    def __init__(self, operand: Expr, type_: str, numeric: bool = False) -> None:
        if operand.type not in NUMERIC and operand.type != "unknown":
            raise OperatorTypeError(f"cannot cast type {PG_TYPE_NAMES.get(operand.type, operand.type)} to "
                                    f"{PG_TYPE_NAMES[type_]}")
        self.operand = operand
        self.type = type_
        # `x::numeric` (numeric: a float8 holding a numeric's value) and `x::bigint` keep it decimal
        self.decimal = numeric or type_ == "integer" or (type_ != "float" and operand.decimal)

    def value(self, row: list[Any]) -> Any:
        a = self.operand.value(row)
        if a is None:
            return None
        if self.type == "float":
            return float(a)
        if isinstance(a, float) and (math.isnan(a) or math.isinf(a)):
            raise OutOfRangeError("bigint out of range")
        if isinstance(a, float) and self.operand.decimal:  # numeric to bigint: halves away from zero
            return _checked_integer(int(math.copysign(math.floor(abs(a) + 0.5), a)))
        return _checked_integer(round(a) if isinstance(a, float) else int(a))

    def refs(self) -> list[Ref]:
        return self.operand.refs()


class EpochSeconds(Expr):
    """`extract(epoch from t)` of a timestamp: seconds since 1970 as a float (nanoseconds kept as the fraction)."""

    type = "float"
    decimal = True  # extract answers numeric

    def __init__(self, operand: Expr) -> None:
        if operand.type != "timestamp":
            raise OperatorTypeError(f"cannot extract epoch from type {PG_TYPE_NAMES.get(operand.type, operand.type)}")
        self.operand = operand

    def value(self, row: list[Any]) -> Any:
        ns = self.operand.value(row)
        return None if ns is None else ns / 1e9

    def refs(self) -> list[Ref]:
        return self.operand.refs()


COMPARABLE: Final = (
    NUMERIC, frozenset({"string"}), frozenset({"boolean"}), frozenset({"timestamp"}), frozenset({"interval"}),
)


def _compare(op: str, a: Any, b: Any) -> bool:
    if (isinstance(a, float) and a != a) or (isinstance(b, float) and b != b):
        a, b = _nan_last(a), _nan_last(b)  # PostgreSQL: NaN equals NaN and is above every other number
    if op == "=":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _nan_last(value: Any) -> tuple[int, Any]:
    return (1, 0.0) if isinstance(value, float) and value != value else (0, value)


def float_input(text: str) -> float:
    """A double precision typed as text ('1.5', 'NaN', '-Infinity', 'inf'); 22P02 for anything else."""
    try:
        return float(text.strip())
    except ValueError:
        raise InvalidTextError(f'invalid input syntax for type double precision: "{text}"') from None


def comparable(op: str, left: str, right: str) -> None:
    """OperatorTypeError unless values of these types can be compared."""
    if "unknown" in (left, right):
        return
    if not any(left in group and right in group for group in COMPARABLE):
        raise OperatorTypeError(
            f"operator does not exist: {PG_TYPE_NAMES.get(left, left)} {op} {PG_TYPE_NAMES.get(right, right)}"
        )


class Compare(Expr):
    type = "boolean"

    def __init__(self, op: str, left: Expr, right: Expr) -> None:
        comparable(op, left.type, right.type)
        self.op = op
        self.left = left
        self.right = right
        # bigint against double precision: PostgreSQL compares them as double precision
        self.as_floats = {left.type, right.type} in ({"integer", "float"}, {"unsigned", "float"})

    def value(self, row: list[Any]) -> Any:
        a = self.left.value(row)
        b = self.right.value(row)
        if a is None or b is None:
            return None
        if self.as_floats:
            return _compare(self.op, float(a), float(b))
        return _compare(self.op, a, b)

    def refs(self) -> list[Ref]:
        return self.left.refs() + self.right.refs()


class Logic(Expr):
    """AND / OR over three-valued booleans."""

    type = "boolean"

    def __init__(self, conjunction: bool, terms: list[Expr]) -> None:
        self.conjunction = conjunction
        self.terms = terms

    def value(self, row: list[Any]) -> Any:
        unknown = False
        for term in self.terms:
            got = term.value(row)
            if got is None:
                unknown = True
            elif bool(got) != self.conjunction:
                return not self.conjunction
        return None if unknown else self.conjunction

    def refs(self) -> list[Ref]:
        return [r for term in self.terms for r in term.refs()]


class Not(Expr):
    type = "boolean"

    def __init__(self, operand: Expr) -> None:
        self.operand = operand

    def value(self, row: list[Any]) -> Any:
        got = self.operand.value(row)
        return None if got is None else not got

    def refs(self) -> list[Ref]:
        return self.operand.refs()


class IsNull(Expr):
    type = "boolean"

    def __init__(self, operand: Expr, negate: bool) -> None:
        self.operand = operand
        self.negate = negate

    def value(self, row: list[Any]) -> Any:
        return (self.operand.value(row) is None) != self.negate

    def refs(self) -> list[Ref]:
        return self.operand.refs()


class InList(Expr):
    """`x IN (a, b, ...)`: true if equal to one, else null if any side was null, else false."""

    type = "boolean"

    def __init__(self, operand: Expr, options: list[Expr]) -> None:
        for option in options:
            comparable("=", operand.type, option.type)
        self.operand = operand
        self.options = options

    def value(self, row: list[Any]) -> Any:
        a = self.operand.value(row)
        if a is None:
            return None
        unknown = False
        for option in self.options:
            b = option.value(row)
            if b is None:
                unknown = True
            elif a == b:
                return True
        return None if unknown else False

    def refs(self) -> list[Ref]:
        return self.operand.refs() + [r for o in self.options for r in o.refs()]


class Match(Expr):
    """`x ~ pattern` (and LIKE, turned into a regular expression by the caller): true when the pattern
    matches somewhere in the string, NULL for NULL."""

    type = "boolean"

    def __init__(self, operand: Expr, pattern: "re.Pattern[str]", what: str) -> None:
        if operand.type not in ("string", "unknown"):
            raise OperatorTypeError(f"operator does not exist: {PG_TYPE_NAMES.get(operand.type, operand.type)} {what} text")
        self.operand = operand
        self.pattern = pattern

    def value(self, row: list[Any]) -> Any:
        a = self.operand.value(row)
        return None if a is None else self.pattern.search(a) is not None

    def refs(self) -> list[Ref]:
        return self.operand.refs()


def output_type(expr: Expr) -> str:
    """The column type a client sees: a bare NULL is text, as in PostgreSQL; SUM of an integer is bigint."""
    assert expr.type != "numeric" or isinstance(expr, Ref), "BUG: numeric arithmetic is float8"
    if isinstance(expr, Ref):
        return expr.shown
    return "string" if expr.type == "unknown" else expr.type
