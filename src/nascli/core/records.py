"""The trial record of `history.jsonl`, its one reader, and the one rule for "the best trial".

Search, train (ensembles of a search's top k) and report (regret) all choose through `best`, so
they agree about which architecture a single-objective search found. (A search with several
`search.objectives` names the knee of its Pareto front in best.json instead; `nas train
arch=<dir>` retrains that one.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nascli.core.constraints import satisfies
from nascli.core.errors import NascliError
from nascli.core.files import write_text_atomic
from nascli.core.objectives import maximised

log = logging.getLogger(__name__)

HISTORY = "history.jsonl"
REQUIRED = ("trial", "arch", "status")


def trial_record(
    trial: int,
    arch: str,
    *,
    status: str = "ok",
    metrics: dict[str, Any] | None = None,
    error: str | None = None,
    seconds: float = 0.0,
    **extra: Any,
) -> dict[str, Any]:
    """One line of history.jsonl: `extra` holds what some estimators add (rung, train_seconds,
    wall_seconds, epoch)."""
    if status not in ("ok", "failed"):
        raise ValueError(f"a trial's status is ok or failed, not {status!r}")
    return {
        "trial": int(trial),
        "arch": arch,
        "status": status,
        "metrics": dict(metrics or {}),
        "error": error,
        "seconds": seconds,
        **extra,
    }


def read_history(run_dir: str | Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """The trials of a run directory, in the order they were recorded.

    A torn last line (a write cut short by a kill) is dropped with a warning, and with
    `repair=True` (a resume, which appends next) removed from the file. A damaged line anywhere
    else, or a trial that comes twice, is a NascliError naming the file and line.
    """
    path = Path(run_dir) / HISTORY
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NascliError(f"{path}: cannot read it ({exc})") from exc
    lines = text.splitlines()
    records: list[dict[str, Any]] = []
    seen: set[int] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not all(k in record for k in REQUIRED):
                raise ValueError("not a trial record")
        except ValueError as exc:
            if number == len(lines):
                log.warning("%s: dropped a torn last line (%d characters)", path, len(line))
                if repair:
                    write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in records))
                break
            raise NascliError(
                f"{path} line {number} is corrupt ({exc}); fix or delete that line"
            ) from exc
        # One worker records trials 0, 1, 2, ...; several record them as they finish, so the
        # order may differ and trials lost to an interrupt leave gaps, but none comes twice.
        if record["trial"] in seen:
            raise NascliError(
                f"{path} line {number} repeats trial {record['trial']}; the history is not from one run"
            )
        seen.add(record["trial"])
        records.append(record)
    return records


def _key(record: dict[str, Any], objective: str, maximize: bool) -> tuple:
    value = float(record["metrics"][objective])
    return (record.get("rung", 0), value if maximize else -value, -int(record["trial"]))


def best(
    history: Iterable[dict[str, Any]],
    objective: str = "val_acc",
    constraints: dict[str, Any] | None = None,
    k: int = 1,
    *,
    maximize: bool | None = None,
) -> list[dict[str, Any]]:
    """The k best finished trials of distinct architectures, best first.

    Best means: the highest rung reached (multi-fidelity estimators promote the best to longer
    training), then the best `objective`, then the earliest trial; trials that break a constraint
    or lack the objective never count. An empty list when no trial qualifies. `maximize`: whether
    a higher objective is better (None: the metric's own direction, e.g. perplexity is lower).
    """
    if maximize is None:
        maximize = maximised(objective)
    eligible = [
        r
        for r in history
        if r.get("status") == "ok"
        and objective in (r.get("metrics") or {})
        and satisfies(r["metrics"], constraints)
    ]
    eligible.sort(key=lambda r: _key(r, objective, maximize), reverse=True)
    out: list[dict[str, Any]] = []
    archs: set[Any] = set()
    for r in eligible:
        arch = r.get("arch", r["trial"])
        if arch in archs:
            continue
        archs.add(arch)
        out.append(r)
        if len(out) == k:
            break
    return out


def best_one(history: Iterable[dict[str, Any]], objective: str = "val_acc", constraints=None):
    """`best(...)[0]`, or None when no trial qualifies."""
    found = best(history, objective, constraints, 1)
    return found[0] if found else None
