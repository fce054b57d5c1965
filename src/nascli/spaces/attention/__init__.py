"""An AutoFormer-style space of transformer encoders (Chen et al., ICCV 2021).

One embedding dimension for the whole network; a depth; per layer a token mixer (multi-head
self-attention, and where `space.mixers` lists them a depthwise convolution over time or none),
its number of heads and its MLP ratio. Sequences (T, features) enter through a linear embedding,
images (C, H, W) through a patch embedding (a small ViT); tokens get a learned position
embedding, and the class is read from their mean.

Text: the depth and embedding dimension, then all `max(depths)` layers joined by '|', each
`<mixer>:h<heads>:r<ratio>`. Only the first `depth` layers are built; the others keep their
choices (as OFA's and mobilenet's encodings do), so mutation changes one decision at a time:

    d2:e64|attention:h4:r2|attention:h1:r4|conv:h2:r1|attention:h2:r2
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from nascli.core.space import ArchError, Space

MIXERS = ("attention", "conv", "identity")
_HEAD = re.compile(r"d(\d+):e(\d+)")
_LAYER = re.compile(r"([a-z]+):h(\d+):r(\d+(?:\.\d+)?)")


def _number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() else value


class AttentionSpace(Space):
    """Args: the choices (depths, embed_dims, heads, mlp_ratios, mixers), and for the network
    patch_size (images), conv_kernel (the conv mixer's width over time) and dropout."""

    name = "attention"

    def __init__(
        self,
        depths: Sequence[int] = (1, 2, 3, 4),
        embed_dims: Sequence[int] = (32, 48, 64),
        heads: Sequence[int] = (1, 2, 4),
        mlp_ratios: Sequence[float] = (1, 2, 4),
        mixers: Sequence[str] = ("attention",),
        patch_size: int = 4,
        conv_kernel: int = 3,
        dropout: float = 0.0,
    ) -> None:
        for key, values in (
            ("depths", depths),
            ("embed_dims", embed_dims),
            ("heads", heads),
            ("mlp_ratios", mlp_ratios),
            ("mixers", mixers),
        ):
            if not values or len(set(values)) != len(values):
                raise ArchError(f"space.{key}={list(values)} needs at least one value, no repeats")
        if min(depths) < 1 or min(embed_dims) < 1 or min(heads) < 1 or min(mlp_ratios) <= 0:
            raise ArchError(
                "space.depths, embed_dims and heads take positive integers and mlp_ratios "
                "positive numbers (e.g. depths=[1,2,3,4])"
            )
        unknown = [m for m in mixers if m not in MIXERS]
        if unknown:
            raise ArchError(f"space.mixers: {unknown} not among {', '.join(MIXERS)}")
        odd = [(e, h) for e in embed_dims for h in heads if e % h]
        if odd:
            e, h = odd[0]
            raise ArchError(
                f"space.embed_dims: {e} is not divisible by {h} heads (space.heads); every "
                "embedding dimension must split evenly over every head count"
            )
        self.depths, self.embed_dims = tuple(int(d) for d in depths), tuple(embed_dims)
        self.heads, self.mixers = tuple(int(h) for h in heads), tuple(mixers)
        self.mlp_ratios = tuple(_number(str(r)) for r in mlp_ratios)
        self.max_depth = max(self.depths)
        self.patch_size, self.conv_kernel, self.dropout = patch_size, conv_kernel, dropout

    @property
    def cardinalities(self) -> Sequence[int]:
        per_layer = [len(self.mixers), len(self.heads), len(self.mlp_ratios)]
        return [len(self.depths), len(self.embed_dims)] + per_layer * self.max_depth

    def parse(self, text: str) -> tuple[int, ...]:
        if not isinstance(text, str):
            raise ArchError(f"attention arch must be a string, got {type(text).__name__}")
        head, *layers = text.strip().split("|")
        m = _HEAD.fullmatch(head)
        if not m:
            raise ArchError(
                f"attention arch '{text[:80]}': must start with its depth and embedding "
                "dimension, e.g. 'd2:e64|'"
            )
        depth, embed = int(m[1]), int(m[2])
        if depth not in self.depths:
            raise ArchError(f"attention arch: depth {depth} is not in space.depths {self.depths}")
        if embed not in self.embed_dims:
            raise ArchError(
                f"attention arch: embedding {embed} is not in space.embed_dims {self.embed_dims}"
            )
        if len(layers) != self.max_depth:
            raise ArchError(
                f"attention arch lists {len(layers)} layers; write all {self.max_depth} "
                "(max of space.depths) as <mixer>:h<heads>:r<ratio>, the first d are built"
            )
        out = [self.depths.index(depth), self.embed_dims.index(embed)]
        for i, layer in enumerate(layers):
            m = _LAYER.fullmatch(layer)
            ok = m and m[1] in self.mixers and int(m[2]) in self.heads
            if not ok or _number(m[3]) not in self.mlp_ratios:
                raise ArchError(
                    f"attention arch: layer {i} '{layer[:40]}' must be <mixer>:h<heads>:r<ratio> "
                    f"with mixer in {self.mixers}, heads in {self.heads} and ratio in "
                    f"{self.mlp_ratios} (space.mixers, space.heads, space.mlp_ratios)"
                )
            out += [
                self.mixers.index(m[1]),
                self.heads.index(int(m[2])),
                self.mlp_ratios.index(_number(m[3])),
            ]
        return tuple(out)

    def format(self, indices: Sequence[int]) -> str:
        layers = [
            f"{self.mixers[indices[k]]}:h{self.heads[indices[k + 1]]}:r{self.mlp_ratios[indices[k + 2]]}"
            for k in range(2, 2 + 3 * self.max_depth, 3)
        ]
        head = f"d{self.depths[indices[0]]}:e{self.embed_dims[indices[1]]}"
        return "|".join([head, *layers])

    def layers(self, arch: str) -> tuple[int, list[tuple[str, int, float]]]:
        """(embedding dimension, [(mixer, heads, mlp ratio)] of the built layers)."""
        idx = self.parse(arch)
        depth, embed = self.depths[idx[0]], self.embed_dims[idx[1]]
        built = [
            (self.mixers[idx[k]], self.heads[idx[k + 1]], self.mlp_ratios[idx[k + 2]])
            for k in range(2, 2 + 3 * depth, 3)
        ]
        return embed, built

    def iso_key(self, arch: str) -> str:
        """The same network whatever the unbuilt layers hold, or the heads of a layer that does
        not attend."""
        embed, built = self.layers(arch)
        parts = [f"{m}:h{h if m == 'attention' else '-'}:r{r}" for m, h, r in built]
        return "|".join([f"e{embed}", *parts])

    def normal_ops(self, arch: str) -> list[str]:
        return [mixer for mixer, _, _ in self.layers(arch)[1]]

    def graphs(self, arch: str) -> list[dict[str, Any]]:
        embed, built = self.layers(arch)
        names = ["tokens"] + [f"layer {i}" for i in range(len(built))] + ["mean, linear"]
        edges = [
            (names[i], names[i + 1], f"{m} h{h} r{r}" if m == "attention" else f"{m} r{r}")
            for i, (m, h, r) in enumerate(built)
        ]
        edges.append((names[-2], names[-1], ""))
        kinds = {"tokens": "input", "mean, linear": "output"}
        return [{"title": f"encoder, dim {embed}", "nodes": names, "edges": edges, "kinds": kinds}]

    def build(self, arch: str, input_shape: Sequence[int], num_classes: int) -> Any:
        from nascli.spaces.attention.net import AttentionNetwork

        embed, built = self.layers(arch)
        return AttentionNetwork(
            built,
            embed,
            input_shape,
            num_classes,
            patch_size=self.patch_size,
            conv_kernel=self.conv_kernel,
            dropout=self.dropout,
        )
