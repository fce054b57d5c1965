"""How much of a digits trial is spent outside forward/backward/optimizer?

A trial as `nas search` runs it (build the child, measure params/FLOPs/latency, train with
Lightning, validate once) is timed against a bare PyTorch loop that does the same forward,
backward and optimizer steps on the same batches, held in memory beforehand. The two runs are
interleaved so machine noise hits both; the figures are medians.

    python scripts/bench_overhead.py [--archs 6] [--repeats 3] [--epochs 5]
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import time
import warnings

import torch
import torch.nn.functional as F

from nascli.data.module import ImageDataModule
from nascli.estimators.train import TrainEstimator
from nascli.hardware.cpu import CpuTarget
from nascli.spaces.nb201 import NB201Space

warnings.filterwarnings("ignore")
for name in ("pytorch_lightning", "lightning_fabric"):
    logging.getLogger(name).setLevel(logging.WARNING)


def make_optimizer(params):
    return torch.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)


def nascli_trial(space, arch, data, epochs) -> tuple[float, float]:
    """Seconds for the whole trial, and for the estimator alone."""
    start = time.perf_counter()
    torch.manual_seed(0)
    net = space.build(arch, data.input_shape, data.num_classes)
    CpuTarget().measure(net, data.input_shape)
    mid = time.perf_counter()
    estimator = TrainEstimator(
        epochs,
        64,
        make_optimizer,
        lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs),
        {"accelerator": "cpu", "devices": 1},
    )
    estimator.evaluate(net, data, seed=0)
    end = time.perf_counter()
    return end - start, end - mid


def bare_loop(space, arch, data, epochs) -> float:
    """Seconds of forward + backward + optimizer step only, on pre-built batches."""
    torch.manual_seed(0)
    net = space.build(arch, data.input_shape, data.num_classes)
    loader = data.train_dataloader()
    batches = [list(loader) for _ in range(epochs)]
    opt = make_optimizer(net.parameters())
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    net.train()
    start = time.perf_counter()
    for epoch in range(epochs):
        for x, y in batches[epoch]:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), y).backward()
            opt.step()
        sched.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()

    space = NB201Space(channels=16, cells_per_stage=1)  # the digits preset
    data = ImageDataModule("digits", seed=0, batch_size=64)
    data.setup()
    rng = random.Random(0)
    archs = [space.sample(rng) for _ in range(args.archs)]
    nascli_trial(space, archs[0], data, 1)  # warm-up: first Trainer, first kernels

    trial_share, estimator_share, trial_s, core_s = [], [], [], []
    for arch in archs:
        for _ in range(args.repeats):
            trial, estimator = nascli_trial(space, arch, data, args.epochs)
            core = bare_loop(space, arch, data, args.epochs)
            trial_share.append(1 - core / trial)
            estimator_share.append(1 - core / estimator)
            trial_s.append(trial)
            core_s.append(core)
    print(
        f"torch threads: {torch.get_num_threads()}; digits, nb201 C=16 N=1, batch 64, {args.epochs} epochs"
    )
    print(f"{len(archs)} architectures x {args.repeats} repeats (medians)")
    print(
        f"  whole trial (build, params/FLOPs/latency, Lightning fit, validation): {statistics.median(trial_s):.3f} s"
    )
    print(
        f"  forward/backward/optimizer alone:                                   {statistics.median(core_s):.3f} s"
    )
    print(
        f"  share of a trial outside forward/backward/optimizer: {100 * statistics.median(trial_share):.1f} %"
    )
    print(
        f"  share of the estimator (Lightning + data + validation) alone: {100 * statistics.median(estimator_share):.1f} %"
    )


if __name__ == "__main__":
    main()
