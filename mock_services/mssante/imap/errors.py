"""The exceptions that end a command (a tagged BAD or NO) or the connection (the client left, a
line too long).
"""

from __future__ import annotations


class _Bad(Exception):
    """Malformed or out-of-state command: a tagged BAD with this text."""


class _No(Exception):
    """A refused command: a tagged NO with this text (which may start with a response code)."""


class _Eof(Exception):
    """The client went away; ``outcome`` is what to record when the command's fate was already known."""

    def __init__(self, outcome: tuple[str, str] | None = None):
        super().__init__(outcome)
        self.outcome = outcome


class _TooLong(Exception):
    """A line longer than the limit: BAD and close, since the rest of the line cannot be trusted."""
