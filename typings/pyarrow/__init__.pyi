# Partial stub: pyarrow ships no type information. Names used by RusTs are
# reached through __getattr__ as Any; callers convert results at the edge.
from typing import Any

def __getattr__(name: str) -> Any: ...
