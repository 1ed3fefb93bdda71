"""`medenoise noise add`: copies of images with synthetic noise, bit-identical for a given seed.

The noise for a file is drawn from a generator seeded by (seed, the file's name relative to the
folder it was found in), hashed with SHA-256, so the same command gives the same bytes on any
machine and wherever the folder lives. Outputs keep the input's format, dtype and headers.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Annotated

import typer

from medenoise.commands._common import parse_range, user_errors
from medenoise.commands._options import Inputs, Out, Overwrite, SkipBad, ValueRange
from medenoise.errors import UserError

if TYPE_CHECKING:
    import torch

    from medenoise.data.io import Image
    from medenoise.noise import NoiseModel
    from medenoise.planning import Job

noise_app = typer.Typer(
    no_args_is_help=True,
    help="Synthetic noise: make noisy test data from clean images.",
)

ADD_HELP = "\n\n".join(
    [
        "Write a noisy copy of every INPUT image into OUTDIR (same relative paths).",
        "SPEC: gaussian:25 (σ = 25/255 of the working range), gaussian:5-50 (σ drawn per file), "
        "poisson:30 (λ photons at intensity 1.0), pg:a=0.016,b=-0.0002, rician:25, impulse:0.5.",
        "Images are put on a [0, 1] scale by their working range: 8-bit by 0..255; 16-bit by "
        "the integer range (DICOM: BitsStored after rescale slope/intercept), or by the values "
        "present when they fill under a quarter of it; floats as given, or by their own range "
        "when far outside [0, 1]; one range per file or DICOM series. --range overrides it. "
        "The noisy copy keeps the clean file's range, so both mean the same values.",
        "Outputs keep the input's format and dtype. Noise is never clipped while computed, but "
        "integer files can only hold their type's values: samples outside the range are clipped "
        "when written (float TIFF and NIfTI keep them). The same --seed gives bit-identical files.",
    ]
)


def file_seed(seed: int, name: str) -> int:
    """63-bit generator seed from the user's seed and a file's relative name (stable hash)."""
    digest = hashlib.sha256(f"{int(seed)}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def add_noise(image: Image, model: NoiseModel, generator: torch.Generator) -> Image:
    """A copy of `image` with noise; one parameter draw per file, applied plane by plane."""
    import numpy as np
    import torch

    from medenoise.data.io import Image
    from medenoise.data.tiling import iter_planes

    params = model.draw_params(1, generator)
    noisy = np.empty_like(image.array, dtype=np.float32)
    out_planes = iter_planes(noisy)
    for plane in iter_planes(image.array):
        x = torch.from_numpy(np.ascontiguousarray(plane.transpose(2, 0, 1), np.float32))[None]
        y = model.add(x, params, generator)
        next(out_planes)[...] = y[0].permute(1, 2, 0).numpy()
    return Image(noisy, image.meta.copy())


@noise_app.command("add", help=ADD_HELP)
def add(
    spec: Annotated[str, typer.Argument(help="Noise spec, e.g. gaussian:25.", show_default=False)],
    inputs: Inputs,
    *,  # keyword-only: --help shows the Input panel before the Output one
    seed: Annotated[int, typer.Option(help="Seed; with the file name it fixes the noise.")] = 0,
    value_range: ValueRange = None,
    out: Out,
    overwrite: Overwrite = False,
    skip_bad: SkipBad = False,
) -> None:
    """Add synthetic noise to images (help text: ADD_HELP)."""
    from medenoise.commands.batch import process_files
    from medenoise.noise import make_noise_model
    from medenoise.planning import plan_jobs

    with user_errors():
        model = make_noise_model(spec)
        if not model.spec.has_level:
            raise UserError(f"noise spec {spec!r} has no level; give e.g. {model.kind}:25")
        vrange = parse_range(value_range)
        jobs = plan_jobs(inputs, out, overwrite)
    process_files(jobs, lambda job: _add_one(model, job, seed, vrange), skip_bad)


def _add_one(model, job: Job, seed: int, vrange) -> None:
    """Write the noisy copy of one planned file or DICOM series; its noise is seeded by
    (seed, job.name), the name of a series' first slice."""
    import torch

    from medenoise.data.io import image_notes
    from medenoise.data.io.common import set_provenance
    from medenoise.data.io.series import read_unit, write_unit

    image = read_unit([part.src for part in job.parts], value_range=vrange)
    for note in image_notes(image):
        typer.echo(f"note: {job.src}: {note}", err=True)
    generator = torch.Generator().manual_seed(file_seed(seed, job.name))
    noisy = add_noise(image, model, generator)
    text = f"medenoise noise add {model.spec} --seed {seed}"
    set_provenance(noisy, text, uid_seed=f"{text} {job.name}", series_note="with synthetic noise")
    # The copy keeps the clean file's scaling (its working range): the same stored value
    # means the same thing in both files, and the noise is in units of that range.
    write_unit([part.dst for part in job.parts], noisy)
