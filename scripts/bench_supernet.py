"""Time one first-order DARTS iteration (architecture step + weight step) of nascli's supernet.

    .venv/bin/python scripts/bench_supernet.py [--repeats 5] [--threads 2] [--settings 16,8,64 8,5,32]

Each setting (C, cells, batch) runs in its own process on random 3x32x32 input with 10 classes,
so that its peak resident memory is its own. Prints the median and spread of the iteration time
and the peak RSS; `--json` prints one JSON object per setting instead.

For comparison, the original DARTS code on this 2-core machine: about 16.5-17.8 s per iteration
and 9.2 GiB peak at C=16 / 8 cells / batch 64; about 2.85 s and 1.75 GiB at C=8 / 5 / 32.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def one_setting(
    channels: int,
    layers: int,
    batch: int,
    repeats: int,
    threads: int,
    recompute: bool = False,
) -> dict:
    import torch
    import torch.nn.functional as F

    from nascli.spaces.darts import DartsSpace

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = DartsSpace(search_channels=channels, search_layers=layers).supernet((3, 32, 32), 10)
    net.recompute = recompute
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    x_t, y_t = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    x_v, y_v = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))

    def iteration() -> None:
        a_opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x_v), y_v).backward()
        a_opt.step()
        w_opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x_t), y_t).backward()
        torch.nn.utils.clip_grad_norm_(net.weight_parameters(), 5.0)
        w_opt.step()

    iteration()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        iteration()
        times.append(time.perf_counter() - t0)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "channels": channels,
        "cells": layers,
        "batch": batch,
        "threads": threads,
        "recompute": recompute,
        "median_s": round(statistics.median(times), 4),
        "min_s": round(min(times), 4),
        "max_s": round(max(times), 4),
        "peak_rss_gib": round(peak_kib / 2**20, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--settings", nargs="+", default=["16,8,64", "8,5,32"])
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--recompute", action="store_true", help="recompute cell activations in backward"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        c, n, b = (int(v) for v in args.child.split(","))
        print(json.dumps(one_setting(c, n, b, args.repeats, args.threads, args.recompute)))
        return
    for setting in args.settings:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                setting,
                "--repeats",
                str(args.repeats),
                "--threads",
                str(args.threads),
                *(["--recompute"] if args.recompute else []),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        if args.json:
            print(json.dumps(result))
        else:
            print(
                f"C={result['channels']:>2} cells={result['cells']} batch={result['batch']:>3}: "
                f"median {result['median_s'] * 1000:8.0f} ms (min {result['min_s'] * 1000:.0f}, "
                f"max {result['max_s'] * 1000:.0f}; {args.repeats} runs, {args.threads} threads"
                f"{', recompute' if result['recompute'] else ''}), "
                f"peak RSS {result['peak_rss_gib']:.2f} GiB"
            )


if __name__ == "__main__":
    main()
