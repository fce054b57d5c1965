"""The run-directory writer: atomic JSON, append-only history."""

from __future__ import annotations

import json
import os

import pytest

from nascli.core.records import best_one
from nascli.results.run_dir import RunDir, write_text_atomic


def test_history_appends_one_line_per_record(tmp_path):
    run = RunDir(tmp_path / "run")
    run.append_history({"trial": 0, "arch": "a", "status": "ok"})
    run.append_history({"trial": 1, "arch": "b", "status": "failed"})
    assert [r["trial"] for r in run.read_history()] == [0, 1]
    assert len((tmp_path / "run" / "history.jsonl").read_text().splitlines()) == 2


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "best.json"
    target.write_text('{"old": true}')

    class Boom:
        def __str__(self):
            raise RuntimeError("boom")

    with pytest.raises(TypeError):
        write_text_atomic(target, Boom())  # type: ignore[arg-type]
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["best.json"]  # no temporary left behind


def test_written_files_get_the_usual_mode(tmp_path):
    RunDir(tmp_path).write_json("summary.json", {"a": 1})
    mode = os.stat(tmp_path / "summary.json").st_mode & 0o777
    assert mode == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_best_is_highest_val_acc_and_earliest_on_ties():
    history = [
        {"trial": 0, "status": "ok", "metrics": {"val_acc": 0.5}},
        {"trial": 1, "status": "failed", "metrics": {}},
        {"trial": 2, "status": "ok", "metrics": {"val_acc": 0.9}},
        {"trial": 3, "status": "ok", "metrics": {"val_acc": 0.9}},
    ]
    assert best_one(history)["trial"] == 2
    assert best_one(history[1:2]) is None
