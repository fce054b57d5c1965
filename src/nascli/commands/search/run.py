"""The body of `nas search` (loads torch): prepare -> trials -> finish."""

from __future__ import annotations

import logging
import time
from typing import Any

import torch
from omegaconf import DictConfig
from rich.console import Console

from nascli.commands.app import refused_before_work
from nascli.commands.search.finish import finish, print_summary
from nascli.commands.search.loop import Recorder, progress_bar, run_sequential
from nascli.commands.search.pooled import run_parallel
from nascli.commands.search.prepare import (
    Search,
    build_search,
    is_oneshot,
    open_run,
    run_dir_of,
)
from nascli.core.errors import NascliError
from nascli.core.signals import StopRequested, stop_on_signals
from nascli.estimators.train import watch_epochs

log = logging.getLogger("nascli.search")


def run_search(cfg: DictConfig) -> dict[str, Any]:
    # Library warnings belong in the job log (conf/hydra/default.yaml routes py.warnings there).
    logging.captureWarnings(True)
    run = run_dir_of(cfg)
    threads = torch.get_num_threads()
    try:
        with run.lock():
            return _search(cfg, run)
    finally:  # a table search runs on one thread; the next job of a sweep gets them all back
        torch.set_num_threads(threads)


def _search(cfg: DictConfig, run) -> dict[str, Any]:
    cfg, history, space_name = refused_before_work(lambda c: open_run(c, run), cfg)
    try:
        # The signal is also noted, so that a Ctrl-C is not lost to a library that catches
        # every exception while it loads.
        with stop_on_signals() as loading:
            torch.manual_seed(cfg.seed)
            oneshot = is_oneshot(cfg)
            if oneshot and cfg.search.get("warm_start"):
                raise NascliError(
                    "search.warm_start: a one-shot strategy trains one supernet from scratch; "
                    "warm starts apply to sample-based strategies (drop search.warm_start)"
                )
            search = None if oneshot else build_search(cfg, run, history, space_name)
        if loading["signal"] is not None:
            raise StopRequested()
    except KeyboardInterrupt:  # Ctrl-C while the pieces load: nothing ran, the run is resumable
        finish(cfg, run, space_name, history, "interrupted", "interrupted", None, 0.0, 0)
        log.warning(
            "interrupted before the first trial; resume with: nas search resume=%s", run.path
        )
        raise StopRequested() from None
    if search is None:
        from nascli.commands.search.oneshot import run_oneshot

        return run_oneshot(cfg, run, space_name)
    status, stop_reason, error = "completed", "trials", None
    stop: dict[str, Any] = {"signal": None}
    try:
        with stop_on_signals() as stop, progress_bar(Console(stderr=True)) as progress:
            recorder = Recorder(search, progress)
            run_trials = run_parallel if search.pooled else run_sequential
            with watch_epochs(recorder.epoch):  # the epochs of the trials trained here
                stop_reason, error = run_trials(search, recorder)
        if error is not None:
            status = "failed"
        elif not any(r["status"] == "ok" for r in history):
            status = "failed"
            error = f"none of the {len(history)} trials finished (last error: {history[-1]['error'] if history else '-'})"
    except (KeyboardInterrupt, SystemExit) as exc:
        if isinstance(exc, SystemExit) and stop["signal"] is None:
            raise  # a real exit, not our stop request in Lightning's clothes
        status, stop_reason = "interrupted", "interrupted"
        log.warning(
            "interrupted after %d trials; resume with: nas search resume=%s", len(history), run.path
        )
        raise StopRequested() from None
    except BaseException as exc:  # a bug or a dead worker: say so in the summary, then raise
        status, stop_reason, error = "failed", "error", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        summary = _finish(search, status, stop_reason, error)
    if error is not None:
        raise NascliError(f"{error}; see {run.path / 'history.jsonl'}")
    print_summary(cfg, run, summary)
    return summary


def _finish(search: Search, status: str, stop_reason: str, error: str | None) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if search.estimator.simulated:
        extra["simulated_seconds"] = round(search.elapsed(), 3)
    extra["repeats_answered"] = search.proposer.repeats  # answered from the history, no trial
    extra["missing_from_table"] = search.proposer.missing  # a sampled table lacks them, no trial
    summary = finish(
        search.cfg,
        search.run,
        search.space_name,
        search.history,
        status,
        stop_reason,
        error,
        time.perf_counter() - search.started,
        search.proposer.rejected,
        extra=extra or None,
        space=search.space,
    )
    if search.tracker is not None:
        search.tracker.close(summary)
    return summary
