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


def output_paths(files: list[Path], inputs: list[Path], out: Path) -> list[tuple[Path, Path]]:
    """Map each input file to OUTDIR/<its path relative to the folder it was found in>;
    two inputs that would land on one output are refused before anything is written."""
    jobs = []
    roots = [p for p in inputs if p.is_dir()]
    seen: dict[Path, Path] = {}
    for f in files:
        root = next((r for r in roots if f.is_relative_to(r)), None)
        rel = f.relative_to(root) if root else Path(f.name)
        target = (out / rel).resolve()
        if target in seen:
            raise UserError(f"two inputs ({seen[target]} and {f}) would be written here", out / rel)
        seen[target] = f
        jobs.append((f, out / rel))
    return jobs


def denoise_file(
    denoiser, src: Path, dst: Path, *, noise, overwrite: bool, value_range, axis
) -> None:
    """Denoise one file (image, stack or volume) into `dst`; bad input is a UserError."""
    from medenoise.data.io import image_notes, read, write

    if dst.resolve() == src.resolve():
        raise UserError("output would overwrite the input; choose another -o", src)
    if dst.exists() and not overwrite:
        raise UserError("output exists; pass --overwrite to replace it", dst)
    image = read(src, value_range=value_range, axis=axis)
    for note in image_notes(image):
        typer.echo(f"note: {src}: {note}", err=True)
    try:
        denoiser.denoise_image(image, noise)
    except UserError as exc:
        if exc.path is not None:
            raise
        raise UserError(exc.message, src) from None
    set_derivation(image, denoiser)
    write(dst, image)


def set_derivation(image, denoiser) -> None:
    """Name the model in the output's provenance (DICOM DerivationDescription)."""
    from medenoise.data.io.common import set_provenance

    set_provenance(image, f"medenoise {denoiser.config.method} ({Path(denoiser.source).name})")
