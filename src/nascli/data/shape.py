"""A dataset's input shape and class count, without loading it when its config states them."""

from __future__ import annotations

from omegaconf import DictConfig

from nascli.core.config import instantiate


def dataset_shape(cfg: DictConfig) -> tuple[tuple[int, ...], int]:
    """Input shape and class count, from the dataset config when it states them, else from the data."""
    shape, classes = cfg.dataset.get("input_shape"), cfg.dataset.get("num_classes")
    if shape is not None and classes is not None:
        return tuple(int(s) for s in shape), int(classes)
    data = instantiate(cfg.dataset, "dataset", seed=cfg.get("seed", 0))
    return data.input_shape, data.num_classes
