"""Statement text as the protocol sees it: splitting a query string, finding and filling $n placeholders,
and the statements the connection answers itself (transaction control, DEALLOCATE).

The scanner knows PostgreSQL's lexical forms that may hide a ';' or a '$1': 'strings' (with ''),
E'strings' (with backslash escapes), "identifiers", $tag$dollar quotes$tag$, -- and nested /* */ comments.
"""

import re
from collections.abc import Callable, Iterator
from typing import Final

_TRANSACTION: Final = re.compile(
    r"^\s*(begin|start\s+transaction|commit|end|rollback|abort|savepoint|release|prepare\s+transaction|"
    r"commit\s+prepared|rollback\s+prepared)\b(.*)$",
    re.IGNORECASE | re.DOTALL,
)
# An SQL name as written: a quoted identifier ("" for a quote inside) or a plain one.
SQL_NAME: Final = r'"(?:[^"]|"")+"|[A-Za-z_][\w$]*'
_DEALLOCATE: Final = re.compile(rf"^\s*deallocate\s+(?:prepare\s+)?(all|{SQL_NAME})\s*$", re.IGNORECASE)
_DOLLAR_TAG: Final = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")
_SPACE: Final = re.compile(r"(\s|--[^\n]*(\n|$)|/\*.*?\*/)*", re.DOTALL)


class SqlScanError(Exception):
    """Text that does not scan (an unterminated quote or comment)."""

    sqlstate = "42601"


def _skip(text: str, i: int) -> int:
    """Index after the quoted string, identifier, dollar quote or comment starting at i (or i when none)."""
    c = text[i]
    n = len(text)
    if c == "'" or ((c in "eE") and i + 1 < n and text[i + 1] == "'" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_"))):
        escapes = c != "'"
        j = i + (2 if escapes else 1)
        while j < n:
            if escapes and text[j] == "\\":
                j += 2
                continue
            if text[j] == "'":
                if j + 1 < n and text[j + 1] == "'":
                    j += 2
                    continue
                return j + 1
            j += 1
        raise SqlScanError("unterminated quoted string")
    if c == '"':
        j = i + 1
        while j < n:
            if text[j] == '"':
                if j + 1 < n and text[j + 1] == '"':
                    j += 2
                    continue
                return j + 1
            j += 1
        raise SqlScanError("unterminated quoted identifier")
    if c == "-" and text.startswith("--", i):
        end = text.find("\n", i)
        return n if end < 0 else end + 1
    if c == "/" and text.startswith("/*", i):
        depth = 0
        j = i
        while j < n:
            if text.startswith("/*", j):
                depth += 1
                j += 2
            elif text.startswith("*/", j):
                depth -= 1
                j += 2
                if depth == 0:
                    return j
            else:
                j += 1
        raise SqlScanError("unterminated /* comment")
    if c == "$" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
        match = _DOLLAR_TAG.match(text, i)
        if match:
            end = text.find(match.group(0), match.end())
            if end < 0:
                raise SqlScanError("unterminated dollar-quoted string")
            return end + len(match.group(0))
    return i


def _code(text: str) -> Iterator[int]:
    """Indexes of the characters of `text` that are code: outside quotes, identifiers, dollar quotes and comments."""
    i = 0
    n = len(text)
    while i < n:
        after = _skip(text, i)
        if after != i:
            i = after
            continue
        yield i
        i += 1


def split_statements(text: str) -> list[str]:
    """The statements of a simple-query string, in order, without their ';' (empty ones dropped)."""
    pieces: list[str] = []
    start = 0
    for i in _code(text):
        if text[i] == ";":
            pieces.append(text[start:i])
            start = i + 1
    pieces.append(text[start:])
    return [piece for piece in pieces if not is_blank(piece)]


def is_blank(text: str) -> bool:
    """Whitespace and comments only."""
    match = _SPACE.match(text)
    return match is not None and match.end() == len(text)


def placeholders(text: str) -> int:
    """The highest $n used in `text` (0 when none)."""
    highest = 0

    def note(number: int) -> str:
        nonlocal highest
        highest = max(highest, number)
        return ""

    _walk_placeholders(text, note)
    return highest


def fill_placeholders(text: str, literals: list[str]) -> str:
    """`text` with each $n replaced by literals[n - 1]."""

    def fill(number: int) -> str:
        if number > len(literals):
            raise SqlScanError(f"there is no parameter ${number}")
        return literals[number - 1]

    return _walk_placeholders(text, fill)


def spaced_placeholders(text: str) -> str:
    """`text` with a space after each $n, for parsing with the placeholders in place: sqlglot's
    tokenizer reads `$1,$2` as the start of a dollar-quoted string (asyncpg and pg8000 describe
    `VALUES ($1,$2)` before they bind it)."""
    return _walk_placeholders(text, lambda number: f"${number} ")


def _walk_placeholders(text: str, replace: Callable[[int], str]) -> str:
    out: list[str] = []
    start = 0
    for i in _code(text):
        if i < start or text[i] != "$" or i + 1 >= len(text) or not text[i + 1].isdigit():
            continue
        if i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_"):
            continue  # part of a name such as a$1
        j = i + 1
        while j < len(text) and text[j].isdigit():
            j += 1
        out.append(text[start:i])
        out.append(replace(int(text[i + 1:j])))
        start = j
    out.append(text[start:])
    return "".join(out)


def transaction_command(text: str) -> str | None:
    """The lower-case keyword of a transaction-control statement (begin, commit, rollback, ...), or None.

    `rollback to savepoint` is reported as "rollback to".
    """
    match = _TRANSACTION.match(text)
    if match is None:
        return None
    word = " ".join(match.group(1).lower().split())
    rest = match.group(2).strip().lower()
    if word in ("rollback", "abort") and rest.startswith("to"):
        return "rollback to"
    return word


def deallocate_target(text: str) -> str | None:
    """For DEALLOCATE [PREPARE] name|ALL: the name ("" for ALL); None for other statements."""
    match = _DEALLOCATE.match(text)
    if match is None:
        return None
    name = match.group(1)
    return "" if name.lower() == "all" else sql_identifier(name)


def sql_identifier(name: str) -> str:
    """The identifier an SQL_NAME match names: a quoted one as written, a plain one in lower case."""
    return name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()
