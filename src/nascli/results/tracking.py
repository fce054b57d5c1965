"""A search tracked in MLflow (`logger=mlflow`): one parent run per search, one nested child run
per trial.

- The parent run (named after the run directory) holds the search's resolved config as params,
  its summary's figures as metrics when it ends (best_<metric>, trials, failed_trials, seconds)
  and the run directory's results as artifacts (config.yaml, history.jsonl, best.json,
  summary.json, cells.json, pareto.csv and the plots).
- Each trial is a child run (`mlflow.parentRunId` is the parent's id), named `trial_<k>`: a
  trained trial's Lightning logger is `TrialLogger` below, so its per-epoch metrics land in the
  child as they are logged; when the trial is recorded, its arch and choices (params), its final
  metrics and costs, and its status (FINISHED, or FAILED with the error as a tag) are added from
  the history record. A table search's trials, which train nothing, get the same children. A
  one-shot search's supernet is one child, `supernet`, with its epochs.jsonl figures per epoch.

Where the runs go: `logger.tracking_uri` if set, else `$MLFLOW_TRACKING_URI`, else a SQLite store
in `<run dir>/mlruns/` (`mlflow.db`, artifacts beside it): no server, and the run directory stays
self-contained. (MLflow 3 refuses its old file store unless told otherwise, so the embedded
default is its SQLite backend.)

The parent's id is kept in `<run dir>/mlflow.json`, so a resumed search goes on in the same
parent and adds only the trials it lacks; a trial that was running when the search stopped, and
is run again, replaces its unfinished child.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import Logger, MLFlowLogger

from nascli.core.errors import NascliError
from nascli.core.files import write_json_atomic
from nascli.results.run_dir import EPOCHS

log = logging.getLogger("nascli.search")

#: the run directory's record of its MLflow parent run: {"experiment_id", "parent_run_id"}
MLFLOW = "mlflow.json"
#: the run directory's files a parent run carries as artifacts (those present)
ARTIFACTS = (
    "config.yaml",
    "history.jsonl",
    "best.json",
    "summary.json",
    "cells.json",
    "pareto.csv",
    "decisions.json",
    "epochs.jsonl",
)
TRIAL_TAG, STATUS_TAG = "nascli.trial", "nascli.status"
# MLflow's limit on a param's value (MLflow 3 stores up to 6000 characters).
PARAM_CHARS = 6000


def check_available() -> None:
    """logger=mlflow without MLflow installed: the fix, in one line."""
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise NascliError(
            "logger=mlflow needs MLflow's client: pip install 'nascli[mlflow]' (or logger=csv)"
        ) from None


def resolve_uri(given: str | None, run_dir: str | Path) -> str:
    """logger.tracking_uri, else $MLFLOW_TRACKING_URI, else a SQLite store under the run dir."""
    if given:
        return str(given)
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    folder = Path(run_dir).resolve() / "mlruns"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    logging.getLogger("alembic").setLevel(logging.WARNING)  # its migrations of a new store
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    return MlflowClient(tracking_uri=uri)


def _experiment(client, name: str, uri: str, run_dir: Path) -> str:
    # A SQLite store's new experiments keep their artifacts beside the database (MLflow's own
    # default is ./mlruns under whatever folder the search was started from).
    artifacts = embedded = None
    if uri.startswith("sqlite:///"):
        database = Path(uri[len("sqlite:///") :])
        artifacts = (database.parent / "artifacts").as_uri()
        embedded = database.parent == run_dir / "mlruns"
    found = client.get_experiment_by_name(name)
    if found is not None:
        if embedded and found.artifact_location != artifacts:
            raise NascliError(
                f"{run_dir / 'mlruns'} was written for another folder (its artifacts go to "
                f"{found.artifact_location}); delete it and {run_dir / MLFLOW} to track afresh"
            )
        return found.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifacts)
    except Exception:  # another job of a sweep created it first
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


RUN_ID = re.compile(r"[0-9a-f]{32}")
RUN_NAME = re.compile(r"trial_\d+")


def _read_parent(run_dir: Path) -> dict[str, Any] | None:
    """mlflow.json's ids, if they are ids (a damaged or foreign file: None, a new parent)."""
    path = run_dir / MLFLOW
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    parent, experiment = data.get("parent_run_id"), data.get("experiment_id")
    if not isinstance(parent, str) or not RUN_ID.fullmatch(parent):
        return None
    if not isinstance(experiment, str) or not experiment.isdigit():
        return None
    return {"parent_run_id": parent, "experiment_id": experiment, "uri": data.get("tracking_uri")}


def _reusable(client, known: dict[str, Any] | None, uri: str, run_dir: Path) -> bool:
    """Whether mlflow.json's parent is this run directory's, in this store: a copied or moved
    run directory (or another store) gets a new parent rather than someone else's."""
    if known is None or known.get("uri") != uri:
        return False
    try:
        run = client.get_run(known["parent_run_id"])
    except Exception:
        return False
    return run.info.experiment_id == known["experiment_id"] and run.data.tags.get(
        "nascli.run_dir"
    ) == str(run_dir)


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0][:160] if text else ""


def flat_params(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested config as MLflow params: dotted keys, values as text (capped to MLflow's size)."""
    params: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            params |= flat_params(value, name + ".")
        else:
            params[name] = str(value)[:PARAM_CHARS]
    return params


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }


class Tracker:
    """The search's side: opens (or, on resume, reopens) the parent run, adds each recorded
    trial as a child, and closes the parent with the summary and the run's files."""

    def __init__(
        self,
        run_dir: str | Path,
        config: dict[str, Any],
        history: list[dict[str, Any]],
        tracking_uri_given: str | None = None,
        experiment_name: str = "nascli",
    ) -> None:
        self.run_dir = Path(run_dir).resolve()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.uri = resolve_uri(tracking_uri_given, self.run_dir)
        try:
            self.client = _client(self.uri)
            known = _read_parent(self.run_dir)
            if _reusable(self.client, known, self.uri, self.run_dir):
                assert known is not None
                self.experiment_id, self.parent = known["experiment_id"], known["parent_run_id"]
                self.client.update_run(self.parent, status="RUNNING")
            else:
                if known is not None:
                    log.warning(
                        "logger=mlflow: %s names a parent run that is not this run directory's "
                        "in %s; starting a new parent run",
                        self.run_dir / MLFLOW,
                        self.uri,
                    )
                self._new_parent(config, experiment_name)
            children = self.children()
        except NascliError:
            raise
        except Exception as exc:
            raise NascliError(
                f"logger.tracking_uri={self.uri}: the MLflow store cannot be used "
                f"({type(exc).__name__}: {_first_line(exc)}); check the URI, or use logger=csv"
            ) from None
        self.recorded = set()
        for child in children:
            tags = child.data.tags
            if STATUS_TAG in tags and TRIAL_TAG in tags:  # a history record completed it
                self.recorded.add(int(tags[TRIAL_TAG]))
            elif TRIAL_TAG in tags:  # an attempt the stop cut short: nothing runs it now
                self.client.delete_run(child.info.run_id)
        for record in history:  # a resumed search: whatever the parent lacks
            self.add(record)

    def _new_parent(self, config: dict[str, Any], experiment_name: str) -> None:
        from mlflow.entities import Param

        self.experiment_id = _experiment(self.client, experiment_name, self.uri, self.run_dir)
        run = self.client.create_run(
            self.experiment_id,
            run_name=self.run_dir.name,
            tags={"nascli.run_dir": str(self.run_dir), "nascli.command": "search"},
        )
        self.parent = run.info.run_id
        write_json_atomic(
            self.run_dir / MLFLOW,
            {
                "experiment_id": self.experiment_id,
                "parent_run_id": self.parent,
                "tracking_uri": self.uri,
            },
        )
        params = [Param(k, v) for k, v in flat_params(config).items()]
        for i in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.parent, params=params[i : i + 100])

    def children(self, name: str | None = None) -> list[Any]:
        query = f"tags.mlflow.parentRunId = '{self.parent}'"
        if name is not None:
            query += f" and attributes.run_name = '{name}'"
        return self.client.search_runs([self.experiment_id], filter_string=query, max_results=50000)

    def add(self, record: dict[str, Any]) -> None:
        """One history record as a finished child run (once). A store that refuses it is logged
        and the search goes on: the history is the record, and a resume adds what is missing."""
        trial = int(record["trial"])
        if trial in self.recorded:
            return
        try:
            self._add(record)
        except Exception as exc:
            log.warning(
                "logger=mlflow: trial %s not tracked (%s: %s)",
                trial,
                type(exc).__name__,
                _first_line(exc),
            )
            return
        self.recorded.add(trial)

    def _add(self, record: dict[str, Any]) -> None:
        from mlflow.entities import Metric, Param, RunTag

        trial, name = int(record["trial"]), trial_name(int(record["trial"]))
        runs = self.children(name)
        if runs:  # trained here: its Lightning logger made it (the latest attempt's)
            run_id = max(runs, key=lambda r: r.info.start_time).info.run_id
        else:
            run_id = child_run(self.client, self.experiment_id, self.parent, name, trial)
        params = {"arch": record["arch"]}
        if record.get("choices") is not None:
            params["choices"] = " ".join(str(c) for c in record["choices"])
        if record.get("parent") is not None:
            params["parent_arch"] = record["parent"]
        existing = self.client.get_run(run_id).data.params
        tags = {}
        if record.get("error"):
            tags["nascli.error"] = str(record["error"])[:PARAM_CHARS]
        if record.get("rung") is not None:
            tags["nascli.rung"] = str(record["rung"])
        numbers = _numbers({**record.get("metrics", {}), "seconds": record.get("seconds")})
        step = int(numbers.get("epochs", 0))
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, v, 0, step) for k, v in numbers.items()],
            params=[Param(k, v[:PARAM_CHARS]) for k, v in params.items() if k not in existing],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        self.client.set_terminated(run_id, "FINISHED" if record["status"] == "ok" else "FAILED")
        # Last: the mark that a record completed this child (what a resume counts).
        self.client.set_tag(run_id, STATUS_TAG, record["status"])

    def close(self, summary: dict[str, Any]) -> None:
        """The summary's figures and the run's files on the parent, which then ends FINISHED
        (a completed search), KILLED (interrupted: resume goes on in it) or FAILED."""
        try:
            figures = {
                k: summary.get(k) for k in ("trials", "failed_trials", "epochs_total", "seconds")
            }
            best = summary.get("best") or {}
            figures |= {f"best_{k}": v for k, v in (best.get("metrics") or {}).items()}
            for key, value in _numbers(figures).items():
                self.client.log_metric(self.parent, key, value)
            self._supernet_epochs()
            for name in ARTIFACTS:
                if (self.run_dir / name).is_file():
                    self.client.log_artifact(self.parent, str(self.run_dir / name))
            for png in sorted(self.run_dir.glob("*.png")):
                self.client.log_artifact(self.parent, str(png), "plots")
            self.client.set_tag(self.parent, "nascli.stop_reason", str(summary.get("stop_reason")))
        except Exception as exc:  # the run directory holds all of it; say what was not tracked
            log.warning(
                "logger=mlflow: the search's summary not tracked (%s: %s)",
                type(exc).__name__,
                _first_line(exc),
            )
        status = {"completed": "FINISHED", "interrupted": "KILLED"}.get(
            summary.get("status"), "FAILED"
        )
        try:
            self.client.set_terminated(self.parent, status)
        except Exception as exc:
            log.warning("logger=mlflow: the parent run not ended (%s)", _first_line(exc))

    def _supernet_epochs(self) -> None:
        """A one-shot search's epochs.jsonl as the `supernet` child's curves (step = epoch),
        the epochs it does not hold yet."""
        from mlflow.entities import Metric

        path = self.run_dir / EPOCHS
        if not path.is_file():
            return
        records = []
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:  # a torn last line
                continue
        runs = self.children("supernet")
        if runs:
            run_id = max(runs, key=lambda r: r.info.start_time).info.run_id
        else:
            run_id = child_run(self.client, self.experiment_id, self.parent, "supernet", None)
        logged = self.client.get_metric_history(run_id, "train_loss")
        done = max((m.step for m in logged), default=-1)
        metrics = [
            Metric(key, value, 0, int(r["epoch"]))
            for r in records
            if isinstance(r, dict) and isinstance(r.get("epoch"), int) and r["epoch"] > done
            for key, value in _numbers(r).items()
            if key != "epoch"
        ]
        for i in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics per batch
            self.client.log_batch(run_id, metrics=metrics[i : i + 1000])


def trial_name(trial: int) -> str:
    return f"trial_{trial:04d}"


def child_run(client, experiment_id: str, parent: str, name: str, trial: int | None) -> str:
    tags = {"mlflow.parentRunId": parent}
    if trial is not None:
        tags[TRIAL_TAG] = str(trial)
    return client.create_run(experiment_id, run_name=name, tags=tags).info.run_id


class TrialLogger(MLFlowLogger):
    """Lightning's MLflow logger, logging into the child run of the parent named by the run
    directory's mlflow.json (a search's); without one (`nas train`), into a run of its own.

    Built by the config (`logger=mlflow`) wherever a trial trains, worker processes included.
    Tracking never fails a trial: a store that cannot be reached or refuses a write is logged
    once, and the trial goes on untracked (its history record is added when it is recorded)."""

    def __init__(
        self,
        save_dir: str,
        tracking_uri: str | None = None,
        experiment_name: str = "nascli",
        name: str | None = None,
        version: str | None = None,
    ) -> None:
        check_available()
        self._off = False
        try:
            uri, run_id = _trial_run(Path(save_dir).resolve(), tracking_uri, experiment_name,
                                     name, version)  # fmt: skip
            super().__init__(experiment_name=experiment_name, tracking_uri=uri, run_id=run_id)
        except Exception as exc:
            Logger.__init__(self)
            self._experiment_name, self._run_id, self._prefix = experiment_name, None, ""
            self._untracked(exc)

    def _untracked(self, exc: BaseException) -> None:
        if not self._off:
            log.warning("logger=mlflow: a trial not tracked (%s: %s)", type(exc).__name__,
                        _first_line(exc))  # fmt: skip
        self._off = True

    @property
    def name(self) -> str | None:
        return self._experiment_name if self._off else super().name

    @property
    def version(self) -> str | None:
        return None if self._off else super().version

    @property
    def save_dir(self) -> str | None:
        return None if self._off else super().save_dir

    def log_hyperparams(self, params: Any) -> None:
        if not self._off:
            try:
                super().log_hyperparams(params)
            except Exception as exc:
                self._untracked(exc)

    def log_metrics(self, metrics: Any, step: int | None = None) -> None:
        if not self._off:
            try:
                super().log_metrics(metrics, step)
            except Exception as exc:
                self._untracked(exc)

    def finalize(self, status: str = "success") -> None:
        if not self._off:
            try:
                super().finalize(status)
            except Exception as exc:
                self._untracked(exc)


def _trial_run(run_dir: Path, given: str | None, experiment_name: str, name, version):
    """(tracking URI, run id) of the run a trial's logger logs into."""
    uri = resolve_uri(given, run_dir)
    client = _client(uri)
    known = _read_parent(run_dir)
    run_name = version or "run"
    if known is not None:
        experiment_id, parent = known["experiment_id"], known["parent_run_id"]
        trial = int(run_name[len("trial_") :]) if RUN_NAME.fullmatch(run_name) else None
        return uri, child_run(client, experiment_id, parent, run_name, trial)
    experiment_id = _experiment(client, experiment_name, uri, run_dir)
    full = f"{run_dir.name}/{name}/{run_name}" if name else f"{run_dir.name}/{run_name}"
    run = client.create_run(experiment_id, run_name=full, tags={"nascli.run_dir": str(run_dir)})
    return uri, run.info.run_id


def open_tracker(cfg: Any, run_dir: str | Path, history: list[dict[str, Any]]) -> Tracker | None:
    """The search's Tracker when its logger is TrialLogger's (logger=mlflow), else None."""
    target = (cfg.get("logger") or {}).get("_target_")
    if not target:
        return None
    from omegaconf import OmegaConf

    from nascli.core.targets import check_target

    if not issubclass(check_target(target, "logger"), TrialLogger):
        return None
    check_available()
    return Tracker(
        run_dir,
        OmegaConf.to_container(cfg, resolve=True),
        history,
        cfg.logger.get("tracking_uri"),
        cfg.logger.get("experiment_name") or "nascli",
    )
