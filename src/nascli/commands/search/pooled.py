"""Trials of a search on a pool of workers (search.workers, executor=ray), asked and told as
they finish."""

from __future__ import annotations

import concurrent.futures
import json
import logging
from typing import Any

from omegaconf import OmegaConf

from nascli.commands.search.loop import Recorder
from nascli.commands.search.prepare import Search, worker_threads
from nascli.hardware.constraints import SpaceExhausted
from nascli.strategies.base import NothingToAsk
from nascli.trials.run import dead_worker_record

log = logging.getLogger("nascli.search")


def run_parallel(search: Search, recorder: Recorder) -> tuple[str, str | None]:
    """Keep `workers` trials running on the pool the executor builds until search.trials have
    finished or a budget is spent; returns (stop_reason, error). Trials are numbered as they are
    proposed and recorded as they finish, so the history may list them out of order."""
    s = search
    container = OmegaConf.to_container(s.cfg, resolve=True)
    threads = worker_threads(s.cfg)
    trials = s.cfg.search.trials
    pool = s.make_pool(container, s.workers, threads)
    running: dict[Any, int] = {}
    arch_of: dict[int, str] = {}
    broken = exhausted = False
    next_trial = max((int(r["trial"]) for r in s.history), default=-1) + 1
    stop_reason, error, interrupted = "trials", None, True
    try:
        while True:
            spent = recorder.budget_spent()
            while (
                spent is None
                and error is None
                and len(running) < s.workers
                and len(s.history) + len(running) < trials
                and not broken
                and not exhausted
            ):
                try:
                    arch = arch_of[next_trial] = s.next_arch(next_trial)
                except SpaceExhausted:
                    exhausted, stop_reason = True, "exhausted"
                    break
                except NothingToAsk:  # the strategy waits for a running trial's result
                    break
                try:
                    start = s.start_of(arch)
                    running[pool.submit(next_trial, arch, s.objective, start)] = next_trial
                except concurrent.futures.BrokenExecutor:
                    # A worker died since the last wait: this trial fails like those it would
                    # have shared the pool with, and fresh workers take over below.
                    broken = True
                    log.warning("a worker process died; starting new workers")
                    failure = recorder.finished(dead_worker_record(next_trial, arch))
                    if failure is not None and error is None:
                        error, stop_reason = failure, "max_failures"
                next_trial += 1
            if broken and not running:
                pool.close(now=True)
                pool, broken = s.make_pool(container, s.workers, threads), False
                continue
            if not running:
                if len(s.history) < trials:
                    stop_reason = spent or stop_reason
                break
            done, _ = concurrent.futures.wait(
                list(running), return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in sorted(done, key=lambda f: running[f]):
                trial = running.pop(future)
                try:
                    record = future.result()  # a NascliError in a worker ends the search here
                except concurrent.futures.BrokenExecutor:
                    # A worker died (the kernel's out-of-memory killer, a signal): every trial
                    # it shared the pool with fails, and a fresh pool takes over.
                    record = dead_worker_record(trial, arch_of[trial])
                    if not broken:
                        broken = True
                        log.warning("a worker process died; starting new workers")
                log.info(
                    "trial %d %s %s %s",
                    record["trial"],
                    record["status"],
                    record["arch"],
                    json.dumps(record["metrics"]),
                )
                failure = recorder.finished(record)
                if failure is not None and error is None:
                    error, stop_reason = failure, "max_failures"
            if broken and not running:
                pool.close(now=True)
                pool, broken = s.make_pool(container, s.workers, threads), False
            if error is not None and not running:
                break
        interrupted = False
    finally:
        pool.close(now=interrupted)
    return stop_reason, error
