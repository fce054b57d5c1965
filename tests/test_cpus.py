"""How many torch threads a training process gets (nascli.core.cpus)."""

from __future__ import annotations

import json

from nascli.core import cpus


def test_the_cgroup_quota_caps_the_cpus(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # docker --cpus=1.5
    assert cpus._cgroup_quota(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cpus._cgroup_quota(tmp_path) is None
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("200000\n")  # cgroup v1
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpus._cgroup_quota(tmp_path) == 2.0
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cpus._cgroup_quota(tmp_path) is None


def test_threads_follow_the_request_the_environment_then_the_cpus(monkeypatch):
    assert cpus.threads_per_process(3, processes=4) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert cpus.threads_per_process(None, processes=4) == 2
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert cpus.threads_per_process(None) == cpus.available_cpus() >= 1
    assert cpus.threads_per_process(None, processes=10_000) == 1  # never zero


def test_a_search_records_its_threads(nas, tmp_path):
    run = tmp_path / "run"
    out = nas("search", "search.trials=1", "estimator.epochs=1", "logger=none",
              "trainer.threads=2", f"hydra.run.dir={run}", "format=json")  # fmt: skip
    assert out.returncode == 0, out.stderr

    assert json.loads(out.stdout)["threads"] == 2
    assert "torch threads: 2 per training process" in (run / "search.log").read_text()
