"""One trial: build the architecture's network, measure its cost, estimate it, and record it.

Shared by the search loop and its worker processes (local pools and Ray actors), so a trial
is recorded the same way wherever it runs.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import math
import time
from typing import Any

import torch

from nascli.core import faults
from nascli.core.config import instantiate
from nascli.core.errors import NascliError
from nascli.core.objectives import mnasnet_reward
from nascli.core.records import trial_record
from nascli.core.space import ArchError
from nascli.trials.weights import inherited_network, save_weights

log = logging.getLogger("nascli.search")


def trial_seed(seed: int, trial: int) -> int:
    """Distinct, reproducible seeds per (run seed, trial), so seeds 0 and 1 share no trial inits."""
    return seed * 1_000_003 + trial


def is_out_of_memory(exc: BaseException) -> bool:
    """CPU (MemoryError, the allocator's RuntimeError) or GPU (torch.OutOfMemoryError)."""
    return isinstance(exc, MemoryError | torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc).lower()
    )


def release_memory() -> None:
    """Give back what a failed trial held, so the next one starts clean."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def dead_worker_record(trial: int, arch: str) -> dict[str, Any]:
    return trial_record(
        trial,
        arch,
        status="failed",
        error="the worker process evaluating it died (out of memory? lower "
        "estimator.batch_size or search.workers)",
    )


def _metrics(
    cfg, trial, arch, space, data, estimator, hardware, rung, record, start
) -> dict[str, Any]:
    seed = trial_seed(cfg.seed, trial)
    net, cost, logger = None, {}, None
    if not estimator.provides_cost:  # a table has them: build nothing (and draw nothing)
        torch.manual_seed(seed)
        if start is not None and start.get("parent") is not None:
            record["parent"] = start["parent"]
            net = inherited_network(
                space,
                start["parent"],
                arch,
                start["weights"],
                data.input_shape,
                data.num_classes,
                seed,
            )
        else:
            net = space.build(arch, data.input_shape, data.num_classes)
        cost = hardware.measure(net, data.input_shape)
        if cfg.logger.get("_target_"):
            logger = instantiate(cfg.logger, "logger", version=f"trial_{trial:04d}")
    if estimator.rungs:
        record["rung"] = rung
    t_train = time.perf_counter()
    metrics = estimator.estimate(arch, net, data, seed, space=space, logger=logger, rung=rung)
    record["train_seconds"] = round(time.perf_counter() - t_train, 4)
    if start is not None and net is not None:  # its children grow from these weights
        save_weights(start["weights"], space, arch, net)
    metrics = {**metrics, **cost}
    reward = cfg.search.get("reward") or {}
    if reward.get("target") is not None:
        metrics["reward"] = mnasnet_reward(metrics, reward)
    return metrics


def run_trial(
    cfg,
    trial,
    arch,
    space,
    data,
    estimator,
    hardware,
    objective,
    rung: int = 0,
    start: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The history record of trial `trial` (status failed, with the error, if it raised).

    `start` (strategies whose children inherit weights): {"weights": the folder of trained
    weights, "parent": the architecture whose weights this one grows from, or None}; the
    trained network is saved there for its own children."""
    t0 = time.perf_counter()
    record = trial_record(trial, arch)
    # The decisions as indices (decisions.json names them): what a report of what mattered reads.
    # (A cell that grows, strategy=progressive's, is outside the fixed encoding: none then.)
    with contextlib.suppress(ArchError):
        record["choices"] = list(space.encode(arch))
    try:
        metrics = _metrics(cfg, trial, arch, space, data, estimator, hardware, rung, record, start)
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
    faults.reached("trial")
    return record
