"""The child network of the attention space: a pre-norm transformer encoder.

tokens -> (+ learned position embedding) -> layers -> LayerNorm -> mean over tokens -> linear.
A layer is x + mixer(LN(x)) (unless its mixer is `identity`), then x + MLP(LN(x)) with a GELU
MLP of `ratio` x the embedding's width. Sequences (B, T, F) are embedded by a linear map of each
step's features; images (B, C, H, W) by non-overlapping `patch_size` patches (a ViT's stem).
The position embedding covers the input's length; shorter sequences use its first positions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nascli.core.errors import NascliError


class _Conv(nn.Module):
    """A depthwise convolution over time on (B, T, D) tokens."""

    def __init__(self, dim: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.transpose(1, 2)).transpose(1, 2)


class _Attention(nn.Module):
    """Multi-head self-attention (nn.MultiheadAttention's parameters) written out, so that
    PyTorch's FLOP counter sees its products (the module's inference fast path hides them)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class EncoderLayer(nn.Module):
    def __init__(
        self, dim: int, mixer: str, heads: int, ratio: float, kernel: int, dropout: float
    ) -> None:
        super().__init__()
        self.mix: nn.Module | None = None
        if mixer == "attention":
            self.mix = _Attention(dim, heads, dropout)
        elif mixer == "conv":
            self.mix = _Conv(dim, kernel)
        self.norm1 = nn.LayerNorm(dim) if self.mix is not None else None
        hidden = max(1, round(dim * ratio))
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mix is not None:
            x = x + self.mix(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class AttentionNetwork(nn.Module):
    def __init__(
        self,
        layers: Sequence[tuple[str, int, float]],
        dim: int,
        input_shape: Sequence[int],
        num_classes: int,
        patch_size: int = 4,
        conv_kernel: int = 3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        shape = tuple(int(s) for s in input_shape)
        if len(shape) == 2:  # (T, features)
            self.embed: nn.Module = nn.Linear(shape[1], dim)
            tokens = shape[0]
        elif len(shape) == 3:  # (C, H, W)
            c, h, w = shape
            if h % patch_size or w % patch_size:
                raise NascliError(
                    f"space.patch_size={patch_size} does not divide the {h}x{w} images; "
                    "choose a divisor of both sides"
                )
            self.embed = nn.Conv2d(c, dim, patch_size, stride=patch_size)
            tokens = (h // patch_size) * (w // patch_size)
        else:
            raise NascliError(
                f"space=attention takes sequences (T, features) or images (C, H, W), not inputs "
                f"of shape {list(shape)}"
            )
        self.images = len(shape) == 3
        self.pos = nn.Parameter(torch.zeros(1, tokens, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.layers = nn.ModuleList(
            EncoderLayer(dim, m, h, r, conv_kernel, dropout) for m, h, r in layers
        )
        self.norm = nn.LayerNorm(dim)
        self.classifier = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        if self.images:
            x = x.flatten(2).transpose(1, 2)  # (B, D, h, w) -> (B, tokens, D)
        x = x + self.pos[:, : x.shape[1]]
        for layer in self.layers:
            x = layer(x)
        return self.classifier(self.norm(x).mean(dim=1))
