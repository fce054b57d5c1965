"""`search.workers=N`: up to N trials at once, each in its own process with `search.worker_threads`
torch threads, asked and told asynchronously (a worker that finishes gets the next proposal at
once; the strategy is asked while earlier proposals are still being evaluated).

Workers build the space, data, estimator and hardware target once, from the run's resolved
config, and evaluate trials with the same code as a one-worker search. Only the main process
writes the run directory.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import signal
from typing import Any

_WORKER: dict[str, Any] = {}


def worker_parts(
    container: dict[str, Any], threads: int | None, slot: int | None = None, gpus: int = 0
) -> dict[str, Any]:
    """What a worker process evaluates with, built from a run's resolved config: cfg, space,
    data (set up), estimator and hardware. Also used by `nas bench build`'s workers. Worker
    `slot` of a host with `gpus` GPUs trains on GPU slot mod gpus (take_gpu)."""
    import torch
    from omegaconf import OmegaConf

    from nascli.core.config import instantiate
    from nascli.lit.distributed import take_gpu

    if threads:
        torch.set_num_threads(threads)
    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    logging.getLogger("lightning_fabric").setLevel(logging.WARNING)
    cfg = OmegaConf.create(container)
    if threads and cfg.get("trainer") is not None:  # make_trainer applies trainer.threads
        cfg.trainer.threads = threads
    if slot is not None:
        take_gpu(cfg, slot, gpus)
    data = instantiate(cfg.dataset, "dataset", seed=cfg.seed, batch_size=cfg.estimator.batch_size)
    data.setup()
    return {
        "cfg": cfg,
        "space": instantiate(cfg.space, "space"),
        "data": data,
        "estimator": instantiate(
            cfg.estimator, "estimator", trainer=OmegaConf.to_container(cfg.trainer, resolve=True)
        ),
        "hardware": instantiate(cfg.hardware, "hardware"),
    }


def _setup(container: dict[str, Any], threads: int, slots: Any, gpus: int) -> None:
    # Ctrl-C and a cluster's signals reach every process of the job: the main process stops the
    # search and ends the workers itself.
    from nascli.core.signals import STOP_SIGNALS

    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    _WORKER.update(worker_parts(container, threads, slots.get(), gpus))


def _trial(trial: int, arch: str, objective: str, start: dict[str, Any] | None) -> dict[str, Any]:
    from nascli.trials.run import run_trial

    w = _WORKER
    return run_trial(
        w["cfg"],
        trial,
        arch,
        w["space"],
        w["data"],
        w["estimator"],
        w["hardware"],
        objective,
        start=start,
    )


def worker_slots(context: Any, workers: int) -> Any:
    """A queue of the numbers 0..workers-1: each worker takes one as it starts (its GPU)."""
    slots = context.Queue()
    for i in range(workers):
        slots.put(i)
    return slots


class TrialPool:
    """N spawned worker processes evaluating (trial, arch) pairs; on a host with several GPUs,
    worker i trains on GPU i mod their number."""

    remote = False  # True: trials run elsewhere, so a pool is used even with one worker

    @classmethod
    def prepare(cls, workers: int, threads: int, **options: Any) -> None:
        """Connect to whatever runs the trials, once before the first (nothing, here)."""

    def __init__(self, container: dict[str, Any], workers: int, threads: int) -> None:
        from nascli.lit.distributed import visible_gpus

        context = multiprocessing.get_context("spawn")
        self.pool = cf.ProcessPoolExecutor(
            workers,
            mp_context=context,
            initializer=_setup,
            initargs=(container, threads, worker_slots(context, workers), visible_gpus()),
        )

    def submit(
        self, trial: int, arch: str, objective: str, start: dict[str, Any] | None = None
    ) -> cf.Future:
        """Run the trial on a worker (`start`: as run_trial's)."""
        return self.pool.submit(_trial, trial, arch, objective, start)

    def close(self, now: bool) -> None:
        """Wait for the workers to exit, or (`now`: an interrupt) end them and their trials."""
        if now:
            # concurrent.futures has no public way to stop running work before Python 3.14.
            # The workers ignore SIGTERM (see _setup): kill them.
            for process in list((getattr(self.pool, "_processes", None) or {}).values()):
                process.kill()
        self.pool.shutdown(wait=True, cancel_futures=True)
