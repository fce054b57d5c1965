"""The trials of a sample-based search: propose (or promote), estimate, record, until a budget
is spent. One worker runs trials here; several run them on a pool (nascli.commands.search.pooled)."""

from __future__ import annotations

import math
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
    """Trials done / budget, then what the Recorder says (best so far, failures, rejections, the
    current trial's epoch and its time left), then the search's elapsed and remaining time.
    Refreshed by rich a few times a second; nothing is printed per batch."""
    return Progress(
        TextColumn("[bold]search"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]} ·"),
        TimeElapsedColumn(),
        TextColumn("elapsed ·"),
        TimeRemainingColumn(),
        TextColumn("left"),
        console=console,
    )


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


# A search whose trials take milliseconds (a benchmark table) saves its strategy's state and
# fsyncs its history at most this often; a resume replays the trials after the saved state.
SAVE_EVERY_S = 1.0


class Recorder:
    """Writes each finished trial (history, strategy state) and keeps the progress bar current.

    Per trial it does a constant amount of work, however long the history: the best trial and
    the failure count are kept as trials arrive, and the strategy's state (which may grow with
    what it was told) is written after a trial only when SAVE_EVERY_S has passed since the last
    write, or every trial with several workers (whose proposals a replay cannot repeat)."""

    def __init__(self, search: Search, progress: Progress) -> None:
        self.search, self.progress = search, progress
        self.done_before, self.started = len(search.history), time.perf_counter()
        self.best = best_one(search.history, search.objective, search.constraints)
        self.failures = sum(r["status"] == "failed" for r in search.history)
        self.saved_at = -math.inf  # when the history was last fsynced and the state saved
        # The trial training in this process: (number, when its training began, epoch, epochs).
        self.current: list[Any] | None = None
        self.task = progress.add_task(
            "search",
            total=search.cfg.search.trials,
            completed=len(search.history),
            status=self.status(),
        )

    def status(self) -> str:
        """What the progress line says after the count: the best so far, failures and
        rejections, and the current trial's epoch with the time its training has left."""
        s, trial = self.search, self.best
        parts = [
            f"best {s.objective} {number(trial['metrics'][s.objective])}" if trial else "best -"
        ]
        if self.failures:
            parts.append(f"{self.failures} failed")
        if s.proposer.rejected:
            parts.append(f"{s.proposer.rejected} rejected by constraints")
        if self.current is not None:
            k, began, done, total = self.current
            text = f"trial {k}"
            if total and done >= total:
                text += f": {total} epochs trained, scoring"
            elif total:
                text += f": epoch {done + 1}/{total}"
                if done:
                    left = (time.perf_counter() - began) / done * (total - done)
                    text += f" (trial ETA {_clock(left)})"
            parts.append(text)
        elif s.pooled:
            parts.append(f"{s.workers} workers")
        return " · ".join(parts)

    def trial_began(self, trial: int) -> None:
        """Trial `trial` starts in this process (its epochs are heard through `epoch`)."""
        self.current = [trial, time.perf_counter(), 0, None]
        self.progress.update(self.task, status=self.status())

    def epoch(self, done: int, total: int) -> None:
        if self.current is None:
            return
        if done == 0:  # training begins (building and measuring the network came first)
            self.current[1] = time.perf_counter()
        self.current[2:] = [done, total]
        self.progress.update(self.task, status=self.status())

    def save_state(self) -> None:
        """Write the strategy's state. Only between a tell and the next ask does the state
        match the history: a proposal moves the strategy on."""
        s = self.search
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
        now = time.perf_counter()
        due = s.pooled or now - self.saved_at >= SAVE_EVERY_S  # fsync and save the state
        s.run.append_history(record, sync=due)
        if s.mirror is not None:
            s.mirror.add(record)
        if s.tracker is not None:
            s.tracker.add(record)
        s.estimator.heard(record)
        answer = answer_of(record)
        if tell:  # the strategy hears of each architecture once, at its first rung
            s.strategy.tell(record["arch"], answer)
            s.proposer.heard(record["arch"], answer)
        faults.reached("state")
        if due:
            self.save_state()
            self.saved_at = now
        faults.reached("between")
        self.best = best_one([r for r in (self.best, record) if r], s.objective, s.constraints)
        self.failures += record["status"] == "failed"
        self.current = None
        self.progress.update(self.task, advance=1, status=self.status())
        if len(s.history) == self.done_before + 1 and not s.estimator.simulated:
            self._say_if_long()
        max_failures = s.cfg.search.get("max_failures")
        if max_failures is not None and self.failures > max_failures:
            return (
                f"{self.failures} trials failed, more than search.max_failures={max_failures} "
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
        start = None if promotion else s.start_of(arch)
        recorder.trial_began(trial)
        record = run_trial(
            s.cfg, trial, arch, s.space, s.data, s.estimator, s.hardware, s.objective, rung, start
        )
        error = recorder.finished(record, tell=not promotion)
        if error is not None:
            return "max_failures", error
    return "trials", None
