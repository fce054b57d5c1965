"""logger=mlflow: a parent run per search and a child per trial, read back through MLflow's client
API; a resume adds only the new trials; per-epoch metrics arrive through Lightning's logger."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

from nascli.core.errors import NascliError  # noqa: E402
from nascli.results import tracking  # noqa: E402
from nascli.results.tracking import Tracker, TrialLogger  # noqa: E402
from tests.conftest import assert_one_line_error, run_nas  # noqa: E402

GRAPH = ["search", "space=nbgraph", "estimator=nbgraph", "dataset=cora", "logger=mlflow"]


def _history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


def _runs(uri: str) -> tuple[object, list, object]:
    """(client, children, parent) of the one search tracked at `uri`."""
    client = MlflowClient(tracking_uri=uri)
    runs = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(children) + 1 == len(runs)
    return client, children, parents[0]


def test_a_table_search_has_a_parent_and_one_child_per_trial_and_resume_adds_the_rest(tmp_path):
    run = tmp_path / "run"
    out = run_nas(*GRAPH, "strategy=evolution", "search.trials=4", f"hydra.run.dir={run}")
    assert out.returncode == 0, out.stderr
    out = run_nas("search", f"resume={run}", "search.trials=6")
    assert out.returncode == 0, out.stderr
    client, children, parent = _runs(f"sqlite:///{run / 'mlruns' / 'mlflow.db'}")
    history = _history(run)
    assert len(children) == len(history) == 6
    for child in children:
        record = next(r for r in history if r["trial"] == int(child.data.tags["nascli.trial"]))
        assert child.info.run_name == f"trial_{record['trial']:04d}"
        assert child.info.status == "FINISHED" and child.data.tags["nascli.status"] == "ok"
        assert child.data.params["arch"] == record["arch"]
        assert child.data.metrics["val_acc"] == pytest.approx(record["metrics"]["val_acc"])
    assert parent.info.status == "FINISHED" and parent.info.run_name == "run"
    assert parent.data.params["strategy.population"] == "10"
    assert parent.data.metrics["trials"] == 6
    best = json.loads((run / "best.json").read_text())
    assert parent.data.metrics["best_val_acc"] == pytest.approx(best["metrics"]["val_acc"])
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"config.yaml", "history.jsonl", "best.json", "summary.json"} <= artifacts
    # The artifacts lie in the run directory too: it stays self-contained.
    assert list((run / "mlruns" / "artifacts").rglob("history.jsonl"))


def test_trained_trials_log_their_epochs_into_their_child_run(tmp_path):
    run = tmp_path / "run"
    out = run_nas("search", "logger=mlflow", "search.trials=2", "estimator.epochs=2",
                  f"hydra.run.dir={run}")  # fmt: skip
    assert out.returncode == 0, out.stderr
    client, children, _ = _runs(f"sqlite:///{run / 'mlruns' / 'mlflow.db'}")
    assert len(children) == 2
    for child in children:
        curve = client.get_metric_history(child.info.run_id, "train/loss")
        assert len(curve) == 2 and curve[0].step < curve[1].step  # per epoch, from Lightning
        assert client.get_metric_history(child.info.run_id, "val/acc")
        assert child.data.metrics["epochs"] == 2


def test_failed_trials_an_interrupted_attempt_and_the_tracking_uri(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # honoured over the run directory's store
    started_in = tmp_path / "cwd"
    started_in.mkdir()
    monkeypatch.chdir(started_in)  # MLflow's own default would put artifacts in ./mlruns here
    run = tmp_path / "run"
    ok = {"trial": 0, "arch": "a", "status": "ok", "seconds": 1.5, "metrics": {"val_acc": 0.7}}
    bad = {"trial": 1, "arch": "b", "status": "failed", "error": "boom", "metrics": {}}
    Tracker(run, {"seed": 0, "space": {"name": "x"}}, [ok])
    # Trial 1 starts training, and the search is killed before it is recorded...
    TrialLogger(str(run), version="trial_0001").experiment  # noqa: B018
    # ...then resumes: trial 1 is trained again (a new child) and recorded.
    TrialLogger(str(run), version="trial_0001")
    tracker = Tracker(run, {"seed": 0}, [ok])  # the same parent; trial 0 is not added again
    tracker.add(bad)
    # A one-shot search's epochs: the supernet child's curves, each epoch once however often
    # the search closes (an interrupted one closes, then closes again after its resume).
    epochs = [{"epoch": e, "train_loss": 2.0 - e, "arch": "x"} for e in range(2)]
    (run / "epochs.jsonl").write_text("".join(json.dumps(e) + "\n" for e in epochs))
    tracker.close({"status": "interrupted", "stop_reason": "interrupted"})
    tracker.close({"status": "completed", "stop_reason": "trials", "trials": 2, "best": ok})
    assert not (run / "mlruns").exists() and not any(started_in.iterdir())
    client, children, parent = _runs(uri)
    assert parent.info.artifact_uri.startswith((tmp_path / "artifacts").as_uri())
    assert (tmp_path / "artifacts").is_dir()
    supernet = next(c for c in children if c.info.run_name == "supernet")
    curve = client.get_metric_history(supernet.info.run_id, "train_loss")
    assert sorted((m.step, m.value) for m in curve) == [(0, 2.0), (1, 1.0)]
    children = [c for c in children if c is not supernet]
    assert sorted(c.info.run_name for c in children) == ["trial_0000", "trial_0001"]
    failed = next(c for c in children if c.info.run_name == "trial_0001")
    assert failed.info.status == "FAILED" and failed.data.tags["nascli.error"] == "boom"
    assert parent.data.params == {"seed": "0", "space.name": "x"}
    assert parent.data.metrics["best_val_acc"] == 0.7 and parent.info.status == "FINISHED"


def test_logger_mlflow_without_mlflow_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(NascliError, match=r"logger=mlflow needs .*nascli\[mlflow\]"):
        tracking.check_available()


def test_a_store_that_fails_never_fails_a_trial_and_a_bad_uri_is_refused(tmp_path):
    logger = TrialLogger(str(tmp_path), tracking_uri="nope://nowhere", version="trial_0000")
    logger.log_metrics({"val/acc": 0.5}, step=1)  # untracked, and nothing raised
    logger.log_hyperparams({"lr": 0.1})
    logger.finalize("success")
    assert logger.version is None
    out = run_nas("search", "space=nbgraph", "estimator=nbgraph", "dataset=cora", "logger=mlflow",
                  "logger.tracking_uri=nope://nowhere", "search.trials=2", f"hydra.run.dir={tmp_path}/r")  # fmt: skip
    assert_one_line_error(out, "logger.tracking_uri=nope://nowhere")


def test_a_copied_run_directory_gets_its_own_parent(tmp_path, monkeypatch):
    import shutil

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'shared.db'}")
    ok = {"trial": 0, "arch": "a", "status": "ok", "seconds": 1.0, "metrics": {"val_acc": 0.7}}
    theirs = Tracker(tmp_path / "theirs", {"seed": 0}, [ok])
    theirs.close({"status": "completed", "stop_reason": "trials"})
    shutil.copytree(tmp_path / "theirs", tmp_path / "mine")
    mine = Tracker(tmp_path / "mine", {"seed": 0}, [ok])
    assert mine.parent != theirs.parent
    assert mine.client.get_run(theirs.parent).info.status == "FINISHED"  # left as it was
    assert len(mine.children()) == 1 and len(theirs.children()) == 1
