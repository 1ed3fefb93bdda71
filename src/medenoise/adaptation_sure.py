"""A held-out measure of SSDN's *output* quality that needs no clean image: Stein's unbiased
risk estimate (SURE) of the posterior mean's squared error (noise/sure.py).

The held-out likelihood scores how well the model predicts the noisy pixel, not how well it
denoises: on W2S widefield data, 100 adaptation steps lowered the held-out NLL (−3.60 →
−3.91) while PSNR on all 12 images fell (23.07 → 21.38 dB, centre crops; BENCHMARKS.md).
σ², the data's noise variance, is fixed for every candidate: measured on each tile's own
plane (one level for all would misjudge a plane noisier or cleaner than the rest: smoothing
away real detail looks like a gain where σ² is too high), or the model's known level.
"""

from __future__ import annotations

import numpy as np


def sure_losses(module, tiles, noise_variance) -> np.ndarray:
    """SURE of the posterior mean's mean squared error on each held-out tile;
    `noise_variance(i, mu)` gives tile i's noise variance (N,C,H,W) at intensity `mu`."""
    import torch

    from medenoise.noise.sure import posterior_and_gain, sure_risk

    losses = []
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            for i, tile in enumerate(tiles):
                y = torch.from_numpy(tile.transpose(2, 0, 1)[None]).to(module.device)
                x, gain, mu = posterior_and_gain(module, module.nhwc({"y": y})["y"])
                losses.append(float(sure_risk(x, y, noise_variance(i, mu), gain).mean()))
    finally:
        module.train(was_training)
    return np.asarray(losses)


def sure_measure(module, levels: list | None):
    """The SURE measure for `module` (an SSDN model with a noise model), with each tile's
    noise parameters `levels` (None: the module's own known level); None when it does not
    apply."""
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

    def variance(i: int, mu):
        p = fixed if params is None else params[i]
        return noise.variance(mu, p.to(mu.device).expand(mu.shape[0], -1))

    return lambda mod, tiles: sure_losses(mod, tiles, variance)
