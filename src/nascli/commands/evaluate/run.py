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
from nascli.lit.evaluation import perplexity, score
from nascli.results.export import VOCABULARY, load
from nascli.results.run_dir import CONFIG, SUMMARY, RunDir, git_commit, package_versions
from nascli.tasks import task_of


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
    language_model = task_of(data).name == "language_model"
    if language_model:
        _check_vocabulary(source, data)
    if net.normalize:
        data.mean = torch.tensor(net.normalize["mean"])
        data.std = torch.tensor(net.normalize["std"])
    start = time.perf_counter()
    loader = data.test_dataloader() if cfg.split == "test" else data.val_dataloader()
    key, counted = ("ppl", "tokens") if language_model else ("acc", "images")
    result = perplexity(net, loader) if language_model else score(net, loader)
    hardware = instantiate(cfg.hardware, "hardware")
    metrics = {
        f"{cfg.split}_{key}": result[key],
        f"{cfg.split}_loss": result["loss"],
        counted: result[counted],
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
    name = "perplexity" if language_model else "accuracy"
    table.add_row(f"{cfg.split} {name}", f"{metrics[f'{cfg.split}_{key}']:.4f}")
    table.add_row(f"{cfg.split} {counted}", f"{metrics[counted]:,}")
    table.add_row("params", f"{metrics['params']:,}")
    table.add_row("FLOPs (one input)", f"{metrics['flops']:,}")
    table.add_row(f"latency ms ({summary['hardware']})", f"{metrics['latency_ms']:.3f}")
    out.print(table)
    out.print(f"run dir: {run.path}", markup=False, highlight=False, soft_wrap=True)
    return summary


def _check_vocabulary(source: Path, data: Any) -> None:
    """A language model's token ids mean its own words: the dataset must give the same ones."""
    where = source / VOCABULARY
    if not where.is_file():
        raise NascliError(f"{source} has no {VOCABULARY}; give the run directory of a `nas train`")
    words = where.read_text(encoding="utf-8").splitlines()
    if words != list(data.vocab.words):
        raise NascliError(
            f"this dataset's vocabulary ({len(data.vocab.words)} tokens) is not the one "
            f"{where} was trained on ({len(words)}); name the dataset and keys it was trained "
            "with (dataset=..., dataset.root=...)"
        )
