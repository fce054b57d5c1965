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


DYING = """
import multiprocessing
import os

from torch import nn


def build(choose, input_shape, num_classes):
    fate = choose.value("fate", ["a", "b", "c", "die"])
    width = choose.value("width", [4, 8, 12, 16])
    if fate == "die" and multiprocessing.current_process().name != "MainProcess":
        os._exit(1)  # as the kernel's out-of-memory killer would end a worker
    return nn.Sequential(
        nn.Conv2d(input_shape[0], width, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes),
    )
"""


def test_a_dead_worker_fails_its_trials_and_fresh_workers_go_on(tmp_path):
    import subprocess

    from tests.conftest import NAS

    (tmp_path / "dying.py").write_text(DYING)
    proc = subprocess.Popen(
        [
            NAS,
            "search",
            *BASE,
            "space=custom",
            f"space.builder={tmp_path / 'dying.py'}:build",
            "search.trials=8",
            "search.workers=2",
            "search.max_failures=10",
            "hydra.run.dir=run",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=600)
    history = _history(tmp_path / "run")
    assert len(history) == 8 and sorted(r["trial"] for r in history) == list(range(8))
    dead = [r for r in history if r["status"] == "failed"]
    assert dead and all("worker process" in r["error"] for r in dead)
    assert any(r["status"] == "ok" for r in history)
    assert json.loads(out)["status"] == "completed", err
