"""Resume: a search killed at any point continues to the same history as an uninterrupted one."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from nascli.core.errors import NascliError
from nascli.core.records import read_history
from nascli.estimators.base import Estimator
from tests.conftest import NAS, assert_one_line_error

ARGS = [
    "strategy=evolution",
    "strategy.population=3",
    "strategy.sample_size=2",
    "search.trials=6",
    "estimator.epochs=1",
    "logger=none",
]


def _history(run: Path) -> list[tuple]:
    """What must match between runs: trial, arch, status and the accuracy (timings aside)."""
    records = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    return [(r["trial"], r["arch"], r["status"], r["metrics"].get("val_acc")) for r in records]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    where = tmp_path_factory.mktemp("reference")
    out = subprocess.run(
        [NAS, "search", *ARGS, "hydra.run.dir=run"],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    return _history(where / "run")


def _kill_after(cwd: Path, lines: int, sig: int = signal.SIGKILL) -> Path:
    """Start a search and send it `sig` once `lines` trials are in its history."""
    run = cwd / "run"
    proc = subprocess.Popen(
        [NAS, "search", *ARGS, "hydra.run.dir=run"],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    history = run / "history.jsonl"
    while time.monotonic() < deadline:
        if history.exists() and len(history.read_text().splitlines()) >= lines:
            break
        time.sleep(0.05)
    os.kill(proc.pid, sig)
    assert proc.wait(timeout=60) == (-signal.SIGKILL if sig == signal.SIGKILL else 130)
    return run


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [1, 4])
def test_sigkill_then_resume_equals_an_uninterrupted_run(nas, tmp_path, reference, kill_after):
    run = _kill_after(tmp_path, kill_after)
    finished = _history(run)
    assert kill_after <= len(finished) < 6
    assert finished == reference[: len(finished)]  # nothing lost so far
    out = nas("search", f"resume={run}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert _history(run) == reference  # nothing lost, nothing repeated
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["trials"] == 6 and summary["resumed"]
    # Hydra's record of the original call is kept; the resumed call's sits beside it.
    assert "strategy=evolution" in (run / ".hydra" / "overrides.yaml").read_text()
    assert list((run / ".hydra").glob("resume-*/overrides.yaml"))


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR2])  # SLURM's warning: SIGUSR2
def test_sigterm_marks_the_run_interrupted_and_resume_finishes_it(nas, tmp_path, reference, sig):
    run = _kill_after(tmp_path, 2, sig)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["trials"] == len(_history(run)) >= 2
    out = nas("search", f"resume={run}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert _history(run) == reference


@pytest.mark.slow
def test_resume_drops_a_torn_line_and_replays_a_missing_strategy_state(nas, tmp_path, reference):
    out = nas("search", *ARGS, "search.trials=3", "hydra.run.dir=run", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    run = tmp_path / "run"
    with open(run / "history.jsonl", "a") as f:
        f.write('{"trial": 3, "arch": "|nor_co')  # a write cut short by a power cut
    (run / "strategy_state.json").unlink()
    out = nas("search", f"resume={run}", "search.trials=6", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert _history(run) == reference
    assert "torn last line" in (run / "search.log").read_text()


def test_read_history_rejects_damage_that_is_not_a_torn_end(tmp_path):
    good = {"trial": 0, "arch": "a", "status": "ok", "metrics": {}}
    (tmp_path / "history.jsonl").write_text("not json\n" + json.dumps(good) + "\n")
    with pytest.raises(NascliError, match="line 1 is corrupt"):
        read_history(tmp_path)
    (tmp_path / "history.jsonl").write_text((json.dumps(good) + "\n") * 2)
    with pytest.raises(NascliError, match="repeats trial 0"):
        read_history(tmp_path)
    # several workers record trials as they finish: out of order, gaps where some were lost
    other = [{**good, "trial": t} for t in (1, 0, 3)]
    (tmp_path / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in other))
    assert [r["trial"] for r in read_history(tmp_path)] == [1, 0, 3]


@pytest.mark.slow
def test_resume_bad_input(nas, tmp_path):
    out = nas("search", *ARGS, "search.trials=1", "hydra.run.dir=run", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
    cases = [
        (["resume=run", "space=darts"], "drop 'space=darts'"),
        (["resume=missing"], "resume=missing is not a folder"),
        (["resume=."], "not a nascli search run directory"),
        (["resume=run", "dataset=fake"], "drop 'dataset=fake'"),
    ]
    for args, message in cases:
        out = nas("search", *args, cwd=tmp_path)
        assert out.returncode == 2 and message in out.stderr, out.stderr
        assert_one_line_error(out, message)
    assert not (tmp_path / "missing").exists()
    after = {
        p.name: p.read_bytes()
        for p in (tmp_path / "run").iterdir()
        if p.is_file() and p.name != "search.log"
    }
    assert after == {k: v for k, v in before.items() if k != "search.log"}


@pytest.mark.slow
def test_diverging_trials_are_recorded_as_failed_and_the_search_goes_on(nas, tmp_path):
    out = nas(
        "search",
        *ARGS,
        "search.trials=3",
        "search.max_failures=5",
        "estimator.optimizer.lr=1e12",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert out.returncode == 2 and "none of the 3 trials finished" in out.stderr
    records = [
        json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()
    ]
    assert [r["status"] for r in records] == ["failed"] * 3  # every trial ran despite the failures
    assert all(r["error"].startswith("DivergedError") for r in records)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["failed_trials"] == 3


@pytest.mark.slow
def test_a_config_read_back_for_resume_cannot_build_outside_the_allow_list(nas, tmp_path):
    out = nas("search", *ARGS, "search.trials=1", "hydra.run.dir=run", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    config = tmp_path / "run" / "config.yaml"
    config.write_text(
        config.read_text().replace("nascli.strategies.evolution.RegularizedEvolution", "os.system")
    )
    out = nas("search", "resume=run", "search.trials=2", cwd=tmp_path)
    assert out.returncode == 2 and "strategy._target_=os.system" in out.stderr
    assert "cannot choose what is built" in out.stderr


class _OutOfMemory(Estimator):
    """An estimator that fails the way a too-large child does."""

    metrics = ("val_acc",)

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def estimate(self, arch, net, data, seed, *, space, logger=None, rung=0):
        raise self.error


class _Hardware:
    def measure(self, net, input_shape):
        return {}


class _Shape:
    input_shape, num_classes = (1, 8, 8), 10


@pytest.mark.parametrize(
    "error",
    [
        MemoryError(),
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"
        ),
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    ],
    ids=["MemoryError", "cpu-allocator", "cuda"],
)
def test_a_trial_out_of_memory_is_recorded_as_failed_with_the_fix(error):
    from omegaconf import OmegaConf

    from nascli.spaces.nb201 import NB201Space
    from nascli.trials.run import run_trial

    space = NB201Space(channels=4, cells_per_stage=1)
    cfg = OmegaConf.create({"seed": 0, "logger": {}})
    arch = space.sample(random.Random(0))
    record = run_trial(cfg, 3, arch, space, _Shape(), _OutOfMemory(error), _Hardware(), "val_acc")
    assert record["status"] == "failed" and record["trial"] == 3
    assert (
        type(error).__name__ in record["error"] and "lower estimator.batch_size" in record["error"]
    )


def test_a_failed_job_does_not_stop_the_other_jobs_of_a_multirun(nas, tmp_path):
    out = nas(
        "search",
        "-m",
        "space.channels=-1,4",
        "space.cells_per_stage=1",
        "search.trials=1",
        "estimator.epochs=1",
        "logger=none",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert out.returncode != 0
    assert "space.channels=-1 is out of range" in out.stderr
    summary = json.loads((tmp_path / "sweep" / "1" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["trials"] == 1
    # The failed job says so in its own summary, for `nas report`.
    failed = json.loads((tmp_path / "sweep" / "0" / "summary.json").read_text())
    assert failed["status"] == "failed" and "space.channels=-1 is out of range" in failed["error"]


def _exit_after_interrupt(proc: subprocess.Popen, timeout: float = 60) -> tuple[int, str]:
    """The exit status and stderr of an interrupted `nas` (stderr read as it comes, so that a
    full pipe cannot stall it); one still running after `timeout` is aborted, and its threads'
    stacks (printed by the faulthandler `nas` enables) fail the test."""
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        _, stderr = proc.communicate()
        pytest.fail(
            f"nas still running {timeout:.0f} s after SIGINT; its stacks:\n{stderr[-6000:]}"
        )
    return proc.returncode, stderr


@pytest.mark.slow
def test_ctrl_c_while_the_pieces_load_leaves_a_resumable_run(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(
        # Trials of several seconds: on a loaded machine the poll below may wake late, and
        # two 1-epoch trials were once over before the interrupt came.
        [NAS, "search", *ARGS, "search.trials=2", "estimator.epochs=10", "hydra.run.dir=run"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (run / "config.yaml").exists():
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGINT)  # torch and the data are still loading
    code, stderr = _exit_after_interrupt(proc)
    assert code == 130, stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["trials"] in (0, 1)
    again = subprocess.run([NAS, "search", f"resume={run}"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert json.loads((run / "summary.json").read_text())["trials"] == 2


def test_ctrl_c_stops_a_search_promptly_and_marks_it_interrupted(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [NAS, "search", *ARGS, "search.trials=50", "estimator.epochs=20", "hydra.run.dir=run"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (run / "config.yaml").exists():
        time.sleep(0.05)
    time.sleep(3.0)  # the search has started and is training its first trial
    sent = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    code, stderr = _exit_after_interrupt(proc)
    waited = time.monotonic() - sent
    assert code == 130, stderr
    assert waited < 10, f"took {waited:.1f} s to stop"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["stop_reason"] == "interrupted"
    assert "nas search resume=" in stderr
