"""Size and compute of a network, independent of where it runs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nascli.nn.inputs import example_input


def count_params(net: nn.Module, inference: bool = True) -> int:
    """Parameters; with `inference`, those used at inference only (auxiliary heads excluded, as
    papers count)."""
    return sum(
        p.numel()
        for name, p in net.named_parameters()
        if not (inference and name.startswith("auxiliary_head"))
    )


def count_flops(net: nn.Module, input_shape: Sequence[int], batch_size: int = 1) -> int:
    """FLOPs of one forward pass by PyTorch's own counter (a multiply-add counts as 2)."""
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            net(example_input(net, input_shape, batch_size))
    finally:
        net.train(was_training)
    return int(counter.get_total_flops())


def peak_activation_mb(net: nn.Module, input_shape: Sequence[int], batch_size: int = 1) -> float:
    """Peak activation memory of one inference, in MiB: the largest input-plus-output of any leaf
    layer (what must be alive at once when a network runs layer by layer, the measure MCUNet-style
    memory constraints use), at `batch_size` and fp32."""
    sizes: list[int] = []

    def hook(module: nn.Module, args: tuple, output: object) -> None:
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if isinstance(output, torch.Tensor):
            tensors.append(output)
        sizes.append(sum(t.numel() * t.element_size() for t in tensors))

    leaves = [m for m in net.modules() if not any(True for _ in m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            net(example_input(net, input_shape, batch_size))
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    return max(sizes, default=0) / 2**20


def cost_metrics(
    net: nn.Module, input_shape: Sequence[int], latency_ms: float
) -> dict[str, float | int]:
    """What every hardware target reports: params, FLOPs, its latency, peak activation memory."""
    return {
        "params": count_params(net),
        "flops": count_flops(net, input_shape),
        "latency_ms": round(latency_ms, 4),
        "memory_mb": round(peak_activation_mb(net, input_shape), 4),
    }
