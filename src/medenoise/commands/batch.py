"""The per-file batch loop of `denoise` and `noise add`: every file gets its own chance.

A bad file gets its own `error: <path>: <problem>` line and the others are still processed; the
run ends with a summary and exit 2, or exit 0 with --skip-bad (bad files then say `skipped:`).
"""

from __future__ import annotations

from pathlib import Path

import typer

from medenoise.errors import UserError
from medenoise.planning import Job


def process_files(jobs: list[Job], work, skip_bad: bool = False) -> None:
    """Run `work(job)` for every planned Job: a bad file gets its own error line and the
    others still run. Ends with a summary when some failed and exits 2, or 0 with `skip_bad`
    (the bad files are then reported as skipped)."""
    # A DICOM series is one unit of work: it succeeds or fails as a whole, and counts as its
    # number of files in the summary.
    failed = 0
    total = sum(len(job.parts) for job in jobs)
    for job in jobs:
        try:
            work(job)
        except UserError as exc:
            typer.echo(f"{'skipped' if skip_bad else 'error'}: {exc}", err=True)
            failed += len(job.parts)
        else:
            for part in job.parts:
                typer.echo(f"{part.src} -> {part.dst}")
    if not failed:
        return
    done = total - failed
    if skip_bad:
        typer.echo(f"skipped {failed} of {total} files; {done} written", err=True)
        return
    if total > 1:
        typer.echo(
            f"error: {failed} of {total} files failed ({done} written); "
            "pass --skip-bad to exit 0 when some files are bad",
            err=True,
        )
    raise typer.Exit(2)


def denoise_file(denoiser, job: Job, *, noise, value_range, axis, overwrite: bool) -> None:
    """Denoise one file (image, stack or volume) or one DICOM series as `plan_jobs` planned it;
    bad input is a UserError naming the file."""
    from medenoise.data.io import image_notes
    from medenoise.data.io.series import read_unit, write_unit

    src = job.src
    for part in job.parts:
        if part.dst.exists() and not overwrite:
            raise UserError("output exists; pass --overwrite to replace it", part.dst)
    # A series is read with one working range and denoised as one stack of slices.
    image = read_unit([part.src for part in job.parts], value_range, axis)
    for note in image_notes(image):
        typer.echo(f"note: {src}: {note}", err=True)
    try:
        denoiser.denoise_image(image, noise)
    except UserError as exc:
        if exc.path is not None:
            raise
        raise UserError(exc.message, src) from None
    set_derivation(image, denoiser)
    write_unit([part.dst for part in job.parts], image)


def set_derivation(image, denoiser) -> None:
    """Name the model in the output's provenance (DICOM DerivationDescription), with the
    guard's findings when it flagged the output."""
    from medenoise.data.io.common import set_provenance
    from medenoise.guard.session import provenance_note

    derivation = f"medenoise {denoiser.config.method} ({Path(denoiser.source).name})"
    if note := provenance_note(denoiser):
        derivation += f"; {note}"
    set_provenance(image, derivation)
