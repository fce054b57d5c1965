"""Multi-objective search: directions, fronts, hypervolume, the knee, and strategy=nsga2."""

from __future__ import annotations

import csv
import json
import random

import pytest

from nascli.commands.report.rows import Row, add_hypervolumes
from nascli.core.errors import NascliError
from nascli.core.objectives import mnasnet_reward
from nascli.core.pareto import (
    as_costs,
    front_indices,
    hypervolume,
    knee,
    parse_objectives,
    reference_point,
    summarise,
)
from nascli.spaces.nb201 import NB201Space
from nascli.strategies.evolution import RegularizedEvolution
from nascli.strategies.nsga2 import NSGA2
from tests.conftest import TINY, assert_one_line_error, run_nas


def test_directions_default_by_name_and_can_be_stated():
    assert parse_objectives(["val_acc", "latency_ms", "params:max", "score"]) == [
        ("val_acc", "max"),
        ("latency_ms", "min"),
        ("params", "max"),
        ("score", "max"),
    ]
    for bad in (["val_acc:up"], [":min"], ["val_acc", "val_acc:max"]):
        with pytest.raises(NascliError, match="search.objectives"):
            parse_objectives(bad)
    assert as_costs(
        {"val_acc": 0.9, "latency_ms": 2.0}, parse_objectives(["val_acc", "latency_ms"])
    ) == (-0.9, 2.0)


def test_front_hypervolume_and_knee_on_hand_made_points():
    costs = [(1, 5), (2, 3), (3, 4), (4, 1), (2, 3), (5, 5)]
    assert front_indices(costs) == [0, 1, 3]  # (3,4) and (5,5) dominated; the repeated (2,3) once
    # Up to (6, 6), by vertical strips: x in [1,2) from y=5 (1 tall), [2,4) from y=3 (3 tall),
    # [4,6) from y=1 (5 tall).
    assert hypervolume([costs[i] for i in (0, 1, 3)], (6, 6)) == pytest.approx(
        1 * 1 + 2 * 3 + 2 * 5
    )
    # Three dimensions: a point's box is the whole unit cube; a second point adds nothing.
    assert hypervolume([(0, 0, 0), (0.5, 0, 0)], (1, 1, 1)) == pytest.approx(1.0)
    # Two 0.25 boxes sharing [0.5, 1]^3 (0.125).
    assert hypervolume([(0, 0.5, 0.5), (0.5, 0, 0.5)], (1, 1, 1)) == pytest.approx(0.375)
    assert hypervolume([(7, 7)], (6, 6)) == 0.0
    assert knee(costs, [0, 1, 3]) == 1  # the balanced point, not an extreme
    ref = reference_point(costs)
    assert ref[0] > 5 and ref[1] > 5


def test_hypervolume_matches_a_monte_carlo_estimate():
    rng = random.Random(0)
    pts = [(rng.random(), rng.random(), rng.random()) for _ in range(12)]
    front = [pts[i] for i in front_indices(pts)]
    inside = sum(
        any(all(p[k] <= q[k] for k in range(3)) for p in front)
        for q in ((rng.random(), rng.random(), rng.random()) for _ in range(40_000))
    )
    assert hypervolume(front, (1, 1, 1)) == pytest.approx(inside / 40_000, abs=0.01)


def _trials(points):
    return [
        {"trial": i, "status": "ok", "arch": str(i), "metrics": {"val_acc": a, "latency_ms": t}}
        for i, (a, t) in enumerate(points)
    ]


def test_a_stated_reference_point_is_used_as_given():
    objectives = parse_objectives(["val_acc", "latency_ms"])
    history = _trials([(0.9, 4.0), (0.8, 2.0), (0.7, 3.0)])
    result = summarise(history, objectives, {"val_acc": 0.5, "latency_ms": 5.0})
    assert result["reference_point"] == {"val_acc": 0.5, "latency_ms": 5.0}
    # costs (-0.9, 4), (-0.8, 2) against (-0.5, 5): strips 0.1 x 1 and 0.3 x 3
    assert result["hypervolume"] == pytest.approx(0.1 * 1 + 0.3 * 3)
    for bad in ({"val_acc": 0.5}, {"val_acc": 0.5, "latency_ms": 5, "params": 1}):
        with pytest.raises(NascliError, match="search.reference_point"):
            summarise(history, objectives, bad)


def test_report_puts_every_front_on_one_reference_point(tmp_path):
    def row(points, reference=None):
        return Row(
            path=tmp_path,
            command="search",
            status="completed",
            settings={},
            history=_trials(points),
            objectives=["val_acc", "latency_ms"],
            reference=reference,
        )

    wide, narrow = row([(0.9, 4.0), (0.6, 1.0)]), row([(0.7, 3.0)])
    used = add_hypervolumes([wide, narrow])
    # the worst over both runs (0.6, 4.0), pushed out by 10 % of the range (0.3 and 3.0)
    ref = used["val_acc,latency_ms"]
    assert ref["val_acc"] == pytest.approx(0.57) and ref["latency_ms"] == pytest.approx(4.3)
    assert narrow.metrics["hypervolume"] == pytest.approx((0.7 - 0.57) * (4.3 - 3.0))
    assert wide.metrics["hypervolume"] > narrow.metrics["hypervolume"]
    # the runs' own stated point wins when they share one
    a = row([(0.9, 4.0)], {"val_acc": 0.5, "latency_ms": 5.0})
    b = row([(0.8, 2.0)], {"val_acc": 0.5, "latency_ms": 5.0})
    add_hypervolumes([a, b])
    assert a.metrics["hypervolume"] == pytest.approx(0.4 * 1.0)
    assert b.metrics["hypervolume"] == pytest.approx(0.3 * 3.0)
    # and the report's own point wins over both, so sweeps compare against a point stated once
    slow = row([(0.9, 4.0), (0.95, 300.0)])  # one timing hiccup would move the worst-value point
    used = add_hypervolumes([slow, narrow], {"val_acc": 0.6, "latency_ms": 5.0})
    assert used["val_acc,latency_ms"] == {"val_acc": 0.6, "latency_ms": 5.0}
    assert slow.metrics["hypervolume"] == pytest.approx(0.3 * 1.0)
    assert narrow.metrics["hypervolume"] == pytest.approx(0.1 * 2.0)
    with pytest.raises(NascliError, match="reference_point names val_acc, params"):
        add_hypervolumes([slow], {"val_acc": 0.6, "params": 5.0})
    with pytest.raises(NascliError, match="reference_point: every value must be a number"):
        add_hypervolumes([slow], {"val_acc": 0.6, "latency_ms": "fast"})


def test_mnasnet_reward_soft_and_hard():
    soft = {
        "target": 10.0,
        "metric": "val_acc",
        "cost": "latency_ms",
        "alpha": -0.07,
        "beta": -0.07,
    }
    m = {"val_acc": 0.8, "latency_ms": 20.0}
    assert mnasnet_reward(m, soft) == pytest.approx(0.8 * 2**-0.07)
    assert mnasnet_reward({**m, "latency_ms": 5.0}, soft) == pytest.approx(0.8 * 0.5**-0.07)
    hard = {**soft, "alpha": 0.0, "beta": -1.0}
    assert mnasnet_reward({**m, "latency_ms": 5.0}, hard) == pytest.approx(0.8)  # within: acc
    assert mnasnet_reward(m, hard) == pytest.approx(0.4)  # twice the target: halved
    with pytest.raises(NascliError, match="search.reward.cost"):
        mnasnet_reward({"val_acc": 0.8}, soft)


@pytest.mark.slow
def test_search_can_maximise_the_mnasnet_reward(tmp_path):
    out = run_nas(
        "search",
        *TINY,
        "search.trials=3",
        "search.objective=reward",
        "search.reward.target=0.5",
        "hydra.run.dir=run",
        "format=json",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    history = [json.loads(x) for x in (tmp_path / "run/history.jsonl").read_text().splitlines()]
    for r in history:
        m = r["metrics"]
        assert m["reward"] == pytest.approx(m["val_acc"] * (m["latency_ms"] / 0.5) ** -0.07)
    best = json.loads((tmp_path / "run/best.json").read_text())
    assert best["metrics"]["reward"] == max(r["metrics"]["reward"] for r in history)
    out = run_nas("search", *TINY, "search.objective=reward", cwd=tmp_path)
    assert out.returncode == 2 and "search.reward.target" in out.stderr, out.stderr


def test_pareto_evolution_breeds_from_the_front_and_resumes():
    space = NB201Space()
    kw = {
        "population": 6,
        "sample_size": 6,
        "pareto": True,
        "objectives": ["val_acc", "latency_ms"],
    }
    evo = RegularizedEvolution(space, seed=1, **kw)
    for _ in range(6):
        arch = evo.ask()
        evo.tell(arch, _synthetic(arch, space))
    costs = [m[1] for m in evo.population]
    front = {evo.population[i][0] for i in front_indices(costs)}
    # The whole population contends: every winner is on its front, and (ties drawn at random)
    # every front member wins sometimes, not only the most accurate.
    winners = {evo._tournament() for _ in range(60)}
    assert len(front) >= 2 and winners == front
    again = RegularizedEvolution(space, seed=1, **kw)
    again.load_state_dict(json.loads(json.dumps(evo.state_dict())))
    _propose_alike(evo, again, space, 8)
    with pytest.raises(NascliError, match="search.objectives"):
        RegularizedEvolution(space, pareto=True, objectives=["val_acc"])


def _propose_alike(a, b, space: NB201Space, n: int) -> None:
    """A strategy and its restored copy propose the same architectures, told the same results."""
    for _ in range(n):
        arch_a, arch_b = a.ask(), b.ask()
        assert arch_a == arch_b
        a.tell(arch_a, _synthetic(arch_a, space))
        b.tell(arch_b, _synthetic(arch_b, space))


def _synthetic(arch: str, space: NB201Space) -> dict[str, float]:
    idx = space.parse(arch)
    return {"val_acc": sum(idx) / 24, "latency_ms": sum(i * i for i in idx) / 10 + 0.01 * idx[0]}


def test_nsga2_evolves_generations_and_resumes_exactly():
    space = NB201Space()
    a = NSGA2(space, seed=3, objectives=["val_acc", "latency_ms"], population=6)
    for _ in range(20):
        arch = a.ask()
        a.tell(arch, _synthetic(arch, space))
    generations = {attrs.get("NSGAIISampler:generation") for _, _, attrs in a.told}
    assert max(g for g in generations if g is not None) >= 2
    b = NSGA2(space, seed=3, objectives=["val_acc", "latency_ms"], population=6)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    _propose_alike(a, b, space, 5)
    with pytest.raises(NascliError, match="two or more"):
        NSGA2(space, objectives=["val_acc"])


def test_nsga2_spends_no_trial_on_an_architecture_it_evaluated_already():
    space = NB201Space()
    proposals = []
    a = NSGA2(space, seed=0, objectives=["val_acc", "latency_ms"], population=4)
    for _ in range(40):  # small generations converge: children repeat their parents often
        arch = a.ask()
        proposals.append(arch)
        a.tell(arch, _synthetic(arch, space))
    assert len(set(proposals)) == len(proposals)
    repeats = len(a.told) - len(proposals)  # children that joined their generation for free
    assert repeats > 0
    b = NSGA2(space, seed=0, objectives=["val_acc", "latency_ms"], population=4)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    _propose_alike(a, b, space, 5)


@pytest.mark.slow
def test_nsga2_search_writes_the_front_and_picks_the_knee(tmp_path):
    out = run_nas(
        "search",
        "strategy=nsga2",
        "search.objectives=[val_acc,latency_ms]",
        *TINY,
        "search.trials=8",
        "strategy.population=4",
        "search.reference_point={val_acc:0,latency_ms:1000}",
        "hydra.run.dir=run",
        "format=json",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    run = tmp_path / "run"
    history = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
    objectives = parse_objectives(["val_acc", "latency_ms"])
    costs = [as_costs(r["metrics"], objectives) for r in history if r["status"] == "ok"]
    with open(run / "pareto.csv", newline="") as f:
        front = list(csv.DictReader(f))
    assert front and len(front) == summary["pareto"]["front_size"]
    for row in front:  # nothing evaluated dominates a front member
        c = (-float(row["val_acc"]), float(row["latency_ms"]))
        assert not any(all(x <= y for x, y in zip(o, c, strict=True)) and o != c for o in costs)
    assert summary["pareto"]["hypervolume"] > 0 and (run / "pareto.png").is_file()
    assert summary["pareto"]["reference_point"] == {"val_acc": 0, "latency_ms": 1000}
    front_costs = [(-float(r["val_acc"]), float(r["latency_ms"])) for r in front]
    assert summary["pareto"]["hypervolume"] == pytest.approx(hypervolume(front_costs, (0, 1000)))
    best = json.loads((run / "best.json").read_text())
    assert best["objectives"] == ["val_acc:max", "latency_ms:min"]
    assert best["trial"] in {int(r["trial"]) for r in front}


@pytest.mark.slow
@pytest.mark.parametrize(
    "args,named",
    [
        (["strategy=nsga2"], "objectives"),
        (["strategy=nsga2", "search.objectives=[val_acc,speed:up]"], "search.objectives"),
        (["search.objectives=[val_acc,colour]"], "colour"),
        (
            ["search.objectives=[val_acc,latency_ms]", "search.reference_point={val_acc:0.5}"],
            "search.reference_point",
        ),
        (
            ["search.objectives=[val_acc,latency_ms]", "search.reference_point=[0.5,20]"],
            "search.reference_point",
        ),
    ],
)
def test_multi_objective_bad_input(tmp_path, args, named):
    out = run_nas("search", *args, *TINY, cwd=tmp_path)
    assert_one_line_error(out, named)


def test_nsga2_asked_twice_before_a_tell_proposes_two_architectures():
    space = NB201Space()
    a = NSGA2(space, seed=0, objectives=["val_acc", "latency_ms"], population=4)
    first, second = a.ask(), a.ask()  # two workers' proposals, nothing told yet
    assert first != second
    a.tell(second, _synthetic(second, space))
    a.tell(first, _synthetic(first, space))
    assert len(a.told) == 2 and not any(a.pending.values())
