"""A held-out measure of SSDN's *output* quality that needs no clean image: Stein's unbiased
risk estimate (SURE) of the posterior mean's squared error (noise/sure.py).

The held-out likelihood scores how well the model predicts the noisy pixel, not how well it
denoises: on W2S widefield data, 100 adaptation steps lowered the held-out NLL (−3.60 →
−3.91) while PSNR on all 12 images fell (23.07 → 21.38 dB, centre crops; BENCHMARKS.md).
σ², the data's noise variance, is fixed for every candidate: measured on each tile's own
plane (one level for all would misjudge a plane noisier or cleaner than the rest: smoothing
away real detail looks like a gain where σ² is too high), or the model's known level.
Where the noise is correlated, each tile's SURE carries the neighbour term, from the same
probes (seeded per tile) for every candidate, so candidates differ by their weights alone.
"""

from __future__ import annotations

import numpy as np

GUARD_PROBES = 2
"""Probes per tile for the neighbour term of correlated noise."""


def sure_losses(module, tiles, noise_variance, kernel=None) -> np.ndarray:
    """SURE of the posterior mean's mean squared error on each held-out tile;
    `noise_variance(i, y)` gives tile i's noise variance (N,C,H,W) at its noisy values `y`
    (never at the candidate's μ_x, which a candidate could move to where the variance is 0);
    `kernel`: the noise correlation off lag 0 (noise/sure.py `neighbour_kernel`), or None."""
    import torch

    from medenoise.noise.sure import neighbour_term, posterior_and_gain, sure_risk

    def estimate(v):
        return posterior_and_gain(module, v)[0]

    losses = []
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            for i, tile in enumerate(tiles):
                y = torch.from_numpy(tile.transpose(2, 0, 1)[None]).to(module.device)
                y = module.nhwc({"y": y})["y"]
                x, gain, _ = posterior_and_gain(module, y)
                variance = noise_variance(i, y)
                risk = sure_risk(x, y, variance, gain).mean()
                if kernel is not None:
                    probes = torch.Generator().manual_seed(i)
                    risk = (
                        risk
                        + sum(
                            neighbour_term(estimate, y, x, variance, kernel, probes).mean()
                            for _ in range(GUARD_PROBES)
                        )
                        / GUARD_PROBES
                    )
                losses.append(float(risk))
    finally:
        module.train(was_training)
    return np.asarray(losses)


def sure_measure(module, levels: list | None, kernel=None):
    """The SURE measure for `module` (an SSDN model with a noise model), with each tile's
    noise parameters `levels` (None: the module's own known level) and the noise's
    correlation `kernel` (None: white); None when it does not apply."""
    import torch

    if module.model_config.method != "ssdn" or getattr(module, "mu_only", True):
        return None
    noise = module.noise
    if levels is not None:
        params = [torch.tensor([v], dtype=torch.float64) for v in levels]
    elif module.noise_param.mode == "known" and noise.spec.is_fixed:
        params = None
    else:
        return None
    fixed = noise.fixed_params(1) if params is None else None

    def variance(i: int, y):
        p = fixed if params is None else params[i]
        return noise.observed_variance(y, p.to(y.device).expand(y.shape[0], -1))

    return lambda mod, tiles: sure_losses(mod, tiles, variance, kernel)
