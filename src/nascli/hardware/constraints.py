"""Search-space constraints checked before any training: cheap to measure, so never trained."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from nascli.core.errors import NascliError
from nascli.core.space import ArchError
from nascli.hardware.cost import count_flops, count_params, peak_activation_mb

log = logging.getLogger(__name__)


def violations(
    net: Any,
    input_shape: Sequence[int],
    max_params: int | None = None,
    max_flops: int | None = None,
    max_latency_ms: float | None = None,
    max_memory_mb: float | None = None,
    hardware: Any = None,
    **_: Any,
) -> list[str]:
    """What `net` breaks, as 'key: value > limit' strings (empty when it satisfies every limit).
    Latency is the `hardware` target's (measured or looked up); memory is peak activation memory."""
    out = []
    if max_params is not None and (params := count_params(net)) > max_params:
        out.append(f"constraints.max_params: {params:,} > {max_params:,}")
    if max_flops is not None and (flops := count_flops(net, input_shape)) > max_flops:
        out.append(f"constraints.max_flops: {flops:,} > {max_flops:,}")
    if max_memory_mb is not None and (mb := peak_activation_mb(net, input_shape)) > max_memory_mb:
        out.append(f"constraints.max_memory_mb: {mb:.3f} > {max_memory_mb}")
    if max_latency_ms is not None:
        if hardware is None:
            raise NascliError("constraints.max_latency_ms needs a hardware target (hardware=cpu)")
        if (ms := hardware.latency_ms(net, input_shape)) > max_latency_ms:
            out.append(f"constraints.max_latency_ms: {ms:.3f} > {max_latency_ms}")
    return out


class SpaceExhausted(Exception):
    """The strategy keeps proposing architectures the search has already had answered."""


# Proposals in a row that repeat an answered architecture before the search stops.
MAX_REPEATS = 1_000


class ConstrainedProposer:
    """Ask the strategy until it proposes an architecture within the constraints.

    A rejected proposal costs no trial: the strategy is told it failed and asked again. Whether an
    architecture is rejected depends on nothing but the architecture, so replaying a history for
    resume rejects the same ones.
    """

    def __init__(
        self,
        strategy,
        space,
        input_shape,
        num_classes,
        constraints: dict[str, Any] | None,
        max_rejections: int = 1000,
        admit: Any = None,
        hardware: Any = None,
        answers_repeats: bool = False,
    ) -> None:
        self.strategy, self.space = strategy, space
        self.input_shape, self.num_classes = tuple(input_shape), num_classes
        # min_accuracy needs training: it is applied to results (satisfies), not to proposals;
        # so is every limit in a space that builds no network (the table records the costs).
        self.limits = {
            k: v
            for k, v in (constraints or {}).items()
            if v is not None and k != "min_accuracy" and space.builds_networks
        }
        self.hardware = hardware
        self.max_rejections = max_rejections
        self.rejected = 0  # proposals that broke a constraint
        self.missing = 0  # proposals a sampled table does not hold (or the space cannot compose)
        # admit(arch) -> None or why it cannot be evaluated (a sampled benchmark table lacks it).
        self.admit = admit
        # With answers_repeats, a proposal the search has had answered is told its answer
        # again and costs no trial: {iso key: metrics, None if it failed}.
        self.answers: dict[str, Any] | None = {} if answers_repeats else None
        self.repeats = 0

    def heard(self, arch: str, metrics: dict[str, Any] | None) -> None:
        """Remember the answer for `arch` (a finished trial, or one replayed on resume)."""
        if self.answers is not None:
            self.answers[self.space.iso_key(arch)] = metrics

    def _answered(self) -> str:
        """The next proposal that has no answer yet; repeats are told their answer."""
        for _ in range(MAX_REPEATS):
            arch = self.strategy.ask()
            if self.answers is None:
                return arch
            try:
                key = self.space.iso_key(arch)
            except ArchError:  # not an architecture of the space: propose() rejects it
                return arch
            if key not in self.answers:
                return arch
            self.repeats += 1
            self.strategy.tell(arch, self.answers[key])
        log.warning(
            "%d proposals in a row repeated one of the %d architectures already queried: "
            "the search stops",
            MAX_REPEATS,
            len(self.answers or ()),
        )
        raise SpaceExhausted()

    def propose(self) -> str:
        for _ in range(self.max_rejections):
            arch = self._answered()
            try:
                broken = [why] if self.admit and (why := self.admit(arch)) else []
            except ArchError as exc:
                # A strategy that builds proposals choice by choice can compose one the space
                # does not hold (nbgraph's four skips): it is told it failed, at no trial's cost.
                broken = [str(exc)]
            if broken:
                self.missing += 1
                log.info("not in the table, no trial spent: %s (%s)", arch, "; ".join(broken))
                self.strategy.tell(arch, None)
                continue
            if not self.limits:
                return arch
            broken = violations(
                self.space.build(arch, self.input_shape, self.num_classes),
                self.input_shape,
                hardware=self.hardware,
                **self.limits,
            )
            if not broken:
                return arch
            self.rejected += 1
            log.info("rejected before training: %s (%s)", arch, "; ".join(broken))
            self.strategy.tell(arch, None)
        limits = ", ".join(f"{k}={v}" for k, v in self.limits.items())
        if self.admit:
            limits = (
                f"{limits}, or were not in the benchmark table"
                if limits
                else "were not in the benchmark table"
            )
        raise NascliError(
            f"{self.max_rejections} proposals in a row broke the constraints ({limits}); "
            "loosen them, pick a smaller space, or use a complete table"
        )
