"""Expected latency of a supernet's architecture distribution, for the latency term of
differentiable search (ProxylessNAS, Cai et al. 2019; FBNet, Wu et al. 2019).

Every candidate op of every mixed edge is timed once on the hardware target at the input shape it
sees in the supernet (identical op and shape pairs share one timing), and the timings are summed
into one table per architecture parameter: `table[t][row, op]` is the latency that choosing `op`
at `row` of alpha `t` adds, over all cells that share that alpha. The expected latency,
sum of softmax(alpha) x table, is differentiable in alpha.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from nascli.core.errors import NascliError
from nascli.nn.supernet import MixedEdge, Supernet


def edge_input_shapes(net: Supernet, input_shape: Sequence[int]) -> dict[int, tuple[int, ...]]:
    """The input shape (no batch dimension) each mixed edge's ops see, from one forward pass."""
    shapes: dict[int, tuple[int, ...]] = {}

    def record(edge: nn.Module, args: tuple[Any, ...]) -> None:
        c, *rest = args[0].shape[1:]
        shapes[id(edge)] = (c // edge.partial, *rest)

    hooks = [m.register_forward_pre_hook(record) for m in net.modules() if isinstance(m, MixedEdge)]
    was_training, method, path = net.training, net.method, net.path
    try:
        net.eval()
        net.method, net.path = "softmax", None
        with torch.no_grad():
            net(torch.zeros(2, *input_shape))
    finally:
        for h in hooks:
            h.remove()
        net.train(was_training)
        net.method, net.path = method, path
    return shapes


def latency_table(
    net: Supernet, input_shape: Sequence[int], target: Any
) -> dict[str, torch.Tensor]:
    """{alpha name: (rows, ops) latencies in ms} measured with `target.latency_ms(module, shape)`."""
    from nascli.hardware.lut import TableTarget

    if isinstance(target, TableTarget):
        raise NascliError(
            "strategy.latency_weight times the supernet's ops on a device: use hardware=cpu or hardware=gpu"
        )
    # Timing draws random inputs: keep the run's random streams (CPU and CUDA) as they would be
    # without the table.
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        return _measure(net, input_shape, target)


def _measure(net: Supernet, input_shape: Sequence[int], target: Any) -> dict[str, torch.Tensor]:
    shapes = edge_input_shapes(net, input_shape)
    table = {t: torch.zeros_like(a, dtype=torch.float32) for t, a in net.alphas.items()}
    cache: dict[tuple[str, tuple[int, ...]], float] = {}
    for edge, t, row in net.edge_rows():
        shape = shapes[id(edge)]
        for i, op in enumerate(edge.ops):
            if i == edge.none:
                continue  # the zero op costs nothing
            key = (repr(op), shape)
            if key not in cache:
                cache[key] = float(target.latency_ms(op, shape))
            table[t][row, i] += cache[key]
    return table
