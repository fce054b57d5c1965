"""A run directory belongs to one writer and to its own folder: a second search on it refuses,
a resumed copy writes only into the copy, and resume= never splits a run across folders."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from nascli.core.errors import NascliError
from nascli.results.run_dir import LOCK, RunDir
from tests.conftest import assert_one_line_error, run_nas


def _holder(folder) -> subprocess.Popen:
    """Another process holding the run's lock until killed."""
    code = (
        "import sys, time\n"
        "from nascli.results.run_dir import RunDir\n"
        "with RunDir(sys.argv[1]).lock():\n"
        "    print('held', flush=True)\n"
        "    time.sleep(120)\n"
    )
    other = subprocess.Popen(
        [sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert other.stdout.readline().strip() == "held"
    return other


def test_the_lock_refuses_a_live_holder_and_a_killed_holder_leaves_none(tmp_path):
    run = RunDir(tmp_path / "run")
    with run.lock():
        held = json.loads((run.path / LOCK).read_text())
        assert held == {"pid": os.getpid(), "host": socket.gethostname()}
        with pytest.raises(NascliError, match=rf"in use by process {os.getpid()}"), run.lock():
            pass
    assert not (run.path / LOCK).exists()
    other = _holder(run.path)
    try:
        with pytest.raises(NascliError, match=rf"in use by process {other.pid}"), run.lock():
            pass
    finally:
        other.kill()
        other.wait()
    assert (run.path / LOCK).exists()  # SIGKILL left the file, but no lock
    with run.lock():
        pass
    assert not (run.path / LOCK).exists()


@pytest.mark.slow
def test_a_second_writer_refuses_and_a_moved_run_resumes_in_its_own_folder(tmp_path):
    out = run_nas(
        "search", "search.trials=2", "estimator.epochs=1", "hydra.run.dir=a", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    before = (tmp_path / "b" / "history.jsonl").read_text()
    other = _holder(tmp_path / "b")
    try:
        out = run_nas("search", "resume=b", "search.trials=3", cwd=tmp_path)
        assert_one_line_error(out, f"in use by process {other.pid}")
        assert (tmp_path / "b" / "history.jsonl").read_text() == before
    finally:
        other.kill()
        other.wait()
    out = run_nas("search", "resume=b", "search.trials=3", cwd=tmp_path)  # the holder is gone
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "b" / "trials").iterdir())[-1] == "trial_0002"
    assert sorted(p.name for p in (tmp_path / "a" / "trials").iterdir()) == [
        "trial_0000",
        "trial_0001",
    ]
    assert not (tmp_path / "b" / LOCK).exists()


def test_resume_into_another_folder_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "a").mkdir()
    out = run_nas("search", "resume=a", "hydra.run.dir=b", cwd=tmp_path)
    assert_one_line_error(out, "hydra.run.dir=b")
    assert not (tmp_path / "b").exists()
    out = run_nas(
        "search", "resume=a", f"hydra.run.dir={tmp_path / 'a'}", "--cfg", "job", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
