"""Stein's unbiased risk estimate (SURE) of SSDN's posterior-mean error: a measure of the
*denoised* value that needs no clean image, used to score held-out tiles and as the loss of
fine-tuning on the very noisy images to denoise.

For y = x + n with noise variance σ², E‖x̂ − x‖² = E[‖x̂ − y‖² − σ² + 2σ² ∂x̂/∂y] per pixel.
SSDN's blind-spot prior does not see the pixel it predicts, so the posterior mean depends on
y_i only through its explicit term and ∂x̂_i/∂y_i = [(Σ_x⁻¹ + Σ_n⁻¹)⁻¹ Σ_n⁻¹]_ii in closed
form: the estimate is exact per pixel and costs one forward pass. It is exact for Gaussian
noise; for signal-dependent noise σ² is taken at the noisy value y, unclamped (E[a·y + b] =
a·x + b, and the gain does not depend on y_i, so the estimate stays unbiased), never at the
model's μ_x: a model tuned with σ² at its own μ_x learns to push μ_x where a·μ_x + b (b < 0)
clamps to ~0, copies its input, and SURE reads almost no error.

The likelihood that SSDN trains by scores how well the model predicts the noisy pixel; fine-
tuned by it on the image to denoise, a well-matched model does not improve its output.
Minimising SURE on that image tunes the output itself (its prior's spread, the level it
estimates, the details it keeps) for that image, with no clean reference.

Correlated noise adds 2·Σ_{j≠i} Cov(n_i, n_j)·∂x̂_i/∂y_j: the prior sees the neighbours' noise,
which shares a part with n_i, so without the term SURE rewards copying that shared part into
the output. `neighbour_term` estimates it by one random probe per pass.
"""

from __future__ import annotations

import torch

EPS = 1e-6  # as in the posterior mean: keeps the covariances invertible
WHITE_CORRELATION = 0.1
"""|ρ| below which a measured lag counts as zero: the inspector reads white noise within
±0.03 of zero on 512² planes, but texture left in its flat blocks adds a broad 0.02-0.05 at
short lags (W2S widefield planes, whose noise against their 400-frame average shows no
short-range correlation), and many such lags summed make a large false term."""
PROBE_STEP = 1e-3
"""Finite-difference step of the probe, on the [0, 1] working scale (float32 arithmetic)."""


def posterior_and_gain(module, y, net_out=None):
    """(posterior mean x̂ (N,C,H,W), ∂x̂_c/∂y_c (N,C,H,W), μ_x) of an SSDN module on y, at
    the level the module itself uses (its known, learned or estimated one); `net_out`: the
    network's output on y when already computed."""
    from medenoise.noise.likelihood import posterior_mean, prior_from_head

    c = module.model_config.channels
    out = module.net(y) if net_out is None else net_out
    prior = prior_from_head(out, c, module.model_config.covariance)
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


def sure_risk(x, y, noise_variance, gain):
    """Per-pixel SURE of the estimate x of the clean image behind y: (x − y)² − σ² + 2σ²·gain."""
    return (x - y.to(x.dtype)) ** 2 - noise_variance + 2.0 * noise_variance * gain


def sure_refusal(model, data_kind: str) -> str | None:
    """Why a run cannot train by SURE (None: it can): SURE scores the plain Gaussian posterior
    mean of an SSDN model on real noisy data."""
    if model.method != "ssdn" or model.covariance == "mu":
        return "objective sure scores SSDN's posterior mean: use method ssdn, covariance full/diag"
    if data_kind != "noisy":
        return "objective sure tunes a model on real noisy data: set data_kind to noisy"
    if model.noise.startswith("rician") or model.clip is not None or model.quant_levels:
        return "objective sure needs the plain posterior mean: no rician, clip or quant_levels"
    if model.pd_stride > 1:
        return "objective sure runs at full resolution: use pd_stride 1"
    return None


def data_variance(method, batch):
    """The noise variance SURE takes for each patch, at the noisy values themselves: the level
    its plane was measured at (`level` in the batch), else the model's known level, else
    (Gaussian) the level measured on the patch itself. It is the data's, never the one the
    model is tuning, and no output of the model enters it."""
    from medenoise.errors import UserError
    from medenoise.noise.measured_level import haar_level

    level = batch.get("level")
    if level is None and method.noise_param.mode == "known":
        level = method.noise.fixed_params(batch["noisy"].shape[0])
    if level is None and method.noise.kind == "gaussian":
        level = haar_level(batch["noisy"])
        if level.isnan().any():
            raise UserError("objective sure: a patch too cut off at the range ends to measure")
    if level is None:
        raise UserError(
            f"objective sure needs the data's {method.noise.kind} level: give a known one"
        )
    y = batch["noisy"]
    level = level.to(device=y.device, dtype=torch.float64)
    return method.noise.observed_variance(y, level)


def sure_training_loss(method, batch):
    """SSDN's SURE objective on a batch of real noisy patches: the mean per-pixel risk, with
    the neighbour term where the method carries the data's noise correlation
    (`sure_kernel`, set by adaptation)."""
    y = batch["noisy"]
    x, gain, _ = posterior_and_gain(method, y, net_out=method.train_net(y))
    variance = data_variance(method, batch)
    risk = sure_risk(x, y, variance, gain)
    kernel = getattr(method, "sure_kernel", None)
    if kernel is not None:

        def estimate(v):
            return posterior_and_gain(method, v, net_out=method.train_net(v))[0]

        risk = risk + neighbour_term(estimate, y, x, variance, kernel)
    return risk.mean().float(), {"sure": risk.detach().mean().float()}


def neighbour_kernel(corr_map) -> torch.Tensor | None:
    """The noise correlation at every lag but (0, 0), as a float64 (K, K) kernel with lags
    under `WHITE_CORRELATION` set to 0; None when no lag is left (white noise)."""
    kernel = torch.as_tensor(corr_map, dtype=torch.float64).clone()
    centre = kernel.shape[-1] // 2
    kernel[centre, centre] = 0.0
    kernel[kernel.abs() < WHITE_CORRELATION] = 0.0
    return kernel if bool(kernel.any()) else None


def neighbour_term(estimate, y, x, noise_variance, kernel, generator=None):
    """Per-pixel 2·Σ_{j≠i} C_ij·∂x̂_i/∂y_j, the part of SURE that noise correlated with the
    neighbours adds (C_ij = ρ(i − j)·σ_iσ_j, ρ = `kernel`), by one probe b ~ N(0, I):
    E[(C b)_i (J b)_i] = Σ_j C_ij J_ij, J b by a finite difference of `estimate` (y ↦ x̂) at
    y; `x`: estimate(y)."""
    import torch.nn.functional as F

    b = torch.randn(y.shape, generator=generator, dtype=torch.float32).to(y.device)
    s = noise_variance.clamp_min(0).sqrt().to(torch.float32)
    c = y.shape[1]
    k = kernel.to(s)[None, None].expand(c, 1, -1, -1)
    cb = s * F.conv2d(s * b, k, padding=k.shape[-1] // 2, groups=c)
    autocast = torch.is_autocast_enabled(y.device.type)
    with torch.autocast(y.device.type, enabled=False):  # a difference quotient needs float32
        base = estimate(y.float()).float() if autocast else x.float()
        jb = (estimate(y.float() + PROBE_STEP * b).float() - base) / PROBE_STEP
    return 2.0 * cb * jb
