"""asyncpg's type introspection: the recursive query it sends for a type it has no codec for yet.

asyncpg knows a few types by heart; for any other OID in a statement's parameters or results (an
array such as bigint[] for `n = ANY($1)`, int2vector in SQLAlchemy's index reflection) it runs one
statement, `WITH RECURSIVE typeinfo_tree(...)` over pg_type, pg_namespace and pg_range, with $1 the
OIDs as an oid[]. The catalog evaluator does not take WITH RECURSIVE, so that statement is
recognised by its CTE's name and answered here from the same pg_type rows the catalog shows: each
asked type and, below it, the element type of an array, with PostgreSQL's column names and types.
RusTs has no domains, composite types or ranges, so basetype, range_subtype, attrtypoids and
attrnames are NULL on every row.
"""

import re
from typing import Final

from rusts.pgwire import types as t
from rusts.pgwire.catalog_tables import TYPES_BY_OID, PgType

MARKER: Final = "typeinfo_tree"
# `ti.oid = any('{16,1016}'::oid[])` once the parameter is in the text (NULL while describing)
_ASKED: Final = re.compile(r"ti\.oid\s*=\s*any\s*\(\s*'\{([^'}]*)\}'", re.IGNORECASE)
COLUMNS: Final[list[tuple[str, int]]] = [
    ("oid", t.OID), ("ns", t.NAME), ("name", t.NAME), ("kind", t.CHAR), ("basetype", t.OID), ("elemtype", t.OID),
    ("elemdelim", t.CHAR), ("range_subtype", t.OID), ("attrtypoids", t.OID_ARRAY), ("attrnames", t.TEXT_ARRAY),
    ("depth", t.INT4), ("basetype_name", t.TEXT), ("elemtype_name", t.TEXT), ("range_subtype_name", t.TEXT),
]


def is_type_lookup(text: str) -> bool:
    return MARKER in text and "pg_type" in text


def asked_oids(text: str) -> list[int]:
    """The OIDs in $1 (none when it is NULL, as while the statement is described)."""
    found = _ASKED.search(text)
    if found is None:
        return []
    oids: list[int] = []
    for item in found.group(1).split(","):
        item = item.strip().strip('"')
        if item.isdigit():
            oids.append(int(item))
    return oids


def _row(pg_type: PgType, depth: int) -> list[object]:
    element = TYPES_BY_OID.get(pg_type.element) if pg_type.length == -1 and pg_type.element else None
    element_name = "-" if not pg_type.element else (element.formatted if element is not None else str(pg_type.element))
    return [
        pg_type.oid, "pg_catalog", pg_type.name, pg_type.kind, None, pg_type.element,
        "," if element is not None else None, None, None, None, depth, None, element_name, None,
    ]


def type_rows(oids: list[int]) -> list[list[object]]:
    """The rows PostgreSQL answers: each asked type at depth 0 and its element types deeper, deepest
    first."""
    levels: list[list[list[object]]] = []
    level = [TYPES_BY_OID[oid] for oid in dict.fromkeys(oids) if oid in TYPES_BY_OID]
    while level:
        levels.append([_row(pg_type, len(levels)) for pg_type in level])
        elements = (TYPES_BY_OID.get(pg_type.element) for pg_type in level)
        level = list({element.oid: element for element in elements if element is not None}.values())
    return [row for rows in reversed(levels) for row in rows]
