"""A user-defined space of recurrent sequence classifiers, for `dataset=digits_seq`.

    nas search space=custom space.builder=examples/sequence_space.py:build dataset=digits_seq

Inputs are (batch, steps, features). The recurrent unit (LSTM or GRU) is a layer choice, its
width and depth value choices, and the summary the head reads an input choice: the last step's
state or the mean over all steps. Nothing in nascli's `Choices` is image-specific.
"""

from torch import nn


class Recurrent(nn.Module):
    def __init__(self, choose, input_shape, num_classes):
        super().__init__()
        steps, features = input_shape
        hidden = choose.value("hidden", [16, 32, 64])
        layers = choose.value("layers", [1, 2])
        self.rnn = choose.layer(
            "unit",
            {
                "lstm": lambda: nn.LSTM(features, hidden, layers, batch_first=True),
                "gru": lambda: nn.GRU(features, hidden, layers, batch_first=True),
            },
        )
        # 0: the last step's output; 1: the mean over the steps.
        self.pool = choose.input("summary", 2)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out.mean(dim=1) if self.pool else out[:, -1])


def build(choose, input_shape, num_classes):
    if len(input_shape) != 2:
        raise ValueError(f"this space reads sequences (steps, features), not {tuple(input_shape)}")
    return Recurrent(choose, input_shape, num_classes)
