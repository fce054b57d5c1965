"""Random search: the baseline every other strategy must beat."""

from __future__ import annotations

from typing import Any

from nascli.strategies.base import Strategy


class RandomSearch(Strategy):
    """Uniform samples from the space; an architecture already proposed is drawn again (up to
    `retries` times) so that no budget goes to duplicates while unseen ones are easy to find."""

    def __init__(self, space, seed: int = 0, retries: int = 100) -> None:
        super().__init__(space, seed)
        self.retries = retries
        self.seen: set[str] = set()

    def ask(self) -> str:
        arch = self.space.sample(self.rng)
        for _ in range(self.retries):
            if arch not in self.seen:
                break
            arch = self.space.sample(self.rng)
        self.seen.add(arch)
        return arch

    def tell(self, arch: str, metrics: dict[str, Any] | None) -> None:
        self.seen.add(arch)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "seen": sorted(self.seen)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.seen = set(state["seen"])
