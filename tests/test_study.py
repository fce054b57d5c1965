"""search.storage: every trial mirrored into an Optuna study (read back through Optuna's API),
resume adding only what is new, and `nas dashboard` serving it."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import optuna
import pytest

from nascli.results.study import StudyMirror, absolute_url
from nascli.spaces.nbgraph import NBGraphSpace
from tests.conftest import NAS, assert_one_line_error, run_nas

GRAPH = ["search", "space=nbgraph", "estimator=nbgraph", "dataset=cora", "logger=none"]


def _history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


def _study(url: str, run: Path) -> optuna.Study:
    return optuna.load_study(study_name=str(run.resolve()), storage=url)


def test_a_search_mirrors_its_trials_and_a_resume_adds_only_new_ones(tmp_path):
    run = tmp_path / "run"
    out = run_nas(*GRAPH, "strategy=evolution", "search.trials=6", "search.storage=sqlite:///s.db",
                  f"hydra.run.dir={run}", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert f"storage: {url}" in (run / "config.yaml").read_text()  # kept absolute
    out = run_nas("search", f"resume={run}", "search.trials=9", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    history, trials = _history(run), _study(url, run).get_trials()
    assert len(trials) == len(history) == 9
    assert sorted(t.user_attrs["trial"] for t in trials) == [r["trial"] for r in history]
    space = NBGraphSpace()
    for t in trials:
        record = next(r for r in history if r["trial"] == t.user_attrs["trial"])
        assert t.state == optuna.trial.TrialState.COMPLETE
        assert t.values == [record["metrics"]["val_acc"]] and t.user_attrs["arch"] == record["arch"]
        assert [t.params[f"d{k}"] for k in range(len(t.params))] == space.encode(record["arch"])
    assert _study(url, run).direction == optuna.study.StudyDirection.MAXIMIZE


def test_failed_pruned_and_multi_objective_trials_keep_their_state_and_directions(tmp_path):
    url, space = f"sqlite:///{tmp_path / 'm.db'}", NBGraphSpace()
    archs = [space.sample(__import__("random").Random(i)) for i in range(3)]
    records = [
        {"trial": 0, "arch": archs[0], "status": "ok", "seconds": 1.0,
         "metrics": {"val_acc": 0.8, "params": 100, "epochs": 4}},
        {"trial": 1, "arch": archs[1], "status": "failed", "error": "boom", "metrics": {}},
        {"trial": 2, "arch": archs[2], "status": "ok",
         "metrics": {"val_acc": 0.5, "params": 50, "epochs": 2, "stopped_early": True}},
    ]  # fmt: skip
    records.append({"trial": 3, "arch": archs[0], "status": "ok",
                    "metrics": {"val_acc": 0.7, "params": float("nan")}})  # fmt: skip
    mirror = StudyMirror(
        url, tmp_path / "r", space, [("val_acc", "max"), ("params", "min")], records
    )
    mirror.add(records[0])  # already there: not again
    study = optuna.load_study(study_name=str((tmp_path / "r").resolve()), storage=url)
    states = [t.state.name for t in study.get_trials()]
    assert states == ["COMPLETE", "FAIL", "PRUNED", "FAIL"]  # no value for a NaN objective
    done = study.get_trials()[0]
    assert done.values == [0.8, 100.0] and done.intermediate_values == {4: 0.8}
    assert study.get_trials()[1].user_attrs["error"] == "boom"
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert absolute_url("sqlite:///x.db") == f"sqlite:///{Path('x.db').resolve()}"
    assert absolute_url("postgresql://h/db") == "postgresql://h/db"


def test_a_sweep_mirrors_each_job_as_its_own_study_in_one_file(tmp_path):
    out = run_nas("search", "-m", *GRAPH[1:], "seed=0,1", "search.trials=3", f"search.storage=sqlite:///{tmp_path}/w.db",
                  f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    names = sorted(
        s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{tmp_path}/w.db")
    )
    assert names == [str((tmp_path / "sweep" / j).resolve()) for j in ("0", "1")]


def test_a_storage_optuna_cannot_open_is_refused_in_one_line(tmp_path):
    out = run_nas(*GRAPH, "search.trials=2", "search.storage=nope://x", f"hydra.run.dir={tmp_path}/r",
                  cwd=tmp_path)  # fmt: skip
    assert_one_line_error(out, "search.storage=nope://x")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nas_dashboard_refuses_a_folder_with_no_mirrored_run(tmp_path):
    out = run_nas("dashboard", str(tmp_path), cwd=tmp_path)
    assert_one_line_error(out, "holds no search run with search.storage")


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """`nas dashboard <run>` serving a 4-trial search's study: (run dir, port)."""
    pytest.importorskip("optuna_dashboard")
    root = tmp_path_factory.mktemp("dashboard")
    run = root / "run"
    out = run_nas(*GRAPH, "search.trials=4", f"search.storage=sqlite:///{root}/d.db",
                  f"hydra.run.dir={run}", cwd=root)  # fmt: skip
    assert out.returncode == 0, out.stderr
    port = _free_port()
    server = subprocess.Popen([NAS, "dashboard", str(run), f"port={port}"], cwd=root,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("the dashboard did not answer")
        yield run, port
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_nas_dashboard_serves_the_study_of_a_run(dashboard):
    run, port = dashboard
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as r:
        (study,) = json.loads(r.read())["study_summaries"]
    assert study["study_name"] == str(run.resolve())
    url = f"http://127.0.0.1:{port}/api/studies/{study['study_id']}?after=0"
    with urllib.request.urlopen(url, timeout=5) as r:
        assert len(json.loads(r.read())["trials"]) == 4


def test_the_dashboard_page_lists_the_study_and_its_trials_in_a_browser(dashboard, tmp_path):
    from tests.browser import browser

    run, port = dashboard
    history = _history(run)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as r:
        (study,) = json.loads(r.read())["study_summaries"]
    with browser(tmp_path) as b:
        b.open(f"http://127.0.0.1:{port}/dashboard")
        listed = b.wait_for(
            f"return document.body.innerText.includes({json.dumps(str(run.resolve()))})"
        )
        assert listed, b.run("return document.body.innerText")
        b.open(f"http://127.0.0.1:{port}/dashboard/studies/{study['study_id']}/trials")
        # The trials list, and the first trial selected: its value and its arch attribute.
        wanted = ["4 Trials", "Trial 3", f"arch {history[0]['arch']}",
                  str(history[0]["metrics"]["val_acc"])]  # fmt: skip
        shown = b.wait_for(
            f"const t = document.body.innerText; return {json.dumps(wanted)}.every(w => t.includes(w))"
        )
        assert shown, b.run("return document.body.innerText")
        errors = [m for m in b.console() if m["level"] == "SEVERE"]
        assert errors == [], errors
        b.screenshot(tmp_path / "dashboard.png")
