"""Read a pickle that someone else wrote without running code from it.

A pickle names the callables that rebuild its objects; `pickle.load` calls whatever it names, so
a crafted file runs code. `load` allows only what benchmark tables are made of: the builtin
containers and scalars (which pickle writes without naming a callable, except set and
frozenset) and numpy scalars of a numeric dtype. Anything else is refused with one line that
names the file and the class it asked for.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from nascli.core.errors import NascliError

_BUILTINS = {"set", "frozenset", "complex"}
# numpy writes a scalar as numpy.core.multiarray.scalar(dtype, bytes); numpy 2 moved the module.
_NUMPY_SCALAR = {("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}
_NUMERIC_KINDS = set("biufc")  # bool, int, unsigned, float, complex: never objects


class RefusedPickle(NascliError):
    """The pickle asked for a class or function outside the allowed set."""


def _numeric_dtype(*args: Any) -> Any:
    import numpy

    dtype = numpy.dtype(*args)
    if dtype.kind not in _NUMERIC_KINDS:
        raise pickle.UnpicklingError(f"numpy dtype {dtype} (only numeric dtypes are allowed)")
    return dtype


def _numeric_scalar(dtype: Any, data: Any = None) -> Any:
    import numpy

    if not isinstance(dtype, numpy.dtype) or dtype.kind not in _NUMERIC_KINDS:
        raise pickle.UnpicklingError(f"numpy scalar of dtype {dtype}")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError("numpy scalar whose bytes do not fit its dtype")
    return numpy.frombuffer(data, dtype=dtype)[0]


class _Restricted(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins" and name in _BUILTINS:
            return {"set": set, "frozenset": frozenset, "complex": complex}[name]
        if (module, name) in _NUMPY_SCALAR:
            return _numeric_scalar
        if module == "numpy" and name == "dtype":
            return _numeric_dtype
        raise pickle.UnpicklingError(f"{module}.{name}")


def loads(data: bytes, source: str) -> Any:
    """The object pickled in `data`; `source` names it in errors (a file path or a key)."""
    try:
        return _Restricted(io.BytesIO(data)).load()
    except pickle.UnpicklingError as exc:
        raise RefusedPickle(
            f"{source}: refused to unpickle {exc}; nascli reads only containers, numbers and "
            "strings from pickles, so this file is not the benchmark's (or was altered)"
        ) from None
    except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        raise RefusedPickle(f"{source}: not a readable pickle ({type(exc).__name__})") from None


def load(path: str | Path) -> Any:
    """The object pickled in the file at `path`, read with the restricted unpickler."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NascliError(f"{path}: cannot read it ({exc.strerror})") from None
    return loads(data, str(path))
