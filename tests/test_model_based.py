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


def test_past_its_history_a_round_fits_on_the_window_and_resumes_exactly():
    fitted = []

    class Recording(BayesianLinear):
        def fit(self, x, y):
            fitted.append((len(original.told), sorted(y)))
            return super().fit(x, y)

    def make():
        return _bananas(2, predictor=Recording(), initial=4, batch=2, pool=10, history=8)

    original = make()
    for k in range(22):
        arch = original.ask()
        original.tell(arch, None if k == 17 else {"val_acc": _fitness(arch)})
    told, (n, y) = list(original.told.values()), fitted[-1]
    assert n > 8 and all(len(y) <= 8 for _, y in fitted)
    # Cut at the last multiple of 4: the best 2 and the latest 2 scored before it, and since.
    cut = n // 4 * 4
    before = [i for i in range(cut) if told[i] is not None]
    best = sorted(before, key=lambda i: -told[i])[:2]
    kept = set(best) | set(before[-2:]) | {i for i in range(cut, n) if told[i] is not None}
    assert y == sorted(told[i] for i in kept)
    resumed = make()
    resumed.load_state_dict(json.loads(json.dumps(original.state_dict())))
    for _ in range(8):  # across the next cut
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
        ({"history": 3}, "strategy.history=3"),
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


# -- PNAS's progressive search ------------------------------------------------------------------
def _progressive(seed=0, **kw):
    from nascli.spaces.darts import DartsSpace
    from nascli.strategies.progressive import ProgressiveSearch

    kw.setdefault("predictor", BayesianLinear())
    return ProgressiveSearch(DartsSpace(), seed=seed, beam=kw.pop("beam", 3), expansions=15, **kw)


def _cell_fitness(arch: str) -> float:
    return arch.count("sep_conv_3x3") / 8 + 0.1 * arch.count("normal_concat=[2, 3, 4, 5]")


def test_progressive_grows_one_node_per_stage_then_mutates_full_cells():
    from nascli.spaces.darts import DartsSpace

    space, strategy = DartsSpace(), _progressive()
    sizes = []
    for _ in range(18):
        arch = strategy.ask()
        sizes.append(space.cell_size(arch))
        strategy.tell(arch, {"val_acc": _cell_fitness(arch)})
    assert sizes == [1] * 3 + [2] * 3 + [3] * 3 + [4] * 9
    assert len(set(strategy.told)) == 18
    # the full-size cells descend from the best cells: the predictor ranks by sep_conv_3x3
    full = [a for a in strategy.told if space.cell_size(a) == 4]
    assert max(_cell_fitness(a) for a in full) > max(
        _cell_fitness(a) for a in strategy.told if space.cell_size(a) == 1
    )


def test_progressive_widens_a_stage_while_results_are_running():
    from nascli.spaces.darts import DartsSpace

    strategy = _progressive(beam=2)
    asked = [strategy.ask() for _ in range(4)]  # four workers, a stage of two
    assert len(set(asked)) == 4 and {DartsSpace().cell_size(a) for a in asked} == {1}
    for arch in asked:
        strategy.tell(arch, {"val_acc": _cell_fitness(arch)})
    assert DartsSpace().cell_size(strategy.ask()) == 2


def test_progressive_rebuilt_from_its_state_mid_stage_proposes_the_same():
    original = _progressive(seed=5)
    for _ in range(7):
        arch = original.ask()
        original.tell(arch, {"val_acc": _cell_fitness(arch)})
    resumed = _progressive(seed=5)
    resumed.load_state_dict(json.loads(json.dumps(original.state_dict())))
    for _ in range(8):
        a, b = original.ask(), resumed.ask()
        assert a == b
        original.tell(a, {"val_acc": _cell_fitness(a)})
        resumed.tell(b, {"val_acc": _cell_fitness(b)})


def test_progressive_refuses_a_space_without_growing_cells():
    from nascli.strategies.progressive import ProgressiveSearch

    with pytest.raises(NascliError, match="space=nb201 has no such cells: use space=darts"):
        ProgressiveSearch(NB201Space(), predictor=BayesianLinear())


@pytest.mark.slow
def test_a_resumed_progressive_search_equals_an_uninterrupted_one(nas, tmp_path):
    args = ["space=darts", "strategy=progressive", "strategy.beam=3", "strategy.expansions=10"]
    args += ["predictor=blr", "estimator=zerocost", "logger=none"]
    whole = tmp_path / "whole"
    assert nas("search", *args, "search.trials=10", f"hydra.run.dir={whole}").returncode == 0
    part = tmp_path / "part"
    assert nas("search", *args, "search.trials=4", f"hydra.run.dir={part}").returncode == 0
    (part / "strategy_state.json").unlink()  # replayed from the history
    again = nas("search", f"resume={part}", "search.trials=10")
    assert again.returncode == 0, again.stderr
    runs = [
        [json.loads(r) for r in (d / "history.jsonl").read_text().splitlines()]
        for d in (whole, part)
    ]
    assert [r["arch"] for r in runs[0]] == [r["arch"] for r in runs[1]]
    assert [r["metrics"]["score"] for r in runs[0]] == [r["metrics"]["score"] for r in runs[1]]


@pytest.mark.slow
def test_bananas_runs_on_two_workers_without_proposing_a_running_architecture(nas, tmp_path):
    args = ["space=nbgraph", "dataset=cora", "estimator=nbgraph", "strategy=bananas"]
    args += ["strategy.initial=4", "strategy.batch=3", "predictor.members=2", "logger=none"]
    out = nas("search", *args, "search.trials=16", "search.workers=2", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr[-2000:]
    history = [json.loads(r) for r in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert len(history) == 16 and len({r["arch"] for r in history}) == 16
    assert all(r["status"] == "ok" for r in history)
