"""Fault injection for the resume tests: with `NASCLI_FAULT=<point>:<n>` in the environment, the
process kills itself with SIGKILL the n-th time it reaches `point` (n defaults to 1), as a power
cut or the OOM killer would: no handler runs, nothing is flushed.

The points, in the order a search passes them:
    trial      a trial has been estimated, its record not yet written (its work is lost)
    history    halfway through writing a history line (a torn last line)
    state      the trial is in the history, the strategy's state not yet saved
    between    the trial and the strategy's state are saved, the next proposal not yet made
    batch      a one-shot search is in the middle of an epoch (after its second batch)
    checkpoint a one-shot epoch's records and checkpoint are written
    report     the search is over; best.json is written, summary.json not yet

Without the variable, `reached` costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

POINTS = ("trial", "history", "state", "between", "batch", "checkpoint", "report")
_counts: dict[str, int] = {}


def armed(point: str) -> bool:
    """Whether reaching `point` now is the fault asked for (and counts this visit)."""
    spec = os.environ.get("NASCLI_FAULT")
    if not spec:
        return False
    name, _, nth = spec.partition(":")
    if name != point:
        return False
    _counts[point] = _counts.get(point, 0) + 1
    return _counts[point] == (int(nth) if nth.isdigit() else 1)


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def reached(point: str) -> None:
    """SIGKILL this process if `NASCLI_FAULT` names this visit to `point`."""
    if armed(point):
        die()
