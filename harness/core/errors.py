"""The base classes of errors the harness raises on purpose, so none of them ever escapes as a crash.

``UsageError``: the user asked for something wrong (exit status 2). ``BadInput``: bytes from
outside (a product, a client of a mock, a file given to ``segur validate``) that cannot be read;
whoever catches it answers in the protocol's own error format or reports a finding.
"""


class UsageError(ValueError):
    """Bad option, bad file, unknown name: the message says what and how to fix it."""


class BadInput(ValueError):
    """Input from outside the harness that cannot be read as the format it claims to be."""
