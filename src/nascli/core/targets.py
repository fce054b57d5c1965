"""What a config may build: each `_target_` is resolved and judged by what it is, never by how
it is spelt.

A target is built only if it resolves to a class that nascli defines, or to a subclass of one of
the contracts below (nascli's plug-in bases, torch's optimisers, schedulers and modules,
Lightning's loggers and callbacks), found by the identity (module and qualified name) of the
classes in its MRO. Functions are never targets, so `torch.load`, `eval`, `os.system` or a
nascli helper that executes a file are refused however they are reached; stdlib modules are
never imported to find out (some do things on import), and no private attribute is followed.

What a nascli class does with its arguments is its own business: `CustomSpace` executes the
builder file it is given; which run-directory values may reach it is decided where run
directories are read, not here.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, ListConfig

from nascli.core.errors import NascliError

# The bases a built object may have, by module and qualified name.
CONTRACTS = frozenset(
    {
        "nascli.core.space.Space",
        "nascli.strategies.base.Strategy",
        "nascli.oneshot.strategies.OneShotStrategy",
        "nascli.estimators.base.Estimator",
        "torch.optim.optimizer.Optimizer",
        "torch.optim.lr_scheduler.LRScheduler",
        "torch.nn.modules.module.Module",
        "pytorch_lightning.loggers.logger.Logger",
        "pytorch_lightning.callbacks.callback.Callback",
    }
)
REFUSED_PACKAGES = frozenset({"builtins", "__main__", *sys.stdlib_module_names})


def _refuse(where: str, target: Any, why: str) -> NascliError:
    text = str(target)
    shown = text if len(text) <= 120 else text[:117] + "..."
    return NascliError(f"{where}._target_={shown} is not allowed: {why}")


def _resolve(path: str, where: str) -> Any:
    parts = path.split(".")
    if not all(p.isidentifier() for p in parts):
        raise _refuse(where, path, "a target is a dotted path of Python names")
    if parts[0] in REFUSED_PACKAGES:
        raise _refuse(where, path, f"nothing from the standard library ({parts[0]}) is built")
    if any(p.startswith("_") for p in parts):
        raise _refuse(where, path, "private and special attributes are not followed")
    module, i = None, len(parts)
    while i > 0:
        name = ".".join(parts[:i])
        try:
            module = importlib.import_module(name)
            break
        except ModuleNotFoundError as exc:
            if exc.name is None or not (name == exc.name or name.startswith(exc.name + ".")):
                raise _refuse(where, path, f"importing it failed ({exc})") from exc
            i -= 1
        except Exception as exc:  # a module that fails on import (a broken plug-in)
            raise _refuse(
                where, path, f"importing it failed ({type(exc).__name__}: {exc})"
            ) from exc
    if module is None:
        raise _refuse(where, path, f"no module {parts[0]} is installed")
    obj = module
    for attr in parts[i:]:
        try:
            obj = getattr(obj, attr)
        except AttributeError as exc:
            raise _refuse(where, path, f"{'.'.join(parts[:i])} has no {attr}") from exc
    return obj


def identity(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def is_buildable(obj: Any) -> bool:
    """A class nascli defines, or one that keeps one of the CONTRACTS."""
    if not inspect.isclass(obj):
        return False
    if obj.__module__.split(".")[0] == "nascli":
        return True
    return any(identity(base) in CONTRACTS for base in inspect.getmro(obj))


def check_target(target: Any, where: str) -> type:
    """The class `target` names, or a NascliError naming `where`."""
    if not isinstance(target, str):
        raise _refuse(where, target, "a target is a dotted path (a string)")
    obj = _resolve(target, where)
    if not is_buildable(obj):
        kind = "a class" if inspect.isclass(obj) else type(obj).__name__
        raise _refuse(
            where,
            target,
            f"it is {kind} ({getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', obj)!s:.60}), "
            "not a nascli class, optimiser, scheduler, torch module, logger or plug-in class",
        )
    return obj


def check_targets(node: Any, where: str) -> None:
    """Check every `_target_` at and below `node` (lists, `_args_` and nested nodes included)."""
    if isinstance(node, DictConfig | Mapping):
        target = node.get("_target_")
        if target is not None:
            check_target(target, where)
        for key, value in node.items():
            check_targets(value, f"{where}.{key}")
    elif isinstance(node, ListConfig | list | tuple):
        for i, value in enumerate(node):
            check_targets(value, f"{where}[{i}]")
