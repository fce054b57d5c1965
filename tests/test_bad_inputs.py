"""One table of bad inputs across the commands. Each must end with exit status 2 and one error line
on stderr (after the run's status lines, where it got that far) that names the key or file, with no traceback, and leave an existing run directory as it
was. Those that can be checked before torch loads must be (asserted as "torch was not
imported", with `python -X importtime`, never as a time)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import STATUS, run_nas

EARLY, LATE = True, False
RUN = "<run>"  # stands for an existing, finished search run directory

# fmt: off
ROWS = [
    # -- nas search: the keys users type most ----------------------------------------------
    (["search", "search.trials=abc"], "search.trials", EARLY),
    (["search", "search.trials=0"], "search.trials", EARLY),
    (["search", "search.trials=-3"], "search.trials", EARLY),
    (["search", "search.trials=2.5"], "search.trials", EARLY),
    (["search", "search.trials=true"], "search.trials", EARLY),
    (["search", "search.seconds=0"], "search.seconds", EARLY),
    (["search", "search.seconds=abc"], "search.seconds", EARLY),
    (["search", "search.epochs_total=0"], "search.epochs_total", EARLY),
    (["search", "search.max_failures=-1"], "search.max_failures", EARLY),
    (["search", "search.objective=[]"], "search.objective", EARLY),
    (["search", "seed=-1"], "seed", EARLY),
    (["search", "seed=abc"], "seed", EARLY),
    (["search", "format=xml"], "format", EARLY),
    (["search", "strategy=nope"], "strategy", EARLY),
    (["search", "space=nope"], "space", EARLY),
    (["search", "estimator=nope"], "estimator", EARLY),
    (["search", "dataset=nope"], "dataset", EARLY),
    (["search", "hardware=nope"], "hardware", EARLY),
    (["search", "trainer=nope"], "trainer", EARLY),
    (["search", "executor=nope"], "executor", EARLY),
    (["search", "predictor=nope"], "predictor", EARLY),
    (["search", "search.trails=3"], "search.trails", EARLY),
    (["search", "+search.trails=3"], "search.trials", EARLY),
    (["search", "+constraints.max_param=3"], "constraints.max_params", EARLY),
    (["search", "+search.reward.targt=1"], "search.reward.target", EARLY),
    (["search", "+sead=1"], "+sead", EARLY),
    (["search", "estimator.optimizer.lr=abc"], "estimator.optimizer.lr", EARLY),
    (["search", "estimator.optimizer.lr=0"], "estimator.optimizer.lr", EARLY),
    (["search", "estimator.optimizer.weight_decay=-1"], "estimator.optimizer.weight_decay", EARLY),
    (["search", "strategy=darts", "strategy.arch_optimizer.lr=abc"], "strategy.arch_optimizer.lr",
     EARLY),
    (["search", "resume=/nonexistent/run"], "resume=/nonexistent/run", EARLY),
    (["search", "constraints.max_params=0"], "constraints.max_params", EARLY),
    (["search", "constraints.max_params=abc"], "constraints.max_params", EARLY),
    (["search", "constraints.max_flops=-5"], "constraints.max_flops", EARLY),
    (["search", "constraints.max_latency_ms=0"], "constraints.max_latency_ms", EARLY),
    (["search", "constraints.max_memory_mb=-1"], "constraints.max_memory_mb", EARLY),
    (["search", "constraints.min_accuracy=1.5"], "constraints.min_accuracy", EARLY),
    (["search", "constraints.min_accuracy=-0.1"], "constraints.min_accuracy", EARLY),
    # -- each group's own checks -------------------------------------------------------------
    (["search", "estimator.epochs=0"], "estimator.epochs", EARLY),
    (["search", "estimator.epochs=abc"], "estimator.epochs", EARLY),
    (["search", "estimator.batch_size=0"], "estimator.batch_size", EARLY),
    (["search", "estimator.prefilter=1"], "estimator.prefilter", EARLY),
    (["search", "estimator=hyperband", "estimator.batch_size=-1"], "estimator.batch_size", EARLY),
    (["search", "estimator=supernet", "estimator.epochs=0"], "estimator.epochs", EARLY),
    (["search", "estimator=table", "estimator.epochs=0"], "estimator.epochs", EARLY),
    (["search", "estimator=table", "estimator.batch_size=0"], "estimator.batch_size", EARLY),
    (["search", "estimator=zerocost", "estimator.batch_size=0"], "estimator.batch_size", EARLY),
    (["search", "estimator=nbgraph", "estimator.batch_size=0"], "estimator.batch_size", EARLY),
    (["search", "estimator=nb201"], "github.com/D-X-Y/NAS-Bench-201", EARLY),
    (["search", "dataset.val_fraction=0"], "dataset.val_fraction", EARLY),
    (["search", "dataset.val_fraction=1"], "dataset.val_fraction", EARLY),
    (["search", "dataset.val_fraction=abc"], "dataset.val_fraction", EARLY),
    (["search", "dataset=fake", "dataset.val_fraction=2"], "dataset.val_fraction", EARLY),
    (["search", "dataset=imagefolder"], "dataset.root", EARLY),
    (["search", "space.channels=0"], "space.channels", EARLY),
    (["search", "space.cells_per_stage=0"], "space.cells_per_stage", EARLY),
    (["search", "space=darts", "space.channels=-1"], "space.channels", EARLY),
    (["search", "space=darts", "space.layers=0"], "space.layers", EARLY),
    (["search", "space=darts", "space.search_channels=0"], "space.search_channels", EARLY),
    (["search", "space=darts", "space.search_layers=0"], "space.search_layers", EARLY),
    (["search", "space=macro", "space.layers=0"], "space.layers", EARLY),
    (["search", "space=macro", "space.channels=0"], "space.channels", EARLY),
    (["search", "space=custom"], "space.builder", EARLY),
    (["search", "space=custom", "space.builder=nope"], "space.builder", EARLY),
    (["search", "space=custom", "space.builder=/nonexistent.py:build"], "space.builder", EARLY),
    (["search", "strategy=darts", "strategy.epochs=2", "strategy.warmup_epochs=2"],
     "strategy.warmup_epochs", EARLY),
    (["search", "strategy=pcdarts", "strategy.epochs=3"], "strategy.warmup_epochs", EARLY),
    (["search", "strategy=bananas", "strategy.pool=0"], "strategy.pool", EARLY),
    (["search", "strategy=bo", "strategy.candidates=0"], "strategy.candidates", EARLY),
    (["search", "strategy=darts", "strategy.epochs=0"], "strategy.epochs", EARLY),
    (["search", "strategy=darts", "strategy.batch_size=0"], "strategy.batch_size", EARLY),
    (["search", "strategy=darts", "strategy.max_skip=-1"], "strategy.max_skip", EARLY),
    (["search", "strategy=gdas", "strategy.epochs=abc"], "strategy.epochs", EARLY),
    (["search", "strategy=pcdarts", "strategy.batch_size=-2"], "strategy.batch_size", EARLY),
    (["search", "strategy=spos", "strategy.epochs=0"], "strategy.epochs", EARLY),
    (["search", "strategy=enas", "strategy.max_skip=-1"], "strategy.max_skip", EARLY),
    (["search", "hardware=table"], "hardware.file", EARLY),
    # -- nas search: refused once the pieces are built ------------------------------------------
    (["search", "space=nbgraph", "estimator=nbgraph"], "dataset=cora", LATE),
    (["search", "dataset=cora", "estimator=nbgraph"], "space=nbgraph", LATE),
    (["search", "dataset=cora"], "dataset=cora", LATE),
    (
        ["search", "dataset=proteins", "space=nbgraph", "estimator=nbgraph", "space.ops=null"],
        "space.ops",
        LATE,
    ),  # fmt: skip
    (["search", "space=nbgraph", "space.ops=[gat,gcn]"], "space.ops", LATE),
    (["search", "strategy=progressive"], "space=darts", LATE),
    (["search", "strategy=bananas", "strategy.acquisition=pi"], "strategy.acquisition", EARLY),
    (["search", "strategy=bananas", "strategy.candidates=grid"], "strategy.candidates", EARLY),
    (["search", "strategy=bananas", "strategy.initial=1"], "strategy.initial", EARLY),
    (["search", "strategy=bo", "strategy.sampler=nope"], "strategy.sampler", EARLY),
    (["search", "estimator.lce={epochs:1}"], "estimator.lce.epochs", EARLY),
    (["search", "estimator.lce={epochs:2,margin:-1}"], "estimator.lce.margin", EARLY),
    (["search", "estimator.lce={epochs:2}", "search.objective=val_loss"], "estimator.lce", LATE),
    (["search", "space=nbgraph", "dataset=cora", "estimator=nbgraph", "constraints.max_flops=9"],
     "constraints.max_flops", LATE),
    (["search", "search.workers=0"], "search.workers", EARLY),
    (["search", "search.workers=abc"], "search.workers", EARLY),
    (["search", "search.worker_threads=0"], "search.worker_threads", EARLY),
    (["search", "trainer.threads=0"], "trainer.threads", EARLY),
    (["search", "+trainer.foo=1"], "trainer.foo", LATE),
    (["search", "estimator=table", "+strategy.foo=1"], "strategy.foo", LATE),
    (["search", "search.objective=nope"], "search.objective", LATE),
    (["search", "search.objective=reward"], "search.reward.target", LATE),
    (["search", "search.reward.target=-1"], "search.reward.target", LATE),
    (["search", "search.objectives=[val_acc,nope]"], "search.objectives", LATE),
    (["search", "estimator=nb201", "bench.file=/nonexistent.pth"], "bench.file", LATE),
    (["search", "estimator=table", "bench.file=/nonexistent.sqlite"], "bench.file", LATE),
    # -- an existing run directory ---------------------------------------------------------------
    (["search", f"resume={RUN}", "search.trials=abc"], "search.trials", EARLY),
    (["search", f"resume={RUN}", "seed=-1"], "seed", EARLY),
    (["search", f"resume={RUN}", "hydra.run.dir=/tmp/elsewhere-run"], "resume=", LATE),
    (["search", f"resume={RUN}", "strategy=evolution"], "resume=", LATE),
    (["report", RUN, "queries=[-5]"], "queries", LATE),
    (["report", RUN, "cells=-1"], "cells", EARLY),
    (["report", RUN, "metric=nope"], "metric=nope", LATE),
    (["train", f"run={RUN}", "ensemble.top_k=0"], "ensemble.top_k", EARLY),
    (["train", f"run={RUN}", f"arch={RUN}"], "arch", EARLY),
    (["evaluate", f"run={RUN}"], "arch.json", LATE),
    (["inspect", "space=darts", f"arch={RUN}"], "space=nb201", EARLY),
    # -- nas train --------------------------------------------------------------------------------
    (["train"], "arch", EARLY),
    (["train", "arch=x", "recipe.epochs=0"], "recipe.epochs", EARLY),
    (["train", "arch=x", "recipe.batch_size=0"], "recipe.batch_size", EARLY),
    (["train", "arch=x", "recipe.drop_path_prob=1"], "recipe.drop_path_prob", EARLY),
    (["train", "arch=x", "recipe.augment.cutout=-1"], "recipe.augment.cutout", EARLY),
    (["train", "arch=x", "recipe.augment.crop_padding=-1"], "recipe.augment.crop_padding", EARLY),
    (["train", "arch=x", "recipe.train_on=all"], "recipe.train_on", EARLY),
    (["train", "arch=x", "ensemble.top_k=0"], "ensemble.top_k", EARLY),
    (["train", "arch=x", "format=xml"], "format", EARLY),
    (["train", "arch=x", "space=nope"], "space", EARLY),
    # -- nas evaluate, nas report, nas inspect -------------------------------------------------
    (["evaluate"], "run", EARLY),
    (["evaluate", "run=/nonexistent/run"], "/nonexistent/run", LATE),
    (["report"], "dirs", EARLY),
    (["report", "/tmp", "format=xml"], "format", EARLY),
    (["inspect", "arch=|bad|"], "nb201 arch", EARLY),
    (["inspect", "space=darts", "arch=DARTS_V9"], "DARTS_V9", EARLY),
    (["inspect", "space=mobilenet", "arch=d2:k3e3|d9:k3e3"], "mobilenet arch", EARLY),
    (["inspect", "space=macro", "arch=conv_3x3|conv_9x9:1"], "macro arch", EARLY),
    (["inspect", "space=nbgraph", "arch=0133:fc-gat-fc-gin"], "node 3 reads node 3", EARLY),
    (["inspect", "space=nbgraph", "arch=0123:skip-skip-skip-skip"], "four skips", EARLY),
    (["inspect", "space=nbgraph", "arch=" + "0" * 5000], "nbgraph arch", EARLY),
    (["inspect", "format=xml"], "format", EARLY),
    # -- nas predict, nas hw, nas bench ----------------------------------------------------------
    (["predict", "train_sizes=[1]"], "train_sizes", EARLY),
    (["predict", "seeds=0"], "seeds", EARLY),
    (["predict", "test_size=0"], "test_size", EARLY),
    (["predict", "format=xml"], "format", EARLY),
    (
        ["predict", *(f"~predictors.{p}" for p in ("mlp", "gp", "gbt", "rf", "blr"))],
        "predictors",
        EARLY,
    ),  # fmt: skip
    (["predict", "test_size=30000"], "test_size", LATE),
    (["predict", "space=nb201", "dataset=digits", "estimator=train"], "estimator=nbgraph", LATE),
    (["hw", "profile", "hw.samples=1"], "hw.samples", EARLY),
    (["hw", "profile", "hw.patience=0"], "hw.patience", EARLY),
    (["hw", "profile", "hw.passes=0"], "hw.passes", EARLY),
    (["hw", "profile", "hw.probe_every=-1"], "hw.probe_every", EARLY),
    (["bench", "build", "bench.limit=0"], "bench.limit", EARLY),
    (["bench", "build", "bench.workers=0"], "bench.workers", EARLY),
]
# fmt: on


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("bad") / "run"
    out = run_nas(
        "search", "estimator=table", "search.trials=2", "logger=none", f"hydra.run.dir={run}"
    )
    assert out.returncode == 0, out.stderr
    return run


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_the_table_has_a_hundred_rows():
    assert len(ROWS) >= 100
    assert len({tuple(args) for args, _, _ in ROWS}) == len(ROWS)


@pytest.mark.parametrize("args, named, early", ROWS, ids=[" ".join(r[0])[:60] for r in ROWS])
def test_a_bad_input_is_one_line_exit_2_and_changes_nothing(
    args, named, early, finished_run, tmp_path
):
    args = [a.replace(RUN, str(finished_run)) for a in args]
    named = named.replace(RUN, str(finished_run))
    before = _snapshot(finished_run)
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "nascli", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    # The run's own status lines (`nas search: running ...`) come before a late refusal.
    lines = [
        line
        for line in out.stderr.splitlines()
        if not line.startswith("import time:") and not STATUS.match(line)
    ]
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in out.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert out.returncode == 2, "\n".join(lines)[-2000:]
    assert len(lines) == 1 and named in lines[0], "\n".join(lines)[-2000:]
    assert "Traceback" not in out.stderr and len(lines[0]) < 600
    assert _snapshot(finished_run) == before
    if early:
        assert "torch" not in imported, f"torch loaded before refusing: {lines[0]}"
