"""`nas report`: tables, CSV, grouping and plots over run and sweep directories."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest

from nascli.cli.argv import dirs_override
from nascli.commands.report.plots import pareto_front
from nascli.commands.report.rows import read_rows, varying
from nascli.commands.report.run import group
from tests.conftest import TINY, assert_one_line_error, run_nas

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """A 2 strategies x 2 seeds sweep plus one job that fails on purpose (estimator.epochs=0)."""
    root = tmp_path_factory.mktemp("report")
    out = run_nas(
        "search",
        "-m",
        "strategy=random,evolution",
        "seed=0,1",
        *TINY,
        "hydra.sweep.dir=sw",
        cwd=root,
    )
    assert out.returncode == 0, out.stderr
    out = run_nas(
        "search",
        "-m",
        "estimator.epochs=0",
        *TINY[:1],
        "logger=none",
        "hydra.sweep.dir=bad",
        cwd=root,
    )
    return root


def test_report_on_sweeps_marks_the_failed_job_and_groups_by_strategy(sweep):
    out = run_nas(
        "report", "sw", "bad", "group_by=[strategy]", "format=json", "hydra.run.dir=rep", cwd=sweep
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["jobs"] == 5 and report["failed"] == 1
    failed = [r for r in report["rows"] if r["status"] != "completed"]
    assert len(failed) == 1 and "estimator.epochs" in failed[0]["error"]
    assert {"strategy", "seed"} <= set(report["settings"])
    # The grouped numbers are the mean and sample std of the completed jobs' best val_acc.
    by_strategy = {g["strategy"]: g for g in report["groups"]}
    for name in ("random", "evolution"):
        accs = [
            r["metrics"]["val_acc"]
            for r in report["rows"]
            if r["settings"]["strategy"] == name and r["status"] == "completed"
        ]
        assert by_strategy[name]["n"] == 2
        assert by_strategy[name]["val_acc"] == pytest.approx(statistics.fmean(accs))
        assert by_strategy[name]["val_acc_std"] == pytest.approx(statistics.stdev(accs))
    rep = sweep / "rep"
    with open(rep / "report.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5 and [r["status"] for r in rows].count("failed") == 1
    assert all(len(r) == len(rows[0]) for r in rows)  # header and rows line up
    for name in ("report_groups.csv", "best_so_far.png", "accuracy_vs_cost.png", "report.html"):
        assert (rep / name).is_file(), name
    assert list((rep / "cells").glob("cell_*.png"))
    assert "failed" in (rep / "report.html").read_text()


def test_report_table_names_the_failure(sweep):
    out = run_nas("report", "bad", "sw/0", "hydra.run.dir=rep2", cwd=sweep)
    assert out.returncode == 0, out.stderr
    assert "failed" in out.stdout and "estimator.epochs=0 is out of range" in out.stdout
    assert "1 not completed" in out.stdout


def test_report_finds_runs_below_a_folder(sweep):
    rows = read_rows([str(sweep)])
    # sw's four jobs and bad's one; the reports written beside them are not rows.
    assert len(rows) == 5 and all(r.command == "search" for r in rows)


@pytest.mark.parametrize(
    "args,named",
    [
        ([], "dirs"),
        (["no_such_folder"], "no_such_folder"),
        (["sw", "group_by=[colour]"], "group_by"),
        (["sw", "reference_point=0.5"], "reference_point"),
        (["sw", "reference_point={}"], "reference_point"),
        (["sw", "reference_point={val_acc:0.5,latency_ms:20}"], "reference_point"),
    ],
)
def test_report_bad_input(sweep, args, named):
    out = run_nas("report", *args, cwd=sweep)
    assert_one_line_error(out, named)


def test_dirs_are_positional_and_flags_keep_their_values():
    assert dirs_override(["a", "b c", "group_by=[x]"]) == ["group_by=[x]", "dirs=['a','b c']"]
    assert dirs_override(["--cfg", "job", "a"]) == ["--cfg", "job", "dirs=['a']"]
    assert dirs_override(["it's"]) == ["dirs=['it\\'s']"]
    assert dirs_override(["k=v"]) == ["k=v"]


def test_pareto_front_minimises_cost_and_maximises_accuracy():
    pts = [(10, 0.5), (20, 0.7), (15, 0.4), (30, 0.65), (40, 0.9), (40, 0.8)]
    assert pareto_front(pts) == [(10, 0.5), (20, 0.7), (40, 0.9)]


def test_group_counts_failures_apart_and_varying_keys():
    from nascli.commands.report.rows import Row

    rows = [
        Row(
            Path("a"),
            "search",
            "completed",
            {"strategy": "r", "seed": "0"},
            metrics={"val_acc": 0.5},
        ),
        Row(
            Path("b"),
            "search",
            "completed",
            {"strategy": "r", "seed": "1"},
            metrics={"val_acc": 0.7},
        ),
        Row(Path("c"), "search", "failed", {"strategy": "r", "seed": "2"}),
        Row(
            Path("d"),
            "search",
            "completed",
            {"strategy": "e", "seed": "0"},
            metrics={"val_acc": 0.9},
        ),
    ]
    assert varying(rows) == ["strategy", "seed"]
    g = {x["strategy"]: x for x in group(rows, ["strategy"], ["val_acc"])}
    assert g["r"]["n"] == 2 and g["r"]["failed"] == 1
    assert g["r"]["val_acc"] == pytest.approx(0.6) and g["r"]["val_acc_std"] == pytest.approx(
        0.1414, abs=1e-4
    )
    assert g["e"]["val_acc_std"] == 0.0


def test_regret_curve_follows_the_choice_by_val_within_each_time(tmp_path):
    from nascli.commands.report.plots import plot_regret
    from nascli.commands.report.rows import Row, chosen_at, regret_curve

    def rec(trial, seconds, val, test, status="ok"):
        return {
            "trial": trial,
            "status": status,
            "seconds": seconds,
            "metrics": {"val_acc": val, "test_acc": test},
        }

    history = [
        rec(0, 10, 0.5, 0.6),
        rec(1, 10, 0.7, 0.65),
        rec(2, 10, 0.9, 0.0, "failed"),
        rec(3, 10, 0.6, 0.9),
    ]
    chosen = chosen_at(history, [5, 10, 25, 1e9], "val_acc")
    assert chosen[0] is None and chosen[1]["test_acc"] == 0.6
    assert chosen[2]["test_acc"] == 0.65 and chosen[3]["test_acc"] == 0.65  # val picks, not test
    row = Row(
        path=tmp_path,
        command="search",
        status="completed",
        settings={"strategy": "x"},
        metrics={"table_optimum": 0.95},
        history=history,
    )
    curve = regret_curve(row, [5, 10, 40], "val_acc")
    assert curve[1:] == pytest.approx([0.35, 0.30]) and curve[0] != curve[0]  # nan at first
    assert plot_regret(tmp_path, [row], ["strategy"], "val_acc", {"x": "#1f77b4"})
    assert (tmp_path / "regret.png").stat().st_size > 1000
