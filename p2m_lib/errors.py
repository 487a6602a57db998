"""The one exception type a user sees: the CLI prints its message on one line and exits non-zero."""


class P2MError(Exception):
    """A problem with the user's input or environment, with a message that says what to do."""
