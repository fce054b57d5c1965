"""`nas search` for one-shot strategies: train one supernet, record every epoch, end with best.json.

Files (beside the usual config.yaml, summary.json and best.json):
- `epochs.jsonl`: one line per supernet epoch: losses, the derived architecture (capped and
  uncapped), skip connections in its normal cell, the entropy of the architecture distribution,
  alphas (or temperature, betas).
- `history.jsonl`: the evaluated architectures. Bilevel methods (DARTS, PC-DARTS, GDAS): the
  architecture derived after each epoch (`trial` = epoch) and its supernet val accuracy. SPOS: the
  candidates its evolution scored on inherited weights.
- `checkpoints/last.ckpt`: the Lightning checkpoint after the last finished epoch, which
  `resume=` continues from (loaded with weights_only=True).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from nascli.commands.app import say
from nascli.core import faults
from nascli.core.config import instantiate
from nascli.core.cpus import available_cpus, threads_per_process
from nascli.core.errors import NascliError
from nascli.core.objectives import maximised
from nascli.core.records import read_history
from nascli.estimators.train import make_trainer
from nascli.oneshot.module import OneShotModule
from nascli.oneshot.strategies import OneShotStrategy
from nascli.oneshot.tasks import oneshot_task
from nascli.results.run_dir import EPOCHS, HISTORY, RunDir
from nascli.results.study import StudyMirror
from nascli.results.tracking import open_tracker
from nascli.tasks import task_of

log = logging.getLogger("nascli.search")

CHECKPOINT = Path("checkpoints") / "last.ckpt"
PARAMETER_FREE = ("none", "skip_connect", "max_pool_3x3", "avg_pool_3x3")


def _short(arch: str, width: int = 60) -> str:
    return arch if len(arch) <= width else arch[: width - 1] + "…"


def epochs_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]supernet"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("epochs · {task.fields[status]} ·"),
        TimeElapsedColumn(),
        TextColumn("elapsed ·"),
        TimeRemainingColumn(),
        TextColumn("left"),
        console=console,
    )


class EpochRecorder(pl.Callback):
    """After each epoch: derive, score, write epochs.jsonl and history.jsonl, then checkpoint."""

    def __init__(self, run: RunDir, strategy: OneShotStrategy, data, cfg: DictConfig, start: float):
        self.run, self.strategy, self.data, self.cfg = run, strategy, data, cfg
        self.start, self.epoch_start = start, time.perf_counter()
        self.stop_reason: str | None = None
        self.history: list[dict[str, Any]] = []
        self.space = strategy.space
        #: the Optuna study each derived architecture is mirrored into (search.storage), or None
        self.mirror: Any = None
        self.progress: Any = None  # the terminal's view of the epochs (watch)

    def watch(self, progress: Any, epochs: int, done: int) -> None:
        """Show the supernet's epochs on `progress`: done / epochs, and after each the derived
        architecture and its score (nothing per batch)."""
        self.progress = progress
        self.task = progress.add_task("supernet", total=epochs, completed=done, status="training")

    def _show(self, record: dict[str, Any]) -> None:
        if self.progress is None:
            return
        parts = []
        for key in ("val_acc", "val_ppl", "train_loss"):
            if isinstance(record.get(key), float):
                parts.append(f"{key} {record[key]:.4f}")
                break
        if record.get("arch"):
            arch = str(record["arch"])
            parts.append(f"{record.get('skip_connect', 0)} skip · arch {_short(arch)}")
        self.progress.update(self.task, advance=1, status=" · ".join(parts))

    def record(self, trial: dict[str, Any]) -> None:
        self.run.append_history(trial)
        self.history.append(trial)
        if self.mirror is not None:
            self.mirror.add(trial)

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.epoch_start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx: int) -> None:
        if batch_idx == 1:
            faults.reached("batch")

    def on_train_epoch_end(self, trainer: pl.Trainer, module: OneShotModule) -> None:  # type: ignore[override]
        epoch = trainer.current_epoch
        seconds = round(time.perf_counter() - self.epoch_start, 4)
        record: dict[str, Any] = {"epoch": epoch, **module.epoch_metrics, "lr": module.weight_lr()}
        if self.strategy.derives_per_epoch:
            arch = module.derive(self.strategy.max_skip)
            uncapped = module.derive(None)
            module.eval_setup(arch)
            metric = module.task.metric
            value = module.task.score(module.net, self.data.val_dataloader())
            module.train_setup()
            skips = self.space.normal_ops(arch).count("skip_connect")
            skips_uncapped = self.space.normal_ops(uncapped).count("skip_connect")
            record.update(
                arch=arch,
                arch_uncapped=uncapped,
                skip_connect=skips,
                skip_connect_uncapped=skips_uncapped,
                **{metric: value},
            )
            trial = {
                "trial": epoch,
                "arch": arch,
                "status": "ok",
                "metrics": {
                    metric: value,
                    **{k: v for k, v in module.epoch_metrics.items()},
                    "epochs": 1,
                },
                "error": None,
                "seconds": seconds,
            }
            self.record(trial)
            log.info("epoch %d: %s %.4f, %d skip, arch %s", epoch, metric, value, skips, arch)
            ms = self.strategy.max_skip
            if self.strategy.early_stop_skip and ms is not None and skips_uncapped >= ms:
                log.warning(
                    "epoch %d: %d skip connections reach max_skip=%d: stopping (DARTS+)",
                    epoch,
                    skips_uncapped,
                    ms,
                )
                self.stop_reason = "early_stop_skip"
                trainer.should_stop = True
        record.update(module.diagnostics())
        if trainer.world_size > 1:
            record.update(ranks=trainer.world_size, rank_checks=module.rank_checks)
        record["seconds"] = seconds
        self.run.append_line(EPOCHS, record)
        self._show(record)
        budget = self.cfg.search.get("seconds")
        if (
            budget is not None
            and time.perf_counter() - self.start >= budget
            and epoch + 1 < trainer.max_epochs
        ):
            self.stop_reason = "seconds"
            trainer.should_stop = True
        if trainer.world_size > 1:  # every rank stops together (rank 0's clock decides)
            stop = trainer.strategy.broadcast((trainer.should_stop, self.stop_reason), src=0)
            trainer.should_stop, self.stop_reason = stop
        module.step_schedule()  # the checkpoint holds the next epoch's learning rate
        # Last, so that a checkpoint never runs ahead of the records (resume trims records after it).
        # Every rank calls save_checkpoint (it synchronises them); Lightning writes on rank 0.
        path = self.run.path / CHECKPOINT
        if self.run.writes:
            path.parent.mkdir(exist_ok=True)
        trainer.save_checkpoint(path.with_suffix(".tmp"))
        if self.run.writes:
            os.replace(path.with_suffix(".tmp"), path)
        faults.reached("checkpoint")


def _trim(run: RunDir, name: str, keep: int, key: str) -> list[dict[str, Any]]:
    """Keep the first `keep` records of a JSON-lines file (those its checkpoint covers)."""
    path = run.path / name
    if not path.exists():
        return []
    records = [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    kept = [r for r in records if r.get(key, 0) < keep]
    if len(kept) != len(records):
        run.write_text(name, "".join(json.dumps(r) + "\n" for r in kept))
    return kept


def _checkpoint_epochs(path: Path) -> int:
    """Epochs finished in a checkpoint; a damaged one is an error that says what to do."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        return int(state["epoch"]) + 1
    except pickle.UnpicklingError:
        raise NascliError(
            f"resume: {path} holds objects other than tensors, containers and numbers, which "
            "nascli never unpickles; it is not the checkpoint this run wrote (delete it to "
            "restart the supernet from epoch 0)"
        ) from None
    except Exception as exc:
        raise NascliError(
            f"resume: cannot read {path} ({type(exc).__name__}: {exc}); delete it to restart the supernet from epoch 0"
        ) from exc


def _build(cfg: DictConfig):
    """Space, strategy, data, hardware target and the strategy's module around the supernet."""
    space = instantiate(cfg.space, "space")
    strategy = instantiate(cfg.strategy, "strategy", space=space, seed=cfg.seed)
    data = instantiate(cfg.dataset, "dataset", seed=cfg.seed, batch_size=strategy.batch_size)
    data.setup()
    if getattr(data, "floor_ppl", None) is not None:
        say(f"the data's perplexity floor (what a perfect model scores): {data.floor_ppl:.4f}")
    hardware = instantiate(cfg.hardware, "hardware")
    torch.manual_seed(cfg.seed)
    try:
        net = space.supernet(data.input_shape, data.num_classes, strategy.partial)
        net.recompute = strategy.recompute
        module = strategy.module(net)
        module.task = oneshot_task(task_of(data).name)
        if cfg.trainer.get("channels_last"):
            module.use_channels_last()
        if cfg.trainer.get("sync_batchnorm"):
            # Lightning swaps in new SyncBatchNorm modules, which lean stages would not see.
            net.lean = False
            log.info("trainer.sync_batchnorm: the supernet trains without lean stages")
    except ValueError as exc:
        raise NascliError(f"strategy/space: {exc}") from exc
    return space, strategy, data, hardware, module


def _add_latency_term(cfg, run: RunDir, strategy, module, data, hardware) -> None:
    """With strategy.latency_weight > 0: the per-op latency table the architecture loss uses."""
    from nascli.oneshot.latency import latency_table

    net = module.net
    # Timed once per run and kept, so a resumed search uses the same table.
    saved = run.path / "latency_table.json"
    if cfg.get("resume") and saved.is_file():
        table = {t: torch.tensor(v) for t, v in json.loads(saved.read_text()).items()}
    else:
        table = latency_table(net, data.input_shape, hardware)
        run.write_text(saved.name, json.dumps({t: v.tolist() for t, v in table.items()}))
    module.set_latency(table, strategy.latency_weight)
    with torch.no_grad():
        start_ms = float(net.expected_latency(table))
    log.info("latency term: expected %.3f ms at the start (%s)", start_ms, saved.name)


def _resume_point(cfg, run: RunDir, strategy) -> tuple[int, list[dict[str, Any]]]:
    """(epochs already trained, the trials recorded up to them) of a new or resumed run."""
    ckpt = run.path / CHECKPOINT
    done = _checkpoint_epochs(ckpt) if cfg.get("resume") and ckpt.exists() else 0
    if cfg.get("resume") and run.writes:
        # Records written after the checkpoint (or SPOS's search, which reruns) are redone.
        keep = done if strategy.derives_per_epoch else 0
        _trim(run, HISTORY, keep, "trial")
        _trim(run, EPOCHS, done, "epoch")
        log.info("resuming %s at epoch %d", run.path, done)
    return done, read_history(run.path, repair=True)


def _trainer(cfg, run: RunDir, strategy, recorder, loader, space_name: str):
    logger = None
    if cfg.logger.get("_target_") and run.writes:
        logger = instantiate(cfg.logger, "logger", version="supernet")
    with open_dict(cfg.trainer):  # resolved once, for the summary (make_trainer applies it)
        cfg.trainer.threads = threads_per_process(cfg.trainer.get("threads"))
    say(f"torch threads: {cfg.trainer.threads} ({available_cpus()} CPUs available to this process)")
    trainer = make_trainer(
        OmegaConf.to_container(cfg.trainer, resolve=True),
        strategy.epochs,
        logger=logger,
        callbacks=[recorder],
        limit_val_batches=0,
        data_parallel=True,
    )
    # Data-parallel: each rank takes its share of the batch pairs (one rank: all of them).
    loader.shard(trainer.global_rank, trainer.world_size)
    log.info(
        "one-shot %s on %s: %d steps per epoch%s",
        type(strategy).__name__,
        space_name,
        len(loader),
        f" on each of {trainer.world_size} ranks" if trainer.world_size > 1 else "",
    )
    return trainer


def run_oneshot(cfg: DictConfig, run: RunDir, space_name: str) -> dict[str, Any]:
    """Train the supernet (resuming from its checkpoint), derive, and write the run's results."""
    from nascli.commands.search.finish import finish, print_summary
    from nascli.core.signals import StopRequested, stop_on_signals

    space, strategy, data, hardware, module = _build(cfg)
    if strategy.latency_weight > 0:
        _add_latency_term(cfg, run, strategy, module, data, hardware)
    loader = data.halves_dataloader()
    done, history = _resume_point(cfg, run, strategy)
    loader.set_epoch(done)
    start = time.perf_counter() - sum(r.get("seconds", 0.0) for r in history)
    recorder = EpochRecorder(run, strategy, data, cfg, start)
    recorder.history = history
    if cfg.search.get("storage") and run.writes:  # each derived architecture, as a trial
        metric = module.task.metric
        recorder.mirror = StudyMirror(
            str(cfg.search.storage),
            run.path,
            strategy.space,
            [(metric, "max" if maximised(metric) else "min")],
            history,
        )
        say(f"trials mirrored into Optuna study {recorder.mirror.name} of {cfg.search.storage}")
    # logger=mlflow: the parent run (before the supernet's logger, which logs into a child of it)
    tracker = open_tracker(cfg, run.path, []) if run.writes else None
    trainer = _trainer(cfg, run, strategy, recorder, loader, space_name)
    ckpt = run.path / CHECKPOINT
    status, stop_reason, best, warnings = "completed", "epochs", None, []
    stop: dict[str, Any] = {"signal": None}
    try:
        view = epochs_bar(Console(stderr=True, quiet=not run.writes))
        with stop_on_signals() as stop, view:
            recorder.watch(view, strategy.epochs, done)
            try:
                if done < strategy.epochs:
                    trainer.fit(module, loader, ckpt_path=ckpt if done else None, weights_only=True)
                elif done:  # training had finished: restore the supernet for SPOS's search
                    state = torch.load(ckpt, map_location="cpu", weights_only=True)
                    module.load_state_dict(state["state_dict"])
            except pickle.UnpicklingError:
                raise NascliError(
                    f"resume: {ckpt} cannot be read with weights_only=True (objects other than "
                    "tensors, containers and numbers, which nascli never unpickles, or damage); "
                    "it is not the checkpoint this run wrote"
                ) from None
            if stop["signal"] is not None:
                raise StopRequested()
            stop_reason = recorder.stop_reason or "epochs"
            if run.writes:  # (the other ranks of a data-parallel run leave the rest to rank 0)
                best = _final(cfg, run, strategy, module, data, hardware, space_name, recorder)
                warnings = _collapse_warnings(
                    cfg, space, best["arch"], best["metrics"], data.num_classes
                )
                for w in warnings:
                    log.info("warning: %s", w)  # the terminal has them once, after the summary
    except (KeyboardInterrupt, SystemExit) as exc:
        if isinstance(exc, SystemExit) and stop["signal"] is None:
            raise
        status, stop_reason = "interrupted", "interrupted"
        log.warning("interrupted; resume with: nas search resume=%s", run.path)
        raise StopRequested() from None
    except BaseException:  # a bug: the summary (and a tracked parent) says it failed
        status, stop_reason = "failed", "error"
        raise
    finally:
        extra = {
            "warnings": warnings,
            "strategy": type(strategy).__name__.lower(),
            # What a one-shot run spends: supernet epochs (its trials are epochs or candidates).
            "supernet_epochs": max(done, trainer.current_epoch),
        }
        seconds = time.perf_counter() - start
        summary = (
            finish(
                cfg,
                run,
                space_name,
                recorder.history,
                status,
                stop_reason,
                None,
                seconds,
                0,
                best=best,
                extra=extra,
                space=space,
            )  # fmt: skip
            if run.writes
            else {}
        )
        if tracker is not None:
            tracker.close(summary)
    if not run.writes:
        return summary
    print_summary(cfg, run, summary)
    if cfg.format != "json" and warnings:
        from rich.text import Text

        err = Console(stderr=True)
        for w in warnings:
            err.print(Text.assemble(("warning: ", "bold yellow"), w))
    return summary


def _final(
    cfg, run: RunDir, strategy, module, data, hardware, space_name, recorder
) -> dict[str, Any]:
    """The architecture the search ends with, measured as an evaluation network."""
    if strategy.derives_per_epoch:
        arch = strategy.final(module, None, None)
        last = recorder.history[-1] if recorder.history else None
        metrics = dict(last["metrics"]) if last and last["arch"] == arch else {}
        trial = last["trial"] if last else None
        # The epoch's score is the whole supernet's (every op mixed in); what the search
        # hands on is the derived architecture, so score that: its ops alone, in the supernet's
        # weights, with batch-norm statistics re-estimated for it.
        metric = module.task.metric
        derived = _derived_score(module, strategy, arch, data)
        if derived is not None:
            if metric in metrics:
                metrics[f"supernet_{metric}"] = metrics[metric]
            metrics[metric] = derived
    else:
        scores: dict[str, float] = {}
        train = data.train_dataloader()
        metric = module.task.metric

        def score(arch: str) -> float:
            module.net.method, module.net.path = "path", strategy.space.path(arch)
            module.task.calibrate(module.net, train, strategy.bn_batches)
            return module.task.score(module.net, data.val_dataloader())

        def log_trial(trial: int, arch: str, acc: float) -> None:
            scores.setdefault(arch, acc)
            record = {
                "trial": trial,
                "arch": arch,
                "status": "ok",
                "metrics": {metric: acc},
                "error": None,
                "seconds": 0.0,
            }
            recorder.record(record)

        arch = strategy.final(module, score, log_trial)
        trial = next(r["trial"] for r in recorder.history if r["arch"] == arch)
        metrics = {metric: scores[arch]}
    torch.manual_seed(cfg.seed)
    net = strategy.space.build(arch, data.input_shape, data.num_classes)
    metrics.update(hardware.measure(net, data.input_shape))
    metrics["supernet"] = (
        True  # the score is the supernet's (inherited weights), not a retrained net's
    )
    return {"space": space_name, "arch": arch, "trial": trial, "metrics": metrics}


def _derived_score(module, strategy, arch: str, data) -> float | None:
    """The validation score of `arch` inside the trained supernet (only its ops, batch-norm
    statistics re-estimated on training batches for that path), leaving the supernet as it was;
    None where the space has no paths through its supernet."""
    net, task = module.net, module.task
    try:
        path = strategy.space.path(arch)
    except NotImplementedError:
        return None
    saved = {
        k: v.clone() for k, v in net.state_dict().items() if "running_" in k or "num_batches" in k
    }
    method, old_path, training = net.method, net.path, net.training
    net.method, net.path = "path", path
    try:
        with torch.no_grad():
            task.calibrate(net, data.train_dataloader(), getattr(strategy, "bn_batches", 4))
        return task.score(net, data.val_dataloader())
    finally:
        net.method, net.path = method, old_path
        net.load_state_dict(saved, strict=False)
        net.train(training)


def _collapse_warnings(cfg, space, arch: str, metrics: dict[str, Any], classes: int) -> list[str]:
    """What looks wrong with the result, each with the cause seen and the remedies that apply to
    this strategy and space."""
    out = []
    ops = space.normal_ops(arch)
    skips = sum(op in ("skip_connect", "none") for op in ops)
    pools = sum("pool" in op for op in ops)
    if ops and (skips + pools) * 2 > len(ops):
        strategy = cfg.strategy
        if skips >= pools:
            cause = f"{skips} skip connections or none"
            remedies = []
            bilevel = "order" in strategy  # DARTS, PC-DARTS, GDAS: they derive every epoch
            spos = "search_trials" in strategy  # SPOS caps the skips its evolution derives
            if bilevel or spos:  # (ENAS's controller has no cap)
                remedies.append("strategy.max_skip=2 (derive at most two skips, P-DARTS)")
            if bilevel:
                remedies.append(
                    "strategy.max_skip=2 strategy.early_stop_skip=true (stop when the search "
                    "reaches two, DARTS+)"
                )
                if "partial" not in strategy:
                    remedies.append("strategy=pcdarts (partial channels)")
        else:
            cause = f"{pools} pooling ops"
            remedies = [f"more epochs (strategy.epochs above {strategy.epochs})"]
            if "warmup_epochs" in strategy:
                remedies.insert(
                    0,
                    f"a longer weight-only warm-up (strategy.warmup_epochs above "
                    f"{strategy.warmup_epochs}) so the convolutions learn before alphas move",
                )
        remedies = remedies or [f"more epochs (strategy.epochs above {strategy.epochs})"]
        out.append(
            f"the derived normal cell is mostly parameter-free ({skips + pools} of {len(ops)} ops: "
            f"{cause}), the known collapse of weight-sharing search; try " + "; or ".join(remedies)
        )
    acc = metrics.get("val_acc")
    if isinstance(acc, float) and classes > 1 and acc < 1.5 / classes:
        out.append(
            f"val_acc {acc:.4f} is near chance ({1 / classes:.4f} for {classes} classes): it is the "
            "derived architecture in the supernet's shared weights, which a short search leaves "
            "poorly fitted to any one path; nas train arch=<this run> measures it retrained"
        )
    return out
