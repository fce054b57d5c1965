"""This machine's CPU as a deployment target."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import torch
from torch import nn

from nascli.hardware.cost import cost_metrics
from nascli.nn.inputs import example_input


class CpuTarget:
    """Latency = median of `repeats` timed forward passes at `batch_size`, after `warmup` untimed ones.

    Args:
        threads: torch intra-op threads while timing (None keeps the current setting).
    """

    def __init__(
        self, threads: int | None = None, batch_size: int = 1, warmup: int = 3, repeats: int = 10
    ) -> None:
        self.threads, self.batch_size = threads, batch_size
        self.warmup, self.repeats = warmup, repeats

    def latency_ms(self, net: nn.Module, input_shape: Sequence[int]) -> float:
        previous = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        was_training = net.training
        net.eval()
        x = example_input(net, input_shape, self.batch_size, random=True)
        try:
            with torch.inference_mode():
                for _ in range(self.warmup):
                    net(x)
                times = []
                for _ in range(self.repeats):
                    start = time.perf_counter()
                    net(x)
                    times.append(time.perf_counter() - start)
        finally:
            net.train(was_training)
            torch.set_num_threads(previous)
        return 1000.0 * statistics.median(times)

    def measure(self, net: nn.Module, input_shape: Sequence[int]) -> dict[str, float | int]:
        return cost_metrics(net, input_shape, self.latency_ms(net, input_shape))
