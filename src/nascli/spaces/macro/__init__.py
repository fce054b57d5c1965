"""An ENAS-macro-style chain (Pham et al. 2018): `layers` layers, each picks an op and which
earlier layers it takes skip connections from; the resolution halves after layers L/3 - 1 and
2L/3 - 1 (ENAS's pooling layers).

Text: layers joined by '|', each its op then, from layer 1 on, ':' and one bit per earlier layer
(bit j = 1: a skip connection from layer j):

    conv_3x3|sep_conv_5x5:1|max_pool_3x3:01|conv_5x5:100|...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nascli.core.space import ArchError, Space

OPS = ("conv_3x3", "conv_5x5", "sep_conv_3x3", "sep_conv_5x5", "max_pool_3x3", "avg_pool_3x3")


class MacroSpace(Space):
    """Args: layers (L, 12 in ENAS), channels (constant through the chain)."""

    name = "macro"

    def __init__(self, layers: int = 12, channels: int = 36) -> None:
        if layers < 1:
            raise ArchError(f"space.layers={layers} must be at least 1")
        self.layers, self.channels = layers, channels

    @property
    def cardinalities(self) -> Sequence[int]:
        out: list[int] = []
        for i in range(self.layers):
            out += [len(OPS)] + [2] * i
        return out

    def parse(self, text: str) -> tuple[int, ...]:
        if not isinstance(text, str):
            raise ArchError(f"macro arch must be a string, got {type(text).__name__}")
        parts = text.strip().split("|")
        if len(parts) != self.layers:
            raise ArchError(
                f"macro arch: expected {self.layers} layers joined by '|' (space.layers), found {len(parts)}"
            )
        out: list[int] = []
        for i, part in enumerate(parts):
            op, sep, bits = part.partition(":")
            if op not in OPS:
                raise ArchError(f"macro arch: layer {i} op '{op}' is not one of {', '.join(OPS)}")
            if i == 0 and sep:
                raise ArchError(f"macro arch: layer 0 '{part}' has no earlier layer to skip from")
            if i > 0 and (not sep or len(bits) != i or set(bits) - {"0", "1"}):
                raise ArchError(
                    f"macro arch: layer {i} '{part}' needs ':' and {i} skip bits of 0/1, one per earlier layer"
                )
            out += [OPS.index(op), *(int(b) for b in bits)]
        return tuple(out)

    def format(self, indices: Sequence[int]) -> str:
        parts, k = [], 0
        for i in range(self.layers):
            op = OPS[indices[k]]
            bits = "".join(str(int(b)) for b in indices[k + 1 : k + 1 + i])
            parts.append(f"{op}:{bits}" if i else op)
            k += 1 + i
        return "|".join(parts)

    def layer_choices(self, arch: str) -> list[tuple[str, list[int]]]:
        """(op, [earlier layers it takes skips from]) per layer."""
        idx, out, k = self.parse(arch), [], 0
        for i in range(self.layers):
            out.append((OPS[idx[k]], [j for j in range(i) if idx[k + 1 + j]]))
            k += 1 + i
        return out

    def graphs(self, arch: str) -> list[dict[str, Any]]:
        choices = self.layer_choices(arch)
        names = ["input"] + [str(i) for i in range(self.layers)] + ["output"]
        edges = [(names[i], names[i + 1], op) for i, (op, _) in enumerate(choices)]
        edges += [
            (names[j + 1], names[i + 1], "") for i, (_, skips) in enumerate(choices) for j in skips
        ]
        edges.append((names[-2], "output", ""))
        kinds = {"input": "input", "output": "output"}
        return [{"title": "macro chain", "nodes": names, "edges": edges, "kinds": kinds}]

    def build(self, arch: str, input_shape: Sequence[int], num_classes: int) -> Any:
        from nascli.spaces.macro.net import MacroNetwork

        return MacroNetwork(self.layer_choices(arch), input_shape[0], num_classes, self.channels)
