"""RusTs: a time series database.

`COMPILED` tells whether the hot modules run as mypyc extension modules
(the normal install) or as plain Python (RUSTS_PURE_PYTHON=1 at install).
"""

from rusts._compiled import COMPILED, COMPILED_MODULES, compiled_state

__version__ = "0.1.0"

__all__ = ["COMPILED", "COMPILED_MODULES", "__version__", "compiled_state"]
