"""`medenoise study FILE.yaml -o DIR`: train what is missing, evaluate, write the report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medenoise.commands._common import parse_device, user_errors
from medenoise.commands._options import DeviceOpt

STUDY_HELP = (
    "Run a study: datasets x noise settings x model variants (see configs/studies/). Trains "
    "missing models (resuming interrupted runs), evaluates missing results, then writes "
    "results.csv, tables.md, figures/ and a self-contained report.html into OUT. Re-running "
    "a finished study only re-renders."
)


def study(
    file: Annotated[Path, typer.Argument(help="Study YAML.", show_default=False)],
    out: Annotated[Path, typer.Option("-o", "--out", help="Study folder.", show_default=False)],
    budget: Annotated[
        str, typer.Option(help="Budget preset from the study: small (CPU) or full (GPU).")
    ] = "small",
    data_root: Annotated[
        Path | None,
        typer.Option(
            help="Folder the study's data paths start from (default: the study's "
            "data_root, or $MEDENOISE_DATA)."
        ),  # fmt: skip
    ] = None,
    device: DeviceOpt = "cpu",
    render_only: Annotated[
        bool, typer.Option(help="Only re-render what has been computed; train nothing.")
    ] = False,
) -> None:
    """Run a study (help text: STUDY_HELP)."""
    from medenoise.eval.study import run_study

    with user_errors():
        device = parse_device(device).torch
        report = run_study(file, out, budget, data_root, device, render_only,
                           log=lambda m: typer.echo(m, err=True))  # fmt: skip
    typer.echo(str(report))
