"""The one exception type users are meant to read."""


class NascliError(Exception):
    """A problem the user can fix; its message names the key or path and the fix.

    The dispatcher prints it as one line and exits with status 2, without a traceback.
    """
