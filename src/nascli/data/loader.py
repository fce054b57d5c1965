"""Batches straight from in-memory tensors: no per-sample collate, which dominates tiny models."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch


class Augment:
    """Batch-wise training augmentation on uint8 images: random crop after zero padding, horizontal
    flip, and cutout (a square of side `cutout` zeroed after normalisation, its centre anywhere in
    the image, clipped at the border), as the DARTS evaluation recipe uses them."""

    def __init__(self, crop_padding: int = 0, hflip: bool = False, cutout: int = 0) -> None:
        self.crop_padding, self.hflip, self.cutout = int(crop_padding), bool(hflip), int(cutout)

    def __bool__(self) -> bool:
        return bool(self.crop_padding or self.hflip or self.cutout)

    def before_normalise(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, _, h, w = x.shape
        p = self.crop_padding
        if p:
            padded = torch.nn.functional.pad(x, (p, p, p, p))
            dy = torch.randint(0, 2 * p + 1, (n,), generator=gen)
            dx = torch.randint(0, 2 * p + 1, (n,), generator=gen)
            rows = (dy[:, None] + torch.arange(h))[:, None, :, None]
            cols = (dx[:, None] + torch.arange(w))[:, None, None, :]
            x = padded[
                torch.arange(n)[:, None, None, None],
                torch.arange(x.shape[1])[None, :, None, None],
                rows,
                cols,
            ]
        if self.hflip:
            flip = torch.rand(n, generator=gen) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        return x

    def after_normalise(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if not self.cutout:
            return x
        n, _, h, w = x.shape
        cy = torch.randint(0, h, (n,), generator=gen)[:, None, None]
        cx = torch.randint(0, w, (n,), generator=gen)[:, None, None]
        half = self.cutout // 2
        ys, xs = torch.arange(h)[None, :, None], torch.arange(w)[None, None, :]
        hole = (ys >= cy - half) & (ys < cy + self.cutout - half)
        hole = hole & (xs >= cx - half) & (xs < cx + self.cutout - half)
        return x.masked_fill(hole[:, None], 0.0)


class TensorLoader:
    """Iterate (images, labels) batches; uint8 images become normalised float32 per batch.

    Shuffling (and augmentation, when given) is seeded and changes every epoch (seed + epoch), so
    runs repeat exactly.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        mean: torch.Tensor,
        std: torch.Tensor,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        augment: Augment | None = None,
    ) -> None:
        self.x, self.y = x, y
        self.augment = augment if augment else None
        self.batch_size = batch_size
        self.mean, self.std = mean.view(1, -1, 1, 1), std.view(1, -1, 1, 1)
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.epoch = 0
        self.rank, self.world = 0, 1  # see PairedLoader.shard

    def __len__(self) -> int:
        n = len(self.x)
        batches = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return batches // self.world

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.x)
        if self.shuffle:
            order = torch.randperm(
                n, generator=torch.Generator().manual_seed(self.seed + self.epoch)
            )
        else:
            order = torch.arange(n)
        gen = torch.Generator().manual_seed(self.seed + self.epoch + 7919)
        self.epoch += 1
        for i in range(self.rank, self.world * len(self), self.world):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            if self.augment is None:
                yield self.normalise(self.x[idx]), self.y[idx]
            else:
                images = self.augment.before_normalise(self.x[idx], gen)
                yield self.augment.after_normalise(self.normalise(images), gen), self.y[idx]

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        return (images.float().div_(255.0) - self.mean) / self.std


class PairedLoader:
    """Zip two loaders batch by batch (one-shot search: a weight batch and an architecture batch);
    an epoch lasts as long as the shorter one. Any loader with an `epoch` attribute will do
    (TensorLoader, or streaming.FileLoader for datasets read from disk)."""

    def __init__(self, first: Any, second: Any) -> None:
        self.first, self.second = first, second

    def __len__(self) -> int:
        return min(len(self.first), len(self.second))

    def __iter__(self) -> Iterator[tuple[tuple[torch.Tensor, torch.Tensor], ...]]:
        return zip(self.first, self.second, strict=False)

    def set_epoch(self, epoch: int) -> None:
        """Continue the shuffling sequence at `epoch` (resuming from a checkpoint)."""
        self.first.epoch = self.second.epoch = epoch

    def shard(self, rank: int, world: int) -> None:
        """Data-parallel training: this process takes every `world`-th batch pair of the seeded
        order, from `rank`, and every process as many (they step in lockstep, so a remainder of
        fewer than `world` batches is left out)."""
        for loader in (self.first, self.second):
            loader.rank, loader.world = rank, world
