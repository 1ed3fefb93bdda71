"""Tiled vs untiled output error as a function of tile overlap, per architecture.

    PYTHONPATH=src python benchmarks/tiling_error.py plain         # random-init students
    PYTHONPATH=src python benchmarks/tiling_error.py blind         # random-init SSDN, width 8
    PYTHONPATH=src python benchmarks/tiling_error.py ssdn          # zoo ssdn-gauss25-gray
    PYTHONPATH=src python benchmarks/tiling_error.py FILE.safetensors
    PYTHONPATH=src python benchmarks/tiling_error.py radiograph FILE_OR_NAME [DICOM]

A noisy (σ = 25/255) strip of skimage photos on [0, 1]; no self-ensemble; tiles of overlap +
a fixed margin, so each row of the table tiles the strip several times across. Errors are on
the [0, 1] output scale: max, mean and the 99.99th percentile of |tiled − untiled|.
`radiograph`: the model at its default overlap on the chest radiograph
(../shared/data/chest_xray/RG1_UNCR.dcm, read as `denoise` reads it), tiled as `denoise`
tiles it by default and with tiles of 640 against one untiled pass.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from medenoise.config import ModelConfig
from medenoise.inference.denoiser import Denoiser
from medenoise.inference.options import InferenceOptions
from medenoise.methods import build_method
from medenoise.modelfile import load_module

PLAIN = [128, 192, 256, 320]
RADIOGRAPH = "../shared/data/chest_xray/RG1_UNCR.dcm"
BLIND = [384, 448, 512, 576, 640]


def strip(h: int, w: int) -> np.ndarray:
    from skimage import data

    img = np.concatenate([data.camera(), data.moon(), data.camera()], axis=1)
    x = img[:h, :w].astype(np.float32) / 255
    x += np.random.default_rng(0).normal(0, 25 / 255, x.shape).astype(np.float32)
    return x[None, :, :, None]


def errors(module, name: str, h: int, w: int, overlaps: list[int], margin: int) -> None:
    planes = strip(h, w)
    options = InferenceOptions(tile=2048, ensemble=False)
    whole = Denoiser(module, name, options).denoise_planes(planes)
    for overlap in overlaps:
        t0 = time.perf_counter()
        tile = (overlap + margin) // 32 * 32
        d = Denoiser(module, name, options.with_(tile=tile), overlap=overlap)
        e = np.abs(d.denoise_planes(planes) - whole)
        print(
            f"| {name} | {overlap} | {(overlap - 64) // 2} | {tile} | {e.max():.1e} | "
            f"{e.mean():.1e} | {np.quantile(e, 0.9999):.1e} | {time.perf_counter() - t0:.0f} s |",
            flush=True,
        )


def radiograph(model: str, path: str) -> None:
    """Tiled (default and fixed tiles) vs untiled on a real radiograph, default overlap."""
    from pathlib import Path

    from medenoise.api import load_model
    from medenoise.data.io.series import read_unit

    image = read_unit([Path(path)], None, "auto")
    planes = image.array.reshape(-1, *image.array.shape[-3:])
    den = load_model(model, ensemble=False)
    default = den.tile_size()
    den.tile = 4096  # one pass over the whole plane
    whole = den.denoise_planes(planes)
    for tile in (None, 640):
        den.tile = tile
        t0 = time.perf_counter()
        e = np.abs(den.denoise_planes(planes) - whole)
        name = f"default ({default})" if tile is None else str(tile)
        print(
            f"| {Path(model).parent.name or model} | {den.overlap} | {name} | {e.max():.1e} | "
            f"{e.mean():.1e} | {np.quantile(e, 0.9999):.1e} | {time.perf_counter() - t0:.0f} s |",
            flush=True,
        )


def main(which: str) -> None:
    torch.set_num_threads(2)
    print("| model | overlap | context | tile | max | mean | p99.99 | time |")
    print("|---|---|---|---|---|---|---|---|")
    if which == "plain":
        for depth in (5, 4, 3):
            torch.manual_seed(0)
            cfg = ModelConfig(method="student", teacher="-", width=32, depth=depth)
            errors(build_method(cfg).eval(), f"random student w32 d{depth}", 256, 1100, PLAIN, 192)
    elif which == "blind":
        torch.manual_seed(0)
        module = build_method(ModelConfig(method="ssdn", width=8)).eval()
        errors(module, "random SSDN w8", 256, 1400, BLIND, 160)
    elif which == "ssdn":
        from medenoise.inference.resolve import model_path

        module = load_module(model_path("ssdn-gauss25-gray")).eval()
        errors(module, "zoo ssdn-gauss25-gray", 192, 900, BLIND[1:], 96)
    else:
        module = load_module(which).eval()
        overlaps = BLIND if module.blind_spot else PLAIN
        errors(module, which, 256, 1100, overlaps, 160 if module.blind_spot else 192)


if __name__ == "__main__":
    if sys.argv[1] == "radiograph":
        torch.set_num_threads(2)
        radiograph(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else RADIOGRAPH)
    else:
        main(sys.argv[1])
