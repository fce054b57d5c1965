"""Hunt native memory corruption in PC-DARTS's supernet: run its training step (architecture
step + weight step, partial channels, edge normalisation) many times in fresh processes, under
glibc's strictest heap checks (MALLOC_CHECK_=3, MALLOC_PERTURB_), with the lean stages on and
off, one and two threads, channels-last and not, optionally beside a competing busy process,
and count the runs that die by a signal. A heap corruption that glibc notices aborts the run
(SIGABRT) at the step that caused it, with Python's faulthandler trace.

    python scripts/stress_pcdarts.py [--runs 10] [--steps 30] [--load]
    python scripts/stress_pcdarts.py --cli 10    # the CLI search that once crashed, 10 times

It prints one line per setting: runs, deaths, and the first death's signal and trace tail.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

CHILD = """
import sys, torch, torch.nn.functional as F
from nascli.spaces.darts import DartsSpace
lean, threads, channels_last, steps = sys.argv[1] == "1", int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)
net = DartsSpace(search_channels=4, search_layers=3).supernet((1, 8, 8), 10, 4)
net.lean = lean
fmt = torch.channels_last if channels_last else torch.contiguous_format
net = net.to(memory_format=fmt)
w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9)
a_opt = torch.optim.Adam(net.arch_parameters(), lr=6e-4)
g = torch.Generator().manual_seed(1)
for step in range(steps):
    for opt in (a_opt, w_opt):
        x = torch.randn(128, 1, 8, 8, generator=g).to(memory_format=fmt)
        y = torch.randint(0, 10, (128,), generator=g)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()
print("ok")
"""

CLI = [
    "search", "strategy=pcdarts", "strategy.epochs=2", "logger=none", "strategy.batch_size=128",
    "space.search_channels=4", "space.search_layers=3", "strategy.warmup_epochs=0",
]  # fmt: skip


def _busy(stop_at: float) -> None:
    while time.time() < stop_at:
        sum(i * i for i in range(10_000))


# glibc 2.34 and later read MALLOC_CHECK_ only with its debug malloc preloaded.
MALLOC_DEBUG = "/usr/lib/x86_64-linux-gnu/libc_malloc_debug.so.0"


def _env() -> dict[str, str]:
    env = {
        **os.environ,
        "MALLOC_CHECK_": "3",
        "MALLOC_PERTURB_": "165",
        "PYTHONFAULTHANDLER": "1",
        "PYTHONMALLOC": "malloc",  # every Python object through the checked heap too
        "OMP_NUM_THREADS": "2",
    }
    if Path(MALLOC_DEBUG).exists():
        env["LD_PRELOAD"] = " ".join(filter(None, [os.environ.get("LD_PRELOAD"), MALLOC_DEBUG]))
    return env


def _run(cmd: list[str], cwd: str | None = None) -> tuple[int, str]:
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=cwd, timeout=1800)
    return done.returncode, done.stderr[-1500:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="processes per setting")
    parser.add_argument("--steps", type=int, default=30, help="training steps per process")
    parser.add_argument("--load", action="store_true", help="a busy process beside each run")
    parser.add_argument("--cli", type=int, default=0, help="run the CLI search this many times")
    args = parser.parse_args()
    busy = None
    if args.load:
        busy = multiprocessing.Process(target=_busy, args=(time.time() + 86_400,), daemon=True)
        busy.start()
    try:
        if args.cli:
            nas = str(Path(sys.executable).parent / "nas")
            deaths = []
            for k in range(args.cli):
                code, err = _run([nas, *CLI, f"hydra.run.dir=/tmp/stress_pcdarts/{k}"])
                if code != 0:
                    deaths.append((code, err))
            print(f"cli: {args.cli} runs, {len(deaths)} died", *(deaths[:1] or []), flush=True)
            return
        for lean, threads, cl in itertools.product((1, 0), (1, 2), (1, 0)):
            deaths = []
            for _ in range(args.runs):
                code, err = _run(
                    [sys.executable, "-c", CHILD, str(lean), str(threads), str(cl), str(args.steps)]
                )
                if code != 0:
                    deaths.append((code, err))
            first = f" first: exit {deaths[0][0]} {deaths[0][1][-300:]!r}" if deaths else ""
            print(
                f"lean={lean} threads={threads} channels_last={cl}: {args.runs} runs, "
                f"{len(deaths)} died{first}",
                flush=True,
            )
    finally:
        if busy is not None:
            busy.terminate()


if __name__ == "__main__":
    main()
