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
    hydra_cfg = HydraConfig.get()
    run = RunDir(hydra_cfg.runtime.output_dir)
    run.write_text(CONFIG, OmegaConf.to_yaml(cfg, resolve=True))
    space_name = hydra_cfg.runtime.choices.get("space", "")
    space = instantiate(cfg.space, "space")
    result: dict[str, Any] = {
        "space": space_name,
        "decisions": len(space.cardinalities),
        "architectures": space.size,
        # how many compute different functions (null: too many to count)
        "unique_architectures": space.count_unique(),
        "run_dir": str(run.path),
    }
    net = None
    if cfg.get("arch") is not None:
        result["arch"] = resolve_arch(str(cfg.arch), space, space_name)
        result.update(space.describe(result["arch"]))
        if space.builds_networks:
            net = _network(cfg, space, result)
        graphs = space.graphs(result["arch"])
        result["pictures"] = []
        if cfg.draw and graphs:
            result["pictures"] = [str(p) for p in draw_graphs(graphs, run.path / "cell")]
    if net is not None:
        (run.path / "network.txt").write_text(str(net) + "\n")
    run.write_json("inspect.json", result)
    if cfg.format == "json":
        print(json.dumps(result))
        return result
    _print(result, hydra_cfg.runtime.choices.get("hardware", ""))
    return result


def _network(cfg: DictConfig, space: Any, result: dict[str, Any]) -> Any:
    """Build the network of result["arch"] and add its size, cost and latency to `result`."""
    import torch

    from nascli.hardware.cost import count_flops, count_params

    input_shape, num_classes = dataset_shape(cfg)
    hardware = instantiate(cfg.hardware, "hardware")
    torch.manual_seed(0)
    net = space.build(result["arch"], input_shape, num_classes)
    net.eval()
    result.update(
        input_shape=list(input_shape),
        num_classes=num_classes,
        params=count_params(net),
        params_with_auxiliary=count_params(net, inference=False),
        flops=count_flops(net, input_shape),
        latency_ms=round(hardware.latency_ms(net, input_shape), 4),
        hardware=HydraConfig.get().runtime.choices.get("hardware", ""),
    )
    return net


def _print(result: dict[str, Any], hardware: str) -> None:
    out = Console()
    unique = result["unique_architectures"]
    out.print(
        f"space={result['space']}: {result['decisions']} decisions, {result['architectures']:,} "
        f"architectures" + (f", {unique:,} unique" if unique is not None else ""),
        markup=False,
        highlight=False,
    )
    if "params" in result:
        table = Table(
            title=f"{result['space']} on {tuple(result['input_shape'])} inputs, "
            f"{result['num_classes']} classes",
            title_justify="left",
        )
        table.add_column("what")
        table.add_column("value", justify="right")
        table.add_row("params (inference)", f"{result['params']:,}")
        if result["params_with_auxiliary"] != result["params"]:
            table.add_row("params (with auxiliary head)", f"{result['params_with_auxiliary']:,}")
        table.add_row("FLOPs (one image)", f"{result['flops']:,}")
        table.add_row(f"latency ms ({hardware})", f"{result['latency_ms']:.3f}")
        out.print(table)
    if "arch" in result:
        out.print(f"arch: {result['arch']}", markup=False, highlight=False, soft_wrap=True)
    if "flat" in result:
        out.print(
            f"flat ({result['flat_nodes']} nodes, {result['flat_edges']} edges): {result['flat']}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    for path in result.get("pictures", []):
        out.print(f"picture: {path}", markup=False, highlight=False, soft_wrap=True)
    out.print(f"run dir: {result['run_dir']}", markup=False, highlight=False, soft_wrap=True)
