"""executor=ray (a search's trials on Ray actors) and hydra/launcher=ray_cluster (sweep jobs as Ray
tasks), each on a private local Ray instance."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TINY, assert_one_line_error, run_nas

pytest.importorskip("ray")
pytestmark = pytest.mark.slow

BASE = ["strategy=random", "estimator.epochs=1", "logger=none", "format=json"]
# No cluster of the machine's (or a test's) may be joined by accident.
NO_CLUSTER = {"RAY_ADDRESS": "", "OMP_NUM_THREADS": "1"}


def _history(run):
    return [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]


def test_ray_actors_give_the_one_process_results_and_resume(tmp_path):
    one = run_nas("search", *BASE, "search.trials=4", "hydra.run.dir=one", cwd=tmp_path)
    ray = run_nas(
        "search",
        *BASE,
        "executor=ray",
        "search.workers=2",
        "search.trials=4",
        "hydra.run.dir=ray",
        cwd=tmp_path,
        env=NO_CLUSTER,
        timeout=600,
    )
    assert one.returncode == 0, one.stderr
    assert ray.returncode == 0, ray.stderr[-3000:]
    summary = json.loads(ray.stdout)  # stdout holds the one JSON object and nothing else
    assert summary["status"] == "completed" and summary["trials"] == 4
    a = sorted(_history(tmp_path / "one"), key=lambda r: r["trial"])
    b = sorted(_history(tmp_path / "ray"), key=lambda r: r["trial"])
    assert [(r["arch"], r["metrics"]["val_acc"]) for r in a] == [
        (r["arch"], r["metrics"]["val_acc"]) for r in b
    ]
    assert "executor=ray: 2 actors" in (tmp_path / "ray" / "search.log").read_text()
    # Resumed on local processes: the executor may change, the trials go on from 4.
    more = run_nas(
        "search",
        "resume=ray",
        "executor=local",
        "search.trials=5",
        "format=json",
        cwd=tmp_path,
        env=NO_CLUSTER,
    )
    assert more.returncode == 0, more.stderr[-3000:]
    assert sorted(r["trial"] for r in _history(tmp_path / "ray")) == [0, 1, 2, 3, 4]


def test_a_worker_error_comes_back_as_itself_and_a_dead_actor_as_a_broken_pool(monkeypatch):
    import concurrent.futures as cf
    import os

    import ray

    from nascli.core.errors import NascliError
    from nascli.trials.ray import RayTrialPool

    monkeypatch.setenv("RAY_ADDRESS", "")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:

        @ray.remote
        class Trials:
            def bad_input(self):
                raise NascliError("estimator.epochs=0 must be at least 1")

            def die(self):
                os._exit(1)

        pool = object.__new__(RayTrialPool)  # only its settling of results is under test
        pool.ray = ray
        actor = Trials.remote()
        for call, expected in ((actor.bad_input, NascliError), (actor.die, cf.BrokenExecutor)):
            out: cf.Future = cf.Future()
            call.remote().future().add_done_callback(lambda f, out=out: pool._settle(f, out))
            with pytest.raises(expected) as caught:
                out.result(timeout=120)
            if expected is NascliError:  # the message the user sees is the worker's, unwrapped
                assert str(caught.value) == "estimator.epochs=0 must be at least 1"
        # GPUs: none here, so auto gives none, and asking for one per worker is refused at once
        # (the actors would wait for a GPU forever).
        assert RayTrialPool.prepare(2, 1, gpus_per_trial="auto") == 0
        with pytest.raises(NascliError, match="executor.gpus_per_trial"):
            RayTrialPool.prepare(2, 1, gpus_per_trial=1)
    finally:
        ray.shutdown()


def test_a_dead_actor_is_replaced_and_the_others_go_on():
    import concurrent.futures as cf
    from concurrent.futures.process import BrokenProcessPool
    from types import SimpleNamespace

    from nascli.trials.ray import RayTrialPool

    made = []

    def actor():  # a stand-in Ray actor whose trials never finish
        a = SimpleNamespace(name=f"actor{len(made)}")
        a.run = SimpleNamespace(remote=lambda *args: SimpleNamespace(future=cf.Future))
        made.append(a)
        return a

    killed = []
    pool = object.__new__(RayTrialPool)
    pool.ray = SimpleNamespace(kill=lambda a: killed.append(a.name))
    pool.container, pool.threads = {}, 1
    pool.actor_class = SimpleNamespace(remote=lambda *args: actor())
    dead, busy = actor(), actor()
    pool.actors = [dead, busy]
    died, running = cf.Future(), cf.Future()
    died.set_exception(BrokenProcessPool("a Ray worker died"))
    pool.busy = {died: dead, running: busy}
    pool.submit(5, "arch", "val_acc")
    fresh = made[-1]
    assert killed == [dead.name] and pool.actors == [fresh, busy]
    assert sorted(a.name for a in pool.busy.values()) == sorted([fresh.name, busy.name])


def test_joining_a_cluster_that_is_not_there_is_a_one_line_error(tmp_path):
    out = run_nas(
        "search",
        *BASE,
        "executor=ray",
        "executor.address=auto",
        "search.trials=2",
        cwd=tmp_path,
        env=NO_CLUSTER,
        timeout=600,
    )
    assert_one_line_error(out, "executor.address=auto")


def test_a_two_job_sweep_through_the_ray_launcher(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    out = run_nas(
        "search",
        "-m",
        "hydra/launcher=ray_cluster",
        "seed=0,1",
        "dataset=fake",
        *TINY,
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
        env=NO_CLUSTER,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    for job in (0, 1):
        folder = tmp_path / "sweep" / str(job)
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["seed"] == job
        assert len((folder / "history.jsonl").read_text().splitlines()) == 2
        assert (folder / "best.json").is_file()
