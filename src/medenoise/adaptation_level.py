"""The noise level a model with a learned global level starts adaptation from: the one
measured on the noisy data (`medenoise inspect`'s fit), not the one learned in pretraining.

Adam moves each learned θ by about the learning rate per step, so in a few hundred steps at
1e-4 the level stays where pretraining left it; on data noisier than the training set the
prior's variance then soaks up the missing noise and the posterior mean trusts the noisy
pixel too much (numbers for W2S widefield data in BENCHMARKS.md).
"""

from __future__ import annotations

import numpy as np

MAX_PLANES = 16
"""Planes measured at most (evenly spread over the data)."""
MIN_FIT = 0.5
"""Least R² of a plane's variance-vs-intensity line for its Poisson-Gaussian fit to count."""


def measured_level(noise_kind: str, planes: list[np.ndarray]) -> tuple[float, ...] | None:
    """The noise parameters of `noise_kind` measured on noisy planes (median over planes
    whose fit holds), or None when no plane gives a usable measurement."""
    from medenoise.inspection.estimate import measure

    picks = np.linspace(0, len(planes) - 1, min(len(planes), MAX_PLANES)).round().astype(int)
    values = []
    for i in sorted(set(picks.tolist())):
        p = measure(planes[i])
        mean = float(np.mean(planes[i]))
        if noise_kind == "gaussian" and p.sigma > 0:
            values.append((p.sigma,))
        elif p.pg_fit_r2 >= MIN_FIT and p.pg_a > 0 and p.pg_a * mean + p.pg_b > 0:
            values.append((p.pg_a, p.pg_b) if noise_kind == "pg" else (p.pg_a,))
    if not values:
        return None
    return tuple(float(v) for v in np.median(np.asarray(values), axis=0))


def theta_for(noise, target: tuple[float, ...]):
    """The learned θ (P,) whose mapped parameters are `target` (solved numerically, so any
    map a noise model uses works), or None when the map cannot reach it."""
    import torch

    goal = torch.tensor(target, dtype=torch.float64)
    scale = goal.abs().clamp_min(1e-6)
    theta = torch.zeros(len(target), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([theta], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        err = (((noise.map_learned(theta[None])[0] - goal) / scale) ** 2).sum()
        err.backward()
        return err

    opt.step(closure)
    with torch.no_grad():
        reached = noise.map_learned(theta[None])[0]
    if not torch.allclose(reached, goal, rtol=1e-3, atol=1e-7):
        return None
    return theta.detach()


def start_at_data_level(module, planes: list[np.ndarray]) -> str | None:
    """Set a learned global noise level to the one measured on `planes`; returns it in
    words, or None when the model's level is not a learned global one or none was measured."""
    import torch

    param = module.noise_param
    if param.mode != "global" or getattr(module, "mu_only", False):
        return None
    kind = module.noise.kind
    target = measured_level(kind, planes)
    theta = theta_for(module.noise, target) if target else None
    if theta is None:
        return None
    with torch.no_grad():
        param.theta.copy_(theta.to(param.theta))
    names = module.noise.param_names
    return ", ".join(f"{n}={v:.4g}" for n, v in zip(names, target, strict=True))
