"""The body of `nas hw profile` and `nas hw validate`."""

from __future__ import annotations

import json
import platform
import random
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from nascli.config import instantiate
from nascli.errors import NascliError
from nascli.hardware import lut
from nascli.inspecting import dataset_shape
from nascli.results.run_dir import CONFIG, SUMMARY, RunDir, write_json_atomic


def _spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def run_hw(cfg: DictConfig) -> dict[str, Any]:
    hydra_cfg = HydraConfig.get()
    run = RunDir(hydra_cfg.runtime.output_dir)
    run.write_text(CONFIG, OmegaConf.to_yaml(cfg, resolve=True))
    space = instantiate(cfg.space, "space")
    input_shape, num_classes = dataset_shape(cfg)
    target = instantiate(cfg.hardware, "hardware")
    if isinstance(target, lut.TableTarget):
        raise NascliError(
            "nas hw needs a device to measure on: hardware=cpu or hardware=gpu (not hardware=table)"
        )
    path = Path(str(cfg.hw.file)).expanduser()
    start = time.perf_counter()
    choices = hydra_cfg.runtime.choices
    if cfg.action == "profile":
        table = lut.profile(
            space,
            input_shape,
            num_classes,
            target,
            seed=cfg.seed,
            patience=int(cfg.hw.patience),
            passes=int(cfg.hw.get("passes", 3)),
        )
        table["meta"] = {
            "space": choices.get("space"),
            "space_config": OmegaConf.to_container(cfg.space, resolve=True),
            "input_shape": list(input_shape),
            "num_classes": num_classes,
            "hardware": OmegaConf.to_container(cfg.hardware, resolve=True),
            "device": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, table)
        result = {
            "command": "hw profile",
            "file": str(path),
            "entries": len(table["entries"]),
            "scale": table["scale"],
            "overhead_ms": table["overhead_ms"],
            "sampled_archs": table["sampled_archs"],
        }
    else:
        predictor = lut.TableTarget(str(path))
        rng = random.Random(cfg.seed + 1)  # other architectures than profiling calibrated on
        nets = [
            space.build(space.sample(rng), input_shape, num_classes)
            for _ in range(int(cfg.hw.samples))
        ]
        # Measured as the table was made: each network once per pass, in a new order each pass,
        # keeping the median (a few slow seconds of a shared machine skew no network alone).
        order, times = list(range(len(nets))), [[] for _ in nets]
        for _ in range(max(1, int(cfg.hw.get("passes", 3)))):
            rng.shuffle(order)
            for i in order:
                times[i].append(target.latency_ms(nets[i], input_shape))
        measured = [statistics.median(t) for t in times]
        predicted = [predictor.latency_ms(net, input_shape) for net in nets]
        errors = [abs(p - m) / m for p, m in zip(predicted, measured, strict=True)]
        result = {
            "command": "hw validate",
            "file": str(path),
            "samples": len(measured),
            "mean_abs_error_pct": 100 * statistics.fmean(errors),
            "max_abs_error_pct": 100 * max(errors),
            "mean_abs_error_ms": statistics.fmean(
                abs(p - m) for p, m in zip(predicted, measured, strict=True)
            ),
            "spearman": _spearman(measured, predicted),
            "measured_ms": measured,
            "predicted_ms": predicted,
        }
    result.update(
        status="completed", seconds=round(time.perf_counter() - start, 3), run_dir=str(run.path)
    )
    run.write_json(SUMMARY, result)
    if cfg.format == "json":
        print(json.dumps(result))
    elif cfg.action == "profile":
        Console().print(
            f"{result['entries']} block shapes timed (from {result['sampled_archs']} sampled "
            f"architectures), overhead {result['overhead_ms']:.3f} ms, in {result['seconds']:.0f} s: {path}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    else:
        Console().print(
            f"{result['samples']} architectures: mean absolute error {result['mean_abs_error_pct']:.1f} % "
            f"({result['mean_abs_error_ms']:.3f} ms), max {result['max_abs_error_pct']:.1f} %, "
            f"Spearman {result['spearman']:.3f}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    return result
