"""A latency table's error on this machine, over seeds: `nas hw profile` then `nas hw validate`.

For each seed, profiles the space (default mobilenet on digits, hardware=cpu) and validates the
table on `--samples` other architectures, with the `nas hw` overrides given after `--`. Prints one
row per seed (error at the speed the device had while profiling, error against the times as
measured, the device's speed then relative to the profile's) and the medians.

    python scripts/lut_error.py [--seeds 0-8] [--samples 50] [-- hw.passes=5 hw.probe_every=4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def seeds(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def nas(*args: str, cwd: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "nascli", "hw", *args, "format=json"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        sys.exit(f"nas hw {' '.join(args)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=seeds, default=seeds("0-8"))
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("overrides", nargs="*", help="nas hw overrides, after --")
    args = parser.parse_args()

    at_speed, raw = [], []
    print(f"overrides: {' '.join(args.overrides) or '(defaults)'}")
    print("seed  error %  raw error %  speed  Spearman  profile s  validate s")
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        for seed in args.seeds:
            common = [f"seed={seed}", f"hw.file=t{seed}.json", *args.overrides]
            start = time.perf_counter()
            nas("profile", *common, cwd=cwd)
            mid = time.perf_counter()
            check = nas("validate", *common, f"hw.samples={args.samples}", cwd=cwd)
            end = time.perf_counter()
            at_speed.append(check["mean_abs_error_pct"])
            raw.append(check.get("raw", check)["mean_abs_error_pct"])
            speed = check.get("speed_factor")
            print(
                f"{seed:4d}  {at_speed[-1]:7.1f}  {raw[-1]:11.1f}  "
                f"{'-' if speed is None else f'{speed:5.2f}':>5}  {check['spearman']:8.3f}  "
                f"{mid - start:9.0f}  {end - mid:10.0f}",
                flush=True,
            )
    under = sum(e < 10 for e in at_speed)
    print(
        f"median error {statistics.median(at_speed):.1f} % ({under} of {len(at_speed)} under 10 %), "
        f"against the times as measured {statistics.median(raw):.1f} % "
        f"({sum(e < 10 for e in raw)} of {len(raw)} under 10 %)"
    )


if __name__ == "__main__":
    main()
