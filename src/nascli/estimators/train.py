"""Estimate by training: fit the child on the train split, score it once on the val split."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from nascli.core.cpus import threads_per_process
from nascli.data.module import ImageDataModule
from nascli.estimators.base import Estimator
from nascli.lit.classifier import Classifier

# Keys of the trainer group that nascli reads itself; the rest are Lightning Trainer arguments.
NASCLI_KEYS = ("channels_last", "threads")

# Who hears of each training epoch of the trainers made in this process, as (epochs done, of how
# many): the search's progress view, while trials train in its process (watch_epochs).
_watchers: list[Callable[[int, int], None]] = []


@contextlib.contextmanager
def watch_epochs(watcher: Callable[[int, int], None]) -> Iterator[None]:
    """Tell `watcher` (epochs done, max epochs) as each trial's training starts and after each
    of its epochs, while the block runs."""
    _watchers.append(watcher)
    try:
        yield
    finally:
        _watchers.remove(watcher)


class EpochWatch(pl.Callback):
    def __init__(self, watchers: list[Callable[[int, int], None]]) -> None:
        self.watchers = watchers

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        for watcher in self.watchers:
            watcher(trainer.current_epoch, trainer.max_epochs)

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        for watcher in self.watchers:
            watcher(trainer.current_epoch + 1, trainer.max_epochs)


def check_trainer(trainer: dict[str, Any], devices: bool = True) -> None:
    """Refuse, before anything trains, a `trainer` group Lightning would refuse on every trial:
    a key its Trainer does not take, or (`devices`) an accelerator this machine does not have
    (not checked where trials run elsewhere: Ray actors may have GPUs that the driver lacks)."""
    import inspect

    import torch

    from nascli.core.errors import NascliError

    takes = inspect.signature(pl.Trainer.__init__).parameters
    for key in trainer:
        if key not in NASCLI_KEYS and key not in takes:
            raise NascliError(
                f"trainer.{key} is not an argument of Lightning's Trainer; remove it, or see "
                "https://lightning.ai/docs/pytorch/stable/common/trainer.html for the ones it takes"
            )
    if not devices:
        return
    accelerator = str(trainer.get("accelerator", "auto")).lower()
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise NascliError(
            f"trainer.accelerator={accelerator}: no CUDA device is visible to torch here "
            "(torch.cuda.is_available() is False); use trainer=cpu"
        )
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise NascliError("trainer.accelerator=mps: no MPS device here; use trainer=cpu")


def make_trainer(
    trainer: dict[str, Any],
    max_epochs: int,
    logger: Any = None,
    data_parallel: bool = False,
    **overrides: Any,
) -> pl.Trainer:
    """A quiet Trainer from the `trainer` config group (its nascli-only keys removed).
    `data_parallel`: the caller shards its data and writes on rank 0 only (trainer=ddp)."""
    from nascli.core.errors import NascliError
    from nascli.lit.distributed import is_ddp

    if is_ddp(trainer) and not data_parallel:
        raise NascliError(
            "trainer=ddp trains one-shot supernets only (nas search strategy=darts|gdas|pcdarts|"
            "spos|enas); train a child network on one device with trainer=gpu or trainer=cpu"
        )
    check_trainer(trainer)
    # Every process that trains (a search, a worker, a Ray actor, a sweep job, nas train) sets
    # its torch threads here: trainer.threads, or the CPUs this process may use.
    torch.set_num_threads(threads_per_process(trainer.get("threads")))
    kwargs = {k: v for k, v in trainer.items() if k not in NASCLI_KEYS}
    kwargs.update(
        max_epochs=max_epochs,
        logger=logger if logger is not None else False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
    )
    kwargs.update(overrides)
    if _watchers:
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), EpochWatch(list(_watchers))]
    return pl.Trainer(**kwargs)


class CurveStop(pl.Callback):
    """Validate after each of the first `epochs` epochs; after the last of them, extrapolate the
    curve to `target` epochs and stop the training if that stays below `threshold`."""

    def __init__(self, epochs: int, target: int, threshold: float | None, val_loader: Any) -> None:
        self.epochs, self.target, self.threshold = epochs, target, threshold
        self.val_loader = val_loader
        self.curve: list[float] = []
        self.predicted: float | None = None
        self.stopped = False

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        from nascli.lit.evaluation import accuracy
        from nascli.predictors.curves import extrapolate

        if len(self.curve) >= self.epochs:
            return
        with torch.no_grad():
            self.curve.append(accuracy(module.net, self.val_loader))
        if len(self.curve) == self.epochs:
            self.predicted = extrapolate(self.curve, self.target)
            if self.threshold is not None and self.predicted < self.threshold:
                self.stopped = trainer.should_stop = True


class TrainEstimator(Estimator):
    """Train for `epochs` with `optimizer`/`scheduler` (partials), then report val accuracy.

    Validation runs once, after the last epoch: the search only needs the final score, and a
    validation pass per epoch would cost more than it tells.
    """

    metrics = ("val_acc", "val_loss", "train_acc", "train_loss", "epochs")
    trains_given_network = True

    def reports(self, task: Any) -> tuple[str, ...]:
        """The metrics a trial reports for `task` (a language model's are perplexities)."""
        return task.train_metrics

    def __init__(
        self,
        epochs: int,
        batch_size: int,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        trainer: dict[str, Any] | None = None,
        prefilter: int | None = None,
        prefilter_proxy: str = "synflow",
        lce: dict[str, Any] | None = None,
        clip: float | None = None,
    ) -> None:
        from nascli.core.errors import NascliError

        self.epochs, self.batch_size = epochs, batch_size
        # Gradient-norm clipping (language models: 0.25, as DARTS and AWD-LSTM); None: off.
        self.clip = clip
        # Learning-curve extrapolation: {epochs: k, margin: m}, or None.
        self.lce = dict(lce) if lce else None
        if self.lce is not None:
            k = self.lce.get("epochs")
            if not isinstance(k, int) or isinstance(k, bool) or k < 2:
                raise NascliError(
                    f"estimator.lce.epochs={k!r} must be an integer of 2 or more, e.g. "
                    "estimator.lce={epochs:2}"
                )
            margin = self.lce.setdefault("margin", 0.0)
            if not isinstance(margin, int | float) or isinstance(margin, bool) or margin < 0:
                raise NascliError(
                    f"estimator.lce.margin={margin!r} must be a number of 0 or more (e.g. 0.01)"
                )
        # The best val_acc heard of per training length (a hyperband rung is compared only
        # with results of its own length).
        self.best_final: dict[int, float] = {}
        # Read by the search loop, which owns proposals (see nascli.commands.search.prepare).
        self.prefilter, self.prefilter_proxy = prefilter, prefilter_proxy
        self.optimizer, self.scheduler = optimizer, scheduler
        self.trainer = dict(trainer or {"accelerator": "cpu", "devices": 1})
        check_trainer(self.trainer, devices=False)  # the devices: where trials run (build_search)

    def check_objective(self, objective: str, objectives: list[str] | None) -> None:
        from nascli.core.errors import NascliError

        if self.lce is not None and (objective != "val_acc" or objectives):
            raise NascliError(
                "estimator.lce extrapolates val_acc: it needs search.objective=val_acc and no "
                "search.objectives; drop estimator.lce or the other objective"
            )

    @property
    def parallel(self) -> bool:
        """Early stopping compares with the best result so far, which workers do not hear."""
        return super().parallel and self.lce is None

    def heard(self, record: dict[str, Any]) -> None:
        m = record.get("metrics") or {}
        if record.get("status") == "ok" and not m.get("stopped_early") and "val_acc" in m:
            epochs = int(m.get("epochs", self.epochs))
            self.best_final[epochs] = max(self.best_final.get(epochs, 0.0), float(m["val_acc"]))

    def estimate(self, arch, net, data, seed, *, space, logger=None, rung=0) -> dict[str, Any]:
        return self.evaluate(
            net, data, seed=seed, logger=logger, epochs=self.rungs[rung] if self.rungs else None
        )

    def evaluate(
        self,
        net: nn.Module,
        data: ImageDataModule,
        seed: int,
        logger: Any = None,
        epochs: int | None = None,
    ) -> dict[str, float]:
        """Train `net` (already initialised) for `epochs` (default: the configured ones) and return
        {"val_acc", "val_loss", "train_loss", "train_acc", "epochs"}."""
        epochs = epochs or self.epochs
        scheduler = self.scheduler
        # A schedule with a length (cosine's T_max) is stretched to this run's epochs.
        if isinstance(scheduler, functools.partial) and "T_max" in scheduler.keywords:
            scheduler = functools.partial(scheduler, T_max=epochs)
        if getattr(data, "task", "image") == "language_model":
            return self._evaluate_language_model(net, data, seed, logger, epochs, scheduler)
        model = Classifier(
            net, self.optimizer, scheduler, channels_last=bool(self.trainer.get("channels_last"))
        )
        stop = None
        if self.lce is not None and epochs > self.lce["epochs"]:
            best = self.best_final.get(epochs)
            threshold = None if best is None else best - self.lce["margin"]
            stop = CurveStop(self.lce["epochs"], epochs, threshold, data.val_dataloader())
        trainer = make_trainer(
            self.trainer, epochs, logger=logger, **({"callbacks": [stop]} if stop else {})
        )
        trainer.fit(model, train_dataloaders=data.train_dataloader(seed_offset=seed))
        m = model.epoch_metrics
        if stop is not None and stop.stopped:
            # The extrapolated accuracy stands for the training that was not finished.
            return {
                "val_acc": stop.predicted,
                "val_acc_observed": stop.curve[-1],
                "train_acc": m["train/acc"],
                "train_loss": m["train/loss"],
                "epochs": len(stop.curve),
                "stopped_early": True,
            }
        trainer.validate(model, dataloaders=data.val_dataloader(), verbose=False)
        m = model.epoch_metrics
        out = {
            "val_acc": m["val/acc"],
            "val_loss": m["val/loss"],
            "train_acc": m["train/acc"],
            "train_loss": m["train/loss"],
            "epochs": epochs,
        }
        if stop is not None:
            out["val_acc_extrapolated"] = stop.predicted
        return out

    def _evaluate_language_model(
        self, net: nn.Module, data: Any, seed: int, logger: Any, epochs: int, scheduler: Any
    ) -> dict[str, float]:
        """Train a language model on the training stream, then score it on the valid stream:
        {"val_ppl", "val_loss", "train_ppl", "train_loss", "epochs"} (losses in nats per token)."""
        from nascli.lit.language_model import LanguageModel

        model = LanguageModel(net, self.optimizer, scheduler)
        clip = {} if self.clip is None else {"gradient_clip_val": self.clip}
        trainer = make_trainer(self.trainer, epochs, logger=logger, **clip)
        trainer.fit(model, train_dataloaders=data.train_dataloader(seed_offset=seed))
        trainer.validate(model, dataloaders=data.val_dataloader(), verbose=False)
        m = model.epoch_metrics
        return {
            "val_ppl": m["val/ppl"],
            "val_loss": m["val/loss"],
            "train_ppl": m["train/ppl"],
            "train_loss": m["train/loss"],
            "epochs": epochs,
        }
