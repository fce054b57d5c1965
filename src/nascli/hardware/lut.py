"""Latency lookup tables (as ProxylessNAS and FBNet use them): time every block shape a space can
produce once on the device, then predict any architecture's latency by summing its blocks, on any
machine.

A network is cut into units: each child of its `features` sequence, plus the head (everything
after it). A unit's key is its module's text (which names every layer setting) and its input
shape, so equal blocks at equal resolutions share one measurement.
"""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nascli.errors import NascliError
from nascli.hardware.cost import cost_metrics


class _Head(nn.Module):
    """What a network does after its features: pooling, flattening and the classifier."""

    def __init__(self, pool: nn.Module, classifier: nn.Module) -> None:
        super().__init__()
        self.pool, self.classifier = pool, classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(x).flatten(1))


def units(
    net: nn.Module, input_shape: Sequence[int]
) -> list[tuple[str, nn.Module, tuple[int, ...]]]:
    """(key, module, input shape without batch) for each unit of `net`, in order."""
    features = getattr(net, "features", None)
    if not isinstance(features, nn.Sequential):
        raise NascliError(
            "hardware=table predicts networks built as a `features` sequence and a head "
            "(space=mobilenet); use hardware=cpu for this space"
        )
    out = []
    x = torch.zeros(1, *input_shape)
    net.eval()
    with torch.inference_mode():
        for module in features:
            out.append((f"{module!r}@{tuple(x.shape[1:])}", module, tuple(x.shape[1:])))
            x = module(x)
        head = _Head(net.pool, net.classifier)
        out.append((f"{head!r}@{tuple(x.shape[1:])}", head, tuple(x.shape[1:])))
    return out


def profile(
    space: Any,
    input_shape: Sequence[int],
    num_classes: int,
    target: Any,
    seed: int = 0,
    patience: int = 300,
    calibration: int = 20,
    passes: int = 3,
) -> dict[str, Any]:
    """Time every unit the space produces on `target` (sampling architectures until `patience`
    samples in a row bring no new unit); then calibrate: timed alone, blocks do not cost exactly
    what they cost inside a network (caches, call overhead), so the median gap between measured
    and summed latency over `calibration` whole networks is added to every prediction.

    Every unit and calibration network is timed in each of `passes` rounds, in a new shuffled
    order each round, and keeps its median: a machine whose speed drifts for a few seconds (a
    shared VM) then skews no block alone, and blocks and networks see the same mix of speeds."""
    rng = random.Random(seed)
    modules: dict[str, tuple[nn.Module, tuple[int, ...]]] = {}
    quiet = 0
    samples = 0
    while quiet < patience:
        arch = space.sample(rng)
        samples += 1
        new = 0
        for key, module, shape in units(space.build(arch, input_shape, num_classes), input_shape):
            if key not in modules:
                modules[key] = (module, shape)
                new += 1
        quiet = 0 if new else quiet + 1
    nets = [space.build(space.sample(rng), input_shape, num_classes) for _ in range(calibration)]
    jobs = [("unit", key) for key in modules] + [("net", i) for i in range(len(nets))]
    times: dict[tuple[str, Any], list[float]] = {job: [] for job in jobs}
    for _ in range(max(1, passes)):
        rng.shuffle(jobs)
        for kind, which in jobs:
            if kind == "unit":
                module, shape = modules[which]
                times[(kind, which)].append(target.latency_ms(module, shape))
            else:
                times[(kind, which)].append(target.latency_ms(nets[which], input_shape))
    entries = {key: statistics.median(times[("unit", key)]) for key in modules}
    table: dict[str, Any] = {"entries": entries, "scale": 1.0, "overhead_ms": 0.0}
    sums = [predict(table, net, input_shape) for net in nets]
    measured = [statistics.median(times[("net", i)]) for i in range(len(nets))]
    if sums:
        # One robust offset (the median gap): a fitted slope swings with timing noise, since the
        # sums of a space's networks span a narrow range.
        table["overhead_ms"] = statistics.median(m - p for m, p in zip(measured, sums, strict=True))
    table["sampled_archs"] = samples
    return table


def predict(table: dict[str, Any], net: nn.Module, input_shape: Sequence[int]) -> float:
    total = 0.0
    for key, _, _ in units(net, input_shape):
        if key not in table["entries"]:
            raise NascliError(
                "hardware.file: the latency table has no entry for a block of this network "
                "(another space, width or input size?); profile it with nas hw profile"
            )
        total += table["entries"][key]
    return float(table.get("scale", 1.0)) * total + float(table.get("overhead_ms", 0.0))


class TableTarget:
    """Latency predicted from a lookup table made by `nas hw profile`; params and FLOPs counted."""

    def __init__(self, file: str) -> None:
        path = Path(str(file)).expanduser()
        if not path.is_file():
            raise NascliError(
                f"hardware.file={file} does not exist; make one with nas hw profile hardware=cpu space=..."
            )
        try:
            self.table = json.loads(path.read_text(encoding="utf-8"))
            self.table["entries"]
        except (ValueError, KeyError, TypeError) as exc:
            raise NascliError(f"hardware.file={file} is not a latency table ({exc})") from exc
        self.file = str(path)

    def latency_ms(self, net: nn.Module, input_shape: Sequence[int]) -> float:
        return predict(self.table, net, input_shape)

    def measure(self, net: nn.Module, input_shape: Sequence[int]) -> dict[str, float | int]:
        return cost_metrics(net, input_shape, self.latency_ms(net, input_shape))
