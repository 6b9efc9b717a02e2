"""Field kinds as small integers: the parser, the memtable, segments and queries share them.

The order is that of rusts.core.types.FieldType.
"""

from typing import Any, Final

import numpy as np

KIND_FLOAT: Final = 0
KIND_INTEGER: Final = 1
KIND_UNSIGNED: Final = 2
KIND_STRING: Final = 3
KIND_BOOLEAN: Final = 4
KIND_NAMES: Final[tuple[str, ...]] = ("float", "integer", "unsigned", "string", "boolean")
# numpy dtype of each kind's values (strings are list[str]).
NUMPY_DTYPES: Final[dict[int, Any]] = {
    KIND_FLOAT: np.float64,
    KIND_INTEGER: np.int64,
    KIND_UNSIGNED: np.uint64,
    KIND_BOOLEAN: np.bool_,
}

# The range of a point's time in nanoseconds since the epoch, as line protocol documents it
# (-9223372036854775806 .. 9223372036854775806). The ends of i64 stay free to mean "no bound" in
# time ranges: a point stored at either could never be selected.
POINT_TIME_MIN: Final = -(2**63) + 2
POINT_TIME_MAX: Final = 2**63 - 2
