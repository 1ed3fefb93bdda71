"""`medenoise denoise`: plan input → output files, choose (without --model: the inspector's
verdict) and load (or adapt) the model once, then denoise file by file, each output checked
by the guard (medenoise.guard)."""

from __future__ import annotations

import typer

from medenoise.commands._common import fail, parse_device, parse_range, parse_shard, user_errors
from medenoise.commands._options import (
    AdaptLr,
    AdaptSteps,
    Axis,
    BackendOpt,
    Batch,
    DeviceOpt,
    Ensemble,
    Exact,
    Inputs,
    KnownNoise,
    Model,
    Out,
    Overwrite,
    PixelShuffle,
    PrecisionOpt,
    Report,
    Shard,
    SkipBad,
    Strict,
    Tile,
    TrustPickle,
    ValueRange,
)
from medenoise.guard import session
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
    strict: Strict = False,
    report: Report = None,
    tile: Tile = None,
    exact: Exact = False,
    batch: Batch = None,
    precision: PrecisionOpt = "32",
    backend: BackendOpt = Backend.TORCH,
    device: DeviceOpt = "cpu",
    shard: Shard = None,
    adapt: AdaptSteps = 0,
    adapt_lr: AdaptLr = 1e-4,
    pd: PixelShuffle = None,
) -> None:
    """Denoise images with a trained model; writes each result into the output folder."""
    from medenoise.commands.batch import denoise_file, process_files
    from medenoise.data.io.nifti import parse_axis
    from medenoise.inference.options import InferenceOptions
    from medenoise.planning import plan_jobs

    with user_errors():
        vrange = parse_range(value_range)
        slice_axis = parse_axis(axis)
        jobs = plan_jobs(inputs, out, overwrite, shard=parse_shard(shard), check_existing=False)
        report = session.check_report_path(report, [p for j in jobs for p in (j.src, j.dst)])
        choice = None
        if model is None and adapt:  # one model to adapt: the first input's verdict picks it
            choice = _choose(jobs, vrange, slice_axis, noise)
            model, noise = choice.model, choice.noise
        options = InferenceOptions(
            tile=tile, batch=batch, precision=precision, ensemble=ensemble, backend=backend,
            device=parse_device(device).torch, exact=exact,
        )  # fmt: skip
        if model is None:  # each input's own noise picks its model (medenoise inspect's verdict)
            denoiser = session.ChoosingDenoiser(_loader(options, trust_pickle), noise)
        else:
            denoiser = _denoiser(model, jobs, options, trust_pickle, adapt, adapt_lr, noise, vrange)
        if pd is not None:
            from medenoise.correlated import with_pd

            if model is None:
                fail("--pd needs --model (a blind-spot model such as ssdn-gauss5-50-gray)")
            denoiser = with_pd(denoiser, pd)
    guarded = session.GuardedDenoiser(denoiser, strict=strict, name=model)
    reading = dict(noise=noise, value_range=vrange, axis=slice_axis, overwrite=overwrite)
    try:
        process_files(jobs, lambda job: denoise_file(guarded, job, **reading), skip_bad)
    finally:  # the report is written whatever the files' fate
        if report is not None:
            with user_errors():
                session.write_report(report, guarded, choice.note if choice else None)


def _choose(jobs, vrange, axis, noise):
    """The inspector's model for this run (from the first readable input), announced in a
    note; an unreadable file is left to its own error line later."""
    from medenoise.data.io.series import read_unit
    from medenoise.errors import UserError

    if not jobs:
        fail("no --model given and no input to inspect: pass --model")
    errors = []
    for job in jobs:
        try:
            image = read_unit([part.src for part in job.parts], vrange, axis)
        except UserError as exc:
            errors.append(exc)
            continue
        first = job.src if len(job.parts) == 1 else job.src.parent  # a series: its folder
        choice = session.choose_model(first, image, noise)
        typer.echo(choice.note, err=True)
        return choice
    raise errors[0]


def _loader(options, trust_pickle: bool):
    """Model name -> loaded denoiser with this run's options."""

    def load(name: str):
        from medenoise.api import load_model

        return load_model(name, trust_pickle=trust_pickle, options=options)

    return load


def _denoiser(model: str, jobs, options, trust_pickle: bool, adapt: int, lr: float, noise, vrange):
    """The model loaded with `options`, or first fine-tuned `adapt` steps on the planned
    inputs (`--adapt`)."""
    if adapt and jobs:
        from medenoise.adaptation import adapt_denoiser

        files = [part.src for job in jobs for part in job.parts]  # every slice of a series
        return adapt_denoiser(
            model, files, adapt, options=options, noise=noise, value_range=vrange, lr=lr,
            trust_pickle=trust_pickle,
        )  # fmt: skip
    from medenoise.api import load_model

    return load_model(model, trust_pickle=trust_pickle, options=options)
