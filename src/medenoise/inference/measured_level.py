"""`--noise measured`: each image denoised at the noise level measured on that image.

Why: a model trained at one level (known) or that learned one global level meets data whose
level changes from image to image: on twelve real widefield planes (W2S) the Poisson gain a
spans 8×, and one level either leaves noise in the noisiest planes or smooths the cleanest.
The inspector's fit on the image itself (σ for Gaussian, variance = a·x + b for Poisson and
Poisson-Gaussian) gives that image's level, and SSDN's posterior mean takes it in place of
the trained one. Only the level changes: the network (the prior) stays the one trained. A
plane whose fit does not hold keeps the model's own level.
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np

from medenoise.errors import UserError

MEASURED = "measured"
"""The `--noise` value that asks for it."""

log = logging.getLogger(__name__)


def noise_or_default(config, noise: str | None) -> str | None:
    """`noise` as the user gave it, else the model's default: `measured` for a per-image model
    whose config says so (its estimator misreads recorded data; `ModelConfig.default_level`)."""
    return MEASURED if noise is None and config.default_level == MEASURED else noise


def measured_spec(kind: str, plane: np.ndarray) -> str | None:
    """The noise spec of `kind` measured on one (H, W, C) plane in [0, 1], or None when the
    inspector's fit does not hold there."""
    from medenoise.adaptation_level import plane_level

    level = plane_level(kind, plane)
    if level is None:
        return None
    if kind == "gaussian":
        return f"gaussian:{_plain(level[0] * 255)}"
    if kind == "poisson":
        return f"poisson:{_plain(1.0 / level[0])}"
    if kind == "pg":
        return f"pg:a={_plain(level[0])},b={_plain(level[1])}"
    return None


def _plain(value: float) -> str:
    """`value` in positional notation, as a user would type it into a spec."""
    return f"{value:.10f}".rstrip("0").rstrip(".") or "0"


def check_measurable(denoiser) -> None:
    """Refuse models that cannot take a level from outside: μ-only models and methods with
    no noise model in their output (N2V, N2N, N2C, students)."""
    if not (denoiser.takes_known_level or denoiser.module.learns_global_level):
        raise UserError(
            f"--noise {MEASURED} needs a model whose posterior takes a noise level (SSDN, "
            "known, learned or per-image level); this one has no noise model in its output",
            denoiser.source,
        )


def denoise_at_measured_levels(denoiser, planes: np.ndarray) -> np.ndarray:
    """Denoise (S, H, W, C) planes one by one, each at its own measured level (the model's
    own where the fit does not hold). A per-image-level model takes it in place of its
    estimator's: an estimator reads the level from what its training images looked like, and
    on a plane unlike them (a clean widefield plane, for one) it can read far less noise than
    the fit measures there."""
    from medenoise.noise import make_noise_model

    per_image, known = denoiser.estimates_level_per_image, denoiser.takes_known_level
    if not per_image:
        check_measurable(denoiser)
    kind = denoiser.module.noise.kind
    out = np.empty(planes.shape, dtype=np.float32)
    as_input = known or per_image  # the level goes in with the planes, not into the module
    with contextlib.nullcontext(None) if as_input else _learned_level_settable(denoiser) as set_to:
        for i, plane in enumerate(planes):
            spec = measured_spec(kind, plane)
            log.info("plane %d: level %s", i, spec or "not measurable, the model's own")
            if per_image:
                params = make_noise_model(spec).fixed_params(1) if spec else None
                out[i] = denoiser.denoise_planes_at(plane[None], params)[0]
            elif known:
                out[i] = denoiser.denoise_planes(plane[None], spec)[0]
            else:
                set_to(spec)
                out[i] = denoiser.denoise_planes(plane[None])[0]
    return out


@contextlib.contextmanager
def _learned_level_settable(denoiser):
    """Yields `set_to(spec)`, which puts a learned-global-level model at `spec`'s level (its
    own for None). Meanwhile it runs on eager PyTorch (an ONNX export has the learned level
    built in); afterwards its runner and level come back, the level bit for bit."""
    import torch

    from medenoise.adaptation_level import start_at_level
    from medenoise.inference.runners import TorchRunner
    from medenoise.noise import make_noise_model

    module, runner = denoiser.module, denoiser.runner
    theta = module.noise_param.theta.detach().clone()

    def set_to(spec: str | None) -> None:
        with torch.no_grad():
            module.noise_param.theta.copy_(theta)
        if spec is None:
            return
        target = tuple(float(v) for v in make_noise_model(spec).fixed_params(1)[0])
        with torch.inference_mode(False), torch.enable_grad():  # the level is solved for
            if start_at_level(module, target) is None:
                log.info("level %s is out of the model's reach: its own level is used", spec)

    if not isinstance(runner, TorchRunner):
        denoiser.runner = TorchRunner(module, denoiser.device, denoiser.precision)
    try:
        yield set_to
    finally:
        denoiser.runner = runner
        with torch.no_grad():
            module.noise_param.theta.copy_(theta)
