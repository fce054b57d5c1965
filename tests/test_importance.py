"""nas report importance=true: the decision that determines a search's score is ranked first,
and a one-shot run's architecture weights are plotted per edge per epoch."""

from __future__ import annotations

import json
import random

from nascli.spaces.nb201 import NB201Space
from tests.conftest import run_nas


def _toy_search(run, n: int = 80) -> None:
    """A search run directory (real formats) where only edge 0->3 (the 4th decision) matters:
    nor_conv_3x3 there scores 0.9, anything else 0.5, plus a little noise."""
    space, rng = NB201Space(), random.Random(0)
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "hydra.yaml").write_text(
        "hydra:\n  runtime:\n    choices:\n      strategy: random\n"
    )
    (run / "config.yaml").write_text("search:\n  objective: val_acc\n")
    (run / "summary.json").write_text(json.dumps({"command": "search", "status": "completed"}))
    decisions = [{"name": name, "options": options} for name, options in space.decisions()]
    (run / "decisions.json").write_text(json.dumps(decisions))
    lines = []
    for t in range(n):
        arch = space.sample(rng)
        choices = space.encode(arch)
        acc = (0.9 if choices[3] == 3 else 0.5) + rng.gauss(0, 0.01)
        lines.append({"trial": t, "arch": arch, "status": "ok", "choices": choices,
                      "metrics": {"val_acc": acc}, "error": None, "seconds": 1.0})  # fmt: skip
    (run / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))


def test_the_decision_that_determines_the_score_is_ranked_first(tmp_path):
    _toy_search(tmp_path / "toy")
    out = run_nas("report", str(tmp_path / "toy"), "importance=true", "format=json",
                  f"hydra.run.dir={tmp_path}/report", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    by = summary["importance"][str(tmp_path / "toy")]["decisions"]
    for evaluator in ("fanova", "mdi"):
        ranked = list(by[evaluator])
        assert ranked[0] == "edge 0->3", (evaluator, by[evaluator])
        assert by[evaluator]["edge 0->3"] > 0.5
    assert {"importance.csv", "importance.png"} <= set(summary["files"])


def test_a_one_shot_runs_alpha_trajectories_are_plotted(tmp_path):
    run = tmp_path / "oneshot"
    out = run_nas("search", "strategy=darts", "space=nb201", "strategy.epochs=2",
                  "strategy.warmup_epochs=0", "logger=none", f"hydra.run.dir={run}", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    out = run_nas("report", str(run), "importance=true", "format=json",
                  f"hydra.run.dir={tmp_path}/report", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    alphas = summary["importance"][str(run)]["alphas"]["cell"]
    assert len(alphas) == 6 and all(len(w) == 2 for w in alphas[0].values())
    assert abs(sum(w[-1] for w in alphas[0].values()) - 1) < 1e-6  # a softmax per edge
    assert any(f.startswith("alphas_") for f in summary["files"])


def test_damaged_epoch_records_are_skipped_not_raised(tmp_path):
    from nascli.commands.report.importance import alpha_trajectories
    from nascli.commands.report.rows import Row

    run = tmp_path / "run"
    run.mkdir()
    lines = [
        "[1, 2]",
        json.dumps({"alphas": {}, "primitives": ["a", "b"]}),
        json.dumps({"alphas": {"cell": [["x", 1.0]]}, "primitives": ["a", "b"]}),
        json.dumps({"alphas": {"cell": [[0.0, 0.0]]}, "primitives": ["a", "b"]}),
    ]
    (run / "epochs.jsonl").write_text("\n".join(lines) + "\n")
    row = Row(path=run, command="search", status="completed", settings={})
    assert alpha_trajectories(row) == {"cell": [{"a": [0.5], "b": [0.5]}]}
    (run / "epochs.jsonl").write_text(lines[1] + "\n")
    assert alpha_trajectories(row) is None
