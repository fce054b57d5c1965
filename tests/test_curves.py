"""Learning-curve extrapolation: the curve model, and early stopping in estimator=train."""

from __future__ import annotations

import json

import pytest

from nascli.predictors.curves import extrapolate
from tests.conftest import assert_one_line_error


def test_a_pow3_curve_is_recovered_from_its_first_epochs():
    curve = [0.9 - 0.5 * t**-1.2 for t in range(1, 6)]
    assert extrapolate(curve, 50) == pytest.approx(0.9 - 0.5 * 50**-1.2, abs=2e-3)


def test_short_or_flat_curves_continue_without_inventing_a_rise():
    assert extrapolate([0.4], 10) == 0.4
    assert extrapolate([0.4, 0.5], 4) == pytest.approx(0.6, abs=1e-9)  # its log-epoch slope
    assert extrapolate([0.5, 0.4, 0.3], 10) <= 0.5
    assert 0.0 <= extrapolate([0.99, 1.0, 1.0], 100) <= 1.0


@pytest.mark.slow
def test_a_search_stops_children_whose_curve_cannot_reach_the_best(nas, tmp_path):
    out = nas(
        "search", "search.trials=4", "estimator.epochs=4", "estimator.lce={epochs:2}",
        "logger=none", f"hydra.run.dir={tmp_path}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    first = history[0]["metrics"]
    assert first["epochs"] == 4 and "val_acc_extrapolated" in first  # nothing to beat yet
    best_full = first["val_acc"]
    for record in history[1:]:
        m = record["metrics"]
        if m.get("stopped_early"):
            assert m["epochs"] == 2 and m["val_acc"] < best_full
        else:
            assert m["epochs"] == 4
            best_full = max(best_full, m["val_acc"])
    best = json.loads((tmp_path / "best.json").read_text())
    assert not best["metrics"].get("stopped_early")


def test_a_bad_lce_setting_is_one_line(nas, tmp_path):
    out = nas("search", "estimator.lce={epochs:1}", f"hydra.run.dir={tmp_path}")
    assert_one_line_error(out, "estimator.lce.epochs=1")
