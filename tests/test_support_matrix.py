"""docs/support.md: the support matrix names every option there is, and its cells are what the
code does (a few re-run here; `python scripts/support_matrix.py --check` re-runs them all)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("support_matrix", ROOT / "scripts/support_matrix.py")
matrix = importlib.util.module_from_spec(spec)
spec.loader.exec_module(matrix)


def _tables() -> dict[str, dict[str, dict[str, str]]]:
    """{group: {option: {space: cell text}}} from the page's tables."""
    text = matrix.PAGE.read_text(encoding="utf-8").split(matrix.BEGIN)[1].split(matrix.END)[0]
    tables: dict[str, dict[str, dict[str, str]]] = {}
    spaces: list[str] = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| |"):
            spaces = cells[1:]
        elif line.startswith("| ") and "=" in cells[0]:
            group, option = cells[0].split("=")
            tables.setdefault(group, {})[option] = dict(zip(spaces, cells[1:], strict=True))
    return tables


def test_the_page_names_every_space_strategy_estimator_and_hardware_target():
    tables = _tables()
    assert set(matrix.SPACES) == set(matrix.options("space"))
    for group, options in tables.items():
        for option, row in options.items():
            assert set(row) == set(matrix.SPACES), (group, option)
            assert all(re.fullmatch(r"yes|no \(\d+\)", c) for c in row.values()), row
    assert set(tables["strategy"]) == set(matrix.options("strategy"))
    assert set(tables["estimator"]) == set(matrix.options("estimator"))
    assert set(tables["hardware"]) == set(matrix.options("hardware")) - {"gpu"}
    assert "hardware=gpu" in matrix.PAGE.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "cell",
    [("strategy", "macro", "darts"), ("estimator", "nbgraph", "nbgraph")],
)
def test_a_cell_of_the_page_is_what_running_it_gives(cell):
    assert matrix.outcome(matrix.cells()[cell]) == matrix.read_page()[cell]


def test_the_page_reads_back_into_what_it_was_rendered_from():
    page = matrix.PAGE.read_text(encoding="utf-8")
    body = page.split(matrix.BEGIN)[1].split(matrix.END)[0]
    assert matrix.render(matrix.read_page(page)) == body.lstrip("\n")
