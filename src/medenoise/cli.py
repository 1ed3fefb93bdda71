"""`medenoise` command line (typer). Thin: parses options, calls the library, prints.

User errors print one line `error: <file>: <problem>` on stderr and exit 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from medenoise.commands._common import fail, parse_shard, user_errors
from medenoise.commands.batch import (
    check_out_folder,
    denoise_file,
    output_paths,
    process_files,
)

app = typer.Typer(
    name="medenoise",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Self-supervised denoising of medical and microscopy images (SSDN, N2N, N2V, N2C).",
)


from medenoise.commands.train import train  # noqa: E402  (first in --help)

app.command("train")(train)


@app.command()
def denoise(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Images or folders to denoise.",
            show_default=False,
            readable=False,  # unreadable files get our one-line error, not a usage box
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "-o",
            "--out",
            help="Output folder (same file names, same format and dtype as the inputs).",
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option(
            help="Model file (.safetensors) or a training-free baseline: bm3d, vst-bm3d, "
            "nlm, identity."
        ),
    ] = None,
    noise: Annotated[
        str | None,
        typer.Option(
            help="Noise level of the inputs, e.g. gaussian:25, for models trained with a "
            "known level and for baselines (estimated per image when omitted)."
        ),
    ] = None,
    value_range: Annotated[
        str | None,
        typer.Option(
            "--range",
            help="LO,HI in the file's value units mapped to [0, 1] before denoising, e.g. "
            "-1024,3071 for CT in HU; overrides the range used for normalisation (default: "
            "the format's nominal range, e.g. the int16 range, in which CT fills ~3 %). Use "
            "the range the model was trained with. Outputs keep the input's dtype and units.",
        ),
    ] = None,
    axis: Annotated[
        str,
        typer.Option(
            help="NIfTI volumes: denoise slice by slice along this spatial axis, 0 | 1 | 2 | "
            "auto (the acquisition plane: the header's slice_dim if set, else the last axis).",
        ),
    ] = "auto",
    tile: Annotated[
        int | None,
        typer.Option(
            help="Tile side in pixels for images too large to denoise in one piece (multiple "
            "of 32, above the model's tile overlap: 640 for SSDN, 320 for plain U-Nets). "
            "Default: the largest that fits in half the free memory. Results do not depend "
            "on it; smaller tiles use less memory and more time.",
        ),
    ] = None,
    batch: Annotated[
        int | None,
        typer.Option(
            help="Planes of a stack or volume (or tiles) per network call. Default: 1 on "
            "CPU; on a GPU as many planes as fit in half its free memory (up to 64).",
            min=1,
        ),
    ] = None,
    precision: Annotated[
        str,
        typer.Option(
            help="32 | bf16: bf16 runs the network's convolutions under bfloat16 autocast "
            "(GPUs); the noise model and posterior stay float64."
        ),
    ] = "32",
    ensemble: Annotated[
        bool | None,
        typer.Option(
            "--ensemble/--no-ensemble",
            help="Geometric self-ensemble: also denoise the mirrored image and average "
            "(all 8 flips/rotations for plain U-Nets). SSDN: 2x the time for ~0.1 dB "
            "(BENCHMARKS.md). Default: the zoo model's setting (`medenoise models`), off "
            "for model files.",
            show_default=False,
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
    skip_bad: Annotated[
        bool,
        typer.Option(
            help="Exit 0 when some files could not be denoised (each is still reported); "
            "without it such a run exits 2 after processing the good files."
        ),
    ] = False,
    trust_pickle: Annotated[
        bool,
        typer.Option(
            help="Allow --model to be a Lightning .ckpt from your own `medenoise train` run "
            "(RUNDIR/checkpoints/last.ckpt). It is still loaded with torch's weights-only "
            "unpickler; never pass checkpoints from others.",
        ),
    ] = False,
    device: Annotated[str, typer.Option(help="cpu | cuda | cuda:1 ...")] = "cpu",
    adapt: Annotated[
        int,
        typer.Option(
            help="Fine-tune the model STEPS steps on these noisy inputs first (self-supervised: "
            "no clean image; SSDN and Noise2Void models only), then denoise them with the "
            "result. Fits a pretrained model to your modality (medenoise demo: MRI 30.84 -> "
            "31.95 dB after 40 steps). 0: off.",
            metavar="STEPS",
            min=0,
        ),
    ] = 0,
    adapt_lr: Annotated[
        float,
        typer.Option(help="Learning rate of --adapt: flat, then down to 0 over the second half."),
    ] = 1e-4,
    backend: Annotated[
        str,
        typer.Option(
            help="torch | onnx. onnx: run the network in ONNX Runtime (CPU; about 2× faster "
            "for SSDN, see BENCHMARKS.md); the first use of a model exports it to the cache."
        ),
    ] = "torch",
    shard: Annotated[
        str | None,
        typer.Option(
            help="I/N: denoise only files I, I+N, I+2N, ... of the sorted list (0 ≤ I < N), "
            "so N processes or devices share a folder (e.g. a SLURM array: "
            "--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT).",
        ),
    ] = None,
) -> None:
    """Denoise images with a trained model; writes each result into the output folder."""
    from medenoise.api import load_model
    from medenoise.commands._common import parse_range
    from medenoise.data.io.nifti import parse_axis
    from medenoise.data.patches import list_images
    from medenoise.inference.options import InferenceOptions

    with user_errors():
        if model is None:
            fail("no --model given: pass a model file from `medenoise train` or a zoo name")
        check_out_folder(out)
        vrange = parse_range(value_range)
        slice_axis = parse_axis(axis)
        part = parse_shard(shard)
        jobs = output_paths(list_images(inputs), inputs, out)
        if part is not None:
            jobs = jobs[part[0] :: part[1]]
        options = dict(noise=noise, overwrite=overwrite, value_range=vrange, axis=slice_axis)
        running = InferenceOptions(
            tile=tile, batch=batch, precision=precision, ensemble=ensemble, backend=backend,
            device=device,
        )  # fmt: skip
        if adapt and jobs:
            from medenoise.adaptation import adapt_denoiser

            denoiser = adapt_denoiser(
                model, [job[0] for job in jobs], adapt, options=running, noise=noise,
                value_range=vrange, lr=adapt_lr, trust_pickle=trust_pickle,
            )  # fmt: skip
        else:
            denoiser = load_model(model, trust_pickle=trust_pickle, options=running)
    process_files(jobs, lambda job: denoise_file(denoiser, *job, **options), skip_bad)


from medenoise.commands.noise import noise_app  # noqa: E402

app.add_typer(noise_app, name="noise")

from medenoise.commands.evaluate import EVALUATE_HELP, evaluate  # noqa: E402

app.command("evaluate", help=EVALUATE_HELP)(evaluate)

from medenoise.commands.bench import BENCH_HELP, bench, export  # noqa: E402
from medenoise.commands.models import demo, models  # noqa: E402
from medenoise.commands.study import STUDY_HELP, study  # noqa: E402

app.command("study", help=STUDY_HELP)(study)
app.command("bench", help=BENCH_HELP)(bench)
app.command("export")(export)
app.command("models")(models)
app.command("demo")(demo)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
