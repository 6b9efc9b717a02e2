"""SQL cursors: DECLARE, FETCH, MOVE and CLOSE, read into commands the connection runs on its portals.

    DECLARE name [NO SCROLL] CURSOR [WITH | WITHOUT HOLD] FOR query
    FETCH [NEXT | count | ALL | FORWARD [count | ALL]] [FROM | IN] name
    MOVE  (the same forms)
    CLOSE name | ALL

psycopg's and psycopg2's named (server-side) cursors and SQLAlchemy's stream_results send these;
asyncpg's Cursor.forward sends MOVE on its protocol-level portal. As in PostgreSQL, a cursor is a
portal: FETCH and MOVE work on portals made by Bind, and Describe or Close of a portal works on a
cursor. Cursors scan forward only (SCROLL, BACKWARD, PRIOR, ABSOLUTE and the like are refused), and
one declared WITHOUT HOLD ends with the transaction block it was declared in.
"""

import re
from typing import Final, NamedTuple

from rusts.pgwire.errors import PgError
from rusts.pgwire.statements import SQL_NAME, sql_identifier

_NAME: Final = rf"({SQL_NAME})"
_DECLARE: Final = re.compile(
    rf"\s*declare\s+{_NAME}\s+(binary\s+)?(?:(?:asensitive|insensitive)\s+)?((?:no\s+)?scroll\s+)?cursor\s+"
    r"(?:(with|without)\s+hold\s+)?for\s+(?P<query>.+?)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_FETCH: Final = re.compile(
    rf"\s*(fetch|move)\s+(?:(?P<how>next|all|forward\s+all|forward\s+\d+|forward|\d+)\s+)?(?:(?:from|in)\s+)?{_NAME}\s*;?\s*$",
    re.IGNORECASE,
)
_BACKWARDS: Final = re.compile(r"\s*(fetch|move)\s+(prior|first|last|absolute|relative|backward|-)", re.IGNORECASE)
_CLOSE: Final = re.compile(rf"\s*close\s+(?:(?P<all>all)|{_NAME})\s*;?\s*$", re.IGNORECASE)
_WORD: Final = re.compile(r"\s*(declare|fetch|move|close)\b", re.IGNORECASE)


class CursorCommand(NamedTuple):
    """kind: declare | fetch | move | close; rows None: all the rows left; name "" with close: CLOSE ALL."""

    kind: str
    name: str
    rows: int | None = None
    query: str = ""
    hold: bool = False


def cursor_command(sql: str) -> CursorCommand | None:
    """The cursor command `sql` is; None for any other statement; PgError for a form RusTs does not run."""
    word = _WORD.match(sql)
    if word is None:
        return None
    kind = word.group(1).lower()
    if kind == "declare":
        declared = _DECLARE.match(sql)
        if declared is None:
            raise PgError("42601", "DECLARE: expected DECLARE name CURSOR [WITH HOLD] FOR query")
        if declared.group(2):
            raise PgError("0A000", "DECLARE BINARY CURSOR is not supported by RusTs: ask for binary results in Bind")
        if declared.group(3) and not declared.group(3).lower().startswith("no"):
            raise PgError("0A000", "SCROLL cursors are not supported by RusTs: cursors scan forward only")
        hold = (declared.group(4) or "").lower() == "with"
        return CursorCommand("declare", sql_identifier(declared.group(1)), query=declared.group("query"), hold=hold)
    if kind == "close":
        closed = _CLOSE.match(sql)
        if closed is None:
            raise PgError("42601", "CLOSE: expected CLOSE name or CLOSE ALL")
        return CursorCommand("close", "" if closed.group("all") else sql_identifier(closed.group(2)))
    if _BACKWARDS.match(sql):
        raise PgError("55000", "cursor can only scan forward (RusTs cursors are NO SCROLL)")
    fetched = _FETCH.match(sql)
    if fetched is None:
        raise PgError("42601", f"{kind.upper()}: expected {kind.upper()} [FORWARD] [count | ALL] FROM name")
    how = (fetched.group("how") or "next").lower().split()
    count: int | None
    if how[-1] == "all":
        count = None
    elif how[-1].isdigit():
        count = int(how[-1])
    else:
        count = 1  # NEXT, FORWARD
    return CursorCommand(kind, sql_identifier(fetched.group(3)), count)
