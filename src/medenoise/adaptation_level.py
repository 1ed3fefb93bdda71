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
MEASURED_SIDE = 512
"""Largest side of the centre crop of each plane `start_at_training_level` measures."""


def plane_level(noise_kind: str, plane: np.ndarray) -> tuple[float, ...] | None:
    """The noise parameters of `noise_kind` measured on one noisy plane, or None when its
    fit does not hold."""
    from medenoise.inspection.estimate import measure

    p = measure(plane)
    if noise_kind == "gaussian":
        return (p.sigma,) if p.sigma > 0 else None
    if p.pg_fit_r2 >= MIN_FIT and p.pg_a > 0 and p.pg_a * float(np.mean(plane)) + p.pg_b > 0:
        return (p.pg_a, p.pg_b) if noise_kind == "pg" else (p.pg_a,)
    return None


def sure_correlation(planes: list[np.ndarray], given: str | None) -> np.ndarray | None:
    """The noise correlation map (lags −3..3) SURE takes: none where the user gave the level
    (a spec without `kernel=` says white, and blind-spot models refuse one with it), else the
    one measured on the planes. A given level is not second-guessed: on a textured slice
    with white noise added (the demo's MRI) the measurement reads 0.1-0.2 at short lags."""
    return None if given is not None else noise_correlation(planes)


def noise_correlation(planes: list[np.ndarray]) -> np.ndarray | None:
    """The noise's spatial correlation map (lags −3..3, the inspector's), the median over
    planes spread over the data; None when no plane has flat areas enough to measure it."""
    from medenoise.data.patches import center_square
    from medenoise.inspection.estimate import measure

    maps = []
    for i in _spread(len(planes)):
        found = measure(center_square(planes[i], MEASURED_SIDE, multiple=1)).extra.get("corr_map")
        if found is not None:
            maps.append(np.asarray(found))
    return np.median(np.stack(maps), axis=0) if maps else None


def _spread(count: int) -> list[int]:
    """Indices of at most `MAX_PLANES` planes evenly spread over `count`."""
    picks = np.linspace(0, count - 1, min(count, MAX_PLANES)).round().astype(int)
    return sorted(set(picks.tolist()))


def plane_levels(noise_kind: str, planes: list[np.ndarray]) -> list | None:
    """Each plane's noise parameters (the median of the measured ones for planes beyond
    `MAX_PLANES` or whose fit fails), or None when no plane gives a usable measurement."""
    found = {i: plane_level(noise_kind, planes[i]) for i in _spread(len(planes))}
    usable = [v for v in found.values() if v is not None]
    if not usable:
        return None
    median = tuple(float(v) for v in np.median(np.asarray(usable), axis=0))
    return [found.get(i) or median for i in range(len(planes))]


def measured_level(noise_kind: str, planes: list[np.ndarray]) -> tuple[float, ...] | None:
    """The noise parameters of `noise_kind` measured on noisy planes (median over planes
    whose fit holds), or None when no plane gives a usable measurement."""
    return common_level(plane_levels(noise_kind, planes))


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


def data_levels(module, planes: list[np.ndarray]) -> list | None:
    """Each plane's measured noise parameters (`plane_levels`) for a model whose level is
    learned and global; None for any other model, or when none was measured."""
    if not module.learns_global_level:
        return None
    return plane_levels(module.noise.kind, planes)


def sure_levels(module, planes: list[np.ndarray], noise: str | None) -> list | None:
    """Each plane's noise parameters for training by SURE, which needs the data's own level:
    the level the user gave (`noise`, a spec: one fixed level of the model's kind), else for
    a model with a learned global level the one measured on each plane; None: do not train
    by SURE.

    SURE is only as right as its level (its bias is −δ(1 − 2·gain) for a variance off by δ):
    with the σ measured on the demo's MRI slice, 7 % high, SURE steps smoothed away detail
    (BENCHMARKS.md). The per-plane Poisson-Gaussian fit on widefield data is close enough to
    gain, and one learned level cannot fit planes whose gain spans 8×."""
    from medenoise.noise import make_noise_model

    if getattr(module, "mu_only", True):
        return None
    if noise is not None:
        given = make_noise_model(noise)
        if given.kind == module.noise.kind and given.spec.is_fixed:
            return [tuple(float(v) for v in given.fixed_params(1)[0])] * len(planes)
    return data_levels(module, planes)


def common_level(levels: list | None) -> tuple[float, ...] | None:
    """One level for all planes: the median of each parameter."""
    if not levels:
        return None
    return tuple(float(v) for v in np.median(np.asarray(levels), axis=0))


def start_at_level(module, target: tuple[float, ...] | None) -> str | None:
    """Set the learned global noise level to `target`; returns it in words, or None when
    there is none or the model's map cannot reach it."""
    import torch

    theta = theta_for(module.noise, target) if target else None
    if theta is None:
        return None
    with torch.no_grad():
        module.noise_param.theta.copy_(theta.to(module.noise_param.theta))
    names = module.noise.param_names
    return ", ".join(f"{n}={v:.4g}" for n, v in zip(names, target, strict=True))


def start_at_data_level(module, planes: list[np.ndarray]) -> str | None:
    """`start_at_level` at the median level measured on `planes`."""
    return start_at_level(module, common_level(data_levels(module, planes)))


def start_at_training_level(module, planes: list[np.ndarray], data_kind: str, seed: int):
    """A warm start whose learned global level is fresh starts it at the level measured on
    its noisy training data (clean planes get the run's synthetic noise first, drawn from
    their own generator so the training stream is unchanged); returns it in words or None.
    Fresh, θ = 0 means σ ≈ 0.02, and a short fine-tune moves θ about its rate per step."""
    import torch

    if not module.learns_global_level or not planes:
        return None
    if torch.any(module.noise_param.theta != 0):  # loaded from the warm start: kept
        return None
    from medenoise.data.patches import center_square

    noisy = []
    gen = torch.Generator().manual_seed(seed)
    for i in _spread(len(planes)):
        plane = center_square(planes[i], MEASURED_SIDE)
        if data_kind == "clean":
            clean = torch.from_numpy(np.ascontiguousarray(plane.transpose(2, 0, 1)))[None]
            y, _ = module.noise.sample(clean.to(torch.float32), gen)
            plane = y[0].numpy().transpose(1, 2, 0)
        noisy.append(np.ascontiguousarray(plane, dtype=np.float32))
    return start_at_data_level(module, noisy)
