"""`medenoise demo`: a real MRI and a real CT slice, noised, denoised by the shipped SSDN
model and by BM3D, scored and shown; then SSDN fine-tuned on each noisy image alone.

The model is the medical one, `ssdn-med-gray` (trained on medical slices, never on these two
images); an install whose zoo lacks it falls back to the photo model `ssdn-gauss25-gray`.

The two images ship inside dependencies (matplotlib's `s1045.ima.gz` MRI slice, pydicom's
`CT_small.dcm`), so the demo needs no download and no data folder.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

SIGMA = 25.0
MODEL = "ssdn-med-gray"  # the demo's model, the one name to change
FALLBACK_MODEL = "ssdn-gauss25-gray"  # shown while the zoo does not ship MODEL


def default_model() -> str:
    """MODEL when the zoo ships it, else FALLBACK_MODEL."""
    from medenoise.zoo import entry

    return MODEL if entry(MODEL) is not None else FALLBACK_MODEL


def demo_images() -> dict[str, np.ndarray]:
    """{name: clean float32 (H, W) in [0, 1]} scaled by each image's own maximum."""
    import matplotlib.cbook as cbook
    import pydicom
    from pydicom.data import get_testdata_file

    with cbook.get_sample_data("s1045.ima.gz") as f:
        mri = np.frombuffer(f.read(), "<u2").reshape(256, 256).astype(np.float32)
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ct = ds.pixel_array.astype(np.float32)
    return {name: a / a.max() for name, a in (("MRI s1045", mri), ("CT_small", ct))}


def _score(den: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    """PSNR and SSIM on the [0, 1] scale, the evaluation protocol's (eval.metrics)."""
    from medenoise.eval import metrics

    return metrics.psnr(den, clean), metrics.ssim(den, clean)


def run_demo(
    out: Path,
    model: str | None = None,
    finetune_steps: int = 40,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> dict:
    """Denoise both images with `model` (default: `default_model()`) and BM3D, fine-tune,
    write `out`; return the rows."""
    from medenoise.api import load_model
    from medenoise.eval.evaluate import save_plane
    from medenoise.inference.denoiser import ClassicalDenoiser

    model = model or default_model()

    den = load_model(model)
    bm3d = ClassicalDenoiser("bm3d")
    rng = np.random.default_rng(seed)
    spec = f"gaussian:{SIGMA:g}"
    images = demo_images()
    noisy = {
        k: (v + rng.normal(0, SIGMA / 255, v.shape)).astype(np.float32) for k, v in images.items()
    }
    rows, panels = [], {}
    for name in images:
        y = noisy[name]
        outs = {"noisy": (y, 0.0)}
        for label, d in (("BM3D", bm3d), ("SSDN", den)):
            t0 = time.perf_counter()
            outs[label] = (d.denoise(y, spec), time.perf_counter() - t0)
        panels[name] = outs
    tuned, tune_s = finetune(model, noisy, finetune_steps, seed, log, den.ensemble, spec)
    for name, clean in images.items():
        t0 = time.perf_counter()
        panels[name]["SSDN fine-tuned"] = (
            tuned[name].denoise(noisy[name], spec),
            time.perf_counter() - t0,
        )
        for label, (img, sec) in panels[name].items():
            p, s = _score(img, clean)
            rows.append(
                {
                    "image": name,
                    "method": label,
                    "psnr": round(p, 2),
                    "ssim": round(s, 4),
                    "seconds": round(sec, 2),
                }
            )
    out.mkdir(parents=True, exist_ok=True)
    for name, outs in panels.items():
        slug = name.split()[0].lower()
        save_plane(out / f"{slug}_clean.png", images[name][..., None])
        for label, (img, _) in outs.items():
            save_plane(out / f"{slug}_{label.lower().replace(' ', '_')}.png", img[..., None])
    figure(images, panels, rows, out / "comparison.png")
    return {
        "model": model,
        "noise": spec,
        "seed": seed,
        "finetune_steps": finetune_steps,
        "finetune_seconds": round(tune_s, 1),
        "rows": rows,
        "out": str(out),
    }


def finetune(
    model: str,
    noisy: dict[str, np.ndarray],
    steps: int,
    seed: int,
    log,
    ensemble: bool = False,
    noise: str | None = None,
) -> tuple[dict, float]:
    """({image: SSDN fine-tuned on that noisy image alone}, seconds): self-supervised, no
    clean image used; each denoises with `model`'s self-ensemble setting, so the gain is like
    for like. Told the images' noise level (`noise`), it trains by SURE, the estimate of its
    own output's error. The held-out guard keeps the model unadapted for an image where
    fine-tuning does not help."""
    from medenoise.adaptation import adapt

    # float32 arrays keep the noise as drawn: clipping at 0 would half-rectify it in the
    # black MRI background (mean +σ/√(2π)), which no Gaussian model explains
    log(f"fine-tuning {model} on each noisy image alone: {steps} steps")
    t0 = time.perf_counter()
    tuned = {
        name: adapt(model, [image], steps, noise=noise, seed=seed, ensemble=ensemble)
        for name, image in noisy.items()
    }
    return tuned, time.perf_counter() - t0


def figure(images, panels, rows, path: Path) -> None:
    """One row per image: noisy, BM3D, SSDN, fine-tuned SSDN, clean; PSNR/SSIM titles."""
    from medenoise.eval.figures import _plt, _save

    plt = _plt()
    labels = ["noisy", "BM3D", "SSDN", "SSDN fine-tuned"]
    fig, axes = plt.subplots(len(images), 5, figsize=(15, 3.3 * len(images)), squeeze=False)
    for r, (name, clean) in enumerate(images.items()):
        for c, label in enumerate([*labels, "clean"]):
            ax = axes[r][c]
            img = clean if label == "clean" else panels[name][label][0]
            ax.imshow(np.clip(img, 0, 1), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if label == "clean":
                ax.set_title(f"{name}: clean")
            else:
                m = next(x for x in rows if x["image"] == name and x["method"] == label)
                ax.set_title(f"{label}\n{m['psnr']:.2f} dB / SSIM {m['ssim']:.3f}", fontsize=9)
    fig.tight_layout()
    _save(fig, path)
