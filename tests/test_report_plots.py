"""The report's plots: one colour per group everywhere, the axes the runs' objectives chose,
far-off points kept from squashing the axes, one-shot runs shown by their derived architecture."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from nascli.commands.report.plots import (
    palette,
    plot_accuracy_vs_cost,
    plot_axes,
    plot_best_so_far,
    plot_regret,
    robust_limits,
)
from nascli.commands.report.rows import Row


def _search(path: Path, strategy: str, seed: int, objectives=None, n=12, **extra) -> Row:
    rng = random.Random(seed)
    history = []
    for t in range(n):
        metrics = {
            "val_acc": 0.8 + 0.1 * rng.random(),
            "test_acc": 0.8 + 0.1 * rng.random(),
            "params": rng.randint(10_000, 200_000),
            "latency_ms": 1 + 4 * rng.random(),
        }
        history.append({"trial": t, "status": "ok", "seconds": 1.0, "metrics": metrics})
    return Row(
        path=path / f"{strategy}-{seed}",
        command="search",
        status="completed",
        settings={"strategy": strategy, "seed": str(seed)},
        metrics={"table_optimum": 0.95, **history[0]["metrics"]},
        history=history,
        objectives=objectives,
        **extra,
    )


def test_a_strategy_keeps_its_colour_in_every_plot(tmp_path):
    # evolution is drawn first in one plot, after random in another: its colour must not move.
    rows = [_search(tmp_path, "random", 0), _search(tmp_path, "evolution", 1)]
    rows[0].history = []  # random has no trials to plot in best-so-far
    colours = palette(rows, ["strategy"])
    assert colours == palette(list(reversed(rows)), ["strategy"])
    assert len(set(colours.values())) == 2
    best = plot_best_so_far(tmp_path, rows, ["strategy"], "val_acc", colours)
    rows[0].history = _search(tmp_path, "random", 0).history
    cost = plot_accuracy_vs_cost(tmp_path, rows, ["strategy"], colours)
    regret = plot_regret(tmp_path, rows, ["strategy"], "val_acc", colours)
    assert best["colours"] == {"evolution": colours["evolution"]}
    assert cost["colours"] == regret["colours"] == colours
    for name in ("best_so_far.png", "accuracy_vs_cost.png", "regret.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_the_cost_axis_is_the_objective_the_searches_minimised(tmp_path):
    single = [_search(tmp_path, "random", 0)]
    assert plot_axes(single) == ("params", "val_acc")
    multi = [_search(tmp_path, "nsga2", 0, objectives=["val_acc", "latency_ms"])]
    assert plot_axes(multi) == ("latency_ms", "val_acc")
    drawn = plot_accuracy_vs_cost(tmp_path, multi, ["strategy"], palette(multi, ["strategy"]))
    assert (drawn["x"], drawn["y"]) == ("latency_ms", "val_acc")
    # A zero-cost search maximised its proxy score: that is the accuracy axis.
    scored = _search(tmp_path, "random", 1, objective="score")
    for rec in scored.history:
        rec["metrics"]["score"] = rec["metrics"].pop("val_acc") * 1e9
    assert plot_axes([scored]) == ("params", "score")


def test_one_far_off_point_does_not_squash_the_axis(tmp_path):
    row = _search(tmp_path, "random", 0, n=30)
    row.history[5]["metrics"]["val_acc"] = 0.1  # a trial that collapsed
    drawn = plot_accuracy_vs_cost(tmp_path, [row], ["strategy"], palette([row], ["strategy"]))
    assert drawn["outside"] == 1
    low, high = drawn["ylim"]
    rest = [r["metrics"]["val_acc"] for r in row.history if r["metrics"]["val_acc"] > 0.5]
    assert 0.1 < low < min(rest) and max(rest) < high < 1.0
    # Without the outlier the axes are left to matplotlib.
    assert robust_limits([0.8, 0.81, 0.82, 0.83, 0.84, 0.85, 0.86, 0.87, 0.88]) is None
    assert robust_limits([0.8] * 3) is None  # too few points to call any far off


def test_a_one_shot_run_appears_by_its_derived_architecture(tmp_path):
    trials = _search(tmp_path, "random", 0)
    oneshot = Row(
        path=tmp_path / "darts",
        command="search",
        status="completed",
        settings={"strategy": "darts"},
        metrics={"val_acc": 0.85, "params": 50_000, "supernet": True},
        history=[{"trial": 0, "status": "ok", "seconds": 5.0, "metrics": {"val_acc": 0.5}}],
    )
    rows = [trials, oneshot]
    drawn = plot_accuracy_vs_cost(tmp_path, rows, ["strategy"], palette(rows, ["strategy"]))
    assert drawn["derived"] == 1 and "darts" in drawn["colours"]


@pytest.mark.parametrize("values", [[], [1.0], [float("nan")] * 9])
def test_robust_limits_of_too_little_data_leave_the_axis_alone(values):
    assert robust_limits(values) is None


def test_a_language_model_report_plots_the_lowest_perplexities_as_best(tmp_path):
    """Perplexity is minimised: the Pareto front against parameters, the best-so-far curve and
    the cells drawn first are the lowest perplexities, and retrains are placed by test_ppl."""
    rows = []
    for seed in (0, 1):
        row = _search(
            tmp_path, "random", seed, objectives=["val_ppl", "params"], objective="val_ppl"
        )
        for record in row.history:
            record["metrics"]["val_ppl"] = 1.5 + record["metrics"].pop("val_acc")
        rows.append(row)
    retrained = Row(path=tmp_path / "train", command="train", status="completed", settings={},
                    metrics={"test_ppl": 1.7, "val_ppl": 1.6, "params": 50_000})  # fmt: skip
    rows.append(retrained)
    assert plot_axes(rows) == ("params", "val_ppl")
    drawn = plot_accuracy_vs_cost(tmp_path, rows, [], palette(rows, []))
    points = [
        (r["metrics"]["params"], r["metrics"]["val_ppl"]) for row in rows[:2] for r in row.history
    ]
    # The points no other point beats on both (fewer parameters and lower perplexity).
    undominated = sorted(
        q for q in set(points)
        if not any(p != q and p[0] <= q[0] and p[1] <= q[1] for p in points)
    )  # fmt: skip
    assert [tuple(p) for p in drawn["front"]] == undominated
    best = plot_best_so_far(tmp_path, rows, [], "val_ppl", palette(rows, []))
    assert best is not None
