"""DARTS evaluation networks: the CIFAR one (stem 3C, reductions at 1/3 and 2/3 depth, auxiliary
head after the second reduction, drop-path) and the ImageNet-mobile one (224 px stem)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nascli.nn.layers import ReLUConvBN
from nascli.spaces.darts.genotype import Genotype
from nascli.spaces.darts.ops import OPS, FactorizedReduce


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples of a path with probability drop_prob, rescaling the survivors."""
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


class Cell(nn.Module):
    def __init__(
        self, genotype: Genotype, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = (
            FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0)
        )
        self.preprocess1 = ReLUConvBN(c_p, c, 1, 1, 0)
        edges, self.concat = genotype.cell(reduction)
        self.inputs = [src for _, src in edges]
        self.ops = nn.ModuleList(
            OPS[op](c, 2 if reduction and src < 2 else 1, True) for op, src in edges
        )
        self.multiplier = len(self.concat)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for step in range(len(self.ops) // 2):
            total = None
            for k in (2 * step, 2 * step + 1):
                h = self.ops[k](states[self.inputs[k]])
                if self.training and drop_prob > 0 and not isinstance(self.ops[k], nn.Identity):
                    h = drop_path(h, drop_prob)
                total = h if total is None else total + h
            states.append(total)
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    """Auxiliary classifier after the 2/3 reduction. On CIFAR's 8x8 features it is the paper's
    (avg-pool 5 stride 3 -> 2x2); other sizes pool adaptively to 2x2 with the same weights."""

    def __init__(self, c: int, num_classes: int, imagenet: bool = False) -> None:
        super().__init__()
        self.imagenet = imagenet
        self.relu = nn.ReLU(inplace=False)
        layers: list[nn.Module] = [
            nn.Conv2d(c, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
        ]
        # The DARTS ImageNet head has no BatchNorm after the 2x2 conv (kept for comparable counts).
        if not imagenet:
            layers.append(nn.BatchNorm2d(768))
        layers.append(nn.ReLU(inplace=True))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        size = x.shape[-1]
        if not self.imagenet and size == 8:
            x = F.avg_pool2d(x, 5, stride=3, count_include_pad=False)
        elif self.imagenet and size == 14:
            x = F.avg_pool2d(x, 5, stride=2, count_include_pad=False)
        else:
            x = F.adaptive_avg_pool2d(x, 2)
        return self.classifier(self.features(x).flatten(1))


class DartsNetwork(nn.Module):
    """`layers` cells; reductions at layers//3 and 2*layers//3.

    In training mode with `auxiliary`, forward returns (logits, aux_logits); otherwise logits.
    `drop_path_prob` is set from outside (it rises linearly over training).
    """

    def __init__(
        self,
        genotype: Genotype,
        in_channels: int,
        num_classes: int,
        channels: int = 36,
        layers: int = 20,
        auxiliary: bool = True,
        imagenet_stem: bool = False,
    ) -> None:
        super().__init__()
        self.layers, self.auxiliary = layers, auxiliary
        self.drop_path_prob = 0.0
        c = channels
        if imagenet_stem:
            self.stem0 = nn.Sequential(
                nn.Conv2d(in_channels, c // 2, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c // 2),
                nn.ReLU(inplace=True),
                nn.Conv2d(c // 2, c, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c),
            )
            self.stem1 = nn.Sequential(
                nn.ReLU(inplace=True),
                nn.Conv2d(c, c, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c),
            )
            c_pp, c_p, c_curr, reduction_prev = c, c, c, True
        else:
            self.stem0 = nn.Sequential(
                nn.Conv2d(in_channels, 3 * c, 3, padding=1, bias=False), nn.BatchNorm2d(3 * c)
            )
            self.stem1 = None
            c_pp, c_p, c_curr, reduction_prev = 3 * c, 3 * c, c, False
        self.cells = nn.ModuleList()
        self.aux_index = 2 * layers // 3
        c_aux = c_p
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
            cell = Cell(genotype, c_pp, c_p, c_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_pp, c_p = c_p, cell.multiplier * c_curr
            if i == self.aux_index:
                c_aux = c_p
        self.auxiliary_head = (
            AuxiliaryHead(c_aux, num_classes, imagenet=imagenet_stem) if auxiliary else None
        )
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        s0 = self.stem0(x)
        s1 = self.stem1(s0) if self.stem1 is not None else s0
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.aux_index and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        logits = self.classifier(self.global_pooling(s1).flatten(1))
        return (logits, aux) if aux is not None else logits


def build_network(
    genotype: Genotype, input_shape: Sequence[int], num_classes: int, **kwargs
) -> DartsNetwork:
    return DartsNetwork(genotype, input_shape[0], num_classes, **kwargs)
