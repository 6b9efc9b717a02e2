"""Rewrites of a parsed statement into forms the translator knows, for what clients generate.

- A cast of a literal to a number, text or boolean type is that literal of that type
  (`'3.0'::double precision`, `7::int8`: pgjdbc's simple query mode writes parameters this way).
- `'a' || '%'` of string literals is one literal; `LIKE p ESCAPE 'e'` is LIKE with p written in
  backslash escapes.
- `x SIMILAR TO p [ESCAPE e]` is `x ~ r`, r the anchored regular expression PostgreSQL makes of p.
- `SELECT DISTINCT a, b` without aggregates is `SELECT a, b ... GROUP BY a, b`.
- `x BETWEEN SYMMETRIC a AND b` is BETWEEN with the bounds in order (or both orders ORed).
- `x = ANY(ARRAY[a, b])` and `x = ANY('{a,b}')` are `x IN (a, b)`; `x <> ALL(...)` is
  `x NOT IN (...)` (node-postgres sends a JavaScript array parameter as '{a,b}').

Anything these rules do not match is left as it was, for the translator to answer or refuse.
"""

import decimal
import math
import re
from typing import Final

from sqlglot import exp

from rusts.sql.errors import InvalidTextError, OutOfRangeError, SqlSyntaxError
from rusts.sql.nodes import unparen

_FLOAT_TYPES: Final = frozenset({exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT, exp.DataType.Type.DECIMAL})
_INTEGER_TYPES: Final = frozenset({exp.DataType.Type.BIGINT, exp.DataType.Type.INT, exp.DataType.Type.SMALLINT})
_TEXT_TYPES: Final = frozenset({exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR, exp.DataType.Type.CHAR})
FLOAT8: Final = "rusts_float8"  # meta key of a number literal folded from a cast to double precision
_TRUE: Final = frozenset({"t", "true", "yes", "y", "on", "1"})
_FALSE: Final = frozenset({"f", "false", "no", "n", "off", "0"})


def normalize(tree: exp.Expression) -> exp.Expression:
    return tree.transform(_rewrite)


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.In) and node.args.get("field") is not None:
        # `x IN $1` (pg8000's tuple parameter) and `x IN 'a'`: PostgreSQL's grammar has IN ( ... ) only
        raise SqlSyntaxError(
            f'syntax error at or near "{node.args["field"].sql(dialect="postgres")}": IN takes a parenthesized list; '
            "for an array parameter write = ANY($1)"
        )
    if isinstance(node, exp.Select) and isinstance(node.args.get("distinct"), exp.Distinct):
        rewritten = _distinct_as_group_by(node)
        # transform() does not go into a node it replaced: rewrite the new SELECT's parts here
        return rewritten if rewritten is node else rewritten.transform(_rewrite)
    if isinstance(node, exp.DPipe):
        folded = _text_constant(node)
        return node if folded is None else exp.Literal.string(folded)
    if isinstance(node, exp.Escape) and isinstance(node.this, (exp.Like, exp.ILike)):
        return _escaped_like(node)
    if isinstance(node, exp.Escape) and isinstance(node.this, exp.SimilarTo):
        escape = _text_constant(node.expression)
        return node if escape is None or len(escape) > 1 else _similar(node.this, escape)
    if isinstance(node, exp.SimilarTo):
        return _similar(node, "\\")
    if isinstance(node, exp.Between) and node.args.get("symmetric"):
        return _symmetric(node)
    if isinstance(node, exp.Cast):
        return _literal_cast(node) or node
    if isinstance(node, exp.EQ) and isinstance(node.expression, exp.Any):
        options = _array_items(node.expression.this)
        return node if options is None else exp.In(this=node.this, expressions=options)
    if isinstance(node, exp.NEQ) and isinstance(node.expression, exp.Anonymous) and node.expression.name.upper() == "ALL":
        arguments = node.expression.expressions
        options = _array_items(arguments[0]) if len(arguments) == 1 else None
        return node if options is None else exp.Not(this=exp.In(this=node.this, expressions=options))
    return node


def _symmetric(node: exp.Between) -> exp.Expression:
    """`x BETWEEN SYMMETRIC a AND b`: BETWEEN with the bounds in order when both are constants of one
    kind, else `(x BETWEEN a AND b OR x BETWEEN b AND a)`."""
    subject, low, high = node.this, unparen(node.args["low"]), unparen(node.args["high"])
    if isinstance(low, exp.Literal) and isinstance(high, exp.Literal) and low.is_string == high.is_string:
        if low.is_string:
            reversed_ = str(low.this) > str(high.this)  # code point order, as ORDER BY compares text
        else:
            reversed_ = float(low.this) > float(high.this)
        first, second = (high, low) if reversed_ else (low, high)
        return exp.Between(this=subject, low=first, high=second)
    forward = exp.Between(this=subject, low=low, high=high)
    backward = exp.Between(this=subject.copy(), low=high.copy(), high=low.copy())
    return exp.Paren(this=exp.Or(this=forward, expression=backward))


def _text_constant(node: exp.Expression) -> str | None:
    """The text of `'a' || 'b' || ...` made of string literals only (SQLAlchemy's startswith/contains
    patterns: `LIKE 'a' || '%'`), else None."""
    node = unparen(node)
    if isinstance(node, exp.Literal) and node.is_string:
        return str(node.this)
    if isinstance(node, exp.DPipe):
        left, right = _text_constant(node.this), _text_constant(node.expression)
        return None if left is None or right is None else left + right
    return None


def _similar(node: exp.SimilarTo, escape: str) -> exp.Expression:
    """`x SIMILAR TO p` as `x ~ r`: r matches the whole value, `%` any text, `_` any character, the
    escape character (an empty one: none) takes the next character literally, and bracket
    expressions and | * + ? {m,n} ( ) keep their meaning, as in PostgreSQL's similar_to_escape."""
    pattern = _text_constant(node.expression)
    if pattern is None:
        return node  # left for the translator to refuse
    out: list[str] = []
    bracket = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if escape and char == escape:
            # the next character literally, or (a letter or digit) the regular expression escape it makes,
            # \d a digit as in PostgreSQL; a last escape character is dropped
            if i + 1 < len(pattern):
                following = pattern[i + 1]
                out.append("\\" + following if following.isalnum() else re.escape(following))
            i += 2
            continue
        if bracket:
            bracket = char != "]"
            out.append(char)
        elif char == "[":
            bracket = True
            out.append(char)
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        elif char in ".^$":
            out.append("\\" + char)
        else:
            out.append(char)
        i += 1
    return exp.RegexpLike(this=node.this, expression=exp.Literal.string("(?s)^(?:" + "".join(out) + r")\Z"))


def _escaped_like(node: exp.Escape) -> exp.Expression:
    """`x LIKE p ESCAPE e` as `x LIKE p'`, p' written with backslash escapes (LIKE's default)."""
    like = node.this
    pattern, escape = _text_constant(like.expression), _text_constant(node.expression)
    if pattern is None or escape is None or len(escape) > 1:
        return node  # left for the translator to refuse
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if escape and char == escape and i + 1 < len(pattern):
            out.append("\\" + pattern[i + 1])
            i += 2
            continue
        out.append("\\\\" if char == "\\" else char)
        i += 1
    rewritten: exp.Expression = like.copy()
    rewritten.set("expression", exp.Literal.string("".join(out)))
    return rewritten


def _literal_cast(node: exp.Cast) -> exp.Expression | None:
    value = unparen(node.this)
    sign = ""
    if isinstance(value, exp.Neg) and isinstance(value.this, exp.Literal) and not value.this.is_string:
        value, sign = value.this, "-"
    if isinstance(value, exp.Boolean) and node.to.this == exp.DataType.Type.BOOLEAN:
        return value
    if not isinstance(value, exp.Literal):
        return None
    target = node.to.this
    if node.to.expressions:
        return None  # varchar(2), numeric(4, 2): the translator cuts and rounds
    text = sign + str(value.this).strip()
    if target in _FLOAT_TYPES:
        try:
            number = float(text)
        except ValueError:
            raise InvalidTextError(f'invalid input syntax for type double precision: "{value.this}"') from None
        # repr keeps a float a float: `7::double precision / 2` is 3.5, not integer division
        if math.isinf(number) and "inf" not in text.lower():  # '1e400'::float8
            raise OutOfRangeError(f'"{value.this}" is out of range for type double precision')
        if not math.isfinite(number):
            return None
        folded = exp.Literal.number(repr(number))  # a Neg around the literal when negative
        if target != exp.DataType.Type.DECIMAL:  # a double precision, not a numeric: round(2.5::float8) rounds to even
            (folded.this if isinstance(folded, exp.Neg) else folded).meta[FLOAT8] = True
        return folded
    if target in _INTEGER_TYPES:
        if value.is_string:
            try:
                integer = int(text)
            except ValueError:
                raise InvalidTextError(f'invalid input syntax for type bigint: "{value.this}"') from None
        else:
            try:  # a numeric literal rounds half away from zero, as PostgreSQL's numeric does
                integer = int(decimal.Decimal(text).to_integral_value(decimal.ROUND_HALF_UP))
            except (decimal.InvalidOperation, ValueError, OverflowError):
                return None
        if not -(2**63) <= integer < 2**63:
            raise OutOfRangeError(f"{value.this} is out of the bigint range")
        return exp.Literal.number(str(integer))
    if target in _TEXT_TYPES:
        return exp.Literal.string(sign + str(value.this))
    if target == exp.DataType.Type.BOOLEAN and value.is_string:
        word = text.lower()
        if word in _TRUE or word in _FALSE:
            return exp.Boolean(this=word in _TRUE)
        raise InvalidTextError(f'invalid input syntax for type boolean: "{value.this}"')
    return None


def _distinct_as_group_by(select: exp.Select) -> exp.Select:
    """`SELECT DISTINCT a, b ... ` is `SELECT a, b ... GROUP BY a, b` when it has no aggregate, GROUP BY
    or DISTINCT ON (Grafana's template variables: `SELECT DISTINCT host FROM cpu`)."""
    distinct = select.args["distinct"]
    if distinct.args.get("on") is not None or select.args.get("group") is not None or select.args.get("from_") is None:
        return select
    items = [item.this if isinstance(item, exp.Alias) else item for item in select.expressions]
    if any(isinstance(item, exp.Star) or item.find(exp.AggFunc, exp.Window) is not None for item in items):
        return select
    grouped = select.copy()
    grouped.set("distinct", None)
    return grouped.group_by(*[item.copy() for item in items], copy=False)


def _array_items(node: exp.Expression) -> list[exp.Expression] | None:
    """The elements of ARRAY[literals] or of an array literal '{a,"b c"}'; None for anything else or a NULL element."""
    node = unparen(node)
    if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.ARRAY:
        node = unparen(node.this)  # '{3,0}'::bigint[]: its elements are read as the column's type
    if isinstance(node, exp.Array):
        items = [unparen(item) for item in node.expressions]
        return items if items and all(isinstance(item, exp.Literal) for item in items) else None
    if isinstance(node, exp.Literal) and node.is_string:
        texts = _array_text(str(node.this))
        return None if texts is None or not texts else [exp.Literal.string(text) for text in texts]
    return None


def _array_text(text: str) -> list[str] | None:
    """The elements of a one-dimensional PostgreSQL array literal; None when it is not one or holds NULL."""
    text = text.strip()
    if len(text) < 2 or text[0] != "{" or text[-1] != "}":
        return None
    body = text[1:-1]
    if not body.strip():
        return []
    items: list[str] = []
    i = 0
    while i <= len(body):
        while i < len(body) and body[i] == " ":
            i += 1
        if i < len(body) and body[i] == '"':
            j = i + 1
            chars: list[str] = []
            while j < len(body) and body[j] != '"':
                if body[j] == "\\" and j + 1 < len(body):
                    j += 1
                chars.append(body[j])
                j += 1
            if j >= len(body):
                return None  # unterminated quote
            items.append("".join(chars))
            i = j + 1
            while i < len(body) and body[i] == " ":
                i += 1
        else:
            j = body.find(",", i)
            j = len(body) if j < 0 else j
            raw = body[i:j].strip()
            if raw.upper() == "NULL" or "{" in raw or '"' in raw:
                return None
            items.append(raw)
            i = j
        if i < len(body) and body[i] != ",":
            return None
        i += 1
    return items
