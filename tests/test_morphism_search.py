"""strategy=morphism: NASH-style hill climbing whose children train from their parent's weights."""

from __future__ import annotations

import json

import pytest

from nascli.spaces.chain import ChainSpace
from nascli.strategies.base import NothingToAsk
from nascli.strategies.morphism import MorphismSearch
from tests.conftest import assert_one_line_error, run_nas

SMALL = ["space=chain", "space.stages=2", "space.slots=2", "space.widths=[4,8]", "space.stem=4"]
SEARCH = ["search", *SMALL, "strategy=morphism", "strategy.children=2", "dataset=digits"]
SEARCH += ["estimator.epochs=1", "logger=none"]


def _grows_from(space: ChainSpace, parent: str, child: str) -> bool:
    import random

    from nascli.core.space import ArchError

    net = space.build(parent, (1, 8, 8), 10)
    try:
        space.inherit(parent, net, child, random.Random(0))
    except ArchError:
        return False
    return True


def test_generations_grow_from_the_best_and_wait_for_their_last_child():
    space = ChainSpace(stages=2, slots=3, widths=[4, 8], stem=4)
    strategy = MorphismSearch(space, seed=0, children=3, steps=2, objective="val_acc")
    start = strategy.ask()
    assert start == space.morphism_start() and strategy.start_of(start) is None
    with pytest.raises(NothingToAsk):  # the start's result decides what grows
        strategy.ask()
    strategy.tell(start, {"val_acc": 0.5})
    first = [strategy.ask() for _ in range(3)]
    assert len(set(first)) == 3
    assert all(strategy.start_of(c) == start and _grows_from(space, start, c) for c in first)
    with pytest.raises(NothingToAsk):
        strategy.ask()
    for child, acc in zip(first, [0.4, 0.7, 0.6], strict=True):
        strategy.tell(child, {"val_acc": acc})
    second = strategy.ask()
    assert strategy.parent == first[1] and strategy.start_of(second) == first[1]
    # A generation where no child beats its parent keeps the parent.
    for child in [second, strategy.ask(), strategy.ask()]:
        strategy.tell(child, {"val_acc": 0.1} if child != second else None)
    strategy.ask()
    assert strategy.parent == first[1]


def test_children_running_when_the_state_was_saved_are_asked_again_after_a_resume():
    space = ChainSpace(stages=2, slots=3, widths=[4, 8], stem=4)
    a = MorphismSearch(space, seed=1, children=3)
    a.tell(a.ask(), {"val_acc": 0.5})
    running = [a.ask(), a.ask()]  # two workers busy when the process died
    b = MorphismSearch(space, seed=0, children=3)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    asked = [b.ask() for _ in range(3)]
    assert set(running) <= set(asked) and all(b.start_of(c) == a.start for c in asked)


def test_a_restored_state_proposes_what_the_original_would():
    space = ChainSpace(stages=2, slots=3, widths=[4, 8], stem=4)
    a = MorphismSearch(space, seed=4, children=3)
    a.tell(a.ask(), {"val_acc": 0.5})
    a.tell(a.ask(), {"val_acc": 0.6})
    b = MorphismSearch(space, seed=0, children=3)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    for _ in range(5):
        arch = a.ask()
        assert b.ask() == arch and b.start_of(arch) == a.start_of(arch)
        a.tell(arch, {"val_acc": len(arch) / 100})
        b.tell(arch, {"val_acc": len(arch) / 100})


@pytest.mark.parametrize(
    "extra,named",
    [
        (["space=nb201"], "space=chain"),
        (["estimator=zerocost"], "estimator=train"),
        (["strategy.children=0"], "strategy.children"),
        (["search.warm_start=[/tmp]"], "search.warm_start"),
        (["estimator.prefilter=4"], "estimator.prefilter"),
        (["executor=ray", "executor.address=auto"], "executor.address=auto"),
    ],
)
def test_what_morphism_cannot_search_is_refused(tmp_path, extra, named):
    group = extra[0].split("=")[0]  # its own keys go with the group replaced
    args = [a for a in SEARCH if "=" in group or not a.startswith(group)]
    out = run_nas(*args, *extra, "search.trials=2", f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert_one_line_error(out, named)


def _records(run) -> list[dict]:
    """The history, less the latency each trial measured (the clock's, not the search's)."""
    records = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    for r in records:
        r["metrics"].pop("latency_ms")
    return records


def test_a_search_trains_children_from_kept_weights_and_resumes_exactly(tmp_path):
    """Every trial after the first names its parent, whose weights the run kept; a search
    stopped after 3 trials and resumed to 5 records what an uninterrupted one does."""
    whole, part = tmp_path / "whole", tmp_path / "part"
    out = run_nas(*SEARCH, "search.trials=5", f"hydra.run.dir={whole}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    records = _records(whole)
    assert "parent" not in records[0] and all(r["status"] == "ok" for r in records)
    assert all(r["parent"] in {q["arch"] for q in records[: r["trial"]]} for r in records[1:])
    assert len(list((whole / "weights").glob("*.pt"))) == len({r["arch"] for r in records})
    out = run_nas(*SEARCH, "search.trials=3", f"hydra.run.dir={part}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    out = run_nas("search", f"resume={part}", "search.trials=5", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    resumed = _records(part)
    keys = ("trial", "arch", "parent", "metrics")
    assert [[r.get(k) for k in keys] for r in resumed] == [
        [r.get(k) for k in keys] for r in records
    ]
    # The best architecture retrains from scratch like any other.
    out = run_nas("train", f"arch={whole}", "recipe.epochs=1", "logger=none", cwd=tmp_path)
    assert out.returncode == 0, out.stderr


def test_a_gp_over_morphism_distance_guides_generations_toward_better_networks():
    """guide=gp: each child grows from one of the best trained networks (and starts from its
    weights); on an objective that is the morphism distance to a target network, the GP-guided
    search ends nearer the target than NASH's random children, over 8 seeds."""
    space = ChainSpace(stages=2, slots=3, kernels=[3, 5], widths=[4, 8, 16], stem=4)
    target = space.morphism_features("k5w8,k3w8s,id|k5w16s,k5w16,id")

    def fitness(arch: str) -> float:
        return -sum(abs(a - b) for a, b in zip(space.morphism_features(arch), target, strict=True))

    found = {}
    for guide in ("random", "gp"):
        best = []
        for seed in range(8):
            strategy = MorphismSearch(
                space, seed=seed, children=4, steps=2, guide=guide, candidates=32
            )
            scores, chosen_from = [], []
            for _ in range(24):
                before, generation = strategy._best(strategy.parents), strategy.generations
                arch = strategy.ask()
                if strategy.generations != generation:  # a new generation, drawn from `before`
                    chosen_from = before
                if guide == "gp" and strategy.generations > 1:
                    parent = strategy.start_of(arch)
                    assert parent in chosen_from and _grows_from(space, parent, arch)
                scores.append(fitness(arch))
                strategy.tell(arch, {"val_acc": scores[-1]})
            best.append(max(scores))
        found[guide] = sum(best) / len(best)
    assert found["gp"] > found["random"] + 1, found
