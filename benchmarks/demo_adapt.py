"""The demo's fine-tuning step under other settings: `medenoise.adapt` on each of the demo's
noisy images (σ = 25, seed 0, as `medenoise demo` draws them), then PSNR / SSIM against the
clean image, with the model's default self-ensemble.

    python benchmarks/demo_adapt.py [--steps 40] [--lr R] [--level given|measured|none]
        [--model ssdn-med-gray] [--image MRI|CT] [--unadapted]

`--level given` tells the adaptation the σ the demo added (SURE at that level, what the demo
does); `measured` the σ the inspector measures on the noisy image (SURE at that level);
`none` no level (a per-image-level model then trains by the likelihood). Prints one line
per image, with the level and what the held-out guard decided. `--unadapted` scores the
model itself, with the self-ensemble on (a model file's default is off; the demo's zoo model
has it on): the demo's SSDN row for any model file; with `--level measured`, at the level
measured on each image.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _measured(noisy: np.ndarray) -> str:
    """The Gaussian level the inspector measures on a noisy image, as a noise spec."""
    from medenoise.adaptation_level import plane_level

    (sigma,) = plane_level("gaussian", noisy[..., None])
    return f"gaussian:{sigma * 255:.3f}"


def _split(out: np.ndarray, clean: np.ndarray) -> str:
    """The squared error summed over the background (clean < 0.02) and over the rest, each
    per pixel of the whole image: where a loss to BM3D sits."""
    err, dark = (out - clean) ** 2, clean < 0.02
    return (f"squared error, background {err[dark].sum() / err.size:.2e}, "
            f"the rest {err[~dark].sum() / err.size:.2e}")  # fmt: skip


def main() -> None:
    from medenoise.adaptation import adapt
    from medenoise.api import load_model
    from medenoise.demo import SIGMA, demo_images
    from medenoise.eval import metrics

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--level", choices=("given", "measured", "none"), default="given")
    ap.add_argument("--model", default="ssdn-med-gray")
    ap.add_argument("--image", default="", help="only the images whose name holds this")
    ap.add_argument("--unadapted", action="store_true", help="score the model, no fine-tune")
    args = ap.parse_args()
    spec = f"gaussian:{SIGMA:g}"
    measured_run = args.unadapted and args.level == "measured"
    images = demo_images()
    rng = np.random.default_rng(0)  # the demo's draw, in the demo's order
    noisy = {
        k: (v + rng.normal(0, SIGMA / 255, v.shape)).astype(np.float32) for k, v in images.items()
    }
    for name, clean in images.items():
        if args.image not in name:
            continue
        t0 = time.perf_counter()
        noise = {"given": spec, "measured": _measured(noisy[name]), "none": None}[args.level]
        if args.unadapted:
            baseline = args.model in ("bm3d", "vst-bm3d", "bm3d-psd")
            tuned = load_model(args.model, ensemble=None if baseline else True)
        else:
            tuned = adapt(args.model, [noisy[name]], args.steps, noise=noise, lr=args.lr, seed=0)
        seconds = time.perf_counter() - t0
        # unadapted, `--level measured` denoises at the level measured on the image
        out = tuned.denoise(noisy[name], "measured" if measured_run else spec)
        psnr, ssim = metrics.psnr(out, clean), metrics.ssim(out, clean)
        print(
            f"{name}, level {noise}: {psnr:.2f} dB / {ssim:.4f} ({tuned.source}; {seconds:.0f} s)"
            f"; {_split(out, clean)}"
        )


if __name__ == "__main__":
    main()
