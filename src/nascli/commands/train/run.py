"""The body of `nas train` (loads torch): retrain one architecture, or the k best of a search as an
ensemble, test once, and write the export bundle."""

from __future__ import annotations

import functools
import json
import logging
import os
import pickle
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from nascli.commands.app import say
from nascli.commands.train.checks import check_what_to_train
from nascli.core.config import instantiate
from nascli.core.cpus import available_cpus, threads_per_process
from nascli.core.errors import NascliError
from nascli.core.records import best, read_history
from nascli.data.loader import Augment
from nascli.estimators.train import make_trainer
from nascli.lit.classifier import Classifier
from nascli.lit.evaluation import score
from nascli.lit.language_model import LanguageModel
from nascli.nn.ensemble import Ensemble
from nascli.results import export
from nascli.results.resume import check_run_config
from nascli.results.run_dir import (
    BEST,
    CONFIG,
    HISTORY,
    SUMMARY,
    RunDir,
    git_commit,
    package_versions,
    resolve_arch,
)
from nascli.tasks import task_of

log = logging.getLogger("nascli.train")
LAST_CKPT = "checkpoints/last.ckpt"


class DropPathSchedule(pl.Callback):
    """Drop-path probability rising linearly from 0 to `final` over training (DARTS's schedule)."""

    def __init__(self, final: float, epochs: int) -> None:
        self.final, self.epochs = final, epochs

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        net = module.net
        if hasattr(net, "drop_path_prob"):
            net.drop_path_prob = self.final * trainer.current_epoch / self.epochs


class LoaderEpoch(pl.Callback):
    """Keep the loader's shuffling and augmentation in step with the trainer's epoch, so a resumed
    training sees the batches the uninterrupted one would have."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.loader.epoch = trainer.current_epoch


class LastCheckpoint(pl.Callback):
    """`checkpoints/last.ckpt` after every epoch, written to a temporary file and renamed, so a
    kill at any moment leaves the previous epoch's checkpoint whole."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        trainer.save_checkpoint(tmp)
        os.replace(tmp, self.path)


class EpochLog(pl.Callback):
    """One line per epoch in the job log (and the console's progress line): the epoch's training
    loss, and its accuracy or perplexity and validation perplexity where there are.

    A callback's epoch-end hook runs before the module's, which is where an epoch's metrics are
    totalled, so an epoch is reported when the next starts, and the last when training ends."""

    def __init__(self, progress: Any = None, task: Any = None) -> None:
        self.progress, self.task = progress, task
        self.reported = -1

    def _report(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        epoch, m = trainer.current_epoch - 1, module.epoch_metrics
        if epoch <= self.reported or "train/loss" not in m:
            return
        self.reported = epoch
        text = f"loss {m['train/loss']:.4f}"
        for key, name in (("train/acc", "acc"), ("train/ppl", "ppl"), ("val/ppl", "val ppl")):
            if key in m:
                text += f" {name} {m[key]:.4f}"
        log.info("epoch %d %s", epoch, text)
        if self.progress is not None:
            self.progress.update(self.task, completed=epoch + 1, info=text)

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._report(trainer, module)

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._report(trainer, module)


def top_archs(search_dir: Path, k: int) -> list[str]:
    """The k best distinct architectures of a search run, by the rule its best.json follows
    (highest rung, then objective, within its constraints); a one-shot search's final
    derivation, which best.json holds, comes first."""
    if not (search_dir / HISTORY).is_file():
        raise NascliError(
            f"run={search_dir} has no {HISTORY}; give the run directory of a `nas search`"
        )
    saved = OmegaConf.load(search_dir / CONFIG) if (search_dir / CONFIG).is_file() else {}
    objective = (
        OmegaConf.select(saved, "search.objective", default="val_acc") if saved else "val_acc"
    )
    constraints = OmegaConf.to_container(saved.get("constraints") or {}) if saved else {}
    out: list[str] = []
    if k == 1 and (search_dir / BEST).is_file():
        out.append(json.loads((search_dir / BEST).read_text(encoding="utf-8"))["arch"])
    for record in best(read_history(search_dir), objective, constraints, k):
        if len(out) < k and record["arch"] not in out:
            out.append(record["arch"])
    if not out:
        raise NascliError(f"run={search_dir} has no finished trial to retrain")
    if len(out) < k:
        log.warning("run=%s has only %d distinct finished architectures", search_dir, len(out))
    return out


def _what_to_train(cfg: DictConfig, space: Any, space_name: str) -> list[str]:
    check_what_to_train(cfg)
    if cfg.run is not None:
        run_path = Path(str(cfg.run)).expanduser()
        return [space.canonical(a) for a in top_archs(run_path, int(cfg.ensemble.top_k))]
    return [resolve_arch(str(cfg.arch), space, space_name)]


def _resumed_config(cfg: DictConfig, run: RunDir) -> DictConfig:
    """The config the interrupted training was started with (only `format` may change)."""
    saved_path = run.path / CONFIG
    if not saved_path.is_file() or not (run.path / LAST_CKPT).is_file():
        raise NascliError(
            f"resume={cfg.resume} has no {CONFIG} or {LAST_CKPT}; give the run directory of an "
            "interrupted `nas train` (it must have finished one epoch)"
        )
    saved = OmegaConf.load(saved_path)
    hydra_yaml = run.path / ".hydra" / "hydra.yaml"
    if not hydra_yaml.is_file():
        raise NascliError(f"resume={cfg.resume} has no .hydra/hydra.yaml; it cannot be resumed")
    choices = OmegaConf.select(OmegaConf.load(hydra_yaml), "hydra.runtime.choices") or {}
    overrides = list(HydraConfig.get().overrides.task)
    check_run_config(saved, dict(choices), run.path, "train", overrides)
    saved.resume, saved.format = cfg.resume, cfg.format
    log.info("resuming %s from %s", run.path, LAST_CKPT)
    return saved


def _recipe_summary(recipe: DictConfig) -> dict[str, Any]:
    r = OmegaConf.to_container(recipe, resolve=True)
    assert isinstance(r, dict)

    def short(node: dict[str, Any] | None) -> str:
        if not node:
            return "none"
        args = ", ".join(f"{k}={v}" for k, v in node.items() if not k.startswith("_"))
        return f"{str(node['_target_']).rsplit('.', 1)[-1]}({args})"

    return {**r, "optimizer": short(r.get("optimizer")), "scheduler": short(r.get("scheduler"))}


def train_one(
    cfg: DictConfig,
    space: Any,
    space_name: str,
    arch: str,
    data: Any,
    run: RunDir,
    console: Console | None,
) -> tuple[dict[str, Any], torch.nn.Module]:
    """Train `arch` into `run`; returns (metrics, the trained network)."""
    recipe = cfg.recipe
    input_shape, num_classes = data.input_shape, data.num_classes
    pl.seed_everything(cfg.seed, workers=False, verbose=False)
    net = space.build(arch, input_shape, num_classes)
    optimizer = instantiate(recipe.optimizer, "recipe.optimizer")
    if isinstance(optimizer, functools.partial):
        # A recipe merged over another sets a key to null to leave it out (AdamW over SGD's
        # momentum); null would mean "the default" for every optimizer argument that takes it.
        kept = {k: v for k, v in optimizer.keywords.items() if v is not None}
        optimizer = functools.partial(optimizer.func, *optimizer.args, **kept)
    scheduler = instantiate(recipe.scheduler, "recipe.scheduler") if recipe.scheduler else None
    if isinstance(scheduler, functools.partial) and "T_max" in scheduler.keywords:
        scheduler = functools.partial(scheduler, T_max=int(recipe.epochs))
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    language_model = task_of(data).name == "language_model"
    variable_bptt = language_model and bool(recipe.get("variable_bptt"))
    if language_model:
        model: Any = LanguageModel(
            net,
            optimizer,
            scheduler,
            ar=float(recipe.get("ar") or 0.0),
            tar=float(recipe.get("tar") or 0.0),
            bptt=data.bptt if variable_bptt else None,
        )
    else:
        model = Classifier(
            net,
            optimizer,
            scheduler,
            channels_last=bool(trainer_cfg.get("channels_last")),
            auxiliary_weight=float(recipe.auxiliary_weight),
            label_smoothing=float(recipe.label_smoothing),
        )
    augment = Augment(**recipe.augment)
    if recipe.train_on not in ("train", "train+val"):
        raise NascliError(
            f"recipe.train_on={recipe.train_on} is not train or train+val (e.g. recipe.train_on=train+val)"
        )
    hold_out = recipe.train_on == "train"
    chunks = {"variable_bptt": True} if variable_bptt else {}
    loader = (
        data.train_dataloader(augment=augment, **chunks)
        if hold_out
        else data.full_train_dataloader(augment=augment, **chunks)
    )
    logger = None
    if cfg.logger.get("_target_"):
        # A resumed training logs into a new version folder: the first part's logs stay.
        parts = len(list((run.path / "logs").glob("part_*")))
        logger = instantiate(cfg.logger, "logger", name="logs", version=f"part_{parts}")
    progress = task = None
    if console is not None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        progress = Progress(
            TextColumn("training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
            transient=True,
        )
        task = progress.add_task("train", total=int(recipe.epochs), info="")
    last = run.path / LAST_CKPT
    callbacks = [
        DropPathSchedule(float(recipe.drop_path_prob), int(recipe.epochs)),
        LastCheckpoint(last),
    ]
    callbacks += [LoaderEpoch(loader), EpochLog(progress, task)]
    say(
        f"torch threads: {threads_per_process(trainer_cfg.get('threads'))} "
        f"({available_cpus()} CPUs available to this process)"
    )
    trainer = make_trainer(
        trainer_cfg,
        int(recipe.epochs),
        logger=logger,
        callbacks=callbacks,
        gradient_clip_val=recipe.grad_clip,
        check_val_every_n_epoch=1,
    )
    ckpt_path = str(last) if cfg.get("resume") and last.is_file() else None
    start = time.perf_counter()
    if progress is not None:
        progress.start()
    try:
        trainer.fit(
            model,
            train_dataloaders=loader,
            val_dataloaders=data.val_dataloader() if hold_out else None,
            ckpt_path=ckpt_path,
            weights_only=True,  # a checkpoint cannot run code when it is read
        )
    except pickle.UnpicklingError:
        raise NascliError(
            f"resume: {ckpt_path} holds objects other than tensors, containers and numbers, which "
            "nascli never unpickles; delete it to train again from the start"
        ) from None
    finally:
        if progress is not None:
            progress.stop()
    if trainer.interrupted:
        raise KeyboardInterrupt
    seconds = time.perf_counter() - start
    trainer.test(model, dataloaders=data.test_dataloader(), verbose=False)
    m = model.epoch_metrics
    hardware = instantiate(cfg.hardware, "hardware")
    net.eval()
    key = "ppl" if language_model else "acc"
    metrics: dict[str, Any] = {
        f"test_{key}": m[f"test/{key}"],
        "test_loss": m["test/loss"],
        f"val_{key}": m.get(f"val/{key}") if hold_out else None,
        f"train_{key}": m.get(f"train/{key}"),
        "train_loss": m.get("train/loss"),
        "epochs": int(recipe.epochs),
        **hardware.measure(net, input_shape),
        "seconds": round(seconds, 3),
    }
    return metrics, net


def write_bundle(
    cfg: DictConfig,
    space: Any,
    space_name: str,
    arch: str,
    data: Any,
    run: RunDir,
    net: torch.nn.Module,
    metrics: dict[str, Any],
) -> dict[str, Any]:
    """model.pt, arch.json, config.yaml, model.onnx (checked), cell picture and MODEL_CARD.md."""
    from nascli.ui.draw import draw_graphs

    language_model = task_of(data).name == "language_model"
    normalize = None if language_model else {"mean": data.mean.tolist(), "std": data.std.tolist()}
    space_config = OmegaConf.to_container(cfg.space, resolve=True)
    export.write_model(
        run.path, net, space_config, space_name, arch, data.input_shape, data.num_classes, normalize
    )
    if language_model:
        # Token ids mean nothing without their words: line i is token i.
        run.write_text(export.VOCABULARY, "\n".join(data.vocab.words) + "\n")
    onnx = _export_onnx(cfg, run.path, net, data)
    picture = None
    graphs = space.graphs(arch)
    if graphs:
        picture = draw_graphs(graphs, run.path / "cell")[0].name
    hydra_cfg = HydraConfig.get()
    export.write_card(
        run.path,
        {
            "space": space_name,
            "dataset": hydra_cfg.runtime.choices.get("dataset", ""),
            "hardware": hydra_cfg.runtime.choices.get("hardware", ""),
            "trainer": hydra_cfg.runtime.choices.get("trainer", ""),
            "arch": arch,
            "picture": picture,
            "metrics": metrics,
            "seed": cfg.seed,
            "input_shape": list(data.input_shape),
            "num_classes": data.num_classes,
            "normalize": normalize,
            "recipe": _recipe_summary(cfg.recipe),
            "seconds": metrics["seconds"],
            "onnx": _onnx_text(onnx),
            "onnx_input": onnx.get("input"),
            "vocabulary": export.VOCABULARY if language_model else None,
            "run_dir": str(run.path),
            "git": git_commit(),
            "versions": package_versions(),
        },
    )
    return onnx


def _export_onnx(cfg: DictConfig, folder: Path, net: torch.nn.Module, data: Any) -> dict[str, Any]:
    if not cfg.export.onnx:
        return {"passed": None, "skipped": True}
    sample = next(iter(data.test_dataloader()))[0][:8]
    tolerance = float(cfg.export.onnx_tolerance)
    task = task_of(data).name
    if task == "language_model":
        onnx = export.export_onnx_language_model(folder, net, sample, tolerance)
    else:
        onnx = export.export_onnx(folder, net, sample, tolerance, task == "sequence")
    if not onnx.get("passed"):
        log.warning("model.onnx check failed: %s", onnx)
    return onnx


def _onnx_text(onnx: dict[str, Any]) -> str:
    if onnx.get("skipped"):
        return f"not exported ({onnx.get('why', 'export.onnx=false')})"
    if onnx.get("passed"):
        return f"onnxruntime matches PyTorch (max abs diff {onnx['max_abs_diff']:.2e})"
    return f"FAILED: {onnx.get('error') or onnx}"


def _onnx_word(onnx: dict[str, Any]) -> str:
    return "skipped" if onnx.get("skipped") else ("ok" if onnx.get("passed") else "FAILED")


def write_ensemble_bundle(
    cfg: DictConfig,
    space_name: str,
    members: list[dict[str, Any]],
    nets: list[torch.nn.Module],
    data: Any,
    run: RunDir,
) -> dict[str, Any]:
    """The averaged model of the members: tested, measured, exported, with its manifest and card."""
    ensemble = Ensemble(nets).eval()
    hardware = instantiate(cfg.hardware, "hardware")
    metrics = {
        "test_acc": score(ensemble, data.test_dataloader())["acc"],
        **hardware.measure(ensemble, data.input_shape),
    }
    onnx = _export_onnx(cfg, run.path, ensemble, data)
    hydra_cfg = HydraConfig.get()
    export.write_ensemble(
        run.path,
        [Path(m["run_dir"]) for m in members],
        {
            "space": space_name,
            "dataset": hydra_cfg.runtime.choices.get("dataset", ""),
            "hardware": hydra_cfg.runtime.choices.get("hardware", ""),
            "metrics": metrics,
            "members": [{"arch": m["arch"], "test_acc": m["metrics"]["test_acc"]} for m in members],
            "onnx": _onnx_text(onnx),
            "run_dir": str(run.path),
        },
    )
    return {
        "top_k": len(members),
        "test_acc": metrics["test_acc"],
        "metrics": metrics,
        "onnx": onnx,
        "members": members,
    }


def run_train(cfg: DictConfig) -> dict[str, Any]:
    from nascli.lit.distributed import place_sweep_job

    hydra_cfg = HydraConfig.get()
    place_sweep_job(cfg, hydra_cfg)
    # Library warnings belong in the job log (conf/hydra/default.yaml routes py.warnings there).
    logging.captureWarnings(True)
    run = RunDir(hydra_cfg.runtime.output_dir)
    if cfg.get("resume"):
        cfg = _resumed_config(cfg, run)
    else:
        run.write_text(CONFIG, OmegaConf.to_yaml(cfg, resolve=True))
    space_name = hydra_cfg.runtime.choices.get("space", "")
    space = instantiate(cfg.space, "space")
    archs = _what_to_train(cfg, space, space_name)
    data = instantiate(cfg.dataset, "dataset", seed=cfg.seed, batch_size=int(cfg.recipe.batch_size))
    console = Console(stderr=True) if cfg.format == "table" else None
    start = time.perf_counter()
    members, nets = [], []
    for k, arch in enumerate(archs):
        member = run if len(archs) == 1 else RunDir(run.path / "members" / str(k))
        if len(archs) > 1:
            member.write_text(CONFIG, OmegaConf.to_yaml(cfg, resolve=True))
            log.info("ensemble member %d of %d: %s", k + 1, len(archs), arch)
        metrics, net = train_one(cfg, space, space_name, arch, data, member, console)
        onnx = write_bundle(cfg, space, space_name, arch, data, member, net, metrics)
        metrics["onnx_max_abs_diff"] = onnx.get("max_abs_diff")
        member.write_json(BEST, {"space": space_name, "arch": arch, "metrics": metrics})
        members.append(
            {"arch": arch, "run_dir": str(member.path), "metrics": metrics, "onnx": onnx}
        )
        nets.append(net)
    # Only classifiers make ensembles (checks.py), so several members means test_acc.
    best = max(members, key=lambda m: m["metrics"]["test_acc"]) if len(members) > 1 else members[0]
    summary: dict[str, Any] = {
        "command": "train",
        "status": "completed",
        "seconds": round(time.perf_counter() - start, 3),
        "seed": cfg.seed,
        "run_dir": str(run.path),
        "resumed": bool(cfg.get("resume")),
        "best": {"space": space_name, "arch": best["arch"], "metrics": best["metrics"]},
        "versions": package_versions(),
        "git": git_commit(),
    }
    if len(members) > 1:
        summary["ensemble"] = write_ensemble_bundle(cfg, space_name, members, nets, data, run)
        run.write_json(BEST, summary["best"])
    else:
        summary["onnx"] = members[0]["onnx"]
    run.write_cells(space, best["arch"])
    run.write_json(SUMMARY, summary)
    _print(cfg, summary, members)
    return summary


def _print(cfg: DictConfig, summary: dict[str, Any], members: list[dict[str, Any]]) -> None:
    if cfg.format == "json":
        print(json.dumps(summary))
        return
    out = Console()
    table = Table(title="Retrained and tested", title_justify="left")
    key = "test_ppl" if "test_ppl" in members[0]["metrics"] else "test_acc"
    score = "test ppl" if key == "test_ppl" else "test acc"
    for column in ("member", score, "params", "FLOPs", "latency (ms)", "seconds", "ONNX"):
        table.add_column(column, justify="right")
    for k, member in enumerate(members):
        m = member["metrics"]
        onnx = member["onnx"]
        table.add_row(
            str(k),
            f"{m[key]:.4f}",
            f"{m['params']:,}",
            f"{m['flops']:,}",
            f"{m['latency_ms']:.3f}",
            f"{m['seconds']:.0f}",
            _onnx_word(onnx),
        )
    if "ensemble" in summary:
        e = summary["ensemble"]
        m, onnx = e["metrics"], e["onnx"]
        table.add_row(
            "ensemble",
            f"{m['test_acc']:.4f}",
            f"{m['params']:,}",
            f"{m['flops']:,}",
            f"{m['latency_ms']:.3f}",
            "",
            _onnx_word(onnx),
        )
    out.print(table)
    for member in members:
        out.print(f"arch: {member['arch']}", markup=False, highlight=False, soft_wrap=True)
    out.print(f"run dir: {summary['run_dir']}", markup=False, highlight=False, soft_wrap=True)
