"""Successive halving over epochs: rungs, promotions of the top 1/eta, best from the highest rung."""

from __future__ import annotations

import json

import pytest

from nascli.core.errors import NascliError
from nascli.estimators.hyperband import HyperbandEstimator, Promotion, rung_epochs
from tests.conftest import TINY


def _estimator(**kwargs):
    return HyperbandEstimator(batch_size=64, optimizer=None, **kwargs)


def _record(trial, arch, rung, acc, status="ok"):
    return {
        "trial": trial,
        "arch": arch,
        "rung": rung,
        "status": status,
        "metrics": {"val_acc": acc},
    }


def test_rungs_grow_by_eta_up_to_max_epochs():
    assert rung_epochs(1, 9, 3) == [1, 3, 9]
    assert rung_epochs(2, 20, 2) == [2, 4, 8, 16]
    assert rung_epochs(5, 5, 3) == [5]
    with pytest.raises(NascliError, match="eta"):
        rung_epochs(1, 9, 1)


def test_promotes_the_top_third_and_each_architecture_once():
    estimator = _estimator(min_epochs=1, max_epochs=9, eta=3)
    history = [_record(0, "a", 0, 0.5), _record(1, "b", 0, 0.9)]
    assert estimator.next_promotion(history, "val_acc") is None  # 2 // 3 == 0: nobody yet
    history.append(_record(2, "c", 0, 0.7))
    assert estimator.next_promotion(history, "val_acc") == Promotion("b", 1)
    history.append(_record(3, "b", 1, 0.95))
    assert estimator.next_promotion(history, "val_acc") is None  # b already promoted
    history += [_record(4, "d", 0, 0.1), _record(5, "e", 0, 0.2), _record(6, "f", 0, 0.99)]
    # Six at rung 0: the top two are f and b; f has not been promoted.
    assert estimator.next_promotion(history, "val_acc") == Promotion("f", 1)


def test_higher_rungs_are_served_first_and_failures_never_promote():
    estimator = _estimator(min_epochs=1, max_epochs=9, eta=3)
    history = [_record(i, f"x{i}", 0, 0.1 * i) for i in range(6)]
    history += [
        _record(6, "x5", 1, 0.8),
        _record(7, "x4", 1, 0.9),
        _record(8, "x3", 1, 0.0, status="failed"),
    ]
    history += [_record(9, "y", 1, 0.3)]
    # Rung 1 has three finished: its best (x4) goes to rung 2 before anything moves up from rung 0.
    assert estimator.next_promotion(history, "val_acc") == Promotion("x4", 2)


@pytest.mark.slow
def test_hyperband_search_through_the_cli(nas, tmp_path):
    out = nas(
        "search",
        *TINY,
        "estimator=hyperband",
        "estimator.max_epochs=3",
        "search.trials=7",
        "hydra.run.dir=h",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    history = [
        json.loads(line) for line in (tmp_path / "h" / "history.jsonl").read_text().splitlines()
    ]
    assert [r["metrics"]["epochs"] for r in history] == [
        1 if r["rung"] == 0 else 3 for r in history
    ]
    assert any(r["rung"] == 1 for r in history)
    best = json.loads((tmp_path / "h" / "best.json").read_text())
    assert best["metrics"]["epochs"] == 3  # the best comes from the highest rung reached
    summary = json.loads((tmp_path / "h" / "summary.json").read_text())
    assert summary["epochs_total"] == sum(r["metrics"]["epochs"] for r in history)

    # Resumed after 4 trials (the strategy replayed, promotions skipped), it ends the same.
    args = (
        *TINY,
        "estimator=hyperband",
        "estimator.max_epochs=3",
        "strategy=evolution",
        "strategy.population=2",
        "strategy.sample_size=2",
    )
    assert (
        nas("search", *args, "search.trials=7", "hydra.run.dir=full", cwd=tmp_path).returncode == 0
    )
    assert (
        nas("search", *args, "search.trials=4", "hydra.run.dir=part", cwd=tmp_path).returncode == 0
    )
    (tmp_path / "part" / "strategy_state.json").unlink()  # force the replay path
    out = nas("search", "resume=part", "search.trials=7", cwd=tmp_path)
    assert out.returncode == 0, out.stderr

    def key(run):
        lines = (tmp_path / run / "history.jsonl").read_text().splitlines()
        return [(r["arch"], r["rung"], r["metrics"]["val_acc"]) for r in map(json.loads, lines)]

    assert key("part") == key("full")
