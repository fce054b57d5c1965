"""Datasets too large to hold in memory (ImageNet): DataLoader workers read, decode, crop and
normalise the images from disk batch by batch, with the same interface as ImageDataModule.

The training folder is split into train and val by a seeded shuffle (as for the small datasets);
the published validation set is the test split, as ImageNet papers report it. Training batches
use random-resized crops and flips; val and test resize the short side and take the centre crop.
Shuffling and augmentation are seeded by (seed, epoch), so runs repeat.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from nascli.core.errors import NascliError
from nascli.data.loader import PairedLoader

# ImageNet's per-channel statistics, as every ImageNet model is normalised with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _transforms(image_size: int, resize: int) -> tuple[Any, Any]:
    from torchvision import transforms as T

    norm = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    train = T.Compose(
        [T.RandomResizedCrop(image_size), T.RandomHorizontalFlip(), T.ToTensor(), norm]
    )
    evaluate = T.Compose([T.Resize(resize), T.CenterCrop(image_size), T.ToTensor(), norm])
    return train, evaluate


def _open_imagenet(root: str, split: str, transform: Any) -> Any:
    """torchvision's ImageNet where the devkit (or its meta.bin) is there; else a plain tree of
    class folders, `<root>/train/<class>/` and `<root>/val/<class>/` (classes by folder name)."""
    import torchvision.datasets as tvd

    where = Path(root).expanduser()
    has_devkit = (where / "meta.bin").is_file() or (
        where / "ILSVRC2012_devkit_t12.tar.gz"
    ).is_file()
    if not has_devkit and (where / split).is_dir():
        try:
            return tvd.ImageFolder(str(where / split), transform=transform)
        except (RuntimeError, FileNotFoundError, OSError) as exc:
            raise NascliError(
                f"dataset.root={where}: {split}/ holds no class folders with images "
                f"({str(exc).splitlines()[0]})"
            ) from exc
    try:
        return tvd.ImageNet(str(where), split=split, transform=transform)
    except (RuntimeError, FileNotFoundError, OSError) as exc:
        raise NascliError(
            f"dataset.root={where}: no ImageNet there ({str(exc).splitlines()[0]}); put "
            "ILSVRC2012_devkit_t12.tar.gz (or the meta.bin torchvision makes from it) and the "
            "train/ and val/ class folders (or ILSVRC2012_img_train.tar and _val.tar) in it"
        ) from exc


class _SeededItems(Dataset):
    """`dataset` at `indices`, each item transformed under its own seed, so the random crops and
    flips repeat whatever the number of worker processes (torchvision draws them from torch's
    global generator)."""

    def __init__(self, dataset: Any, indices: list[int], seed: int) -> None:
        self.dataset, self.indices, self.seed = dataset, indices, seed

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Any:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * 1_000_003 + i)
            return self.dataset[self.indices[i]]


class FileLoader:
    """(images, labels) batches of `indices` of a dataset on disk; `batch_size` and `epoch` may
    be set between epochs (the shuffle and the crops follow seed + epoch)."""

    def __init__(
        self,
        dataset: Any,
        indices: torch.Tensor,
        batch_size: int,
        shuffle: bool,
        seed: int,
        workers: int,
    ) -> None:
        self.dataset, self.indices = dataset, indices
        self.batch_size, self.shuffle, self.seed, self.workers = batch_size, shuffle, seed, workers
        self.epoch = 0
        self.rank, self.world = 0, 1  # see PairedLoader.shard

    def __len__(self) -> int:
        return -(-len(self.indices) // self.batch_size) // self.world

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.indices
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed + self.epoch)
            order = order[torch.randperm(len(order), generator=gen)]
        if self.world > 1:  # this rank's batches: every world-th of the order, from rank
            b = self.batch_size
            order = torch.cat(
                [
                    order[i * b : (i + 1) * b]
                    for i in range(self.rank, self.world * len(self), self.world)
                ]
            )
        loader = DataLoader(
            _SeededItems(self.dataset, order.tolist(), self.seed + self.epoch + 7919),
            batch_size=self.batch_size,
            num_workers=self.workers,
            pin_memory=torch.cuda.is_available(),
        )
        self.epoch += 1
        yield from loader


class StreamingImageDataModule(pl.LightningDataModule):
    """ImageNet (torchvision's ImageNet layout under `root`) streamed from disk.

    Args:
        val_fraction: share of the training folder held out as the val split.
        image_size: the crop fed to the network (224 in the papers).
        resize: the short side val/test images are resized to before the centre crop.
        workers: DataLoader worker processes reading images.
    """

    def __init__(
        self,
        root: str,
        seed: int = 0,
        batch_size: int = 128,
        eval_batch_size: int = 256,
        val_fraction: float = 0.01,
        image_size: int = 224,
        resize: int = 256,
        workers: int = 4,
        **_: Any,
    ) -> None:
        super().__init__()
        if not 0 < val_fraction < 1:
            raise NascliError(f"dataset.val_fraction={val_fraction} must be between 0 and 1")
        self.root, self.seed, self.batch_size = root, seed, batch_size
        self.eval_batch_size, self.val_fraction = eval_batch_size, val_fraction
        self.image_size, self.resize, self.workers = image_size, resize, workers
        self.mean, self.std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        self._ready = False

    def setup(self, stage: str | None = None) -> None:
        if self._ready:
            return
        train_tf, eval_tf = _transforms(self.image_size, self.resize)
        self.train_set = _open_imagenet(self.root, "train", train_tf)
        self.train_eval_set = _open_imagenet(self.root, "train", eval_tf)
        self.test_set = _open_imagenet(self.root, "val", eval_tf)
        n = len(self.train_set)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed))
        n_val = max(1, round(n * self.val_fraction))
        self.val_idx, self.train_idx = perm[:n_val], perm[n_val:]
        self._ready = True

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (3, self.image_size, self.image_size)

    @property
    def num_classes(self) -> int:
        self.setup()
        return len(self.train_set.classes)

    def sizes(self) -> dict[str, int]:
        self.setup()
        return {"train": len(self.train_idx), "val": len(self.val_idx), "test": len(self.test_set)}

    def _loader(self, dataset, indices, train: bool, seed_offset: int = 0) -> FileLoader:
        size = self.batch_size if train else self.eval_batch_size
        return FileLoader(dataset, indices, size, train, self.seed + seed_offset, self.workers)

    def train_dataloader(self, seed_offset: int = 0, augment: Any = None) -> FileLoader:
        # `augment` (the small datasets' pad-crop, flip, cutout) is replaced here by ImageNet's
        # random-resized crops and flips.
        self.setup()
        return self._loader(self.train_set, self.train_idx, True, seed_offset)

    def full_train_dataloader(self, seed_offset: int = 0, augment: Any = None) -> FileLoader:
        """The whole training folder, train and val splits together (final retraining)."""
        self.setup()
        return self._loader(self.train_set, torch.arange(len(self.train_set)), True, seed_offset)

    def halves_dataloader(self) -> PairedLoader:
        self.setup()
        order = self.train_idx[
            torch.randperm(
                len(self.train_idx), generator=torch.Generator().manual_seed(self.seed + 1)
            )
        ]
        half = len(order) // 2
        return PairedLoader(
            self._loader(self.train_set, order[:half], True, 0),
            self._loader(self.train_set, order[half : 2 * half], True, 1),
        )

    def val_dataloader(self) -> FileLoader:
        self.setup()
        return self._loader(self.train_eval_set, self.val_idx, False)

    def test_dataloader(self) -> FileLoader:
        self.setup()
        return self._loader(self.test_set, torch.arange(len(self.test_set)), False)
