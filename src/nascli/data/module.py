"""A LightningDataModule over any source in nascli.data.sources, with seeded train/val splits."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch

from nascli.core.errors import NascliError
from nascli.data import sources
from nascli.data.loader import Augment, PairedLoader, TensorLoader


class ImageDataModule(pl.LightningDataModule):
    """train / val / test splits: val is a seeded fraction of the training set; test is held out.

    Args:
        source: the name of a loader function in nascli.data.sources (the dataset config names it).
        val_fraction: share of the training images moved to the validation split.
        source_kwargs: passed to the loader (root, download, image_size, ...).
    """

    def __init__(
        self,
        source: str,
        seed: int = 0,
        batch_size: int = 64,
        val_fraction: float = 0.2,
        eval_batch_size: int = 512,
        **source_kwargs: Any,
    ) -> None:
        super().__init__()
        if not hasattr(sources, source) or source.startswith("_"):
            raise NascliError(
                f"dataset.source={source} is not a known loader in nascli.data.sources"
            )
        self.source, self.seed, self.batch_size = source, seed, batch_size
        self.val_fraction, self.eval_batch_size = val_fraction, eval_batch_size
        self.source_kwargs = source_kwargs
        self._arrays: sources.Arrays | None = None

    def setup(self, stage: str | None = None) -> None:
        if self._arrays is not None:
            return
        arrays = getattr(sources, self.source)(**self.source_kwargs)
        perm = torch.randperm(
            len(arrays.x_train), generator=torch.Generator().manual_seed(self.seed)
        )
        n_val = max(1, round(len(perm) * self.val_fraction))
        self.val_idx, self.train_idx = perm[:n_val], perm[n_val:]
        # Per-channel statistics of the training split only.
        train = arrays.x_train[self.train_idx].float().div(255.0)
        self.mean = train.mean(dim=(0, 2, 3))
        self.std = train.std(dim=(0, 2, 3)).clamp_min(1e-3)
        self._arrays = arrays

    @property
    def arrays(self) -> sources.Arrays:
        self.setup()
        assert self._arrays is not None
        return self._arrays

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.arrays.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return self.arrays.num_classes

    def sizes(self) -> dict[str, int]:
        self.setup()
        return {
            "train": len(self.train_idx),
            "val": len(self.val_idx),
            "test": len(self.arrays.x_test),
        }

    def _loader(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        train: bool,
        seed_offset: int = 0,
        augment: Augment | None = None,
    ) -> TensorLoader:
        return TensorLoader(
            x,
            y,
            self.batch_size if train else self.eval_batch_size,
            self.mean,
            self.std,
            shuffle=train,
            seed=self.seed + seed_offset,
            augment=augment,
        )

    def full_train_dataloader(
        self, seed_offset: int = 0, augment: Augment | None = None
    ) -> TensorLoader:
        """The whole training set, train and val splits together (final retraining, as papers do)."""
        a = self.arrays
        return self._loader(a.x_train, a.y_train, True, seed_offset, augment)

    def train_dataloader(
        self, seed_offset: int = 0, augment: Augment | None = None
    ) -> TensorLoader:
        a = self.arrays
        return self._loader(
            a.x_train[self.train_idx], a.y_train[self.train_idx], True, seed_offset, augment
        )

    def halves_dataloader(self) -> PairedLoader:
        """The training split cut in two by a seeded shuffle, batched side by side: (weights half,
        architecture half), as one-shot search (DARTS) alternates between them."""
        a = self.arrays
        order = self.train_idx[
            torch.randperm(
                len(self.train_idx), generator=torch.Generator().manual_seed(self.seed + 1)
            )
        ]
        half = len(order) // 2
        w, arch = order[:half], order[half : 2 * half]
        return PairedLoader(
            self._loader(a.x_train[w], a.y_train[w], True, 0),
            self._loader(a.x_train[arch], a.y_train[arch], True, 1),
        )

    def val_dataloader(self) -> TensorLoader:
        a = self.arrays
        return self._loader(a.x_train[self.val_idx], a.y_train[self.val_idx], False)

    def test_dataloader(self) -> TensorLoader:
        a = self.arrays
        return self._loader(a.x_test, a.y_test, False)


class RowsLoader(TensorLoader):
    """TensorLoader whose batches are sequences: image (B, C, H, W) -> (B, H, C * W), one row a
    time step, its pixels (of every channel) the step's features."""

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        x = super().normalise(images)
        b, c, h, w = x.shape
        return x.permute(0, 2, 1, 3).reshape(b, h, c * w)


class SequenceDataModule(ImageDataModule):
    """Sequence classification over an image source read row by row, as sequential MNIST is:
    H time steps of C x W features each (the digits: 8 steps of 8). Splits, seeds and
    normalisation are ImageDataModule's."""

    task = "sequence"

    def __init__(self, source: str, task: str = "sequence", **kwargs: Any) -> None:
        if task != "sequence":
            raise NascliError(f"dataset.task={task}: images read row by row are for task sequence")
        super().__init__(source, **kwargs)

    @property
    def input_shape(self) -> tuple[int, int]:  # type: ignore[override]
        c, h, w = self.arrays.x_train.shape[1:]
        return (h, c * w)

    def _loader(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        train: bool,
        seed_offset: int = 0,
        augment: Augment | None = None,
    ) -> TensorLoader:
        if augment:
            raise NascliError(
                "a sequence dataset takes no image augmentation: leave the recipe's "
                "crop_padding, hflip and cutout at 0"
            )
        return RowsLoader(
            x,
            y,
            self.batch_size if train else self.eval_batch_size,
            self.mean,
            self.std,
            shuffle=train,
            seed=self.seed + seed_offset,
        )
