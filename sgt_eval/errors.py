"""The one exception type the CLI turns into a single clear line instead of a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix: bad input, missing data, unknown name.

    The message must name the file, field or flag at fault and say how to fix it.
    """
