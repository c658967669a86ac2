"""The layering contract (DESIGN.md) as CI runs it: `lint-imports` over the real tree, and over a copy
with a deliberate violation, which it must refuse, naming the contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pyproject.toml"
PACKAGE = ROOT / "src" / "reelforge"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACTS = tomllib.loads(CONFIG.read_text())["tool"]["importlinter"]["contracts"]
NO_TORCH = next(c for c in CONTRACTS if "torch" in c["forbidden_modules"])


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess:
    # The copy under test comes first on the path; wide columns keep each contract on one line.
    env = {**os.environ, "PYTHONPATH": str(package_parent), "COLUMNS": "400"}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(CONFIG), "--no-cache"], cwd=package_parent,
                          env=env, capture_output=True, text=True, timeout=120)


def test_the_tree_keeps_every_layering_contract():
    proc = lint_imports(ROOT / "src")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for contract in CONTRACTS:
        assert f"{contract['name']} KEPT" in proc.stdout, proc.stdout
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in proc.stdout


def test_every_module_outside_engine_worker_and_cli_is_held_to_the_no_torch_contract():
    # A new top-level module is torch-free unless someone decides otherwise: it must be added to the list.
    top_level = {f"reelforge.{p.stem}" for p in PACKAGE.iterdir()
                 if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.stem != "__init__"}
    allowed = {"reelforge.engine", "reelforge.worker", "reelforge.cli"}
    assert set(NO_TORCH["source_modules"]) == top_level - allowed


# (module to break, the line appended to it, the contracts that must break, the import it must name)
VIOLATIONS = [
    ("api/openai.py", "from ..store import JobStore", {"api asks the service; it never imports the store"},
     "reelforge.api.openai -> reelforge.store"),
    # The engine imports torch, so reaching it from the api breaks the torch contract too.
    ("api/deps.py", "from ..engine import runtime",
     {"api and service never reach the engine or the workers, not even through another module", NO_TORCH["name"]},
     "reelforge.api.deps -> reelforge.engine.runtime"),
    ("service/pricing.py", "from ..api import errors", {"service never imports api (it knows no HTTP)"},
     "reelforge.service.pricing -> reelforge.api.errors"),
    ("media/gif.py", "import torch", {NO_TORCH["name"]}, "reelforge.media.gif -> torch"),
]


@pytest.mark.parametrize(("module", "line", "contracts", "chain"), VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
def test_a_deliberate_violation_breaks_its_contract(tmp_path, module, line, contracts, chain):
    copy = tmp_path / "src" / "reelforge"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "weights"))
    with (copy / module).open("a") as f:
        f.write(f"\n{line}  # a deliberate layering violation\n")
    proc = lint_imports(tmp_path / "src")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    broken = {ln.removesuffix(" BROKEN") for ln in proc.stdout.splitlines() if ln.endswith(" BROKEN")}
    assert broken == contracts, proc.stdout
    assert chain in proc.stdout, proc.stdout  # the copy was checked, not the installed tree
