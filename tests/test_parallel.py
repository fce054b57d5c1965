"""search.workers=N: trials evaluated in worker processes with asynchronous ask/tell."""

from __future__ import annotations

import json

import pytest

from tests.conftest import assert_one_line_error, run_nas

pytestmark = pytest.mark.slow

BASE = ["strategy=random", "estimator.epochs=1", "logger=none", "format=json"]


def _history(run):
    return [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]


def test_two_workers_give_the_one_worker_results_and_resume(tmp_path):
    """Random proposals do not depend on results and each trial is seeded by its number, so the
    same trials must come out, whatever order they finish in."""
    one = run_nas("search", *BASE, "search.trials=4", "hydra.run.dir=one", cwd=tmp_path)
    two = run_nas(
        "search", *BASE, "search.trials=4", "search.workers=2", "hydra.run.dir=two", cwd=tmp_path
    )
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    a = sorted(_history(tmp_path / "one"), key=lambda r: r["trial"])
    b = sorted(_history(tmp_path / "two"), key=lambda r: r["trial"])
    assert [r["trial"] for r in b] == [0, 1, 2, 3]
    assert [(r["arch"], r["metrics"]["val_acc"]) for r in a] == [
        (r["arch"], r["metrics"]["val_acc"]) for r in b
    ]
    sa, sb = json.loads(one.stdout), json.loads(two.stdout)
    assert sa["trials"] == sb["trials"] == 4 and sa["best"]["arch"] == sb["best"]["arch"]
    state = json.loads((tmp_path / "two" / "strategy_state.json").read_text())
    assert state["trials"] == 4
    more = run_nas(
        "search", "resume=two", "search.trials=6", "search.workers=2", "format=json", cwd=tmp_path
    )
    assert more.returncode == 0, more.stderr
    trials = [r["trial"] for r in _history(tmp_path / "two")]
    assert sorted(trials) == list(range(6))  # numbered on, never repeated


@pytest.mark.parametrize(
    "args,named",
    [
        (["search.workers=0"], "search.workers"),
        (["search.workers=2", "estimator=hyperband"], "search.workers"),
    ],
)
def test_parallel_bad_input(tmp_path, args, named):
    out = run_nas("search", *BASE, *args, cwd=tmp_path)
    assert_one_line_error(out, named)
