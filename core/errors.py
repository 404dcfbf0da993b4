"""User-facing errors.

A :class:`UserError` is a mistake the user can fix (bad flag, bad file, impossible
parameter). The CLI prints its one-line message and exits with status 2, with no
traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(Exception):
    """A mistake in user input; the message names the field and the fix.

    Parameters
    ----------
    message : str
        One line: what is wrong and how to fix it.
    exit_code : int, optional
        Process exit status used by the CLI (default 2).
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
