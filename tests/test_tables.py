"""Terminal tables fit the terminal and print numbers a person can read."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from nascli.commands.report.rows import Row
from nascli.commands.report.run import _print
from nascli.ui.tables import number


@pytest.mark.parametrize(
    "value,text",
    [
        (62296918967.5198, "6.23e+10"),  # a zero-cost proxy's score
        (0.912345, "0.9123"),
        (0.0, "0.0000"),
        (-0.00012, "-0.00012"),
        (1234.56, "1234.6"),
        (123456.0, "1.23e+05"),
        (42, "42"),
        (1_200_000, "1,200,000"),
        (-6.2e10, "-6.2e+10"),
        (float("nan"), "-"),
        (float("inf"), "inf"),
        (None, "-"),
        (True, "True"),
        (np.float32(0.5), "0.5000"),
        (np.int64(12_345), "12,345"),
    ],
)
def test_numbers_read_as_a_person_writes_them(value, text):
    assert number(value) == text


def _rows(tmp_path: Path, objective: str = "val_acc") -> list[Row]:
    rng = random.Random(0)
    rows = []
    for strategy in ("random", "evolution", "bananas"):
        for seed in range(2):
            rows.append(
                Row(
                    path=tmp_path / str(len(rows)),  # a sweep's job folders
                    command="search",
                    status="completed",
                    settings={"strategy": strategy, "seed": str(seed)},
                    arch="0123:fc-gat-fc-gin|0123:fc-gat-fc-gin",  # under _short's cut
                    metrics={
                        "score": 6.2e10 * rng.random(),
                        "val_acc": rng.random(),
                        "test_acc": rng.random(),
                        "params": rng.randint(10_000, 900_000),
                        "latency_ms": 10 * rng.random(),
                        "test_acc@20q": rng.random(),
                        "regret@20q": rng.random() / 10,
                        "test_acc@100q": rng.random(),
                        "regret@100q": rng.random() / 10,
                    },
                    seconds=12.0,
                    trials=100,
                    objective=objective,
                )
            )
    return rows


COLUMNS = [
    "score",
    "val_acc",
    "test_acc",
    "params",
    "latency_ms",
    "seconds",
    "trials",
    "test_acc@20q",
    "regret@20q",
    "test_acc@100q",
    "regret@100q",
]


def test_a_narrow_terminal_loses_the_least_telling_columns_and_says_so(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("COLUMNS", "80")
    _print(_rows(tmp_path, "score"), ["strategy", "seed"], COLUMNS, None, "test_acc", tmp_path)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80, out
    said = " ".join(out.split("left out to fit 80 columns: ", 1)[1].split())
    assert said.endswith("; format=json (or report.csv) has them all run dir: " + str(tmp_path))
    # Cheap columns go first; the objective, the settings and the last budget's figures stay.
    dropped = said.split(";")[0].split(", ")
    assert dropped[:2] == ["trials", "seconds"], dropped
    header = next(line for line in lines if "strategy" in line)
    for kept in ("strategy", "seed", "score", "test acc", "regret@100q"):
        assert kept.split("@")[0] in header, header  # a long header wraps at its @
    assert "0123:fc-gat" in out and "…" in out  # the arch cut short, not folded away
    assert "e+10" in out  # the proxy's score, readable


def test_a_wide_terminal_shows_every_column(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "400")
    _print(_rows(tmp_path), ["strategy", "seed"], COLUMNS, None, "val_acc", tmp_path)
    out = capsys.readouterr().out
    assert "left out" not in out
    header = next(line for line in out.splitlines() if "strategy" in line)
    for column in ("trials", "seconds", "regret@20q", "latency ms"):
        assert column in header, header
