"""The trials of a sample-based search: propose (or promote), estimate, record, until a budget
is spent. One worker runs trials here; several run them on a pool (nascli.commands.search.pooled)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from nascli.commands.search.finish import epochs_done
from nascli.commands.search.prepare import Search, answer_of
from nascli.core import faults
from nascli.core.records import best_one
from nascli.hardware.constraints import SpaceExhausted
from nascli.results.run_dir import STRATEGY_STATE
from nascli.trials.run import run_trial
from nascli.ui.tables import number


def progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]search"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("best {task.fields[best]}"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=console,
    )


class Recorder:
    """Writes each finished trial (history, strategy state) and keeps the progress bar current."""

    def __init__(self, search: Search, progress: Progress) -> None:
        self.search, self.progress = search, progress
        self.done_before, self.started = len(search.history), time.perf_counter()
        self.task = progress.add_task(
            "search",
            total=search.cfg.search.trials,
            completed=len(search.history),
            best=self._best(),
        )

    def _best(self) -> str:
        s = self.search
        trial = best_one(s.history, s.objective, s.constraints)
        return f"{s.objective} {number(trial['metrics'][s.objective])}" if trial else "-"

    def budget_spent(self) -> str | None:
        """Which budget other than search.trials is spent, if any."""
        search_cfg = self.search.cfg.search
        seconds, epochs_total = search_cfg.seconds, search_cfg.get("epochs_total")
        if seconds is not None and self.search.elapsed() >= seconds:
            return "seconds"
        if epochs_total is not None and epochs_done(self.search.history) >= epochs_total:
            return "epochs_total"
        return None

    def _say_if_long(self) -> None:
        """After the first trial: when the rest of the plan looks longer than an hour at this
        pace, say so once (with what caps or stops it)."""
        s = self.search
        per_trial = (time.perf_counter() - self.started) / s.workers
        left = per_trial * max(0, int(s.cfg.search.trials) - len(s.history))
        seconds = s.cfg.search.get("seconds")
        if seconds is not None:
            left = min(left, max(0.0, float(seconds) - s.elapsed()))
        if left > 3600:
            self.progress.console.print(
                f"nas search: the rest of this plan takes about {left / 3600:.1f} h at "
                f"{per_trial:.0f} s per trial ({s.cfg.search.trials} trials); search.seconds=N "
                f"caps it, Ctrl-C stops it and nas search resume={s.run.path} continues",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )

    def finished(self, record: dict[str, Any], tell: bool = True) -> str | None:
        """Record a finished trial; the error that ends the search, if any."""
        s = self.search
        s.history.append(record)
        s.run.append_history(record)
        s.estimator.heard(record)
        answer = answer_of(record)
        if tell:  # the strategy hears of each architecture once, at its first rung
            s.strategy.tell(record["arch"], answer)
            s.proposer.heard(record["arch"], answer)
        faults.reached("state")
        s.run.write_json(
            STRATEGY_STATE,
            {
                "trials": len(s.history),
                "state": s.strategy.state_dict(),
                "repeats": s.proposer.repeats,
                "rejected": s.proposer.rejected,
                "missing": s.proposer.missing,
            },
            compact=True,
        )
        faults.reached("between")
        self.progress.update(self.task, advance=1, best=self._best())
        if len(s.history) == self.done_before + 1 and not s.estimator.simulated:
            self._say_if_long()
        failures = sum(r["status"] == "failed" for r in s.history)
        max_failures = s.cfg.search.get("max_failures")
        if max_failures is not None and failures > max_failures:
            return (
                f"{failures} trials failed, more than search.max_failures={max_failures} "
                f"(raise it to go on); last error: {record['error']}"
            )
        return None


def run_sequential(search: Search, recorder: Recorder) -> tuple[str, str | None]:
    """Trials one after another until search.trials or another budget; (stop_reason, error)."""
    s = search
    # Numbered after the last one recorded: a parallel run's history may have gaps.
    trial = max((int(r["trial"]) for r in s.history), default=-1)
    while len(s.history) < s.cfg.search.trials:
        trial += 1
        if (spent := recorder.budget_spent()) is not None:
            return spent, None
        promotion = s.estimator.next_promotion(s.history, s.objective)
        try:
            arch = promotion.arch if promotion else s.next_arch(trial)
        except SpaceExhausted:
            return "exhausted", None
        rung = promotion.rung if promotion else 0
        record = run_trial(
            s.cfg, trial, arch, s.space, s.data, s.estimator, s.hardware, s.objective, rung
        )
        error = recorder.finished(record, tell=not promotion)
        if error is not None:
            return "max_failures", error
    return "trials", None
