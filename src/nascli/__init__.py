"""nascli: Neural Architecture Search from the command line.

Importing this package is cheap on purpose: torch and Lightning load only when a command needs them.
"""

__version__ = "0.1.0"
