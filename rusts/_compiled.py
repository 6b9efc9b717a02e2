"""The one list of modules that mypyc compiles, and a check of what is loaded.

setup.py reads COMPILED_MODULES from this file (without importing the
package), so the build and the runtime check cannot disagree.
"""

import importlib.machinery
import importlib.util

# Sorted. Everything not listed stays interpreted on purpose:
# - rusts.core.types, rusts.config.file: msgspec Structs lose their class
#   options (frozen, array_like, forbid_unknown_fields) when compiled.
# - rusts.api.router and other Litestar/uvicorn code: compiled handlers
#   cannot be introspected, which Litestar needs to build the app.
# - rusts.server.cli: argument parsing, runs once.
# - rusts.api.lp_columns, rusts.storage.{memtable,partition,engine,segment*},
#   rusts.compression.{numeric,codec,block}: a few large numpy/pyarrow/zstd
#   calls per block or batch; mypyc has nothing to speed up there.
# - rusts.index.{series,tags,bloom}: a trial build compiled but failed the
#   index tests (KeyError 'flush', SystemError from os.fspath); to be
#   investigated before listing them (reloading 1 M series takes ~10 s
#   interpreted, which compiling should cut).
COMPILED_MODULES: tuple[str, ...] = (
    "rusts.api.line_protocol",
    "rusts.compression.boolean",
    "rusts.compression.dictionary",
    "rusts.compression.gorilla",
    "rusts.compression.timestamp",
    "rusts.compression.varint",
    "rusts.core.hashing",
    "rusts.core.kinds",
    "rusts.storage.wal",
)


def is_extension_module(name: str) -> bool:
    """True when importing `name` loads a C extension rather than a .py file.

    Uses the import system's lookup only, so the module itself is not run.
    """
    spec = importlib.util.find_spec(name)
    origin = (spec.origin if spec is not None else None) or ""
    return any(origin.endswith(suffix) for suffix in importlib.machinery.EXTENSION_SUFFIXES)


def compiled_state() -> dict[str, bool]:
    """Each compiled-list module mapped to whether it is loaded compiled."""
    return {name: is_extension_module(name) for name in COMPILED_MODULES}


COMPILED: bool = all(compiled_state().values())
