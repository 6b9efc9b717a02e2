"""Keep pyarrow from importing pandas in a process that never hands it data.

The first time pyarrow builds an array it asks whether the input is a pandas object, and to
ask it imports pandas when pandas is installed: 0.2 s and some 40 MB before the first row, in
rusts-import and rusts-export, which build Arrow arrays from numpy and lists only and never
call to_pandas. An import hook that refuses pandas makes pyarrow's probe answer "no pandas"
at once. Only command-line entry points install it, for their own process; a program that
imports rusts as a library keeps pandas.
"""

import sys
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Sequence


class _RefusePandas(MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname == "pandas":
            raise ImportError("pandas is not loaded in this rusts command's process (rusts.core.pandas_probe)")
        return None


def skip_pandas_probe() -> None:
    """Refuse to import pandas in this process from now on (nothing changes if it is imported already)."""
    if "pandas" not in sys.modules and not any(isinstance(f, _RefusePandas) for f in sys.meta_path):
        sys.meta_path.insert(0, _RefusePandas())
