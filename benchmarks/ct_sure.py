"""Stein's unbiased risk estimate (SURE) of a CT denoiser's error for correlated Gaussian
noise, with the divergence term by one Monte-Carlo probe (Ramani, Blu & Unser 2008) drawn
with the noise's spectrum, checked against the true error on `ct_reference.py`'s slices.

For y = x + n, n ~ N(0, C), and any denoiser f, summed over a region M:
    E ||f(y) - x||²_M = E [ ||f(y) - y||²_M - tr_M(C) + 2 tr_M(J C) ],
where J is f's Jacobian. With b ~ N(0, C), E[b_i (J b)_i] = (J C)_ii, so
    tr_M(J C) ≈ Σ_{i in M} b_i (f(y + εb) - f(y))_i / ε
costs one more run of the denoiser. M is the body (reference above -900 HU).

    MEDENOISE_DATA_ROOT=../shared/data python benchmarks/ct_sure.py \
        --model bm3d-psd --model configs/zoo/partial/ssdn-ct-square7-800.safetensors [--kernel lung]

Each row: the true RMSE (HU) against the reference, SURE's estimate with the noise's
autocovariance known (the one added), and with it measured on the noisy slice itself as
`ct_reference.py` measures it (stationary, from flat soft-tissue tiles). On real slices the
noise is not stationary (the flat tiles read 52-74 HU on the sharp kernel where the Haar
measure over the whole slice reads 38-45), and a stationary C there gave SURE estimates
below zero, so real slices need a local noise map before SURE can score them.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ct_noref  # noqa: E402
import ct_reference  # noqa: E402

EPS = 0.2  # the probe's size, in units of the noise: BM3D's thresholds need a finite step


def _run(den, image, array: np.ndarray) -> np.ndarray:
    """The denoiser's output in HU on a copy of `image` holding `array` (working scale)."""
    im = copy.copy(image)
    im.array = array.copy()
    return ct_noref._hu(den.denoise_image(im, None).array, image.meta.scaling)


def sure_rmse(den, image, acov: np.ndarray, mask: np.ndarray, seed: int, f=None) -> float:
    """SURE's estimate of the RMSE (HU) over `mask` of `den` on `image`, noise autocovariance
    `acov` (HU², lags -8..8); `f`: the denoiser's output in HU when already computed."""
    sc = image.meta.scaling
    y = image.array
    y_hu = ct_noref._hu(y, sc)
    f = _run(den, image, y) if f is None else f
    # the probe stays off the air floor, where the scanner clipped the noise away
    b = ct_reference.correlated_noise(acov, y_hu.shape, seed) * (y_hu > y_hu.min())
    step = (EPS * b / (sc.hi - sc.lo)).astype(np.float32)[..., None]
    f_probe = _run(den, image, y + step)
    divergence = float((b * (f_probe - f))[mask].sum()) / EPS
    residual = float(((f - y_hu) ** 2)[mask].sum())
    mse = residual - mask.sum() * acov[ct_reference.RADIUS, ct_reference.RADIUS] + 2 * divergence
    return float(np.sqrt(max(mse / mask.sum(), 0.0)))


def own_autocovariance(image) -> np.ndarray:
    """The noise autocovariance measured on the noisy slice itself (all a real scan offers)."""
    return ct_reference.measured_autocovariance(ct_noref._hu(image.array, image.meta.scaling))


def check(specs: list[str], kernel: str) -> dict:
    """SURE beside the true RMSE on the reference slices of `ct_reference.py`."""
    from medenoise.data.io import read

    references, sources = ct_reference.split_slices(ct_noref.held_out_ct(1), kernel)
    acov = np.mean([own_autocovariance(read(f)) for f in sources], 0)
    results = {}
    for spec in specs:
        den, rows = ct_noref.denoiser_for(spec), []
        for seed, path in enumerate(references):
            image, ref = ct_reference.noisy_copy(path, acov, seed)
            mask = ref > ct_reference.BODY_HU
            out = _run(den, image, image.array)
            row = {"file": f"{path.parent.name}/{path.name}"}
            row["true_rmse_hu"] = float(np.sqrt(((out - ref)[mask] ** 2).mean()))
            row["sure_known_noise"] = sure_rmse(den, image, acov, mask, 1000 + seed, out)
            own = own_autocovariance(image)
            row["sure_measured_noise"] = sure_rmse(den, image, own, mask, 1000 + seed, out)
            rows.append(row)
            print(spec, row, flush=True)
        results[spec] = rows
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--kernel", choices=("soft", "lung"), default="soft")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = check(args.model, args.kernel)
    keys = ["true_rmse_hu", "sure_known_noise", "sure_measured_noise"]
    print("\n| model | true RMSE | SURE, noise known | SURE, noise measured |\n|---|---|---|---|")
    for spec, rows in results.items():
        cells = " | ".join(f"{np.mean([r[k] for r in rows]):.2f}" for k in keys)
        print(f"| {spec} | {cells} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
