"""The catalog is one torch-free package without an import cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import reelforge.catalog

ROOT = Path(reelforge.catalog.__file__).parent
FILES = sorted(ROOT.rglob("*.py"))


def module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(("reelforge", "catalog") + tuple(p for p in parts if p != "__init__"))


def imported(path: Path) -> set[str]:
    """The absolute names of the modules that the file ``path`` imports from."""
    module = module_of(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            out.add(".".join(base + ([node.module] if node.module else [])))
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return out


@pytest.mark.parametrize("path", [p for p in FILES if p != ROOT / "__init__.py"], ids=module_of)
def test_no_submodule_imports_the_package_that_imports_it(path):
    assert "reelforge.catalog" not in imported(path)


@pytest.mark.parametrize("module", [module_of(p) for p in FILES])
def test_each_module_imports_first_in_a_fresh_interpreter_without_torch(module):
    code = (f"import sys, {module}\n"
            "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules, 'torch or diffusers imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_the_checks_above_see_the_whole_package():
    assert {"reelforge.catalog.entry", "reelforge.catalog.entries.wan", "reelforge.catalog.user_file",
            "reelforge.catalog.weights"} <= {module_of(p) for p in FILES}
    assert imported(ROOT / "entries" / "wan.py") >= {"reelforge.catalog.entry", "reelforge.catalog.entries.presets"}
