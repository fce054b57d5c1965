"""Sweeps through Hydra's launcher plugins: joblib (hydra/launcher=local) and submitit's local
executor (the same code path as hydra/launcher=slurm, without a cluster)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TINY, run_nas

pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
pytest.importorskip("hydra_plugins.hydra_submitit_launcher")


def _complete_jobs(sweep, n):
    for job in range(n):
        folder = sweep / str(job)
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["trials"] == 2
        assert summary["seed"] == job
        history = (folder / "history.jsonl").read_text().splitlines()
        assert len(history) == 2 and (folder / "best.json").is_file()
        assert (folder / ".hydra" / "overrides.yaml").is_file()


@pytest.mark.slow
@pytest.mark.parametrize(
    "launcher",
    ["hydra/launcher=local", "hydra/launcher=submitit_local"],
)
def test_a_two_job_sweep_through_a_launcher_plugin(tmp_path, launcher):
    out = run_nas(
        "search",
        "-m",
        launcher,
        "seed=0,1",
        "dataset=fake",
        *TINY,
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
        env={"OMP_NUM_THREADS": "1"},
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    _complete_jobs(tmp_path / "sweep", 2)
    if "submitit" in launcher:
        assert (tmp_path / "sweep" / ".submitit").is_dir()  # submitit's own records
    report = run_nas("report", "sweep", "format=json", "hydra.run.dir=rep", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout.strip().splitlines()[-1])["jobs"] == 2


def test_the_slurm_launcher_config_composes_with_one_gpu_per_job_and_no_submitit_requeue():
    from hydra import compose, initialize_config_dir

    from tests.test_config import CONF

    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose(
            config_name="search", overrides=["hydra/launcher=slurm"], return_hydra_config=True
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.gpus_per_node == 1 and launcher.max_num_timeout == 0
    assert launcher.timeout_min == 240 and launcher.signal_delay_s == 120
