"""Estimate by inherited weights: score an architecture as a single path of a trained supernet.

The supernet is trained once per search with uniformly sampled paths (SPOS), or read from the
checkpoint of an earlier `nas search strategy=spos` run (`estimator.checkpoint=<run dir>`). Each
evaluation re-estimates batch-norm statistics for the path on `bn_batches` training batches, then
measures the task's score (val accuracy; a language model's val perplexity): milliseconds per
architecture instead of a training run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from nascli.core.errors import NascliError
from nascli.estimators.base import Estimator

log = logging.getLogger("nascli.search")

CHECKPOINT = "supernet.ckpt"


class SupernetEstimator(Estimator):
    """Train one single-path supernet (uniform sampling, as SPOS) before the first trial; score
    each architecture with the weights it inherits, batch-norm statistics recalibrated."""

    metrics: tuple[str, ...] = ("val_acc", "epochs")
    task_name = "image"

    def check_task(self, task: Any) -> None:
        self.task_name, self.metrics = task.name, (task.objective, "epochs")

    def __init__(
        self,
        epochs: int = 50,
        batch_size: int = 64,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        grad_clip: float | None = 5.0,
        bn_batches: int = 4,
        checkpoint: str | None = None,
        trainer: dict[str, Any] | None = None,
    ) -> None:
        self.epochs, self.batch_size = epochs, batch_size
        self.optimizer, self.scheduler, self.grad_clip = optimizer, scheduler, grad_clip
        self.bn_batches, self.checkpoint = bn_batches, checkpoint
        self.trainer = dict(trainer or {"accelerator": "cpu", "devices": 1})
        self.net = None

    def prepare(self, space, data, seed: int, run_dir: Path) -> None:
        """Train the supernet, or load it: from `checkpoint`, or from this run (a resume)."""
        from nascli.oneshot.module import PathModule
        from nascli.oneshot.tasks import oneshot_task

        torch.manual_seed(seed)
        net = space.supernet(data.input_shape, data.num_classes)
        module = PathModule(net, space, self.optimizer, self.scheduler, self.grad_clip, seed)
        module.task = self.task = oneshot_task(self.task_name)
        if self.trainer.get("channels_last"):
            module.use_channels_last()
        own = run_dir / CHECKPOINT
        source = _checkpoint_file(self.checkpoint) if self.checkpoint else own
        if source.exists():
            _load(module, source)
            log.info("supernet loaded from %s", source)
        else:
            from nascli.estimators.train import make_trainer

            log.info("training the supernet for %d epochs (uniform single paths)", self.epochs)
            trainer = make_trainer(self.trainer, self.epochs, limit_val_batches=0)
            trainer.fit(module, train_dataloaders=data.halves_dataloader())
            trainer.save_checkpoint(own.with_suffix(".tmp"))
            os.replace(own.with_suffix(".tmp"), own)
        self.net = module.net

    def estimate(self, arch, net, data, seed, *, space, logger=None, rung=0) -> dict[str, Any]:
        return self.evaluate_arch(arch, space, data, seed)

    def evaluate_arch(self, arch: str, space, data, seed: int) -> dict[str, float]:
        if self.net is None:
            raise RuntimeError("SupernetEstimator.prepare must run before evaluate_arch")
        torch.manual_seed(seed)
        self.net.method, self.net.path = "path", space.path(arch)
        self.task.calibrate(self.net, data.train_dataloader(seed_offset=seed), self.bn_batches)
        return {self.task.metric: self.task.score(self.net, data.val_dataloader()), "epochs": 0}


def _checkpoint_file(value: str) -> Path:
    path = Path(value).expanduser()
    if path.is_dir():
        path = path / "checkpoints" / "last.ckpt"
    if not path.is_file():
        raise NascliError(
            f"estimator.checkpoint={value}: no supernet checkpoint there; give the run directory "
            "of a `nas search strategy=spos` run (or its checkpoints/last.ckpt)"
        )
    return path


def _load(module, path: Path) -> None:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
        # Only the supernet: a checkpoint of darts or enas also holds optimiser-side modules.
        module.net.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("net.")})
    except Exception as exc:
        raise NascliError(
            f"estimator.checkpoint: cannot load {path} into this space's supernet "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); the checkpoint must come from a "
            "one-shot search with the same space settings"
        ) from exc
