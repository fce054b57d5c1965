"""Estimate from NAS-Bench-201's own file (`NAS-Bench-201-v1_1-096897.pth`), read through the
`nas-bench-201` package (`pip install 'nascli[nb201]'`).

A query follows the benchmark's simulated train/eval: the validation accuracy after `hp` epochs
of training (12: the short schedule search papers use; 200: the full one), charging the recorded
training time plus one validation pass to the search budget. One of the architecture's trial
seeds is drawn per query, seeded by the search. `test_acc` is what papers report for the chosen
architecture: the test accuracy after the full 200-epoch schedule, averaged over its trials.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

from nascli.core.errors import NascliError
from nascli.estimators.base import Estimator
from nascli.estimators.table import NotInTable

# The dataset a search reads validation accuracy from, and where its test accuracy comes from.
SPLITS = {
    "cifar10-valid": ("x-valid", "cifar10", "ori-test"),
    "cifar100": ("x-valid", "cifar100", "x-test"),
    "ImageNet16-120": ("x-valid", "ImageNet16-120", "x-test"),
}
HPS = ("12", "200")
NB201_SIZE = 15_625


def load_api(file: str) -> Any:
    """The benchmark's API object over `file`, or a one-line error saying what to install or set.

    The file is read with weights_only=True, always: a file that needs more could run code.
    """
    try:
        from nas_201_api import NASBench201API
    except ImportError as exc:
        raise NascliError(
            "estimator=nb201 needs the nas-bench-201 package: pip install 'nascli[nb201]'"
        ) from exc
    import torch

    path = Path(file)
    if not path.is_file():
        raise NascliError(
            f"bench.file={file} does not exist; give the NAS-Bench-201 file "
            "(NAS-Bench-201-v1_1-096897.pth, published by the benchmark's authors: the download "
            "link is in the README of github.com/D-X-Y/NAS-Bench-201; nascli never downloads it)"
        )
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise NascliError(
            f"bench.file={file} holds objects other than containers, numbers and strings, which "
            "nascli never unpickles; give the published NAS-Bench-201-v1_1-096897.pth"
        ) from exc
    except Exception as exc:
        raise NascliError(
            f"bench.file={file} is not a NAS-Bench-201 file ({type(exc).__name__})"
        ) from exc
    if not isinstance(data, dict) or not {"meta_archs", "arch2infos"} <= set(data):
        raise NascliError(
            f"bench.file={file} is not a NAS-Bench-201 file (no meta_archs/arch2infos)"
        )
    data.setdefault("evaluated_indexes", sorted(data["arch2infos"]))
    return NASBench201API(data, verbose=False)


class NB201Estimator(Estimator):
    metrics = ("val_acc", "test_acc", "val_loss", "epochs", "params", "flops", "latency_ms")
    simulated = True  # the search budget counts the charged seconds
    provides_cost = True  # params, FLOPs and latency come from the file: nothing is built

    def __init__(
        self,
        file: str,
        dataset: str = "cifar10-valid",
        hp: str | int = "12",
        epochs: int | None = None,
        weights_only: bool = True,
        batch_size: int = 64,
        trainer: Any = None,
    ) -> None:
        # batch_size and trainer are accepted for the search loop's sake; nothing is trained.
        if weights_only is not True:  # runs from before kept the key; the file is never unpickled
            raise NascliError(
                "estimator.weights_only=false is no longer supported: NAS-Bench-201's file is "
                "always read with weights_only=True; drop the key"
            )
        if dataset not in SPLITS:
            extra = "; cifar10 has no validation split there: use cifar10-valid" * (
                dataset == "cifar10"
            )
            raise NascliError(
                f"estimator.dataset={dataset} is not a NAS-Bench-201 search dataset; "
                f"choose from {', '.join(SPLITS)}{extra}"
            )
        self.hp = str(hp)
        if self.hp not in HPS:
            raise NascliError(f"estimator.hp={hp}: NAS-Bench-201 trained with 12 or 200 epochs")
        if epochs is not None and not 1 <= int(epochs) <= int(self.hp):
            raise NascliError(f"estimator.epochs={epochs} is out of range 1..{self.hp}")
        self.dataset, self.epochs = dataset, int(epochs or self.hp)
        self.api = load_api(file)
        self.evaluated = set(self.api.arch2infos_dict)

    @classmethod
    def optimum(cls, config: dict[str, Any]) -> float | None:
        """The best test accuracy among the cells the file has results for."""
        try:
            est = cls(
                str(config.get("file")),
                dataset=str(config.get("dataset", "cifar10-valid")),
            )
        except NascliError:
            return None
        return est.best_test_acc()

    def check_space(
        self, space_name: str, space_config: dict[str, Any], dataset: str | None = None
    ) -> None:
        if space_name != "nb201":
            raise NascliError(
                f"estimator=nb201 answers for the NAS-Bench-201 cell only, not space={space_name}; "
                "add space=nb201"
            )

    @property
    def coverage(self) -> float:
        return len(self.evaluated) / NB201_SIZE

    def _index(self, arch: str) -> int:
        index = self.api.query_index_by_arch(arch)
        return index if index in self.evaluated else -1

    def missing(self, arch: str, space: Any) -> str | None:
        if self._index(arch) >= 0:
            return None
        return f"bench.file: not in the file ({len(self.evaluated)} of {NB201_SIZE} cells)"

    def _test_acc(self, index: int) -> float:
        _, test_dataset, test_set = SPLITS[self.dataset]
        full = self.api.arch2infos_dict[index]["200"]
        return (
            float(
                full.get_metrics(test_dataset, test_set, iepoch=None, is_random=False)["accuracy"]
            )
            / 100
        )

    def best_test_acc(self) -> float:
        """The optimum a search's regret is measured against: the best cell's test accuracy."""
        return max(self._test_acc(i) for i in self.evaluated)

    def estimate(self, arch, net, data, seed, *, space, logger=None, rung=0) -> dict[str, Any]:
        return self.evaluate_arch(arch, space, data, seed)

    def evaluate_arch(self, arch: str, space: Any, data: Any, seed: int) -> dict[str, Any]:
        index = self._index(arch)
        if index < 0:
            raise NotInTable(f"{arch} is not in bench.file")
        valid_set = SPLITS[self.dataset][0]
        short = self.api.arch2infos_dict[index][self.hp]
        trial = random.Random(f"{seed}:{index}").choice(short.get_dataset_seeds(self.dataset))
        iepoch = self.epochs - 1
        train = short.get_metrics(self.dataset, "train", iepoch=iepoch, is_random=trial)
        valid = short.get_metrics(self.dataset, valid_set, iepoch=iepoch, is_random=trial)
        cost = short.get_compute_costs(self.dataset)
        # As the benchmark's simulate_train_eval: the training so far plus one validation pass.
        seconds = (train["all_time"] or 0.0) + (valid["all_time"] or 0.0) / (iepoch + 1)
        latency = cost.get("latency")
        out = {
            "val_acc": valid["accuracy"] / 100,
            "test_acc": self._test_acc(index),
            "val_loss": valid["loss"],
            "epochs": self.epochs,
            "params": round(float(cost["params"]) * 1e6),  # the file counts millions
            "flops": round(float(cost["flops"]) * 1e6),
            "simulated_seconds": seconds,
        }
        if latency:  # the file records none for some cells: then the key is absent, not None
            out["latency_ms"] = round(float(latency) * 1000, 4)
        return out
