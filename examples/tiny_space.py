"""A user-defined search space for `nas search space=custom`.

    nas search space=custom space.builder=examples/tiny_space.py:build search.trials=5

Three convolutional blocks: the width is a value choice, each block's op a layer choice, and the
last block may add the output of an earlier block (an input choice).
"""

from torch import nn


class Block(nn.Sequential):
    def __init__(self, op: nn.Module, width: int) -> None:
        super().__init__(op, nn.BatchNorm2d(width), nn.ReLU())


class TinyNet(nn.Module):
    def __init__(self, choose, input_shape, num_classes):
        super().__init__()
        width = choose.value("width", [8, 16, 32])
        c_in = input_shape[0]
        self.blocks = nn.ModuleList()
        for i in range(3):
            c = c_in if i == 0 else width
            op = choose.layer(
                f"op{i}",
                {
                    "conv3": lambda c=c: nn.Conv2d(c, width, 3, padding=1),
                    "conv5": lambda c=c: nn.Conv2d(c, width, 5, padding=2),
                    "sep3": lambda c=c: nn.Sequential(
                        nn.Conv2d(c, c, 3, padding=1, groups=c), nn.Conv2d(c, width, 1)
                    ),
                },
            )
            self.blocks.append(Block(op, width))
        # 0: no skip; 1: add block 0's output to the last block's; 2: add block 1's.
        self.skip = choose.input("skip", 3)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes)
        )

    def forward(self, x):
        outs = []
        for block in self.blocks:
            x = block(x)
            outs.append(x)
        if self.skip:
            x = x + outs[self.skip - 1]
        return self.head(x)


def build(choose, input_shape, num_classes):
    return TinyNet(choose, input_shape, num_classes)
