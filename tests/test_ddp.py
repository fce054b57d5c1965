"""trainer=ddp: one supernet on two CPU processes (gloo), identical architecture on every rank."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from nascli.data.loader import PairedLoader, TensorLoader
from tests.conftest import assert_one_line_error

DDP_CPU = [
    "trainer=ddp",
    "trainer.accelerator=cpu",
    "trainer.devices=2",
    "trainer.precision=32-true",
]
SMALL = ["space.search_channels=4", "space.search_layers=3", "strategy.epochs=2", "logger=none"]
NO_WARMUP = {"darts": ["strategy.warmup_epochs=0"], "enas": []}


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["darts", "enas"])
def test_a_ddp_search_keeps_the_architecture_identical_on_two_ranks(nas, tmp_path, strategy):
    run = tmp_path / "run"
    out = nas(
        "search",
        f"strategy={strategy}",
        *SMALL,
        *NO_WARMUP[strategy],
        *DDP_CPU,
        f"hydra.run.dir={run}",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    epochs = _lines(run / "epochs.jsonl")
    assert [e["epoch"] for e in epochs] == [0, 1]  # rank 0's records only, once each
    assert all(e["ranks"] == 2 for e in epochs)
    # Every architecture step compared the ranks' architecture parameters and found them equal.
    per_epoch = epochs[0]["rank_checks"]
    assert per_epoch > 0 and epochs[1]["rank_checks"] == 2 * per_epoch
    log = (run / "search.log").read_text()
    assert f"{per_epoch} steps per epoch on each of 2 ranks" in log
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["trials"] == 2
    best = json.loads((run / "best.json").read_text())
    assert best["arch"] == epochs[-1]["arch"]
    # Rank 1 wrote nothing but its own job log.
    written = {p.name for p in run.iterdir()}
    assert written <= {
        ".hydra",
        "config.yaml",
        "search.log",
        "train_ddp_process_1.log",
        "epochs.jsonl",
        "history.jsonl",
        "best.json",
        "cells.json",
        "summary.json",
        "checkpoints",
    }
    assert len(_lines(run / "history.jsonl")) == 2


DRIFT = textwrap.dedent(
    """
    import functools, torch, pytorch_lightning as pl
    from nascli.oneshot.module import BilevelModule
    from nascli.spaces.nb201 import NB201Space

    class Drifting(BilevelModule):  # rank 1 nudges its alphas: the check must stop the run
        def training_step(self, batch, batch_idx):
            if self.global_rank == 1:
                with torch.no_grad():
                    self.net.alphas["cell"].add_(1e-3)
            super().training_step(batch, batch_idx)

    class Pairs:
        def __iter__(self):
            g = torch.Generator().manual_seed(0)
            b = lambda: (torch.randn(4, 1, 8, 8, generator=g), torch.randint(0, 10, (4,), generator=g))
            return iter([(b(), b()) for _ in range(3)])
        def __len__(self):
            return 3

    torch.manual_seed(0)
    space = NB201Space(channels=4, cells_per_stage=1)
    module = Drifting(space.supernet((1, 8, 8), 10), space,
                      functools.partial(torch.optim.SGD, lr=0.1), None,
                      functools.partial(torch.optim.Adam, lr=0.01))
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp_find_unused_parameters_true",
                         max_epochs=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, train_dataloaders=Pairs())
    """
)


@pytest.mark.slow
def test_ranks_whose_alphas_drift_apart_stop_the_run(tmp_path):
    script = tmp_path / "drift.py"
    script.write_text(DRIFT)
    out = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert out.returncode != 0
    assert "architecture parameters differ between ranks" in out.stdout + out.stderr


def test_sharded_loaders_give_each_rank_its_own_batches_in_equal_numbers():
    x = torch.arange(50, dtype=torch.uint8).view(50, 1, 1, 1)
    y = torch.arange(50)

    def loader():
        one = torch.zeros(1)
        return TensorLoader(x, y, 4, one, one + 1, shuffle=True, seed=3)

    whole = PairedLoader(loader(), loader())
    assert len(whole) == 13
    seen = []
    for rank in (0, 1):
        part = PairedLoader(loader(), loader())
        part.shard(rank, 2)
        batches = [first[1].tolist() for first, _ in part]
        assert len(part) == len(batches) == 6
        seen.append({i for b in batches for i in b})
    assert not seen[0] & seen[1]
    covered = [first[1].tolist() for first, _ in whole][:12]
    assert seen[0] | seen[1] == {i for b in covered for i in b}


@pytest.mark.parametrize(
    "args,named",
    [
        (["strategy=random", *DDP_CPU], "search.workers"),
        (["strategy=darts", "strategy.order=2", *DDP_CPU], "strategy.order=2"),
    ],
)
def test_ddp_refuses_what_it_cannot_do(nas, tmp_path, args, named):
    out = nas("search", *args, f"hydra.run.dir={tmp_path / 'run'}")
    assert_one_line_error(out, named)
    assert not (tmp_path / "run" / "history.jsonl").exists()


def test_ddp_is_refused_under_multirun_before_any_job_starts(nas, tmp_path):
    out = nas(
        "search", "-m", "strategy=darts", "seed=0,1", *DDP_CPU, f"hydra.sweep.dir={tmp_path}/s"
    )
    assert_one_line_error(out, "-m")
    assert not (tmp_path / "s").exists()


def test_retraining_refuses_ddp_with_a_one_line_error(nas, tmp_path):
    out = nas("train", "arch=DARTS_V2", "space=darts", *DDP_CPU, f"hydra.run.dir={tmp_path}/t")
    assert_one_line_error(out, "trainer=ddp")


def test_sweep_jobs_on_one_multi_gpu_host_take_a_gpu_each():
    from omegaconf import OmegaConf

    from nascli.lit.distributed import spread_jobs_over_gpus

    def cfg(**trainer):
        return OmegaConf.create(
            {
                "trainer": {"accelerator": "gpu", "devices": 1, **trainer},
                "hardware": {"device": "cuda"},
            }
        )

    joblib = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
    chosen = []
    for job in range(5):
        c = cfg()
        chosen.append(spread_jobs_over_gpus(c, joblib, job, 4))
        assert list(c.trainer.devices) == [chosen[-1]]
        assert c.hardware.device == f"cuda:{chosen[-1]}"
    assert chosen == [0, 1, 2, 3, 0]
    # One GPU visible (SLURM, Ray), another launcher, CPU training or named devices: unchanged.
    for c, target, gpus in (
        (cfg(), joblib, 1),
        (cfg(), "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher", 4),
        (cfg(accelerator="cpu"), joblib, 4),
        (cfg(devices=[2]), joblib, 4),
    ):
        before = OmegaConf.to_container(c)
        assert spread_jobs_over_gpus(c, target, 3, gpus) is None
        assert OmegaConf.to_container(c) == before


def test_local_trial_workers_take_one_gpu_each_on_a_multi_gpu_host():
    import multiprocessing

    from omegaconf import OmegaConf

    from nascli.lit.distributed import take_gpu
    from nascli.trials.pool import worker_slots

    slots = worker_slots(multiprocessing.get_context("spawn"), 3)
    taken = sorted(slots.get(timeout=10) for _ in range(3))
    assert taken == [0, 1, 2]
    gpus = []
    for slot in taken:
        cfg = OmegaConf.create({"trainer": {"accelerator": "gpu", "devices": 1}, "hardware": {}})
        gpus.append(take_gpu(cfg, slot, 2))
        assert list(cfg.trainer.devices) == [gpus[-1]]
    assert gpus == [0, 1, 0]


def test_a_search_outside_ddp_writes_whatever_rank_variables_the_machine_sets(nas, tmp_path):
    out = nas(
        "search",
        "search.trials=1",
        "estimator.epochs=1",
        "logger=none",
        f"hydra.run.dir={tmp_path / 'run'}",
        env={"SLURM_PROCID": "1"},  # e.g. a task of a multi-task srun
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "run" / "history.jsonl").is_file()
    assert (tmp_path / "run" / "summary.json").is_file()
