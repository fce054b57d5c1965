"""nascli: Neural Architecture Search from the command line.

Importing this package is cheap on purpose: torch and Lightning load only when a command needs them.
"""

__version__ = "0.1.0"

from nascli.spaces.custom import Choices  # noqa: E402  (the custom-space API; imports no torch)
from nascli.tasks import task as _task  # noqa: E402, F401  (search.objective's default resolver)


def load(path, map_location="cpu", trust_builder=False):
    """The trained network of a `nas train` run directory as a plain nn.Module in eval mode
    (see nascli.results.export.load); torch loads on this first call. A custom space's bundle
    runs its builder file, so it loads only with trust_builder=True."""
    from nascli.results.export import load as _load

    return _load(path, map_location=map_location, trust_builder=trust_builder)


__all__ = ["Choices", "__version__", "load"]
