"""`medenoise denoise`: plan input → output files, choose (without --model: the inspector's
verdict) and load (or adapt) the model once, then denoise file by file, each output checked
by the guard (medenoise.guard)."""

from __future__ import annotations

import contextlib
from pathlib import Path

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
    Threads,
    Tile,
    TrustPickle,
    ValueRange,
    Verbose,
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
    precision: PrecisionOpt = "auto",
    backend: BackendOpt = Backend.AUTO,
    device: DeviceOpt = "cpu",
    threads: Threads = None,
    verbose: Verbose = False,
    shard: Shard = None,
    adapt: AdaptSteps = 0,
    adapt_lr: AdaptLr = None,
    pd: PixelShuffle = None,
) -> None:
    """Denoise images with a trained model; writes each result into the output folder."""
    from medenoise.commands.batch import denoise_file, process_files
    from medenoise.data.io.nifti import parse_axis
    from medenoise.inference.options import InferenceOptions
    from medenoise.planning import plan_jobs

    with contextlib.ExitStack() as stack:
        with user_errors():
            vrange = parse_range(value_range)
            slice_axis = parse_axis(axis)
            shards = parse_shard(shard)
            jobs = plan_jobs(inputs, out, overwrite, shard=shards, check_existing=False)
            paths = [p for j in jobs for p in (j.src, j.dst)]
            report = session.check_report_path(report, paths)
            choice = None
            if model is None and adapt:  # one model to adapt: the first input's verdict picks
                choice = _choose(jobs, vrange, slice_axis, noise)
                _refuse_untrainable(choice.model)
                model, noise = choice.model, choice.noise
            options = InferenceOptions(
                tile=tile, batch=batch, precision=precision, ensemble=ensemble, backend=backend,
                device=parse_device(device).torch, exact=exact,
            )  # fmt: skip
            lean = model is not None and not adapt and pd is None and noise != "measured"
            denoiser, used, options = _start(model if lean else None, options, stack, threads)
            announce = _announcer(used) if verbose else None
            if denoiser is not None:  # PyTorch stays unloaded (inference/lean.py)
                if announce is not None:
                    announce(denoiser)
            elif model is None:  # each input's own noise picks its model (inspect's verdict)
                load = _loader(options, trust_pickle, announce)
                denoiser = session.ChoosingDenoiser(load, noise)
            else:
                tuning = (adapt, adapt_lr, noise, vrange)
                denoiser = _denoiser(model, jobs, options, trust_pickle, *tuning)
                if announce is not None:
                    announce(denoiser)
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


def _refuse_untrainable(advised: str | None) -> None:
    """`--adapt` without `--model` where the inspector advises a training-free method: say
    so and what to pass, rather than that the user asked to adapt a baseline they never named."""
    from medenoise.methods.baselines import BASELINES

    if advised in BASELINES:
        fail(f"--adapt without --model: the inspector advises {advised} for this noise, a "
             "training-free method that cannot be fine-tuned; name a network to adapt with "
             "--model (e.g. ssdn-pg-fmd for fluorescence microscopy)")  # fmt: skip


def _loader(options, trust_pickle: bool, announce=None):
    """Model name -> loaded denoiser with this run's options (announced with --verbose)."""

    def load(name: str):
        from medenoise.api import load_model

        den = load_model(name, trust_pickle=trust_pickle, options=options)
        if announce is not None:
            announce(den)
        return den

    return load


def _start(model: str | None, options, stack: contextlib.ExitStack, threads: int | None):
    """(torch-free denoiser of `model` or None, (threads, why) or None, `options` with the
    threads): on the CPU, the torch-free path (inference/lean.py) when `model` has one; else
    torch's threads are set for this run only (in-process callers get theirs back)."""
    from medenoise.inference.threads import choose_threads, using_threads

    if options.device != "cpu":
        return None, None, options
    used = choose_threads(threads)
    options = options.with_(threads=used[0])
    lean = _lean(model, options, stack, threads) if model is not None else None
    if lean is None:
        used = stack.enter_context(using_threads(threads))
        options = options.with_(threads=used[0])
    return lean, used, options


def _lean(model: str, options, stack: contextlib.ExitStack, threads: int | None):
    """The torch-free denoiser of `model` (inference/lean.py) or None; what it leaves to the
    full model loads that with torch's threads set for the rest of the run."""
    from medenoise.inference.lean import lean_denoiser

    def load_full():
        from medenoise.api import load_model
        from medenoise.inference.threads import using_threads

        stack.enter_context(using_threads(threads))
        return load_model(model, options=options)

    return lean_denoiser(model, options, load_full)


def _announcer(threads):
    """--verbose: print on stderr how a loaded denoiser runs (autopath.describe)."""

    def announce(den) -> None:
        from medenoise.inference.autopath import describe

        typer.echo(f"{Path(str(den.source)).name}: {describe(den, threads)}", err=True)

    return announce


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
