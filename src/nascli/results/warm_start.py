"""Warm starts: what a new search takes from earlier searches (`search.warm_start`).

Each job below the folders named (run or sweep directories) is read as data: its `config.yaml`
and `history.jsonl`, nothing built and nothing run.

- A sample-based job of the same task (the same space, dataset and estimator settings, and a
  history that records this search's objective) gives its trials as observations: the strategy
  is told them as if it had proposed them, and a later proposal of one of them is answered from
  them, so none is trained again.
- Any other job (another dataset, say, or a one-shot search, whose scores are its supernet's)
  gives a ranking: its finished trials ranked by its own objective, each rank scaled to [0, 1]
  (0: its best). Architectures are ordered by their mean scaled rank over the jobs they appear
  in (ties: more jobs first, then the text), and the best `top_k` not yet observed are proposed
  first.

Architectures this search's space does not hold are left out. What a search took is written to
its run directory (`warm_start.json`), so that a resume uses that, not whatever the folders
hold by then.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from nascli.core.errors import NascliError
from nascli.core.objectives import fitness_of
from nascli.core.records import HISTORY, read_history
from nascli.core.space import ArchError
from nascli.results.run_dir import CONFIG, EPOCHS, find_jobs, write_json_atomic

log = logging.getLogger("nascli.search")

WARM_START = "warm_start.json"
# The config groups whose settings make two searches the same task.
SAME_TASK = ("space", "dataset", "estimator")


@dataclass
class WarmStart:
    #: the jobs read, each with what it gave ("observations" or "ranking")
    sources: list[dict[str, str]] = field(default_factory=list)
    #: trials of the same task: {"arch", "status", "metrics", "source"}
    observed: list[dict[str, Any]] = field(default_factory=list)
    #: architectures proposed first, best first
    first: list[str] = field(default_factory=list)

    def summary(self) -> str:
        ranked = sum(s["gave"] == "ranking" for s in self.sources)
        return (
            f"warm start: {len(self.observed)} earlier trials of this task told to the strategy; "
            f"{len(self.first)} architectures from {ranked} searches of other tasks proposed first"
        )


def _settings(config: dict[str, Any], group: str) -> Any:
    node = config.get(group)
    if isinstance(node, dict):
        return {k: v for k, v in node.items() if k != "_checks_"}
    return node


def _config(job: Path) -> dict[str, Any]:
    try:
        loaded = OmegaConf.to_container(OmegaConf.load(job / CONFIG), resolve=False)
    except Exception as exc:  # a damaged file is named, not raised raw
        raise NascliError(
            f"search.warm_start: {job / CONFIG} cannot be read ({type(exc).__name__})"
        ) from None
    if not isinstance(loaded, dict):
        raise NascliError(f"search.warm_start: {job / CONFIG} is not a run's config")
    return loaded


def gather(
    dirs: list[str], space: Any, config: dict[str, Any], objective: str, top_k: int
) -> WarmStart:
    """What the searches below `dirs` give a search of `config` (resolved) on `space`."""
    warm = WarmStart()
    rankings: dict[str, list[float]] = {}
    for d in dirs:
        folder = Path(str(d)).expanduser()
        if not folder.is_dir():
            raise NascliError(
                f"search.warm_start: {d} is not a folder; name run or sweep directories of earlier searches"
            )
        jobs = [j for j in find_jobs(folder) if (j / HISTORY).is_file()]
        if not jobs:
            raise NascliError(
                f"search.warm_start: {d} holds no search (no history.jsonl below it); "
                "name run or sweep directories of sample-based searches"
            )
        for job in jobs:
            source = _config(job)
            # Architectures the space does not hold (on some datasets a table lacks an op) are
            # left out; a job none of whose architectures it holds searched another space.
            history, refused = [], None
            for r in read_history(job):
                try:
                    history.append({**r, "arch": space.canonical(r["arch"])})
                except ArchError as exc:
                    refused = refused or exc
            if refused is not None and not history:
                raise NascliError(
                    f"search.warm_start: {job} searched another space ({refused}); warm starts "
                    f"need architectures of space={space.name}"
                )
            same = all(_settings(source, g) == _settings(config, g) for g in SAME_TASK)
            same = same and any(objective in r["metrics"] for r in history if r["status"] == "ok")
            # A one-shot search's scores are its supernet's, not trained results: a ranking.
            same = same and not (job / EPOCHS).is_file()
            if same:
                warm.observed += [
                    {
                        "arch": r["arch"],
                        "status": r["status"],
                        "metrics": r["metrics"],
                        "source": str(job),
                    }
                    for r in history
                    if r.get("rung", 0) == 0
                ]
                warm.sources.append({"job": str(job), "gave": "observations"})
                continue
            theirs = str((source.get("search") or {}).get("objective") or objective)
            done = [r for r in history if r["status"] == "ok" and theirs in r["metrics"]]
            done.sort(key=lambda r: -fitness_of(r["metrics"], theirs))
            best: dict[str, float] = {}
            for i, r in enumerate(done):  # an architecture trained twice: its better rank
                best.setdefault(r["arch"], i / max(1, len(done) - 1))
            for arch, rank in best.items():
                rankings.setdefault(arch, []).append(rank)
            warm.sources.append({"job": str(job), "gave": "ranking"})
    observed = {space.iso_key(r["arch"]) for r in warm.observed}
    order = sorted(rankings, key=lambda a: (statistics.fmean(rankings[a]), -len(rankings[a]), a))
    for arch in order:
        if len(warm.first) >= top_k:
            break
        if space.iso_key(arch) not in observed:
            warm.first.append(arch)
            observed.add(space.iso_key(arch))
    return warm


def save(run_dir: Path, warm: WarmStart) -> None:
    write_json_atomic(run_dir / WARM_START, asdict(warm))


def load(run_dir: Path, space: Any) -> WarmStart | None:
    """The warm start a run recorded (None: it recorded none), each architecture checked
    against `space`."""
    import json

    path = run_dir / WARM_START
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        observed = [
            {
                "arch": space.canonical(r["arch"]),
                "status": "ok" if r["status"] == "ok" else "failed",
                "metrics": dict(r["metrics"]),
                "source": str(r.get("source", "")),
            }
            for r in data["observed"]
        ]
        first = [space.canonical(a) for a in data["first"]]
        return WarmStart([dict(s) for s in data["sources"]], observed, first)
    except (ValueError, KeyError, TypeError, AttributeError, ArchError) as exc:
        raise NascliError(
            f"{path} is damaged ({type(exc).__name__}); it cannot be resumed"
        ) from None
