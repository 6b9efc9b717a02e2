"""Build: mypyc compiles the modules listed in rusts/_compiled.py.

RUSTS_PURE_PYTHON=1 skips compilation (quick development installs); the
test suite then skips its "modules are compiled" check, and CI never sets it.
"""

import ast
import os
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent


def compiled_modules() -> list[str]:
    """Read COMPILED_MODULES from rusts/_compiled.py without importing rusts."""
    tree = ast.parse((HERE / "rusts" / "_compiled.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "COMPILED_MODULES":
            return list(ast.literal_eval(node.value))  # type: ignore[arg-type]
    raise SystemExit("setup.py: COMPILED_MODULES not found in rusts/_compiled.py")


ext_modules = []
if os.environ.get("RUSTS_PURE_PYTHON", "") not in ("1", "true", "yes"):
    from mypyc.build import mypycify

    paths = ["rusts/" + "/".join(name.split(".")[1:]) + ".py" for name in compiled_modules()]
    # One call, one group: a single compilation unit keeps cross-module calls
    # fast and puts the shared runtime library inside the package.
    ext_modules = mypycify(
        ["--config-file", str(HERE / "pyproject.toml"), *paths],
        opt_level="3",
        group_name="rusts",
    )

setup(ext_modules=ext_modules)
