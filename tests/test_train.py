"""`nas train`, `nas evaluate`, the export bundle and `nascli.load`, on the embedded digits data."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import nascli
from nascli.cli.inherit import inherit
from nascli.core.errors import NascliError
from nascli.data.loader import Augment
from tests.conftest import NAS, TINY, assert_one_line_error, run_nas

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
QUICK = ["recipe.epochs=2", "logger=none"]

pytestmark = pytest.mark.slow


def _json(out: subprocess.CompletedProcess) -> dict:
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> Path:
    """A finished two-trial search on space=darts (not the default space, so inheritance shows)."""
    root = tmp_path_factory.mktemp("search")
    out = run_nas(
        "search",
        "space=darts",
        *TINY,
        "hydra.run.dir=s",
        "format=json",
        cwd=root,
    )
    assert out.returncode == 0, out.stderr
    return root / "s"


@pytest.fixture(scope="module")
def trained(searched) -> tuple[Path, dict]:
    root = searched.parent
    summary = _json(
        run_nas("train", f"arch={searched}", *QUICK, "hydra.run.dir=t", "format=json", cwd=root)
    )
    return root / "t", summary


def test_train_from_a_search_dir_brings_its_space_and_writes_the_bundle(searched, trained):
    run, summary = trained
    best = json.loads((searched / "best.json").read_text())
    meta = json.loads((run / "arch.json").read_text())
    assert meta["space"] == "darts" and meta["arch"] == best["arch"]
    # The digits preset of the darts space came along with the inherited choice.
    assert meta["space_config"]["channels"] == 8 and meta["space_config"]["layers"] == 5
    for name in ("model.pt", "arch.json", "config.yaml", "model.onnx", "MODEL_CARD.md", "cell.png"):
        assert (run / name).is_file(), name
    assert not (run / "model.onnx.data").exists()  # one self-contained file
    metrics = summary["best"]["metrics"]
    assert summary["status"] == "completed" and metrics["epochs"] == 2
    assert 0.0 <= metrics["test_acc"] <= 1.0 and metrics["params"] > 0 and metrics["flops"] > 0
    assert summary["onnx"]["passed"] is True and summary["onnx"]["max_abs_diff"] <= 1e-4
    card = (run / "MODEL_CARD.md").read_text()
    for fact in (
        best["arch"],
        f"{metrics['params']:,}",
        f"{100 * metrics['test_acc']:.2f} %",
        "seed 0",
    ):
        assert fact in card


def test_load_round_trips_and_onnxruntime_agrees_on_real_images(trained):
    import onnxruntime as ort

    from nascli.data.module import ImageDataModule

    run, summary = trained
    net = nascli.load(run)
    assert isinstance(net, torch.nn.Module) and not net.training
    data = ImageDataModule("digits", test_fraction=0.2)
    data.mean, data.std = torch.tensor(net.normalize["mean"]), torch.tensor(net.normalize["std"])
    x, y = next(iter(data.test_dataloader()))
    with torch.inference_mode():
        logits = net(x)
    session = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    onnx_logits = session.run(None, {"images": x.numpy()})[0]
    assert np.abs(onnx_logits - logits.numpy()).max() <= 1e-4
    # The loaded weights are the trained ones: the accuracy on the whole test split is the same.
    correct = sum(int((net(xb).argmax(1) == yb).sum()) for xb, yb in data.test_dataloader())
    assert correct / len(data.arrays.x_test) == pytest.approx(
        summary["best"]["metrics"]["test_acc"]
    )


def test_evaluate_reports_the_trained_models_test_accuracy(trained):
    run, summary = trained
    out = _json(run_nas("evaluate", f"run={run}", "format=json", "hydra.run.dir=e", cwd=run.parent))
    assert out["dataset"] == "digits"
    assert out["metrics"]["test_acc"] == pytest.approx(summary["best"]["metrics"]["test_acc"])
    assert out["metrics"]["params"] == summary["best"]["metrics"]["params"]
    assert (run.parent / "e" / "evaluate.json").is_file() and out["warnings"] == []


def test_evaluating_on_val_a_model_trained_on_train_val_warns(trained):
    run, _ = trained
    assert "train_on: train+val" in (run / "config.yaml").read_text()
    out = run_nas(
        "evaluate", f"run={run}", "split=val", "format=json", "hydra.run.dir=v", cwd=run.parent
    )
    assert out.returncode == 0, out.stderr
    assert "warning: split=val" in out.stderr and "train+val" in out.stderr
    assert "trained on train+val" in json.loads(out.stdout)["warnings"][0]


def test_ensemble_retrains_the_top_k_and_is_one_model_everywhere(searched):
    import onnxruntime as ort

    from nascli.data.module import ImageDataModule
    from nascli.nn.ensemble import Ensemble

    root = searched.parent
    summary = _json(
        run_nas(
            "train",
            f"run={searched}",
            "ensemble.top_k=2",
            *QUICK,
            "hydra.run.dir=ens",
            "format=json",
            cwd=root,
        )
    )
    ensemble = summary["ensemble"]
    assert ensemble["top_k"] == 2 and len(ensemble["members"]) == 2
    history = [json.loads(line) for line in (searched / "history.jsonl").read_text().splitlines()]
    ranked = sorted(history, key=lambda r: (-r["metrics"]["val_acc"], r["trial"]))
    assert [m["arch"] for m in ensemble["members"]] == [r["arch"] for r in ranked[:2]]
    # nascli.load gives one module; its accuracy is that of the members' averaged probabilities.
    net = nascli.load(root / "ens")
    assert isinstance(net, Ensemble) and net.arch == [r["arch"] for r in ranked[:2]]
    nets = [nascli.load(root / "ens" / "members" / str(k)) for k in range(2)]
    data = ImageDataModule("digits", test_fraction=0.2)
    data.mean = torch.tensor(nets[0].normalize["mean"])
    data.std = torch.tensor(nets[0].normalize["std"])
    correct = 0
    with torch.inference_mode():
        for x, y in data.test_dataloader():
            probs = sum(torch.softmax(n(x), 1) for n in nets) / 2
            assert torch.allclose(torch.softmax(net(x), 1), probs, atol=1e-6)
            correct += int((probs.argmax(1) == y).sum())
    assert ensemble["test_acc"] == pytest.approx(correct / len(data.arrays.x_test))
    member_params = sum(m["metrics"]["params"] for m in ensemble["members"])
    assert ensemble["metrics"]["params"] == member_params
    # The bundle's model.onnx is the averaged model.
    assert ensemble["onnx"]["passed"] is True
    x = next(iter(data.test_dataloader()))[0]
    session = ort.InferenceSession(
        str(root / "ens" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    with torch.inference_mode():
        assert np.abs(session.run(None, {"images": x.numpy()})[0] - net(x).numpy()).max() <= 1e-4
    assert "An ensemble of 2" in (root / "ens" / "MODEL_CARD.md").read_text()
    # nas evaluate takes the ensemble's run directory.
    out = _json(run_nas("evaluate", "run=ens", "format=json", "hydra.run.dir=ens_e", cwd=root))
    assert out["metrics"]["test_acc"] == pytest.approx(ensemble["test_acc"])
    assert out["arch"] == net.arch and out["metrics"]["params"] == member_params


def test_killed_training_resumes_to_the_uninterrupted_result(tmp_path):
    args = [f"arch={ARCH}", "recipe.epochs=6", "export.onnx=false", "logger=none", "format=json"]
    whole = _json(run_nas("train", *args, "hydra.run.dir=whole", cwd=tmp_path))
    proc = subprocess.Popen(
        [NAS, "train", *args, "hydra.run.dir=cut"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpt = tmp_path / "cut" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    epoch = torch.load(ckpt, weights_only=True)["epoch"]
    assert epoch < 5, "the kill came after training ended; nothing was resumed"
    resumed = _json(run_nas("train", "resume=cut", "format=json", cwd=tmp_path))
    assert resumed["resumed"] is True
    assert "Restored all states" in (tmp_path / "cut" / "train.log").read_text()
    # Saved at the end of the last epoch (epochs count from 0 in the checkpoint).
    assert torch.load(ckpt, weights_only=True)["epoch"] == 5
    assert resumed["best"]["metrics"]["test_acc"] == whole["best"]["metrics"]["test_acc"]


@pytest.mark.parametrize(
    "args,named",
    [
        ([], "arch"),
        ([f"arch={ARCH}", "run=somewhere"], "run="),
        ([f"arch={ARCH}", "ensemble.top_k=0"], "ensemble.top_k"),
        ([f"arch={ARCH}", "ensemble.top_k=2"], "ensemble.top_k"),
        ([f"arch={ARCH}", "recipe.train_on=everything"], "recipe.train_on"),
        ([f"arch={ARCH}", "recipe.epochs=0"], "recipe.epochs"),
        ([f"arch={ARCH}", "recipe.drop_path_prob=1.5"], "recipe.drop_path_prob"),
        (["run=missing_folder"], "missing_folder"),
        (["arch=|bogus~0|"], "bogus"),
        (["resume=missing_folder"], "resume"),
    ],
)
def test_train_bad_input_is_one_line(tmp_path, args, named):
    out = run_nas("train", *args, cwd=tmp_path)
    assert_one_line_error(out, named)


def test_evaluate_bad_input_is_one_line(trained, tmp_path):
    run, _ = trained
    for args, named in (
        ([], "run"),
        ([f"run={tmp_path}"], "arch.json"),
        ([f"run={run}", "dataset=fake"], "dataset"),
        ([f"run={run}", "split=train"], "split"),
    ):
        out = run_nas("evaluate", *args, cwd=tmp_path)
        assert_one_line_error(out, named)


def test_load_refuses_a_bundle_that_names_foreign_code(trained, tmp_path):
    run, _ = trained
    for name in ("model.pt", "arch.json"):
        (tmp_path / name).write_bytes((run / name).read_bytes())
    meta = json.loads((tmp_path / "arch.json").read_text())
    meta["space_config"]["_target_"] = "os.system"
    (tmp_path / "arch.json").write_text(json.dumps(meta))
    with pytest.raises(NascliError, match="only nascli.spaces"):
        nascli.load(tmp_path)


def _fake_run(folder: Path, choices: dict, overrides: list[str]) -> Path:
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "hydra.yaml").write_text(
        "hydra:\n  runtime:\n    choices:\n"
        + "".join(f"      {k}: {v}\n" for k, v in choices.items())
    )
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    return folder


def test_inherit_brings_space_and_dataset_and_the_user_wins(tmp_path):
    run = _fake_run(
        tmp_path / "r",
        {"space": "custom", "dataset": "cifar10", "strategy": "darts"},
        ["space.builder=my.mod:build", "dataset.root=/data", "search.trials=5", "seed=3"],
    )
    # The run's builder file is code: it is taken only when the user names it again.
    with pytest.raises(NascliError, match="give space.builder=my.mod:build on the command line"):
        inherit([f"arch={run}", "recipe.epochs=3"])
    got = inherit([f"arch={run}", "recipe.epochs=3", "space.builder=my.mod:build"])
    assert got[:3] == ["space=custom", "dataset=cifar10", "dataset.root=/data"]
    assert got[3:] == [f"arch={run}", "recipe.epochs=3", "space.builder=my.mod:build"]
    # A key the user gives wins; a group switched to another option drops the run's keys.
    got = inherit([f"arch={run}", "dataset.root=/mine", "space=nb201"])
    assert "dataset=cifar10" in got and "dataset.root=/data" not in got
    assert not any(a.startswith("space.builder") for a in got) and got.count("space=nb201") == 1
    # Arch text is not a run directory: nothing is added.
    assert inherit([f"arch={ARCH}"]) == [f"arch={ARCH}"]


def test_augment_crop_flip_cutout():
    gen = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.uint8).view(2, 1, 6, 6)
    assert torch.equal(Augment().before_normalise(x, gen), x) and not Augment()
    cropped = Augment(crop_padding=2).before_normalise(x, torch.Generator().manual_seed(1))
    assert cropped.shape == x.shape
    # Every crop is a 6x6 window of the zero-padded image.
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):
        windows = padded[i, 0].unfold(0, 6, 1).unfold(1, 6, 1).reshape(-1, 6, 6)
        assert any(torch.equal(w, cropped[i, 0]) for w in windows)
    flipped = Augment(hflip=True).before_normalise(x.repeat(16, 1, 1, 1), gen)
    same = [torch.equal(f, o) for f, o in zip(flipped, x.repeat(16, 1, 1, 1), strict=True)]
    mirrored = [
        torch.equal(f, o.flip(2)) for f, o in zip(flipped, x.repeat(16, 1, 1, 1), strict=True)
    ]
    assert all(s or m for s, m in zip(same, mirrored, strict=True)) and any(same) and any(mirrored)
    ones = torch.ones(64, 3, 8, 8)
    cut = Augment(cutout=4).after_normalise(ones, gen)
    holes = (cut == 0).all(1).sum((1, 2))
    assert holes.max() == 16 and holes.min() >= 4  # a full 4x4 square, or clipped at a border
    assert ((cut == 0).any(1) == (cut == 0).all(1)).all()  # the same pixels in every channel


def test_search_train_evaluate_report_end_to_end(searched, trained):
    """The acceptance path through the CLI: search -> train -> evaluate -> report."""
    root = searched.parent
    run, summary = trained
    _json(run_nas("evaluate", f"run={run}", "format=json", "hydra.run.dir=e2", cwd=root))
    report = _json(run_nas("report", "s", "t", "e2", "format=json", "hydra.run.dir=r", cwd=root))
    by_command = {r["command"]: r for r in report["rows"]}
    assert set(by_command) == {"search", "train", "evaluate"} and report["failed"] == 0
    test_acc = summary["best"]["metrics"]["test_acc"]
    assert by_command["train"]["metrics"]["test_acc"] == test_acc
    assert by_command["evaluate"]["metrics"]["test_acc"] == pytest.approx(test_acc)
    assert by_command["search"]["arch"] == by_command["train"]["arch"]
    assert report["metric"] == "test_acc"
    assert (root / "r" / "report.html").is_file()


def test_drop_path_rises_linearly_and_the_auxiliary_head_adds_its_loss():
    from types import SimpleNamespace

    from nascli.commands.train.run import DropPathSchedule
    from nascli.lit.classifier import Classifier
    from nascli.spaces.darts import DartsSpace

    net = DartsSpace(channels=8, layers=5, auxiliary=True).build("DARTS_V2", (3, 32, 32), 10)
    module = SimpleNamespace(net=net)
    schedule = DropPathSchedule(0.2, epochs=10)
    seen = []
    for epoch in range(10):
        schedule.on_train_epoch_start(SimpleNamespace(current_epoch=epoch), module)
        seen.append(net.drop_path_prob)
    assert seen == pytest.approx([0.02 * e for e in range(10)])

    torch.manual_seed(0)
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    net.drop_path_prob = 0.0
    losses = {}
    for weight in (0.0, 0.4):
        clf = Classifier(net, torch.optim.SGD, auxiliary_weight=weight)
        clf.train()
        torch.manual_seed(1)
        losses[weight] = clf.training_step((x, y), 0).item()
    logits, aux = net.train()(x)
    expected_aux = torch.nn.functional.cross_entropy(aux, y).item()
    assert losses[0.4] - losses[0.0] == pytest.approx(0.4 * expected_aux, rel=1e-4)


def test_a_trainer_lightning_would_refuse_is_refused_before_any_trial():
    from nascli.estimators.train import check_trainer

    check_trainer({"accelerator": "cpu", "devices": 1, "channels_last": True})
    with pytest.raises(NascliError, match="trainer.foo is not an argument"):
        check_trainer({"accelerator": "cpu", "foo": 1})
    if not torch.cuda.is_available():
        with pytest.raises(NascliError, match="trainer.accelerator=gpu: no CUDA device"):
            check_trainer({"accelerator": "gpu", "devices": 1})
