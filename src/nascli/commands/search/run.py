"""The body of `nas search`, imported only after the config has been validated (it loads torch)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import logging
import math
import random
import signal
import threading
import time
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from nascli.config import instantiate
from nascli.distributed import check_ddp, is_ddp, is_rank_zero, place_sweep_job
from nascli.errors import NascliError
from nascli.hardware.constraints import ConstrainedProposer
from nascli.oneshot.loop import is_oneshot, run_oneshot
from nascli.results.pareto import mnasnet_reward
from nascli.results.resume import load_resume
from nascli.results.run_dir import (
    BEST,
    CONFIG,
    STRATEGY_STATE,
    SUMMARY,
    RunDir,
    git_commit,
    package_versions,
)

log = logging.getLogger("nascli.search")


class StopRequested(KeyboardInterrupt):
    """Ctrl-C or SIGTERM (a cluster's pre-emption) arrived: finish writing, then stop."""


# Ctrl-C, a cluster's pre-emption (SIGTERM), and SLURM's warning before the time limit (SIGUSR2,
# sent hydra.launcher.signal_delay_s ahead with hydra/launcher=slurm).
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGUSR2") if hasattr(signal, name)
)


@contextlib.contextmanager
def stop_on_signals():
    """While searching, SIGINT, SIGTERM and SIGUSR2 raise StopRequested. Lightning turns an interrupt inside
    `fit` into SystemExit(1), so the search also checks `requested` to tell the two apart."""
    state = {"signal": None}

    def handler(signum, frame):
        state["signal"] = signum
        raise StopRequested(f"signal {signum}")

    if threading.current_thread() is not threading.main_thread():
        yield state
        return
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield state
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def trial_seed(seed: int, trial: int) -> int:
    """Distinct, reproducible seeds per (run seed, trial), so seeds 0 and 1 share no trial inits."""
    return seed * 1_000_003 + trial


def choose_best(
    history: list[dict[str, Any]],
    objective: str = "val_acc",
    constraints: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Highest `objective` among finished trials of the highest rung reached (multi-fidelity
    estimators) that keep every constraint; the earliest wins a tie."""
    from nascli.hardware.constraints import satisfies

    ok = [r for r in history if r["status"] == "ok" and satisfies(r["metrics"], constraints or {})]
    return (
        max(ok, key=lambda r: (r.get("rung", 0), r["metrics"][objective], -r["trial"]))
        if ok
        else None
    )


def _promotion(estimator, history: list[dict[str, Any]], objective: str):
    """A multi-fidelity estimator's next promotion, or None (then the strategy proposes)."""
    next_promotion = getattr(estimator, "next_promotion", None)
    return next_promotion(history, objective) if next_promotion else None


def make_next_arch(cfg, proposer, space, data, estimator):
    """The function that picks trial k's architecture: the strategy's (constrained) proposal, or,
    with `estimator.prefilter=n`, the best of n proposals by a zero-cost proxy (the others are told
    they failed). Deterministic in (seed, trial), so replaying a history for resume repeats it."""
    n = getattr(estimator, "prefilter", None)
    if not n:
        return lambda trial: proposer.propose()
    from nascli.estimators.zerocost import first_batch, score

    proxy = estimator.prefilter_proxy

    def next_arch(trial: int) -> str:
        candidates = [proposer.propose() for _ in range(n)]
        x, y = first_batch(data, estimator.batch_size, trial_seed(cfg.seed, trial))
        scores = []
        for j, arch in enumerate(candidates):
            torch.manual_seed(trial_seed(cfg.seed, trial) + 7919 * (j + 1))
            scores.append(score(proxy, space.build(arch, data.input_shape, data.num_classes), x, y))
        best = max(range(n), key=lambda j: scores[j])
        for j, arch in enumerate(candidates):
            if j != best:
                proposer.strategy.tell(arch, None)
        log.info("trial %d: prefilter by %s kept %s of %d", trial, proxy, candidates[best], n)
        return candidates[best]

    return next_arch


def _progress(console: Console) -> Progress:
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


def run_search(cfg: DictConfig) -> dict[str, Any]:
    # Library warnings belong in the job log (conf/hydra/default.yaml routes py.warnings there).
    logging.captureWarnings(True)
    hydra_cfg = HydraConfig.get()
    history: list[dict[str, Any]] = []
    space_name = hydra_cfg.runtime.choices.get("space", "")
    if cfg.get("resume"):
        resumed = load_resume(cfg.resume, cfg, list(hydra_cfg.overrides.task))
        cfg, history = resumed.cfg, resumed.history
        space_name = resumed.choices.get("space", "")
    check_ddp(cfg, hydra_cfg.mode == RunMode.MULTIRUN, is_oneshot(cfg))
    place_sweep_job(cfg, hydra_cfg)
    # Under trainer=ddp every rank runs this; only rank 0 writes the run directory.
    run = RunDir(
        hydra_cfg.runtime.output_dir, write=is_rank_zero() or not is_ddp(cfg.get("trainer"))
    )
    if cfg.get("resume"):
        log.info("resuming %s after %d finished trials", run.path, len(history))
    else:
        run.write_text(CONFIG, OmegaConf.to_yaml(cfg, resolve=True))
    torch.manual_seed(cfg.seed)
    if is_oneshot(cfg):
        return run_oneshot(cfg, run, space_name)

    space = instantiate(cfg.space, "space")
    data = instantiate(cfg.dataset, "dataset", seed=cfg.seed, batch_size=cfg.estimator.batch_size)
    data.setup()
    strategy = instantiate(cfg.strategy, "strategy", space=space, seed=cfg.seed)
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    estimator = instantiate(cfg.estimator, "estimator", trainer=trainer_cfg)
    hardware = instantiate(cfg.hardware, "hardware")
    log.info(
        "run dir %s; data %s; input %s, %d classes",
        run.path,
        data.sizes(),
        data.input_shape,
        data.num_classes,
    )

    _check_builds(space, data)
    constraint_cfg = OmegaConf.to_container(cfg.get("constraints") or {})
    proposer = ConstrainedProposer(
        strategy,
        space,
        data.input_shape,
        data.num_classes,
        constraint_cfg,
        hardware=hardware,
        admit=(lambda arch: estimator.missing(arch, space))
        if hasattr(estimator, "missing")
        else None,
        # A sampled table rejects most proposals; a lookup is cheap, so allow enough of them.
        max_rejections=min(10**6, max(1000, int(50 / getattr(estimator, "coverage", 1.0)))),
    )
    next_arch = make_next_arch(cfg, proposer, space, data, estimator)
    objective = cfg.search.get("objective", "val_acc")
    reported = getattr(estimator, "metrics", None)
    reward = cfg.search.get("reward") or {}
    if reward.get("target") is not None:
        if float(reward.target) <= 0:
            raise NascliError(f"search.reward.target={reward.target} must be positive")
        reported = (*reported, "reward") if reported is not None else None
    elif objective == "reward":
        raise NascliError(
            "search.objective=reward needs search.reward.target, the cost to aim at "
            "(e.g. search.reward.target=5 for 5 ms of latency_ms)"
        )
    if reported is not None and objective not in reported:
        raise NascliError(
            f"search.objective={objective} is not a metric this estimator reports ({', '.join(reported)})"
        )
    if cfg.search.get("objectives"):
        from nascli.results.pareto import parse_objectives

        known = {*(reported or ()), "params", "flops", "latency_ms"}
        if cfg.search.get("reference_point"):
            from nascli.results.pareto import reference_costs

            if not isinstance(cfg.search.reference_point, DictConfig):
                raise NascliError(
                    "search.reference_point must map each objective to a value, e.g. "
                    "search.reference_point={val_acc:0.5,latency_ms:20}"
                )
            reference_costs(
                OmegaConf.to_container(cfg.search.reference_point),
                parse_objectives(list(cfg.search.objectives)),
            )
        for name, _ in parse_objectives(list(cfg.search.objectives)):
            if reported is not None and name not in known:
                raise NascliError(
                    f"search.objectives: {name} is not a metric of this search; choose from {', '.join(sorted(known))}"
                )
    check_space = getattr(estimator, "check_space", None)  # estimator=table: the table's space
    if check_space is not None:
        check_space(
            space_name,
            OmegaConf.to_container(cfg.space, resolve=True),
            hydra_cfg.runtime.choices.get("dataset"),
        )
    prepare = getattr(estimator, "prepare", None)  # estimator=supernet trains or loads it here
    workers = 1 if cfg.search.get("workers") is None else int(cfg.search.workers)
    if workers < 1:
        raise NascliError(f"search.workers={workers} must be 1 or more")
    # executor=local: a pool of worker processes when workers > 1; executor=ray: Ray actors.
    make_pool = instantiate(cfg.get("executor") or LOCAL_EXECUTOR, "executor")
    pooled = workers > 1 or getattr(getattr(make_pool, "func", None), "remote", False)
    pool_name = f"search.workers={workers}" if workers > 1 else "executor=ray"
    if pooled and (getattr(estimator, "rungs", None) or prepare is not None):
        raise NascliError(
            f"{pool_name} does not combine with estimator=hyperband or "
            "estimator=supernet yet; set search.workers=1 (and executor=local)"
        )
    if pooled and not getattr(strategy, "asynchronous", True):
        raise NascliError(
            f"{pool_name}: this strategy must hear each result before its next "
            "proposal; set search.workers=1 (and executor=local)"
        )
    if pooled and hasattr(make_pool.func, "prepare"):  # executor=ray: connect before any trial
        make_pool.func.prepare(
            workers, int(cfg.search.get("worker_threads") or 1), **make_pool.keywords
        )
    if prepare is not None:
        prepare(space, data, cfg.seed, run.path)
    restore_strategy(strategy, next_arch, run, history)
    trials, seconds = cfg.search.trials, cfg.search.seconds
    epochs_total = cfg.search.get("epochs_total")
    max_failures = cfg.search.get("max_failures")
    status, stop_reason, error = "completed", "trials", None
    # The budget counts what was done before a resume.
    start = time.perf_counter() - _seconds_before(run, history, workers)
    simulated = getattr(estimator, "simulated", False)

    def elapsed() -> float:
        """Seconds spent: the wall clock, or with a table estimator the training time it charged."""
        if simulated:
            return sum(r.get("seconds", 0.0) for r in history)
        return time.perf_counter() - start

    err_console = Console(stderr=True)
    stop: dict[str, Any] = {"signal": None}
    try:
        with stop_on_signals() as stop, _progress(err_console) as progress:
            best = choose_best(history, objective, constraint_cfg)
            task = progress.add_task(
                "search",
                total=trials,
                completed=len(history),
                best=f"{objective} {best['metrics'][objective]:.4f}" if best else "-",
            )

            def budget_spent() -> str | None:
                if seconds is not None and elapsed() >= seconds:
                    return "seconds"
                if epochs_total is not None and _epochs_done(history) >= epochs_total:
                    return "epochs_total"
                return None

            def finished(record: dict[str, Any], tell: bool = True) -> str | None:
                """Record a finished trial; the error that ends the search, if any."""
                history.append(record)
                run.append_history(record)
                if tell:  # the strategy hears of each architecture once, at its first rung
                    strategy.tell(
                        record["arch"], record["metrics"] if record["status"] == "ok" else None
                    )
                run.write_json(
                    STRATEGY_STATE, {"trials": len(history), "state": strategy.state_dict()}
                )
                best = choose_best(history, objective, constraint_cfg)
                progress.update(
                    task,
                    advance=1,
                    best=f"{objective} {best['metrics'][objective]:.4f}" if best else "-",
                )
                failures = sum(r["status"] == "failed" for r in history)
                if max_failures is not None and failures > max_failures:
                    return (
                        f"{failures} trials failed, more than search.max_failures={max_failures} "
                        f"(raise it to go on); last error: {record['error']}"
                    )
                return None

            if pooled:
                stop_reason, error = _run_parallel(
                    cfg, make_pool, workers, history, next_arch, objective, budget_spent, finished
                )
                if error is not None:
                    status = "failed"
            # Numbered after the last one recorded: a parallel run's history may have gaps.
            trial = max((int(r["trial"]) for r in history), default=-1)
            while not pooled and len(history) < trials:
                trial += 1
                if (spent := budget_spent()) is not None:
                    stop_reason = spent
                    break
                promotion = _promotion(estimator, history, objective)
                arch = promotion.arch if promotion else next_arch(trial)
                rung = promotion.rung if promotion else 0
                record = _run_trial(
                    cfg, trial, arch, space, data, estimator, hardware, objective, rung
                )
                error = finished(record, tell=not promotion)
                if error is not None:
                    status, stop_reason = "failed", "max_failures"
                    break
        if error is None and not any(r["status"] == "ok" for r in history):
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
        summary = _finish(
            cfg,
            run,
            space_name,
            history,
            status,
            stop_reason,
            error,
            time.perf_counter() - start,
            proposer.rejected,
            extra={"simulated_seconds": round(elapsed(), 3)} if simulated else None,
        )

    if error is not None:
        raise NascliError(f"{error}; see {run.path / 'history.jsonl'}")
    _report(cfg, run, summary)
    return summary


def _dead_worker_record(trial: int, arch: str) -> dict[str, Any]:
    return {
        "trial": trial,
        "arch": arch,
        "status": "failed",
        "metrics": {},
        "error": "the worker process evaluating it died (out of memory? lower "
        "estimator.batch_size or search.workers)",
        "seconds": 0.0,
    }


def _seconds_before(run: RunDir, history: list[dict[str, Any]], workers: int) -> float:
    """Wall-clock seconds a resumed search had spent: its trials' seconds one after another; with
    several workers (trials overlap) the interrupted run's own count from summary.json, or, if it
    left none, the trials' seconds shared among the workers."""
    trial_seconds = sum(r.get("seconds", 0.0) for r in history)
    if workers == 1 or not history:
        return trial_seconds
    try:
        return float(json.loads((run.path / SUMMARY).read_text(encoding="utf-8"))["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return trial_seconds / workers


# Runs from before the executor group existed: local worker processes.
LOCAL_EXECUTOR = OmegaConf.create({"_target_": "nascli.parallel.TrialPool", "_partial_": True})


def _run_parallel(
    cfg, make_pool, workers: int, history, next_arch, objective: str, budget_spent, finished
) -> tuple[str, str | None]:
    """Keep `workers` trials running on the pool `make_pool(container, workers, threads)` builds
    (the `executor`) until search.trials have finished or a budget is spent; returns
    (stop_reason, error). Trials are numbered as they are proposed and recorded as they finish,
    so the history may list them out of order."""
    container = OmegaConf.to_container(cfg, resolve=True)
    threads = int(cfg.search.get("worker_threads") or 1)
    pool = make_pool(container, workers, threads)
    running: dict[Any, int] = {}
    arch_of: dict[int, str] = {}
    broken = False
    next_trial = max((int(r["trial"]) for r in history), default=-1) + 1
    stop_reason, error, interrupted = "trials", None, True
    try:
        while True:
            spent = budget_spent()
            while (
                spent is None
                and error is None
                and len(running) < workers
                and len(history) + len(running) < cfg.search.trials
            ):
                arch_of[next_trial] = next_arch(next_trial)
                running[pool.submit(next_trial, arch_of[next_trial], objective)] = next_trial
                next_trial += 1
            if not running:
                if len(history) < cfg.search.trials:
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
                    record = _dead_worker_record(trial, arch_of[trial])
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
                failure = finished(record)
                if failure is not None and error is None:
                    error, stop_reason = failure, "max_failures"
            if broken and not running:
                pool.close(now=True)
                pool, broken = make_pool(container, workers, threads), False
            if error is not None and not running:
                break
        interrupted = False
    finally:
        pool.close(now=interrupted)
    return stop_reason, error


def _epochs_done(history: list[dict[str, Any]]) -> int:
    return sum(int(r["metrics"].get("epochs", 0)) for r in history)


def restore_strategy(strategy, next_arch, run: RunDir, history: list[dict[str, Any]]) -> None:
    """Bring a fresh strategy to where it was after `history`: from its saved state when that
    matches the history, else by replaying the history through ask/tell (each proposal checked)."""
    if not history:
        return
    saved = run.path / STRATEGY_STATE
    try:
        state = json.loads(saved.read_text(encoding="utf-8"))
        if state["trials"] == len(history):
            strategy.load_state_dict(state["state"])
            return
        log.warning(
            "%s is from trial %s, the history has %d trials: replaying",
            saved,
            state["trials"],
            len(history),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("cannot use %s (%s): replaying the history", saved, exc)
    for record in history:
        if record.get("rung", 0) > 0:  # a promotion: the strategy neither proposed nor heard it
            continue
        proposed = next_arch(record["trial"])
        if proposed != record["arch"]:
            raise NascliError(
                f"resume={run.path}: the strategy state is missing or damaged and replaying the history proposes "
                f"{proposed} at trial {record['trial']}, where the history has {record['arch']}; it cannot be resumed"
            )
        strategy.tell(record["arch"], record["metrics"] if record["status"] == "ok" else None)


def is_out_of_memory(exc: BaseException) -> bool:
    """CPU (MemoryError, the allocator's RuntimeError) or GPU (torch.OutOfMemoryError)."""
    return isinstance(exc, MemoryError | torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc).lower()
    )


def release_memory() -> None:
    """Give back what a failed trial held, so the next one starts clean."""
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _check_builds(space, data) -> None:
    """Build one network before the first trial, so a bad space setting is one clear error, not N failed trials."""
    try:
        net = space.build(space.sample(random.Random(0)), data.input_shape, data.num_classes)
        net(torch.zeros(2, *data.input_shape))
    except Exception as exc:
        raise NascliError(
            f"space: cannot build a network for input {data.input_shape} ({type(exc).__name__}: {exc}); check the space.* settings"
        ) from exc


def _run_trial(
    cfg, trial, arch, space, data, estimator, hardware, objective, rung: int = 0
) -> dict[str, Any]:
    t0 = time.perf_counter()
    record: dict[str, Any] = {
        "trial": trial,
        "arch": arch,
        "status": "ok",
        "metrics": {},
        "error": None,
    }
    try:
        torch.manual_seed(trial_seed(cfg.seed, trial))
        cost: dict[str, Any] = {}
        if not getattr(estimator, "provides_cost", False):  # a table has them: build nothing
            net = space.build(arch, data.input_shape, data.num_classes)
            cost = hardware.measure(net, data.input_shape)
        logger = None
        if cfg.logger.get("_target_") and not getattr(estimator, "provides_cost", False):
            logger = instantiate(cfg.logger, "logger", version=f"trial_{trial:04d}")
        t_train = time.perf_counter()
        rungs = getattr(estimator, "rungs", None)
        if hasattr(estimator, "evaluate_arch"):  # inherited weights: no child is trained
            metrics = estimator.evaluate_arch(arch, space, data, seed=trial_seed(cfg.seed, trial))
        elif rungs:
            record["rung"] = rung
            metrics = estimator.evaluate(
                net, data, seed=trial_seed(cfg.seed, trial), logger=logger, epochs=rungs[rung]
            )
        else:
            metrics = estimator.evaluate(net, data, seed=trial_seed(cfg.seed, trial), logger=logger)
        record["train_seconds"] = round(time.perf_counter() - t_train, 4)
        metrics = {**metrics, **cost}
        reward = cfg.search.get("reward") or {}
        if reward.get("target") is not None:
            metrics["reward"] = mnasnet_reward(metrics, reward)
        if objective not in metrics:
            raise NascliError(
                f"search.objective={objective} is not a metric this estimator reports ({', '.join(metrics)})"
            )
        if not math.isfinite(metrics[objective]):
            raise FloatingPointError(f"{objective} is {metrics[objective]}")
        record["metrics"] = metrics
    except (KeyboardInterrupt, NascliError):
        raise
    except Exception as exc:  # one bad architecture must not end the search
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        if is_out_of_memory(exc):
            record["error"] += (
                " (out of memory: lower estimator.batch_size or the space's channels)"
            )
            release_memory()
        log.warning("trial %d (%s) failed: %s", trial, arch, record["error"])
    record["seconds"] = round(time.perf_counter() - t0, 4)
    simulated = record["metrics"].pop("simulated_seconds", None)
    if simulated is not None:  # a table lookup charges the recorded training time
        record["wall_seconds"], record["seconds"] = record["seconds"], round(simulated, 4)
    log.info("trial %d %s %s %s", trial, record["status"], arch, json.dumps(record["metrics"]))
    return record


def _finish(
    cfg,
    run,
    space_name,
    history,
    status,
    stop_reason,
    error,
    seconds,
    rejected,
    best: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write best.json (the best trial, or `best` as given by a one-shot search) and summary.json."""
    best_json = best
    if best_json is None and (
        trial := choose_best(
            history,
            cfg.search.get("objective", "val_acc"),
            OmegaConf.to_container(cfg.get("constraints") or {}),
        )
    ):
        best_json = {
            "space": space_name,
            "arch": trial["arch"],
            "trial": trial["trial"],
            "metrics": trial["metrics"],
        }
    pareto = _pareto(cfg, run, space_name, history)
    if pareto is not None:
        best_json = pareto.pop("best")
        extra = {**(extra or {}), "pareto": pareto}
    if best_json is not None:
        run.write_json(BEST, best_json)
    summary = {
        "command": "search",
        "status": status,
        "stop_reason": stop_reason,
        "error": error,
        "trials": len(history),
        "failed_trials": sum(r["status"] == "failed" for r in history),
        "rejected_by_constraints": rejected,
        "epochs_total": _epochs_done(history),
        "seconds": round(seconds, 3),
        "seed": cfg.seed,
        "run_dir": str(run.path),
        "resumed": bool(cfg.get("resume")),
        "best": best_json,
        **(extra or {}),
        "versions": package_versions(),
        "git": git_commit(),
    }
    run.write_json(SUMMARY, summary)
    return summary


def _pareto(cfg, run, space_name, history) -> dict[str, Any] | None:
    """With two or more search.objectives: write pareto.csv and pareto.png; best is the knee."""
    from nascli.results import pareto

    names = cfg.search.get("objectives")
    if not names or len(names) < 2:
        return None
    from nascli.hardware.constraints import satisfies

    objectives = pareto.parse_objectives(list(names))
    constraints = OmegaConf.to_container(cfg.get("constraints") or {})
    # A constrained search never reports an architecture that breaks a constraint.
    reference = cfg.search.get("reference_point")
    result = pareto.summarise(
        [r for r in history if satisfies(r["metrics"], constraints)],
        objectives,
        OmegaConf.to_container(reference) if reference else None,
    )
    if result is None:
        return None
    pareto.write_outputs(run.path, result, objectives)
    knee = result["knee"]
    return {
        "objectives": result["objectives"],
        "front_size": len(result["front"]),
        "hypervolume": result["hypervolume"],
        "reference_point": result["reference_point"],
        "front": [
            {"trial": r["trial"], "arch": r["arch"], **{n: r["metrics"][n] for n, _ in objectives}}
            for r in result["front"]
        ],
        "best": {
            "space": space_name,
            "arch": knee["arch"],
            "trial": knee["trial"],
            "metrics": knee["metrics"],
            "objectives": result["objectives"],
            "chosen_as": "knee point of the Pareto front",
        },
    }


def _report(cfg: DictConfig, run: RunDir, summary: dict[str, Any]) -> None:
    out = Console()
    if cfg.format == "json":
        print(json.dumps(summary))
        return
    best = summary["best"]
    objective = cfg.search.get("objective", "val_acc")
    title = f"Best of {summary['trials']} trials ({summary['failed_trials']} failed; stopped by {summary['stop_reason']})"
    table = Table(title=title, title_justify="left")
    for column in (objective.replace("_", " "), "params", "FLOPs", "latency (ms)", "trial"):
        table.add_column(column, justify="right")
    if best is None:
        table.add_row("-", "-", "-", "-", "no trial finished")
    else:
        m = best["metrics"]
        table.add_row(
            f"{m[objective]:.4f}" if abs(m[objective]) < 1000 else f"{m[objective]:.4g}",
            f"{m['params']:,}",
            f"{m['flops']:,}",
            f"{m['latency_ms']:.3f}",
            str(best["trial"]),
        )
    out.print(table)
    pareto = summary.get("pareto")
    if pareto:
        names = [o.split(":")[0] for o in pareto["objectives"]]
        front = Table(
            title=f"Pareto front ({pareto['front_size']}); best = its knee", title_justify="left"
        )
        for column in ("trial", *names):
            front.add_column(column, justify="right")
        for point in pareto["front"]:
            front.add_row(str(point["trial"]), *(f"{point[n]:.4g}" for n in names))
        out.print(front)
        reference = ", ".join(f"{k} {v:.4g}" for k, v in pareto["reference_point"].items())
        out.print(
            f"hypervolume: {pareto['hypervolume']:.4g} (reference point: {reference})",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    # Plain lines, never wrapped, so both can be pasted into the next command.
    if best is not None:
        out.print(f"arch: {best['arch']}", markup=False, highlight=False, soft_wrap=True)
    out.print(f"run dir: {run.path}", markup=False, highlight=False, soft_wrap=True)
