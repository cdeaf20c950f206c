"""The one base class of errors that mean "the user asked for something wrong" (exit status 2)."""


class UsageError(ValueError):
    """Bad option, bad file, unknown name: the message says what and how to fix it."""
