"""estimator=nb201: NAS-Bench-201's own .pth file, read through the nas-bench-201 package.

The tests write a tiny file in the published layout: {meta_archs, arch2infos, evaluated_indexes},
each architecture's `less` (12-epoch) and `full` (200-epoch) results as ArchResults state dicts
holding one ResultsCount state dict per (dataset, seed). Accuracies are percentages, params and
FLOPs millions, latency seconds, times seconds per epoch.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from nascli.spaces.nb201 import NB201Space
from tests.conftest import assert_one_line_error, run_nas

pytest.importorskip("nas_201_api")

from nascli.core.errors import NascliError  # noqa: E402
from nascli.estimators.nb201 import NB201Estimator  # noqa: E402

SEEDS = (777, 888)


def val_acc(arch: str, epochs: int, seed: int, iepoch: int) -> float:
    """A made-up but architecture-dependent curve: 3x3 convolutions help, a seed shifts it."""
    return 40 + 6 * arch.count("conv_3x3") + 2 * iepoch / epochs + (seed == 888)


def final_test_acc(arch: str) -> float:
    return 50 + 7 * arch.count("conv_3x3")


def _trial(arch, index, dataset, seed, epochs, eval_names):
    evals = {}
    for name in eval_names:
        for e in range(epochs):
            acc = final_test_acc(arch) if name != "x-valid" else val_acc(arch, epochs, seed, e)
            evals.setdefault("acc", {})[f"{name}@{e}"] = acc
            evals.setdefault("loss", {})[f"{name}@{e}"] = 1.0 - acc / 100
            evals.setdefault("time", {})[f"{name}@{e}"] = 0.5
    return {
        "name": dataset,
        "net_state_dict": None,
        "train_acc1es": {e: 60.0 for e in range(epochs)},
        "train_acc5es": {e: 90.0 for e in range(epochs)},
        "train_losses": {e: 1.0 for e in range(epochs)},
        "train_times": {e: 10.0 + index for e in range(epochs)},
        "arch_config": {"arch_str": arch, "channel": 16, "num_cells": 5, "class_num": 10},
        "params": 0.1 + 0.2 * arch.count("conv"),
        "flop": 10.0 + 20 * arch.count("conv"),
        "seed": seed,
        "epochs": epochs,
        "latency": [0.004, 0.006],
        "eval_names": list(eval_names),
        "eval_acc1es": evals["acc"],
        "eval_times": evals["time"],
        "eval_losses": evals["loss"],
    }


def _arch_results(arch: str, index: int, epochs: int) -> dict:
    sets = {"cifar10-valid": ("x-valid", "ori-test"), "cifar10": ("ori-test",)}
    all_results, seeds = {}, {}
    for dataset, names in sets.items():
        seeds[dataset] = list(SEEDS if dataset == "cifar10-valid" else SEEDS[:1])
        for seed in seeds[dataset]:
            all_results[(dataset, seed)] = _trial(arch, index, dataset, seed, epochs, names)
    return {
        "arch_index": index,
        "arch_str": arch,
        "all_results": all_results,
        "dataset_seed": seeds,
        "clear_net_done": True,
    }


def write_nb201_file(path: Path, archs: list[str], evaluated: int) -> Path:
    """All `archs` named, the first `evaluated` of them with results (as a partial archive)."""
    infos = {
        i: {"less": _arch_results(a, i, 12), "full": _arch_results(a, i, 200)}
        for i, a in enumerate(archs[:evaluated])
    }
    torch.save({"meta_archs": archs, "arch2infos": infos, "evaluated_indexes": sorted(infos)}, path)
    return path


@pytest.fixture(scope="module")
def nb201_file(tmp_path_factory) -> tuple[Path, list[str]]:
    space = NB201Space()
    rng = random.Random(0)
    archs = list(dict.fromkeys(space.sample(rng) for _ in range(40)))
    path = write_nb201_file(tmp_path_factory.mktemp("nb201") / "tiny.pth", archs, evaluated=12)
    return path, archs


def test_a_query_reads_the_12_epoch_validation_and_the_200_epoch_test(nb201_file):
    path, archs = nb201_file
    est = NB201Estimator(str(path))
    arch = archs[3]
    got = est.evaluate_arch(arch, NB201Space(), None, seed=5)
    seed = random.Random("5:3").choice(list(SEEDS))
    assert got["val_acc"] == pytest.approx(val_acc(arch, 12, seed, 11) / 100)
    assert got["test_acc"] == pytest.approx(final_test_acc(arch) / 100)
    # twelve epochs of 13 s (index 3) and one 0.5 s validation pass, as simulate_train_eval
    assert got["simulated_seconds"] == pytest.approx(12 * 13.0 + 0.5)
    assert got["params"] == round((0.1 + 0.2 * arch.count("conv")) * 1e6)
    assert got["latency_ms"] == pytest.approx(5.0)
    early = NB201Estimator(str(path), epochs=4).evaluate_arch(arch, NB201Space(), None, seed=5)
    assert early["val_acc"] == pytest.approx(val_acc(arch, 12, seed, 3) / 100)
    assert early["simulated_seconds"] == pytest.approx(4 * 13.0 + 0.5)
    assert est.missing(archs[20], NB201Space()) is not None  # named, not evaluated
    assert est.missing(arch, NB201Space()) is None


@pytest.mark.parametrize(
    "kwargs,named",
    [
        ({"dataset": "cifar10"}, "estimator.dataset"),
        ({"hp": 100}, "estimator.hp"),
        ({"epochs": 13}, "estimator.epochs"),
        ({"file": "nowhere.pth"}, "nowhere.pth"),
        ({"weights_only": False}, "estimator.weights_only"),
    ],
)
def test_bad_settings_name_their_key(nb201_file, kwargs, named):
    with pytest.raises(NascliError, match=named.replace(".", r"\.")):
        NB201Estimator(**{"file": str(nb201_file[0]), **kwargs})


class _Payload:
    """A pickle that runs a command when it is loaded without weights_only."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_file_that_would_run_code_is_refused_in_one_line(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    torch.save({"meta_archs": [], "arch2infos": {}, "x": _Payload(marker)}, path)
    with pytest.raises(NascliError) as refused:
        NB201Estimator(str(path))
    assert "never unpickles" in str(refused.value) and "\n" not in str(refused.value)
    assert not marker.exists()


@pytest.mark.slow
def test_a_search_over_the_file_finds_its_best_evaluated_cell(nb201_file):
    path, archs = nb201_file
    out = run_nas(
        "search",
        "strategy=random",
        "estimator=nb201",
        f"bench.file={path}",
        "search.trials=10",
        "logger=none",
        "format=json",
        "hydra.run.dir=run",
        cwd=path.parent,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    trials = [
        json.loads(line)
        for line in (path.parent / "run" / "history.jsonl").read_text().splitlines()
    ]
    assert {t["arch"] for t in trials} <= set(archs[:12])  # only cells the file has results for
    best_val = max(t["metrics"]["val_acc"] for t in trials)
    assert summary["best"]["metrics"]["val_acc"] == best_val
    assert summary["simulated_seconds"] == pytest.approx(sum(t["seconds"] for t in trials), 1e-3)
    # nas report measures regret to the file's best test accuracy, 200-epoch numbers
    out = run_nas(
        "report", "run", "budgets=[100]", "format=json", "hydra.run.dir=rep", cwd=path.parent
    )
    assert out.returncode == 0, out.stderr
    m = json.loads(out.stdout.strip().splitlines()[-1])["rows"][0]["metrics"]
    optimum = max(final_test_acc(a) for a in archs[:12]) / 100
    assert m["table_optimum"] == pytest.approx(optimum)
    chosen = max(trials, key=lambda t: (t["metrics"]["val_acc"], -t["trial"]))
    assert m["regret@final"] == pytest.approx(optimum - chosen["metrics"]["test_acc"])
    assert m["test_acc@100s"] is None  # every query charges more than 100 simulated seconds


@pytest.mark.slow
@pytest.mark.parametrize(
    "args,named",
    [
        (["estimator=nb201"], "bench.file"),
        (["estimator=nb201", "bench.file=tiny.pth", "space=darts"], "space"),
        (["estimator=nb201", "bench.file=tiny.pth", "estimator.dataset=svhn"], "estimator.dataset"),
        (["estimator=nb201", "bench.file=junk.pth"], "junk.pth"),
    ],
)
def test_nb201_search_bad_input(nb201_file, args, named):
    root = nb201_file[0].parent
    (root / "junk.pth").write_text("not a torch file " * 50)
    out = run_nas("search", *args, cwd=root)
    assert_one_line_error(out, named)
