"""Constraints reject architectures before any training; budgets stop a search and say which."""

from __future__ import annotations

import json

import pytest

from nascli.core.errors import NascliError
from nascli.hardware.constraints import ConstrainedProposer, violations
from nascli.hardware.cost import count_params
from nascli.spaces.nb201 import NB201Space
from nascli.strategies.random import RandomSearch
from tests.conftest import TINY


class Recording(RandomSearch):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.told = []

    def tell(self, arch, metrics):
        super().tell(arch, metrics)
        self.told.append((arch, metrics))


def test_proposals_within_limits_and_rejected_ones_told_as_failures():
    space = NB201Space(channels=16, cells_per_stage=1)
    strategy = Recording(space, seed=0)
    proposer = ConstrainedProposer(
        strategy, space, (1, 8, 8), 10, {"max_params": 100_000, "max_flops": None}
    )
    for _ in range(10):
        arch = proposer.propose()
        assert count_params(space.build(arch, (1, 8, 8), 10)) <= 100_000
    assert proposer.rejected > 0
    assert len(strategy.told) == proposer.rejected and all(
        metrics is None for _, metrics in strategy.told
    )


def test_violations_name_the_key_and_the_numbers():
    net = NB201Space(channels=16, cells_per_stage=1).build(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        (1, 8, 8),
        10,
    )
    broken = violations(net, (1, 8, 8), max_params=1000, max_flops=1000)
    assert [b.split(":")[0] for b in broken] == ["constraints.max_params", "constraints.max_flops"]
    assert violations(net, (1, 8, 8), max_params=10**9) == []


def test_constraints_nothing_satisfies_is_a_clear_error():
    space = NB201Space()
    proposer = ConstrainedProposer(
        RandomSearch(space), space, (1, 8, 8), 10, {"max_params": 1}, max_rejections=20
    )
    with pytest.raises(NascliError, match="20 proposals in a row broke the constraints"):
        proposer.propose()


@pytest.mark.slow
def test_constrained_search_and_epoch_budget_through_the_cli(nas, tmp_path):
    out = nas(
        "search",
        *TINY,
        "search.trials=4",
        "constraints.max_params=100000",
        "hydra.run.dir=c",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    history = [
        json.loads(line) for line in (tmp_path / "c" / "history.jsonl").read_text().splitlines()
    ]
    assert len(history) == 4 and max(r["metrics"]["params"] for r in history) <= 100_000
    summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert summary["rejected_by_constraints"] > 0
    rejected = summary["rejected_by_constraints"]
    assert f"proposals at no trial's cost: {rejected} broke the constraints" in out.stdout
    out = nas(
        "search",
        *TINY,
        "search.trials=10",
        "search.epochs_total=3",
        "hydra.run.dir=e",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "e" / "summary.json").read_text())
    assert (
        summary["stop_reason"] == "epochs_total"
        and summary["trials"] == 3
        and summary["epochs_total"] == 3
    )


@pytest.mark.slow
def test_the_seconds_budget_stops_the_search_and_says_so(nas, tmp_path):
    out = nas(
        "search", *TINY, "search.trials=200", "search.seconds=2", "hydra.run.dir=s", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["stop_reason"] == "seconds" and 1 <= summary["trials"] < 200


def test_peak_activation_memory_is_the_largest_layer_input_plus_output():
    from torch import nn

    from nascli.hardware.cost import peak_activation_mb

    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 10))
    # conv: 1x8x8 in + 4x8x8 out floats; relu: 2 x 4x8x8; linear: 256 in + 10 out.
    expected = max(64 + 256, 256 + 256, 256 + 10) * 4 / 2**20
    assert peak_activation_mb(net, (1, 8, 8)) == expected


def test_satisfies_applies_every_constraint_including_the_accuracy_floor():
    from nascli.core.constraints import satisfies

    m = {"val_acc": 0.9, "params": 100, "flops": 1000, "latency_ms": 2.0, "memory_mb": 0.5}
    assert satisfies(m, {"max_params": 100, "max_latency_ms": 2.0, "min_accuracy": 0.9})
    assert not satisfies(m, {"max_latency_ms": 1.9})
    assert not satisfies(m, {"max_memory_mb": 0.4})
    assert not satisfies(m, {"min_accuracy": 0.95})
    assert satisfies(m, {"max_params": None, "min_accuracy": None})


@pytest.mark.slow
def test_a_constrained_search_never_reports_a_violating_architecture(nas, tmp_path):
    # Loose enough for a loaded machine (digits cells run in about 1 ms): a rejected proposal is
    # fine, a search with none accepted would not test the reporting.
    limits = {"max_latency_ms": 10.0, "max_memory_mb": 0.05, "min_accuracy": 0.5}
    out = nas(
        "search",
        "search.trials=6",
        "estimator.epochs=1",
        "logger=none",
        "search.objectives=[val_acc,latency_ms]",
        *(f"constraints.{k}={v}" for k, v in limits.items()),
        "hydra.run.dir=run",
        "format=json",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    reported = [summary["best"]] if summary["best"] else []
    reported += [{"metrics": p} for p in (summary.get("pareto") or {}).get("front", [])]
    for r in reported:
        m = r["metrics"]
        assert m["latency_ms"] <= 10.0 and m["val_acc"] >= 0.5
        assert m.get("memory_mb", 0) <= 0.05
