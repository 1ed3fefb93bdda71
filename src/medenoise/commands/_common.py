"""Helpers every command shares: one-line user errors and option parsing (range, shard,
device)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import NamedTuple

import typer

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


class Device(NamedTuple):
    """A `--device` choice as Lightning's (accelerator, devices); `.torch` is the same device
    as a torch device string, for inference."""

    accelerator: str
    devices: int | str

    @property
    def torch(self) -> str:
        """'cpu', 'cuda' or 'cuda:N'."""
        if self.accelerator == "cpu":
            return "cpu"
        return "cuda" if self.devices == 1 else f"cuda:{str(self.devices).rstrip(',')}"


def parse_device(text: str) -> Device:
    """'cpu' | 'cuda' | 'cuda:N' → Device; the one device vocabulary of every command."""
    name = str(text).strip().lower()
    if name == "cpu":
        return Device("cpu", 1)
    kind, _, index = name.partition(":")
    if kind == "cuda" and (not index or index.isdigit()):
        # Lightning picks GPU N by the list form "N," (a bare int N means N devices)
        return Device("gpu", f"{int(index)}," if index else 1)
    raise UserError(f"--device {text!r}: choose cpu, cuda or cuda:N")
