"""The per-file batch loop of `denoise` and `noise add`: every file gets its own chance.

A bad file gets its own `error: <path>: <problem>` line and the others are still processed; the
run ends with a summary and exit 2, or exit 0 with --skip-bad (bad files then say `skipped:`).
"""

from __future__ import annotations

from pathlib import Path

import typer

from medenoise.errors import UserError


def check_out_folder(out: Path) -> None:
    """-o must name a folder (existing or not), never an existing file."""
    if out.exists() and not out.is_dir():
        raise UserError("is a file, not a folder; -o names the output folder", out)


def process_files(jobs: list[tuple], work, skip_bad: bool = False) -> None:
    """Run `work(job)` for every (src, dst, ...) job: a bad file gets its own error line and
    the others still run. Ends with a summary when some failed and exits 2, or 0 with
    `skip_bad` (the bad files are then reported as skipped)."""
    failed = 0
    for job in jobs:
        try:
            work(job)
        except UserError as exc:
            typer.echo(f"{'skipped' if skip_bad else 'error'}: {exc}", err=True)
            failed += 1
        else:
            typer.echo(f"{job[0]} -> {job[1]}")
    if not failed:
        return
    done = len(jobs) - failed
    if skip_bad:
        typer.echo(f"skipped {failed} of {len(jobs)} files; {done} written", err=True)
        return
    if len(jobs) > 1:
        typer.echo(
            f"error: {failed} of {len(jobs)} files failed ({done} written); "
            "pass --skip-bad to exit 0 when some files are bad",
            err=True,
        )
    raise typer.Exit(2)
