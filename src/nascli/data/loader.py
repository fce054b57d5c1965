"""Batches straight from in-memory tensors: no per-sample collate, which dominates tiny models."""

from __future__ import annotations

from collections.abc import Iterator

import torch


class TensorLoader:
    """Iterate (images, labels) batches; uint8 images become normalised float32 per batch.

    Shuffling is seeded and changes every epoch (seed + epoch), so runs repeat exactly.
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
    ) -> None:
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.mean, self.std = mean.view(1, -1, 1, 1), std.view(1, -1, 1, 1)
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.x)
        if self.shuffle:
            order = torch.randperm(
                n, generator=torch.Generator().manual_seed(self.seed + self.epoch)
            )
        else:
            order = torch.arange(n)
        self.epoch += 1
        for i in range(len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            yield self.normalise(self.x[idx]), self.y[idx]

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        return (images.float().div_(255.0) - self.mean) / self.std


class PairedLoader:
    """Zip two loaders batch by batch (one-shot search: a weight batch and an architecture batch);
    an epoch lasts as long as the shorter one."""

    def __init__(self, first: TensorLoader, second: TensorLoader) -> None:
        self.first, self.second = first, second

    def __len__(self) -> int:
        return min(len(self.first), len(self.second))

    def __iter__(self) -> Iterator[tuple[tuple[torch.Tensor, torch.Tensor], ...]]:
        return zip(self.first, self.second, strict=False)

    def set_epoch(self, epoch: int) -> None:
        """Continue the shuffling sequence at `epoch` (resuming from a checkpoint)."""
        self.first.epoch = self.second.epoch = epoch
