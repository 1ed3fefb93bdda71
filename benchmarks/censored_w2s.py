"""Clipped / quantised likelihood vs the plain one on real 8-bit data (W2S avg1 vs avg400).

The prior is held fixed (the shipped ssdn-pg-fmd network, run once per image), so only the
likelihood differs: per image and per likelihood, the Poisson-Gaussian (a, b) is fitted by
maximum likelihood (L-BFGS on the model's θ, started at its learned values) and the image is
denoised with the matching posterior mean, clipped to [0, 1] as the 8-bit output is. Prints
the fitted (a, b) and PSNR against avg400 (whole image / pixels recorded 0 / recorded 255),
with avg400 mapped affinely onto each frame's intensity scale (the 8-bit exports are
stretched separately).

    PYTHONPATH=src python benchmarks/censored_w2s.py [--data DIR] [--channel N]
    PYTHONPATH=src python benchmarks/censored_w2s.py --oracle   # synthetic, known prior
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch

from medenoise.api import load_model
from medenoise.noise.censored import Recording, recorded_nll, recorded_posterior_mean
from medenoise.noise.likelihood import Prior, prior_from_head

RECORDINGS = {
    "plain": Recording(),
    "clip": Recording(clip=(0.0, 1.0)),
    "clip+quant": Recording(clip=(0.0, 1.0), step=1 / 255),
}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * math.log10(1.0 / max(float(np.mean((a - b) ** 2)), 1e-12))


def matched_to(clean: np.ndarray, noisy: np.ndarray) -> np.ndarray:
    """avg400 on the intensity scale of the avg1 frame: the 8-bit exports are stretched each
    on its own, so α·clean + β is fitted to the noisy frame (whose mean is the signal) by
    least squares, once per image and the same for every likelihood."""
    design = np.stack([clean.ravel(), np.ones(clean.size)], axis=1)
    coef, *_ = np.linalg.lstsq(design, noisy.ravel().astype(np.float64), rcond=None)
    return coef[0] * clean + coef[1]


def fit_level(module, y, prior, rec: Recording) -> torch.Tensor:
    """(a, b) maximising the mean recorded likelihood of y under the fixed prior."""
    theta = module.noise_param.theta.detach().clone().to(torch.float64).requires_grad_(True)
    opt = torch.optim.LBFGS([theta], max_iter=60, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        params = module.noise.map_learned(theta.unsqueeze(0))
        loss = recorded_nll(y, prior, module.noise.variance(prior.mu, params), rec).mean()
        loss.backward()
        return loss

    opt.step(closure)
    return module.noise.map_learned(theta.detach().unsqueeze(0))


def fit_sigma(y: torch.Tensor, prior: Prior, rec: Recording) -> float:
    """Gaussian noise σ maximising the mean recorded likelihood of y under the prior."""
    log_s = torch.tensor(math.log(0.01), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_s], max_iter=50, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = recorded_nll(y, prior, torch.exp(2 * log_s).expand_as(y), rec).mean()
        loss.backward()
        return loss

    opt.step(closure)
    return math.exp(log_s.item())


def oracle(samples: int = 200_000) -> None:
    """Dark synthetic pixels with a known prior x ~ N(μ, 0.02²), Gaussian noise σ = 0.03,
    recorded as clip(round(255·Y)/255, 0, 1): σ fitted by maximum likelihood and the
    posterior-mean RMSE, per likelihood (the setting where the prior is right)."""
    rng = np.random.default_rng(0)
    print("| μ | recorded 0 | likelihood | fitted σ (true 0.03) | RMSE | RMSE at recorded 0 |")
    print("|---|---|---|---|---|---|")
    for mu in (0.0, 0.03, 0.06):
        x = mu + 0.02 * rng.standard_normal(samples)
        rec_y = np.clip(np.round(255 * (x + 0.03 * rng.standard_normal(samples))) / 255, 0, 1)
        y = torch.from_numpy(rec_y).reshape(1, 1, 1, -1)
        prior = Prior(torch.full_like(y, mu), torch.full_like(y, 0.02**2), diagonal=True)
        zero = rec_y == 0
        for name, rec in RECORDINGS.items():
            sigma = fit_sigma(y, prior, rec)
            var_n = torch.full_like(y, 0.03**2)  # the posterior mean at the true level
            est = recorded_posterior_mean(y, prior, var_n, rec).reshape(-1).numpy()
            rmse = np.sqrt(np.mean((est - x) ** 2))
            rmse0 = np.sqrt(np.mean((est[zero] - x[zero]) ** 2))
            print(
                f"| {mu:g} | {100 * zero.mean():.1f}% | {name} | {sigma:.4f} "
                f"| {rmse:.5f} | {rmse0:.5f} |"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/w2s_subset"))
    ap.add_argument("--channel", type=int, default=1)
    ap.add_argument("--oracle", action="store_true", help="the synthetic known-prior check")
    args = ap.parse_args()
    if args.oracle:
        oracle()
        return
    import tifffile

    module = load_model("ssdn-pg-fmd").module.eval()
    rows = {k: [] for k in RECORDINGS}
    for path in sorted((args.data / "avg1").glob(f"input_avg1_*_{args.channel}.tif")):
        noisy = tifffile.imread(path).astype(np.float32) / 255
        clean = (
            tifffile.imread(
                args.data / "avg400" / path.name.replace("input_avg1", "target_avg400")
            ).astype(np.float64)
            / 255
        )
        clean = matched_to(clean, noisy)
        y = torch.from_numpy(noisy)[None, None]
        with torch.no_grad():
            prior = prior_from_head(module.net(y), 1, "full")
        masks = (np.ones_like(noisy, bool), noisy == 0, noisy == 1)
        line = [path.name, f"0: {100 * masks[1].mean():.2f}%, 255: {100 * masks[2].mean():.2f}%"]
        line.append("noisy " + "/".join(f"{psnr(noisy[m], clean[m]):.2f}" for m in masks))
        for name, rec in RECORDINGS.items():
            params = fit_level(module, y, prior, rec)
            with torch.no_grad():
                var_n = module.noise.variance(prior.mu, params)
                out = recorded_posterior_mean(y, prior, var_n, rec)[0, 0].numpy()
            out = np.clip(out, 0, 1)  # the outputs are written in the input's 8-bit range
            a, b = params[0].tolist()
            rows[name].append([psnr(out[m], clean[m]) for m in masks])
            scores = "/".join(f"{v:.2f}" for v in rows[name][-1])
            line.append(f"{name}: a={a:.4f} b={b:+.5f} {scores}")
        print(" | ".join(line), flush=True)
    for name, vals in rows.items():
        whole, low, high = np.mean(vals, axis=0)
        print(
            f"{name:10s} mean PSNR {whole:.3f} dB; at pixels recorded 0: {low:.2f}, 255: {high:.2f}"
        )


if __name__ == "__main__":
    main()
