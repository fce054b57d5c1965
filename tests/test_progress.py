"""The terminal's view of a search (as a terminal shows it: FORCE_COLOR makes rich draw live):
trials done / budget, best so far, rejections, the current trial's epoch and its ETA; for a
one-shot search, the epochs and the derived architecture; never a line per batch."""

from __future__ import annotations

import re

from tests.conftest import run_nas

TERMINAL = {"FORCE_COLOR": "1", "COLUMNS": "250"}


def _frames(stderr: str, head: str) -> list[str]:
    """The distinct progress lines drawn, in order."""
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", stderr)
    lines = [line.strip() for line in re.split(r"[\r\n]", text) if line.strip().startswith(head)]
    return list(dict.fromkeys(lines))


def test_a_search_shows_its_budget_best_rejections_and_the_current_epoch(tmp_path):
    out = run_nas("search", "search.trials=2", "estimator.epochs=3", "logger=none",
                  "constraints.max_params=150000", f"hydra.run.dir={tmp_path}", env=TERMINAL)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    frames = _frames(out.stderr, "search ")
    assert any("0/2" in f and "trial 0: epoch 1/3" in f for f in frames), frames
    assert any(re.search(r"trial \d: epoch [23]/3 \(trial ETA \d+:\d\d:\d\d\)", f) for f in frames)
    assert any(
        re.search(r"1/2 best val_acc 0\.\d{4} · \d+ rejected by constraints", f) for f in frames
    )
    assert "2/2" in frames[-1] and "trial" not in frames[-1]  # done: no trial running
    # What changes is the count, the trial's epoch and the clocks: a few lines per epoch, and
    # none per training batch (an epoch has many here).
    statuses = {re.sub(r"\d+:\d\d:\d\d|-:--:--", "", f) for f in frames}
    assert len(statuses) <= 2 * (3 + 3) + 2, statuses


def test_a_one_shot_search_shows_its_epochs_and_derived_architecture(tmp_path):
    out = run_nas("search", "strategy=darts", "strategy.epochs=2", "strategy.warmup_epochs=0",
                  "space.search_channels=4", "space.search_layers=3", "logger=none",
                  f"hydra.run.dir={tmp_path}", env=TERMINAL)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    frames = _frames(out.stderr, "supernet ")
    assert any("0/2 epochs · training" in f for f in frames), frames
    assert any(
        re.search(r"1/2 epochs · val_acc 0\.\d{4} · \d skip · arch Genotype\(", f) for f in frames
    )
    assert "2/2 epochs" in frames[-1]
