"""Does SURE read an SSDN model's real error on real noise? For each noisy/clean pair: the
plain SURE of the posterior mean, the neighbour term of the noise correlation measured on
the noisy plane (what `--adapt` adds), and the squared error against the reference, less
the reference's own noise (the measured variance over the number of frames it averages).

    python benchmarks/sure_check.py link-fmd WORK FMD_DIR FOV [COUNT]  # WORK/noisy, WORK/clean
    python benchmarks/sure_check.py check WORK [--model M] [--frames 50] [--count 6] [--white]

`--white` replaces each noisy plane with its reference plus independent Gaussian noise of
the level measured on it: the control, where plain SURE must match the error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def link_fmd(work: Path, fmd: Path, fov: str, count: int) -> None:
    """WORK/noisy/<frame> → raw frames of one FOV, WORK/clean/<frame> → its avg50."""
    for kind in ("noisy", "clean"):
        (work / kind).mkdir(parents=True, exist_ok=True)
    for frame in sorted((fmd / "raw" / fov).glob("*.png"))[:count]:
        for kind, target in (("noisy", frame), ("clean", fmd / "gt" / fov / "avg50.png")):
            (work / kind / frame.name).unlink(missing_ok=True)
            (work / kind / frame.name).symlink_to(target.resolve())


def _plane(path: Path) -> np.ndarray:
    from medenoise.data import io

    array = np.asarray(io.read(path).array, np.float32)
    return array.reshape(*array.shape[:2], 1)


def _lags(r: np.ndarray, lags) -> str:
    """Correlation of `r` (H, W, 1) with itself shifted along x by each lag."""
    r = r[..., 0] - r.mean()
    return " ".join(f"{(r[:, k:] * r[:, :-k]).mean() / r.var():.3f}" for k in lags)


def check_one(module, y, x, level, kernel, frames: float) -> tuple[float, float, float]:
    """(plain SURE, neighbour term, error against the reference) per pixel, on one plane
    whose noise has parameters `level` and off-lag-0 correlation `kernel` (None: white)."""
    import torch

    from medenoise.adaptation_level import start_at_level
    from medenoise.noise.sure import neighbour_term, posterior_and_gain, sure_risk

    start_at_level(module, level)
    yt = torch.from_numpy(y[..., 0])[None, None]
    params = torch.tensor([level], dtype=torch.float64)

    def estimate(v):
        return posterior_and_gain(module, v)[0]

    with torch.no_grad():
        x_hat, gain, _ = posterior_and_gain(module, yt)
        variance = module.noise.observed_variance(yt, params)  # as --adapt
        plain = float(sure_risk(x_hat.double(), yt, variance, gain.double()).mean())
        term = 0.0
        if kernel is not None:
            gen = torch.Generator().manual_seed(0)
            probes = [neighbour_term(estimate, yt, x_hat, variance, kernel, gen) for _ in range(4)]
            term = float(sum(t.mean() for t in probes) / len(probes))
    ref = module.noise.variance(torch.from_numpy(x[..., 0])[None, None].double(), params)
    error = float(((x_hat[0, 0].double().numpy() - x[..., 0]) ** 2).mean())
    return plain, term, error - float(ref.clamp_min(0).mean()) / frames


def check(work: Path, model: str, frames: float, count: int, white: bool) -> None:
    import torch

    from medenoise.adaptation_level import noise_correlation, plane_level
    from medenoise.api import load_model
    from medenoise.noise.sure import neighbour_kernel

    module = load_model(model).module.float().eval()
    rows = []
    for noisy in sorted((work / "noisy").iterdir())[:count]:
        y, x = _plane(noisy), _plane(work / "clean" / noisy.name)
        level = plane_level(module.noise.kind, y)
        if white:  # the reference plus independent noise of the level measured on y
            params = torch.tensor([level], dtype=torch.float64)
            clean = torch.from_numpy(x[..., 0])[None, None].double()
            var = module.noise.variance(clean, params)[0, 0, ..., None].numpy()
            std = np.sqrt(np.maximum(var, 0.0))
            y = (x + np.random.default_rng(0).normal(size=x.shape) * std).astype(np.float32)
        kernel = None if white else neighbour_kernel(noise_correlation([y]))
        plain, term, error = check_one(module, y, x, level, kernel, np.inf if white else frames)
        rows.append((plain, term, error))
        ref = np.polyfit(x.ravel(), ((y - x) ** 2).ravel(), 1)  # variance = a·x + b
        print(f"{noisy.name}: level measured on it {np.round(level, 5).tolist()}, against the "
              f"reference a={ref[0]:.4f} b={ref[1]:.5f}; the residual's correlation along x "
              f"at lags 1, 2, 8, 16: {_lags(y - x, (1, 2, 8, 16))}")  # fmt: skip
        print(f"{noisy.name}: SURE {plain:.3e}, + neighbour term {term:.3e} = "
              f"{plain + term:.3e}; error against the reference {error:.3e}")  # fmt: skip
    plain, term, error = np.mean(rows, axis=0)
    print(f"mean of {len(rows)}: SURE {plain:.3e}, with the term {plain + term:.3e}, "
          f"error {error:.3e}")  # fmt: skip


def main(argv: list[str]) -> None:
    if argv[:1] == ["link-fmd"]:
        work, fmd, fov = Path(argv[1]), Path(argv[2]), argv[3]
        link_fmd(work, fmd, fov, int(argv[4]) if len(argv) > 4 else 50)
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=["check"])
    p.add_argument("work", type=Path)
    p.add_argument("--model", default="ssdn-pg-fmd")
    p.add_argument("--frames", type=float, default=50.0, help="frames the reference averages")
    p.add_argument("--count", type=int, default=6)
    p.add_argument("--white", action="store_true")
    a = p.parse_args(argv)
    check(a.work, a.model, a.frames, a.count, a.white)


if __name__ == "__main__":
    main(sys.argv[1:])
