"""Scalar functions, CASE and text casts over result rows, with PostgreSQL's types and errors.

Like the operators of rusts.sql.expressions, these compute on the executor's result rows (so
`round(avg(usage), 2)`, `coalesce(temp, 0)` and `CASE WHEN ... END` work on any column or
aggregate), return NULL for a NULL argument unless PostgreSQL says otherwise (coalesce, concat,
greatest, least, CASE), and raise PostgreSQL's errors (sqrt of a negative number 2201F, log of
zero 2201E, overflow 22003, CASE branches of types that cannot be matched 42804).

Types follow PostgreSQL: round, ceil, floor, trunc, sign, sqrt, exp, ln, log and power of any
number are double precision; abs keeps its argument's type; length and strpos are integers;
extract and date_part are double precision (PostgreSQL's extract answers numeric: the same
number, printed with trailing zeros there). Where PostgreSQL differs only by its numeric type,
this is double precision too: `x::numeric` is a float8 here, and round(x, n) / trunc(x, n) accept a
float8 (PostgreSQL asks for a numeric); they round the shortest decimal form of x half away from
zero, as numeric does. Times are in UTC.
"""

import datetime
import hashlib
import math
from collections.abc import Callable
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Final

from sqlglot import exp

from rusts.core.kinds import POINT_TIME_MAX, POINT_TIME_MIN
from rusts.core.pgtext import float_text, timestamp_text
from rusts.sql.errors import DatatypeMismatchError, DivisionByZeroError, OperatorTypeError, OutOfRangeError, SqlError
from rusts.sql.intervals import epoch_seconds
from rusts.sql.expressions import I64_MAX, NUMERIC, PG_TYPE_NAMES, Compare, Const, EpochSeconds, Expr, Ref, comparable
from rusts.sql.nodes import unsupported
from rusts.sql.times import DAY, calendar_start, floor_to

Translate = Callable[[exp.Expression], Expr]
# (other, expr): expr read as other's type when expr is an untyped constant (the translator's rule)
Adapt = Callable[[Expr, Expr], Expr]

_UNIX_EPOCH: Final = datetime.datetime(1970, 1, 1)


class ArgumentError(SqlError):
    """An argument outside a function's domain (PostgreSQL's 2201E for logarithms, 2201F for powers)."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class SubstringLengthError(SqlError):
    sqlstate = "22011"

    def __init__(self) -> None:
        super().__init__("negative substring length not allowed")


class TimestampRangeError(SqlError):
    sqlstate = "22008"

    def __init__(self) -> None:
        super().__init__("timestamp out of range")


# ---- expressions ----------------------------------------------------------------------------


class Call(Expr):
    """A function of its arguments' values; NULL in any argument gives NULL unless `strict` is False."""

    def __init__(
        self, type_: str, compute: Callable[[list[Any]], Any], args: list[Expr], strict: bool = True, decimal: bool = False,
    ) -> None:
        self.type = type_
        self.compute = compute
        self.args = args
        self.strict = strict
        self.decimal = decimal or type_ == "integer"

    def value(self, row: list[Any]) -> Any:
        values = [arg.value(row) for arg in self.args]
        if self.strict and any(v is None for v in values):
            return None
        return self.compute(values)

    def refs(self) -> list[Ref]:
        return [r for arg in self.args for r in arg.refs()]


def _as(type_: str, value: Any) -> Any:
    """A value of a branch as the expression's common type (an integer in a float8 CASE is a float)."""
    return float(value) if type_ == "float" and value is not None else value


class Case(Expr):
    """CASE WHEN c THEN r ... ELSE d END: only the branch taken is computed, as in PostgreSQL."""

    def __init__(self, type_: str, branches: list[tuple[Expr, Expr]], default: Expr) -> None:
        self.type = type_
        self.branches = branches
        self.default = default

    def value(self, row: list[Any]) -> Any:
        for condition, result in self.branches:
            if condition.value(row) is True:
                return _as(self.type, result.value(row))
        return _as(self.type, self.default.value(row))

    def refs(self) -> list[Ref]:
        return [r for c, v in self.branches for r in c.refs() + v.refs()] + self.default.refs()


class Coalesce(Expr):
    """The first non-NULL argument; later ones are not computed."""

    def __init__(self, type_: str, args: list[Expr]) -> None:
        self.type = type_
        self.args = args

    def value(self, row: list[Any]) -> Any:
        for arg in self.args:
            got = arg.value(row)
            if got is not None:
                return _as(self.type, got)
        return None

    def refs(self) -> list[Ref]:
        return [r for arg in self.args for r in arg.refs()]


def text_of(type_: str, value: Any, short_booleans: bool = False) -> str:
    """A value as PostgreSQL prints it in text (what ::text and || make of it; concat, which uses the
    type's output function, prints booleans as t and f: `short_booleans`)."""
    if type_ == "float" or isinstance(value, float):
        return float_text(float(value))
    if type_ == "boolean":
        if short_booleans:
            return "t" if value else "f"
        return "true" if value else "false"
    if type_ == "timestamp":
        return timestamp_text(int(value))
    return str(value)


def cast_text(operand: Expr) -> Expr:
    """`x::text` (and varchar, char) of any value."""
    kind = operand.type
    return Call("string", lambda v: text_of(kind, v[0]), [operand])


def fit_text(text: Expr, length: int, padded: bool) -> Expr:
    """varchar(n) (cut to n characters) or char(n) (cut, then padded with spaces to n)."""
    if padded:
        return Call("string", lambda v: str(v[0])[:length].ljust(length), [text])
    return Call("string", lambda v: str(v[0])[:length], [text])


def start_of_day(moment: Expr) -> Expr:
    """`t::date`: the midnight (UTC) that starts t's day, as a timestamp."""
    return Call("timestamp", lambda v: int(v[0]) - int(v[0]) % DAY, [moment])


def boolean_integer(flag: Expr) -> Expr:
    """`b::int`: 1 for true, 0 for false (so that sum(b::int) counts the true rows)."""
    return Call("integer", lambda v: int(v[0]), [flag])


def round_to(number: Expr, places: int) -> Expr:
    """`x::numeric(p, s)`: x rounded to s places as numeric rounds (half away from zero)."""
    return Call("float", _decimal_places(ROUND_HALF_UP), [number, Const(places, "integer")])


def is_boolean(operand: Expr, wanted: bool) -> Expr:
    """`x IS TRUE` / `x IS FALSE`: true or false, never NULL."""
    if operand.type not in ("boolean", "unknown"):
        raise DatatypeMismatchError(f"argument of IS {'TRUE' if wanted else 'FALSE'} must be type boolean, "
                                    f"not type {PG_TYPE_NAMES.get(operand.type, operand.type)}")
    return Call("boolean", lambda v: v[0] is wanted, [operand], strict=False)


def not_distinct(left: Expr, right: Expr, equal: bool) -> Expr:
    """`a IS NOT DISTINCT FROM b` (equal) or `a IS DISTINCT FROM b`: = and <> with NULL a value like any other."""
    comparable("=", left.type, right.type)

    def compute(v: list[Any]) -> bool:
        same = (v[0] is None and v[1] is None) or (v[0] is not None and v[1] is not None and v[0] == v[1])
        return same if equal else not same
    return Call("boolean", compute, [left, right], strict=False)


# ---- numbers --------------------------------------------------------------------------------


def _finite(result: float, inputs: list[Any]) -> float:
    if math.isinf(result) and all(not (isinstance(v, float) and math.isinf(v)) for v in inputs):
        raise OutOfRangeError("value out of range: overflow")
    return result


def _sqrt(v: list[Any]) -> float:
    x = float(v[0])
    if x < 0:
        raise ArgumentError("cannot take square root of a negative number", "2201F")
    return math.sqrt(x)


def _logarithm(x: float) -> float:
    if x == 0:
        raise ArgumentError("cannot take logarithm of zero", "2201E")
    if x < 0:
        raise ArgumentError("cannot take logarithm of a negative number", "2201E")
    return math.log(x) if not math.isinf(x) else x


def _log(v: list[Any]) -> float:
    if len(v) == 1:
        x = float(v[0])
        _logarithm(x)
        return math.log10(x)
    base, x = float(v[0]), float(v[1])
    if base == 10:  # log10(x), which sqlglot writes as log(10, x): exact at powers of ten
        _logarithm(x)
        return math.log10(x)
    if base == 2:
        _logarithm(x)
        return math.log2(x)
    denominator = _logarithm(base)
    if denominator == 0:
        raise ArgumentError("division by zero", "22012")
    return _logarithm(x) / denominator


def _exp(v: list[Any]) -> float:
    x = float(v[0])
    try:
        result = math.exp(x)
    except OverflowError:
        raise OutOfRangeError("value out of range: overflow") from None
    if result == 0.0 and not math.isinf(x):
        raise OutOfRangeError("value out of range: underflow")
    return result


def _power(v: list[Any]) -> float:
    base, exponent = float(v[0]), float(v[1])
    if base == 0 and exponent < 0:
        raise ArgumentError("zero raised to a negative power is undefined", "2201F")
    if base < 0 and not exponent.is_integer() and math.isfinite(exponent):
        raise ArgumentError("a negative number raised to a non-integer power yields a complex result", "2201F")
    try:
        result = _finite(math.pow(base, exponent), v)
    except OverflowError:
        raise OutOfRangeError("value out of range: overflow") from None
    if result == 0.0 and base != 0.0 and math.isfinite(base) and math.isfinite(exponent):
        raise OutOfRangeError("value out of range: underflow")
    return result


def _whole(operation: Callable[[float], float]) -> Callable[[list[Any]], float]:
    def compute(v: list[Any]) -> float:
        x = float(v[0])
        # a zero result keeps the argument's sign, as PostgreSQL's: ceil(-0.5) is -0
        return x if not math.isfinite(x) else math.copysign(float(operation(x)), x)
    return compute


def _half_away(x: float) -> float:
    """numeric's round(x): halves away from zero (x's shortest decimal form decides what a half is)."""
    if abs(x) >= 2.0**52:
        return x  # already whole
    return float(Decimal(repr(x)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _decimal_places(mode: str) -> Callable[[list[Any]], float]:
    """round(x, n) / trunc(x, n): x's shortest decimal form to n places, as PostgreSQL's numeric does."""
    def compute(v: list[Any]) -> float:
        x, places = v[0], int(v[1])
        if isinstance(x, float) and not math.isfinite(x):
            return x
        number = Decimal(repr(x)) if isinstance(x, float) else Decimal(int(x))
        try:
            return float(number.quantize(Decimal(1).scaleb(-places), rounding=mode))
        except InvalidOperation:  # more digits than the context holds: already exact at n places
            return float(number)
    return compute


def _abs(type_: str) -> Callable[[list[Any]], Any]:
    def compute(v: list[Any]) -> Any:
        if type_ == "float":
            return abs(float(v[0]))
        result = abs(int(v[0]))
        if result > I64_MAX:
            raise OutOfRangeError("bigint out of range")
        return result
    return compute


def _sign(v: list[Any]) -> float:
    x = float(v[0])
    return x if math.isnan(x) else float((x > 0) - (x < 0))


# (compute, argument count) of the numeric functions whose result is always double precision
_FLOAT_FUNCTIONS: Final[dict[type[exp.Expression], tuple[Callable[[list[Any]], float], int]]] = {
    exp.Sqrt: (_sqrt, 1),
    exp.Cbrt: (lambda v: math.cbrt(float(v[0])), 1),
    exp.Ln: (lambda v: _logarithm(float(v[0])), 1),
    exp.Exp: (_exp, 1),
    exp.Pow: (_power, 2),
    exp.Ceil: (_whole(math.ceil), 1),
    exp.Floor: (_whole(math.floor), 1),
    exp.Sign: (_sign, 1),
    exp.Degrees: (lambda v: math.degrees(float(v[0])), 1),
    exp.Radians: (lambda v: math.radians(float(v[0])), 1),
}


def _numeric_args(name: str, args: list[Expr]) -> None:
    for arg in args:
        if arg.type not in NUMERIC and arg.type != "unknown":
            shown = ", ".join(PG_TYPE_NAMES.get(a.type, a.type) for a in args)
            raise OperatorTypeError(f"function {name}({shown}) does not exist")


def _numeric(node: exp.Expression, expr: Translate) -> Expr | None:
    name = _NAMES.get(type(node), node.key)
    if isinstance(node, exp.Log):
        args = [expr(node.this)] + ([expr(node.expression)] if node.expression is not None else [])
        _numeric_args(name, args)
        return Call("float", _log, args)
    known = _FLOAT_FUNCTIONS.get(type(node))
    if known is not None:
        compute, count = known
        args = [expr(node.this)] + ([expr(node.expression)] if count == 2 else [])
        _numeric_args(name, args)
        return Call("float", compute, args)
    if isinstance(node, exp.Abs):
        arg = expr(node.this)
        _numeric_args(name, [arg])
        kind = "integer" if arg.type in ("integer", "unsigned") else "float"
        return Call(kind, _abs(kind), [arg])
    if isinstance(node, (exp.Round, exp.Trunc)):
        arg = expr(node.this)
        places = node.args.get("decimals")
        if places is None:
            _numeric_args(name, [arg])
            if isinstance(node, exp.Trunc):
                return Call("float", _whole(math.trunc), [arg], decimal=arg.decimal)
            # round(numeric) rounds halves away from zero, round(double precision) to even
            return Call("float", _whole(_half_away if arg.decimal else round), [arg], decimal=arg.decimal)
        digits = expr(places)
        _numeric_args(name, [arg])
        if digits.type not in ("integer", "unsigned", "unknown"):
            raise OperatorTypeError(f"function {name}({PG_TYPE_NAMES.get(arg.type, arg.type)}, "
                                    f"{PG_TYPE_NAMES.get(digits.type, digits.type)}) does not exist")
        mode = ROUND_HALF_UP if isinstance(node, exp.Round) else ROUND_DOWN
        return Call("float", _decimal_places(mode), [arg, digits], decimal=True)
    if isinstance(node, exp.Pi):
        return Const(math.pi, "float")
    return None


# ---- text -----------------------------------------------------------------------------------


def _substring(v: list[Any]) -> str:
    text, start = str(v[0]), int(v[1])
    end = len(text) + 1 if len(v) < 3 else start + int(v[2])
    if len(v) == 3 and int(v[2]) < 0:
        raise SubstringLengthError()
    first = max(start, 1)
    return text[first - 1 : end - 1] if end > first else ""


def _left(v: list[Any]) -> str:
    text, n = str(v[0]), int(v[1])
    return text[:n] if n >= 0 else text[: max(len(text) + n, 0)]


def _right(v: list[Any]) -> str:
    text, n = str(v[0]), int(v[1])
    if n >= 0:
        return text[len(text) - n :] if n else ""
    return text[-n:]


def _initcap(v: list[Any]) -> str:
    out: list[str] = []
    after_word = False
    for char in str(v[0]):
        out.append(char.lower() if after_word else char.upper())
        after_word = char.isalnum()
    return "".join(out)


def _trim(position: str) -> Callable[[list[Any]], str]:
    def compute(v: list[Any]) -> str:
        text = str(v[0])
        chars = str(v[1]) if len(v) > 1 else " "
        if position == "LEADING":
            return text.lstrip(chars)
        if position == "TRAILING":
            return text.rstrip(chars)
        return text.strip(chars)
    return compute


def _split_part(v: list[Any]) -> str:
    text, delimiter, index = str(v[0]), str(v[1]), int(v[2])
    if index == 0:
        raise ArgumentError("field position must not be zero", "22023")
    parts = text.split(delimiter) if delimiter else [text]
    position = index - 1 if index > 0 else len(parts) + index
    return parts[position] if 0 <= position < len(parts) else ""


def _pad(left: bool) -> Callable[[list[Any]], str]:
    """lpad/rpad(text, length[, fill]): cut to length, or filled up to it (a space by default)."""

    def compute(v: list[Any]) -> str:
        text, length = str(v[0]), int(v[1])
        fill = str(v[2]) if len(v) > 2 else " "
        if length <= len(text) or not fill:
            return text[:max(length, 0)]
        padding = (fill * ((length - len(text)) // len(fill) + 1))[: length - len(text)]
        return padding + text if left else text + padding
    return compute


def _translate(v: list[Any]) -> str:
    """translate(text, from, to): each character of `from` becomes the one at its place in `to`, or goes."""
    source, target = str(v[1]), str(v[2])
    table: dict[int, int | None] = {}
    for i, char in enumerate(source):
        table.setdefault(ord(char), ord(target[i]) if i < len(target) else None)
    return str(v[0]).translate(table)


# (type, compute, (argument after `this`, "text" or "integer")...) of the text functions
_TEXT_FUNCTIONS: Final[dict[type[exp.Expression], tuple[str, Callable[[list[Any]], Any], tuple[tuple[str, str], ...]]]] = {
    exp.Lower: ("string", lambda v: str(v[0]).lower(), ()),
    exp.Upper: ("string", lambda v: str(v[0]).upper(), ()),
    exp.Length: ("integer", lambda v: len(str(v[0])), ()),
    exp.Reverse: ("string", lambda v: str(v[0])[::-1], ()),
    exp.Initcap: ("string", _initcap, ()),
    exp.Substring: ("string", _substring, (("start", "integer"), ("length", "integer"))),
    exp.Replace: (
        "string", lambda v: str(v[0]).replace(v[1], v[2]) if v[1] else str(v[0]), (("expression", "text"), ("replacement", "text")),
    ),
    exp.Left: ("string", _left, (("expression", "integer"),)),
    exp.Right: ("string", _right, (("expression", "integer"),)),
    exp.StrPosition: ("integer", lambda v: str(v[0]).find(str(v[1])) + 1, (("substr", "text"),)),
    exp.StartsWith: ("boolean", lambda v: str(v[0]).startswith(str(v[1])), (("expression", "text"),)),
    exp.Repeat: ("string", lambda v: str(v[0]) * max(int(v[1]), 0), (("times", "integer"),)),
    exp.SplitPart: ("string", _split_part, (("delimiter", "text"), ("part_index", "integer"))),
    exp.MD5: ("string", lambda v: hashlib.md5(str(v[0]).encode("utf-8")).hexdigest(), ()),
    exp.Translate: ("string", _translate, (("from_", "text"), ("to", "text"))),
    exp.BitLength: ("integer", lambda v: 8 * len(str(v[0]).encode("utf-8")), ()),
}
_WANTED: Final = {"text": ("string", "unknown"), "integer": ("integer", "unsigned", "unknown")}


def _text_function(node: exp.Expression, expr: Translate) -> Expr | None:
    name = _NAMES.get(type(node), node.key)
    if isinstance(node, exp.Trim):
        if node.args.get("collation"):
            return None
        position = str(node.args.get("position") or "BOTH").upper()
        given = [node.this] + ([node.expression] if node.expression is not None else [])
        return _text_call(name, "string", _trim(position), [(n, "text") for n in given], expr)
    if isinstance(node, exp.Pad):
        given = [(node.this, "text"), (node.expression, "integer")]
        if node.args.get("fill_pattern") is not None:
            given.append((node.args["fill_pattern"], "text"))
        return _text_call(name, "string", _pad(bool(node.args.get("is_left"))), given, expr)
    known = _TEXT_FUNCTIONS.get(type(node))
    if known is None:
        return None
    type_, compute, spec = known
    names = {arg_name for arg_name, _ in spec}
    if isinstance(node, exp.Initcap):
        names.add("expression")  # sqlglot's default word delimiters, not written by the user
    if any(v is not None for k, v in node.args.items() if k != "this" and k not in names):
        return None
    given = [(node.this, "text")] + [(node.args[n], kind) for n, kind in spec if node.args.get(n) is not None]
    return _text_call(name, type_, compute, given, expr)


def _text_call(
    name: str, type_: str, compute: Callable[[list[Any]], Any], given: list[tuple[exp.Expression, str]], expr: Translate
) -> Expr:
    args = [expr(node) for node, _ in given]
    if any(arg.type not in _WANTED[kind] for arg, (_, kind) in zip(args, given)):
        shown = ", ".join(PG_TYPE_NAMES.get(a.type, a.type) for a in args)
        raise OperatorTypeError(f"function {name}({shown}) does not exist")
    return Call(type_, compute, args)


def _concat(node: exp.Expression, expr: Translate) -> Expr:
    if isinstance(node, exp.DPipe):
        left, right = expr(node.this), expr(node.expression)
        if "string" not in (left.type, right.type) and "unknown" not in (left.type, right.type):
            raise OperatorTypeError(
                f"operator does not exist: {PG_TYPE_NAMES.get(left.type, left.type)} || {PG_TYPE_NAMES.get(right.type, right.type)}"
            )
        kinds = [left.type, right.type]
        return Call("string", lambda v: "".join(text_of(k, x) for k, x in zip(kinds, v)), [left, right])
    args = [expr(arg) for arg in node.expressions]
    kinds = [arg.type for arg in args]
    if isinstance(node, exp.ConcatWs):
        def joined(v: list[Any]) -> Any:
            if v[0] is None:
                return None
            return str(v[0]).join(text_of(k, x, True) for k, x in zip(kinds[1:], v[1:]) if x is not None)
        return Call("string", joined, args, strict=False)
    return Call("string", lambda v: "".join(text_of(k, x, True) for k, x in zip(kinds, v) if x is not None), args, strict=False)


# ---- conditionals ---------------------------------------------------------------------------


def common_type(what: str, args: list[Expr], adapt: Adapt) -> tuple[str, list[Expr]]:
    """The one type of CASE branches or coalesce/greatest/least arguments (PostgreSQL's rules:
    untyped literals take the others' type, numbers widen to float8), and the arguments read as it."""
    typed = [a for a in args if a.type != "unknown" and not (isinstance(a, Const) and a.type == "string")]
    if typed:
        args = [adapt(typed[0], a) for a in args]
    kinds = {a.type for a in args} - {"unknown"}
    if not kinds:
        return "unknown", args
    if kinds <= NUMERIC:
        return ("float" if kinds & {"float", "numeric"} else "integer"), args
    if len(kinds) == 1:
        return kinds.pop(), args
    seen = [a.type for a in args if a.type != "unknown"]
    first = seen[0]
    second = next(k for k in seen if k != first and not (k in NUMERIC and first in NUMERIC))
    raise DatatypeMismatchError(f"{what} types {PG_TYPE_NAMES.get(first, first)} and {PG_TYPE_NAMES.get(second, second)} cannot be matched")


def boolean_argument(what: str, condition: Expr) -> Expr:
    """`condition`, checked to be a boolean (or NULL): PostgreSQL's 42804 for WHERE, HAVING, FILTER, CASE/WHEN."""
    if condition.type not in ("boolean", "unknown"):
        raise DatatypeMismatchError(f"argument of {what} must be type boolean, not type {PG_TYPE_NAMES.get(condition.type, condition.type)}")
    return condition


def _case(node: exp.Case, expr: Translate, adapt: Adapt) -> Expr:
    subject = node.args.get("this")
    conditions: list[Expr] = []
    results: list[Expr] = []
    for branch in node.args.get("ifs") or []:
        if subject is None:
            conditions.append(boolean_argument("CASE/WHEN", expr(branch.this)))
        else:
            left, right = expr(subject), expr(branch.this)
            conditions.append(Compare("=", adapt(right, left), adapt(left, right)))
        results.append(expr(branch.args["true"]))
    default_node = node.args.get("default")
    default = expr(default_node) if default_node is not None else Const(None, "unknown")
    # PostgreSQL resolves the ELSE first (so its errors name that type first)
    type_, typed = common_type("CASE", [default] + results, adapt)
    return Case(type_, list(zip(conditions, typed[1:])), typed[0])


def _extreme(node: exp.Expression, expr: Translate, adapt: Adapt) -> Expr:
    largest = isinstance(node, exp.Greatest)
    name = "GREATEST" if largest else "LEAST"
    type_, args = common_type(name, [expr(node.this)] + [expr(a) for a in node.expressions], adapt)

    def pick(v: list[Any]) -> Any:
        present = [x for x in v if x is not None]
        if not present:
            return None
        return _as(type_, max(present) if largest else min(present))
    return Call(type_, pick, args, strict=False)


def _nullif(node: exp.Nullif, expr: Translate, adapt: Adapt) -> Expr:
    type_, (left, right) = common_type("NULLIF", [expr(node.this), expr(node.expression)], adapt)
    comparable("=", left.type, right.type)

    def compute(v: list[Any]) -> Any:
        return None if v[0] is not None and v[1] is not None and v[0] == v[1] else _as(type_, v[0])
    return Call(type_, compute, [left, right], strict=False, decimal=left.decimal and right.decimal)


# ---- time -----------------------------------------------------------------------------------


def _moment(ns: int) -> datetime.datetime:
    return _UNIX_EPOCH + datetime.timedelta(microseconds=ns // 1000)


def _fraction(ns: int) -> float:
    return (ns % 1_000_000_000) / 1e9


# extract/date_part fields of a timestamp in UTC, from its nanoseconds
_FIELDS: Final[dict[str, Callable[[int], float]]] = {
    "year": lambda ns: float(_moment(ns).year),
    "month": lambda ns: float(_moment(ns).month),
    "day": lambda ns: float(_moment(ns).day),
    "hour": lambda ns: float(_moment(ns).hour),
    "minute": lambda ns: float(_moment(ns).minute),
    "second": lambda ns: _moment(ns).second + _fraction(ns),
    "milliseconds": lambda ns: (_moment(ns).second + _fraction(ns)) * 1e3,
    "microseconds": lambda ns: float(_moment(ns).second * 1_000_000 + (ns % 1_000_000_000) // 1000),
    "dow": lambda ns: float(_moment(ns).isoweekday() % 7),
    "isodow": lambda ns: float(_moment(ns).isoweekday()),
    "doy": lambda ns: float(_moment(ns).timetuple().tm_yday),
    "week": lambda ns: float(_moment(ns).isocalendar()[1]),
    "isoyear": lambda ns: float(_moment(ns).isocalendar()[0]),
    "quarter": lambda ns: float((_moment(ns).month - 1) // 3 + 1),
    "decade": lambda ns: float(_moment(ns).year // 10),
    "century": lambda ns: float((_moment(ns).year + 99) // 100),
    "millennium": lambda ns: float((_moment(ns).year + 999) // 1000),
}
_FIELD_ALIASES: Final = {
    "years": "year", "months": "month", "days": "day", "hours": "hour", "minutes": "minute", "seconds": "second",
    "millisecond": "milliseconds", "ms": "milliseconds", "msec": "milliseconds", "microsecond": "microseconds",
    "us": "microseconds", "usec": "microseconds",
}


# extract(field FROM interval): PostgreSQL's fields of the days and the time part (hours not cut at 24)
_INTERVAL_FIELDS: Final[dict[str, Callable[[Any], float]]] = {
    "epoch": epoch_seconds,
    "day": lambda span: float(span.days),
    "hour": lambda span: float(int(span.ns / 3_600_000_000_000)),
    "minute": lambda span: float(math.trunc(math.fmod(span.ns / 60e9, 60.0))),
    "second": lambda span: math.fmod(span.ns / 1e9, 60.0),
    "milliseconds": lambda span: math.fmod(span.ns / 1e6, 60_000.0),
    "microseconds": lambda span: float(round(math.fmod(span.ns / 1e3, 60_000_000.0))),
}


def _extract(node: exp.Extract, expr: Translate) -> Expr:
    field = node.this.name.lower()
    field = _FIELD_ALIASES.get(field, field)
    operand = expr(node.expression)
    if operand.type == "interval":
        of_interval = _INTERVAL_FIELDS.get(field)
        if of_interval is None:
            raise unsupported(f"extract of {field!r} from an interval (only {', '.join(_INTERVAL_FIELDS)})", node)
        return Call("float", lambda v: of_interval(v[0]), [operand], decimal=True)
    if field == "epoch":
        return EpochSeconds(operand)
    part = _FIELDS.get(field)
    if part is None:
        raise unsupported(f"extract of {field!r} (only {', '.join(['epoch', *_FIELDS])})", node)
    if operand.type not in ("timestamp", "unknown"):
        raise OperatorTypeError(f"function extract(unknown, {PG_TYPE_NAMES.get(operand.type, operand.type)}) does not exist")
    return Call("float", lambda v: part(int(v[0])), [operand], decimal=True)  # extract answers numeric


def calendar_trunc(moment: Expr, unit: str) -> Expr:
    """`date_trunc('month', t)` and the other calendar units (UTC): not a fixed width, so computed per row."""
    return Call("timestamp", lambda v: calendar_start(int(v[0]), unit), [moment])


def fixed_trunc(moment: Expr, interval: int, offset: int) -> Expr:
    """A time bucket (time_bucket, date_bin, date_trunc to a fixed unit) of each row's time, outside GROUP BY."""
    return Call("timestamp", lambda v: floor_to(int(v[0]), interval, offset), [moment])


def _to_timestamp(v: list[Any]) -> int:
    seconds = float(v[0])
    if not math.isfinite(seconds):
        raise TimestampRangeError()
    ns = round(seconds * 1_000_000) * 1000  # PostgreSQL keeps microseconds
    if not POINT_TIME_MIN <= ns <= POINT_TIME_MAX:
        raise TimestampRangeError()
    return ns


# ---- entry ----------------------------------------------------------------------------------

# PostgreSQL's output column name of an unaliased call (sqlglot folds some spellings together)
_NAMES: Final[dict[type[exp.Expression], str]] = {
    exp.Abs: "abs", exp.Ceil: "ceil", exp.Floor: "floor", exp.Round: "round", exp.Trunc: "trunc", exp.Sign: "sign",
    exp.Sqrt: "sqrt", exp.Cbrt: "cbrt", exp.Exp: "exp", exp.Ln: "ln", exp.Log: "log", exp.Pow: "power",
    exp.Degrees: "degrees", exp.Radians: "radians", exp.Pi: "pi",
    exp.Lower: "lower", exp.Upper: "upper", exp.Length: "length", exp.Reverse: "reverse", exp.Initcap: "initcap",
    exp.Substring: "substring", exp.Replace: "replace", exp.Left: "left", exp.Right: "right",
    exp.StrPosition: "strpos", exp.StartsWith: "starts_with", exp.Trim: "btrim", exp.Concat: "concat",
    exp.ConcatWs: "concat_ws", exp.Coalesce: "coalesce", exp.Nullif: "nullif", exp.Greatest: "greatest",
    exp.Least: "least", exp.Case: "case", exp.Extract: "extract", exp.UnixToTime: "to_timestamp",
    exp.Repeat: "repeat", exp.SplitPart: "split_part", exp.MD5: "md5", exp.Translate: "translate", exp.IntDiv: "div",
    exp.BitLength: "bit_length",
}
# functions sqlglot does not know (exp.Anonymous): name -> (result type, computation of the text argument)
_ANONYMOUS_TEXT: Final[dict[str, tuple[str, Callable[[list[Any]], Any]]]] = {
    "octet_length": ("integer", lambda v: len(str(v[0]).encode("utf-8"))),
}


def default_name(node: exp.Expression) -> str | None:
    """The column name PostgreSQL gives an unaliased call of one of these functions."""
    if isinstance(node, exp.Trim):
        position = str(node.args.get("position") or "").upper()
        return {"LEADING": "ltrim", "TRAILING": "rtrim"}.get(position, "btrim")
    if isinstance(node, exp.Pad):
        return "lpad" if node.args.get("is_left") else "rpad"
    if isinstance(node, exp.Anonymous) and node.name.lower() in _ANONYMOUS_TEXT:
        return node.name.lower()
    return _NAMES.get(type(node))


def translate_call(node: exp.Expression, expr: Translate, adapt: Adapt) -> Expr | None:
    """The Expr of a scalar function call or CASE; None when `node` is none of those handled here."""
    if isinstance(node, exp.Case):
        return _case(node, expr, adapt)
    if isinstance(node, exp.Coalesce):
        type_, args = common_type("COALESCE", [expr(node.this)] + [expr(a) for a in node.expressions], adapt)
        return Coalesce(type_, args)
    if isinstance(node, (exp.Greatest, exp.Least)):
        return _extreme(node, expr, adapt)
    if isinstance(node, exp.Nullif):
        return _nullif(node, expr, adapt)
    if isinstance(node, (exp.DPipe, exp.Concat, exp.ConcatWs)):
        return _concat(node, expr)
    if isinstance(node, exp.Extract):
        return _extract(node, expr)
    if isinstance(node, exp.UnixToTime) and not any(v is not None for k, v in node.args.items() if k != "this"):
        arg = expr(node.this)
        _numeric_args("to_timestamp", [arg])
        return Call("timestamp", _to_timestamp, [arg])
    if isinstance(node, exp.IntDiv):
        return _div(expr(node.this), expr(node.expression))
    if isinstance(node, exp.Anonymous) and node.name.lower() in _ANONYMOUS_TEXT and len(node.expressions) == 1:
        type_, compute = _ANONYMOUS_TEXT[node.name.lower()]
        return _text_call(node.name.lower(), type_, compute, [(node.expressions[0], "text")], expr)
    called = _numeric(node, expr)
    return called if called is not None else _text_function(node, expr)


def _div(dividend: Expr, divisor: Expr) -> Expr:
    """div(a, b): the integer quotient, truncated toward zero (a numeric, given as an integer for
    integer arguments and a whole double precision otherwise); b = 0 is 22012."""
    _numeric_args("div", [dividend, divisor])
    if not all(arg.decimal or arg.type == "unknown" for arg in (dividend, divisor)):  # div takes numeric, not float8
        shown = ", ".join(PG_TYPE_NAMES.get(arg.type, arg.type) for arg in (dividend, divisor))
        raise OperatorTypeError(f"function div({shown}) does not exist")
    whole = dividend.type in ("integer", "unsigned") and divisor.type in ("integer", "unsigned")

    def compute(v: list[Any]) -> Any:
        a, b = v
        if b == 0:
            raise DivisionByZeroError()
        if whole:
            quotient = abs(a) // abs(b)
            return quotient if (a < 0) == (b < 0) else -quotient
        return float(math.trunc(float(a) / float(b)))

    return Call("integer" if whole else "float", compute, [dividend, divisor])

