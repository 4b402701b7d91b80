"""The one base class for errors a user can fix: a message, and exit status 2 at a front door."""

from __future__ import annotations


class UserError(RuntimeError):
    """Something the user can act on; the message says what failed and what to do."""

    exit_status = 2
