"""The reproduction targets' own command lines, on data small enough for a test."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.dataset_files import write_cifar, write_ptb

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_darts_cifar10_reproduction_runs_end_to_end_on_tiny_cifar_files(tmp_path):
    """make repro-darts-cifar10 (1st- and 2nd-order search, both retrains, the report) with the
    sizes shrunk: the same lines as the real run, on 100 CIFAR-10 images in the real format."""
    if not (ROOT / ".venv" / "bin" / "nas").is_file():
        pytest.skip("runs the Makefile's .venv/bin/nas")
    write_cifar(tmp_path / "data", per_batch=20, n_test=20)
    data = f"dataset.root={tmp_path / 'data'} dataset.download=false logger=none"
    search = f"{data} space.search_channels=4 space.search_layers=3 strategy.epochs=1 strategy.batch_size=16"
    train = f"{data} space.channels=4 space.layers=3 recipe.epochs=1 recipe.batch_size=16"
    out = subprocess.run(
        [
            "make",
            "-o",
            ".venv/.installed",  # the installed environment as it is: never reinstall here
            "repro-darts-cifar10",
            f"REPRO_DIR={tmp_path / 'repro'}",
            "TRAINER=cpu",
            f"SEARCH_ARGS={search}",
            f"TRAIN_ARGS={train}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    repro = tmp_path / "repro"
    for order in ("1st", "2nd"):
        search_best = json.loads((repro / f"search-{order}" / "best.json").read_text())
        trained = json.loads((repro / f"train-{order}" / "best.json").read_text())
        assert trained["arch"] == search_best["arch"] and trained["space"] == "darts"
        assert 0 <= trained["metrics"]["test_acc"] <= 1
        assert (repro / f"train-{order}" / "model.onnx").is_file()
    order2 = (repro / "search-2nd" / "config.yaml").read_text()
    assert "order: 2" in order2
    report = json.loads((repro / "report" / "summary.json").read_text())
    assert report["jobs"] == 4


@pytest.mark.slow
def test_the_darts_ptb_reproduction_runs_end_to_end_on_tiny_ptb_files(tmp_path):
    """make repro-darts-ptb (DARTS 2nd-order and ENAS recurrent searches, both retrains, the
    report) with the sizes shrunk, on PTB's three files in their own layout."""
    if not (ROOT / ".venv" / "bin" / "nas").is_file():
        pytest.skip("runs the Makefile's .venv/bin/nas")
    root = write_ptb(tmp_path / "ptb")
    data = f"dataset.root={root} dataset.bptt=5 dataset.eval_batch_size=2 logger=none"
    out = subprocess.run(
        [
            "make", "-o", ".venv/.installed", "repro-darts-ptb", f"REPRO_DIR={tmp_path / 'repro'}",
            "TRAINER=cpu",
            f"SEARCH_ARGS={data} space.search_hidden=8 strategy.epochs=1 strategy.batch_size=2",
            f"TRAIN_ARGS={data} space.hidden=8 recipe.epochs=1 recipe.batch_size=2",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    repro = tmp_path / "repro"
    assert "order: 2" in (repro / "search-darts" / "config.yaml").read_text()
    for strategy in ("darts", "enas"):
        search_best = json.loads((repro / f"search-{strategy}" / "best.json").read_text())
        trained = json.loads((repro / f"train-{strategy}" / "best.json").read_text())
        assert trained["arch"] == search_best["arch"] and trained["space"] == "rnn_cell"
        assert search_best["metrics"]["val_ppl"] > 1 and trained["metrics"]["test_ppl"] > 1
        assert (repro / f"train-{strategy}" / "vocab.txt").is_file()
    report = json.loads((repro / "report" / "summary.json").read_text())
    assert report["jobs"] == 4


def test_the_darts_cifar10_reproduction_says_up_front_that_it_wants_a_gpu(tmp_path):
    """Without a CUDA device the target stops at once (exit 2) unless TRAINER=cpu is asked for,
    and names that way out; nothing is searched."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here: the target runs")
    if not (ROOT / ".venv" / "bin" / "nas").is_file():
        pytest.skip("runs the Makefile's .venv/bin/nas")
    out = subprocess.run(
        ["make", "-o", ".venv/.installed", "repro-darts-cifar10", f"REPRO_DIR={tmp_path}/r"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2, out.stderr
    assert "needs a CUDA GPU" in out.stderr and "TRAINER=cpu" in out.stderr, out.stderr
    assert not (tmp_path / "r").exists()
