"""One trial record, one history reader and one rule for "the best trial", shared by search,
train (ensembles) and report (regret)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from nascli.commands.report.rows import read_rows
from nascli.commands.search.finish import finish
from nascli.commands.train.run import top_archs
from nascli.core.errors import NascliError
from nascli.core.records import best, best_one, read_history, trial_record
from nascli.results.run_dir import RunDir
from tests.conftest import assert_one_line_error, run_nas

ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|",
    "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|none~1|avg_pool_3x3~2|",
]


def _rec(trial, arch, val, test, params=1000, rung=None, status="ok"):
    extra = {} if rung is None else {"rung": rung}
    metrics = {"val_acc": val, "test_acc": test, "params": params} if status == "ok" else {}
    return trial_record(trial, arch, status=status, metrics=metrics, seconds=10.0, **extra)


def test_best_follows_the_direction_of_its_objective():
    """Perplexity and loss are better lower, accuracy higher: the same history gives each its
    own best, and an explicit `maximize` overrides the metric's direction."""
    history = [
        trial_record(t, a, status="ok", metrics={"val_acc": acc, "val_ppl": ppl}, seconds=1.0)
        for t, (a, acc, ppl) in enumerate(
            [(ARCHS[0], 0.7, 40.0), (ARCHS[1], 0.9, 55.0), (ARCHS[2], 0.8, 31.5)]
        )
    ]
    assert best_one(history, "val_acc")["arch"] == ARCHS[1]
    assert best_one(history, "val_ppl")["arch"] == ARCHS[2]
    assert [r["arch"] for r in best(history, "val_ppl", k=3)] == [ARCHS[2], ARCHS[0], ARCHS[1]]
    assert best(history, "val_ppl", maximize=True)[0]["arch"] == ARCHS[1]


def test_best_honours_rungs_constraints_and_ties_and_returns_distinct_archs():
    history = [
        _rec(0, "a", 0.90, 0.8, rung=0),
        _rec(1, "b", 0.95, 0.9, rung=0, params=10**6),  # breaks max_params
        _rec(2, "c", 0.80, 0.7, rung=1),  # promoted: wins over a higher rung-0 value
        _rec(3, "a", 0.90, 0.8, rung=0),  # a again: one member per architecture
        _rec(4, "d", 0.99, 0.99, status="failed"),
        _rec(5, "e", 0.90, 0.8, rung=0),  # ties with a: the earlier wins
    ]
    limits = {"max_params": 5000}
    assert [r["trial"] for r in best(history, "val_acc", limits, k=10)] == [2, 0, 5]
    assert best_one(history)["trial"] == 2
    assert [r["arch"] for r in best(history, "val_acc", None, k=3)] == ["c", "b", "a"]
    assert best(history[4:5]) == [] and best_one([]) is None
    assert best(history, "val_acc", limits, k=2, maximize=False)[1]["arch"] == "a"


def test_read_history_drops_a_torn_end_and_names_the_line_of_other_damage(tmp_path):
    good = [_rec(0, "a", 0.5, 0.5), _rec(1, "b", 0.6, 0.6)]
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in good) + '{"trial": 2, "ar')
    assert [r["trial"] for r in read_history(tmp_path)] == [0, 1]
    assert path.read_text().endswith('"ar')  # reading alone changes nothing
    assert [r["trial"] for r in read_history(tmp_path, repair=True)] == [0, 1]
    assert path.read_text().count("\n") == 2 and path.read_text().endswith("}\n")
    path.write_text(json.dumps(good[0]) + "\n{oops\n" + json.dumps(good[1]) + "\n")
    with pytest.raises(NascliError, match=r"history.jsonl line 2 is corrupt"):
        read_history(tmp_path)


@pytest.fixture(scope="module")
def search_dir(tmp_path_factory) -> Path:
    """A finished search on the shipped table, its history then replaced by trials of known
    metrics (the table estimator's config stays, so the report computes regret)."""
    root = tmp_path_factory.mktemp("records")
    out = run_nas(
        "search", "estimator=table", "search.trials=2", "hydra.run.dir=s", "format=json", cwd=root
    )
    assert out.returncode == 0, out.stderr
    return root / "s"


def _craft(folder: Path, history: list[dict], constraints: dict) -> dict:
    """Give a search run `history` and `constraints`, and write its best.json and summary the
    way a search ends (nascli.commands.search.finish)."""
    cfg = OmegaConf.load(folder / "config.yaml")
    for key, value in constraints.items():
        OmegaConf.update(cfg, f"constraints.{key}", value)
    (folder / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    (folder / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))
    finish(cfg, RunDir(folder), "nb201", history, "completed", "trials", None, 1.0, 0)
    return json.loads((folder / "best.json").read_text())


def test_ensemble_members_never_break_the_searchs_constraints(search_dir, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text((search_dir / "config.yaml").read_text())
    history = [
        _rec(0, ARCHS[0], 0.95, 0.9, params=10**6),  # the best val_acc breaks max_params
        _rec(1, ARCHS[1], 0.90, 0.8),
        _rec(2, ARCHS[2], 0.85, 0.8, params=10**6),
        _rec(3, ARCHS[3], 0.80, 0.7),
    ]
    chosen = _craft(run, history, {"max_params": 5000})
    members = top_archs(run, 3)
    assert members == [ARCHS[1], ARCHS[3]]  # only two keep the constraint
    assert chosen["arch"] == members[0]


@pytest.mark.parametrize(
    "history,constraints",
    [
        (
            [_rec(0, ARCHS[0], 0.95, 0.99, params=10**6), _rec(1, ARCHS[1], 0.90, 0.80)],
            {"max_params": 5000},
        ),
        (
            [
                _rec(0, ARCHS[0], 0.90, 0.85, rung=0),
                _rec(1, ARCHS[1], 0.95, 0.99, rung=0),
                _rec(2, ARCHS[0], 0.91, 0.86, rung=1),
            ],
            {},
        ),
    ],
    ids=["constraints", "rungs"],
)
def test_regret_scores_the_architecture_best_json_names(search_dir, history, constraints):
    chosen = _craft(search_dir, history, constraints)
    (row,) = read_rows([str(search_dir)])
    named = [r for r in history if r["trial"] == chosen["trial"]][0]
    assert row.metrics["test_acc@final"] == named["metrics"]["test_acc"]
    assert row.metrics["regret@final"] == pytest.approx(
        row.metrics["table_optimum"] - named["metrics"]["test_acc"]
    )


@pytest.mark.slow
def test_train_from_a_search_killed_mid_write(tmp_path):
    out = run_nas("search", "estimator=table", "search.trials=3", "hydra.run.dir=s", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    history = tmp_path / "s" / "history.jsonl"
    before = history.read_text()
    with open(history, "a") as f:
        f.write('{"trial": 3, "arch": "|nor_co')  # SIGKILL while a line was being written
    out = run_nas(
        "train",
        "run=s",
        "recipe.epochs=1",
        "logger=none",
        "export.onnx=false",
        "hydra.run.dir=t",
        "format=json",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    best = json.loads((tmp_path / "s" / "best.json").read_text())
    assert json.loads(out.stdout)["best"]["arch"] == best["arch"]
    # A damaged line elsewhere is one line naming the file and the line, and nothing is lost.
    lines = before.splitlines()
    damaged = "\n".join([lines[0], "{oops", *lines[1:]]) + "\n"
    history.write_text(damaged)
    out = run_nas("train", "run=s", "logger=none", "hydra.run.dir=t2", cwd=tmp_path)
    assert_one_line_error(out, "history.jsonl line 2")
    assert history.read_text() == damaged
