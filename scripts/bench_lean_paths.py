"""What the lean stages' CPU paths are worth, interleaved in one process.

    .venv/bin/python scripts/bench_lean_paths.py [--setting 8,5,32] [--rounds 7] [--threads 2]

One first-order DARTS iteration of the lean supernet (as `make bench-supernet`'s `nascli`
variant) is timed again and again, the variants taking turns, so that this machine's drift
falls on all of them alike (separate processes, as bench-supernet runs, differ by more than
these levers are worth):
- lean: what `nas search strategy=darts` runs;
- aten-conv: ATen's convolution_backward for every conv (no even-grid or flipped-kernel path);
- no-rows: batch-norms on ATen's channels-last kernels (no rows of several pixels);
- aten-pool: stride-1 pools on ATen's kernels (no flat-row window passes);
- no-subgrids: dilated depthwise weight gradients on ATen's dilated kernel (no sub-grids);
- relu-per-stage: each ReLU stage its own ReLU (no ReLU shared by an edge's ops);
- autograd-sum: a mixed edge's weighted sum as autograd's multiplies and adds.
Prints each variant's median and the speed-up of `lean` over it.
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", default="8,5,32", help="channels,cells,batch")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch
    import torch.nn.functional as F

    from nascli.nn import lean, supernet
    from nascli.spaces.darts import DartsSpace

    channels, cells, batch = (int(v) for v in args.setting.split(","))
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = DartsSpace(search_channels=channels, search_layers=cells).supernet((3, 32, 32), 10)
    net = net.to(memory_format=torch.channels_last)
    weights, alphas = net.weight_parameters(), net.arch_parameters()
    w_opt = torch.optim.SGD(weights, lr=0.025, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam(alphas, lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    x = torch.randn(batch, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))

    def iteration() -> float:
        start = time.perf_counter()
        a_opt.zero_grad(set_to_none=True)
        with lean.no_grad_for(weights):
            F.cross_entropy(net(x), y).backward()
        a_opt.step()
        w_opt.zero_grad(set_to_none=True)
        with lean.no_grad_for(alphas):
            F.cross_entropy(net(x), y).backward()
        w_opt.step()
        return time.perf_counter() - start

    def autograd_sum(weights, index, outs):
        return sum(weights[i] * out for i, out in zip(index, outs, strict=True))

    own = {
        (lean, "conv_backward"): lean.conv_backward,
        (lean, "_rows"): lean._rows,
        (lean, "_flat_window"): lean._flat_window,
        (lean, "_subgrids_apply"): lean._subgrids_apply,
        (supernet, "shared_relu"): supernet.shared_relu,
        (supernet, "weighted_sum"): supernet.weighted_sum,
    }
    variants = {
        "lean": {},
        "aten-conv": {(lean, "conv_backward"): lean.aten_conv_backward},
        "no-rows": {(lean, "_rows"): lambda t, any_float=False: None},
        "aten-pool": {(lean, "_flat_window"): lambda x, pool: False},
        "no-subgrids": {(lean, "_subgrids_apply"): lambda x, padding, dilation: False},
        "relu-per-stage": {(supernet, "shared_relu"): lambda x: None},
        "autograd-sum": {(supernet, "weighted_sum"): autograd_sum},
    }
    iteration()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, patch in variants.items():
            for (module, attr), value in {**own, **patch}.items():
                setattr(module, attr, value)
            times[name].append(iteration())
    for (module, attr), value in own.items():
        setattr(module, attr, value)
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    print(f"C={channels} cells={cells} batch={batch}, {args.rounds} rounds, {args.threads} threads")
    for name, median in medians.items():
        spread = f"{min(times[name]):.3f}-{max(times[name]):.3f}"
        gain = "" if name == "lean" else f"; lean is {median / medians['lean']:.2f}x faster"
        print(f"  {name:<10} median {median:.3f} s ({spread}){gain}")


if __name__ == "__main__":
    main()
