"""Default tile overlaps keep tiled output within `TILE_TOLERANCE` of the untiled run, per
architecture; `exact` keeps today's wider ones; no overlap at all is visibly wrong."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medenoise.data import tiling
from medenoise.inference.denoiser import Denoiser
from medenoise.inference.options import InferenceOptions
from tiny_models import make_tiny_model


def noisy_strip(h: int, w: int) -> np.ndarray:
    """(1, h, w, 1) noisy photo strip on [0, 1]: real edges and texture, σ = 25/255."""
    from skimage import data

    img = np.concatenate([data.camera(), data.moon(), data.camera()[:, ::-1]], axis=1)
    rng = np.random.default_rng(0)
    x = img[:h, :w].astype(np.float32) / 255
    return (x + rng.normal(0, 25 / 255, x.shape).astype(np.float32))[None, :, :, None]


def tiled_error(module, planes, tile: int, overlap: int | None = None) -> tuple[float, int]:
    """Max |tiled − untiled| and the number of tiles the tiled run used."""
    whole = Denoiser(module, "m", InferenceOptions(tile=2048)).denoise_planes(planes)
    tiled = Denoiser(module, "m", InferenceOptions(tile=tile), overlap=overlap)
    calls = []
    net = tiled.runner.run
    tiled.runner.run = lambda x, p: calls.append(x.shape[0]) or net(x, p)
    out = tiled.denoise_planes(planes)
    return float(np.abs(out - whole).max()), sum(calls)


@pytest.mark.parametrize("depth", [5, 4, 3])
def test_student_default_overlap_is_within_tolerance_and_none_is_not(depth):
    torch.manual_seed(0)
    module = make_tiny_model("student", teacher="t", depth=depth)
    overlap = Denoiser(module, "m").overlap
    assert overlap == tiling.overlap_for(False, depth)
    planes = noisy_strip(96, 1200)
    err, tiles = tiled_error(module, planes, tile=overlap + 128)
    assert tiles >= 4 and err <= tiling.TILE_TOLERANCE
    err0, _ = tiled_error(module, planes, tile=overlap + 128, overlap=0)
    assert err0 > 10 * tiling.TILE_TOLERANCE  # the test can tell a wrong overlap


@pytest.mark.slow  # square blind-spot tiles of 704² and a 1120² untiled run: ~20 s on 2 cores
def test_blind_spot_default_overlap_is_within_tolerance_and_none_is_not():
    torch.manual_seed(0)
    module = make_tiny_model("ssdn")
    overlap = Denoiser(module, "m").overlap
    assert overlap == tiling.BLIND_SPOT_TOLERANT_OVERLAP < tiling.BLIND_SPOT_OVERLAP
    planes = noisy_strip(64, 1100)
    err, tiles = tiled_error(module, planes, tile=overlap + 128)
    assert tiles >= 4 and err <= tiling.TILE_TOLERANCE
    err0, _ = tiled_error(module, planes, tile=overlap + 128, overlap=0)
    assert err0 > 3 * tiling.TILE_TOLERANCE  # 7e-3: the ramps still blend the seams


def test_exact_keeps_the_receptive_field_overlaps():
    ssdn, plain = make_tiny_model("ssdn"), make_tiny_model("n2c")
    student = make_tiny_model("student", teacher="t", depth=4)
    assert Denoiser(ssdn, "m", exact=True).overlap == tiling.BLIND_SPOT_OVERLAP
    assert Denoiser(plain, "m", exact=True).overlap == tiling.PLAIN_OVERLAP
    assert Denoiser(plain, "m").overlap == tiling.PLAIN_OVERLAP  # 256 would miss 1e-3
    assert Denoiser(student, "m", exact=True).overlap == 192
    # an explicit overlap wins over both
    assert Denoiser(ssdn, "m", overlap=128, exact=True).overlap == 128
