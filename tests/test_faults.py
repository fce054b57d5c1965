"""Resume is exact: a search killed with SIGKILL at each point where a power cut would hurt
(nascli.core.faults), then resumed, ends with the history, epochs and best architecture of an
uninterrupted run of the same seed, with nothing lost or repeated.

Exact here means equal: the table estimator is deterministic, and one-shot training on CPU
repeats itself bitwise from a checkpoint (same data order, same RNG states)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import NAS

TABLE = ["space=nb201", "dataset=digits", "estimator=table", "search.trials=8", "logger=none"]
ONE_SHOT = ["space.search_channels=4", "space.search_layers=3", "logger=none"]
ONE_SHOT += ["strategy.batch_size=128", "strategy.epochs=3"]
CASES = {
    "random": (TABLE, ["trial:3", "history:2", "state:1", "between:2", "report:1"]),
    "evolution": (
        [*TABLE, "strategy.population=3", "strategy.sample_size=2"],
        ["trial:3", "history:2", "state:1", "between:2", "report:1"],
    ),
    "bo": ([*TABLE, "strategy.startup_trials=3"], ["trial:4", "history:2", "state:1", "report:1"]),
    "reinforce": (TABLE, ["trial:3", "history:2", "state:1", "between:2", "report:1"]),
    "darts": ([*ONE_SHOT, "strategy.warmup_epochs=1"], ["batch:2", "checkpoint:1", "report:1"]),
    "gdas": (ONE_SHOT, ["batch:1", "checkpoint:1", "report:1"]),
    "spos": (
        [*ONE_SHOT, "strategy.search_trials=6", "strategy.population=3", "strategy.sample_size=2"],
        ["batch:2", "checkpoint:1", "report:1"],
    ),
}


def _nas(args: list[str], cwd: Path, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "NASCLI_FAULT"}
    if fault:
        env["NASCLI_FAULT"] = fault
    return subprocess.run(
        [NAS, "search", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _outcome(run: Path) -> dict:
    """What must match: every trial (timings, `*seconds`, aside), every epoch, the best architecture."""

    def timeless(record: dict) -> dict:
        record = {k: v for k, v in record.items() if not k.endswith("seconds")}
        if isinstance(record.get("metrics"), dict):
            metrics = record["metrics"].items()
            record["metrics"] = {k: v for k, v in metrics if not k.endswith("seconds")}
        return record

    return {
        "history": [timeless(r) for r in _lines(run / "history.jsonl")],
        "epochs": [timeless(r) for r in _lines(run / "epochs.jsonl")],
        "best": json.loads((run / "best.json").read_text())["arch"],
    }


@pytest.mark.slow
@pytest.mark.parametrize("strategy", list(CASES))
def test_a_search_killed_anywhere_resumes_to_the_uninterrupted_result(tmp_path, strategy):
    args, faults = CASES[strategy]
    args = [f"strategy={strategy}", *args]
    done = _nas([*args, "hydra.run.dir=whole"], tmp_path)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "killed"
    for k, fault in enumerate(faults):
        call = [*args, f"hydra.run.dir={run}"] if k == 0 else [f"resume={run}"]
        killed = _nas(call, tmp_path, fault)
        assert killed.returncode == -9, f"{fault}: {killed.returncode} {killed.stderr[-500:]}"
    if "history:" in " ".join(faults):  # a torn last line was left behind and then dropped
        assert "torn last line" in (run / "search.log").read_text()
    last = _nas([f"resume={run}"], tmp_path)
    assert last.returncode == 0, last.stderr
    assert _outcome(run) == _outcome(tmp_path / "whole")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["resumed"]


@pytest.mark.parametrize("strategy", ["bananas", "local"])
def test_a_state_older_than_the_history_is_caught_up_by_replaying_the_rest(tmp_path, strategy):
    """A fast search saves its strategy's state at most once a second, so its state may lag
    the history; a resume loads it and replays the later trials through ask/tell."""
    args = [f"strategy={strategy}", *TABLE]
    if strategy == "bananas":
        args += ["strategy.initial=3", "strategy.batch=2", "predictor.members=2"]
    done = _nas([*args, "hydra.run.dir=whole"], tmp_path)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "short"
    short = _nas([*args, "search.trials=2", f"hydra.run.dir={run}"], tmp_path)
    assert short.returncode == 0, short.stderr
    early = (run / "strategy_state.json").read_text()
    more = _nas([f"resume={run}", "search.trials=5"], tmp_path)
    assert more.returncode == 0, more.stderr
    # As if the state had last been saved early on: it lags the history's five trials.
    (run / "strategy_state.json").write_text(early)
    assert json.loads(early)["trials"] <= 2
    longer = _nas([f"resume={run}", "search.trials=8"], tmp_path)
    assert longer.returncode == 0, longer.stderr
    assert "replaying the rest" in (run / "search.log").read_text()
    assert _outcome(run) == _outcome(tmp_path / "whole")
