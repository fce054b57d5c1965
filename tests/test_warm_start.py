"""search.warm_start: earlier searches of the same task are told to the strategy, other tasks'
best architectures are proposed first, and a resumed warm start is what an uninterrupted one is."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from nascli.core.errors import NascliError
from nascli.results.warm_start import gather
from nascli.spaces.macro import MacroSpace
from tests.conftest import assert_one_line_error, run_nas

SPACE = MacroSpace(layers=2, channels=4)
ARCHS = [SPACE.format([i, j, 0]) for i in range(6) for j in range(6)]


def _job(folder, dataset: str, accs: list[float], space: str = "macro", archs=ARCHS):
    """A run directory as a search leaves it: .hydra/, config.yaml, history.jsonl."""
    (folder / ".hydra").mkdir(parents=True)
    config = {
        "space": {"_target_": "nascli.spaces.macro.MacroSpace", "name": space},
        "dataset": {"name": dataset},
        "estimator": {"epochs": 1},
        "search": {"objective": "val_acc"},
    }
    (folder / "config.yaml").write_text(OmegaConf.to_yaml(config))
    lines = [
        {"trial": t, "arch": a, "status": "ok", "metrics": {"val_acc": acc}}
        for t, (a, acc) in enumerate(zip(archs, accs, strict=False))
    ]
    (folder / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return config


def test_same_task_trials_are_observations_and_other_tasks_give_a_ranking(tmp_path):
    config = _job(tmp_path / "here", "digits", [0.5, 0.6])
    # Two searches on other data: ARCHS[2] is best in one and second in the other.
    _job(tmp_path / "sweep" / "0", "fake", [0.1, 0.2, 0.9, 0.3])
    _job(tmp_path / "sweep" / "1", "fake", [0.1, 0.95, 0.9, 0.2, 0.3])
    warm = gather([str(tmp_path)], SPACE, config, "val_acc", top_k=3)
    assert [r["arch"] for r in warm.observed] == ARCHS[:2]
    assert {s["gave"] for s in warm.sources if s["job"].endswith("here")} == {"observations"}
    # Mean scaled ranks: ARCHS[2] 1/8 (0 and 1/4), ARCHS[1] 1/3 (observed here: skipped),
    # ARCHS[4] 1/2 (only in sweep/1), ARCHS[3] 13/24 (1/3 and 3/4), ARCHS[0] 1.
    assert warm.first == [ARCHS[2], ARCHS[4], ARCHS[3]]
    assert len(gather([str(tmp_path / "sweep")], SPACE, config, "val_acc", top_k=1).first) == 1


def test_what_cannot_warm_start_a_search_is_named(tmp_path):
    config = _job(tmp_path / "here", "digits", [0.5])
    _job(tmp_path / "other", "digits", [0.5], archs=["0123:gcn-gat-fc-graph"])
    (tmp_path / "empty").mkdir()
    for dirs, named in [
        ([str(tmp_path / "other")], "searched another space"),
        ([str(tmp_path / "empty")], "holds no search"),
        ([str(tmp_path / "nope")], "is not a folder"),
    ]:
        with pytest.raises(NascliError, match=named):
            gather(dirs, SPACE, config, "val_acc", top_k=3)


GRAPH = ["search", "space=nbgraph", "estimator=nbgraph", "logger=none"]


def _history(run) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


def test_a_search_of_the_same_task_starts_from_the_earlier_one_and_resumes_exactly(tmp_path):
    earlier, whole, part = tmp_path / "earlier", tmp_path / "whole", tmp_path / "part"
    out = run_nas(*GRAPH, "dataset=cora", "strategy=random", "search.trials=20",
                  f"hydra.run.dir={earlier}", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    warm = [*GRAPH, "dataset=cora", "strategy=evolution", "strategy.population=10",
            f"search.warm_start=[{earlier}]"]  # fmt: skip
    out = run_nas(*warm, "search.trials=6", f"hydra.run.dir={whole}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "20 earlier trials of this task told to the strategy" in out.stderr
    before = {r["arch"] for r in _history(earlier)}
    records = _history(whole)
    assert len(records) == 6 and not {r["arch"] for r in records} & before  # none retrained
    # Evolution's population started from the earlier trials: its first children are theirs.
    state = json.loads((whole / "strategy_state.json").read_text())["state"]
    assert len(state["population"]) == 10
    out = run_nas(*warm, "search.trials=3", f"hydra.run.dir={part}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    out = run_nas("search", f"resume={part}", "search.trials=6", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert [r["arch"] for r in _history(part)] == [r["arch"] for r in records]


def test_another_dataset_proposes_the_transferred_architectures_first(tmp_path):
    earlier, run = tmp_path / "earlier", tmp_path / "run"
    out = run_nas(*GRAPH, "dataset=cora", "strategy=random", "search.trials=12",
                  f"hydra.run.dir={earlier}", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    best = sorted(_history(earlier), key=lambda r: -r["metrics"]["val_acc"])
    out = run_nas(*GRAPH, "dataset=citeseer", "strategy=random", "search.trials=4",
                  f"search.warm_start={earlier}", "search.warm_start_top_k=3",
                  f"hydra.run.dir={run}", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert [r["arch"] for r in _history(run)][:3] == [r["arch"] for r in best[:3]]
    saved = json.loads((run / "warm_start.json").read_text())
    assert saved["first"] == [r["arch"] for r in best[:3]] and saved["observed"] == []


@pytest.mark.parametrize(
    "args",
    [
        [*GRAPH, "dataset=cora", "search.warm_start=[{tmp}/missing]"],
        ["search", "strategy=darts", "search.warm_start=[{tmp}]"],
    ],
    ids=["missing", "oneshot"],
)
def test_a_warm_start_that_cannot_be_is_refused_before_any_trial(tmp_path, args):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    out = run_nas(*args, "search.trials=2", f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert_one_line_error(out, "search.warm_start")
    assert not (tmp_path / "run" / "history.jsonl").exists()


def test_a_damaged_warm_start_record_is_named_on_resume(tmp_path):
    from nascli.results.warm_start import WARM_START, load

    (tmp_path / WARM_START).write_text(json.dumps({"sources": [], "observed": [{}], "first": []}))
    with pytest.raises(NascliError, match="is damaged"):
        load(tmp_path, SPACE)
    (tmp_path / WARM_START).write_text(json.dumps({"sources": [], "observed": [], "first": ["x"]}))
    with pytest.raises(NascliError, match="is damaged"):
        load(tmp_path, SPACE)
