"""Helpers every command shares: one-line user errors and option parsing (range, shard,
device)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

from medenoise.devices import Device, parse_device  # noqa: F401 (commands import them here)
from medenoise.errors import UserError


@contextlib.contextmanager
def user_errors():
    """Turn UserError into `error: ...` on stderr and exit code 2."""
    try:
        yield
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def fail(message: str, path: str | Path | None = None) -> None:
    """Stop the command with one `error:` line (inside `user_errors`)."""
    raise UserError(message, path)


def parse_range(text: str | None) -> tuple[float, float] | None:
    """'lo,hi' → (lo, hi); None stays None; anything else is a UserError."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise UserError(
            f"--range {text!r}: give two numbers LO,HI, e.g. --range -1024,3071"
        ) from None
    if not lo < hi:
        raise UserError(f"--range {text!r}: LO must be below HI")
    return lo, hi


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """ "I/N" → (I, N) with 0 ≤ I < N."""
    if text is None:
        return None
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise UserError(f"--shard {text!r}: expected I/N, e.g. 0/4") from None
    if not 0 <= i < n:
        raise UserError(f"--shard {text!r}: need 0 ≤ I < N")
    return i, n
