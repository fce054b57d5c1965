"""Predictor-guided strategies: BANANAS and Bayesian optimisation with a nascli predictor."""

from __future__ import annotations

import json

import pytest

from nascli.core.errors import NascliError
from nascli.predictors.models import BayesianLinear, MLPEnsemble, RandomForest
from nascli.spaces.nb201 import NB201Space
from nascli.strategies.bo import BayesianOptimisation
from nascli.strategies.model_based import Bananas
from nascli.strategies.random import RandomSearch
from tests.test_strategies import _best_of, _fitness


def _bananas(seed: int, **kw) -> Bananas:
    kw.setdefault("predictor", RandomForest(trees=30, seed=seed))
    return Bananas(NB201Space(), seed=seed, **kw)


def test_bananas_beats_random_on_a_smooth_objective():
    ours = [_best_of(_bananas(s), 40) for s in range(5)]
    rs = [_best_of(RandomSearch(NB201Space(), seed=s), 40) for s in range(5)]
    assert sum(ours) > sum(rs)


def test_bo_with_a_predictor_beats_random_on_a_smooth_objective():
    def make(s):
        return BayesianOptimisation(
            NB201Space(), seed=s, sampler="predictor", predictor=BayesianLinear(), startup_trials=5
        )

    ours = [_best_of(make(s), 40) for s in range(5)]
    rs = [_best_of(RandomSearch(NB201Space(), seed=s), 40) for s in range(5)]
    assert sum(ours) > sum(rs)


@pytest.mark.parametrize("acquisition", ["its", "ucb", "ei", "mean"])
def test_a_strategy_rebuilt_from_its_state_mid_round_proposes_the_same(acquisition):
    def make():
        return _bananas(3, predictor=MLPEnsemble(members=2, epochs=50), initial=4, batch=3,
                        pool=20, acquisition=acquisition)  # fmt: skip

    original = make()
    for _ in range(8):  # four samples, then a fitted round of three, one into the next
        arch = original.ask()
        original.tell(arch, {"val_acc": _fitness(arch)})
    resumed = make()
    resumed.load_state_dict(json.loads(json.dumps(original.state_dict())))
    for _ in range(7):
        a, b = original.ask(), resumed.ask()
        assert a == b
        original.tell(a, {"val_acc": _fitness(a)})
        resumed.tell(b, {"val_acc": _fitness(b)})


def test_proposals_are_new_and_failures_are_not_fitted():
    strategy = _bananas(0, initial=3, batch=2, pool=10)
    seen = set()
    for k in range(20):
        arch = strategy.ask()
        assert arch not in seen
        seen.add(arch)
        strategy.tell(arch, None if k % 4 == 0 else {"val_acc": _fitness(arch)})
    assert sum(v is None for v in strategy.told.values()) == 5


@pytest.mark.parametrize(
    "kw, named",
    [
        ({"acquisition": "pi"}, "strategy.acquisition=pi"),
        ({"candidates": "grid"}, "strategy.candidates=grid"),
        ({"initial": 1}, "strategy.initial=1"),
        ({"predictor": None}, "predictor=mlp"),
    ],
)
def test_bad_settings_name_the_key(kw, named):
    with pytest.raises(NascliError, match=named):
        _bananas(0, **kw)


@pytest.mark.slow
def test_a_resumed_bananas_search_equals_an_uninterrupted_one(nas, tmp_path):
    args = ["space=nbgraph", "dataset=photo", "estimator=nbgraph", "strategy=bananas"]
    args += ["strategy.initial=5", "strategy.batch=4", "predictor.members=2", "logger=none"]
    whole = tmp_path / "whole"
    assert nas("search", *args, "search.trials=24", f"hydra.run.dir={whole}").returncode == 0
    expected = (whole / "history.jsonl").read_text().splitlines()
    for name, drop_state in (("saved", False), ("replayed", True)):
        part = tmp_path / name
        assert nas("search", *args, "search.trials=11", f"hydra.run.dir={part}").returncode == 0
        if drop_state:
            (part / "strategy_state.json").unlink()
        again = nas("search", f"resume={part}", "search.trials=24")
        assert again.returncode == 0, again.stderr
        got = (part / "history.jsonl").read_text().splitlines()
        assert [json.loads(r)["arch"] for r in got] == [json.loads(r)["arch"] for r in expected]
        assert [json.loads(r)["metrics"] for r in got] == [
            json.loads(r)["metrics"] for r in expected
        ]
