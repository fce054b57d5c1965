"""The graph datasets of NAS-Bench-Graph, as facts about them (nodes, features, classes): a search
on the benchmark's tables needs no graph loaded. Training GNNs on the graphs themselves is not
supported yet, and asking for it is a clear error."""

from __future__ import annotations

from typing import Any

from nascli.core.errors import NascliError


class BenchmarkGraph:
    """One of the benchmark's datasets. Args: benchmark (its name there), nodes, features,
    num_classes, metric (what its val_acc/test_acc hold), ops (the op set of its tables, when
    not the nine)."""

    def __init__(
        self,
        benchmark: str,
        nodes: int,
        features: int,
        num_classes: int,
        metric: str = "accuracy",
        seed: int = 0,
        batch_size: int = 64,
        **_: Any,
    ) -> None:
        self.benchmark, self.nodes, self.metric = benchmark, nodes, metric
        self.input_shape = (int(features),)
        self.num_classes = int(num_classes)

    def setup(self, stage: str | None = None) -> None:
        return None

    def sizes(self) -> dict[str, int]:
        return {"nodes": self.nodes}

    def refuse(self, *_: Any, **__: Any) -> Any:
        raise NascliError(
            f"dataset={self.benchmark} is available as NAS-Bench-Graph's tables only "
            "(space=nbgraph estimator=nbgraph); training on the graph itself is not supported yet"
        )

    train_dataloader = val_dataloader = test_dataloader = full_train_dataloader = refuse
    halves_dataloader = arrays = refuse
