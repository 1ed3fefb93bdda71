"""Which working range each real file gets, and min..max vs percentiles vs nominal on a
narrow-band 16-bit image denoised by a zoo model.

Usage: PYTHONPATH=src python benchmarks/working_range.py [DATA]   (DATA: the shared data
folder, default ../shared/data). Prints two markdown tables (docs/working-range.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from medenoise.data.io import working_range
from medenoise.data.io.common import denormalise
from medenoise.data.io.series import group_inputs, read_unit

REAL = [
    "ct_tcia/cmb_crc_lung_kernel",
    "ct_tcia/acrin_flt_soft_kernel",
    "mr_cardiac",
    "brain_mri/S0_10slices.nii.gz",
    "brain_mri/ch2.nii.gz",
    "brain_mri/test_piesno.nii.gz",
    "brain_mri/example4d.nii.gz",
    "brain_mri/emri_small.dcm",
    "dicom_misc",
    "chest_xray/RG1_UNCR.dcm",
]


def units(data: Path) -> list[tuple[str, list[Path]]]:
    """(label, files) of every unit the listed inputs hold (a series is one unit)."""
    from medenoise.planning import find_images

    out = []
    for rel in REAL:
        path = data / rel
        if not path.exists():
            continue
        files = [f for f, _ in find_images([path])]
        for unit in group_inputs(files):
            label = rel if path.is_file() else f"{rel}/{unit[0].name}"
            out.append((label + (f" ({len(unit)} slices)" if len(unit) > 1 else ""), unit))
    return out


def rule_row(label: str, unit: list[Path]) -> str:
    """One table row: dtype, nominal range, values present, part filled, rule, percentiles."""
    image = read_unit(unit)
    scale = image.meta.scaling
    stored = denormalise(image).astype(np.float64)
    values = stored * scale.slope + scale.inter
    a, b = values.min(), values.max()
    if scale.clip is not None:
        nominal = sorted(e * scale.slope + scale.inter for e in scale.clip)
        fill = f"{(b - a) / (nominal[1] - nominal[0]):.3f}"
    else:
        nominal, fill = (0.0, 1.0), "float"
    p_lo, p_hi = working_range.data_ends(values, "percentile")
    outside = np.mean((values < p_lo) | (values > p_hi))
    rule = "data" if (scale.range_source or "").startswith("data range") else "nominal"
    bulk = np.percentile(image.array, (1, 99))
    return (
        f"| {label} | {scale.dtype} | {nominal[0]:g}..{nominal[1]:g} | {a:g}..{b:g} | {fill} | "
        f"{rule}: {scale.lo:g}..{scale.hi:g} | {bulk[0]:.2f}..{bulk[1]:.2f} | "
        f"{p_lo:g}..{p_hi:g} ({outside:.4%} beyond) |"
    )


def narrow_band(hot: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy) int16 256×256: camera() in -30..245, Poisson (30 counts at the top);
    `hot` pixels at 3000 (a hot spot, e.g. a bladder or metal) in both."""
    from skimage.data import camera

    clean = camera()[128:384, 128:384].astype(np.float64) / 255 * 275 - 30
    rng = np.random.default_rng(0)
    noisy = rng.poisson(np.clip(clean + 30, 0, None) / 275 * 30) / 30 * 275 - 30
    clean, noisy = np.rint(clean), np.rint(noisy)
    spots = rng.choice(clean.size, hot, replace=False)
    clean.flat[spots] = noisy.flat[spots] = 3000
    return clean.astype(np.int16), noisy.astype(np.int16)


def denoise_row(denoiser, name: str, hot: int, rule: str) -> str:
    """Denoise the narrow-band case on one range rule: output range and PSNR on -30..245."""
    from medenoise.data.io import from_array, to_array

    clean, noisy = narrow_band(hot)
    working_range.RULE = rule if rule != "nominal" else "minmax"
    given = (-32768.0, 32767.0) if rule == "nominal" else None
    image = from_array(noisy, value_range=given)
    denoiser.denoise_image(image, None)
    out = to_array(image).astype(np.float64)
    mask = clean != 3000  # PSNR on the image proper, peak = its span 275
    psnr_in = 10 * np.log10(275**2 / np.mean((noisy[mask] - clean[mask]) ** 2.0))
    psnr_out = 10 * np.log10(275**2 / np.mean((out[mask] - clean[mask]) ** 2))
    scale = image.meta.scaling
    return (
        f"| {name} | {rule} | {scale.lo:g}..{scale.hi:g} | {out[mask].min():g}..{out[mask].max():g}"
        f" | {psnr_in:.2f} | {psnr_out:.2f} |"
    )


def main() -> None:
    data = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
    print("| file | dtype | nominal | values present | part filled | range used | "
          "1..99 % on [0, 1] | 0.01..99.99 % percentiles |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for label, unit in units(data):
        print(rule_row(label, unit))
    from medenoise.api import load_model

    denoiser = load_model("ssdn-gauss5-50-gray")
    print("\n| case | range rule | range | output (image pixels) | PSNR noisy | PSNR denoised |")
    print("|---|---|---|---|---|---|")
    for name, hot in (("narrow band -30..245", 0), ("same + 5 hot pixels at 3000", 5)):
        for rule in ("minmax", "percentile", "nominal"):
            print(denoise_row(denoiser, name, hot, rule), flush=True)


if __name__ == "__main__":
    main()
