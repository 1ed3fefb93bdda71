"""Quality rows of the fast suite (`--quality`; minutes): the evaluation harness's numbers.

Set12 and BSD68 with Gaussian σ=25 (seed 0, as `medenoise evaluate --clean DIR --noise
gaussian:25 --seed 0`) for Gaussian models and BM3D; FMD Confocal_BPAE_B field of view 19,
raw frames (avg 1), for Poisson-Gaussian models and BM3D (noise estimated per image).
"""

from __future__ import annotations

from pathlib import Path

SETS = ("set12", "bsd68")
FMD_CONFIG = "Confocal_BPAE_B"
FMD_FOV = "19"


def data_root() -> Path | None:
    """The benchmark data folder (../shared/data or $MEDENOISE_DATA), None when absent."""
    from medenoise.bench.runner import _shared_data

    return _shared_data()


def datasets_for(noise: str | None) -> tuple[str, ...]:
    """Which sets score a model trained on `noise` (None: a baseline, scored on all)."""
    if noise is None:
        return (*SETS, "fmd")
    return SETS if noise.startswith("gaussian") else ("fmd",)


def quality(model: str, log=print, images: int | None = None) -> dict:
    """{set: {psnr, ssim, images}} for `model` on the sets its noise model fits."""
    from medenoise.api import load_model
    from medenoise.eval import samples as S
    from medenoise.eval.evaluate import evaluate

    root = data_root()
    if root is None:
        return {"skipped": "no benchmark data folder"}
    den = load_model(model)
    noise = None if getattr(den.config, "method", "") == model else den.config.noise
    channels = getattr(den.config, "channels", None)
    out: dict = {}
    for name in datasets_for(noise):
        if name == "fmd":
            fmd = root / "fmd_subset" / FMD_CONFIG
            if not fmd.is_dir():
                continue
            stream = S.fmd_samples([fmd], 1, channels, [FMD_FOV], images)
        else:
            if not (root / name).is_dir():
                continue
            stream = S.synthetic_samples([root / name], "gaussian:25", channels, seed=0)
        result = evaluate(den, stream)
        mean = result["mean"]
        out[name] = {"psnr": round(mean["psnr"], 2), "ssim": round(mean["ssim"], 4),
                     "images": len(result["images"])}  # fmt: skip
        log(f"{model}: {name} {out[name]}")
    return out
