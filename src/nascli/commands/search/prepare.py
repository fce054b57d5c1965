"""Before the first trial of a sample-based search: open the run directory, build the pieces,
check that they fit together, and bring a resumed strategy back to where it was."""

from __future__ import annotations

import inspect
import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from nascli.commands.app import say
from nascli.core.config import instantiate
from nascli.core.cpus import available_cpus, threads_per_process
from nascli.core.errors import NascliError
from nascli.core.targets import check_target, identity
from nascli.data.graphs import BenchmarkGraph
from nascli.estimators.base import Estimator
from nascli.hardware.constraints import ConstrainedProposer
from nascli.lit.distributed import check_ddp, is_ddp, is_rank_zero, place_sweep_job
from nascli.nn.inputs import example_input
from nascli.results import warm_start as warm_starts
from nascli.results.resume import load_resume
from nascli.results.run_dir import CONFIG, DECISIONS, STRATEGY_STATE, SUMMARY, RunDir
from nascli.results.study import StudyMirror, absolute_url, objectives_of
from nascli.results.tracking import open_tracker
from nascli.strategies.base import ProposesFirst
from nascli.tasks import Task, task_of
from nascli.trials.run import trial_seed
from nascli.trials.weights import WEIGHTS

log = logging.getLogger("nascli.search")

ONESHOT_BASE = "nascli.oneshot.strategies.OneShotStrategy"
# Runs from before the executor group existed: local worker processes.
LOCAL_EXECUTOR = {"_target_": "nascli.trials.pool.TrialPool", "_partial_": True}


def is_oneshot(cfg: DictConfig) -> bool:
    """Whether `strategy` is a weight-sharing strategy, by the classes its target resolves to
    (compared by identity, so that a sample-based search never imports Lightning's modules)."""
    cls = check_target(cfg.strategy._target_, "strategy")
    return any(identity(base) == ONESHOT_BASE for base in inspect.getmro(cls))


def run_dir_of(cfg: DictConfig) -> RunDir:
    """The run directory this search writes (a resumed search: the one it continues)."""
    output_dir = HydraConfig.get().runtime.output_dir
    if (
        cfg.get("resume")
        and Path(output_dir).resolve() != Path(str(cfg.resume)).expanduser().resolve()
    ):
        raise NascliError(
            f"resume={cfg.resume} continues in its own folder; drop hydra.run.dir={output_dir}"
        )
    trainer = cfg.get("trainer")
    if cfg.get("resume"):  # the trainer is the resumed run's (resume= cannot change it)
        saved = Path(output_dir) / CONFIG
        trainer = OmegaConf.select(OmegaConf.load(saved), "trainer") if saved.is_file() else None
    # Under trainer=ddp every rank runs this; only rank 0 writes the run directory.
    return RunDir(output_dir, write=is_rank_zero() or not is_ddp(trainer))


def open_run(cfg: DictConfig, run: RunDir) -> tuple[DictConfig, list[dict[str, Any]], str]:
    """The config, finished trials and space name of a new or resumed search."""
    hydra_cfg = HydraConfig.get()
    history: list[dict[str, Any]] = []
    space_name = hydra_cfg.runtime.choices.get("space", "")
    if cfg.get("resume"):
        resumed = load_resume(cfg.resume, cfg, list(hydra_cfg.overrides.task))
        cfg, history = resumed.cfg, resumed.history
        space_name = resumed.choices.get("space", "")
    check_ddp(cfg, hydra_cfg.mode == RunMode.MULTIRUN, is_oneshot(cfg))
    place_sweep_job(cfg, hydra_cfg)
    if cfg.get("resume"):
        log.info("resuming %s after %d finished trials", run.path, len(history))
    else:
        if cfg.search.get("storage"):  # kept absolute, so the run's config finds it anywhere
            with open_dict(cfg.search):
                cfg.search.storage = absolute_url(str(cfg.search.storage))
        run.write_text(CONFIG, OmegaConf.to_yaml(cfg, resolve=True))
    return cfg, history, space_name


@dataclass
class Search:
    """Everything the loop needs, built and checked."""

    cfg: DictConfig
    run: RunDir
    space_name: str
    history: list[dict[str, Any]]
    space: Any
    data: Any
    strategy: Any
    estimator: Estimator
    hardware: Any
    proposer: ConstrainedProposer
    next_arch: Any
    objective: str
    constraints: dict[str, Any]
    workers: int
    make_pool: Any
    pooled: bool
    started: float = field(default_factory=time.perf_counter)
    #: the Optuna study every finished trial is mirrored into (search.storage), or None
    mirror: Any = None
    #: the MLflow parent run every finished trial is added to as a child (logger=mlflow), or None
    tracker: Any = None

    def start_of(self, arch: str) -> dict[str, Any] | None:
        """What run_trial's `start` is for `arch` (None unless the strategy's children inherit
        their parent's weights)."""
        if not self.strategy.inherits_weights:
            return None
        return {"weights": str(self.run.path / WEIGHTS), "parent": self.strategy.start_of(arch)}

    def elapsed(self) -> float:
        """Seconds spent: the wall clock, or with a simulating estimator the training time it
        charged."""
        if self.estimator.simulated:
            return sum(r.get("seconds", 0.0) for r in self.history)
        return time.perf_counter() - self.started


def worker_threads(cfg: DictConfig) -> int:
    """Torch threads of each worker: search.worker_threads, else trainer.threads (resolved)."""
    return int(cfg.search.get("worker_threads") or cfg.trainer.get("threads") or 1)


def build_search(
    cfg: DictConfig, run: RunDir, history: list[dict[str, Any]], space_name: str
) -> Search:
    """Instantiate space, data, strategy, estimator and hardware, and check how they combine."""
    space = instantiate(cfg.space, "space")
    data = instantiate(cfg.dataset, "dataset", seed=cfg.seed, batch_size=cfg.estimator.batch_size)
    data.setup()
    strategy = instantiate(cfg.strategy, "strategy", space=space, seed=cfg.seed)
    # The torch threads of each process that trains (this one, or each worker), resolved once
    # here so that workers and Ray actors get the number through the config they are sent.
    workers = int(cfg.search.get("workers") or 1)
    with open_dict(cfg.trainer):
        cfg.trainer.threads = threads_per_process(cfg.trainer.get("threads"), workers)
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    estimator = instantiate(cfg.estimator, "estimator", trainer=trainer_cfg)
    if estimator.provides_cost:
        # Nothing is trained here: torch runs only a strategy's controller, which a second
        # thread does not speed up and, on a busy machine, slows many times over.
        with open_dict(cfg.trainer):
            cfg.trainer.threads = 1
    torch.set_num_threads(int(cfg.trainer.threads))
    say(
        f"torch threads: {cfg.trainer.threads} per training process ({available_cpus()} CPUs "
        f"available to this process, {workers} worker{'s' if workers > 1 else ''})"
    )
    hardware = instantiate(cfg.hardware, "hardware")
    log.info(
        "run dir %s; data %s; input %s, %d classes",
        run.path,
        data.sizes(),
        data.input_shape,
        data.num_classes,
    )
    task = task_of(data)
    estimator.check_task(task)
    if strategy.inherits_weights:
        check_inheritance(cfg, estimator)
    if strategy.inherits_weights and not estimator.trains_given_network:
        raise NascliError(
            f"strategy={HydraConfig.get().runtime.choices.get('strategy')} trains each child from "
            f"its parent's weights; estimator={HydraConfig.get().runtime.choices.get('estimator')} "
            "does not train the network it is given: use estimator=train"
        )
    objective = check_objectives(cfg, estimator, task)
    if getattr(data, "floor_ppl", None) is not None:
        say(f"the data's perplexity floor (what a perfect model scores): {data.floor_ppl:.4f}")
    estimator.check_objective(objective, list(cfg.search.get("objectives") or []) or None)
    if not space.builds_networks:
        check_recorded_costs(cfg, estimator, space_name)
    estimator.check_space(
        space_name,
        OmegaConf.to_container(cfg.space, resolve=True),
        HydraConfig.get().runtime.choices.get("dataset"),
    )
    if space.builds_networks:
        check_builds(space, data)
    warm = warm_start(cfg, run, space, objective)
    if warm is not None and warm.first:
        strategy = ProposesFirst(strategy, warm.first)
    constraints = OmegaConf.to_container(cfg.get("constraints") or {})
    proposer = ConstrainedProposer(
        strategy,
        space,
        data.input_shape,
        data.num_classes,
        constraints,
        hardware=hardware,
        admit=lambda arch: estimator.missing(arch, space),
        # A sampled table rejects most proposals; a lookup is cheap, so allow enough of them.
        max_rejections=min(10**6, max(1000, int(50 / estimator.coverage))),
        # A repeat of an architecture already estimated is told its answer from the history,
        # at no trial's cost, whatever the estimator (training it again only re-draws noise).
        answers_repeats=True,
    )
    for record in history:  # a resumed search: what the estimator heard before
        estimator.heard(record)
    for record in warm.observed if warm is not None else []:
        # Earlier trials of this task, told as if proposed here (a saved state already holds them).
        strategy.tell(record["arch"], answer_of(record))
        proposer.heard(record["arch"], answer_of(record))
    make_pool, workers, pooled = executor(cfg, estimator, strategy)
    if not make_pool.func.remote and not estimator.provides_cost:
        from nascli.estimators.train import check_trainer

        check_trainer(trainer_cfg)  # trials train on this machine: it must have the device
    estimator.prepare(space, data, cfg.seed, run.path)
    run.write_json(DECISIONS, [{"name": n, "options": o} for n, o in space.decisions()])
    next_arch = make_next_arch(cfg, proposer, space, data, estimator)
    restore_strategy(strategy, next_arch, run, history, proposer, pooled)
    search = Search(
        cfg, run, space_name, history, space, data, strategy, estimator, hardware, proposer,
        next_arch, objective, constraints, workers, make_pool, pooled,
    )  # fmt: skip
    # The budget counts what was done before a resume.
    search.started -= seconds_before(run, history, workers)
    if cfg.search.get("storage") and run.writes:
        search.mirror = StudyMirror(
            str(cfg.search.storage), run.path, space, objectives_of(cfg, objective), history
        )
        say(f"trials mirrored into Optuna study {search.mirror.name} of {cfg.search.storage}")
    if run.writes:
        search.tracker = open_tracker(cfg, run.path, history)
        if search.tracker is not None:
            with open_dict(cfg.logger):  # workers and Ray actors log into the same store
                cfg.logger.tracking_uri = search.tracker.uri
            say(f"tracked in MLflow: parent run {search.tracker.parent} at {search.tracker.uri}")
    return search


def check_inheritance(cfg: DictConfig, estimator: Estimator) -> None:
    """What a strategy whose children train from their parent's weights cannot combine with."""
    name = HydraConfig.get().runtime.choices.get("strategy")
    if cfg.search.get("warm_start"):
        raise NascliError(
            f"search.warm_start: strategy={name} grows only networks whose weights this run "
            "trained, so earlier runs give it nothing; drop search.warm_start"
        )
    if estimator.prefilter:
        raise NascliError(
            f"estimator.prefilter scores freshly built networks; strategy={name}'s children "
            "start from their parent's weights: drop estimator.prefilter"
        )
    address = (cfg.get("executor") or {}).get("address")
    if address:
        raise NascliError(
            f"executor.address={address}: strategy={name} keeps each trial's weights in the run "
            "directory, which a cluster's workers do not share; use a local Ray instance "
            "(executor.address=null) or executor=local"
        )


def warm_start(cfg: DictConfig, run: RunDir, space, objective: str) -> warm_starts.WarmStart | None:
    """What search.warm_start gives this search: read from the folders it names (and written to
    the run directory) when the search starts, read back from there when it resumes."""
    dirs = cfg.search.get("warm_start")
    if not dirs:
        return None
    if isinstance(dirs, str):
        dirs = [dirs]
    warm = warm_starts.load(run.path, space) if cfg.get("resume") else None
    if warm is None:
        config = OmegaConf.to_container(cfg, resolve=True)
        top_k = int(cfg.search.get("warm_start_top_k") or 0)
        warm = warm_starts.gather([str(d) for d in dirs], space, config, objective, top_k)
        if run.writes:
            warm_starts.save(run.path, warm)
    say(warm.summary())
    log.info("warm start from %s", ", ".join(f"{s['job']} ({s['gave']})" for s in warm.sources))
    return warm


def check_recorded_costs(cfg: DictConfig, estimator: Estimator, space_name: str) -> None:
    """A space that builds no network is constrained by what its table records: refuse a
    constraint on a metric the table does not have (it would be ignored)."""
    from nascli.core.constraints import LIMITS

    for key, value in (cfg.get("constraints") or {}).items():
        metric = LIMITS.get(key, (None,))[0]
        if value is not None and estimator.metrics is not None and metric not in estimator.metrics:
            raise NascliError(
                f"constraints.{key}: space={space_name} builds no network and its table records "
                f"no {metric}; constrain {', '.join(m for m in estimator.metrics if m != 'test_acc')}"
            )


def check_objectives(cfg: DictConfig, estimator: Estimator, task: Task) -> str:
    """search.objective, .objectives, .reward and .reference_point against what the estimator
    reports for the dataset's task; returns the objective."""
    from nascli.core.pareto import parse_objectives, reference_costs

    objective = cfg.search.get("objective") or task.objective
    reported = estimator.reports(task)
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
    if not cfg.search.get("objectives"):
        return objective
    objectives = parse_objectives(list(cfg.search.objectives))
    if cfg.search.get("reference_point"):
        if not isinstance(cfg.search.reference_point, DictConfig):
            raise NascliError(
                "search.reference_point must map each objective to a value, e.g. "
                "search.reference_point={val_acc:0.5,latency_ms:20}"
            )
        reference_costs(OmegaConf.to_container(cfg.search.reference_point), objectives)
    known = {*(reported or ()), "params", "flops", "latency_ms"}
    for name, _ in objectives:
        if reported is not None and name not in known:
            raise NascliError(
                f"search.objectives: {name} is not a metric of this search; choose from {', '.join(sorted(known))}"
            )
    return objective


def executor(cfg: DictConfig, estimator: Estimator, strategy: Any) -> tuple[Any, int, bool]:
    """(the pool factory, workers, whether trials run on a pool), checked against the pieces."""
    workers = 1 if cfg.search.get("workers") is None else int(cfg.search.workers)
    if workers < 1:
        raise NascliError(f"search.workers={workers} must be 1 or more")
    # executor=local: a pool of worker processes when workers > 1; executor=ray: Ray actors.
    make_pool = instantiate(cfg.get("executor") or OmegaConf.create(LOCAL_EXECUTOR), "executor")
    pooled = workers > 1 or make_pool.func.remote
    pool_name = f"search.workers={workers}" if workers > 1 else "executor=ray"
    if pooled and not estimator.parallel:
        raise NascliError(
            f"{pool_name} does not combine with estimator=hyperband, estimator=supernet or "
            "estimator.lce yet; set search.workers=1 (and executor=local)"
        )
    if pooled and not strategy.asynchronous:
        raise NascliError(
            f"{pool_name}: this strategy must hear each result before its next "
            "proposal; set search.workers=1 (and executor=local)"
        )
    if pooled:  # executor=ray: connect before any trial
        make_pool.func.prepare(workers, worker_threads(cfg), **make_pool.keywords)
    return make_pool, workers, pooled


def make_next_arch(cfg, proposer, space, data, estimator: Estimator):
    """The function that picks trial k's architecture: the strategy's (constrained) proposal, or,
    with `estimator.prefilter=n`, the best of n proposals by a zero-cost proxy (the others are told
    they failed). Deterministic in (seed, trial), so replaying a history for resume repeats it."""
    n = estimator.prefilter
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


def restore_strategy(
    strategy, next_arch, run: RunDir, history: list[dict[str, Any]], proposer, pooled=False
) -> None:
    """Bring a fresh strategy (and the proposer's answers) to where they were after `history`:
    from its saved state, replaying through ask/tell (each proposal checked) the trials after
    it (a fast search saves its state at most once a second), or the whole history when the
    state is missing, damaged or ahead of the history."""
    if not history:
        return
    saved = run.path / STRATEGY_STATE
    start = 0
    try:
        state = json.loads(saved.read_text(encoding="utf-8"))
        trials = int(state["trials"])
        if not 0 < trials <= len(history):
            raise ValueError(f"it is from trial {trials} of {len(history)}")
        if pooled and trials != len(history):
            # Saved with proposals still running: a replay from it cannot repeat them.
            raise ValueError(f"a pooled run's state is from trial {trials} of {len(history)}")
        strategy.load_state_dict(state["state"])
        start = trials
        for record in history[:start]:
            if record.get("rung", 0) == 0:  # what the strategy heard: first rungs only
                proposer.heard(record["arch"], answer_of(record))
        proposer.repeats = int(state.get("repeats", 0))
        proposer.rejected = int(state.get("rejected", 0))
        proposer.missing = int(state.get("missing", 0))
        if start < len(history):
            log.info("%s is from trial %d of %d: replaying the rest", saved, start, len(history))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("cannot use %s (%s): replaying the history", saved, exc)
    for record in history[start:]:
        if record.get("rung", 0) > 0:  # a promotion: the strategy neither proposed nor heard it
            continue
        proposed = next_arch(record["trial"])
        if proposed != record["arch"]:
            raise NascliError(
                f"resume={run.path}: the strategy state is missing, damaged or older than the history, and replaying it proposes "
                f"{proposed} at trial {record['trial']}, where the history has {record['arch']}; it cannot be resumed"
            )
        strategy.tell(record["arch"], answer_of(record))
        proposer.heard(record["arch"], answer_of(record))


def answer_of(record: dict[str, Any]) -> dict[str, Any] | None:
    return record["metrics"] if record["status"] == "ok" else None


def check_builds(space, data) -> None:
    """Build one network before the first trial, so a bad space setting is one clear error, not N failed trials."""
    if isinstance(data, BenchmarkGraph):  # nothing to build a network on
        data.refuse()
    try:
        net = space.build(space.sample(random.Random(0)), data.input_shape, data.num_classes)
        net(example_input(net, data.input_shape, 2))
    except Exception as exc:
        raise NascliError(
            f"space: cannot build a network for input {data.input_shape} ({type(exc).__name__}: {exc}); check the space.* settings"
        ) from exc


def seconds_before(run: RunDir, history: list[dict[str, Any]], workers: int) -> float:
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
