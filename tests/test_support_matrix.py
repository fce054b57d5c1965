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
    """{group: {option: {space: cell}}} from the page."""
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


def _reasons() -> list[str]:
    text = matrix.PAGE.read_text(encoding="utf-8").split(matrix.END)[0]
    return re.findall(r"^\d+\. (.*)$", text.split("in nascli's own words:")[1], re.M)


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
    table, space, column = cell
    works, reason = matrix.outcome(matrix.cells()[cell])
    said = _tables()[table][column][space]
    assert said == "yes" if works else said.startswith("no ("), (said, reason)
    if not works:
        number = int(said.removeprefix("no (").removesuffix(")"))
        assert _reasons()[number - 1] == f"`{reason}`"
