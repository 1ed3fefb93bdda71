"""`medenoise` command line (typer): builds the app from the commands in `medenoise.commands`.

User errors print one line `error: <file>: <problem>` on stderr and exit 2.
"""

from __future__ import annotations

import sys

import typer

from medenoise.commands.bench import BENCH_HELP, bench, export
from medenoise.commands.denoise import denoise
from medenoise.commands.distill import distill
from medenoise.commands.evaluate import EVALUATE_HELP, evaluate
from medenoise.commands.inspect import inspect
from medenoise.commands.models import demo, models
from medenoise.commands.noise import noise_app
from medenoise.commands.study import STUDY_HELP, study
from medenoise.commands.train import train

app = typer.Typer(
    name="medenoise",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Self-supervised denoising of medical and microscopy images (SSDN, N2N, N2V, N2C).",
)

# registration order is the order of `medenoise --help`
app.command("train")(train)
app.command("distill")(distill)
app.command("denoise")(denoise)
app.command("inspect")(inspect)
app.add_typer(noise_app, name="noise")
app.command("evaluate", help=EVALUATE_HELP)(evaluate)
app.command("study", help=STUDY_HELP)(study)
app.command("bench", help=BENCH_HELP)(bench)
app.command("export")(export)
app.command("models")(models)
app.command("demo")(demo)


def main() -> None:
    """Console-script entry point; Ctrl-C exits 130 with one line instead of a traceback."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
