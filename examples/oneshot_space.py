"""A user-defined space that one-shot strategies can search: only layer choices, whose candidates
give outputs of one shape, so a supernet can hold them all and share their weights.

    nas search space=custom space.builder=examples/oneshot_space.py:build strategy=darts
    nas search space=custom space.builder=examples/oneshot_space.py:build strategy=spos
"""

from torch import nn

WIDTH = 16


def candidates(c_in: int) -> dict:
    return {
        "conv3": lambda: nn.Sequential(nn.Conv2d(c_in, WIDTH, 3, padding=1), nn.BatchNorm2d(WIDTH)),
        "conv5": lambda: nn.Sequential(nn.Conv2d(c_in, WIDTH, 5, padding=2), nn.BatchNorm2d(WIDTH)),
        "sep3": lambda: nn.Sequential(
            nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in),
            nn.Conv2d(c_in, WIDTH, 1),
            nn.BatchNorm2d(WIDTH),
        ),
        "pool": lambda: nn.Sequential(nn.AvgPool2d(3, 1, 1), nn.Conv2d(c_in, WIDTH, 1)),
    }


def build(choose, input_shape, num_classes):
    layers = []
    c = input_shape[0]
    for i in range(3):
        layers += [choose.layer(f"op{i}", candidates(c)), nn.ReLU()]
        c = WIDTH
    return nn.Sequential(
        *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(WIDTH, num_classes)
    )
