"""Self-supervised adaptation: fine-tune a model on the very noisy images it is about to
denoise, with no clean reference, then denoise them with the result (`denoise --adapt`).

A pretrained prior is only as good as its match to the data: `ssdn-gauss25-gray` learned it
on photos, which are never exactly black, and keeps a bias in an MRI slice's black background
until a few dozen steps on the noisy slice alone remove it (`medenoise demo`). Only methods
that train on noisy images alone can do this: SSDN and Noise2Void.

Everything happens in memory: the model is loaded once, its module fine-tuned on planes
held in memory, and the denoiser built around that module; no file is written.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from medenoise.errors import UserError

ADAPTABLE = ("ssdn", "n2v")
DEFAULT_LR = 1e-4
"""Rate of adaptation by the likelihood (numbers in BENCHMARKS.md)."""
SURE_LR = 3e-5
"""Rate of adaptation by SURE: at 1e-4 the held-out SURE of the demo's MRI slice did not
improve in 100 steps; at 3e-5 it did (numbers in BENCHMARKS.md)."""
ADAPT_PATCH = 128
"""Side of adaptation's training patches and held-out bands: one 128² patch per step sees
the same pixels as four 64² ones, with the context a flat region's estimate needs (numbers
in BENCHMARKS.md)."""
ADAPT_BATCH = 1
"""Patches per adaptation step."""


def load_adaptable(model: str, trust_pickle: bool = False):
    """The model's module, loaded once, and its self-ensemble default; refuses baselines and
    clean- or pair-trained methods."""
    from medenoise.inference.resolve import resolve_model
    from medenoise.modelfile import load_network

    ref = resolve_model(model, trust_pickle)
    if ref.kind == "baseline":
        raise UserError(f"--adapt fine-tunes a network; {model} is a training-free baseline")
    module = load_network(ref)
    method = module.model_config.method
    if method not in ADAPTABLE:
        raise UserError(
            f"--adapt needs a self-supervised model (SSDN or Noise2Void); {model} is {method}, "
            "which trains on clean or paired images"
        )
    return module, ref.default_ensemble


def adapt_config(
    module, model: str, steps: int, *, noise, value_range, lr, seed, options, objective
):
    """The adaptation run's TrainConfig: one 128² noisy patch a step, no warm-up, a half-run
    ramp-down, trained by `objective` (SURE where the data's noise level is known or measured)."""
    # `noise`: the data's level for a model that takes a known one (its training level
    # otherwise, also for `measured`: the planes' levels differ, and one run trains at one)
    from medenoise.config import TrainConfig, validated
    from medenoise.devices import parse_device
    from medenoise.inference.measured_level import MEASURED
    from medenoise.noise.spec import parse_noise_spec

    if noise == MEASURED:
        noise = None

    if steps < 1:
        raise UserError(f"--adapt {steps}: give a number of steps, at least 1")
    base = module.model_config
    fields = {**base.model_dump(), "training": {}}
    if noise is not None and module.takes_known_level:
        spec, kind = parse_noise_spec(noise), parse_noise_spec(base.noise).kind
        if spec.kind != kind or not spec.is_fixed:
            raise UserError(
                f"--noise {noise} with --adapt: give one {kind} level, the model's noise "
                f"model ({base.noise})"
            )
        fields["noise"] = str(spec)
    accelerator, devices = parse_device(options.device)
    run = dict(
        model=fields, data_kind="noisy", value_range=value_range, init=model,
        steps=steps, batch_size=ADAPT_BATCH, patch=ADAPT_PATCH, rampup=0.0, rampdown=0.5, seed=seed,
        checkpoint_every=steps, val_every=steps, accelerator=accelerator, devices=devices,
        precision=options.precision.value, objective=objective,
        lr=lr if lr is not None else SURE_LR if objective == "sure" else DEFAULT_LR,
    )  # fmt: skip
    return validated(TrainConfig, run, "--adapt")


def adapted_module(module, model: str, planes: list, steps: int, *, progress: bool, **run):
    """(module, outcome in words): `module` (of `model`) fine-tuned `steps` steps on the noisy
    float32 `planes`, or left as it was when the held-out measure says adaptation did not help."""
    if _runs_at_measured_levels(module, model):
        return module, "not adapted: runs at the measured levels"
    # a known-level model told the data's level trains a module for that level, given its weights
    from medenoise.adaptation_guard import GUARD_TILE, guard_callback, split_heldout
    from medenoise.adaptation_level import (
        common_level,
        start_at_level,
        sure_correlation,
        sure_levels,
    )
    from medenoise.data.datamodule import PlanesDataModule
    from medenoise.inference.measured_level import MEASURED
    from medenoise.methods.training import as_trainable
    from medenoise.noise.sure import neighbour_kernel, sure_refusal
    from medenoise.train import build_module, fit_in_memory, init_weights, record_training

    given = None if run["noise"] == MEASURED else run["noise"]
    measured = sure_levels(module, planes, given)  # per plane, the data's own level
    # SURE where the level is trustworthy and it can score the model's posterior mean (not
    # for clipped, Rician or pixel-shuffle models: those keep the likelihood)
    sure = measured and sure_refusal(module.model_config, "noisy") is None
    objective = "sure" if sure else "likelihood"
    cfg = adapt_config(module, model, steps, objective=objective, **run)
    if cfg.model.model_copy(update={"training": {}}) != module.model_config.model_copy(
        update={"training": {}}
    ):
        tuned = build_module(cfg, warm_start=False)
        init_weights(tuned, model, loaded=module)
        module = tuned
    record_training(cfg)
    module = as_trainable(module)  # the guard and the Trainer hold this very module
    module.model_config, module.train_config = cfg.model, cfg
    # correlated noise: SURE (loss and guard) takes the neighbours' share of the noise
    kernel = None
    if objective == "sure" and (found := sure_correlation(planes, given)) is not None:
        kernel = neighbour_kernel(found)
    module.sure_kernel = kernel
    train, tiles, owners, pieces_of = split_heldout(planes, cfg.dataset.patch, GUARD_TILE)
    guard = _guard(
        module, tiles, steps, [measured[k] for k in owners] if measured else None, kernel
    )
    if objective == "sure" and guard is not None and guard.reference.mean() < 0:
        # a mean squared error cannot be negative: SURE at this level says it is too high,
        # and SURE with too high a level rewards smoothing away detail
        print(f"not adapting {model}: at the noise level {'given' if given else 'measured'}, "
              f"the held-out SURE risk is negative ({guard.reference.mean():.3g}), so that "
              "level is above the noise in these images", file=sys.stderr)  # fmt: skip
        return module, "not adapted: noise level above the data's"
    level = start_at_level(module, common_level(measured) if module.learns_global_level else None)
    if progress:
        print(
            f"adapting {model} to {len(planes)} noisy plane(s): {steps} self-supervised steps"
            f" ({'SURE' if objective == 'sure' else 'likelihood'})"
            + (f"; noise level set to the data's, {level}" if level else "")
            + (
                f"; noise correlated ({_lag1(kernel)}): SURE counts what neighbours share"
                if kernel is not None
                else ""
            ),  # fmt: skip
            file=sys.stderr,
            flush=True,
        )
    callbacks = [guard_callback(guard)] if guard is not None else None
    levels = [measured[k] for k in pieces_of] if measured and objective == "sure" else None
    data = PlanesDataModule(cfg, planes=train, levels=levels)
    module = fit_in_memory(cfg, module, data, progress=progress, callbacks=callbacks)
    outcome = guard.finish(module, steps) if guard is not None else "unchecked"
    return module, outcome


def _runs_at_measured_levels(module, model: str) -> bool:
    """True, said on stderr, for a model that denoises at each plane's measured level
    (`default_level`): it is not adapted."""
    if module.model_config.default_level != "measured":
        return False
    # a per-image model adapts by the likelihood at its own estimate; on real widefield planes
    # that lowered every plane's score while the held-out likelihood improved, so no measure
    # here tells a gain from a loss
    print(
        f"not adapting {model}: it runs at each image's measured noise level, where adapting "
        "it has not been shown to help; it denoises unadapted",
        file=sys.stderr,
    )
    return True


def _lag1(kernel) -> str:
    """The lag-1 correlations of a neighbour kernel, in words."""
    c = kernel.shape[-1] // 2
    return f"lag 1: x {float(kernel[c, c + 1]):.2f}, y {float(kernel[c + 1, c]):.2f}"


def _guard(module, tiles: list, steps: int, levels, kernel=None):
    """The held-out guard of a run, having scored the unadapted `module` (None, said on
    stderr, when the data are too small to hold any out): SURE for SSDN with a noise level
    (`levels`: each tile's, measured on its plane; else the model's known one), else the
    training loss."""
    from medenoise.adaptation_guard import HeldOutGuard
    from medenoise.adaptation_sure import sure_measure

    if not tiles:
        print("too little data to hold any out: adaptation runs unchecked", file=sys.stderr)
        return None
    sure = sure_measure(module, levels, kernel)
    guard = HeldOutGuard.for_run(tiles, steps, sure, "SURE risk" if sure else "loss")
    guard.start(module)
    return guard


def adapt_denoiser(
    model: str,
    files: Sequence[Path],
    steps: int,
    *,
    options,
    noise: str | None = None,
    value_range: tuple[float, float] | None = None,
    lr: float | None = None,
    trust_pickle: bool = False,
    progress: bool = True,
):
    """`denoise --adapt`: `model` fine-tuned on the noisy `files`, run with `options`."""
    from medenoise.data.patches import list_images, load_planes

    module, ensemble = load_adaptable(model, trust_pickle)
    planes = load_planes(list_images(files), module.model_config.channels, value_range)
    tuned, outcome = adapted_module(
        module, model, planes, steps, progress=progress, noise=noise, value_range=value_range,
        lr=lr, seed=0, options=options,
    )  # fmt: skip
    return adapted_denoiser(tuned, model, steps, options, ensemble, outcome)


def adapt(
    model: str,
    images: Sequence,
    steps: int,
    *,
    noise: str | None = None,
    lr: float | None = None,
    seed: int = 0,
    device: str = "cpu",
    precision: str = "32",
    ensemble: bool | None = None,
    progress: bool = False,
):
    """Python face of `--adapt`: `model` fine-tuned on noisy arrays, as a denoiser."""
    # arrays as `denoise` takes them ((H, W) or (H, W, C); uint8/uint16 or float on [0, 1]);
    # float values are kept as given, so noise below 0 is not clipped
    from medenoise.data.datamodule import array_planes
    from medenoise.inference.options import InferenceOptions

    options = InferenceOptions(device=device, precision=precision, ensemble=ensemble)
    module, ensemble_default = load_adaptable(model)
    planes = array_planes(images, module.model_config.channels)
    tuned, outcome = adapted_module(
        module, model, planes, steps, progress=progress, noise=noise, value_range=None,
        lr=lr, seed=seed, options=options,
    )  # fmt: skip
    return adapted_denoiser(tuned, model, steps, options, ensemble_default, outcome)


def adapted_denoiser(module, model: str, steps: int, options, ensemble_default: bool,
                     outcome: str = ""):  # fmt: skip
    """The fine-tuned module as a denoiser run with `options`, its source naming `model` and
    the adaptation's `outcome`."""
    from medenoise.inference.denoiser import Denoiser

    if options.ensemble is None:  # `model`'s zoo default
        options = options.with_(ensemble=ensemble_default)
    source = f"{Path(model).name} adapted {steps} steps" + (f" ({outcome})" if outcome else "")
    return Denoiser(module.to(options.device), source, options)
