"""The PostgreSQL session and catalog emulation, fed the statements real clients sent (docs/pgwire-clients.md)."""

from pathlib import Path
from typing import Iterator

import pytest

from rusts.api.line_protocol import engine_parser
from rusts.pgwire import types as t
from rusts.pgwire.catalog import CatalogResult, PgError, Session, answer
from rusts.pgwire.catalog_tables import relation_oid
from rusts.storage.engine import EngineOptions, StorageEngine

# ---- captured statements (psql 15.18, SQLAlchemy 2.1 with psycopg2 / psycopg 3, pandas 3.1, Grafana) ----
PSQL_DT = 'SELECT n.nspname as "Schema",\n  c.relname as "Name",\n  CASE c.relkind WHEN \'r\' THEN \'table\' WHEN \'v\' THEN \'view\' WHEN \'m\' THEN \'materialized view\' WHEN \'i\' THEN \'index\' WHEN \'S\' THEN \'sequence\' WHEN \'t\' THEN \'TOAST table\' WHEN \'f\' THEN \'foreign table\' WHEN \'p\' THEN \'partitioned table\' WHEN \'I\' THEN \'partitioned index\' END as "Type",\n  pg_catalog.pg_get_userbyid(c.relowner) as "Owner"\nFROM pg_catalog.pg_class c\n     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam\nWHERE c.relkind IN (\'r\',\'p\',\'\')\n      AND n.nspname <> \'pg_catalog\'\n      AND n.nspname !~ \'^pg_toast\'\n      AND n.nspname <> \'information_schema\'\n  AND pg_catalog.pg_table_is_visible(c.oid)\nORDER BY 1,2;'
PSQL_D_LOOKUP = "SELECT c.oid,\n  n.nspname,\n  c.relname\nFROM pg_catalog.pg_class c\n     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\nWHERE c.relname OPERATOR(pg_catalog.~) '^(trips)$' COLLATE pg_catalog.default\n  AND pg_catalog.pg_table_is_visible(c.oid)\nORDER BY 2, 3;"
PSQL_D_TABLE = "SELECT c.relchecks, c.relkind, c.relhasindex, c.relhasrules, c.relhastriggers, c.relrowsecurity, c.relforcerowsecurity, false AS relhasoids, c.relispartition, '', c.reltablespace, CASE WHEN c.reloftype = 0 THEN '' ELSE c.reloftype::pg_catalog.regtype::pg_catalog.text END, c.relpersistence, c.relreplident, am.amname\nFROM pg_catalog.pg_class c\n LEFT JOIN pg_catalog.pg_class tc ON (c.reltoastrelid = tc.oid)\nLEFT JOIN pg_catalog.pg_am am ON (c.relam = am.oid)\nWHERE c.oid = '16385';"
PSQL_D_COLUMNS = "SELECT a.attname,\n  pg_catalog.format_type(a.atttypid, a.atttypmod),\n  (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true)\n   FROM pg_catalog.pg_attrdef d\n   WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef),\n  a.attnotnull,\n  (SELECT c.collname FROM pg_catalog.pg_collation c, pg_catalog.pg_type t\n   WHERE c.oid = a.attcollation AND t.oid = a.atttypid AND a.attcollation <> t.typcollation) AS attcollation,\n  a.attidentity,\n  a.attgenerated\nFROM pg_catalog.pg_attribute a\nWHERE a.attrelid = '16385' AND a.attnum > 0 AND NOT a.attisdropped\nORDER BY a.attnum;"
PSQL_D_POLICIES = "SELECT pol.polname, pol.polpermissive,\n  CASE WHEN pol.polroles = '{0}' THEN NULL ELSE pg_catalog.array_to_string(array(select rolname from pg_catalog.pg_roles where oid = any (pol.polroles) order by 1),',') END,\n  pg_catalog.pg_get_expr(pol.polqual, pol.polrelid),\n  pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid),\n  CASE pol.polcmd\n    WHEN 'r' THEN 'SELECT'\n    WHEN 'a' THEN 'INSERT'\n    WHEN 'w' THEN 'UPDATE'\n    WHEN 'd' THEN 'DELETE'\n    END AS cmd\nFROM pg_catalog.pg_policy pol\nWHERE pol.polrelid = '16385' ORDER BY 1;"
PSQL_D_STATISTICS = "SELECT oid, stxrelid::pg_catalog.regclass, stxnamespace::pg_catalog.regnamespace::pg_catalog.text AS nsp, stxname,\npg_catalog.pg_get_statisticsobjdef_columns(oid) AS columns,\n  'd' = any(stxkind) AS ndist_enabled,\n  'f' = any(stxkind) AS deps_enabled,\n  'm' = any(stxkind) AS mcv_enabled,\nstxstattarget\nFROM pg_catalog.pg_statistic_ext\nWHERE stxrelid = '16385'\nORDER BY nsp, stxname;"
PSQL_D_PUBLICATIONS = "SELECT pubname\n     , NULL\n     , NULL\nFROM pg_catalog.pg_publication p\n     JOIN pg_catalog.pg_publication_namespace pn ON p.oid = pn.pnpubid\n     JOIN pg_catalog.pg_class pc ON pc.relnamespace = pn.pnnspid\nWHERE pc.oid ='16385' and pg_catalog.pg_relation_is_publishable('16385')\nUNION\nSELECT pubname\n     , pg_get_expr(pr.prqual, c.oid)\n     , (CASE WHEN pr.prattrs IS NOT NULL THEN\n         (SELECT string_agg(attname, ', ')\n           FROM pg_catalog.generate_series(0, pg_catalog.array_upper(pr.prattrs::pg_catalog.int2[], 1)) s,\n                pg_catalog.pg_attribute\n          WHERE attrelid = pr.prrelid AND attnum = prattrs[s])\n        ELSE NULL END) FROM pg_catalog.pg_publication p\n     JOIN pg_catalog.pg_publication_rel pr ON p.oid = pr.prpubid\n     JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid\nWHERE pr.prrelid = '16385'\nUNION\nSELECT pubname\n     , NULL\n     , NULL\nFROM pg_catalog.pg_publication p\nWHERE p.puballtables AND pg_catalog.pg_relation_is_publishable('16385')\nORDER BY 1;"
PSQL_D_PARENTS = "SELECT c.oid::pg_catalog.regclass\nFROM pg_catalog.pg_class c, pg_catalog.pg_inherits i\nWHERE c.oid = i.inhparent AND i.inhrelid = '16385'\n  AND c.relkind != 'p' AND c.relkind != 'I'\nORDER BY inhseqno;"
PSQL_D_CHILDREN = "SELECT c.oid::pg_catalog.regclass, c.relkind, inhdetachpending, pg_catalog.pg_get_expr(c.relpartbound, c.oid)\nFROM pg_catalog.pg_class c, pg_catalog.pg_inherits i\nWHERE c.oid = i.inhrelid AND i.inhparent = '16385'\nORDER BY pg_catalog.pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT', c.oid::pg_catalog.regclass::pg_catalog.text;"
PSQL_L = 'SELECT d.datname as "Name",\n       pg_catalog.pg_get_userbyid(d.datdba) as "Owner",\n       pg_catalog.pg_encoding_to_char(d.encoding) as "Encoding",\n       d.datcollate as "Collate",\n       d.datctype as "Ctype",\n       d.daticulocale as "ICU Locale",\n       CASE d.datlocprovider WHEN \'c\' THEN \'libc\' WHEN \'i\' THEN \'icu\' END AS "Locale Provider",\n       pg_catalog.array_to_string(d.datacl, E\'\\n\') AS "Access privileges"\nFROM pg_catalog.pg_database d\nORDER BY 1;'
PSQL_DN = 'SELECT n.nspname AS "Name",\n  pg_catalog.pg_get_userbyid(n.nspowner) AS "Owner"\nFROM pg_catalog.pg_namespace n\nWHERE n.nspname !~ \'^pg_\' AND n.nspname <> \'information_schema\'\nORDER BY 1;'
SQLA_TABLE_NAMES = "SELECT pg_catalog.pg_class.relname \nFROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace \nWHERE pg_catalog.pg_class.relkind = ANY (ARRAY['r', 'p']) AND pg_catalog.pg_class.relpersistence != 't' AND pg_catalog.pg_table_is_visible(pg_catalog.pg_class.oid) AND pg_catalog.pg_namespace.nspname != 'pg_catalog'"
SQLA_HAS_TABLE = "SELECT pg_catalog.pg_class.relname \nFROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace \nWHERE pg_catalog.pg_class.relname IN ('trips') AND pg_catalog.pg_class.relkind = ANY (ARRAY['r', 'p', 'f', 'v', 'm']) AND pg_catalog.pg_table_is_visible(pg_catalog.pg_class.oid) AND pg_catalog.pg_namespace.nspname != 'pg_catalog'"
SQLA_COLUMNS = 'SELECT pg_catalog.pg_attribute.attname AS name, pg_catalog.format_type(pg_catalog.pg_attribute.atttypid, pg_catalog.pg_attribute.atttypmod) AS format_type, CASE WHEN pg_catalog.pg_attribute.atthasdef THEN (SELECT pg_catalog.pg_get_expr(pg_catalog.pg_attrdef.adbin, pg_catalog.pg_attrdef.adrelid) AS pg_get_expr_1 \nFROM pg_catalog.pg_attrdef \nWHERE pg_catalog.pg_attribute.atthasdef AND pg_catalog.pg_attrdef.adrelid = pg_catalog.pg_attribute.attrelid AND pg_catalog.pg_attrdef.adnum = pg_catalog.pg_attribute.attnum) ELSE NULL END AS "default", pg_catalog.pg_attribute.attnotnull AS not_null, pg_catalog.pg_class.relname AS table_name, pg_catalog.pg_description.description AS comment, pg_catalog.pg_attribute.attgenerated AS generated, CASE WHEN (pg_catalog.pg_attribute.attidentity != \'\') THEN (SELECT json_build_object(\'always\', pg_catalog.pg_attribute.attidentity = \'a\', \'start\', pg_catalog.pg_sequence.seqstart, \'increment\', pg_catalog.pg_sequence.seqincrement, \'minvalue\', pg_catalog.pg_sequence.seqmin, \'maxvalue\', pg_catalog.pg_sequence.seqmax, \'cache\', pg_catalog.pg_sequence.seqcache, \'cycle\', pg_catalog.pg_sequence.seqcycle) AS json_build_object_1 \nFROM pg_catalog.pg_sequence \nWHERE pg_catalog.pg_attribute.attidentity != \'\' AND pg_catalog.pg_sequence.seqrelid = CAST(CAST(pg_catalog.pg_get_serial_sequence(CAST(CAST(pg_catalog.pg_attribute.attrelid AS REGCLASS) AS TEXT), pg_catalog.pg_attribute.attname) AS REGCLASS) AS OID)) ELSE NULL END AS identity_options, CASE WHEN (pg_catalog.pg_attribute.attcollation != 0 AND (SELECT pg_catalog.pg_type.typcollation \nFROM pg_catalog.pg_type \nWHERE pg_catalog.pg_type.oid = pg_catalog.pg_attribute.atttypid) != pg_catalog.pg_attribute.attcollation) THEN (SELECT json_build_object(\'name\', pg_catalog.pg_collation.collname, \'schema\', CASE WHEN pg_catalog.pg_collation_is_visible(pg_catalog.pg_collation.oid) THEN NULL ELSE pg_catalog.pg_namespace.nspname END) AS json_build_object_9 \nFROM pg_catalog.pg_collation JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_collation.collnamespace \nWHERE pg_catalog.pg_collation.oid = pg_catalog.pg_attribute.attcollation) ELSE NULL END AS collation \nFROM pg_catalog.pg_class LEFT OUTER JOIN pg_catalog.pg_attribute ON pg_catalog.pg_class.oid = pg_catalog.pg_attribute.attrelid AND pg_catalog.pg_attribute.attnum > 0 AND NOT pg_catalog.pg_attribute.attisdropped LEFT OUTER JOIN pg_catalog.pg_description ON pg_catalog.pg_description.objoid = pg_catalog.pg_attribute.attrelid AND pg_catalog.pg_description.objsubid = pg_catalog.pg_attribute.attnum JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace \nWHERE pg_catalog.pg_class.relkind = ANY (ARRAY[\'r\', \'p\', \'f\', \'v\', \'m\']) AND pg_catalog.pg_table_is_visible(pg_catalog.pg_class.oid) AND pg_catalog.pg_namespace.nspname != \'pg_catalog\' AND pg_catalog.pg_class.relname IN (\'trips\') ORDER BY pg_catalog.pg_class.relname, pg_catalog.pg_attribute.attnum'
SQLA_PSYCOPG_COLUMNS = 'SELECT pg_catalog.pg_attribute.attname AS name, pg_catalog.format_type(pg_catalog.pg_attribute.atttypid, pg_catalog.pg_attribute.atttypmod) AS format_type, CASE WHEN pg_catalog.pg_attribute.atthasdef THEN (SELECT pg_catalog.pg_get_expr(pg_catalog.pg_attrdef.adbin, pg_catalog.pg_attrdef.adrelid) AS pg_get_expr_1 \nFROM pg_catalog.pg_attrdef \nWHERE pg_catalog.pg_attribute.atthasdef AND pg_catalog.pg_attrdef.adrelid = pg_catalog.pg_attribute.attrelid AND pg_catalog.pg_attrdef.adnum = pg_catalog.pg_attribute.attnum) ELSE NULL END AS "default", pg_catalog.pg_attribute.attnotnull AS not_null, pg_catalog.pg_class.relname AS table_name, pg_catalog.pg_description.description AS comment, pg_catalog.pg_attribute.attgenerated AS generated, CASE WHEN (pg_catalog.pg_attribute.attidentity != \'\'::VARCHAR) THEN (SELECT json_build_object(\'always\'::VARCHAR, pg_catalog.pg_attribute.attidentity = \'a\'::VARCHAR, \'start\'::VARCHAR, pg_catalog.pg_sequence.seqstart, \'increment\'::VARCHAR, pg_catalog.pg_sequence.seqincrement, \'minvalue\'::VARCHAR, pg_catalog.pg_sequence.seqmin, \'maxvalue\'::VARCHAR, pg_catalog.pg_sequence.seqmax, \'cache\'::VARCHAR, pg_catalog.pg_sequence.seqcache, \'cycle\'::VARCHAR, pg_catalog.pg_sequence.seqcycle) AS json_build_object_1 \nFROM pg_catalog.pg_sequence \nWHERE pg_catalog.pg_attribute.attidentity != \'\'::VARCHAR AND pg_catalog.pg_sequence.seqrelid = CAST(CAST(pg_catalog.pg_get_serial_sequence(CAST(CAST(pg_catalog.pg_attribute.attrelid AS REGCLASS) AS TEXT), pg_catalog.pg_attribute.attname) AS REGCLASS) AS OID)) ELSE NULL END AS identity_options, CASE WHEN (pg_catalog.pg_attribute.attcollation != 0::INTEGER AND (SELECT pg_catalog.pg_type.typcollation \nFROM pg_catalog.pg_type \nWHERE pg_catalog.pg_type.oid = pg_catalog.pg_attribute.atttypid) != pg_catalog.pg_attribute.attcollation) THEN (SELECT json_build_object(\'name\'::VARCHAR, pg_catalog.pg_collation.collname, \'schema\'::VARCHAR, CASE WHEN pg_catalog.pg_collation_is_visible(pg_catalog.pg_collation.oid) THEN NULL ELSE pg_catalog.pg_namespace.nspname END) AS json_build_object_9 \nFROM pg_catalog.pg_collation JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_collation.collnamespace \nWHERE pg_catalog.pg_collation.oid = pg_catalog.pg_attribute.attcollation) ELSE NULL END AS collation \nFROM pg_catalog.pg_class LEFT OUTER JOIN pg_catalog.pg_attribute ON pg_catalog.pg_class.oid = pg_catalog.pg_attribute.attrelid AND pg_catalog.pg_attribute.attnum > 0::SMALLINT AND NOT pg_catalog.pg_attribute.attisdropped LEFT OUTER JOIN pg_catalog.pg_description ON pg_catalog.pg_description.objoid = pg_catalog.pg_attribute.attrelid AND pg_catalog.pg_description.objsubid = pg_catalog.pg_attribute.attnum JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace \nWHERE pg_catalog.pg_class.relkind = ANY (ARRAY[\'r\'::VARCHAR, \'p\'::VARCHAR, \'f\'::VARCHAR, \'v\'::VARCHAR, \'m\'::VARCHAR]) AND pg_catalog.pg_table_is_visible(pg_catalog.pg_class.oid) AND pg_catalog.pg_namespace.nspname != \'pg_catalog\'::VARCHAR AND pg_catalog.pg_class.relname IN (\'trips\'::VARCHAR) ORDER BY pg_catalog.pg_class.relname, pg_catalog.pg_attribute.attnum'
SQLA_HSTORE_PSYCOPG = "SELECT\n    typname AS name, oid, typarray AS array_oid,\n    oid::regtype::text AS regtype, typdelim AS delimiter\nFROM pg_type t\nWHERE t.oid = to_regtype('hstore')\nORDER BY t.oid\n"
SQLA_HSTORE_PSYCOPG2 = "SELECT t.oid, typarray\nFROM pg_type t JOIN pg_namespace ns\n    ON typnamespace = ns.oid\nWHERE typname = 'hstore';\n"
PANDAS_HAS_TABLE_SQL = "SELECT pg_catalog.pg_class.relname \nFROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace \nWHERE pg_catalog.pg_class.relname IN ('SELECT * FROM trips LIMIT 10') AND pg_catalog.pg_class.relkind = ANY (ARRAY['r', 'p', 'f', 'v', 'm']) AND pg_catalog.pg_table_is_visible(pg_catalog.pg_class.oid) AND pg_catalog.pg_namespace.nspname != 'pg_catalog'"
PANDAS_PRIMARY_KEY = "SELECT attr.conrelid, array_agg(CAST(attr.attname AS TEXT) ORDER BY attr.ord) AS cols, attr.conname, min(attr.description) AS description, min(attr.indnkeyatts) AS indnkeyatts, bool_and(attr.indnullsnotdistinct) AS indnullsnotdistinct \nFROM (SELECT con.conrelid AS conrelid, con.conname AS conname, con.description AS description, con.ord AS ord, con.indnkeyatts AS indnkeyatts, con.indnullsnotdistinct AS indnullsnotdistinct, pg_catalog.pg_attribute.attname AS attname \nFROM pg_catalog.pg_attribute JOIN (SELECT pg_catalog.pg_constraint.conrelid AS conrelid, pg_catalog.pg_constraint.conname AS conname, unnest(pg_catalog.pg_index.indkey) AS attnum, generate_subscripts(pg_catalog.pg_index.indkey, 1::INTEGER) AS ord, pg_catalog.pg_index.indnkeyatts AS indnkeyatts, pg_catalog.pg_index.indnullsnotdistinct AS indnullsnotdistinct, pg_catalog.pg_description.description AS description \nFROM pg_catalog.pg_constraint JOIN pg_catalog.pg_index ON pg_catalog.pg_constraint.conindid = pg_catalog.pg_index.indexrelid LEFT OUTER JOIN pg_catalog.pg_description ON pg_catalog.pg_description.objoid = pg_catalog.pg_constraint.oid AND pg_catalog.pg_description.classoid = CAST('pg_catalog.pg_constraint' AS REGCLASS) \nWHERE pg_catalog.pg_constraint.contype = 'p'::VARCHAR AND pg_catalog.pg_constraint.conrelid IN (16385)) AS con ON pg_catalog.pg_attribute.attnum = con.attnum AND pg_catalog.pg_attribute.attrelid = con.conrelid \nWHERE con.conrelid IN (16385)) AS attr GROUP BY attr.conrelid, attr.conname ORDER BY attr.conrelid, attr.conname"
PANDAS_INDEXES = "SELECT pg_catalog.pg_index.indrelid, pg_catalog.pg_class.relname, pg_catalog.pg_index.indisunique, pg_catalog.pg_index.indisvalid, pg_catalog.pg_constraint.conrelid IS NOT NULL AS has_constraint, pg_catalog.pg_index.indoption, pg_catalog.pg_class.reloptions, pg_catalog.pg_class.relam, CASE WHEN (pg_catalog.pg_index.indpred IS NOT NULL) THEN pg_catalog.pg_get_expr(pg_catalog.pg_index.indpred, pg_catalog.pg_index.indrelid) END AS filter_definition, pg_catalog.pg_index.indnkeyatts, pg_catalog.pg_index.indnullsnotdistinct, idx_cols.elements, idx_cols.elements_is_expr, idx_cols.elements_opclass \nFROM pg_catalog.pg_index JOIN pg_catalog.pg_class ON pg_catalog.pg_index.indexrelid = pg_catalog.pg_class.oid LEFT OUTER JOIN (SELECT idx_attr.indexrelid AS indexrelid, min(idx_attr.indrelid) AS min_1, array_agg(idx_attr.element ORDER BY idx_attr.ord) AS elements, array_agg(idx_attr.is_expr ORDER BY idx_attr.ord) AS elements_is_expr, array_agg(idx_attr.att_opclass ORDER BY idx_attr.ord) AS elements_opclass \nFROM (SELECT idx.indexrelid AS indexrelid, idx.indrelid AS indrelid, idx.ord AS ord, CASE WHEN (idx.attnum = 0::INTEGER) THEN pg_catalog.pg_get_indexdef(idx.indexrelid, idx.ord + 1::INTEGER, '\x01') ELSE CAST(pg_catalog.pg_attribute.attname AS TEXT) END AS element, idx.attnum = 0::INTEGER AS is_expr, CAST(idx.att_opclass AS BIGINT) AS att_opclass \nFROM (SELECT pg_catalog.pg_index.indexrelid AS indexrelid, pg_catalog.pg_index.indrelid AS indrelid, unnest(pg_catalog.pg_index.indkey) AS attnum, unnest(pg_catalog.pg_index.indclass) AS att_opclass, generate_subscripts(pg_catalog.pg_index.indkey, 1::INTEGER) AS ord \nFROM pg_catalog.pg_index \nWHERE NOT pg_catalog.pg_index.indisprimary AND pg_catalog.pg_index.indrelid IN (16385)) AS idx LEFT OUTER JOIN pg_catalog.pg_attribute ON pg_catalog.pg_attribute.attnum = idx.attnum AND pg_catalog.pg_attribute.attrelid = idx.indrelid \nWHERE idx.indrelid IN (16385)) AS idx_attr GROUP BY idx_attr.indexrelid) AS idx_cols ON pg_catalog.pg_index.indexrelid = idx_cols.indexrelid LEFT OUTER JOIN pg_catalog.pg_constraint ON pg_catalog.pg_index.indrelid = pg_catalog.pg_constraint.conrelid AND pg_catalog.pg_index.indexrelid = pg_catalog.pg_constraint.conindid AND pg_catalog.pg_constraint.contype = ANY (ARRAY['p'::VARCHAR, 'u'::VARCHAR, 'x'::VARCHAR]) \nWHERE pg_catalog.pg_index.indrelid IN (16385) AND NOT pg_catalog.pg_index.indisprimary ORDER BY pg_catalog.pg_index.indrelid, pg_catalog.pg_class.relname"
PANDAS_TABLE_OPTIONS = "SELECT pg_catalog.pg_class.oid, pg_catalog.pg_class.relname, pg_catalog.pg_class.reloptions, NULL AS relhasoids, CASE WHEN (pg_catalog.pg_am.amname IS NOT NULL AND pg_catalog.pg_am.amname != current_setting('default_table_access_method'::VARCHAR)) THEN pg_catalog.pg_am.amname ELSE NULL END AS access_method_name, pg_catalog.pg_tablespace.spcname AS tablespace_name, inherits.parent_table_names \nFROM pg_catalog.pg_class LEFT OUTER JOIN pg_catalog.pg_am ON pg_catalog.pg_class.relam = pg_catalog.pg_am.oid LEFT OUTER JOIN (SELECT pg_catalog.pg_inherits.inhrelid AS inhrelid, array_agg(pg_catalog.pg_class.relname ORDER BY pg_catalog.pg_inherits.inhseqno) AS parent_table_names \nFROM pg_catalog.pg_inherits JOIN pg_catalog.pg_class ON pg_catalog.pg_inherits.inhparent = pg_catalog.pg_class.oid GROUP BY pg_catalog.pg_inherits.inhrelid) AS inherits ON pg_catalog.pg_class.oid = inherits.inhrelid LEFT OUTER JOIN pg_catalog.pg_tablespace ON pg_catalog.pg_tablespace.oid = pg_catalog.pg_class.reltablespace JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace \nWHERE pg_catalog.pg_class.relkind = ANY (ARRAY['r'::VARCHAR, 'p'::VARCHAR, 'f'::VARCHAR, 'v'::VARCHAR, 'm'::VARCHAR]) AND pg_catalog.pg_table_is_visible(pg_catalog.pg_class.oid) AND pg_catalog.pg_namespace.nspname != 'pg_catalog'::VARCHAR AND pg_catalog.pg_class.relname IN ('trips'::VARCHAR)"
GRAFANA_TABLES = 'select quote_ident(table_name) as "table" from information_schema.tables where quote_ident(table_schema) not in (\'information_schema\', \'pg_catalog\', \'_timescaledb_cache\', \'_timescaledb_catalog\', \'_timescaledb_internal\', \'_timescaledb_config\', \'timescaledb_information\', \'timescaledb_experimental\') and table_type = \'BASE TABLE\' and quote_ident(table_schema) IN (select quote_ident(unnest(current_schemas(false))))'
GRAFANA_COLUMNS = 'select quote_ident(column_name) as "column", data_type as "type" from information_schema.columns where quote_ident(table_name) = \'trips\''

TRIPS = (
    b"trips,hvfhs_license_num=HV0003,dispatching_base_num=B03404 trip_miles=2.5,trip_time=600i,"
    b'base_passenger_fare=12.3,shared_request_flag="N",wav=true 1700000000000000000\n'
    b"cpu,host=a,region=eu usage=1.5 1700000000000000000"
)
TRIPS_COLUMNS = [
    ("time", "timestamp with time zone"),
    ("dispatching_base_num", "text"),
    ("hvfhs_license_num", "text"),
    ("base_passenger_fare", "double precision"),
    ("shared_request_flag", "text"),
    ("trip_miles", "double precision"),
    ("trip_time", "bigint"),
    ("wav", "boolean"),
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorageEngine]:
    options = EngineOptions(str(tmp_path_factory.mktemp("catalog")), memtable_max_age_secs=10**6)
    engine = StorageEngine.open(options, engine_parser)
    assert engine.write_line_protocol(TRIPS).errors == []
    yield engine
    engine.close()


@pytest.fixture
def session() -> Session:
    return Session("postgres", "rusts", {"application_name": "psql"})


def ask(engine: StorageEngine, session: Session, sql: str) -> CatalogResult:
    result = answer(engine, sql, session)
    assert result is not None, sql
    return result


def names(result: CatalogResult) -> list[str]:
    return [name for name, _oid in result.columns]


def with_oid(sql: str, engine: StorageEngine) -> str:
    """psql's follow-up queries name the table by the oid its lookup returned (16385 in the capture)."""
    return sql.replace("'16385'", f"'{relation_oid('trips')}'")


def test_rusts_statements_are_not_answered_here(engine: StorageEngine, session: Session) -> None:
    for sql in (
        "SELECT * FROM trips LIMIT 10",
        "SELECT COUNT(*) FROM trips GROUP BY hvfhs_license_num",
        "SHOW TABLES",
        "show measurements",
        "SHOW TAG KEYS FROM trips",
        "SHOW FIELD KEYS FROM trips",
        "DESCRIBE trips",
        "INSERT INTO trips (time, trip_miles) VALUES (1, 2.0)",
        "DROP TABLE trips",
        "SELECT trips.time, trips.hvfhs_license_num FROM trips",
        "SELECT nope FROM trips",
    ):
        assert answer(engine, sql, session) is None, sql


def test_connect_questions_of_sqlalchemy(engine: StorageEngine, session: Session) -> None:
    version = ask(engine, session, "select pg_catalog.version()")
    assert version.columns == [("version", t.TEXT)] and version.tag == "SELECT 1"
    text = version.rows[0][0]
    assert isinstance(text, str) and text.startswith("PostgreSQL 15.0 ") and "RusTs" in text
    assert ask(engine, session, "SELECT version()").columns == [("version", t.TEXT)]
    assert ask(engine, session, "select current_schema()").rows == [["public"]]
    assert ask(engine, session, "select current_schema()").columns == [("current_schema", t.NAME)]
    isolation = ask(engine, session, "show transaction isolation level")
    assert (isolation.columns, isolation.rows, isolation.tag) == ([("transaction_isolation", t.TEXT)], [["read committed"]], "SHOW")
    assert ask(engine, session, "show standard_conforming_strings").rows == [["on"]]


def test_hstore_lookups_find_nothing(engine: StorageEngine, session: Session) -> None:
    psycopg = ask(engine, session, SQLA_HSTORE_PSYCOPG)
    assert psycopg.columns == [("name", t.NAME), ("oid", t.OID), ("array_oid", t.OID), ("regtype", t.TEXT), ("delimiter", t.CHAR)]
    assert psycopg.rows == [] and psycopg.tag == "SELECT 0"
    psycopg2 = ask(engine, session, SQLA_HSTORE_PSYCOPG2)
    assert psycopg2.columns == [("oid", t.OID), ("typarray", t.OID)] and psycopg2.rows == []
    both = ask(engine, session, "SELECT to_regtype('hstore'), to_regtype('int8')")
    assert both.columns == [("to_regtype", t.REGTYPE)] * 2 and both.rows == [[None, "bigint"]]


def test_sqlalchemy_inspector(engine: StorageEngine, session: Session) -> None:
    tables = ask(engine, session, SQLA_TABLE_NAMES)
    assert tables.columns == [("relname", t.NAME)]
    assert sorted(row[0] for row in tables.rows) == ["cpu", "trips"]
    assert ask(engine, session, SQLA_HAS_TABLE).rows == [["trips"]]
    assert ask(engine, session, SQLA_HAS_TABLE.replace("('trips')", "('nope')")).rows == []
    for query in (SQLA_COLUMNS, SQLA_PSYCOPG_COLUMNS):
        columns = ask(engine, session, query)
        assert names(columns) == ["name", "format_type", "default", "not_null", "table_name", "comment", "generated", "identity_options", "collation"]
        assert [c[1] for c in columns.columns] == [t.NAME, t.TEXT, t.TEXT, t.BOOL, t.NAME, t.TEXT, t.CHAR, t.JSON, t.JSON]
        assert [(row[0], row[1]) for row in columns.rows] == TRIPS_COLUMNS
        assert columns.rows[0] == ["time", "timestamp with time zone", None, False, "trips", None, "", None, None]


def test_pandas_read_sql_looks_the_query_up_as_a_table_and_finds_nothing(engine: StorageEngine, session: Session) -> None:
    result = ask(engine, session, PANDAS_HAS_TABLE_SQL)
    assert result.columns == [("relname", t.NAME)] and result.rows == []


def test_pandas_reflection_of_a_table(engine: StorageEngine, session: Session) -> None:
    primary = ask(engine, session, PANDAS_PRIMARY_KEY.replace("16385", str(relation_oid("trips"))))
    assert names(primary) == ["conrelid", "cols", "conname", "description", "indnkeyatts", "indnullsnotdistinct"]
    assert primary.columns[1] == ("cols", t.TEXT_ARRAY) and primary.rows == []
    indexes = ask(engine, session, PANDAS_INDEXES.replace("16385", str(relation_oid("trips"))))
    assert len(indexes.columns) == 14 and indexes.rows == []
    options = ask(engine, session, PANDAS_TABLE_OPTIONS)
    assert names(options) == ["oid", "relname", "reloptions", "relhasoids", "access_method_name", "tablespace_name", "parent_table_names"]
    assert options.rows == [[relation_oid("trips"), "trips", None, None, None, None, None]]


def test_psql_dt(engine: StorageEngine, session: Session) -> None:
    result = ask(engine, session, PSQL_DT)
    assert result.columns == [("Schema", t.NAME), ("Name", t.NAME), ("Type", t.TEXT), ("Owner", t.NAME)]
    assert result.rows == [["public", "cpu", "table", "postgres"], ["public", "trips", "table", "postgres"]]


def test_psql_describe_table(engine: StorageEngine, session: Session) -> None:
    lookup = ask(engine, session, PSQL_D_LOOKUP)
    assert lookup.columns == [("oid", t.OID), ("nspname", t.NAME), ("relname", t.NAME)]
    assert lookup.rows == [[relation_oid("trips"), "public", "trips"]]
    assert ask(engine, session, PSQL_D_LOOKUP.replace("^(trips)$", "^(nope)$")).rows == []
    table = ask(engine, session, with_oid(PSQL_D_TABLE, engine))
    assert names(table)[-4:] == ["reloftype", "relpersistence", "relreplident", "amname"]
    assert table.rows == [[0, "r", False, False, False, False, False, False, False, "", 0, "", "p", "d", "heap"]]
    columns = ask(engine, session, with_oid(PSQL_D_COLUMNS, engine))
    assert names(columns) == ["attname", "format_type", "pg_get_expr", "attnotnull", "attcollation", "attidentity", "attgenerated"]
    assert [(row[0], row[1]) for row in columns.rows] == TRIPS_COLUMNS
    assert columns.rows[1] == ["dispatching_base_num", "text", None, False, None, "", ""]
    expected = {
        PSQL_D_POLICIES: ["polname", "polpermissive", "array_to_string", "pg_get_expr", "pg_get_expr", "cmd"],
        PSQL_D_STATISTICS: ["oid", "stxrelid", "nsp", "stxname", "columns", "ndist_enabled", "deps_enabled", "mcv_enabled", "stxstattarget"],
        PSQL_D_PUBLICATIONS: ["pubname", "?column?", "?column?"],
        PSQL_D_PARENTS: ["oid"],
        PSQL_D_CHILDREN: ["oid", "relkind", "inhdetachpending", "pg_get_expr"],
    }
    for sql, columns_expected in expected.items():
        result = ask(engine, session, with_oid(sql, engine))
        assert names(result) == columns_expected and result.rows == [], sql
    assert ask(engine, session, with_oid(PSQL_D_PARENTS, engine)).columns == [("oid", t.REGCLASS)]


def test_psql_list_databases_and_schemas(engine: StorageEngine, session: Session) -> None:
    databases = ask(engine, session, PSQL_L)
    assert names(databases) == ["Name", "Owner", "Encoding", "Collate", "Ctype", "ICU Locale", "Locale Provider", "Access privileges"]
    assert databases.rows == [["rusts", "postgres", "UTF8", "C.UTF-8", "C.UTF-8", None, "libc", None]]
    schemas = ask(engine, session, PSQL_DN)
    assert schemas.columns == [("Name", t.NAME), ("Owner", t.NAME)] and [r[0] for r in schemas.rows] == ["public"]


def test_grafana_pickers(engine: StorageEngine, session: Session) -> None:
    tables = ask(engine, session, GRAFANA_TABLES)
    assert tables.columns == [("table", t.TEXT)] and sorted(r[0] for r in tables.rows) == ["cpu", "trips"]
    columns = ask(engine, session, GRAFANA_COLUMNS)
    assert columns.columns == [("column", t.TEXT), ("type", t.VARCHAR)]
    # quote_ident quotes a keyword as PostgreSQL does, so Grafana writes "time" in the queries it builds
    assert [tuple(r) for r in columns.rows] == [('"time"', TRIPS_COLUMNS[0][1])] + TRIPS_COLUMNS[1:]
    ordered = ask(
        engine,
        session,
        "SELECT column_name, data_type, is_nullable, ordinal_position FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = 'cpu' ORDER BY ordinal_position DESC",
    )
    assert ordered.rows == [
        ["usage", "double precision", "YES", 4],
        ["region", "text", "YES", 3],
        ["host", "text", "YES", 2],
        ["time", "timestamp with time zone", "YES", 1],
    ]


def test_health_checks_and_constant_selects(engine: StorageEngine, session: Session) -> None:
    assert ask(engine, session, "SELECT 1").columns == [("?column?", t.INT4)]
    assert ask(engine, session, "SELECT 1").rows == [[1]]
    assert ask(engine, session, "select 1+1 AS two").rows == [[2]]
    assert ask(engine, session, "SELECT 'a' || 'b', true, NULL").rows == [["ab", True, None]]
    info = ask(engine, session, "SELECT current_database(), current_user, session_user, pg_backend_pid() > 0")
    assert info.columns == [("current_database", t.NAME), ("current_user", t.NAME), ("session_user", t.NAME), ("?column?", t.BOOL)]
    assert info.rows == [["rusts", "postgres", "postgres", True]]
    unlock = ask(engine, session, "SELECT pg_advisory_unlock_all()")
    assert unlock.columns == [("pg_advisory_unlock_all", t.VOID)] and unlock.rows == [[""]]
    # what the catalog does not know is left to rusts.sql (its functions; it names what it cannot answer)
    assert answer(engine, "SELECT no_such_function()", session) is None
    assert answer(engine, "SELECT round(2.5)", session) is None


def test_constant_arithmetic_is_typed_as_its_widest_side(engine: StorageEngine, session: Session) -> None:
    # declared int4 while the value was 7.0 made psycopg fail reading it; 1e3 was an internal error
    assert ask(engine, session, "SELECT 2 * 3.5").columns == [("?column?", t.NUMERIC)]
    assert ask(engine, session, "SELECT 1e3, 99999999999, 99999999999999999999").columns == [
        ("?column?", t.NUMERIC), ("?column?", t.INT8), ("?column?", t.NUMERIC)]
    assert ask(engine, session, "SELECT 2 + 3").columns == [("?column?", t.INT4)]


def test_now_as_text_and_division_by_zero(engine: StorageEngine, session: Session) -> None:
    text = ask(engine, session, "SELECT now()::text").rows[0][0]
    assert text.startswith("20") and text.endswith("+00")  # it was the epoch nanoseconds
    with pytest.raises(PgError) as error:
        ask(engine, session, "SELECT 1/0")
    assert (error.value.sqlstate, error.value.message) == ("22012", "division by zero")


def test_like_escape_in_catalog_queries(engine: StorageEngine, session: Session) -> None:
    # SQLAlchemy's get_schema_names: without ESCAPE this found no schema at all
    found = ask(engine, session, "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg/_' || '%' ESCAPE '/' ORDER BY nspname")
    assert [row[0] for row in found.rows] == ["information_schema", "public"]
    assert ask(engine, session, "SELECT 'a_c' LIKE 'a!_c' ESCAPE '!', 'abc' LIKE 'a!_c' ESCAPE '!'").rows == [[True, False]]


def test_asyncpg_pool_release_statements(engine: StorageEngine, session: Session) -> None:
    assert ask(engine, session, "CLOSE ALL").tag == "CLOSE CURSOR ALL"
    assert ask(engine, session, "UNLISTEN *").tag == "UNLISTEN"
    assert ask(engine, session, "LISTEN things").tag == "LISTEN"
    assert ask(engine, session, "RESET ALL").tag == "RESET"
    assert ask(engine, session, "DISCARD ALL").tag == "DISCARD ALL"


def test_set_show_reset(engine: StorageEngine, session: Session) -> None:
    assert session.reported()["application_name"] == "psql"
    changed = ask(engine, session, "SET application_name = 'grafana'")
    assert changed.tag == "SET" and changed.changed == ["application_name"] and changed.columns == []
    assert ask(engine, session, "SHOW application_name").rows == [["grafana"]]
    assert session.reported()["application_name"] == "grafana"
    assert ask(engine, session, "SET extra_float_digits TO 3").changed == []
    assert ask(engine, session, "select current_setting('extra_float_digits')").rows == [["3"]]
    assert ask(engine, session, "SET SESSION TIME ZONE 'UTC'").changed == ["TimeZone"]
    assert session.reported()["TimeZone"] == "UTC"
    assert ask(engine, session, "SET search_path TO public, \"$user\"").tag == "SET"
    assert ask(engine, session, "SHOW search_path").rows == [['public, "$user"']]
    assert ask(engine, session, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED").tag == "SET"
    reset = ask(engine, session, "RESET ALL")
    assert reset.changed == ["application_name"] and session.settings["extra_float_digits"] == "1"
    assert ask(engine, session, "SHOW application_name").rows == [["psql"]]


def test_set_config_reports_the_change(engine: StorageEngine, session: Session) -> None:
    result = ask(engine, session, "SELECT set_config('application_name', 'x', false)")
    assert result.rows == [["x"]] and result.changed == ["application_name"]


def test_unknown_settings_are_errors(engine: StorageEngine, session: Session) -> None:
    for sql in ("SHOW no_such_setting", "SET no_such_setting = 1", "SELECT current_setting('no_such_setting')"):
        with pytest.raises(PgError) as error:
            answer(engine, sql, session)
        assert error.value.sqlstate == "42704" and "no_such_setting" in error.value.message
    assert ask(engine, session, "SELECT current_setting('no_such_setting', true)").rows == [[None]]
    assert ask(engine, session, "SET myapp.flag = on").tag == "SET"


def test_show_all_and_pg_settings(engine: StorageEngine, session: Session) -> None:
    everything = ask(engine, session, "SHOW ALL")
    assert everything.columns == [("name", t.TEXT), ("setting", t.TEXT), ("description", t.TEXT)]
    assert ["server_version", "15.0"] in [row[:2] for row in everything.rows]
    result = ask(engine, session, "SELECT name, setting FROM pg_settings WHERE name = 'max_connections'")
    assert result.columns == [("name", t.TEXT), ("setting", t.TEXT)] and result.rows == [["max_connections", "100"]]


def test_session_from_asyncpg_startup() -> None:
    session = Session("bob", "metrics", {"client_encoding": "'utf-8'", "user": "bob", "database": "metrics"})
    reported = session.reported()
    assert reported["client_encoding"] == "UTF8"
    assert reported["server_version"] == "15.0" and reported["session_authorization"] == "bob"
    assert set(reported) >= {"server_encoding", "DateStyle", "TimeZone", "integer_datetimes", "standard_conforming_strings", "IntervalStyle", "is_superuser"}


def test_unknown_catalog_queries_answer_empty_with_their_columns(engine: StorageEngine, session: Session) -> None:
    result = ask(engine, session, "SELECT p.proname, p.oid, xmin FROM pg_catalog.pg_proc p WHERE p.pronamespace = 11")
    assert names(result) == ["proname", "oid", "xmin"] and result.rows == []
    odd = ask(engine, session, "SELECT c.relname, some_unknown_function(c.oid) AS f FROM pg_class c")
    assert odd.columns == [("relname", t.NAME), ("f", t.TEXT)] and odd.rows == []


def test_a_new_measurement_shows_up_at_once(tmp_path: Path, session: Session) -> None:
    engine = StorageEngine.open(EngineOptions(str(tmp_path), memtable_max_age_secs=10**6), engine_parser)
    try:
        assert ask(engine, session, SQLA_TABLE_NAMES).rows == []
        assert engine.write_line_protocol(b"weather,city=x temp=1.5 1").errors == []
        assert ask(engine, session, SQLA_TABLE_NAMES).rows == [["weather"]]
    finally:
        engine.close()

# ---- pgjdbc (DatabaseMetaData, ResultSetMetaData, TypeInfoCache), captured against PostgreSQL 15.18 ----

JDBC_FIELD_METADATA = "SELECT c.oid, a.attnum, a.attname, c.relname, n.nspname, a.attnotnull OR (t.typtype = 'd' AND t.typnotnull), a.attidentity != '' OR pg_catalog.pg_get_expr(d.adbin, d.adrelid) LIKE '%nextval(%' FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON (c.relnamespace = n.oid) JOIN pg_catalog.pg_attribute a ON (c.oid = a.attrelid) JOIN pg_catalog.pg_type t ON (a.atttypid = t.oid) LEFT JOIN pg_catalog.pg_attrdef d ON (d.adrelid = a.attrelid AND d.adnum = a.attnum) JOIN (SELECT 16385 AS oid , 1 AS attnum UNION ALL SELECT 16385, 2 UNION ALL SELECT 16385, 3 UNION ALL SELECT 16385, 4 UNION ALL SELECT 16385, 5 UNION ALL SELECT 16385, 6 UNION ALL SELECT 16385, 7 UNION ALL SELECT 16385, 8) vals ON (c.oid = vals.oid AND a.attnum = vals.attnum) "
JDBC_GET_TABLES = "SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, c.relname AS TABLE_NAME,  CASE n.nspname ~ '^pg_' OR n.nspname = 'information_schema'  WHEN true THEN CASE  WHEN n.nspname = 'pg_catalog' OR n.nspname = 'information_schema' THEN CASE c.relkind   WHEN 'r' THEN 'SYSTEM TABLE'   WHEN 'v' THEN 'SYSTEM VIEW'   WHEN 'i' THEN 'SYSTEM INDEX'   ELSE NULL   END  WHEN n.nspname = 'pg_toast' THEN CASE c.relkind   WHEN 'r' THEN 'SYSTEM TOAST TABLE'   WHEN 'i' THEN 'SYSTEM TOAST INDEX'   ELSE NULL   END  ELSE CASE c.relkind   WHEN 'r' THEN 'TEMPORARY TABLE'   WHEN 'p' THEN 'TEMPORARY TABLE'   WHEN 'i' THEN 'TEMPORARY INDEX'   WHEN 'S' THEN 'TEMPORARY SEQUENCE'   WHEN 'v' THEN 'TEMPORARY VIEW'   ELSE NULL   END  END  WHEN false THEN CASE c.relkind  WHEN 'r' THEN 'TABLE'  WHEN 'p' THEN 'PARTITIONED TABLE'  WHEN 'i' THEN 'INDEX'  WHEN 'P' then 'PARTITIONED INDEX'  WHEN 'S' THEN 'SEQUENCE'  WHEN 'v' THEN 'VIEW'  WHEN 'c' THEN 'TYPE'  WHEN 'f' THEN 'FOREIGN TABLE'  WHEN 'm' THEN 'MATERIALIZED VIEW'  ELSE NULL  END  ELSE NULL  END  AS TABLE_TYPE, d.description AS REMARKS,  '' as TYPE_CAT, '' as TYPE_SCHEM, '' as TYPE_NAME, '' AS SELF_REFERENCING_COL_NAME, '' AS REF_GENERATION  FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c  LEFT JOIN pg_catalog.pg_description d ON (c.oid = d.objoid AND d.objsubid = 0  and d.classoid = 'pg_class'::regclass)  WHERE c.relnamespace = n.oid  AND n.nspname LIKE 'public' AND c.relname LIKE '%' AND (false  OR ( c.relkind = 'r' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' ) )  ORDER BY TABLE_TYPE,TABLE_SCHEM,TABLE_NAME "
JDBC_GET_COLUMNS = "SELECT * FROM (SELECT n.nspname,c.relname,a.attname,a.atttypid,a.attnotnull OR (t.typtype = 'd' AND t.typnotnull) AS attnotnull,a.atttypmod,a.attlen,t.typtypmod,row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) AS attnum, nullif(a.attidentity, '') as attidentity,nullif(a.attgenerated, '') as attgenerated,pg_catalog.pg_get_expr(def.adbin, def.adrelid) AS adsrc,dsc.description,t.typbasetype,t.typtype  FROM pg_catalog.pg_namespace n  JOIN pg_catalog.pg_class c ON (c.relnamespace = n.oid)  JOIN pg_catalog.pg_attribute a ON (a.attrelid=c.oid)  JOIN pg_catalog.pg_type t ON (a.atttypid = t.oid)  LEFT JOIN pg_catalog.pg_attrdef def ON (a.attrelid=def.adrelid AND a.attnum = def.adnum)  LEFT JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)  LEFT JOIN pg_catalog.pg_class dc ON (dc.oid=dsc.classoid AND dc.relname='pg_class')  LEFT JOIN pg_catalog.pg_namespace dn ON (dc.relnamespace=dn.oid AND dn.nspname='pg_catalog')  WHERE c.relkind in ('r','p','v','f','m') and a.attnum > 0 AND NOT a.attisdropped  AND n.nspname LIKE 'public' AND c.relname LIKE 'trips') c WHERE true  AND attname LIKE '%' ORDER BY nspname,c.relname,attnum "
JDBC_GET_SCHEMAS = "SELECT nspname AS TABLE_SCHEM, NULL AS TABLE_CATALOG FROM pg_catalog.pg_namespace  WHERE nspname <> 'pg_toast' AND (nspname !~ '^pg_temp_'  OR nspname = (pg_catalog.current_schemas(true))[1]) AND (nspname !~ '^pg_toast_temp_'  OR nspname = replace((pg_catalog.current_schemas(true))[1], 'pg_temp_', 'pg_toast_temp_'))  ORDER BY TABLE_SCHEM"
JDBC_GET_PRIMARY_KEYS = "SELECT        result.TABLE_CAT,        result.TABLE_SCHEM,        result.TABLE_NAME,        result.COLUMN_NAME,        result.KEY_SEQ,        result.PK_NAME FROM      (SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM,   ct.relname AS TABLE_NAME, a.attname AS COLUMN_NAME,   (information_schema._pg_expandarray(i.indkey)).n AS KEY_SEQ, ci.relname AS PK_NAME,   information_schema._pg_expandarray(i.indkey) AS KEYS, a.attnum AS A_ATTNUM FROM pg_catalog.pg_class ct   JOIN pg_catalog.pg_attribute a ON (ct.oid = a.attrelid)   JOIN pg_catalog.pg_namespace n ON (ct.relnamespace = n.oid)   JOIN pg_catalog.pg_index i ON ( a.attrelid = i.indrelid)   JOIN pg_catalog.pg_class ci ON (ci.oid = i.indexrelid) WHERE true  AND n.nspname = 'public' AND ct.relname = 'trips' AND i.indisprimary  ) result where  result.A_ATTNUM = (result.KEYS).x  ORDER BY result.table_name, result.pk_name, result.key_seq"
JDBC_GET_INDEX_INFO = 'SELECT     tmp.TABLE_CAT,     tmp.TABLE_SCHEM,     tmp.TABLE_NAME,     tmp.NON_UNIQUE,     tmp.INDEX_QUALIFIER,     tmp.INDEX_NAME,     tmp.TYPE,     tmp.ORDINAL_POSITION,     trim(both \'"\' from pg_catalog.pg_get_indexdef(tmp.CI_OID, tmp.ORDINAL_POSITION, false)) AS COLUMN_NAME,   CASE tmp.AM_NAME     WHEN \'btree\' THEN CASE tmp.I_INDOPTION[tmp.ORDINAL_POSITION - 1] & 1::smallint       WHEN 1 THEN \'D\'       ELSE \'A\'     END     ELSE NULL   END AS ASC_OR_DESC,     tmp.CARDINALITY,     tmp.PAGES,     tmp.FILTER_CONDITION FROM (SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM,   ct.relname AS TABLE_NAME, NOT i.indisunique AS NON_UNIQUE,   NULL AS INDEX_QUALIFIER, ci.relname AS INDEX_NAME,   CASE i.indisclustered     WHEN true THEN 1    ELSE CASE am.amname       WHEN \'hash\' THEN 2      ELSE 3    END   END AS TYPE,   (information_schema._pg_expandarray(i.indkey)).n AS ORDINAL_POSITION,   ci.reltuples AS CARDINALITY,   ci.relpages AS PAGES,   pg_catalog.pg_get_expr(i.indpred, i.indrelid) AS FILTER_CONDITION,   ci.oid AS CI_OID,   i.indoption AS I_INDOPTION,   am.amname AS AM_NAME FROM pg_catalog.pg_class ct   JOIN pg_catalog.pg_namespace n ON (ct.relnamespace = n.oid)   JOIN pg_catalog.pg_index i ON (ct.oid = i.indrelid)   JOIN pg_catalog.pg_class ci ON (ci.oid = i.indexrelid)   JOIN pg_catalog.pg_am am ON (ci.relam = am.oid) WHERE true  AND n.nspname = \'public\' AND ct.relname = \'trips\') AS tmp ORDER BY NON_UNIQUE, TYPE, INDEX_NAME, ORDINAL_POSITION '
JDBC_GET_IMPORTED_KEYS = "SELECT NULL::text AS PKTABLE_CAT, pkn.nspname AS PKTABLE_SCHEM, pkc.relname AS PKTABLE_NAME, pka.attname AS PKCOLUMN_NAME, NULL::text AS FKTABLE_CAT, fkn.nspname AS FKTABLE_SCHEM, fkc.relname AS FKTABLE_NAME, fka.attname AS FKCOLUMN_NAME, pos.n AS KEY_SEQ, CASE con.confupdtype  WHEN 'c' THEN 0 WHEN 'n' THEN 2 WHEN 'd' THEN 4 WHEN 'r' THEN 1 WHEN 'p' THEN 1 WHEN 'a' THEN 3 ELSE NULL END AS UPDATE_RULE, CASE con.confdeltype  WHEN 'c' THEN 0 WHEN 'n' THEN 2 WHEN 'd' THEN 4 WHEN 'r' THEN 1 WHEN 'p' THEN 1 WHEN 'a' THEN 3 ELSE NULL END AS DELETE_RULE, con.conname AS FK_NAME, pkic.relname AS PK_NAME, CASE  WHEN con.condeferrable AND con.condeferred THEN 5 WHEN con.condeferrable THEN 6 ELSE 7 END AS DEFERRABILITY  FROM  pg_catalog.pg_namespace pkn, pg_catalog.pg_class pkc, pg_catalog.pg_attribute pka,  pg_catalog.pg_namespace fkn, pg_catalog.pg_class fkc, pg_catalog.pg_attribute fka,  pg_catalog.pg_constraint con,  pg_catalog.generate_series(1, 32) pos(n),  pg_catalog.pg_class pkic WHERE pkn.oid = pkc.relnamespace AND pkc.oid = pka.attrelid AND pka.attnum = con.confkey[pos.n] AND con.confrelid = pkc.oid  AND fkn.oid = fkc.relnamespace AND fkc.oid = fka.attrelid AND fka.attnum = con.conkey[pos.n] AND con.conrelid = fkc.oid  AND con.contype = 'f' AND (pkic.relkind = 'i' OR pkic.relkind = 'I') AND pkic.oid = con.conindid  AND fkn.nspname = 'public' AND fkc.relname = 'trips' ORDER BY pkn.nspname,pkc.relname, con.conname,pos.n"
JDBC_TYPE_INFO = "SELECT typinput='pg_catalog.array_in'::regproc as is_array, typtype, typname, pg_type.oid   FROM pg_catalog.pg_type   LEFT JOIN (select ns.oid as nspoid, ns.nspname, r.r           from pg_namespace as ns           join ( select s.r, (current_schemas(false))[s.r] as nspname                    from generate_series(1, array_upper(current_schemas(false), 1)) as s(r) ) as r          using ( nspname )        ) as sp     ON sp.nspoid = typnamespace  ORDER BY sp.r, pg_type.oid DESC"
JDBC_GET_FUNCTIONS = "SELECT current_database() AS FUNCTION_CAT, n.nspname AS FUNCTION_SCHEM, p.proname AS FUNCTION_NAME,  d.description AS REMARKS,  CASE    WHEN (format_type(p.prorettype, null) = 'unknown') THEN 0   WHEN      (substring(pg_get_function_result(p.oid) from 0 for 6) = 'TABLE') OR      (substring(pg_get_function_result(p.oid) from 0 for 6) = 'SETOF') THEN 2   ELSE 1 END  AS FUNCTION_TYPE,  p.proname || '_' || p.oid AS SPECIFIC_NAME FROM pg_catalog.pg_proc p INNER JOIN pg_catalog.pg_namespace n ON p.pronamespace=n.oid LEFT JOIN pg_catalog.pg_description d ON p.oid=d.objoid WHERE true   AND p.prokind='f' AND n.nspname LIKE 'public' AND p.proname LIKE '%' ORDER BY FUNCTION_SCHEM, FUNCTION_NAME, p.oid::text "
DATAGRIP_NAMESPACES = (
    "select N.oid::bigint as id, N.xmin as state_number, nspname as name, D.description, pg_catalog.pg_get_userbyid(N.nspowner) as owner"
    " from pg_catalog.pg_namespace N left join pg_catalog.pg_description D on N.oid = D.objoid"
    " order by case when nspname = current_schema then -1::bigint else N.oid::bigint end"
)
DBEAVER_CLASSES = (
    "SELECT c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  pg_catalog.pg_get_partkeydef(c.oid) as partition_key "
    "FROM pg_catalog.pg_class c LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_class'::regclass "
    "WHERE c.relnamespace=2200 AND c.relkind not in ('i','I','c')"
)


def test_jdbc_get_tables_folds_column_names_to_lower_case(engine: StorageEngine, session: Session) -> None:
    result = ask(engine, session, JDBC_GET_TABLES)
    # PostgreSQL folds the unquoted aliases: pgjdbc asks for TABLE_NAME, the wire says table_name
    assert result.columns == [
        ("table_cat", t.TEXT), ("table_schem", t.NAME), ("table_name", t.NAME), ("table_type", t.TEXT), ("remarks", t.TEXT),
        ("type_cat", t.TEXT), ("type_schem", t.TEXT), ("type_name", t.TEXT), ("self_referencing_col_name", t.TEXT),
        ("ref_generation", t.TEXT),
    ]
    assert [row[:5] for row in result.rows] == [[None, "public", "cpu", "TABLE", None], [None, "public", "trips", "TABLE", None]]
    assert ask(engine, session, 'SELECT 1 AS "Quoted", 2 AS Folded').columns == [("Quoted", t.INT4), ("folded", t.INT4)]


def test_jdbc_get_columns_numbers_columns_with_row_number(engine: StorageEngine, session: Session) -> None:
    result = ask(engine, session, JDBC_GET_COLUMNS)
    assert result.columns == [
        ("nspname", t.NAME), ("relname", t.NAME), ("attname", t.NAME), ("atttypid", t.OID), ("attnotnull", t.BOOL),
        ("atttypmod", t.INT4), ("attlen", t.INT2), ("typtypmod", t.INT4), ("attnum", t.INT8), ("attidentity", t.CHAR),
        ("attgenerated", t.CHAR), ("adsrc", t.TEXT), ("description", t.TEXT), ("typbasetype", t.OID), ("typtype", t.CHAR),
    ]
    assert [(row[2], row[8]) for row in result.rows] == [(name, n) for n, (name, _type) in enumerate(TRIPS_COLUMNS, start=1)]
    assert [row[3] for row in result.rows] == [t.TIMESTAMPTZ, t.TEXT, t.TEXT, t.FLOAT8, t.TEXT, t.FLOAT8, t.INT8, t.BOOL]
    assert {(row[4], row[9], row[10], row[14]) for row in result.rows} == {(False, None, None, "b")}


def test_window_functions(engine: StorageEngine, session: Session) -> None:
    sql = (
        "SELECT c.relname, a.attname, row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attname DESC) AS n, "
        "rank() OVER (ORDER BY c.relname) AS r, dense_rank() OVER (ORDER BY c.relname) AS d "
        "FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid WHERE c.relname IN ('trips', 'cpu') AND a.attnum > 0 "
        "ORDER BY 1, 3"
    )
    result = ask(engine, session, sql)
    assert result.columns == [("relname", t.NAME), ("attname", t.NAME), ("n", t.INT8), ("r", t.INT8), ("d", t.INT8)]
    cpu = [row for row in result.rows if row[0] == "cpu"]
    trips = [row for row in result.rows if row[0] == "trips"]
    assert [row[1:3] for row in cpu] == [["usage", 1], ["time", 2], ["region", 3], ["host", 4]]
    assert {(row[3], row[4]) for row in cpu} == {(1, 1)} and {(row[3], row[4]) for row in trips} == {(5, 2)}
    assert [row[2] for row in trips] == list(range(1, 9))


def test_jdbc_result_set_metadata_lookup(engine: StorageEngine, session: Session) -> None:
    result = ask(engine, session, JDBC_FIELD_METADATA.replace("16385", str(relation_oid("trips"))))
    assert result.columns == [
        ("oid", t.OID), ("attnum", t.INT2), ("attname", t.NAME), ("relname", t.NAME), ("nspname", t.NAME),
        ("?column?", t.BOOL), ("?column?", t.BOOL),
    ]
    assert [(row[1], row[2], row[3], row[5]) for row in result.rows] == [
        (n, name, "trips", False) for n, (name, _type) in enumerate(TRIPS_COLUMNS, start=1)
    ]


def test_jdbc_schemas_keys_indexes_and_functions(engine: StorageEngine, session: Session) -> None:
    schemas = ask(engine, session, JDBC_GET_SCHEMAS)
    assert schemas.columns == [("table_schem", t.NAME), ("table_catalog", t.TEXT)]
    assert schemas.rows == [["information_schema", None], ["pg_catalog", None], ["public", None]]
    primary = ask(engine, session, JDBC_GET_PRIMARY_KEYS)
    assert names(primary) == ["table_cat", "table_schem", "table_name", "column_name", "key_seq", "pk_name"] and primary.rows == []
    indexes = ask(engine, session, JDBC_GET_INDEX_INFO)
    assert names(indexes)[:6] == ["table_cat", "table_schem", "table_name", "non_unique", "index_qualifier", "index_name"]
    assert indexes.rows == []
    imported = ask(engine, session, JDBC_GET_IMPORTED_KEYS)  # generate_series(1, 32) pos(n) in FROM
    assert imported.columns[:4] == [("pktable_cat", t.TEXT), ("pktable_schem", t.NAME), ("pktable_name", t.NAME), ("pkcolumn_name", t.NAME)]
    assert imported.columns[8] == ("key_seq", t.INT4) and imported.rows == []
    functions = ask(engine, session, JDBC_GET_FUNCTIONS)
    assert names(functions) == ["function_cat", "function_schem", "function_name", "remarks", "function_type", "specific_name"]
    assert functions.rows == []
    assert ask(engine, session, "SELECT setting FROM pg_catalog.pg_settings WHERE name='max_index_keys'").rows == [["32"]]


def test_jdbc_type_info_marks_arrays(engine: StorageEngine, session: Session) -> None:
    # JOIN ... USING (nspname) over generate_series(1, array_upper(current_schemas(false), 1)) AS s(r)
    result = ask(engine, session, JDBC_TYPE_INFO)
    assert result.columns == [("is_array", t.BOOL), ("typtype", t.CHAR), ("typname", t.NAME), ("oid", t.OID)]
    by_name = {row[2]: row for row in result.rows}
    assert by_name["_float8"][0] is True and by_name["float8"][0] is False and by_name["timestamptz"][1] == "b"
    io = ask(engine, session, "SELECT typname, typinput, typoutput, typalign FROM pg_type WHERE typname IN ('bool', 'timestamptz', '_int8') ORDER BY 1")
    assert io.rows == [["_int8", "array_in", "array_out", "i"], ["bool", "boolin", "boolout", "c"], ["timestamptz", "timestamptz_in", "timestamptz_out", "d"]]


def test_set_returning_functions_in_from(engine: StorageEngine, session: Session) -> None:
    series = ask(engine, session, "SELECT pos.n * 2 FROM pg_catalog.generate_series(1, 3) pos(n) ORDER BY 1 DESC")
    assert series.rows == [[6], [4], [2]]
    unnest = ask(engine, session, "SELECT x FROM unnest(ARRAY['a', 'b']) x")
    assert unnest.columns == [("x", t.TEXT)] and unnest.rows == [["a"], ["b"]]


def test_datagrip_and_dbeaver_catalog_queries(engine: StorageEngine, session: Session) -> None:
    namespaces = ask(engine, session, DATAGRIP_NAMESPACES)
    assert namespaces.columns == [("id", t.INT8), ("state_number", 28), ("name", t.NAME), ("description", t.TEXT), ("owner", t.NAME)]
    assert namespaces.rows[0][:3] == [2200, 1, "public"]  # the current schema first, xmin of every catalog row is 1
    txid = ask(engine, session, "select case when pg_catalog.pg_is_in_recovery() then null else pg_catalog.txid_current()::varchar::bigint end as current_txid")
    assert txid.columns == [("current_txid", t.INT8)] and txid.rows == [[1]]
    age = ask(engine, session, "select pg_catalog.age(N.xmin) from pg_catalog.pg_namespace N where N.nspname = 'public'")
    assert age.columns == [("age", t.INT4)] and age.rows == [[0]]
    classes = ask(engine, session, DBEAVER_CLASSES)
    assert names(classes)[:3] == ["oid", "oid", "relname"] and names(classes)[-3:] == ["description", "partition_expr", "partition_key"]
    assert sorted(row[2] for row in classes.rows) == ["cpu", "trips"]
    # an unanswerable query with c.* still lists the columns * stands for
    empty = ask(engine, session, "SELECT c.*, no_such_function(c.oid) FROM pg_class c")
    assert names(empty)[:3] == ["oid", "relname", "relnamespace"] and empty.rows == []


def test_node_postgres_information_schema_lookups(engine: StorageEngine, session: Session) -> None:
    # node-postgres sends `$1` untyped as text; the protocol layer puts the literal in place before answer()
    tables = ask(engine, session, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name")
    assert tables.columns == [("table_name", t.NAME)] and tables.rows == [["cpu"], ["trips"]]
    columns = ask(engine, session, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'trips' ORDER BY ordinal_position")
    assert columns.columns == [("column_name", t.NAME), ("data_type", t.VARCHAR)]
    assert [tuple(row) for row in columns.rows] == TRIPS_COLUMNS


def test_startup_options_and_time_settings() -> None:
    # node-postgres: {statement_timeout: 5000, options: '-c search_path=public'}; libpq's PGOPTIONS looks the same
    session = Session("u", "rusts", {"statement_timeout": "5000", "options": r"-c search_path=public --application-name=a\ b -cDateStyle=ISO"})
    assert (session.settings["search_path"], session.settings["application_name"]) == ("public", "a b")
    assert session.settings["datestyle"] == "ISO"
    engine_free = None  # SHOW and current_setting read only the session
    assert ask(engine_free, session, "SHOW statement_timeout").rows == [["5s"]]  # type: ignore[arg-type]
    assert ask(engine_free, session, "SET statement_timeout = '90s'").tag == "SET"  # type: ignore[arg-type]
    assert session.settings["statement_timeout"] == "90000"  # milliseconds, as pg_settings.setting and the timeout read it
    assert ask(engine_free, session, "SELECT current_setting('statement_timeout')").rows == [["90s"]]  # type: ignore[arg-type]
    ask(engine_free, session, "SET statement_timeout = 1500")  # type: ignore[arg-type]
    assert ask(engine_free, session, "SHOW statement_timeout").rows == [["1500ms"]]  # type: ignore[arg-type]
    ask(engine_free, session, "SET lock_timeout TO '2min'")  # type: ignore[arg-type]
    assert ask(engine_free, session, "SHOW lock_timeout").rows == [["2min"]]  # type: ignore[arg-type]
    assert ask(engine_free, session, "SHOW deadlock_timeout").rows == [["1s"]]  # type: ignore[arg-type]
    ask(engine_free, session, "SET statement_timeout = 0")  # type: ignore[arg-type]
    assert ask(engine_free, session, "SHOW statement_timeout").rows == [["0"]]  # type: ignore[arg-type]
    with pytest.raises(PgError) as error:
        answer(engine_free, "SET statement_timeout = 'soon'", session)  # type: ignore[arg-type]
    assert error.value.sqlstate == "22023" and "statement_timeout" in error.value.message


DATAGRIP_COLUMNS = (
    "with T as ( select distinct T.oid as table_id, T.relname as table_name from pg_catalog.pg_class T, pg_catalog.pg_attribute A "
    "where T.relnamespace = 2200::oid and T.relkind in ('r', 'm', 'v', 'f', 'p') and (pg_catalog.age(A.xmin) <= 2147483647 or "
    "pg_catalog.age(T.xmin) <= 2147483647) and A.attrelid = T.oid ) select T.table_name, C.attnum as column_position, "
    "C.attname as column_name, C.xmin as column_state_number, pg_catalog.format_type(C.atttypid, C.atttypmod) as type_spec, "
    "C.attnotnull as mandatory, pg_catalog.pg_get_expr(D.adbin, T.table_id) as column_default_expression "
    "from T join pg_catalog.pg_attribute C on T.table_id = C.attrelid "
    "left join pg_catalog.pg_attrdef D on (C.attrelid, C.attnum) = (D.adrelid, D.adnum) where attnum > 0 order by table_name, attnum"
)


def test_common_table_expressions_and_row_comparisons(engine: StorageEngine, session: Session) -> None:
    # DataGrip-style introspection: a WITH over the catalog, joined back to pg_attribute, (a, b) = (c, d)
    result = ask(engine, session, DATAGRIP_COLUMNS)
    assert result.columns == [
        ("table_name", t.NAME), ("column_position", t.INT2), ("column_name", t.NAME), ("column_state_number", 28),
        ("type_spec", t.TEXT), ("mandatory", t.BOOL), ("column_default_expression", t.TEXT),
    ]
    trips = [(row[2], row[4]) for row in result.rows if row[0] == "trips"]
    assert trips == TRIPS_COLUMNS
    assert [row[2] for row in result.rows if row[0] == "cpu"] == ["time", "host", "region", "usage"]
    chained = ask(engine, session, "WITH a(n) AS (SELECT 1), b AS (SELECT n + 1 AS m FROM a) SELECT m FROM b, pg_namespace WHERE nspname = 'public'")
    assert chained.rows == [[2]]
    assert ask(engine, session, "SELECT (1, 'x') = (1, 'x'), (1, 2) = (1, 3)").rows == [[True, False]]
    # a WITH that reads a measurement is for rusts/sql
    assert answer(engine, "WITH x AS (SELECT * FROM trips) SELECT * FROM x", session) is None


def test_joins_by_equal_keys_keep_postgresql_semantics(engine: StorageEngine, session: Session) -> None:
    # the evaluator looks join partners up by key: a text '2200' still meets the oid 2200, NULL meets nothing,
    # a LEFT JOIN without a partner keeps its row, booleans and regclass names fall back to comparing each pair
    keyed = ask(engine, session, "SELECT n.nspname FROM (SELECT '2200' AS k UNION ALL SELECT NULL) x JOIN pg_namespace n ON x.k = n.oid")
    assert keyed.rows == [["public"]]
    left = ask(engine, session, "SELECT x.k, n.nspname FROM (SELECT 1 AS k UNION ALL SELECT 2200) x LEFT JOIN pg_namespace n ON n.oid = x.k ORDER BY 1")
    assert left.rows == [[1, None], [2200, "public"]]
    flags = ask(engine, session, "SELECT count(*) FROM (SELECT true AS b) x JOIN pg_attribute a ON a.attnotnull = x.b")
    assert flags.rows == [[0]]
    named = ask(engine, session, "SELECT c.relname FROM (SELECT 'trips' AS name) x JOIN pg_class c ON c.oid = x.name::regclass")
    assert named.rows == [["trips"]]
    # WHERE terms of a comma join apply as soon as their tables are joined (nine tables in getImportedKeys)
    imported = ask(engine, session, JDBC_GET_IMPORTED_KEYS)
    assert imported.rows == []


# The schema filter of Grafana's current PostgreSQL data source (its table and column pickers): the
# search_path split into names with generate_series, string_to_array and trim.
GRAFANA_SEARCH_PATH = """quote_ident(table_schema) IN (SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
  FROM generate_series(array_lower(string_to_array(current_setting('search_path'),','),1),
                       array_upper(string_to_array(current_setting('search_path'),','),1)) as i,
       string_to_array(current_setting('search_path'),',') s)"""


def test_grafana_table_and_column_pickers(engine: StorageEngine, session: Session) -> None:
    tables = ask(engine, session, f"""SELECT CASE WHEN {GRAFANA_SEARCH_PATH} THEN quote_ident(table_name)
        ELSE quote_ident(table_schema) || '.' || quote_ident(table_name) END AS "table"
        FROM information_schema.tables WHERE quote_ident(table_schema) NOT IN ('information_schema', 'pg_catalog')
        ORDER BY CASE WHEN {GRAFANA_SEARCH_PATH} THEN 0 ELSE 1 END, 1""")
    assert [row[0] for row in tables.rows] == ["cpu", "trips"]
    expected = [('"time"', TRIPS_COLUMNS[0][1])] + TRIPS_COLUMNS[1:]
    for name in ("trips", "public.trips"):
        columns = ask(engine, session, f"""SELECT quote_ident(column_name) AS "column", data_type AS "type"
            FROM information_schema.columns WHERE CASE WHEN array_length(parse_ident('{name}'),1) = 2
              THEN quote_ident(table_schema) = (parse_ident('{name}'))[1] AND quote_ident(table_name) = (parse_ident('{name}'))[2]
              ELSE quote_ident(table_name) = '{name}' AND {GRAFANA_SEARCH_PATH} END""")
        assert [tuple(row) for row in columns.rows] == expected, name


def test_like_escapes_and_not_like(engine: StorageEngine, session: Session) -> None:
    # SQLAlchemy's get_schema_names; a backslash makes `_` literal
    schemas = ask(engine, session, r"SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname NOT LIKE 'pg\_%' ORDER BY nspname")
    assert [row[0] for row in schemas.rows] == ["information_schema", "public"]
    assert ask(engine, session, r"SELECT 'pg_x' LIKE 'pg\_%', 'pgax' LIKE 'pg\_%', 'a' NOT ILIKE 'A'").rows == [[True, False, False]]
