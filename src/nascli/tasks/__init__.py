"""What a dataset asks a network to learn, and how the result is scored.

A dataset's config names its task (`task: language_model`; image classification where it names
none). The task says which metric a search optimises by default and which way is better, and
which metrics training reports; everything downstream (strategies, best.json, reports) follows
the metric's direction (nascli.core.objectives.maximised), so no part of the loop special-cases
a task.
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import OmegaConf

from nascli.core.errors import NascliError
from nascli.core.objectives import maximised


@dataclass(frozen=True)
class Task:
    name: str
    #: what search.objective defaults to
    objective: str
    #: the score in words, as tables and plots name it
    metric: str
    #: what estimator=train reports for it
    train_metrics: tuple[str, ...]
    #: the inputs a network of this task takes
    inputs: str

    @property
    def maximise(self) -> bool:
        return maximised(self.objective)

    @property
    def better(self) -> str:
        return "higher" if self.maximise else "lower"


_CLASSIFIER = ("val_acc", "val_loss", "train_acc", "train_loss", "epochs")
TASKS = {
    t.name: t
    for t in (
        Task("image", "val_acc", "accuracy", _CLASSIFIER, "images (C, H, W)"),
        Task("sequence", "val_acc", "accuracy", _CLASSIFIER, "sequences (T, features)"),
        Task(
            "language_model",
            "val_ppl",
            "perplexity",
            ("val_ppl", "val_loss", "train_ppl", "train_loss", "epochs"),
            "token ids (T,)",
        ),
        Task("graph", "val_acc", "accuracy", _CLASSIFIER, "a graph's node features"),
    )
}


def task(name: str | None) -> Task:
    """The task `name` (None: image classification); a clear error for an unknown one."""
    key = "image" if name is None else str(name)
    if key not in TASKS:
        raise NascliError(f"dataset.task={key} is not a task; choose from {', '.join(TASKS)}")
    return TASKS[key]


def task_of(data: object) -> Task:
    """The task of a data module (its `task` attribute; image classification without one)."""
    return task(getattr(data, "task", None))


def _objective(name: str | None) -> str:
    """search.objective's default: the dataset's task's metric."""
    return task(name).objective


if not OmegaConf.has_resolver("nascli.task_objective"):
    OmegaConf.register_new_resolver("nascli.task_objective", _objective)
