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
