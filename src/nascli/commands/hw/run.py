"""The body of `nas hw profile` and `nas hw validate`."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from nascli.core.config import instantiate
from nascli.core.errors import NascliError
from nascli.data.shape import dataset_shape
from nascli.hardware import lut
from nascli.results.run_dir import CONFIG, SUMMARY, RunDir, write_json_atomic


def _describe(result: dict[str, Any]) -> str:
    """The one-paragraph console summary of a profile or a validation."""
    if result["command"] == "hw profile":
        text = (
            f"{result['entries']} block shapes timed (from {result['sampled_archs']} sampled "
            f"architectures), overhead {result['overhead_ms']:.3f} ms, in {result['seconds']:.0f} s: "
            f"{result['file']}"
        )
        if probe := result.get("probe"):
            text += (
                f"\nprobe network {probe['ms']:.3f} ms (10-90 % of its {probe['timings']} timings: "
                f"{probe['p10_ms']:.3f}-{probe['p90_ms']:.3f} ms); every time is put at its median speed"
            )
        return text
    text = (
        f"{result['samples']} architectures: mean absolute error {result['mean_abs_error_pct']:.1f} % "
        f"({result['mean_abs_error_ms']:.3f} ms), max {result['max_abs_error_pct']:.1f} %, "
        f"Spearman {result['spearman']:.3f}"
    )
    if raw := result.get("raw"):
        text += (
            f", at the speed the device had while profiling; it now runs the probe network at "
            f"{result['speed_factor']:.2f}x that time, and against the times as measured the error "
            f"is {raw['mean_abs_error_pct']:.1f} % (max {raw['max_abs_error_pct']:.1f} %)"
        )
    return text


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
            passes=int(cfg.hw.passes),
            probe_every=int(cfg.hw.probe_every),
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
            "probe": {k: v for k, v in table.get("probe", {}).items() if k != "arch"} or None,
        }
    else:
        predictor = lut.TableTarget(str(path))
        result = {
            "command": "hw validate",
            "file": str(path),
            **lut.validate(
                predictor.table,
                space,
                input_shape,
                num_classes,
                target,
                samples=int(cfg.hw.samples),
                seed=cfg.seed + 1,  # other architectures than profiling calibrated on
                passes=int(cfg.hw.passes),
                probe_every=int(cfg.hw.probe_every),
            ),
        }
    result.update(
        status="completed", seconds=round(time.perf_counter() - start, 3), run_dir=str(run.path)
    )
    run.write_json(SUMMARY, result)
    if cfg.format == "json":
        print(json.dumps(result))
    else:
        Console().print(_describe(result), markup=False, highlight=False, soft_wrap=True)
    return result
