"""The `nas` command end to end, in subprocesses, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import STATUS, TINY
from tests.dataset_files import write_cifar

HISTORY_KEYS = {"trial", "arch", "status", "metrics", "error", "seconds"}


def test_help_lists_commands(nas):
    out = nas("--help")
    assert out.returncode == 0 and "search" in out.stdout and "inspect" in out.stdout


def test_unknown_command_is_one_line(nas):
    out = nas("serch")
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "search" in out.stderr


def test_search_help_shows_groups_and_options(nas):
    out = nas("search", "--help")
    assert out.returncode == 0
    conf = Path(__file__).resolve().parents[1] / "conf"
    listed: dict[str, str] = {}
    group = ""
    section = out.stdout.split("config groups")[1].split("\n\n")[0].splitlines()[1:]
    for line in section:  # "  group  a, b," then wrapped continuation lines
        if line.startswith("   "):
            listed[group] += " " + line.strip()
        else:
            group, _, options = line.strip().partition(" ")
            listed[group] = options.strip()
    for group in ("space", "strategy", "estimator", "dataset", "hardware", "trainer", "logger"):
        options = sorted(p.stem for p in (conf / group).glob("*.yaml"))
        assert sorted(o.strip() for o in listed[group].split(",")) == options, group


def test_cfg_job_and_info_answer_without_importing_torch(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "nascli",
            "search",
            "--cfg",
            "job",
            "search.trials=3",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert out.returncode == 0 and "trials: 3" in out.stdout
    imported = {
        line.split("|")[-1].strip().split(".")[0] for line in out.stderr.splitlines() if "|" in line
    }
    assert "hydra" in imported and "torch" not in imported and "pytorch_lightning" not in imported
    assert not list(tmp_path.iterdir())  # --cfg job writes nothing


def test_info_and_completion(nas):
    assert nas("search", "--info").returncode == 0
    install = nas("search", "-sc", "install=bash")
    assert "complete" in install.stdout and "nas" in install.stdout
    query = nas("-sc", "query=bash", env={"COMP_LINE": "nas search strategy=", "COMP_POINT": "20"})
    assert "strategy=random" in query.stdout.split()
    query = nas("-sc", "query=bash", env={"COMP_LINE": "nas search datas", "COMP_POINT": "16"})
    assert "dataset=" in query.stdout.split()


def _strip_times(history):
    for record in history:
        record.pop("seconds")
        record.pop("train_seconds", None)
        record["metrics"].pop("latency_ms", None)
    return history


@pytest.mark.slow
def test_tiny_search_writes_the_run_directory_contract(nas, tmp_path):
    out = nas("search", "search.trials=3", "estimator.epochs=1", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (run,) = (tmp_path / "outputs" / "search" / "digits-nb201-random").iterdir()
    assert f"run dir: {run}" in out.stdout
    for name in (
        "config.yaml",
        "history.jsonl",
        "best.json",
        "summary.json",
        "search.log",
        ".hydra/config.yaml",
    ):
        assert (run / name).is_file(), name
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [r["trial"] for r in history] == [0, 1, 2]
    for r in history:
        assert r.keys() >= HISTORY_KEYS and r["status"] == "ok" and r["error"] is None
        assert 0.0 <= r["metrics"]["val_acc"] <= 1.0
        assert r["metrics"]["params"] > 0 and r["metrics"]["flops"] > 0
    best = json.loads((run / "best.json").read_text())
    assert best["space"] == "nb201"
    assert best["metrics"]["val_acc"] == max(r["metrics"]["val_acc"] for r in history)
    assert {"val_acc", "params", "flops"} <= best["metrics"].keys()
    assert f"arch: {best['arch']}" in out.stdout
    summary = json.loads((run / "summary.json").read_text())
    assert summary["command"] == "search" and summary["status"] == "completed"
    assert summary["trials"] == 3 and summary["seed"] == 0 and summary["best"] == best
    assert summary["versions"]["torch"] and "git" in summary
    log = (run / "search.log").read_text()
    # Lightning's lines reach the job log, once per trained child.
    assert log.count("`Trainer.fit` stopped") == 3
    # The same seed gives the same history (timings aside); json output is one object on stdout.
    again = nas(
        "search",
        "search.trials=3",
        "estimator.epochs=1",
        "format=json",
        "hydra.run.dir=again",
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.stderr
    summary_again = json.loads(again.stdout)
    assert summary_again["best"]["arch"] == best["arch"]
    history_again = [
        json.loads(line) for line in (tmp_path / "again" / "history.jsonl").read_text().splitlines()
    ]
    assert _strip_times(history_again) == _strip_times(history)


@pytest.mark.slow
def test_multirun_makes_one_complete_directory_per_job(nas, tmp_path):
    out = nas("search", "-m", "seed=0,1", *TINY, "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    seeds = []
    for job in ("0", "1"):
        summary = json.loads((tmp_path / "sweep" / job / "summary.json").read_text())
        assert (
            summary["status"] == "completed" and (tmp_path / "sweep" / job / "best.json").is_file()
        )
        seeds.append(summary["seed"])
    assert seeds == [0, 1]


@pytest.mark.slow
def test_multirun_over_datasets(nas, tmp_path):
    out = nas(
        "search",
        "-m",
        "strategy=random",
        "dataset=digits,fake",
        *TINY,
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    for job, dataset in (("0", "digits"), ("1", "fake")):
        overrides = (tmp_path / "sweep" / job / ".hydra" / "overrides.yaml").read_text()
        assert f"dataset={dataset}" in overrides
        assert (
            json.loads((tmp_path / "sweep" / job / "summary.json").read_text())["status"]
            == "completed"
        )


@pytest.mark.slow
def test_search_on_cifar10_files_without_download(nas, tmp_path):
    write_cifar(tmp_path / "data", per_batch=20, n_test=20)
    out = nas(
        "search",
        "dataset=cifar10",
        "dataset.root=data",
        "dataset.download=false",
        "space.cells_per_stage=1",
        "space.channels=4",
        *TINY,
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["trials"] == 2


BAD_INPUTS = [
    (["strategy=nope"], "strategy"),
    (["dataset=nope"], "dataset"),
    (["space=nope"], "space"),
    (["search.trials=abc"], "search.trials"),
    (["search.trials=0"], "search.trials"),
    (["estimator.epochs=0"], "estimator.epochs"),
    (["estimator.batch_size=0"], "estimator.batch_size"),
    (["estimator.batch_size=-4"], "estimator.batch_size"),
    (["seed=abc"], "seed"),
    (["no_such_key=1"], "no_such_key"),
    (["dataset=imagefolder"], "dataset.root"),
    (["dataset=imagefolder", "dataset.root=missing_folder"], "missing_folder"),
    (["dataset=cifar10", "dataset.root=nodata", "dataset.download=false"], "cifar-10-batches-py"),
    (["dataset=mnist", "dataset.root=nodata", "dataset.download=false"], "MNIST/raw"),
    (["dataset=svhn", "dataset.root=nodata", "dataset.download=false"], "_32x32.mat"),
    (["hydra.run.dir=a_file/run"], "a_file"),
    (["format=yaml"], "format"),
    (
        ["strategy=evolution", "strategy.population=2", "strategy.sample_size=3"],
        "strategy.sample_size",
    ),
    (["strategy=bo", "strategy.sampler=cmaes"], "strategy.sampler"),
    (["estimator=zerocost", "estimator.proxy=fisherx"], "estimator.proxy"),
    (["estimator=hyperband", "estimator.eta=1"], "eta"),
    (["constraints.max_params=-5"], "constraints.max_params"),
    (["search.objective=train_speed"], "search.objective=train_speed"),
    (["space=macro", "space.layers=0"], "space.layers=0"),
    (["space=mobilenet", "space.widths=[8,16]"], "space.widths"),
    (["strategy=darts", "strategy.epochs=0"], "strategy.epochs"),
    (["strategy=darts", "space.search_layers=0"], "space.search_layers"),
    (["strategy=darts", "strategy.max_skip=-1"], "strategy.max_skip"),
    (["strategy=spos", "space=macro"], "space=macro has no weight-sharing supernet"),
    (["estimator=supernet", "estimator.checkpoint=nowhere"], "estimator.checkpoint=nowhere"),
]


@pytest.mark.slow
@pytest.mark.parametrize("args,named", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_nonzero_and_touches_nothing(nas, tmp_path, args, named):
    previous = (
        tmp_path / "outputs" / "search" / "digits-nb201-random" / "2000-01-01_00-00-00-000000"
    )
    previous.mkdir(parents=True)
    (previous / "best.json").write_text('{"arch": "kept"}')
    (tmp_path / "a_file").write_text("not a folder")
    # Bad input fails before training; no estimator.epochs here, as not every estimator has one.
    out = nas("search", "search.trials=2", "logger=none", *args, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert out.stdout == ""
    lines = [line for line in out.stderr.strip().splitlines() if not STATUS.match(line)]
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert lines[0].startswith("nas search: error:") and named in lines[0]
    assert (previous / "best.json").read_text() == '{"arch": "kept"}'
    assert sorted(p.name for p in previous.iterdir()) == ["best.json"]


def test_full_error_shows_the_traceback(nas, tmp_path):
    out = nas("search", "search.trials=0", cwd=tmp_path, env={"HYDRA_FULL_ERROR": "1"})
    assert out.returncode != 0 and "Traceback" in out.stderr


@pytest.mark.slow
def test_wheel_ships_its_configs_and_runs_from_any_folder(tmp_path):
    """`pip install .` layout: build the wheel, put it first on the path, run from another folder."""
    root = Path(__file__).resolve().parents[1]
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(root)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("nascli-*.whl")
    import zipfile

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    assert (site / "nascli" / "conf" / "search.yaml").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PYTHONPATH": str(site)}
    import os

    code = "import nascli, nascli.core.paths as p; print(nascli.__file__); print(p.config_dir())"
    where = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env={**os.environ, **env},
    )
    assert where.stdout.splitlines() == [
        str(site / "nascli" / "__init__.py"),
        str(site / "nascli" / "conf"),
    ]
    out = subprocess.run(
        [sys.executable, "-m", "nascli", "search", *TINY, "format=json"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env={**os.environ, **env},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "completed"
    assert (elsewhere / "outputs" / "search").is_dir()


@pytest.mark.slow
def test_every_sample_based_strategy_in_one_sweep(nas, tmp_path):
    strategies = ["random", "evolution", "local", "bo", "reinforce", "qlearning"]
    out = nas(
        "search",
        "-m",
        f"strategy={','.join(strategies)}",
        "search.trials=3",
        "estimator.epochs=1",
        "logger=none",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    for job, name in enumerate(strategies):
        run = tmp_path / "sweep" / str(job)
        summary = json.loads((run / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["trials"] == 3, name
        assert f"strategy={name}" in (run / ".hydra" / "overrides.yaml").read_text()
        assert (run / "strategy_state.json").is_file()


@pytest.mark.parametrize(
    "args,code",
    [
        (["--help"], 0),
        *[
            ([c, "--help"], 0)
            for c in ("search", "train", "evaluate", "inspect", "report", "bench", "hw")
        ],
        (["search", "--cfg", "job"], 0),
        (["train", "--cfg", "job", "arch=DARTS_V2", "space=darts"], 0),
        (["search", "search.trials=abc"], 2),
        (["search", "strategy=nope"], 2),
        (["search", "seed=-1"], 2),
        (["train", "recipe.epochs=0", "arch=x"], 2),
        (["train"], 2),
        (["report"], 2),
    ],
)
def test_help_cfg_and_config_errors_import_no_torch(tmp_path, args, code):
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "nascli", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert out.returncode == code, out.stderr[-2000:]
    imported = {
        line.split("|")[-1].strip().split(".")[0] for line in out.stderr.splitlines() if "|" in line
    }
    assert "torch" not in imported and "pytorch_lightning" not in imported


def test_a_default_search_prints_only_its_own_lines_on_stderr(nas, tmp_path):
    """No third-party warnings in the terminal (they go to search.log): stderr holds the run's
    status lines and the progress bar, nothing else."""
    out = nas("search", *TINY, "hydra.run.dir=run", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    others = [line for line in lines if not STATUS.match(line) and not line.startswith("search ")]
    assert lines and not others, others


@pytest.mark.parametrize("seconds,said", [(None, True), (600, False)])
def test_a_plan_longer_than_an_hour_says_so_after_its_first_trial(tmp_path, seconds, said):
    """10 s for the first of 1,000 trials: about 2.8 h left, which the run says once with what
    caps it; with search.seconds=600 the plan is short and nothing is said."""
    import io
    import time
    from types import SimpleNamespace

    from omegaconf import OmegaConf
    from rich.console import Console

    from nascli.commands.search.loop import Recorder, progress_bar

    search = SimpleNamespace(
        history=[],
        objective="val_acc",
        constraints={},
        workers=1,
        pooled=False,
        proposer=SimpleNamespace(rejected=0),
        cfg=OmegaConf.create({"search": {"trials": 1000, "seconds": seconds}}),
        run=SimpleNamespace(path=tmp_path),
        elapsed=lambda: 10.0,
    )
    text = io.StringIO()
    progress = progress_bar(Console(file=text, width=200))
    recorder = Recorder(search, progress)
    search.history.append({"trial": 0, "status": "ok", "metrics": {"val_acc": 0.5}})
    recorder.started = time.perf_counter() - 10.0
    recorder._say_if_long()
    out = text.getvalue()
    assert ("takes about 2.8 h" in out and "search.seconds=N caps it" in out) == said, out
    assert (f"resume={tmp_path}" in out) == said


def test_a_native_crash_prints_where_it_happened(nas, tmp_path):
    # A builder that aborts the process as a heap corruption found by the C library would.
    builder = tmp_path / "crash.py"
    builder.write_text(
        "import faulthandler\n\n\ndef build(choose, input_shape, num_classes):\n"
        "    faulthandler._sigabrt()\n"
    )
    out = nas(
        "search",
        "space=custom",
        f"space.builder={builder}:build",
        "search.trials=1",
        "logger=none",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    assert out.returncode == -6, out.stderr
    assert "Fatal Python error: Aborted" in out.stderr
    assert f'File "{builder}", line 5 in build' in out.stderr
