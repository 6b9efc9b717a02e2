"""The virtual PostgreSQL catalog: pg_catalog and information_schema tables built from the engine.

Each table is a list of (column name, type OID) and a list of rows, built on each question from the
storage engine and the session (nothing is cached, so a new measurement shows up at once). Every
measurement is an ordinary table ('r') in schema public of the database the client connected to;
its columns are time (timestamptz), then its tags (text), then its fields (float8, int8, text, bool),
the order in which `SELECT *` answers. Tables clients read but RusTs has no rows for (constraints,
indexes, policies, publications ...) exist with their real columns and no rows, so client
introspection sees "nothing there" instead of an error.

A measurement's oid is derived from its name (stable while other measurements come and go, which
matters to psql: it looks the oid up and then asks eight more questions about it).
"""

import zlib
from typing import Callable, Final, NamedTuple, Sequence

from rusts.pgwire import types as t
from rusts.pgwire.catalog_settings import SETTINGS
from rusts.storage.engine import StorageEngine

Row = tuple[object, ...]

NAMESPACE_PG_CATALOG: Final = 11
NAMESPACE_PUBLIC: Final = 2200
NAMESPACE_INFORMATION_SCHEMA: Final = 13000
NAMESPACE_PG_TOAST: Final = 99
SUPERUSER_OID: Final = 10
DATABASE_OID: Final = 16384
HEAP_AM: Final = 2
DEFAULT_COLLATION: Final = 100

# Field kinds of the engine -> (type OID, format_type name).
FIELD_TYPES: Final[dict[str, tuple[int, str]]] = {
    "float": (t.FLOAT8, "double precision"),
    "integer": (t.INT8, "bigint"),
    "unsigned": (t.INT8, "bigint"),
    "string": (t.TEXT, "text"),
    "boolean": (t.BOOL, "boolean"),
}


class PgType(NamedTuple):
    oid: int
    name: str
    length: int
    category: str
    array: int
    element: int
    formatted: str  # what format_type() prints
    collation: int = 0
    kind: str = "b"  # typtype: base, pseudo


_BASE: Final[list[PgType]] = [
    PgType(t.BOOL, "bool", 1, "B", t.BOOL_ARRAY, 0, "boolean"),
    PgType(t.BYTEA, "bytea", -1, "U", 1001, 0, "bytea"),
    PgType(t.CHAR, "char", 1, "Z", t.CHAR_ARRAY, 0, '"char"'),
    PgType(t.NAME, "name", 64, "S", t.NAME_ARRAY, 0, "name", 950),
    PgType(t.INT8, "int8", 8, "N", t.INT8_ARRAY, 0, "bigint"),
    PgType(t.INT2, "int2", 2, "N", t.INT2_ARRAY, 0, "smallint"),
    PgType(t.INT2VECTOR, "int2vector", -1, "A", t.INT2VECTOR_ARRAY, t.INT2, "int2vector"),
    PgType(t.INT4, "int4", 4, "N", t.INT4_ARRAY, 0, "integer"),
    PgType(t.REGPROC, "regproc", 4, "N", t.REGPROC_ARRAY, 0, "regproc"),
    PgType(t.TEXT, "text", -1, "S", t.TEXT_ARRAY, 0, "text", DEFAULT_COLLATION),
    PgType(t.OID, "oid", 4, "N", t.OID_ARRAY, 0, "oid"),
    PgType(t.OIDVECTOR, "oidvector", -1, "A", 1013, t.OID, "oidvector"),
    PgType(t.JSON, "json", -1, "U", 199, 0, "json"),
    PgType(t.FLOAT4, "float4", 4, "N", t.FLOAT4_ARRAY, 0, "real"),
    PgType(t.FLOAT8, "float8", 8, "N", t.FLOAT8_ARRAY, 0, "double precision"),
    PgType(t.UNKNOWN, "unknown", -2, "X", 0, 0, "unknown", 0, "p"),
    PgType(t.INET, "inet", -1, "I", 1041, 0, "inet"),
    PgType(t.BPCHAR, "bpchar", -1, "S", 1014, 0, "character", DEFAULT_COLLATION),
    PgType(t.VARCHAR, "varchar", -1, "S", t.VARCHAR_ARRAY, 0, "character varying", DEFAULT_COLLATION),
    PgType(t.DATE, "date", 4, "D", 1182, 0, "date"),
    PgType(t.TIMESTAMP, "timestamp", 8, "D", 1115, 0, "timestamp without time zone"),
    PgType(t.TIMESTAMPTZ, "timestamptz", 8, "D", t.TIMESTAMPTZ_ARRAY, 0, "timestamp with time zone"),
    PgType(t.INTERVAL, "interval", 16, "T", 1187, 0, "interval"),
    PgType(t.NUMERIC, "numeric", -1, "N", 1231, 0, "numeric"),
    PgType(t.REGCLASS, "regclass", 4, "N", 2210, 0, "regclass"),
    PgType(t.REGTYPE, "regtype", 4, "N", 2211, 0, "regtype"),
    PgType(t.VOID, "void", 4, "P", 0, 0, "void", 0, "p"),
    PgType(t.UUID, "uuid", 16, "U", 2951, 0, "uuid"),
    PgType(t.JSONB, "jsonb", -1, "U", 3807, 0, "jsonb"),
]


def _arrays() -> list[PgType]:
    arrays = []
    for base in _BASE:
        if base.array and base.category != "A":
            arrays.append(
                PgType(base.array, "_" + base.name, -1, "A", 0, base.oid, base.formatted + "[]", base.collation)
            )
    return arrays


TYPES: Final[list[PgType]] = sorted(_BASE + _arrays(), key=lambda pg_type: pg_type.oid)
TYPES_BY_OID: Final[dict[int, PgType]] = {pg_type.oid: pg_type for pg_type in TYPES}
# Names a type can be looked up by (to_regtype, ::regtype): its own name, what format_type prints, aliases.
TYPES_BY_NAME: Final[dict[str, PgType]] = {
    **{pg_type.formatted: pg_type for pg_type in TYPES},
    **{pg_type.name: pg_type for pg_type in TYPES},
    "int": TYPES_BY_OID[t.INT4],
    "float": TYPES_BY_OID[t.FLOAT8],
    "timestamptz": TYPES_BY_OID[t.TIMESTAMPTZ],
    "varchar": TYPES_BY_OID[t.VARCHAR],
    "char": TYPES_BY_OID[t.BPCHAR],
    "decimal": TYPES_BY_OID[t.NUMERIC],
}

# oids of the system catalogs that clients name with ::regclass
SYSTEM_RELATIONS: Final[dict[str, int]] = {
    "pg_type": 1247,
    "pg_attribute": 1249,
    "pg_proc": 1255,
    "pg_class": 1259,
    "pg_namespace": 2615,
    "pg_constraint": 2606,
    "pg_description": 2609,
    "pg_index": 2610,
    "pg_inherits": 2611,
    "pg_database": 1262,
    "pg_am": 2601,
    "pg_trigger": 2620,
}


def relation_oid(measurement: str) -> int:
    """The oid of a measurement's table: from its name, above the 16384 of user objects."""
    return 0x40000000 | (zlib.crc32(measurement.encode()) & 0x3FFFFFFF)


class Column(NamedTuple):
    name: str
    type_oid: int
    kind: str  # time, tag, field


def measurement_columns(engine: StorageEngine, measurement: str) -> list[Column]:
    columns = [Column("time", t.TIMESTAMPTZ, "time")]
    columns += [Column(key, t.TEXT, "tag") for key in engine.tag_keys(measurement)]
    columns += [Column(name, FIELD_TYPES[kind][0], "field") for name, kind in engine.field_types(measurement).items()]
    return columns


class Table(NamedTuple):
    columns: list[tuple[str, int]]
    rows: Sequence[Sequence[object]]


class Context(NamedTuple):
    """What a catalog table is built from."""

    engine: StorageEngine
    user: str
    database: str
    settings: dict[str, str]


def _cols(spec: str) -> list[tuple[str, int]]:
    """'name:oid name:oid ...' -> columns (a compact way to write the long column lists below)."""
    return [(item.split(":")[0], int(item.split(":")[1])) for item in spec.split()]


def _measurements(ctx: Context) -> list[tuple[str, int, list[Column]]]:
    engine = ctx.engine
    return [(m, relation_oid(m), measurement_columns(engine, m)) for m in engine.measurements()]


PG_NAMESPACE: Final = _cols("oid:26 nspname:19 nspowner:26 nspacl:1034")


def _pg_namespace(ctx: Context) -> Table:
    rows: list[Row] = [
        (NAMESPACE_PG_TOAST, "pg_toast", SUPERUSER_OID, None),
        (NAMESPACE_PG_CATALOG, "pg_catalog", SUPERUSER_OID, None),
        (NAMESPACE_PUBLIC, "public", 6171, None),
        (NAMESPACE_INFORMATION_SCHEMA, "information_schema", SUPERUSER_OID, None),
    ]
    return Table(PG_NAMESPACE, rows)


PG_CLASS: Final = _cols(
    "oid:26 relname:19 relnamespace:26 reltype:26 reloftype:26 relowner:26 relam:26 relfilenode:26 "
    "reltablespace:26 relpages:23 reltuples:700 relallvisible:23 reltoastrelid:26 relhasindex:16 "
    "relisshared:16 relpersistence:18 relkind:18 relnatts:21 relchecks:21 relhasrules:16 relhastriggers:16 "
    "relhassubclass:16 relrowsecurity:16 relforcerowsecurity:16 relispopulated:16 relreplident:18 "
    "relispartition:16 relrewrite:26 relfrozenxid:28 relminmxid:28 relacl:1034 reloptions:1009 relpartbound:194"
)


def _pg_class(ctx: Context) -> Table:
    rows: list[Row] = []
    for _name, oid, columns in _measurements(ctx):
        rows.append(
            (oid, _name, NAMESPACE_PUBLIC, 0, 0, SUPERUSER_OID, HEAP_AM, oid, 0, 0, -1.0, 0, 0, False)
            + (False, "p", "r", len(columns), 0, False, False, False, False, False, True, "d", False, 0)
            + ("0", "1", None, None, None)
        )
    return Table(PG_CLASS, rows)


PG_ATTRIBUTE: Final = _cols(
    "attrelid:26 attname:19 atttypid:26 attstattarget:23 attlen:21 attnum:21 attndims:23 attcacheoff:23 "
    "atttypmod:23 attbyval:16 attalign:18 attstorage:18 attcompression:18 attnotnull:16 atthasdef:16 "
    "atthasmissing:16 attidentity:18 attgenerated:18 attisdropped:16 attislocal:16 attinhcount:23 "
    "attcollation:26 attacl:1034 attoptions:1009 attfdwoptions:1009 attmissingval:25"
)


def _pg_attribute(ctx: Context) -> Table:
    rows: list[Row] = []
    for _name, oid, columns in _measurements(ctx):
        for number, column in enumerate(columns, start=1):
            pg_type = TYPES_BY_OID[column.type_oid]
            rows.append(
                (oid, column.name, column.type_oid, -1, pg_type.length, number, 0, -1, -1, pg_type.length > 0)
                + ("d" if pg_type.length == 8 else "i", "x" if pg_type.length < 0 else "p", "", False, False)
                + (False, "", "", False, True, 0, pg_type.collation, None, None, None, None)
            )
    return Table(PG_ATTRIBUTE, rows)


PG_TYPE: Final = _cols(
    "oid:26 typname:19 typnamespace:26 typowner:26 typlen:21 typbyval:16 typtype:18 typcategory:18 "
    "typispreferred:16 typisdefined:16 typdelim:18 typrelid:26 typsubscript:24 typelem:26 typarray:26 "
    "typinput:24 typoutput:24 typreceive:24 typsend:24 typmodin:24 typmodout:24 typanalyze:24 typalign:18 "
    "typstorage:18 typnotnull:16 typbasetype:26 typtypmod:23 typndims:23 typcollation:26 typdefaultbin:194 "
    "typdefault:25 typacl:1034"
)


# PostgreSQL's I/O functions are boolin, int8in, textin ... but timestamptz_in, json_in, array_in ...
_UNDERSCORE_IO: Final = frozenset(
    {"date", "timestamp", "timestamptz", "interval", "numeric", "json", "jsonb", "uuid", "inet", "void"}
)
_ALIGN: Final = {"name": "c", "uuid": "c", "interval": "d", "numeric": "i"}


def _align(length: int) -> str:
    return {1: "c", 2: "s", 8: "d"}.get(length, "i")


def _pg_type(ctx: Context) -> Table:
    rows: list[Row] = []
    for p in TYPES:
        array = p.category == "A" and p.element and p.name.startswith("_")
        io = "array_" if array else p.name + "_" if p.name in _UNDERSCORE_IO else p.name
        rows.append(
            (p.oid, p.name, NAMESPACE_PG_CATALOG, SUPERUSER_OID, p.length, 0 < p.length <= 8, p.kind, p.category)
            + (False, True, ",", 0, "array_subscript_handler" if p.category == "A" else "-", p.element, p.array)
            + (io + "in", io + "out", io + "recv", io + "send", "-", "-", "-", _ALIGN.get(p.name, _align(p.length)))
            + ("x" if p.length < 0 else "p", False, 0, -1, 0, p.collation, None, None, None)
        )
    return Table(PG_TYPE, rows)


PG_DATABASE: Final = _cols(
    "oid:26 datname:19 datdba:26 encoding:23 datlocprovider:18 datistemplate:16 datallowconn:16 "
    "datconnlimit:23 datfrozenxid:28 datminmxid:28 dattablespace:26 datcollate:25 datctype:25 "
    "daticulocale:25 datcollversion:25 datacl:1034"
)


def _pg_database(ctx: Context) -> Table:
    row: Row = (DATABASE_OID, ctx.database, SUPERUSER_OID, 6, "c", False, True, -1, "716", "1", 1663)
    return Table(PG_DATABASE, [row + ("C.UTF-8", "C.UTF-8", None, None, None)])


PG_SETTINGS: Final = _cols(
    "name:25 setting:25 unit:25 category:25 short_desc:25 extra_desc:25 context:25 vartype:25 source:25 "
    "min_val:25 max_val:25 enumvals:1009 boot_val:25 reset_val:25 sourcefile:25 sourceline:23 pending_restart:16"
)


def _pg_settings(ctx: Context) -> Table:
    rows: list[Row] = []
    for name, default, unit, category, description, vartype, context in SETTINGS:
        value = ctx.settings.get(name.lower(), default)
        rows.append(
            (name, value, unit or None, category, description, None, context, vartype, "default", None, None)
            + (None, default, default, None, None, False)
        )
    return Table(PG_SETTINGS, rows)


PG_AM: Final = _cols("oid:26 amname:19 amhandler:24 amtype:18")


def _pg_am(ctx: Context) -> Table:
    rows: list[Row] = [
        (HEAP_AM, "heap", "heap_tableam_handler", "t"),
        (403, "btree", "bthandler", "i"),
        (405, "hash", "hashhandler", "i"),
        (783, "gist", "gisthandler", "i"),
        (2742, "gin", "ginhandler", "i"),
        (4000, "spgist", "spghandler", "i"),
        (3580, "brin", "brinhandler", "i"),
    ]
    return Table(PG_AM, rows)


PG_ROLES: Final = _cols(
    "rolname:19 rolsuper:16 rolinherit:16 rolcreaterole:16 rolcreatedb:16 rolcanlogin:16 rolreplication:16 "
    "rolconnlimit:23 rolpassword:25 rolvaliduntil:1184 rolbypassrls:16 rolconfig:1009 oid:26"
)


def _pg_roles(ctx: Context) -> Table:
    row: Row = (ctx.user, True, True, True, True, True, True, -1, "********", None, True, None, SUPERUSER_OID)
    return Table(PG_ROLES, [row])


PG_USER: Final = _cols(
    "usename:19 usesysid:26 usecreatedb:16 usesuper:16 userepl:16 usebypassrls:16 passwd:25 valuntil:1184 "
    "useconfig:1009"
)


def _pg_user(ctx: Context) -> Table:
    return Table(PG_USER, [(ctx.user, SUPERUSER_OID, True, True, True, True, "********", None, None)])


PG_TABLESPACE: Final = _cols("oid:26 spcname:19 spcowner:26 spcacl:1034 spcoptions:1009")


def _pg_tablespace(ctx: Context) -> Table:
    rows: list[Row] = [(1663, "pg_default", SUPERUSER_OID, None, None), (1664, "pg_global", SUPERUSER_OID, None, None)]
    return Table(PG_TABLESPACE, rows)


PG_TABLES: Final = _cols(
    "schemaname:19 tablename:19 tableowner:19 tablespace:19 hasindexes:16 hasrules:16 hastriggers:16 rowsecurity:16"
)


def _pg_tables(ctx: Context) -> Table:
    rows: list[Row] = [("public", m, ctx.user, None, False, False, False, False) for m in ctx.engine.measurements()]
    return Table(PG_TABLES, rows)


IS_TABLES: Final = _cols(
    "table_catalog:19 table_schema:19 table_name:19 table_type:1043 self_referencing_column_name:19 "
    "reference_generation:1043 user_defined_type_catalog:19 user_defined_type_schema:19 "
    "user_defined_type_name:19 is_insertable_into:1043 is_typed:1043 commit_action:1043"
)


def _is_tables(ctx: Context) -> Table:
    rows: list[Row] = [
        (ctx.database, "public", m, "BASE TABLE", None, None, None, None, None, "YES", "NO", None)
        for m in ctx.engine.measurements()
    ]
    return Table(IS_TABLES, rows)


IS_COLUMNS: Final = _cols(
    "table_catalog:19 table_schema:19 table_name:19 column_name:19 ordinal_position:23 column_default:1043 "
    "is_nullable:1043 data_type:1043 character_maximum_length:23 character_octet_length:23 numeric_precision:23 "
    "numeric_precision_radix:23 numeric_scale:23 datetime_precision:23 interval_type:1043 "
    "interval_precision:23 character_set_catalog:19 character_set_schema:19 character_set_name:19 "
    "collation_catalog:19 collation_schema:19 collation_name:19 domain_catalog:19 domain_schema:19 "
    "domain_name:19 udt_catalog:19 udt_schema:19 udt_name:19 scope_catalog:19 scope_schema:19 scope_name:19 "
    "maximum_cardinality:23 dtd_identifier:19 is_self_referencing:1043 is_identity:1043 "
    "identity_generation:1043 identity_start:1043 identity_increment:1043 identity_maximum:1043 "
    "identity_minimum:1043 identity_cycle:1043 is_generated:1043 generation_expression:1043 is_updatable:1043"
)

# data type -> (numeric_precision, numeric_precision_radix, numeric_scale, datetime_precision)
_PRECISION: Final[dict[int, tuple[int | None, int | None, int | None, int | None]]] = {
    t.FLOAT8: (53, 2, None, None),
    t.INT8: (64, 2, 0, None),
    t.TIMESTAMPTZ: (None, None, None, 6),
}


def _is_columns(ctx: Context) -> Table:
    rows: list[Row] = []
    for name, _oid, columns in _measurements(ctx):
        for number, column in enumerate(columns, start=1):
            pg_type = TYPES_BY_OID[column.type_oid]
            precision, radix, scale, datetime = _PRECISION.get(column.type_oid, (None, None, None, None))
            octets = 1073741824 if column.type_oid == t.TEXT else None
            rows.append(
                (ctx.database, "public", name, column.name, number, None, "YES", pg_type.formatted, None, octets)
                + (precision, radix, scale, datetime, None, None, None, None, None, None, None, None, None, None)
                + (None, ctx.database, "pg_catalog", pg_type.name, None, None, None, None, str(number), "NO", "NO")
                + (None, None, None, None, None, "NO", "NEVER", None, "YES")
            )
    return Table(IS_COLUMNS, rows)


IS_SCHEMATA: Final = _cols(
    "catalog_name:19 schema_name:19 schema_owner:19 default_character_set_catalog:19 "
    "default_character_set_schema:19 default_character_set_name:19 sql_path:1043"
)


def _is_schemata(ctx: Context) -> Table:
    rows: list[Row] = [
        (ctx.database, name, ctx.user, None, None, None, None)
        for name in ("information_schema", "pg_catalog", "pg_toast", "public")
    ]
    return Table(IS_SCHEMATA, rows)


# Tables with columns and never a row in RusTs.
_EMPTY: Final[dict[str, str]] = {
    "pg_index": "indexrelid:26 indrelid:26 indnatts:21 indnkeyatts:21 indisunique:16 indnullsnotdistinct:16 "
    "indisprimary:16 indisexclusion:16 indimmediate:16 indisclustered:16 indisvalid:16 indcheckxmin:16 "
    "indisready:16 indislive:16 indisreplident:16 indkey:22 indcollation:30 indclass:30 indoption:22 "
    "indexprs:194 indpred:194",
    "pg_constraint": "oid:26 conname:19 connamespace:26 contype:18 condeferrable:16 condeferred:16 "
    "convalidated:16 conrelid:26 contypid:26 conindid:26 conparentid:26 confrelid:26 confupdtype:18 "
    "confdeltype:18 confmatchtype:18 conislocal:16 coninhcount:23 connoinherit:16 conkey:1005 confkey:1005 "
    "conpfeqop:1028 conppeqop:1028 conffeqop:1028 confdelsetcols:1005 conexclop:1028 conbin:194",
    "pg_description": "objoid:26 classoid:26 objsubid:23 description:25",
    "pg_shdescription": "objoid:26 classoid:26 description:25",
    "pg_attrdef": "oid:26 adrelid:26 adnum:21 adbin:194",
    "pg_inherits": "inhrelid:26 inhparent:26 inhseqno:23 inhdetachpending:16",
    "pg_trigger": "oid:26 tgrelid:26 tgparentid:26 tgname:19 tgfoid:26 tgtype:21 tgenabled:18 tgisinternal:16 "
    "tgconstrrelid:26 tgconstrindid:26 tgconstraint:26 tgdeferrable:16 tginitdeferred:16 tgnargs:21 "
    "tgattr:22 tgargs:17 tgqual:194 tgoldtable:19 tgnewtable:19",
    "pg_policy": "oid:26 polname:19 polrelid:26 polcmd:18 polpermissive:16 polroles:1028 polqual:194 "
    "polwithcheck:194",
    "pg_statistic_ext": "oid:26 stxrelid:26 stxname:19 stxnamespace:26 stxowner:26 stxstattarget:23 "
    "stxkeys:22 stxkind:1002 stxexprs:194",
    "pg_publication": "oid:26 pubname:19 pubowner:26 puballtables:16 pubinsert:16 pubupdate:16 pubdelete:16 "
    "pubtruncate:16 pubviaroot:16",
    "pg_publication_rel": "oid:26 prpubid:26 prrelid:26 prqual:194 prattrs:22",
    "pg_publication_namespace": "oid:26 pnpubid:26 pnnspid:26",
    "pg_sequence": "seqrelid:26 seqtypid:26 seqstart:20 seqincrement:20 seqmax:20 seqmin:20 seqcache:20 "
    "seqcycle:16",
    "pg_collation": "oid:26 collname:19 collnamespace:26 collowner:26 collprovider:18 collisdeterministic:16 "
    "collencoding:23 collcollate:25 collctype:25 colliculocale:25 collversion:25",
    "pg_opclass": "oid:26 opcmethod:26 opcname:19 opcnamespace:26 opcowner:26 opcfamily:26 opcintype:26 "
    "opcdefault:16 opckeytype:26",
    "pg_proc": "oid:26 proname:19 pronamespace:26 proowner:26 prolang:26 procost:700 prorows:700 "
    "provariadic:26 prosupport:24 prokind:18 prosecdef:16 proleakproof:16 proisstrict:16 proretset:16 "
    "provolatile:18 proparallel:18 pronargs:21 pronargdefaults:21 prorettype:26 proargtypes:30 "
    "proallargtypes:1028 proargmodes:1002 proargnames:1009 proargdefaults:194 protrftypes:1028 prosrc:25 "
    "probin:25 prosqlbody:194 proconfig:1009 proacl:1034",
    "pg_enum": "oid:26 enumtypid:26 enumsortorder:700 enumlabel:19",
    "pg_range": "rngtypid:26 rngsubtype:26 rngmultitypid:26 rngcollation:26 rngsubopc:26 rngcanonical:24 "
    "rngsubdiff:24",
    "pg_extension": "oid:26 extname:19 extowner:26 extnamespace:26 extrelocatable:16 extversion:25 "
    "extconfig:1028 extcondition:1009",
    "pg_rewrite": "oid:26 rulename:19 ev_class:26 ev_type:18 ev_enabled:18 is_instead:16 ev_qual:194 "
    "ev_action:194",
    "pg_views": "schemaname:19 viewname:19 viewowner:19 definition:25",
    "pg_matviews": "schemaname:19 matviewname:19 matviewowner:19 tablespace:19 hasindexes:16 ispopulated:16 "
    "definition:25",
    "pg_indexes": "schemaname:19 tablename:19 indexname:19 tablespace:19 indexdef:25",
    "pg_foreign_table": "ftrelid:26 ftserver:26 ftoptions:1009",
    "pg_partitioned_table": "partrelid:26 partstrat:18 partnatts:21 partdefid:26 partattrs:22 partclass:30 "
    "partcollation:30 partexprs:194",
    "pg_event_trigger": "oid:26 evtname:19 evtevent:19 evtowner:26 evtfoid:26 evtenabled:18 evttags:1009",
    "pg_stat_activity": "datid:26 datname:19 pid:23 leader_pid:23 usesysid:26 usename:19 application_name:25 "
    "client_addr:869 client_hostname:25 client_port:23 backend_start:1184 xact_start:1184 query_start:1184 "
    "state_change:1184 wait_event_type:25 wait_event:25 state:25 backend_xid:28 backend_xmin:28 query_id:20 "
    "query:25 backend_type:25",
    "pg_depend": "classid:26 objid:26 objsubid:23 refclassid:26 refobjid:26 refobjsubid:23 deptype:18",
    "pg_cast": "oid:26 castsource:26 casttarget:26 castfunc:26 castcontext:18 castmethod:18",
    "pg_operator": "oid:26 oprname:19 oprnamespace:26 oprowner:26 oprkind:18 oprcanmerge:16 oprcanhash:16 "
    "oprleft:26 oprright:26 oprresult:26 oprcom:26 oprnegate:26 oprcode:24 oprrest:24 oprjoin:24",
    "pg_language": "oid:26 lanname:19 lanowner:26 lanispl:16 lanpltrusted:16 lanplcallfoid:26 lanvalidator:26 "
    "laninline:26 lanacl:1034",
    "pg_foreign_data_wrapper": "oid:26 fdwname:19 fdwowner:26 fdwhandler:26 fdwvalidator:26 fdwacl:1034 "
    "fdwoptions:1009",
    "pg_foreign_server": "oid:26 srvname:19 srvowner:26 srvfdw:26 srvtype:25 srvversion:25 srvacl:1034 "
    "srvoptions:1009",
    "pg_auth_members": "oid:26 roleid:26 member:26 grantor:26 admin_option:16",
    "pg_locks": "locktype:25 database:26 relation:26 page:23 tuple:21 virtualxid:25 transactionid:28 "
    "classid:26 objid:26 objsubid:21 virtualtransaction:25 pid:23 mode:25 granted:16 fastpath:16 "
    "waitstart:1184",
    "views": "table_catalog:19 table_schema:19 table_name:19 view_definition:1043 check_option:1043 "
    "is_updatable:1043 is_insertable_into:1043 is_trigger_updatable:1043 is_trigger_deletable:1043 "
    "is_trigger_insertable_into:1043",
    "table_constraints": "constraint_catalog:19 constraint_schema:19 constraint_name:19 table_catalog:19 "
    "table_schema:19 table_name:19 constraint_type:1043 is_deferrable:1043 initially_deferred:1043 "
    "enforced:1043 nulls_distinct:1043",
    "key_column_usage": "constraint_catalog:19 constraint_schema:19 constraint_name:19 table_catalog:19 "
    "table_schema:19 table_name:19 column_name:19 ordinal_position:23 position_in_unique_constraint:23",
    "referential_constraints": "constraint_catalog:19 constraint_schema:19 constraint_name:19 "
    "unique_constraint_catalog:19 unique_constraint_schema:19 unique_constraint_name:19 match_option:1043 "
    "update_rule:1043 delete_rule:1043",
    "routines": "specific_catalog:19 specific_schema:19 specific_name:19 routine_catalog:19 routine_schema:19 "
    "routine_name:19 routine_type:1043 data_type:1043",
    "sequences": "sequence_catalog:19 sequence_schema:19 sequence_name:19 data_type:1043 numeric_precision:23 "
    "numeric_precision_radix:23 numeric_scale:23 start_value:1043 minimum_value:1043 maximum_value:1043 "
    "increment:1043 cycle_option:1043",
}

_BUILT: Final[dict[str, Callable[[Context], Table]]] = {
    "pg_namespace": _pg_namespace,
    "pg_class": _pg_class,
    "pg_attribute": _pg_attribute,
    "pg_type": _pg_type,
    "pg_database": _pg_database,
    "pg_settings": _pg_settings,
    "pg_am": _pg_am,
    "pg_roles": _pg_roles,
    "pg_authid": _pg_roles,
    "pg_user": _pg_user,
    "pg_tablespace": _pg_tablespace,
    "pg_tables": _pg_tables,
}
_INFORMATION_SCHEMA: Final[dict[str, Callable[[Context], Table]]] = {
    "tables": _is_tables,
    "columns": _is_columns,
    "schemata": _is_schemata,
}
_INFORMATION_SCHEMA_EMPTY: Final = frozenset(
    {"views", "table_constraints", "key_column_usage", "referential_constraints", "routines", "sequences"}
)


def is_catalog_table(schema: str, name: str) -> bool:
    """Whether schema.name (schema may be '') is a table of the virtual catalog."""
    if schema == "information_schema":
        return True
    if schema in ("", "pg_catalog"):
        return name in _BUILT or (name in _EMPTY and name.startswith("pg_"))
    return False


def build_table(ctx: Context, schema: str, name: str) -> Table | None:
    """The rows of schema.name now, or None when the catalog has no such table."""
    if schema == "information_schema":
        if name in _INFORMATION_SCHEMA:
            return _INFORMATION_SCHEMA[name](ctx)
        if name in _INFORMATION_SCHEMA_EMPTY:
            return Table(_cols(_EMPTY[name]), [])
        return None
    if name in _BUILT:
        return _BUILT[name](ctx)
    if name in _EMPTY and name.startswith("pg_"):
        return Table(_cols(_EMPTY[name]), [])
    return None
