"""Strategy mechanics (sample-based, ask/tell)."""

from __future__ import annotations

import json
from unittest import mock

import pytest

from nascli.spaces.nb201 import NB201Space
from nascli.strategies.random import RandomSearch


def test_random_search_proposes_no_duplicate_while_unseen_remain():
    strategy = RandomSearch(NB201Space(), seed=0)
    proposed = [strategy.ask() for _ in range(500)]
    assert len(set(proposed)) == 500


def test_random_search_is_seeded():
    a = [RandomSearch(NB201Space(), seed=1).ask() for _ in range(3)]
    b = [RandomSearch(NB201Space(), seed=1).ask() for _ in range(3)]
    c = [RandomSearch(NB201Space(), seed=2).ask() for _ in range(3)]
    assert a == b != c


def test_state_dict_is_json_and_resumes_the_same_sequence():
    strategy = RandomSearch(NB201Space(), seed=5)
    for _ in range(4):
        strategy.tell(strategy.ask(), {"val_acc": 0.5})
    state = json.loads(json.dumps(strategy.state_dict()))
    expected = [strategy.ask() for _ in range(5)]
    resumed = RandomSearch(NB201Space(), seed=999)
    resumed.load_state_dict(state)
    assert [resumed.ask() for _ in range(5)] == expected


# -- regularized evolution -----------------------------------------------------------------------
def _fitness(arch: str) -> float:
    """A made-up objective: the share of nor_conv_3x3 edges (maximum 1.0 at the all-3x3 cell)."""
    return arch.count("nor_conv_3x3") / 6


def _best_of(strategy, budget: int) -> float:
    """Run ask/tell for `budget` proposals on _fitness; the best value seen."""
    best = 0.0
    for _ in range(budget):
        arch = strategy.ask()
        strategy.tell(arch, {"val_acc": _fitness(arch)})
        best = max(best, _fitness(arch))
    return best


def test_evolution_population_never_exceeds_p_and_the_oldest_leaves():
    from nascli.strategies.evolution import RegularizedEvolution

    strategy = RegularizedEvolution(NB201Space(), seed=0, population=5, sample_size=2)
    told = []
    for _ in range(12):
        arch = strategy.ask()
        strategy.tell(arch, {"val_acc": _fitness(arch)})
        told.append(arch)
        assert len(strategy.population) <= 5
    # Aging, not fitness, decides who leaves: the population is exactly the last five children.
    assert [a for a, _ in strategy.population] == told[-5:]


def test_evolution_starts_random_then_mutates_the_tournament_winner():
    from nascli.strategies.evolution import RegularizedEvolution

    space = NB201Space()
    # sample_size == population: the tournament is the whole population, so the parent is its best.
    strategy = RegularizedEvolution(space, seed=1, population=4, sample_size=4)
    for _ in range(4):
        arch = strategy.ask()
        strategy.tell(arch, {"val_acc": _fitness(arch)})
    best = max(strategy.population, key=lambda m: m[1])[0]
    child = strategy.ask()
    assert child in space.neighbours(best)


def test_evolution_failed_children_never_join_and_search_improves():
    from nascli.strategies.evolution import RegularizedEvolution

    strategy = RegularizedEvolution(NB201Space(), seed=2, population=10, sample_size=3)
    strategy.tell(strategy.ask(), None)
    assert not strategy.population
    best = _best_of(strategy, 400)
    # It climbs to the one optimum of this easy objective; 400 random samples find it 2.5 % of the time.
    assert best == 1.0


def test_evolution_rejects_a_sample_larger_than_the_population():
    import pytest

    from nascli.core.errors import NascliError
    from nascli.strategies.evolution import RegularizedEvolution

    with pytest.raises(NascliError, match="strategy.sample_size"):
        RegularizedEvolution(NB201Space(), population=3, sample_size=5)


def test_evolution_with_crossover_stays_in_the_space():
    from nascli.strategies.evolution import RegularizedEvolution

    space = NB201Space()
    strategy = RegularizedEvolution(space, seed=3, population=4, sample_size=2, crossover=1.0)
    for _ in range(20):
        arch = strategy.ask()
        assert space.canonical(arch) == arch
        strategy.tell(arch, {"val_acc": _fitness(arch)})


# -- local search --------------------------------------------------------------------------------
def test_local_search_tries_neighbours_and_moves_to_a_better_one():
    from nascli.strategies.local import LocalSearch

    space = NB201Space()
    strategy = LocalSearch(space, seed=0)
    start = strategy.ask()
    strategy.tell(start, {"val_acc": 0.5})
    neighbour = strategy.ask()
    assert neighbour in space.neighbours(start)
    strategy.tell(neighbour, {"val_acc": 0.9})
    assert strategy.current == neighbour
    assert strategy.ask() in space.neighbours(neighbour)


def test_local_search_restarts_at_a_local_optimum():
    from nascli.strategies.local import LocalSearch

    space = NB201Space()
    strategy = LocalSearch(space, seed=0)
    start = strategy.ask()
    strategy.tell(start, {"val_acc": 0.9})
    for _ in range(len(space.neighbours(start))):
        arch = strategy.ask()
        assert arch in space.neighbours(start)
        strategy.tell(arch, {"val_acc": 0.1})
    restart = strategy.ask()
    assert restart not in space.neighbours(start) and restart != start
    assert strategy.restarts == 1


def test_local_search_reaches_the_optimum_of_a_smooth_objective():
    from nascli.strategies.local import LocalSearch

    assert _best_of(LocalSearch(NB201Space(), seed=4), 200) == 1.0


def test_every_strategy_resumes_from_its_state_dict():
    """After k trials, a strategy rebuilt from its JSON state proposes what the original would."""
    from nascli.strategies.bo import BayesianOptimisation
    from nascli.strategies.evolution import RegularizedEvolution
    from nascli.strategies.local import LocalSearch

    for make in (
        lambda: BayesianOptimisation(NB201Space(), seed=7, startup_trials=4),
        lambda: RandomSearch(NB201Space(), seed=7),
        lambda: RegularizedEvolution(NB201Space(), seed=7, population=4, sample_size=2),
        lambda: LocalSearch(NB201Space(), seed=7),
    ):
        original = make()
        for _ in range(9):
            arch = original.ask()
            original.tell(arch, {"val_acc": _fitness(arch)})
        state = json.loads(json.dumps(original.state_dict()))
        resumed = make()
        resumed.seed = 12345  # whatever the new object was seeded with, the state wins
        resumed.load_state_dict(state)
        for _ in range(10):
            a, b = original.ask(), resumed.ask()
            assert a == b
            original.tell(a, {"val_acc": _fitness(a)})
            resumed.tell(b, {"val_acc": _fitness(b)})


# -- Bayesian optimisation (Optuna) -------------------------------------------------------------
def test_bo_proposes_no_duplicate_while_the_space_is_not_exhausted():
    from nascli.core.space import Space
    from nascli.strategies.bo import BayesianOptimisation

    class Tiny(Space):
        """A 3 x 3 space: BO must cover all 9 without repeating, then may only repeat."""

        name = "tiny"
        cardinalities = (3, 3)

        def parse(self, text):
            return tuple(int(c) for c in text)

        def format(self, indices):
            return "".join(str(i) for i in indices)

        def build(self, arch, input_shape, num_classes):
            raise NotImplementedError

    strategy = BayesianOptimisation(Tiny(), seed=0, startup_trials=2)
    proposed = []
    for _ in range(9):
        arch = strategy.ask()
        proposed.append(arch)
        strategy.tell(arch, {"val_acc": int(arch[0]) + int(arch[1]) / 10})
    assert sorted(proposed) == sorted(f"{a}{b}" for a in range(3) for b in range(3))


def test_bo_told_its_space_proposes_what_optunas_own_tpe_proposes():
    """The sampler that skips Optuna's per-ask inference of the search space is the same TPE."""
    import optuna

    from nascli.strategies import bo

    def proposals():
        strategy = bo.BayesianOptimisation(NB201Space(), seed=3, startup_trials=4)
        out = []
        for _ in range(30):
            arch = strategy.ask()
            out.append(arch)
            strategy.tell(arch, {"val_acc": _fitness(arch)})
        return out

    told = proposals()
    stock = lambda known, **kwargs: optuna.samplers.TPESampler(multivariate=True, **kwargs)  # noqa: E731
    with mock.patch.object(bo, "known_space_tpe", stock):
        assert proposals() == told


def test_bo_past_its_history_sees_the_best_and_the_latest_and_resumes_exactly():
    from nascli.strategies.bo import BayesianOptimisation

    def make():
        return BayesianOptimisation(NB201Space(), seed=5, startup_trials=4, history=8)

    original = make()
    for _ in range(21):
        arch = original.ask()
        original.tell(arch, {"val_acc": _fitness(arch)})
    cut, window = original.window()
    assert cut == 20 and len(window) == 2 + 2 + 1  # best 2, latest 2 before the cut, 1 since
    values = [v for _, v in original.told[:20]]
    assert sorted(values)[-2:] == sorted(v for _, v in window[:4])[-2:]
    assert original.told[18] in window and original.told[19] in window  # the latest 2
    assert window[-1] == original.told[-1]
    resumed = make()
    resumed.load_state_dict(json.loads(json.dumps(original.state_dict())))
    for _ in range(12):  # across the next cut, at 24
        a, b = original.ask(), resumed.ask()
        assert a == b
        original.tell(a, {"val_acc": _fitness(a)})
        resumed.tell(b, {"val_acc": _fitness(b)})
    assert original.window()[0] == 32


def test_bo_beats_random_on_a_smooth_objective():
    """With the same budget, TPE finds better cells than random search on this objective (seeds 0..4)."""
    from nascli.strategies.bo import BayesianOptimisation

    bo = [_best_of(BayesianOptimisation(NB201Space(), seed=s), 60) for s in range(5)]
    rs = [_best_of(RandomSearch(NB201Space(), seed=s), 60) for s in range(5)]
    assert sum(bo) > sum(rs)


def test_bo_unknown_sampler_is_a_clear_error():
    import pytest

    from nascli.core.errors import NascliError
    from nascli.strategies.bo import BayesianOptimisation

    with pytest.raises(NascliError, match="strategy.sampler"):
        BayesianOptimisation(NB201Space(), sampler="cmaes")


# -- REINFORCE -----------------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["reinforce", "ppo"])
def test_reinforce_raises_the_probability_of_a_rewarded_architecture(algorithm):
    from nascli.strategies.reinforce import Reinforce

    space = NB201Space()
    strategy = Reinforce(space, seed=0, lr=0.05, algorithm=algorithm)
    good, bad = strategy.ask(), strategy.ask()
    strategy.tell(bad, {"val_acc": 0.1})  # sets the baseline
    before_good, before_bad = strategy.probability(good), strategy.probability(bad)
    for _ in range(5):
        strategy.tell(good, {"val_acc": 0.9})
        strategy.tell(bad, {"val_acc": 0.1})
    assert strategy.probability(good) > 10 * before_good
    assert strategy.probability(bad) < before_bad


def test_reinforce_baseline_is_an_exponential_moving_average():
    from nascli.strategies.reinforce import Reinforce

    strategy = Reinforce(NB201Space(), seed=0, baseline_decay=0.9)
    arch = strategy.ask()
    strategy.tell(arch, {"val_acc": 0.5})
    strategy.tell(arch, {"val_acc": 1.0})
    assert strategy.baseline == pytest.approx(0.9 * 0.5 + 0.1 * 1.0)
    strategy.tell(arch, None)  # a failed trial earns 0
    assert strategy.baseline == pytest.approx(0.9 * 0.55)


def test_reinforce_finds_the_optimum_of_a_smooth_objective():
    from nascli.strategies.reinforce import Reinforce

    assert _best_of(Reinforce(NB201Space(), seed=1), 200) == 1.0


# -- Q-learning ----------------------------------------------------------------------------------
def test_qlearning_updates_by_the_td_rule():
    from nascli.strategies.qlearning import QLearning

    space = NB201Space()
    strategy = QLearning(space, seed=0, alpha=0.5, gamma=0.9, q_init=0.5, replay=0)
    arch = strategy.ask()
    c = space.encode(arch)
    strategy.tell(arch, {"val_acc": 1.0})
    # Last decision: Q <- (1 - a) Q + a r.
    assert strategy.value(5, c[4], c[5]) == pytest.approx(0.5 * 0.5 + 0.5 * 1.0)
    # One before: Q <- (1 - a) Q + a * gamma * max_a' Q(next state, a'), the next state already updated.
    assert strategy.value(4, c[3], c[4]) == pytest.approx(0.5 * 0.5 + 0.5 * 0.9 * 0.75)
    # Untouched pairs keep the initial value.
    other = (c[5] + 1) % 5
    assert strategy.value(5, c[4], other) == 0.5


def test_qlearning_epsilon_decays_and_greedy_follows_q():
    from nascli.strategies.qlearning import QLearning

    space = NB201Space()
    strategy = QLearning(
        space, seed=0, epsilon_start=1.0, epsilon_end=0.0, epsilon_trials=4, replay=0
    )
    assert strategy.epsilon == 1.0
    for _ in range(4):
        strategy.tell(strategy.ask(), {"val_acc": 0.0})
    assert strategy.epsilon == 0.0
    # With epsilon 0 the proposal is greedy: make one action clearly best at every decision.
    for i in range(6):
        for previous in range(-1, 5):
            strategy.q[strategy._key(i, previous, 3)] = 10.0
    assert space.encode(strategy.ask()) == [3] * 6


def test_qlearning_improves_on_a_smooth_objective():
    from nascli.strategies.qlearning import QLearning

    ql = [_best_of(QLearning(NB201Space(), seed=s), 200) for s in range(3)]
    rs = [_best_of(RandomSearch(NB201Space(), seed=s), 200) for s in range(3)]
    assert sum(ql) >= sum(rs)


def test_ppo_clips_each_update():
    """20 PPO steps on one result move the probability far less than 20 unclipped steps would."""
    from nascli.strategies.reinforce import Reinforce

    def fresh(algorithm):
        strategy = Reinforce(
            NB201Space(), seed=0, lr=0.001, algorithm=algorithm, ppo_epochs=20, ppo_clip=0.2
        )
        arch = strategy.ask()
        strategy.tell(arch, {"val_acc": 0.0})  # baseline 0
        return strategy, arch, strategy.probability(arch)

    ppo, arch, before = fresh("ppo")
    ppo.tell(arch, {"val_acc": 1.0})
    ppo_ratio = ppo.probability(arch) / before
    plain, arch, before = fresh("reinforce")
    for _ in range(20):
        plain.baseline = 0.0  # the same advantage every step
        plain.tell(arch, {"val_acc": 1.0})
    plain_ratio = plain.probability(arch) / before
    assert ppo_ratio > 1.0
    assert ppo_ratio < plain_ratio / 10


# -- objectives that are better lower ------------------------------------------------------------
def _make(name: str, objective: str):
    from nascli.predictors.models import RandomForest
    from nascli.strategies.bo import BayesianOptimisation
    from nascli.strategies.evolution import RegularizedEvolution
    from nascli.strategies.local import LocalSearch
    from nascli.strategies.model_based import Bananas
    from nascli.strategies.qlearning import QLearning
    from nascli.strategies.reinforce import Reinforce

    space, kw = NB201Space(), {"objective": objective}
    return {
        "evolution": lambda: RegularizedEvolution(space, seed=0, population=8, sample_size=3, **kw),
        "local": lambda: LocalSearch(space, seed=4, **kw),
        "bo": lambda: BayesianOptimisation(space, seed=0, **kw),
        "bananas": lambda: Bananas(space, seed=0, predictor=RandomForest(trees=30, seed=0), **kw),
        "reinforce": lambda: Reinforce(space, seed=1, **kw),
        "qlearning": lambda: QLearning(space, seed=0, **kw),
    }[name]()


def _perplexity(arch: str) -> float:
    """A made-up perplexity, lowest (2) where _fitness is highest."""
    return 2.0 + 10.0 * (1 - _fitness(arch))


@pytest.mark.parametrize("name", ["evolution", "local", "bo"])
def test_a_ranking_strategy_minimising_perplexity_goes_where_maximising_accuracy_goes(name):
    """The direction comes from the metric: told val_ppl (better lower), a strategy that only
    compares results proposes exactly what it proposes when told val_acc that ranks the same."""
    up, down = _make(name, "val_acc"), _make(name, "val_ppl")
    for _ in range(30):
        a, b = up.ask(), down.ask()
        assert a == b
        up.tell(a, {"val_acc": _fitness(a)})
        down.tell(b, {"val_ppl": _perplexity(b)})


@pytest.mark.parametrize("name", ["bananas", "reinforce", "qlearning"])
def test_a_strategy_told_perplexity_learns_to_lower_it(name):
    """A predictor fitted to -perplexity, or a controller rewarded 1/perplexity (ENAS's c/ppl):
    the later proposals have lower perplexity than the first ones; a failure earns the least."""
    from nascli.core.objectives import reward_of

    assert reward_of(None, "val_ppl") < reward_of({"val_ppl": 1000.0}, "val_ppl")
    strategy, found = _make(name, "val_ppl"), []
    for _ in range(60 if name == "bananas" else 200):
        arch = strategy.ask()
        strategy.tell(arch, {"val_ppl": _perplexity(arch)})
        found.append(_perplexity(arch))
    assert sum(found[-20:]) < sum(found[:20])
