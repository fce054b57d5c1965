"""A ProxylessNAS/OFA-style space of inverted-residual (MBConv) blocks: 5 searchable stages, each
with depth {2, 3, 4} and, per block, kernel {3, 5, 7} and expansion {3, 4, 6}.

Text: one group per stage joined by '|', each `d<depth>:` then its 4 blocks `k<kernel>e<expansion>`
joined by '-'. Only the first `depth` blocks are built; the others keep their choices (as OFA's
encoding does), so that mutation and crossover change one decision at a time:

    d2:k3e4-k5e6-k3e3-k3e3|d4:k5e3-k5e3-k7e6-k3e4|d3:...|d2:...|d4:...
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from nascli.core.space import ArchError, Space

DEPTHS = (2, 3, 4)
KERNELS = (3, 5, 7)
EXPANSIONS = (3, 4, 6)
STAGES = 5
MAX_BLOCKS = 4
_BLOCK = re.compile(r"k(\d+)e(\d+)")


def parse_stages(text: str) -> list[tuple[int, list[tuple[int, int]]]]:
    """[(depth, [(kernel, expansion) x 4]) x 5], strictly."""
    if not isinstance(text, str):
        raise ArchError(f"mobilenet arch must be a string, got {type(text).__name__}")
    groups = text.strip().split("|")
    if len(groups) != STAGES:
        raise ArchError(
            f"mobilenet arch '{text}': expected {STAGES} stages joined by '|', found {len(groups)}"
        )
    stages = []
    for s, group in enumerate(groups, start=1):
        head, sep, body = group.partition(":")
        if not sep or not head.startswith("d") or not head[1:].isdigit():
            raise ArchError(
                f"mobilenet arch: stage {s} '{group}' must start with its depth, e.g. 'd3:'"
            )
        depth = int(head[1:])
        if depth not in DEPTHS:
            raise ArchError(f"mobilenet arch: stage {s} depth {depth} is not one of {DEPTHS}")
        blocks = body.split("-")
        if len(blocks) != MAX_BLOCKS:
            raise ArchError(
                f"mobilenet arch: stage {s} lists {len(blocks)} blocks; write all {MAX_BLOCKS} (k<kernel>e<expansion>), the first d are built"
            )
        parsed = []
        for b, block in enumerate(blocks, start=1):
            m = _BLOCK.fullmatch(block)
            if not m or int(m[1]) not in KERNELS or int(m[2]) not in EXPANSIONS:
                raise ArchError(
                    f"mobilenet arch: stage {s} block {b} '{block}' must be k<kernel>e<expansion> "
                    f"with kernel in {KERNELS} and expansion in {EXPANSIONS}"
                )
            parsed.append((int(m[1]), int(m[2])))
        stages.append((depth, parsed))
    return stages


class MobileNetSpace(Space):
    """Args:
    width_mult: multiplies every width (rounded to a multiple of 8).
    stem_stride: 2 for 224-px images (ProxylessNAS); 1 for small images such as CIFAR or digits.
    widths, strides: per searchable stage, its output width and first-block stride.
    """

    name = "mobilenet"

    def __init__(
        self,
        width_mult: float = 1.0,
        stem_stride: int = 2,
        widths: Sequence[int] = (24, 40, 80, 96, 192),
        strides: Sequence[int] = (2, 2, 2, 1, 2),
    ) -> None:
        if len(widths) != STAGES or len(strides) != STAGES:
            raise ArchError(f"space.widths and space.strides need {STAGES} values each")
        self.width_mult, self.stem_stride = width_mult, stem_stride
        self.widths, self.strides = tuple(widths), tuple(strides)

    @property
    def cardinalities(self) -> Sequence[int]:
        per_stage = [len(DEPTHS)] + [len(KERNELS), len(EXPANSIONS)] * MAX_BLOCKS
        return per_stage * STAGES

    def parse(self, text: str) -> tuple[int, ...]:
        out: list[int] = []
        for depth, blocks in parse_stages(text):
            out.append(DEPTHS.index(depth))
            for k, e in blocks:
                out += [KERNELS.index(k), EXPANSIONS.index(e)]
        return tuple(out)

    def format(self, indices: Sequence[int]) -> str:
        per = 1 + 2 * MAX_BLOCKS
        groups = []
        for s in range(STAGES):
            part = indices[s * per : (s + 1) * per]
            blocks = "-".join(
                f"k{KERNELS[part[1 + 2 * b]]}e{EXPANSIONS[part[2 + 2 * b]]}"
                for b in range(MAX_BLOCKS)
            )
            groups.append(f"d{DEPTHS[part[0]]}:{blocks}")
        return "|".join(groups)

    # -- weight sharing ---------------------------------------------------------------------------
    VARIANTS = tuple((k, e) for k in KERNELS for e in EXPANSIONS)

    def supernet(self, input_shape: Sequence[int], num_classes: int, partial: int = 1) -> Any:
        from nascli.core.errors import NascliError
        from nascli.spaces.mobilenet.supernet import MobileNetSupernet

        if partial != 1:
            raise NascliError(
                "space=mobilenet has no partial-channel supernet (strategy=pcdarts); use darts, gdas, spos or enas"
            )
        return MobileNetSupernet(
            self.VARIANTS,
            DEPTHS,
            input_shape,
            num_classes,
            self.width_mult,
            self.stem_stride,
            self.widths,
            self.strides,
        )

    def path(self, arch: str) -> dict[str, list[list[int]]]:
        stages = parse_stages(arch)
        return {
            "blocks": [[self.VARIANTS.index(b)] for _, blocks in stages for b in blocks],
            "depth": [[DEPTHS.index(d)] for d, _ in stages],
        }

    def derive(self, weights: dict[str, list[list[float]]], max_skip: int | None = None) -> str:
        """The strongest variant per block position and the strongest depth per stage."""
        best = [max(range(len(w)), key=w.__getitem__) for w in weights["blocks"]]
        depth = [max(range(len(w)), key=w.__getitem__) for w in weights["depth"]]
        indices: list[int] = []
        for s in range(STAGES):
            indices.append(depth[s])
            for v in best[s * MAX_BLOCKS : (s + 1) * MAX_BLOCKS]:
                k, e = self.VARIANTS[v]
                indices += [KERNELS.index(k), EXPANSIONS.index(e)]
        return self.format(indices)

    def blocks(self, arch: str) -> list[list[tuple[int, int]]]:
        """The built blocks, per stage: [(kernel, expansion)] of length depth."""
        return [blocks[:depth] for depth, blocks in parse_stages(arch)]

    def build(self, arch: str, input_shape: Sequence[int], num_classes: int) -> Any:
        from nascli.spaces.mobilenet.net import MobileNetNetwork

        return MobileNetNetwork(
            self.blocks(arch),
            input_shape[0],
            num_classes,
            width_mult=self.width_mult,
            stem_stride=self.stem_stride,
            widths=self.widths,
            strides=self.strides,
        )
