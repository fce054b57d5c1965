"""A CUDA device as a deployment target: latency at a set batch size and precision, timed with
CUDA events (which measure the kernels, not Python's launch of them)."""

from __future__ import annotations

import copy
import statistics
from collections.abc import Sequence

import torch
from torch import nn

from nascli.core.errors import NascliError
from nascli.hardware.cost import cost_metrics
from nascli.nn.inputs import example_input

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class GpuTarget:
    """Latency = median of `repeats` timed forward passes after `warmup` untimed ones, each timed
    between two CUDA events on the current stream.

    Args:
        device: the CUDA device, e.g. "cuda" or "cuda:1".
        precision: fp32, or bf16/fp16 under autocast (what the deployed model would run).
        channels_last: time the network and input in the NHWC memory format.
    """

    def __init__(
        self,
        device: str = "cuda",
        batch_size: int = 1,
        precision: str = "fp32",
        channels_last: bool = False,
        warmup: int = 10,
        repeats: int = 50,
    ) -> None:
        if precision not in DTYPES:
            raise NascliError(f"hardware.precision={precision} is not one of {', '.join(DTYPES)}")
        if not torch.cuda.is_available():
            raise NascliError(
                "hardware=gpu needs a CUDA device and torch.cuda.is_available() is False here; "
                "use hardware=cpu, or hardware=table with a table profiled on the GPU"
            )
        self.device = torch.device(device)
        self.batch_size, self.precision = batch_size, precision
        self.channels_last, self.warmup, self.repeats = channels_last, warmup, repeats

    def latency_ms(self, net: nn.Module, input_shape: Sequence[int]) -> float:
        # A copy goes to the device: the caller's network stays where it was, in its mode.
        model = copy.deepcopy(net).to(self.device).eval()
        x = example_input(net, input_shape, self.batch_size, self.device, random=True)
        if self.channels_last and x.dim() == 4:
            model, x = (
                model.to(memory_format=torch.channels_last),
                x.contiguous(memory_format=torch.channels_last),
            )
        dtype = DTYPES[self.precision]
        times = []
        with (
            torch.inference_mode(),
            torch.autocast("cuda", dtype=dtype, enabled=dtype is not torch.float32),
        ):
            for _ in range(self.warmup):
                model(x)
            for _ in range(self.repeats):
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                model(x)
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))  # milliseconds
        del model, x
        return statistics.median(times)

    def measure(self, net: nn.Module, input_shape: Sequence[int]) -> dict[str, float | int]:
        return cost_metrics(net, input_shape, self.latency_ms(net, input_shape))
