"""A held-out measure of SSDN's *output* quality that needs no clean image: Stein's unbiased
risk estimate (SURE) of the posterior mean's squared error.

The held-out likelihood scores how well the model predicts the noisy pixel, not how well it
denoises: on W2S widefield data, 100 adaptation steps lowered the held-out NLL (−3.60 →
−3.91) while PSNR on all 12 images fell (23.07 → 21.38 dB, centre crops; BENCHMARKS.md).
SURE scores the denoised value itself: for y = x + n with noise variance σ²,
E‖x̂ − x‖² = E[‖x̂ − y‖² − σ² + 2σ² ∂x̂/∂y] per pixel. SSDN's blind-spot prior does not see
the pixel it predicts, so the posterior mean depends on y_i only through its explicit term
and ∂x̂_i/∂y_i = [(Σ_x⁻¹ + Σ_n⁻¹)⁻¹ Σ_n⁻¹]_ii in closed form. σ² is the data's noise
variance, fixed for every candidate: measured on each tile's own plane (one level for all
would misjudge a plane noisier or cleaner than the rest: smoothing away real detail looks
like a gain where σ² is too high), or the model's known level; taken at μ_x for
signal-dependent noise (a first-order approximation).
"""

from __future__ import annotations

import numpy as np

EPS = 1e-6  # as in the posterior mean: keeps the covariances invertible


def posterior_and_gain(module, y):
    """(posterior mean x̂ (N,C,H,W), ∂x̂_c/∂y_c (N,C,H,W), μ_x) of an SSDN module on y."""
    import torch

    from medenoise.noise.likelihood import posterior_mean, prior_from_head

    c = module.model_config.channels
    prior = prior_from_head(module.net(y), c, module.model_config.covariance)
    var_n = module.noise.variance(prior.mu, module.noise_param(y, None))
    x = posterior_mean(y, prior, var_n)
    if prior.diagonal:
        var_x, vn = prior.cov + EPS, var_n + EPS
        return x, var_x / (var_x + vn), prior.mu
    eye = EPS * torch.eye(c, dtype=prior.cov.dtype, device=prior.cov.device)
    inv_x = torch.linalg.inv(prior.cov + eye)
    inv_n = torch.diag_embed(1.0 / (var_n.permute(0, 2, 3, 1) + EPS))
    jac = torch.linalg.solve(inv_x + inv_n + eye, inv_n)
    return x, torch.diagonal(jac, dim1=-2, dim2=-1).permute(0, 3, 1, 2), prior.mu


def sure_losses(module, tiles, noise_variance) -> np.ndarray:
    """SURE of the posterior mean's mean squared error on each held-out tile;
    `noise_variance(i, mu)` gives tile i's noise variance (N,C,H,W) at intensity `mu`."""
    import torch

    losses = []
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            for i, tile in enumerate(tiles):
                y = torch.from_numpy(tile.transpose(2, 0, 1)[None]).to(module.device)
                x, gain, mu = posterior_and_gain(module, module.nhwc({"y": y})["y"])
                var = noise_variance(i, mu)
                risk = (x - y.to(x.dtype)) ** 2 - var + 2.0 * var * gain
                losses.append(float(risk.mean()))
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
