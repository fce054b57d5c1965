"""dataset=imagenet: ImageNet streamed from disk, read by torchvision's own ImageNet class from a
tiny tree in its real layout (meta.bin, train/<wnid>/*.JPEG, val/<wnid>/*.JPEG)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from nascli.core.errors import NascliError
from nascli.data.streaming import StreamingImageDataModule
from tests.conftest import run_nas

WNIDS = {"n01440764": ("tench",), "n01443537": ("goldfish",), "n01484850": ("great white shark",)}
SMALL = ["dataset.image_size=32", "dataset.resize=36", "dataset.workers=0"]


def write_imagenet(root: Path, train_per_class: int = 8, val_per_class: int = 3) -> Path:
    g = torch.Generator().manual_seed(0)
    torch.save((dict(WNIDS), []), root / "meta.bin")  # what torchvision makes from the devkit
    for split, n in (("train", train_per_class), ("val", val_per_class)):
        for c, wnid in enumerate(WNIDS):
            folder = root / split / wnid
            folder.mkdir(parents=True)
            for i in range(n):
                base = torch.zeros(3, 48, 40)
                base[c] = 200  # one colour per class, noise on top
                pixels = (base + 40 * torch.rand(3, 48, 40, generator=g)).clamp(0, 255)
                img = Image.fromarray(pixels.byte().permute(1, 2, 0).numpy())
                img.save(folder / f"{wnid}_{i}.JPEG", quality=90)
    return root


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory) -> Path:
    return write_imagenet(tmp_path_factory.mktemp("imagenet"))


def test_splits_shapes_and_seeded_batches(imagenet):
    data = StreamingImageDataModule(
        str(imagenet), batch_size=4, val_fraction=0.25, image_size=32, resize=36, workers=0
    )
    assert data.sizes() == {"train": 18, "val": 6, "test": 9}
    assert data.input_shape == (3, 32, 32) and data.num_classes == 3
    loader = data.train_dataloader()
    x, y = next(iter(loader))
    assert x.shape == (4, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert -3 < x.mean() < 3  # normalised
    loader.epoch = 0
    first = [b[1].tolist() for b in loader]  # epoch 0
    loader.epoch = 1  # the same epoch twice: the same order and the same crops
    again = data.train_dataloader()
    again.epoch = 1
    a, b = list(loader), list(again)
    assert all(torch.equal(p[0], q[0]) for p, q in zip(a, b, strict=True))
    assert [q[1].tolist() for q in b] != first  # a new epoch reshuffles
    test = torch.cat([b[1] for b in data.test_dataloader()])
    assert sorted(test.tolist()) == [0] * 3 + [1] * 3 + [2] * 3
    halves = data.halves_dataloader()
    (wx, _), (ax, _) = next(iter(halves))
    assert wx.shape == ax.shape == (4, 3, 32, 32)


def test_a_plain_tree_of_class_folders_works_without_the_devkit(tmp_path):
    root = write_imagenet(tmp_path)
    (root / "meta.bin").unlink()
    data = StreamingImageDataModule(str(root), val_fraction=0.25, image_size=32, workers=0)
    assert data.sizes() == {"train": 18, "val": 6, "test": 9} and data.num_classes == 3
    assert data.train_set.classes == sorted(WNIDS)  # folder names, as ImageFolder reads them


def test_a_missing_imagenet_is_one_clear_error(tmp_path):
    with pytest.raises(NascliError, match="dataset.root"):
        StreamingImageDataModule(str(tmp_path)).setup()


@pytest.mark.slow
def test_search_and_retrain_on_imagenet_layout(imagenet, tmp_path):
    common = [
        "dataset=imagenet",
        f"dataset.root={imagenet}",
        "dataset.val_fraction=0.25",
        *SMALL,
        "logger=none",
        "format=json",
    ]
    out = run_nas(
        "search",
        *common,
        "space.cells_per_stage=1",
        "search.trials=2",
        "estimator.epochs=1",
        "hydra.run.dir=s",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["status"] == "completed" and summary["trials"] == 2
    out = run_nas(
        "train",
        "space=darts",
        "arch=DARTS_V2",
        *common,
        "space.channels=8",
        "space.layers=5",
        "recipe.epochs=1",
        "hydra.run.dir=t",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    trained = json.loads(out.stdout)
    assert 0 <= trained["best"]["metrics"]["test_acc"] <= 1
    config = (tmp_path / "t" / "config.yaml").read_text()
    assert "imagenet_stem: true" in config and "label_smoothing: 0.1" in config
