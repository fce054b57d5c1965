"""The body of `nas evaluate` (loads torch)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from nascli.commands.app import say
from nascli.core.config import instantiate
from nascli.core.errors import NascliError
from nascli.lit.evaluation import score
from nascli.results.export import load
from nascli.results.run_dir import CONFIG, SUMMARY, RunDir, git_commit, package_versions


def run_evaluate(cfg: DictConfig) -> dict[str, Any]:
    hydra_cfg = HydraConfig.get()
    logging.captureWarnings(True)
    run = RunDir(hydra_cfg.runtime.output_dir)
    run.write_text(CONFIG, OmegaConf.to_yaml(cfg, resolve=True))
    if cfg.split not in ("test", "val"):
        raise NascliError(f"split={cfg.split} is not test or val (e.g. split=test)")
    source = Path(str(cfg.run)).expanduser()
    net = load(source, trust_builder=bool(cfg.get("trust_builder")))
    # The splits and statistics of the training run: its seed, and the normalisation it trained with.
    seed, warnings = 0, []
    if (source / CONFIG).is_file():
        trained = OmegaConf.load(source / CONFIG)
        seed = int(OmegaConf.select(trained, "seed", default=0))
        if cfg.split == "val" and OmegaConf.select(trained, "recipe.train_on") == "train+val":
            warnings.append(
                "split=val: this model was trained on train+val (recipe.train_on), so its "
                "validation accuracy is measured on images it learnt from; split=test is unseen"
            )
            say(f"warning: {warnings[-1]}")
    data = instantiate(cfg.dataset, "dataset", seed=seed)
    if tuple(data.input_shape) != tuple(net.input_shape):
        raise NascliError(
            f"dataset={hydra_cfg.runtime.choices.get('dataset')} has inputs of shape "
            f"{tuple(data.input_shape)} but the model takes {tuple(net.input_shape)}; name the "
            "dataset it was trained on (dataset=...)"
        )
    if net.normalize:
        data.mean = torch.tensor(net.normalize["mean"])
        data.std = torch.tensor(net.normalize["std"])
    start = time.perf_counter()
    loader = data.test_dataloader() if cfg.split == "test" else data.val_dataloader()
    result = score(net, loader)
    hardware = instantiate(cfg.hardware, "hardware")
    metrics = {
        f"{cfg.split}_acc": result["acc"],
        f"{cfg.split}_loss": result["loss"],
        "images": result["images"],
        **hardware.measure(net, net.input_shape),
    }
    summary = {
        "command": "evaluate",
        "status": "completed",
        "run": str(source),
        "arch": net.arch,
        "hardware": hydra_cfg.runtime.choices.get("hardware", ""),
        "dataset": hydra_cfg.runtime.choices.get("dataset", ""),
        "metrics": metrics,
        "warnings": warnings,
        "seconds": round(time.perf_counter() - start, 3),
        "run_dir": str(run.path),
        "versions": package_versions(),
        "git": git_commit(),
    }
    run.write_json("evaluate.json", metrics)
    run.write_json(SUMMARY, summary)
    if cfg.format == "json":
        print(json.dumps(summary))
        return summary
    out = Console()
    table = Table(title=f"{source}", title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    if isinstance(net.arch, list):
        table.add_row("ensemble members", str(len(net.arch)))
    table.add_row(f"{cfg.split} accuracy", f"{metrics[f'{cfg.split}_acc']:.4f}")
    table.add_row(f"{cfg.split} images", f"{metrics['images']:,}")
    table.add_row("params", f"{metrics['params']:,}")
    table.add_row("FLOPs (one image)", f"{metrics['flops']:,}")
    table.add_row(f"latency ms ({summary['hardware']})", f"{metrics['latency_ms']:.3f}")
    out.print(table)
    out.print(f"run dir: {run.path}", markup=False, highlight=False, soft_wrap=True)
    return summary
