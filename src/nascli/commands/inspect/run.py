"""The body of `nas inspect` (loads torch)."""

from __future__ import annotations

import json
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from nascli.core.config import instantiate
from nascli.data.shape import dataset_shape
from nascli.results.run_dir import CONFIG, RunDir, resolve_arch
from nascli.ui.draw import draw_graphs


def run_inspect(cfg: DictConfig) -> dict[str, Any]:
    import torch

    from nascli.hardware.cost import count_flops, count_params

    hydra_cfg = HydraConfig.get()
    run = RunDir(hydra_cfg.runtime.output_dir)
    run.write_text(CONFIG, OmegaConf.to_yaml(cfg, resolve=True))
    space_name = hydra_cfg.runtime.choices.get("space", "")
    space = instantiate(cfg.space, "space")
    arch = resolve_arch(str(cfg.arch), space, space_name)
    input_shape, num_classes = dataset_shape(cfg)
    hardware = instantiate(cfg.hardware, "hardware")

    torch.manual_seed(0)
    net = space.build(arch, input_shape, num_classes)
    net.eval()
    total = count_params(net, inference=False)
    inference = count_params(net)
    result: dict[str, Any] = {
        "space": space_name,
        "arch": arch,
        "input_shape": list(input_shape),
        "num_classes": num_classes,
        "params": inference,
        "params_with_auxiliary": total,
        "flops": count_flops(net, input_shape),
        "latency_ms": round(hardware.latency_ms(net, input_shape), 4),
        "hardware": hydra_cfg.runtime.choices.get("hardware", ""),
        "pictures": [],
        "run_dir": str(run.path),
    }
    graphs = space.graphs(arch)
    if cfg.draw and graphs:
        result["pictures"] = [str(p) for p in draw_graphs(graphs, run.path / "cell")]
    (run.path / "network.txt").write_text(str(net) + "\n")
    run.write_json("inspect.json", result)

    if cfg.format == "json":
        print(json.dumps(result))
        return result
    out = Console()
    table = Table(
        title=f"{space_name} on {input_shape} inputs, {num_classes} classes", title_justify="left"
    )
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("params (inference)", f"{inference:,}")
    if total != inference:
        table.add_row("params (with auxiliary head)", f"{total:,}")
    table.add_row("FLOPs (one image)", f"{result['flops']:,}")
    table.add_row(f"latency ms ({result['hardware']})", f"{result['latency_ms']:.3f}")
    out.print(table)
    out.print(f"arch: {arch}", markup=False, highlight=False, soft_wrap=True)
    for path in result["pictures"]:
        out.print(f"picture: {path}", markup=False, highlight=False, soft_wrap=True)
    out.print(f"run dir: {run.path}", markup=False, highlight=False, soft_wrap=True)
    return result
