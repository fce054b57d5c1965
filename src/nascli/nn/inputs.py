"""An input a network can run on, for counting and timing it: images, or token ids."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def example_input(
    net: nn.Module,
    input_shape: Sequence[int],
    batch_size: int = 1,
    device: torch.device | str | None = None,
    random: bool = False,
) -> torch.Tensor:
    """(batch_size, *input_shape): zeros (or standard normal with `random`) for a network of
    images or features; token id 0 for one that declares `takes_tokens` (a language model),
    whose input_shape is (sequence length,)."""
    if getattr(net, "takes_tokens", False):
        return torch.zeros(batch_size, *input_shape, dtype=torch.long, device=device)
    make = torch.randn if random else torch.zeros
    return make(batch_size, *input_shape, device=device)
