"""The one exception type for user errors; the CLI prints it as `error: <path>: <msg>`, exit 2."""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """A problem with what the user gave us (file, option, model), not a bug in medenoise."""

    def __init__(self, message: str, path: str | Path | None = None):
        """Keep `message` on one line and `path` (the file or option at fault) as text."""
        message = " ".join(str(message).split())  # one line: the CLI prints one line per error
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.message = message

    def __str__(self) -> str:
        """`<path>: <message>`, the form the CLI prints after `error: `."""
        return f"{self.path}: {self.message}" if self.path else self.message
