"""`medenoise denoise`: plan input → output files, load (or adapt) the model once, then
denoise file by file."""

from __future__ import annotations

from medenoise.commands._common import fail, parse_device, parse_range, parse_shard, user_errors
from medenoise.commands._options import (
    AdaptLr,
    AdaptSteps,
    Axis,
    BackendOpt,
    Batch,
    DeviceOpt,
    Ensemble,
    Inputs,
    KnownNoise,
    Model,
    Out,
    Overwrite,
    PrecisionOpt,
    Shard,
    SkipBad,
    Tile,
    TrustPickle,
    ValueRange,
)
from medenoise.inference.options import Backend


def denoise(
    inputs: Inputs,
    *,  # keyword-only: --help shows the panels in this order (Input, Model, Output, ...)
    value_range: ValueRange = None,
    axis: Axis = "auto",
    model: Model = None,
    noise: KnownNoise = None,
    trust_pickle: TrustPickle = False,
    ensemble: Ensemble = None,
    out: Out,
    overwrite: Overwrite = False,
    skip_bad: SkipBad = False,
    tile: Tile = None,
    batch: Batch = None,
    precision: PrecisionOpt = "32",
    backend: BackendOpt = Backend.TORCH,
    device: DeviceOpt = "cpu",
    shard: Shard = None,
    adapt: AdaptSteps = 0,
    adapt_lr: AdaptLr = 1e-4,
) -> None:
    """Denoise images with a trained model; writes each result into the output folder."""
    from medenoise.commands.batch import denoise_file, process_files
    from medenoise.data.io.nifti import parse_axis
    from medenoise.inference.options import InferenceOptions
    from medenoise.planning import plan_jobs

    with user_errors():
        if model is None:
            fail("no --model given: pass a model file from `medenoise train` or a zoo name")
        vrange = parse_range(value_range)
        slice_axis = parse_axis(axis)
        options = InferenceOptions(
            tile=tile, batch=batch, precision=precision, ensemble=ensemble, backend=backend,
            device=parse_device(device).torch,
        )  # fmt: skip
        jobs = plan_jobs(inputs, out, overwrite, shard=parse_shard(shard), check_existing=False)
        denoiser = _denoiser(model, jobs, options, trust_pickle, adapt, adapt_lr, noise, vrange)
    reading = dict(noise=noise, value_range=vrange, axis=slice_axis, overwrite=overwrite)
    process_files(jobs, lambda job: denoise_file(denoiser, job, **reading), skip_bad)


def _denoiser(model: str, jobs, options, trust_pickle: bool, adapt: int, lr: float, noise, vrange):
    """The model loaded with `options`, or first fine-tuned `adapt` steps on the planned
    inputs (`--adapt`)."""
    if adapt and jobs:
        from medenoise.adaptation import adapt_denoiser

        return adapt_denoiser(
            model, [job.src for job in jobs], adapt, options=options, noise=noise,
            value_range=vrange, lr=lr, trust_pickle=trust_pickle,
        )  # fmt: skip
    from medenoise.api import load_model

    return load_model(model, trust_pickle=trust_pickle, options=options)
