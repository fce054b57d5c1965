"""The trained weights a search keeps for strategies whose children inherit them
(strategy=morphism): `weights/<key>.pt` in the run directory, one per architecture, named by a
hash of what it computes (`space.iso_key`), holding its network's state dict (tensors only,
read with weights_only=True)."""

from __future__ import annotations

import hashlib
import os
import pickle
import random
from pathlib import Path
from typing import Any

import torch

from nascli.core.errors import NascliError

WEIGHTS = "weights"


def weights_file(folder: str | Path, space: Any, arch: str) -> Path:
    key = hashlib.sha256(space.iso_key(arch).encode("utf-8")).hexdigest()[:20]
    return Path(folder) / f"{key}.pt"


def save_weights(folder: str | Path, space: Any, arch: str, net: torch.nn.Module) -> None:
    """Write `net`'s state dict for `arch`, atomically (a killed search leaves no torn file)."""
    path = weights_file(folder, space, arch)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, partial)
    os.replace(partial, path)


def inherited_network(
    space: Any, parent: str, arch: str, folder: str | Path, input_shape, num_classes: int, seed: int
) -> torch.nn.Module:
    """`arch`'s network grown from `parent`'s trained weights (saved by its trial)."""
    path = weights_file(folder, space, parent)
    if not path.is_file():
        raise NascliError(
            f"{path} is missing: the weights of {parent}, which {arch} grows from; "
            "a search that inherits weights needs its run directory's weights/ folder"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        raise NascliError(f"{path} is not a state dict of tensors ({type(exc).__name__})") from None
    parent_net = space.build(parent, input_shape, num_classes)
    try:
        parent_net.load_state_dict(state)
    except (RuntimeError, TypeError) as exc:
        raise NascliError(f"{path} does not fit {parent}'s network: {str(exc)[:200]}") from None
    return space.inherit(parent, parent_net, arch, random.Random(seed))
