"""A plain chain of conv-BN-ReLU layers that grows by network morphism (Net2Net, NASH).

`stages` stages of `slots` slots each, a 2x2 max-pool between stages, after a conv 3x3 stem
of `stem` channels and before a global pool and a linear classifier. Each slot is one
decision: `id` (nothing: the slot passes its input on) or a layer `k<kernel>w<width>`, with a
trailing `s` for a skip connection (a 1x1 projection of the layer's input added before its
ReLU). Text: a stage's slots joined by ',', stages by '|':

    k3w16,id,k5w32s,id|k3w32,id,id,id

The morphisms (nascli.spaces.chain.morphism) turn a network into a larger one that computes the
same function: deepen (an `id` slot becomes an identity-initialised layer as wide as its
input), widen (a layer takes a larger width), skip (a layer gains a zero-initialised skip) and
kernel (a layer takes a larger kernel, zero-padded). A slot's options only grow by them, so a
child is reachable from its parent when no slot shrinks.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from nascli.core.space import ArchError, Space
from nascli.spaces.chain.slot import Slot

ID = "id"


class ChainSpace(Space):
    """Args: stages, slots (per stage), kernels (odd sizes), widths (channels a layer may
    have; the stem's among them), stem (the stem's channels)."""

    name = "chain"
    grows_by_morphism = True

    def __init__(
        self,
        stages: int = 3,
        slots: int = 4,
        kernels: Sequence[int] = (3, 5),
        widths: Sequence[int] = (16, 32, 64),
        stem: int = 16,
    ) -> None:
        self.stages, self.slots = int(stages), int(slots)
        self.kernels = tuple(sorted({int(k) for k in kernels}))
        self.widths = tuple(sorted({int(w) for w in widths}))
        self.stem = int(stem)
        if self.stages < 1 or self.slots < 1:
            raise ArchError(f"space.stages={stages} and space.slots={slots} must be 1 or more")
        if not self.kernels or any(k < 1 or k % 2 == 0 for k in self.kernels):
            raise ArchError(f"space.kernels={list(kernels)} must be odd sizes, e.g. [3,5]")
        if not self.widths or self.widths[0] < 1:
            raise ArchError(f"space.widths={list(widths)} must be positive, e.g. [16,32,64]")
        if self.stem not in self.widths:
            raise ArchError(
                f"space.stem={stem} must be one of space.widths={list(self.widths)} "
                "(a deepened layer is as wide as its input)"
            )
        self.options: tuple[Slot | None, ...] = (None,) + tuple(
            Slot(k, w, s) for k in self.kernels for w in self.widths for s in (False, True)
        )

    # -- text ------------------------------------------------------------------------------
    @property
    def cardinalities(self) -> Sequence[int]:
        return [len(self.options)] * (self.stages * self.slots)

    def _slot(self, text: str, where: str) -> Slot | None:
        if text == ID:
            return None
        body, skip = (text[:-1], True) if text.endswith("s") else (text, False)
        kernel, sep, width = body.removeprefix("k").partition("w")
        if (
            not body.startswith("k")
            or not sep
            or not (kernel + width).isascii()
            or not kernel.isdigit()
            or not width.isdigit()
        ):
            raise ArchError(
                f"chain arch: {where} '{text}' is neither 'id' nor k<kernel>w<width>[s]"
            )
        slot = Slot(int(kernel), int(width), skip)
        if slot.kernel not in self.kernels:
            raise ArchError(f"chain arch: {where} kernel {slot.kernel} is not in space.kernels")
        if slot.width not in self.widths:
            raise ArchError(f"chain arch: {where} width {slot.width} is not in space.widths")
        return slot

    def parse(self, text: str) -> tuple[int, ...]:
        if not isinstance(text, str):
            raise ArchError(f"chain arch must be a string, got {type(text).__name__}")
        stages = text.strip().split("|")
        if len(stages) != self.stages:
            raise ArchError(
                f"chain arch: expected {self.stages} stages joined by '|' (space.stages), "
                f"found {len(stages)}"
            )
        out: list[int] = []
        for s, stage in enumerate(stages):
            slots = [t.strip() for t in stage.split(",")]
            if len(slots) != self.slots:
                raise ArchError(
                    f"chain arch: stage {s} has {len(slots)} slots, space.slots={self.slots}"
                )
            out += [
                self.options.index(self._slot(t, f"stage {s} slot {i}"))
                for i, t in enumerate(slots)
            ]
        return tuple(out)

    def format(self, indices: Sequence[int]) -> str:
        names = [ID if self.options[i] is None else str(self.options[i]) for i in indices]
        return "|".join(
            ",".join(names[s * self.slots : (s + 1) * self.slots]) for s in range(self.stages)
        )

    def layout(self, arch: str) -> list[list[Slot | None]]:
        """Per stage, per slot: its layer, or None for `id`."""
        options = [self.options[i] for i in self.parse(arch)]
        return [options[s * self.slots : (s + 1) * self.slots] for s in range(self.stages)]

    def layers(self, arch: str) -> list[list[Slot]]:
        """Per stage, the layers that are there (the `id` slots dropped)."""
        return [[slot for slot in stage if slot is not None] for stage in self.layout(arch)]

    def iso_key(self, arch: str) -> str:
        """Where in a stage its `id` slots sit changes nothing the network computes."""
        return "|".join(",".join(map(str, stage)) for stage in self.layers(arch))

    def graphs(self, arch: str) -> list[dict[str, Any]]:
        names, edges, last = ["input", "stem"], [("input", "stem", "")], "stem"
        for s, stage in enumerate(self.layers(arch)):
            if s:
                names.append(f"pool{s}")
                edges.append((last, f"pool{s}", "max_pool_2x2"))
                last = f"pool{s}"
            for i, slot in enumerate(stage):
                node = f"{s}.{i}"
                names.append(node)
                skip = " + skip" if slot.skip else ""
                edges.append((last, node, f"conv {slot.kernel}x{slot.kernel} w{slot.width}{skip}"))
                last = node
        names.append("output")
        edges.append((last, "output", ""))
        kinds = {"input": "input", "output": "output"}
        return [{"title": "chain", "nodes": names, "edges": edges, "kinds": kinds}]

    def build(self, arch: str, input_shape: Sequence[int], num_classes: int) -> Any:
        from nascli.spaces.chain.net import ChainNetwork

        return ChainNetwork(self.layers(arch), input_shape[0], num_classes, self.stem)

    # -- network morphism ------------------------------------------------------------------
    def morphism_start(self) -> str:
        """The smallest network a morphism search starts from: one layer of the smallest
        kernel and the stem's width at the head of each stage."""
        first = Slot(self.kernels[0], self.stem)
        stage = ",".join([str(first)] + [ID] * (self.slots - 1))
        return "|".join([stage] * self.stages)

    def morph(self, arch: str, rng: random.Random) -> str:
        """`arch` after one random morphism (`arch` itself when none applies: every slot at its
        largest)."""
        from nascli.spaces.chain.morphism import random_morphism

        return random_morphism(self, arch, rng)

    def morphism_features(self, arch: str) -> list[float]:
        """Per slot: whether it holds a layer, its kernel's and width's rank among the options,
        and its skip; each morphism moves one of them by one rank (a widening by two widths,
        by two), so the L1 distance counts the morphisms between two networks."""
        out: list[float] = []
        for stage in self.layout(arch):
            for slot in stage:
                if slot is None:
                    out += [0.0, 0.0, 0.0, 0.0]
                else:
                    k, w = self.kernels.index(slot.kernel), self.widths.index(slot.width)
                    out += [1.0, float(k), float(w), float(slot.skip)]
        return out

    def inherit(self, parent: str, parent_net: Any, child: str, rng: random.Random) -> Any:
        """The network of `child`, grown from the trained `parent_net` of `parent` by morphisms,
        computing the same function as it; raises ArchError if no morphisms lead there."""
        from nascli.spaces.chain.morphism import grow

        return grow(self, parent, parent_net, child, rng)
