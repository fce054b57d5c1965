"""Time one first-order DARTS iteration (architecture step + weight step) of the supernet.

    .venv/bin/python scripts/bench_supernet.py [--repeats 5] [--threads 2]
        [--settings 16,8,64 8,5,32] [--variants reference nascli] [--json]
        [--device cuda --precision bf16]      # a GPU: iterations per second, peak GPU memory
        [--compile]                           # the supernet's forward through torch.compile

Each (setting, variant) runs in its own process on random 3x32x32 input with 10 classes, so
that its peak resident memory is its own. Variants:
- reference: the original DARTS code's computation: every edge runs every op, `none` included,
  each conv op with its own ReLU; NCHW; every step computes every gradient.
- nascli: what `nas search strategy=darts` runs (BilevelModule): `none` skipped, lean stages
  (nascli.nn.lean), channels-last, and each step leaves out the gradients it does not use.
- nascli-nchw, nascli-plain, nascli-full, nascli-aten: nascli without channels-last, without
  lean stages, computing every gradient, or with ATen's convolution backward on every conv
  (instead of nascli.nn.lean.conv_backward's even-grid and flipped-kernel paths), to show what
  each part is worth.
`--compile` runs each variant's supernet forward through torch.compile (the many small kernels
of a supernet are what it fuses; the warm-up iteration pays the compilation). Prints median and
spread per variant and, for each setting, the speed-up and the memory ratio of
every variant against the reference (medians of the same run; this machine is noisy, so compare
ratios within one run).

For comparison, the original DARTS code on this 2-core kind of machine: about 16.5-17.8 s per
iteration and 9.2 GiB peak at C=16 / 8 cells / batch 64; about 2.85 s and 1.75 GiB at C=8 / 5 / 32.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import statistics
import subprocess
import sys
import time

VARIANTS = ("reference", "nascli", "nascli-nchw", "nascli-plain", "nascli-full", "nascli-aten")


def one_setting(
    channels: int,
    layers: int,
    batch: int,
    repeats: int,
    threads: int,
    variant: str,
    device: str = "cpu",
    precision: str = "fp32",
    compiled: bool = False,
) -> dict:
    import torch
    import torch.nn.functional as F

    from nascli.nn import supernet
    from nascli.nn.lean import no_grad_for
    from nascli.spaces.darts import DartsSpace

    reference = variant == "reference"
    if reference:

        def every_op(edge, x, weights, choices):
            return sum(
                w * op(F.relu(x) if relu else x)
                for w, op, relu in zip(weights, edge.ops, edge.relu_first, strict=True)
            )

        supernet.MixedEdge._mix = every_op
    if variant == "nascli-aten":
        from nascli.nn import lean

        lean.conv_backward = lean.aten_conv_backward
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = DartsSpace(search_channels=channels, search_layers=layers).supernet((3, 32, 32), 10)
    net.lean = variant in ("nascli", "nascli-nchw", "nascli-full", "nascli-aten")
    layout = torch.channels_last if variant.startswith("nascli") else torch.contiguous_format
    if variant == "nascli-nchw":
        layout = torch.contiguous_format
    net = net.to(device=device, memory_format=layout)
    weights, alphas = net.weight_parameters(), net.arch_parameters()
    forward = torch.compile(net) if compiled else net
    w_opt = torch.optim.SGD(weights, lr=0.025, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam(alphas, lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)

    def data():
        x = torch.randn(batch, 3, 32, 32, device=device).contiguous(memory_format=layout)
        return x, torch.randint(0, 10, (batch,), device=device)

    (x_t, y_t), (x_v, y_v) = data(), data()
    lean_steps = variant not in ("reference", "nascli-full")
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    cuda = device.startswith("cuda")

    def without(params):
        return no_grad_for(params) if lean_steps else contextlib.nullcontext()

    def loss(x, y):
        with torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype is not None):
            return F.cross_entropy(forward(x), y)

    def iteration() -> None:  # BilevelModule.training_step, first order
        a_opt.zero_grad(set_to_none=True)
        with without(weights):
            loss(x_v, y_v).backward()
        a_opt.step()
        w_opt.zero_grad(set_to_none=True)
        with without(alphas):
            loss(x_t, y_t).backward()
        torch.nn.utils.clip_grad_norm_(weights, 5.0)
        w_opt.step()
        if cuda:
            torch.cuda.synchronize()

    t0 = time.perf_counter()
    iteration()  # warm-up (and, with --compile, the compilation)
    warmup = time.perf_counter() - t0
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        iteration()
        times.append(time.perf_counter() - t0)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {
        "variant": variant,
        "channels": channels,
        "cells": layers,
        "batch": batch,
        "threads": threads,
        "device": device,
        "precision": precision,
        "compiled": compiled,
        "warmup_s": round(warmup, 2),
        "median_s": round(statistics.median(times), 4),
        "min_s": round(min(times), 4),
        "max_s": round(max(times), 4),
        "peak_rss_gib": round(peak_kib / 2**20, 3),
    }
    if cuda:
        out["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    if compiled:  # how much of the supernet torch.compile captured
        from torch._dynamo.utils import counters

        out["graph_breaks"] = sum(counters["graph_break"].values())
        out["unique_graphs"] = counters["stats"]["unique_graphs"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--settings", nargs="+", default=["16,8,64", "8,5,32"])
    parser.add_argument("--variants", nargs="+", default=["reference", "nascli"], choices=VARIANTS)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda for a GPU")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--compile", action="store_true", help="torch.compile the supernet")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        c, n, b = (int(v) for v in args.child.split(","))
        result = one_setting(
            c,
            n,
            b,
            args.repeats,
            args.threads,
            args.variant,
            args.device,
            args.precision,
            args.compile,
        )
        print(json.dumps(result))
        return
    failed = False
    for setting in args.settings:
        results = {}
        for variant in args.variants:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    *("--child", setting, "--variant", variant),
                    *("--repeats", str(args.repeats), "--threads", str(args.threads)),
                    *("--device", args.device, "--precision", args.precision),
                    *(["--compile"] if args.compile else []),
                ],
                capture_output=True,
                text=True,
            )
            if out.returncode != 0:  # say why, and go on with the other variants
                print(f"{setting} {variant} failed:\n{out.stderr[-3000:]}", file=sys.stderr)
                failed = True
                continue
            r = results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
            if args.json:
                print(json.dumps(r))
                continue
            print(
                f"C={r['channels']:>2} cells={r['cells']} batch={r['batch']:>3} {variant:<12}: "
                f"median {r['median_s'] * 1000:7.0f} ms (min {r['min_s'] * 1000:.0f}, "
                f"max {r['max_s'] * 1000:.0f}; {args.repeats} runs, {args.threads} threads), "
                f"peak RSS {r['peak_rss_gib']:.2f} GiB"
                + (
                    f", warm-up {r['warmup_s']:.1f} s, {r['unique_graphs']} graphs, "
                    f"{r['graph_breaks']} graph breaks"
                    if args.compile
                    else ""
                )
                + (f", peak GPU {r['peak_gpu_gib']:.2f} GiB" if "peak_gpu_gib" in r else "")
                + (f", {1 / r['median_s']:.2f} it/s" if args.device != "cpu" else ""),
                flush=True,
            )
        ref = results.get("reference")
        if ref and not args.json:
            memory = "peak_gpu_gib" if args.device != "cpu" else "peak_rss_gib"
            for variant, r in results.items():
                if variant != "reference":
                    print(
                        f"  {variant}: {ref['median_s'] / r['median_s']:.2f}x faster, "
                        f"{r[memory] / ref[memory]:.2f}x the peak memory"
                    )
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
