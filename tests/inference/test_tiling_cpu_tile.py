"""The CPU tile `denoise` picks by itself: bounded in memory whatever the machine's free
memory, and on a plane several tiles wide and tall it keeps a plain U-Net student within
`TILE_TOLERANCE` of the untiled run at the default overlap (no overlap does not)."""

from __future__ import annotations

import numpy as np
import torch

from medenoise.data import tiling
from medenoise.inference.denoiser import Denoiser
from medenoise.inference.options import InferenceOptions
from tiny_models import make_tiny_model


def noisy_photo(h: int, w: int) -> np.ndarray:
    """(1, h, w, 1) noisy mosaic of scikit-image photos on [0, 1], σ = 25/255."""
    from skimage import data

    img = np.block([[data.camera(), data.moon()], [data.moon()[::-1], data.camera()[:, ::-1]]])
    x = img[:h, :w].astype(np.float32) / 255
    x += np.random.default_rng(1).normal(0, 25 / 255, x.shape).astype(np.float32)
    return x[None, :, :, None]


def test_cpu_tile_stays_within_its_memory_budget_whatever_is_free(monkeypatch):
    monkeypatch.setattr(tiling, "available_memory", lambda device=None: 512 * 2**30)
    student = Denoiser(make_tiny_model("student", teacher="t", depth=4, width=32), "s")
    bpp = tiling.activation_bytes(32, 1, blind=False)
    tile = student.tile_size()
    assert tile * tile * bpp <= tiling.CPU_TILE_BYTES < (tile + 32) ** 2 * bpp
    assert tile < tiling.CPU_TILE_CAP  # not the 2048 that half of 512 GiB would allow
    # a blind-spot net's wide overlap keeps tiles of at least twice the overlap
    ssdn = Denoiser(make_tiny_model("ssdn", width=48), "t")
    assert (
        ssdn.tile_size()
        == tiling.round_up(2 * ssdn.overlap)
        > tiling.cpu_tile_cap(tiling.activation_bytes(48), 0)
    )
    # little free memory still wins over the budget
    monkeypatch.setattr(tiling, "available_memory", lambda device=None: 2**28)
    assert student.tile_size() < tile


def _default_run(module, planes, overlap=None) -> tuple[np.ndarray, list]:
    """`denoise_planes` with the tile chosen by the tool; returns output and tile shapes."""
    den = Denoiser(module, "s", overlap=overlap)
    shapes: list = []
    run = den.runner.run
    den.runner.run = lambda x, p: shapes.append(tuple(x.shape)) or run(x, p)
    return den.denoise_planes(planes), shapes


def test_default_cpu_tiles_keep_a_student_within_tolerance_and_no_overlap_does_not(monkeypatch):
    torch.manual_seed(0)
    module = make_tiny_model("student", teacher="t", depth=4)
    planes = noisy_photo(700, 900)
    whole = Denoiser(module, "s", InferenceOptions(tile=2048)).denoise_planes(planes)
    # a budget of 384² pixels of this net's activations: the plane is 2-3 tiles each way
    bpp = tiling.activation_bytes(8, 1, blind=False)
    monkeypatch.setattr(tiling, "CPU_TILE_BYTES", 384 * 384 * bpp)
    out, shapes = _default_run(module, planes)
    side = shapes[0][-1]
    assert len(shapes) >= 6 and side <= 384 and all(s[-2:] == (side, side) for s in shapes)
    err = np.abs(out - whole)
    assert err.max() <= tiling.TILE_TOLERANCE
    out0, shapes0 = _default_run(module, planes, overlap=0)
    assert len(shapes0) >= 4
    assert np.abs(out0 - whole).max() > 10 * tiling.TILE_TOLERANCE  # the seams show
