"""nascli: Neural Architecture Search from the command line.

Importing this package is cheap on purpose: torch and Lightning load only when a command needs them.
"""

__version__ = "0.1.0"

from nascli.spaces.custom import Choices  # noqa: E402  (the custom-space API; imports no torch)

__all__ = ["Choices", "__version__"]
