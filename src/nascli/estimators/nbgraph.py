"""Estimate from NAS-Bench-Graph's tables (Qin et al., NeurIPS 2022 Datasets & Benchmarks), which
the `nas-bench-graph` package ships: one row per unique network of space=nbgraph on each of nine
graph datasets, with the validation and test score of its trained GNN, its latency and its
parameter count.

The search is rewarded with the validation score (`val_acc`); `test_acc` is recorded for the
report and never chosen by. (The benchmark's own example scripts reward the test score, which
lets the test set choose the architecture.) The tables are pickles: they are read with nascli's
restricted unpickler, which builds containers, numbers and strings and nothing else.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

from nascli.core import safe_pickle
from nascli.core.errors import NascliError
from nascli.estimators.base import Estimator

# The datasets the package has tables for. On proteins the score is ROC-AUC, elsewhere accuracy.
DATASETS = (
    "cora",
    "citeseer",
    "pubmed",
    "cs",
    "physics",
    "photo",
    "computers",
    "arxiv",
    "proteins",
)


def table_file(dataset: str, file: str | None = None) -> Path:
    """The table of `dataset`: `file` when given, else the one inside the installed package
    (found without importing it)."""
    if file:
        return Path(file).expanduser()
    spec = importlib.util.find_spec("nas_bench_graph")
    if spec is None or not spec.origin:
        raise NascliError(
            "estimator=nbgraph needs the nas-bench-graph package (pip install nas-bench-graph), "
            "whose tables it reads"
        )
    return Path(spec.origin).parent / "light" / f"{dataset}.bench"


def read_table(dataset: str, file: str | None = None) -> dict[int, dict[str, float]]:
    """{row number: {val_acc, test_acc, latency_ms, params}} of one dataset's table (a fresh
    copy; the file is parsed once per process while it is unchanged)."""
    path = table_file(dataset, file)
    if not path.is_file():
        raise NascliError(
            f"estimator.file={path} does not exist; drop the key to read the package's table"
        )
    stat = path.stat()
    rows = _parsed(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    return {key: dict(row) for key, row in rows.items()}


@functools.lru_cache(maxsize=4)
def _parsed(path: str, size: int, mtime_ns: int) -> dict[int, dict[str, float]]:
    """The rows of the table at `path`; size and mtime make a changed file a new entry, so a
    sweep's jobs share one parse."""
    raw = safe_pickle.load(path)
    if not isinstance(raw, dict) or not raw:
        raise NascliError(f"{path} is not a NAS-Bench-Graph table (no rows)")
    rows = {}
    try:
        for key, row in raw.items():
            rows[int(key)] = {
                "val_acc": float(row["valid_perf"]),
                "test_acc": float(row["perf"]),
                "latency_ms": round(float(row["latency"]) * 1000, 6),  # the table has seconds
                "params": round(float(row["para"]) * 1e6),  # and millions of parameters
            }
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise NascliError(
            f"{path} is not a NAS-Bench-Graph table (a row lacks valid_perf/perf/latency/para: {exc})"
        ) from None
    return rows


class NBGraphEstimator(Estimator):
    """Args: dataset (one of DATASETS; the search's dataset= by default), file (another copy
    of that dataset's table; null: the package's)."""

    metrics = ("val_acc", "test_acc", "latency_ms", "params")
    provides_cost = True  # latency and parameters come from the table: nothing is built

    def __init__(
        self,
        dataset: str | None = None,
        file: str | None = None,
        batch_size: int = 64,
        trainer: Any = None,
    ) -> None:
        # batch_size and trainer are accepted for the search loop's sake; nothing is trained.
        if dataset not in DATASETS:
            given = "this dataset" if dataset is None else f"dataset={dataset}"
            raise NascliError(
                f"estimator=nbgraph answers for NAS-Bench-Graph's datasets, not {given}; "
                f"add dataset=cora (or {', '.join(DATASETS[1:])})"
            )
        self.dataset = dataset
        self.rows = read_table(dataset, file)

    @classmethod
    def optimum(cls, config: dict[str, Any]) -> float | None:
        """The best test score in the table (what regret is measured against)."""
        try:
            est = cls(config.get("dataset"), config.get("file"))
        except NascliError:
            return None
        return max(r["test_acc"] for r in est.rows.values())

    def oracle(self) -> dict[str, Any]:
        """The row with the best validation score: what a search that tried every
        architecture, and chose as a search must, would report."""
        return max(self.rows.values(), key=lambda r: r["val_acc"])

    def check_space(
        self, space_name: str, space_config: dict[str, Any], dataset: str | None = None
    ) -> None:
        if space_name != "nbgraph":
            raise NascliError(
                f"estimator=nbgraph answers for NAS-Bench-Graph's space only, not "
                f"space={space_name}; add space=nbgraph"
            )
        from nascli.spaces.nbgraph import OPS, PROTEINS_OPS

        given = tuple(space_config.get("ops") or OPS)
        want = PROTEINS_OPS if self.dataset == "proteins" else OPS
        if given != want:
            raise NascliError(
                f"NAS-Bench-Graph's {self.dataset} table has the ops {', '.join(want)}; "
                f"space.ops={list(given)} does not match it: drop space.ops"
            )

    def entries(self, space: Any, seed: int = 0) -> list[tuple[str, dict[str, Any]]]:
        return [(arch, dict(self.rows[space.table_key(arch)])) for arch in space.enumerate()]

    def missing(self, arch: str, space: Any) -> str | None:
        if space.table_key(arch) in self.rows:
            return None
        return f"not in NAS-Bench-Graph's {self.dataset} table"

    def estimate(self, arch, net, data, seed, *, space, logger=None, rung=0) -> dict[str, Any]:
        row = self.rows.get(space.table_key(arch))
        if row is None:
            raise LookupError(f"{arch} is not in NAS-Bench-Graph's {self.dataset} table")
        return dict(row)
