"""The build: compiled modules are compiled, and the layers import only downward."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import rusts
from rusts._compiled import COMPILED_MODULES, compiled_state

PURE = os.environ.get("RUSTS_PURE_PYTHON", "") in ("1", "true", "yes")
PACKAGE = Path(rusts.__file__).parent
SOURCE = Path(__file__).resolve().parent.parent / "rusts"

# Lowest first; a module may import from its own layer or any lower one.
LAYERS: list[set[str]] = [
    {"core", "_compiled", "__init__"},
    {"compression", "index"},
    {"storage"},
    {"query"},
    {"sql", "aggregation", "retention", "cluster", "config"},
    {"api", "pgwire", "importer", "exporter"},
    {"server"},
]


def layer_of(subpackage: str) -> int:
    for level, names in enumerate(LAYERS):
        if subpackage in names:
            return level
    raise AssertionError(f"subpackage {subpackage!r} is in no layer")


@pytest.mark.skipif(PURE, reason="RUSTS_PURE_PYTHON is set: nothing is compiled on purpose")
def test_every_listed_module_is_a_compiled_extension() -> None:
    state = compiled_state()
    assert state == {name: True for name in COMPILED_MODULES}, state
    assert rusts.COMPILED


def test_compiled_list_is_sorted_and_names_real_modules() -> None:
    assert list(COMPILED_MODULES) == sorted(COMPILED_MODULES)
    for name in COMPILED_MODULES:
        assert (SOURCE.parent / (name.replace(".", "/") + ".py")).exists(), name


def test_version_says_how_it_runs(tmp_path: Path) -> None:
    # Run from an empty directory so the child imports the same rusts as this test.
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    out = subprocess.run(
        [sys.executable, "-m", "rusts.server.cli", "--version"],
        capture_output=True, text=True, check=True, cwd=tmp_path, env=env,
    ).stdout
    assert out.strip() == f"rusts {rusts.__version__} ({'compiled' if rusts.COMPILED else 'pure Python'})"


def test_no_module_imports_from_a_higher_layer() -> None:
    problems = []
    for path in SOURCE.rglob("*.py"):
        relative = path.relative_to(SOURCE).parts
        own = layer_of(relative[0].removesuffix(".py"))
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            for target in targets:
                parts = target.split(".")
                if parts[0] != "rusts" or len(parts) < 2:
                    continue
                if layer_of(parts[1]) > own:
                    problems.append(f"{path.relative_to(SOURCE.parent)}:{node.lineno} imports {target}")
    assert problems == []
