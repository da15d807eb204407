"""The one error type the CLI knows how to show."""

from __future__ import annotations

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130


class AgentsError(Exception):
    """An expected failure: shown as one `error:` line plus an optional `hint:` line."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int = EXIT_ERROR):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(AgentsError):
    """The command line is wrong (an unknown choice, a malformed or empty value, options that do
    not go together): exit 2, the same as argparse's own errors, whatever finds the mistake."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message, hint=hint, exit_code=EXIT_USAGE)
