"""The package's shape: import-linter's contracts hold on the code, fail on a new cycle, and no
module imports one that imports it back."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(root / "src"), "PATH": str(Path(sys.executable).parent)}
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_import_contracts_hold():
    out = _lint(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 kept, 0 broken" in out.stdout


@pytest.mark.parametrize(
    "importer,line,broken",
    [
        # the torch-free core reaching up into a command: a cycle through the layers
        ("core/records.py", "import nascli.commands.search.run", "Layers"),
        # one command borrowing another's body
        ("commands/hw/run.py", "import nascli.commands.train.run", "never imports another"),
        # two sibling modules of one package importing each other
        ("trials/pool.py", "import nascli.trials.ray", "No import cycles"),
    ],
)
def test_a_new_cycle_breaks_lint(tmp_path, importer, line, broken):
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("*.sqlite"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    target = tmp_path / "src" / "nascli" / importer
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    out = _lint(tmp_path)
    assert out.returncode == 1, out.stdout
    assert "BROKEN" in out.stdout and broken in out.stdout.split("Broken contracts")[-1]


def test_no_module_imports_one_that_imports_it_back():
    """Cycles between a package and its own modules, which the contracts do not see."""
    graph = grimp.build_graph("nascli")
    edges = nx.DiGraph()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            edges.add_edge(module, imported)
    cycles = [sorted(c) for c in nx.strongly_connected_components(edges) if len(c) > 1]
    assert cycles == []
