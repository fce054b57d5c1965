"""Multi-objective search: directions, fronts, hypervolume, the knee, and strategy=nsga2."""

from __future__ import annotations

import csv
import json
import random

import pytest

from nascli.errors import NascliError
from nascli.results.pareto import (
    as_costs,
    front_indices,
    hypervolume,
    knee,
    parse_objectives,
    reference_point,
)
from nascli.spaces.nb201 import NB201Space
from nascli.strategies.nsga2 import NSGA2
from tests.conftest import TINY, run_nas


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
    for _ in range(5):
        arch_a, arch_b = a.ask(), b.ask()
        assert arch_a == arch_b
        a.tell(arch_a, _synthetic(arch_a, space))
        b.tell(arch_b, _synthetic(arch_b, space))
    with pytest.raises(NascliError, match="two or more"):
        NSGA2(space, objectives=["val_acc"])


@pytest.mark.slow
def test_nsga2_search_writes_the_front_and_picks_the_knee(tmp_path):
    out = run_nas(
        "search",
        "strategy=nsga2",
        "search.objectives=[val_acc,latency_ms]",
        *TINY,
        "search.trials=8",
        "strategy.population=4",
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
    ],
)
def test_multi_objective_bad_input(tmp_path, args, named):
    out = run_nas("search", *args, *TINY, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], out.stderr
