"""WHERE onto the query model: a time range, a tag predicate tree and field predicates.

Top-level AND terms are sorted by the column they test: time comparisons
narrow the half-open range, field comparisons become field_filter entries,
and everything else must be a tag predicate, which may nest AND, OR and NOT.
Time and field conditions anywhere else would need row-level OR, which the
model has not got: a SELECT of rows keeps such terms as `residual` (tested
on each result row by the translator); anywhere else they are refused
rather than answered wrongly.
"""

import re
from typing import Final, cast

from sqlglot import exp

from rusts.query.model import (
    ComparisonOp,
    FieldPredicate,
    TagAnd,
    TagEq,
    TagIn,
    TagNeq,
    TagNot,
    TagNotRegex,
    TagOr,
    TagPredicate,
    TagRegex,
    TimeRange,
)
from rusts.sql.errors import UnsupportedSqlError
from rusts.sql.nodes import Scope, coerce_text, instant, literal, unparen, unsupported

_COMPARISONS: Final[dict[type[exp.Expression], ComparisonOp]] = {
    exp.EQ: "=", exp.NEQ: "!=", exp.LT: "<", exp.LTE: "<=", exp.GT: ">", exp.GTE: ">=",
}
_FLIPPED: Final[dict[ComparisonOp, ComparisonOp]] = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


class Where:
    def __init__(self) -> None:
        self.start: int | None = None
        self.end: int | None = None
        self.tags: list[TagPredicate] = []
        self.fields: list[FieldPredicate] = []
        # terms the model cannot take, each with the error that says why (a SELECT of rows tests them
        # itself; None: a term of row_where, which the model was not asked to take)
        self.residual: list[tuple[exp.Expression, UnsupportedSqlError | None]] = []

    def time_range(self) -> TimeRange | None:
        return None if self.start is None and self.end is None else TimeRange(self.start, self.end)

    def tag_filter(self) -> TagPredicate | None:
        if not self.tags:
            return None
        return self.tags[0] if len(self.tags) == 1 else TagAnd(self.tags)

    def narrow(self, start: int | None, end: int | None) -> None:
        if start is not None:
            self.start = start if self.start is None else max(self.start, start)
        if end is not None:
            self.end = end if self.end is None else min(self.end, end)


def translate_where(scope: Scope, condition: exp.Expression | None, rows: bool = False) -> Where:
    """The WHERE clause as the model's parts. With `rows` (a SELECT of rows, which reads every field),
    a top-level AND term the model cannot take is kept in `residual` for the caller to test on each
    row, instead of being refused."""
    where = Where()
    if condition is None:
        return where
    for term in _conjuncts(condition):
        try:
            _model_term(scope, where, term)
        except UnsupportedSqlError as error:
            if not rows:
                raise
            where.residual.append((term, error))
    return where


def row_where(condition: exp.Expression | None) -> Where:
    """The WHERE clause with every top-level AND term left to the caller to test on each row (a
    SELECT of a subquery's rows: nothing is pushed to the executor)."""
    where = Where()
    if condition is not None:
        where.residual = [(term, None) for term in _conjuncts(condition)]
    return where


def _model_term(scope: Scope, where: Where, term: exp.Expression) -> None:
    if _never_true(term):
        where.narrow(0, 0)  # an empty time range: the answer has no rows (an empty aggregate's row)
        return
    role = _role_of(scope, term)
    if role == "time":
        _time_term(scope, where, term)
    elif role == "field":
        where.fields.append(_field_term(scope, term))
    else:
        where.tags.append(_tag(scope, term))


def _is_null(node: exp.Expression) -> bool:
    return isinstance(unparen(node), exp.Null)


def _never_true(term: exp.Expression) -> bool:
    """Whether a comparison is NULL whatever the row holds: one side (or a BETWEEN bound) is the
    NULL literal, so neither it nor its negation is ever TRUE (`host = NULL` matches no row)."""
    node = unparen(term)
    if isinstance(node, exp.Not):
        inner = unparen(node.this)
        if isinstance(inner, exp.Between):  # NOT (x BETWEEN 1 AND NULL) is TRUE where x < 1
            return _is_null(inner.this) or (_is_null(inner.args["low"]) and _is_null(inner.args["high"]))
        return _never_true(inner)
    if type(node) in _COMPARISONS:
        return _is_null(node.this) or _is_null(node.expression)
    if isinstance(node, exp.Between):
        return _is_null(node.this) or _is_null(node.args["low"]) or _is_null(node.args["high"])
    return False


def _conjuncts(node: exp.Expression) -> list[exp.Expression]:
    node = unparen(node)
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    return [node]


def _comparison(scope: Scope, node: exp.Expression) -> tuple[str, ComparisonOp, exp.Expression] | None:
    """(column, op, other side) of `column op x` or `x op column`, or None when `node` is not one."""
    op = _COMPARISONS.get(type(node))
    if op is None:
        return None
    assert isinstance(node, exp.Binary), "BUG: a comparison that is not binary"
    left, right = scope.column(node.this), scope.column(node.expression)
    if left is not None and right is not None:
        raise unsupported("a comparison between two columns", node)
    if left is not None:
        return left, op, node.expression
    if right is not None:
        return right, _FLIPPED[op], node.this
    raise unsupported("a comparison without a column", node)


def _role_of(scope: Scope, node: exp.Expression) -> str:
    """'time' or 'field' for a top-level term that tests one; 'tag' for everything else."""
    if isinstance(node, exp.Between):
        name = scope.column(node.this)
        return "tag" if name is None else scope.role(name, node)
    found = _comparison(scope, node) if type(node) in _COMPARISONS else None
    if found is None:
        return "tag"
    role = scope.role(found[0], node)
    return role if role in ("time", "field") else "tag"


def _time_term(scope: Scope, where: Where, node: exp.Expression) -> None:
    if isinstance(node, exp.Between):
        where.narrow(instant(node.args["low"], scope.now), instant(node.args["high"], scope.now) + 1)
        return
    found = _comparison(scope, node)
    assert found is not None, "BUG: a time term that is not a comparison"
    _, op, other = found
    at = instant(other, scope.now)
    bounds: dict[str, tuple[int | None, int | None]] = {
        "=": (at, at + 1), "<": (None, at), "<=": (None, at + 1), ">": (at + 1, None), ">=": (at, None),
    }
    if op not in bounds:
        raise unsupported("time != (the time range is one interval)", node)
    where.narrow(*bounds[op])


def _field_term(scope: Scope, node: exp.Expression) -> FieldPredicate:
    if isinstance(node, exp.Between):
        raise unsupported("BETWEEN on a field (write field >= a AND field <= b)", node)
    found = _comparison(scope, node)
    assert found is not None, "BUG: a field term that is not a comparison"
    name, op, other = found
    return FieldPredicate(name, op, coerce_text(literal(other), scope.fields[name]))


def _tag_key(scope: Scope, node: exp.Expression, subject: exp.Expression) -> str:
    name = scope.column(subject)
    if name is None:
        raise unsupported("a condition whose subject is not a column", node)
    role = scope.role(name, node)
    if role == "time":
        raise unsupported(
            "a time condition inside OR or NOT, or other than a comparison with a time (an aggregating SELECT takes "
            "time conditions as =, <, <=, >, >= or BETWEEN in the top-level AND)", node)
    if role == "field":
        raise unsupported(
            "a field condition inside OR or NOT, or other than a comparison with a literal (an aggregating SELECT "
            "takes field conditions as =, <>, <, <=, >, >= in the top-level AND)", node)
    return name


def _tag_string(node: exp.Expression, value_node: exp.Expression) -> str:
    value = literal(value_node)
    if not isinstance(value, str):
        raise unsupported("a tag compared with a non-string (tags are strings: quote the value)", node)
    return value


# POSIX bracket classes of PostgreSQL's regular expressions, as Python's re spells them (ASCII)
_POSIX_CLASSES: Final = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z", "space": r"\s",
    "blank": r" \t", "punct": r"!-/:-@\[-`{-~", "xdigit": "0-9A-Fa-f", "word": r"\w", "cntrl": r"\x00-\x1f\x7f",
    "print": r"\x20-\x7e", "graph": r"\x21-\x7e",
}
_POSIX_CLASS: Final = re.compile(r"\[:(" + "|".join(_POSIX_CLASSES) + r"):\]")


def python_regex(pattern: str) -> str:
    """A PostgreSQL regular expression (~, SIMILAR TO) for Python's re: [[:digit:]] and the other
    POSIX classes spelled as ranges."""
    return _POSIX_CLASS.sub(lambda match: _POSIX_CLASSES[match.group(1)], pattern) if "[:" in pattern else pattern


def like_pattern(pattern: str) -> str:
    """An anchored regular expression matching what LIKE `pattern` matches (backslash escapes)."""
    parts: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    if escaped:
        parts.append(re.escape("\\"))
    return "(?s)^" + "".join(parts) + r"\Z"


def _present(scope: Scope, key: str, predicate: TagPredicate) -> TagPredicate:
    """`predicate` on the series that have the tag (the executor gives a missing tag the value "", which
    no stored tag has); `predicate` alone when every series has it."""
    return TagAnd([TagNeq(key, ""), predicate]) if key in scope.sparse_tags else predicate


def _nothing(key: str) -> TagPredicate:
    return TagIn(key, [])


def _tag(scope: Scope, node: exp.Expression, negated: bool = False) -> TagPredicate:
    """The series for which `node` (NOT `node` when `negated`) is TRUE, as in PostgreSQL, where a
    missing tag is NULL: a comparison with it is NULL, and so is its negation. NOT is pushed to the
    leaves (De Morgan holds in three-valued logic), where a negated comparison also needs the tag present."""
    node = unparen(node)
    if node.args.get("negate") and not isinstance(node, exp.Is):
        negated = not negated
    if isinstance(node, (exp.And, exp.Or)):
        terms = [_tag(scope, n, negated) for n in _flatten(node, type(node))]
        return TagAnd(terms) if isinstance(node, exp.And) != negated else TagOr(terms)
    if isinstance(node, exp.Not):
        return _tag(scope, node.this, not negated)
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
        key = _tag_key(scope, node, node.this)
        return TagEq(key, "") if negated == bool(node.args.get("negate")) else TagNeq(key, "")
    if _never_true(node):
        found = _comparison(scope, node) if type(node) in _COMPARISONS else None
        subject = exp.column(found[0]) if found is not None else node.this
        return _nothing(_tag_key(scope, node, subject))
    if isinstance(node, (exp.EQ, exp.NEQ)):
        found = _comparison(scope, node)
        assert found is not None, "BUG: = or <> that is not a comparison"
        name, op, other = found
        key, value = _tag_key(scope, node, exp.column(name)), _tag_string(node, other)
        if (op == "=") != negated:
            return _nothing(key) if value == "" else TagEq(key, value)
        return _present(scope, key, TagNeq(key, value) if op == "!=" else TagNot(TagEq(key, value)))
    if isinstance(node, exp.In):
        if node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
            raise unsupported("IN with a subquery", node)
        key = _tag_key(scope, node, node.this)
        # A NULL in the list matches nothing; it makes NOT IN NULL (never TRUE) where no value matched.
        values = [_tag_string(node, v) for v in node.expressions if not _is_null(v)]
        if not negated:
            return TagIn(key, [v for v in values if v != ""])
        if len(values) < len(node.expressions):
            return _nothing(key)
        return _present(scope, key, TagNot(TagIn(key, values)))
    if isinstance(node, (exp.RegexpLike, exp.RegexpILike, exp.Like, exp.ILike)):
        key = _tag_key(scope, node, node.this)
        flags = "(?i)" if isinstance(node, (exp.RegexpILike, exp.ILike)) else ""
        pattern = _tag_string(node, node.expression)
        pattern = like_pattern(pattern) if isinstance(node, (exp.Like, exp.ILike)) else python_regex(pattern)
        if not negated:
            return _present(scope, key, TagRegex(key, flags + pattern))
        regex = isinstance(node, (exp.RegexpLike, exp.RegexpILike))
        return _present(scope, key, TagNotRegex(key, flags + pattern) if regex else TagNot(TagRegex(key, flags + pattern)))
    if type(node) in _COMPARISONS:
        found = _comparison(scope, node)
        if found is not None:
            _tag_key(scope, node, exp.column(found[0]))
        raise unsupported("ordering comparison (<, <=, >, >=) on a tag", node)
    if isinstance(node, exp.Between):
        _tag_key(scope, node, node.this)
        raise unsupported("BETWEEN on a tag", node)
    raise unsupported(f"condition {node.key.upper()}", node)


def _flatten(node: exp.Expression, kind: type[exp.Expression]) -> list[exp.Expression]:
    node = unparen(node)
    if isinstance(node, kind):
        binary = cast(exp.Binary, node)
        return _flatten(binary.this, kind) + _flatten(binary.expression, kind)
    return [node]
