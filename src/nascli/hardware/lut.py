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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nascli.core.errors import NascliError
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


PROBE_SEED = 20240611  # samples the probe: the fixed network of the space that follows its speed


def timed_rounds(
    jobs: list[Any],
    time_job: Callable[[Any], float],
    rng: random.Random,
    passes: int = 5,
    probe: Callable[[], float] | None = None,
    probe_every: int = 0,
) -> tuple[dict[Any, list[tuple[float, float | None]]], list[float]]:
    """Time every job once in each of `passes` rounds, in a new shuffled order each round.

    With a `probe` (a callable timing one fixed network) and `probe_every` > 0, the probe is also
    timed before jobs 1, 1 + probe_every, 1 + 2 * probe_every, ... of each round. Returns
    {job: [(ms, the probe's latest ms or None)]} and every probe time: a caller can then put each
    time at one speed of the device (see `at_speed`), which a shared machine changes by tens of
    percent within seconds."""
    jobs = list(jobs)
    times: dict[Any, list[tuple[float, float | None]]] = {job: [] for job in jobs}
    probes: list[float] = []
    latest = None
    for _ in range(max(1, passes)):
        rng.shuffle(jobs)
        for n, job in enumerate(jobs):
            if probe is not None and probe_every > 0 and n % probe_every == 0:
                latest = float(probe())
                probes.append(latest)
            times[job].append((float(time_job(job)), latest))
    return times, probes


def at_speed(rounds: list[tuple[float, float | None]], probe_ms: float | None) -> float:
    """The median over rounds of each time scaled to the speed at which the probe took
    `probe_ms` (each by the probe time taken just before it); plain median without a probe."""
    return statistics.median(
        t if probe_ms is None or p is None else t * probe_ms / p for t, p in rounds
    )


def profile(
    space: Any,
    input_shape: Sequence[int],
    num_classes: int,
    target: Any,
    seed: int = 0,
    patience: int = 300,
    calibration: int = 20,
    passes: int = 5,
    probe_every: int = 4,
) -> dict[str, Any]:
    """Time every unit the space produces on `target` (sampling architectures until `patience`
    samples in a row bring no new unit); then calibrate: timed alone, blocks do not cost exactly
    what they cost inside a network (caches, call overhead), so the median gap between measured
    and summed latency over `calibration` whole networks is added to every prediction.

    Every unit and calibration network is timed in each of `passes` rounds, in a new shuffled
    order each round, and keeps its median: a machine whose speed drifts for a few seconds (a
    shared VM) then skews no block alone, and blocks and networks see the same mix of speeds.
    With `probe_every` > 0 a fixed network of the space (the probe) is timed before each group of
    `probe_every` jobs of a round and each time is scaled to the probe's median speed over the profile;
    the table keeps the probe (architecture and median time), so that `nas hw validate` can
    measure at that same speed."""
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
    probe_arch = space.sample(random.Random(PROBE_SEED))
    probe_net = space.build(probe_arch, input_shape, num_classes) if probe_every > 0 else None

    def time_job(job: tuple[str, Any]) -> float:
        kind, which = job
        if kind == "unit":
            module, shape = modules[which]
            return target.latency_ms(module, shape)
        return target.latency_ms(nets[which], input_shape)

    jobs = [("unit", key) for key in modules] + [("net", i) for i in range(len(nets))]
    times, probes = timed_rounds(
        jobs,
        time_job,
        rng,
        passes,
        probe=lambda: target.latency_ms(probe_net, input_shape),
        probe_every=probe_every,
    )
    probe_ms = statistics.median(probes) if probes else None
    entries = {key: at_speed(times[("unit", key)], probe_ms) for key in modules}
    table: dict[str, Any] = {"entries": entries, "scale": 1.0, "overhead_ms": 0.0}
    sums = [predict(table, net, input_shape) for net in nets]
    measured = [at_speed(times[("net", i)], probe_ms) for i in range(len(nets))]
    if sums:
        # One robust offset (the median gap): a fitted slope swings with timing noise, since the
        # sums of a space's networks span a narrow range.
        table["overhead_ms"] = statistics.median(m - p for m, p in zip(measured, sums, strict=True))
    if probe_ms is not None:
        spread = (
            statistics.quantiles(probes, n=10, method="inclusive")
            if len(probes) > 1
            else [probe_ms, probe_ms]
        )
        table["probe"] = {
            "arch": probe_arch,
            "ms": probe_ms,
            "timings": len(probes),
            "p10_ms": spread[0],
            "p90_ms": spread[-1],
        }
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


def validate(
    table: dict[str, Any],
    space: Any,
    input_shape: Sequence[int],
    num_classes: int,
    target: Any,
    samples: int = 30,
    seed: int = 1,
    passes: int = 5,
    probe_every: int = 4,
) -> dict[str, Any]:
    """The table's error against `target` on `samples` sampled architectures.

    Each network is timed as the table was made: once per round, in a new order each round,
    keeping the median. With the table's probe timed between them, each time is also put at the
    speed the device had while profiling; the errors are then against those times, `raw` holds
    the errors against the times as measured (`measured_ms`), and `speed_factor` is the probe's
    median now over its median then (above 1: the device is slower now)."""
    rng = random.Random(seed)
    nets = [space.build(space.sample(rng), input_shape, num_classes) for _ in range(samples)]
    probe = table.get("probe")
    every = probe_every if probe else 0
    try:
        probe_net = space.build(probe["arch"], input_shape, num_classes) if every else None
    except NascliError as exc:
        raise NascliError(
            f"hw.file: the table's probe network is not one of this space ({exc}); was the "
            "table profiled for another space? Validate it with the space it was made for"
        ) from exc
    times, probes = timed_rounds(
        list(range(len(nets))),
        lambda i: target.latency_ms(nets[i], input_shape),
        rng,
        passes,
        probe=lambda: target.latency_ms(probe_net, input_shape),
        probe_every=every,
    )
    predicted = [predict(table, net, input_shape) for net in nets]
    measured = [at_speed(times[i], probe_ms=None) for i in range(len(nets))]  # plain medians
    result: dict[str, Any] = {
        "samples": len(nets),
        "predicted_ms": predicted,
        "measured_ms": measured,
    }
    if not probes:
        return {**result, **_errors(predicted, measured)}
    at_table_speed = [at_speed(times[i], float(probe["ms"])) for i in range(len(nets))]
    return {
        **result,
        "at_table_speed_ms": at_table_speed,
        **_errors(predicted, at_table_speed),
        "speed_factor": statistics.median(probes) / float(probe["ms"]),
        "raw": _errors(predicted, measured),
    }


def _errors(predicted: list[float], measured: list[float]) -> dict[str, float]:
    from scipy.stats import spearmanr

    errors = [abs(p - m) / m for p, m in zip(predicted, measured, strict=True)]
    return {
        "mean_abs_error_pct": 100 * statistics.fmean(errors),
        "max_abs_error_pct": 100 * max(errors),
        "mean_abs_error_ms": statistics.fmean(
            abs(p - m) for p, m in zip(predicted, measured, strict=True)
        ),
        "spearman": float(spearmanr(measured, predicted).statistic) if len(errors) > 1 else 1.0,
    }


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
            if (probe := self.table.get("probe")) is not None and not (
                isinstance(probe["arch"], str) and float(probe["ms"]) > 0
            ):
                raise ValueError("its probe needs an architecture and a time above 0 ms")
        except (ValueError, KeyError, TypeError) as exc:
            raise NascliError(f"hardware.file={file} is not a latency table ({exc})") from exc
        self.file = str(path)

    def latency_ms(self, net: nn.Module, input_shape: Sequence[int]) -> float:
        return predict(self.table, net, input_shape)

    def measure(self, net: nn.Module, input_shape: Sequence[int]) -> dict[str, float | int]:
        return cost_metrics(net, input_shape, self.latency_ms(net, input_shape))
