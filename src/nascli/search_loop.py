"""The body of `nas search`, imported only after the config has been validated (it loads torch)."""

from __future__ import annotations

import json
import logging
import math
import random
import time
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from nascli.config import instantiate
from nascli.errors import NascliError
from nascli.results.run_dir import (
    BEST,
    CONFIG,
    STRATEGY_STATE,
    SUMMARY,
    RunDir,
    git_commit,
    package_versions,
)

log = logging.getLogger("nascli.search")


def trial_seed(seed: int, trial: int) -> int:
    """Distinct, reproducible seeds per (run seed, trial), so seeds 0 and 1 share no trial inits."""
    return seed * 1_000_003 + trial


def choose_best(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Highest val_acc among finished trials; the earliest wins a tie."""
    ok = [r for r in history if r["status"] == "ok"]
    return max(ok, key=lambda r: (r["metrics"]["val_acc"], -r["trial"])) if ok else None


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]search"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("best val acc {task.fields[best]}"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=console,
    )


def run_search(cfg: DictConfig) -> dict[str, Any]:
    # Library warnings belong in the job log (conf/hydra/default.yaml routes py.warnings there).
    logging.captureWarnings(True)
    hydra_cfg = HydraConfig.get()
    run = RunDir(hydra_cfg.runtime.output_dir)
    run.write_text(CONFIG, OmegaConf.to_yaml(cfg, resolve=True))
    space_name = hydra_cfg.runtime.choices.get("space", "")
    torch.manual_seed(cfg.seed)

    space = instantiate(cfg.space, "space")
    data = instantiate(cfg.dataset, "dataset", seed=cfg.seed, batch_size=cfg.estimator.batch_size)
    data.setup()
    strategy = instantiate(cfg.strategy, "strategy", space=space, seed=cfg.seed)
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    estimator = instantiate(cfg.estimator, "estimator", trainer=trainer_cfg)
    hardware = instantiate(cfg.hardware, "hardware")
    log.info(
        "run dir %s; data %s; input %s, %d classes",
        run.path,
        data.sizes(),
        data.input_shape,
        data.num_classes,
    )

    trials, seconds = cfg.search.trials, cfg.search.seconds
    max_failures = cfg.search.get("max_failures")
    history: list[dict[str, Any]] = []
    status, stop_reason, error = "completed", "trials", None
    start = time.perf_counter()
    err_console = Console(stderr=True)
    try:
        with _progress(err_console) as progress:
            task = progress.add_task("search", total=trials, best="-")
            for trial in range(trials):
                if seconds is not None and time.perf_counter() - start >= seconds:
                    stop_reason = "seconds"
                    break
                record = _run_trial(cfg, trial, strategy, space, data, estimator, hardware, run)
                history.append(record)
                run.append_history(record)
                strategy.tell(
                    record["arch"], record["metrics"] if record["status"] == "ok" else None
                )
                run.write_json(STRATEGY_STATE, strategy.state_dict())
                best = choose_best(history)
                progress.update(
                    task, advance=1, best=f"{best['metrics']['val_acc']:.4f}" if best else "-"
                )
                failures = sum(r["status"] == "failed" for r in history)
                if max_failures is not None and failures > max_failures:
                    status, stop_reason = "failed", "max_failures"
                    error = (
                        f"{failures} trials failed, more than search.max_failures={max_failures} "
                        f"(raise it to go on); last error: {record['error']}"
                    )
                    break
        if error is None and not any(r["status"] == "ok" for r in history):
            status = "failed"
            error = f"none of the {len(history)} trials finished (last error: {history[-1]['error'] if history else '-'})"
    except KeyboardInterrupt:
        status, stop_reason = "interrupted", "interrupted"
        raise
    finally:
        summary = _finish(
            cfg, run, space_name, history, status, stop_reason, error, time.perf_counter() - start
        )

    if error is not None:
        raise NascliError(f"{error}; see {run.path / 'history.jsonl'}")
    _report(cfg, run, summary)
    return summary


def _check_builds(space, data) -> None:
    """Build one network before the first trial, so a bad space setting is one clear error, not N failed trials."""
    try:
        net = space.build(space.sample(random.Random(0)), data.input_shape, data.num_classes)
        net(torch.zeros(2, *data.input_shape))
    except Exception as exc:
        raise NascliError(
            f"space: cannot build a network for input {data.input_shape} ({type(exc).__name__}: {exc}); check the space.* settings"
        ) from exc


def _run_trial(cfg, trial, strategy, space, data, estimator, hardware, run) -> dict[str, Any]:
    arch = strategy.ask()
    t0 = time.perf_counter()
    record: dict[str, Any] = {
        "trial": trial,
        "arch": arch,
        "status": "ok",
        "metrics": {},
        "error": None,
    }
    try:
        torch.manual_seed(trial_seed(cfg.seed, trial))
        net = space.build(arch, data.input_shape, data.num_classes)
        cost = hardware.measure(net, data.input_shape)
        logger = None
        if cfg.logger.get("_target_"):
            logger = instantiate(cfg.logger, "logger", version=f"trial_{trial:04d}")
        t_train = time.perf_counter()
        metrics = estimator.evaluate(net, data, seed=trial_seed(cfg.seed, trial), logger=logger)
        record["train_seconds"] = round(time.perf_counter() - t_train, 4)
        if not math.isfinite(metrics["val_acc"]):
            raise FloatingPointError(f"val_acc is {metrics['val_acc']}")
        record["metrics"] = {**metrics, **cost}
    except (KeyboardInterrupt, NascliError):
        raise
    except Exception as exc:  # one bad architecture must not end the search
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        log.warning("trial %d (%s) failed: %s", trial, arch, record["error"])
    record["seconds"] = round(time.perf_counter() - t0, 4)
    log.info("trial %d %s %s %s", trial, record["status"], arch, json.dumps(record["metrics"]))
    return record


def _finish(cfg, run, space_name, history, status, stop_reason, error, seconds) -> dict[str, Any]:
    best = choose_best(history)
    best_json = None
    if best is not None:
        best_json = {
            "space": space_name,
            "arch": best["arch"],
            "trial": best["trial"],
            "metrics": best["metrics"],
        }
        run.write_json(BEST, best_json)
    summary = {
        "command": "search",
        "status": status,
        "stop_reason": stop_reason,
        "error": error,
        "trials": len(history),
        "failed_trials": sum(r["status"] == "failed" for r in history),
        "seconds": round(seconds, 3),
        "seed": cfg.seed,
        "run_dir": str(run.path),
        "best": best_json,
        "versions": package_versions(),
        "git": git_commit(),
    }
    run.write_json(SUMMARY, summary)
    return summary


def _report(cfg: DictConfig, run: RunDir, summary: dict[str, Any]) -> None:
    out = Console()
    if cfg.format == "json":
        print(json.dumps(summary))
        return
    best = summary["best"]
    title = f"Best of {summary['trials']} trials ({summary['failed_trials']} failed; stopped by {summary['stop_reason']})"
    table = Table(title=title, title_justify="left")
    for column in ("val acc", "params", "FLOPs", "latency (ms)", "trial"):
        table.add_column(column, justify="right")
    if best is None:
        table.add_row("-", "-", "-", "-", "no trial finished")
    else:
        m = best["metrics"]
        table.add_row(
            f"{m['val_acc']:.4f}",
            f"{m['params']:,}",
            f"{m['flops']:,}",
            f"{m['latency_ms']:.3f}",
            str(best["trial"]),
        )
    out.print(table)
    # Plain lines, never wrapped, so both can be pasted into the next command.
    if best is not None:
        out.print(f"arch: {best['arch']}", markup=False, highlight=False, soft_wrap=True)
    out.print(f"run dir: {run.path}", markup=False, highlight=False, soft_wrap=True)
