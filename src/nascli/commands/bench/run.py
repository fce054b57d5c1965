"""The body of `nas bench build`: train every unique architecture of a space (or a seeded sample)
with the estimator's settings and store learning curves, cost and training time per architecture.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import multiprocessing
import random
import shlex
import time
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from nascli.benchmarks.table import BenchTable
from nascli.commands.app import say
from nascli.core.config import instantiate
from nascli.core.errors import NascliError
from nascli.core.signals import StopRequested, stop_on_signals
from nascli.results.run_dir import CONFIG, SUMMARY, RunDir, git_commit, package_versions

log = logging.getLogger("nascli.bench")
# Spaces larger than this are never enumerated: give bench.limit.
MAX_ENUMERATE = 100_000


def unique_archs(space: Any, limit: int | None, seed: int) -> tuple[list[tuple[str, str]], int]:
    """(key, arch) for each unique architecture (the first of each isomorphism class in index
    order), or a seeded sample of `limit` of them; and how many unique ones the space has (its
    size where it is too large to enumerate)."""
    if space.size <= MAX_ENUMERATE:
        seen: dict[str, str] = {}
        for arch in space.enumerate():
            seen.setdefault(space.iso_key(arch), arch)
        pairs = list(seen.items())
        total = len(pairs)
        # Built in a seeded random order, so a table cut short is a uniform sample, and the first
        # `limit`: a larger limit extends a smaller one.
        random.Random(seed).shuffle(pairs)
        return pairs[:limit] if limit is not None else pairs, total
    if limit is None:
        raise NascliError(
            f"space={space.name} has {space.size:.3g} architectures, too many to enumerate; "
            "set bench.limit=N to tabulate a seeded sample"
        )
    rng, out = random.Random(seed), {}
    while len(out) < limit:
        arch = space.sample(rng)
        out.setdefault(space.iso_key(arch), arch)
    return list(out.items()), space.size


# -- one architecture (runs in the main process or a worker) -----------------------------------
_WORKER: dict[str, Any] = {}


def _setup(cfg_container: dict[str, Any], threads: int | None) -> None:
    from nascli.trials.pool import worker_parts

    _WORKER.update(worker_parts(cfg_container, threads))


def train_arch(key: str, arch: str, seed: int) -> dict[str, Any]:
    """Train `arch` for the estimator's epochs, scoring val and test after every epoch."""
    import pytorch_lightning as pl
    import torch

    from nascli.estimators.train import make_trainer
    from nascli.lit.classifier import Classifier
    from nascli.lit.evaluation import score

    w = _WORKER
    space, data, estimator = w["space"], w["data"], w["estimator"]
    row: dict[str, Any] = {"key": key, "arch": arch, "status": "ok", "error": None}
    curves: dict[str, list[float]] = {
        "val_acc": [],
        "test_acc": [],
        "val_loss": [],
        "train_loss": [],
    }

    class Curves(pl.Callback):
        def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
            module.net.eval()
            val, test = (
                score(module.net, data.val_dataloader()),
                score(module.net, data.test_dataloader()),
            )
            module.net.train()
            curves["val_acc"].append(val["acc"])
            curves["val_loss"].append(val["loss"])
            curves["test_acc"].append(test["acc"])
            curves["train_loss"].append(float(module.epoch_metrics.get("train/loss", float("nan"))))

    try:
        torch.manual_seed(seed)
        net = space.build(arch, data.input_shape, data.num_classes)
        row.update(w["hardware"].measure(net, data.input_shape))
        import functools

        scheduler = estimator.scheduler
        if isinstance(scheduler, functools.partial) and "T_max" in scheduler.keywords:
            scheduler = functools.partial(scheduler, T_max=estimator.epochs)
        model = Classifier(net, estimator.optimizer, scheduler)
        trainer = make_trainer(estimator.trainer, estimator.epochs, callbacks=[Curves()])
        start = time.perf_counter()
        trainer.fit(model, train_dataloaders=data.train_dataloader(seed_offset=seed))
        # The training alone is what a query charges; the per-epoch scoring is the table's own cost.
        row["train_seconds"] = round(time.perf_counter() - start, 4)
    except Exception as exc:  # a failed architecture is a row, not the end of the build
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    row["curves"] = curves
    return row


def _meta(cfg: DictConfig, space_name: str) -> dict[str, Any]:
    est = OmegaConf.to_container(cfg.estimator, resolve=True)
    return {
        "space_name": space_name,
        "space_config": {
            k: v
            for k, v in OmegaConf.to_container(cfg.space, resolve=True).items()
            if k != "_target_"
        },
        "dataset": HydraConfig.get().runtime.choices.get("dataset", ""),
        "hardware": HydraConfig.get().runtime.choices.get("hardware", ""),
        "epochs": int(cfg.estimator.epochs),
        "estimator": {k: v for k, v in est.items() if k not in ("prefilter", "prefilter_proxy")},
        "seed": int(cfg.seed),
    }


def run_bench_build(cfg: DictConfig) -> dict[str, Any]:
    logging.captureWarnings(True)
    hydra_cfg = HydraConfig.get()
    run = RunDir(hydra_cfg.runtime.output_dir)
    run.write_text(CONFIG, OmegaConf.to_yaml(cfg, resolve=True))
    if not str(cfg.estimator.get("_target_", "")).endswith("TrainEstimator"):
        raise NascliError("nas bench build trains every architecture: use estimator=train")
    space_name = hydra_cfg.runtime.choices.get("space", "")
    space = instantiate(cfg.space, "space")
    table = BenchTable(cfg.bench.file, create=True)
    meta = _meta(cfg, space_name)
    old = table.meta()
    for key in ("space_name", "space_config", "dataset", "epochs", "estimator", "seed"):
        if old and old.get(key) != meta[key]:
            raise NascliError(
                f"bench.file={cfg.bench.file} was built with {key}={json.dumps(old.get(key))}, not "
                f"{json.dumps(meta[key])}; resume with the same settings or choose another bench.file"
            )
    limit = cfg.bench.limit
    todo_all, total = unique_archs(
        space, int(limit) if limit is not None else None, int(cfg.bench.seed)
    )
    table.set_meta({**meta, "space_unique": total})
    done = table.keys()
    todo = [(k, a) for k, a in todo_all if k not in done]
    say(
        f"{len(todo)} architectures to train for {cfg.estimator.epochs} epochs each "
        f"({len(todo_all) - len(todo)} of {len(todo_all)} already in {cfg.bench.file})"
    )
    workers = int(cfg.bench.workers)
    container = OmegaConf.to_container(cfg, resolve=True)
    start = time.perf_counter()
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("bench"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    finished = 0
    seed = int(cfg.seed)

    def done(row: dict[str, Any]) -> None:
        nonlocal finished
        table.put(row)
        finished += 1
        progress.advance(task)
        if finished == 1:  # the pace of the first one says how long the whole plan takes
            per_arch = (time.perf_counter() - start) / workers
            left = per_arch * (len(todo) - 1)
            if left > 3600:
                progress.console.print(
                    f"nas bench: the rest takes about {left / 3600:.1f} h at {per_arch:.0f} s per "
                    f"architecture; bench.limit=N builds a seeded sample, and after Ctrl-C the "
                    "same command continues where it stopped",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )

    stop: dict[str, Any] = {"signal": None}
    try:
        with stop_on_signals() as stop, progress:
            task = progress.add_task(
                "bench", total=len(todo_all), completed=len(todo_all) - len(todo)
            )
            if workers <= 1:
                _setup(container, None)
                for key, arch in todo:
                    done(train_arch(key, arch, seed))
            else:
                ctx = multiprocessing.get_context("spawn")
                with cf.ProcessPoolExecutor(
                    workers, mp_context=ctx, initializer=_setup, initargs=(container, 1)
                ) as pool:
                    futures = [pool.submit(train_arch, k, a, seed) for k, a in todo]
                    try:
                        for future in cf.as_completed(futures):
                            done(future.result())
                    except BaseException:
                        for f in futures:
                            f.cancel()
                        raise
    except (KeyboardInterrupt, SystemExit) as exc:
        if isinstance(exc, SystemExit) and stop["signal"] is None:
            raise  # a real exit, not Lightning's answer to our stop request
        words = [o for o in HydraConfig.get().overrides.task if not o.startswith("action=")]
        again = " ".join(["nas bench build", *map(shlex.quote, words)])
        say(f"interrupted after {finished} architectures; the same command continues: {again}")
        raise StopRequested() from None
    finally:
        rows = table.rows()
        table.close()
        summary = {
            "command": "bench",
            "status": "completed" if len(rows) >= len(todo_all) else "interrupted",
            "file": str(table.path),
            "unique_archs": len(todo_all),
            "rows": len(rows),
            "failed": sum(r["status"] != "ok" for r in rows.values()),
            "trained_now": finished,
            "seconds": round(time.perf_counter() - start, 3),
            "workers": workers,
            "run_dir": str(run.path),
            "versions": package_versions(),
            "git": git_commit(),
        }
        run.write_json(SUMMARY, summary)
    if cfg.format == "json":
        print(json.dumps(summary))
    else:
        out = Console()
        ok = [r for r in rows.values() if r["status"] == "ok" and r["curves"].get("test_acc")]
        best = max(ok, key=lambda r: r["curves"]["test_acc"][-1], default=None)
        out.print(
            f"{summary['rows']} of {summary['unique_archs']} unique architectures in {summary['file']} "
            f"({summary['failed']} failed); {finished} trained in {summary['seconds']:.0f} s",
            markup=False,
            highlight=False,
        )
        if best:
            out.print(
                f"optimum: test_acc {best['curves']['test_acc'][-1]:.4f} {best['arch']}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
    return summary
