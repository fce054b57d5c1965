"""A layer of the chain space."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Slot:
    """A layer of the chain (an `id` slot is None where slots are listed)."""

    kernel: int
    width: int
    skip: bool = False

    def __str__(self) -> str:
        return f"k{self.kernel}w{self.width}{'s' if self.skip else ''}"
