"""PostgreSQL type OIDs RusTs sends and understands (pg_type.oid values of PostgreSQL 15)."""

from typing import Final

BOOL: Final = 16
BYTEA: Final = 17
CHAR: Final = 18
NAME: Final = 19
INT8: Final = 20
INT2: Final = 21
INT2VECTOR: Final = 22
INT4: Final = 23
REGPROC: Final = 24
TEXT: Final = 25
OID: Final = 26
OIDVECTOR: Final = 30
FLOAT4: Final = 700
FLOAT8: Final = 701
UNKNOWN: Final = 705
BPCHAR: Final = 1042
VARCHAR: Final = 1043
TIMESTAMP: Final = 1114
TIMESTAMPTZ: Final = 1184
REGCLASS: Final = 2205
REGTYPE: Final = 2206
BOOL_ARRAY: Final = 1000
NAME_ARRAY: Final = 1003
INT2_ARRAY: Final = 1005
INT4_ARRAY: Final = 1007
TEXT_ARRAY: Final = 1009
INT8_ARRAY: Final = 1016
FLOAT8_ARRAY: Final = 1022
OID_ARRAY: Final = 1028
