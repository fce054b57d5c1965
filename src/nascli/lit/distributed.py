"""`trainer=ddp`: one supernet trained data-parallel on several devices through Lightning's DDP.

Lightning starts one process per device (re-running the same `nas search` command line, see
nascli.cli); every process builds the same supernet from the same seed, takes every world-th
batch pair (PairedLoader.shard), and DDP averages the gradients of both steps, so weights and
architecture parameters stay identical on every rank; the one-shot modules check that after every
architecture step. Only rank 0 writes the run directory and prints.
"""

from __future__ import annotations

import os
from typing import Any

from nascli.core.errors import NascliError

# Where launchers put a process's rank: torchrun / Lightning (RANK, or LOCAL_RANK + NODE_RANK),
# SLURM's srun (SLURM_PROCID).
_RANK_VARIABLES = ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK")


def is_rank_zero() -> bool:
    """Whether this process is the one that writes (always, outside a data-parallel run)."""
    return all(os.environ.get(v, "0") in ("", "0") for v in _RANK_VARIABLES)


def is_ddp(trainer: Any) -> bool:
    strategy = str((trainer or {}).get("strategy", "") or "")
    return strategy.startswith("ddp")


def check_ddp(cfg: Any, multirun: bool, oneshot: bool) -> None:
    """Refuse the data-parallel settings that cannot work, naming the key and the fix."""
    if not is_ddp(cfg.get("trainer")):
        return
    if multirun:
        raise NascliError(
            "trainer=ddp under -m: Lightning's DDP relaunch would rerun the whole sweep; "
            "run one job per device instead (trainer=gpu, with hydra/launcher=slurm for many jobs)"
        )
    if not oneshot:
        raise NascliError(
            "trainer=ddp trains one supernet on several devices (strategy=darts, gdas, pcdarts, "
            "spos or enas); sample-based strategies run trials in parallel with search.workers=N"
        )
    if int(cfg.strategy.get("order", 1)) == 2:
        raise NascliError(
            "strategy.order=2 with trainer=ddp: the unrolled step needs the whole batch's weight "
            "gradient on every rank; use strategy.order=1, or trainer=gpu on one device"
        )


def take_gpu(cfg: Any, index: int, gpus: int) -> int | None:
    """Processes that share one host with several GPUs: process `index` trains on GPU
    index mod `gpus`, through trainer.devices=[k] and, for hardware=gpu, hardware.device=cuda:k.
    Only for one-device GPU training; a config that names its devices is kept, and so is a host
    that shows one GPU (SLURM and Ray give each job or actor its own: CUDA_VISIBLE_DEVICES).
    Returns the GPU chosen, or None."""
    from omegaconf import open_dict

    trainer = cfg.get("trainer") or {}
    if gpus < 2:
        return None
    if str(trainer.get("accelerator")) not in ("gpu", "cuda") or str(trainer.get("devices")) != "1":
        return None
    k = index % gpus
    with open_dict(cfg):
        cfg.trainer.devices = [k]
        hardware = cfg.get("hardware") or {}
        if str(hardware.get("device", "")) == "cuda":
            cfg.hardware.device = f"cuda:{k}"
    return k


def spread_jobs_over_gpus(cfg: Any, launcher_target: str, job_num: int, gpus: int) -> int | None:
    """Sweep jobs that share one multi-GPU host (hydra/launcher=local runs them as parallel
    processes there): job n takes GPU n mod `gpus` (take_gpu). Other launchers place their jobs."""
    if "joblib" not in launcher_target.lower():
        return None
    return take_gpu(cfg, job_num, gpus)


def visible_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def place_sweep_job(cfg: Any, hydra_cfg: Any) -> None:
    """spread_jobs_over_gpus for this job of a multirun, with this host's GPU count."""
    from hydra.types import RunMode

    if hydra_cfg.mode != RunMode.MULTIRUN:
        return
    import logging

    target = str(hydra_cfg.launcher.get("_target_", ""))
    gpus = visible_gpus()
    k = spread_jobs_over_gpus(cfg, target, int(hydra_cfg.job.num), gpus)
    if k is not None:
        logging.getLogger("nascli").info("sweep job %s on GPU %d of %d", hydra_cfg.job.num, k, gpus)
