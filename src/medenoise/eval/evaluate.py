"""The evaluation harness: one denoiser over a stream of samples → per-image and mean metrics.

Every model kind (trained SSDN/N2C/N2N/N2V files, zoo names, bm3d/vst-bm3d/nlm/identity)
goes through the same `ArrayDenoiser.denoise_planes` call, so tables compare like with like.
Metrics follow `eval.metrics.PROTOCOL`: float PSNR/SSIM score denoised and noisy images
alike, unclipped (so the identity "denoiser" scores exactly the noisy input); psnr_8bit
quantises both as the SSDN paper does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from medenoise.eval import metrics

METRICS = ("psnr", "ssim", "psnr_8bit", "psnr_noisy", "ssim_noisy", "psnr_8bit_noisy")
"""Per-image keys; the mean object also carries psnr_var and ssim_var."""

PROTOCOL_TEXT = (
    "PSNR on the [0,1] scale (peak 1.0; psnr_8bit: SSDN paper's 8-bit quantisation); "
    "SSIM per Wang et al. 2004 (Gaussian sigma 1.5, K1 0.01, K2 0.03, data_range 1.0, "
    "population covariance, RGB averaged over channels); denoised and noisy scored "
    "unclipped; PSNR_var/SSIM_var = (denoised - noisy)/noisy per image, then averaged."
)
AFFINE_TEXT = (
    " Affine-fitted: denoised and noisy each mapped by their least-squares a*x + b onto the "
    "reference first."
)


def score(
    denoised: np.ndarray, noisy: np.ndarray, clean: np.ndarray, fit_affine: bool = False
) -> dict[str, float]:
    """Metrics of one (H, W, C) image triple on the [0, 1] scale; `fit_affine`: of denoised and
    noisy each fitted by a·x + b to the clean reference (one recorded at another gain)."""
    out = denoised
    if fit_affine:
        out, noisy = metrics.affine_fit(out, clean), metrics.affine_fit(noisy, clean)
    row = {
        "psnr": metrics.psnr(out, clean),
        "ssim": metrics.ssim(out, clean),
        "psnr_8bit": metrics.psnr_8bit(out, clean),
        "psnr_noisy": metrics.psnr(noisy, clean),
        "ssim_noisy": metrics.ssim(noisy, clean),
        "psnr_8bit_noisy": metrics.psnr_8bit(noisy, clean),
    }
    row["psnr_var"] = _gain(row["psnr"], row["psnr_noisy"])
    row["ssim_var"] = _gain(row["ssim"], row["ssim_noisy"])
    return row


def _gain(value: float, noisy: float) -> float:
    if noisy == 0 or not math.isfinite(noisy):
        return float("nan")
    return metrics.relative_gain(value, noisy)


def mean_of(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Mean of each metric over images (inf PSNRs of identical images are kept as inf)."""
    keys = [*METRICS, "psnr_var", "ssim_var", "seconds"]
    return {k: float(np.mean([r[k] for r in rows])) if rows else float("nan") for k in keys}


def evaluate(
    denoiser,
    samples: Iterable,
    *,
    noise: str | None = None,
    on_image: Callable[[Any, np.ndarray, dict], None] | None = None,
    progress: Callable[[str], None] | None = None,
    fit_affine: bool = False,
) -> dict[str, Any]:
    """Denoise every sample and score it; returns {"mean": {...}, "images": [...]}.

    `noise` is the level given to known-level models and baselines when a sample has none
    (real noise); synthetic samples carry their exact level. `on_image(sample, denoised,
    row)` sees each result (saving, figures); `progress(name)` is called after each image;
    `fit_affine` scores each output after its least-squares a·x + b fit to the reference.
    An RGB model given gray images sees the gray plane in all three channels, and its
    output is scored as the mean of its channels (the report ran RGB models on FMD so).
    """
    rows: list[dict[str, Any]] = []
    wants = getattr(getattr(denoiser, "config", None), "channels", None)
    for sample in samples:
        planes = sample.noisy[None]
        gray_in_rgb = wants == 3 and planes.shape[-1] == 1  # RGB model on gray data
        if gray_in_rgb:
            planes = np.repeat(planes, 3, axis=-1)
        t0 = time.perf_counter()
        denoised = denoiser.denoise_planes(planes, sample.noise or noise)[0]
        seconds = time.perf_counter() - t0
        if gray_in_rgb:  # scored (and kept) as the mean of its channels
            denoised = denoised.mean(axis=-1, keepdims=True)
        row = {"name": sample.name, **score(denoised, sample.noisy, sample.clean, fit_affine)}
        row["seconds"] = seconds
        rows.append(row)
        if on_image is not None:
            on_image(sample, denoised, row)
        if progress is not None:
            progress(sample.name)
    if not rows:
        from medenoise.errors import UserError

        raise UserError("no images to evaluate")
    return {"mean": mean_of(rows), "images": rows}


def compare_images(base: dict[str, Any], other: dict[str, Any]) -> dict[str, int]:
    """On how many images (matched by name) `other` scores below `base` in PSNR and SSIM:
    the adapted row of `evaluate --adapt` against the unadapted one."""
    before = {r["name"]: r for r in base["images"]}
    pairs = [(before[r["name"]], r) for r in other["images"] if r["name"] in before]
    return {
        "images": len(pairs),
        "psnr_lower": sum(r["psnr"] < b["psnr"] for b, r in pairs),
        "ssim_lower": sum(r["ssim"] < b["ssim"] for b, r in pairs),
    }


def model_label(denoiser) -> str:
    """Short name of a denoiser for tables: baseline name, or the model file's stem
    ('+ens' appended under the self-ensemble)."""
    source = Path(str(denoiser.source))
    suffix = "+ens" if getattr(denoiser, "ensemble", False) else ""
    if source.suffix == ".safetensors" and source.stem == "model":
        return source.parent.name + suffix  # runs/<name>/model.safetensors → <name>
    return (source.stem if source.suffix else str(denoiser.source)) + suffix


def saved_name(sample_name: str) -> Path:
    """Relative PNG path of a sample: "a/b.nii.gz[3]#1" → "a/b_3_1.png" (planes of a stack
    and noise repeats get their own files; the sample's folder part is kept)."""
    base, _, repeat = sample_name.partition("#")
    base, _, plane = base.partition("[")
    path = Path(base)
    name = path.name
    double = next((e for e in (".nii.gz", ".ima.gz") if name.lower().endswith(e)), None)
    name = name[: -len(double)] if double else Path(name).stem
    tags = "".join(f"_{t}" for t in (plane.rstrip("]"), repeat) if t)
    return path.parent / f"{name}{tags}.png"


def save_plane(path: Path, array: np.ndarray) -> None:
    """Write a [0,1] plane as 16-bit PNG (clipped, rounded): viewable and near-lossless."""
    from medenoise.data.io import from_array, write

    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.rint(np.clip(array, 0.0, 1.0) * 65535.0).astype(np.uint16)
    write(path, from_array(arr[..., 0] if arr.shape[-1] == 1 else arr))


def format_table(results: list[tuple[str, dict[str, Any]]], eight_bit: bool = False) -> str:
    """Plain-text table: one row per model with mean PSNR/SSIM, the noisy input's and gains."""
    from medenoise.tables import markdown_table

    key = "psnr_8bit" if eight_bit else "psnr"
    rows = []
    for label, res in results:
        m = res["mean"]
        rows.append([label, f"{m[key]:.2f}", f"{m['ssim']:.4f}", f"{m['psnr_var']:.4f}",
                     f"{m['ssim_var']:.4f}", f"{m['seconds']:.2f}"])  # fmt: skip
    m = results[0][1]["mean"]
    rows.append(["(noisy input)", f"{m[key + '_noisy']:.2f}", f"{m['ssim_noisy']:.4f}"])
    headers = ["model", "PSNR", "SSIM", "PSNR_var", "SSIM_var", "s/img"]
    table = markdown_table(headers, rows, widths=(24, 7, 7, 9, 9, 7), align="<>>>>>", plain=True)
    notes = [
        f"{label}: below the unadapted model on {c['psnr_lower']} of {c['images']} images "
        f"in PSNR, {c['ssim_lower']} in SSIM ({res.get('adapted_source', 'adapted')})"
        for label, res in results
        if (c := res.get("vs_unadapted"))
    ]
    return "\n".join([table, *notes])
