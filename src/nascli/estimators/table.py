"""Estimate from a benchmark table: an instant lookup that charges the recorded training time.

As NAS-Bench-201's simulated train/eval: a query at `epochs` returns the accuracies after that
many epochs and costs the table's training seconds scaled to those epochs; the search budget
(`search.seconds`) counts these simulated seconds, not the wall clock.
"""

from __future__ import annotations

from typing import Any

from nascli.benchmarks.table import BenchTable
from nascli.core.errors import NascliError
from nascli.estimators.base import Estimator


class NotInTable(LookupError):
    """The table has no row for this architecture (a sampled table); the trial fails."""


class TableEstimator(Estimator):
    metrics = ("val_acc", "test_acc", "val_loss", "epochs", "params", "flops", "latency_ms")
    simulated = True  # the search budget counts the charged seconds
    provides_cost = True  # params, FLOPs and latency come from the table: nothing is built

    def __init__(
        self, file: str, epochs: int | None = None, batch_size: int = 64, trainer: Any = None
    ) -> None:
        # batch_size and trainer are accepted for the search loop's sake; nothing is trained.
        self.table = BenchTable(file)
        self.meta = self.table.meta()
        self.rows = self.table.rows()
        self.table.close()
        if not self.rows:
            raise NascliError(f"bench.file={file} has no architectures yet; build it first")
        built = int(self.meta.get("epochs", 0))
        if epochs is not None and not 1 <= int(epochs) <= built:
            raise NascliError(
                f"estimator.epochs={epochs} is out of range: the table has curves of 1..{built} epochs"
            )
        self.epochs, self.built_epochs = int(epochs or built), built

    @classmethod
    def optimum(cls, config: dict[str, Any]) -> float | None:
        """The best test accuracy in the table at `epochs` (None: its full curves)."""
        try:
            table = BenchTable(str(config.get("file")))
        except NascliError:
            return None
        try:
            built = int(table.meta().get("epochs", 0))
            e = int(config.get("epochs") or built)
            accs = [
                r["curves"]["test_acc"][e - 1]
                for r in table.rows().values()
                if r["status"] == "ok" and len(r["curves"].get("test_acc", [])) >= e
            ]
        finally:
            table.close()
        return max(accs) if accs else None

    def check_space(
        self, space_name: str, space_config: dict[str, Any], dataset: str | None = None
    ) -> None:
        """The search must be over the space, skeleton and dataset the table was built for."""
        built_on = self.meta.get("dataset")
        if dataset and built_on and built_on != dataset:
            raise NascliError(
                f"the table was built on dataset={built_on}, not dataset={dataset}; add dataset={built_on}"
            )
        want = self.meta.get("space_name")
        if want is not None and want != space_name:
            raise NascliError(
                f"the table was built for space={want}, not space={space_name}; add space={want}"
            )
        built = self.meta.get("space_config") or {}
        for key, value in built.items():
            if space_config.get(key) != value:
                raise NascliError(
                    f"the table was built with space.{key}={value}, this search has "
                    f"space.{key}={space_config.get(key)}; set space.{key}={value}"
                )

    @property
    def coverage(self) -> float:
        """The share of the space's unique architectures the table holds (1.0 for a full table)."""
        total = int(self.meta.get("space_unique") or len(self.rows))
        return min(1.0, len(self.rows) / max(total, 1))

    def entries(self, space: Any, seed: int = 0) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for row in self.rows.values():
            if row["status"] == "ok":
                out.append((row["arch"], self.evaluate_arch(row["arch"], space, None, seed)))
        return out

    def missing(self, arch: str, space: Any) -> str | None:
        """Why `arch` cannot be looked up (None when it can): a sampled table lacks most archs."""
        if space.iso_key(arch) in self.rows:
            return None
        return (
            f"bench.file: not in the table ({len(self.rows)} of the space's unique architectures)"
        )

    def estimate(self, arch, net, data, seed, *, space, logger=None, rung=0) -> dict[str, Any]:
        return self.evaluate_arch(arch, space, data, seed)

    def evaluate_arch(self, arch: str, space: Any, data: Any, seed: int) -> dict[str, Any]:
        row = self.rows.get(space.iso_key(arch))
        if row is None:
            raise NotInTable(f"{arch} is not in the table (it was built from a sample)")
        if row["status"] != "ok":
            raise RuntimeError(f"this architecture failed when the table was built: {row['error']}")
        e = self.epochs
        curves = row["curves"]
        return {
            "val_acc": curves["val_acc"][e - 1],
            "test_acc": curves["test_acc"][e - 1],
            "val_loss": curves["val_loss"][e - 1],
            "epochs": e,
            "params": row["params"],
            "flops": row["flops"],
            "latency_ms": row["latency_ms"],
            "simulated_seconds": row["train_seconds"] * e / self.built_epochs,
        }
