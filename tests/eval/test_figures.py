"""Tests for medenoise.eval.figures: every figure is a real, non-blank PNG; crop choice, bar
layout and metrics.csv parsing are checked on hand-made inputs."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medenoise.eval.figures import (
    _bar_layout,
    _read_series,
    bar_chart,
    choose_crop,
    crop_grid,
    training_curves,
)


def read_png(path: Path) -> np.ndarray:
    """Open ``path`` as a PNG and check it is a sensible, non-blank picture; return RGB pixels."""
    assert path.is_file()
    with Image.open(path) as im:
        assert im.format == "PNG"
        rgb = np.asarray(im.convert("RGB"))
    assert 100 <= rgb.shape[0] <= 6000 and 100 <= rgb.shape[1] <= 6000, rgb.shape
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 2, "image is one flat colour"
    return rgb


def textured(shape=(160, 200), at=(90, 120), side=32, rgb=False, seed=0) -> np.ndarray:
    """Flat 0.5 image with a random-texture square of ``side`` at ``at`` = (y, x)."""
    rng = np.random.default_rng(seed)
    img = np.full(shape + ((3,) if rgb else ()), 0.5)
    y, x = at
    img[y : y + side, x : x + side] = rng.random((side, side) + ((3,) if rgb else ()))
    return img


def overlap(box, y, x, side) -> float:
    """Fraction of the side x side square at (y, x) covered by box (y, x, h, w)."""
    by, bx, bh, bw = box
    dy = max(0, min(by + bh, y + side) - max(by, y))
    dx = max(0, min(bx + bw, x + side) - max(bx, x))
    return dy * dx / side**2


@pytest.mark.parametrize("rgb", [False, True])
@pytest.mark.parametrize("at", [(90, 120), (0, 0), (128, 168)])
def test_choose_crop_finds_texture(rgb, at):
    box = choose_crop(textured(at=at, rgb=rgb), 32)
    assert box[2:] == (32, 32)
    assert overlap(box, *at, 32) >= 0.9, box


def test_choose_crop_clamps_and_handles_flat_images():
    assert choose_crop(np.zeros((50, 40)), 128) == (0, 0, 50, 40)
    assert choose_crop(np.full((100, 60), 0.3), 20) == (40, 20, 20, 20)  # flat -> centre
    assert choose_crop(np.zeros((30, 30, 1)), 8)[2:] == (8, 8)


def panels(rgb=False):
    clean = textured(rgb=rgb)
    rng = np.random.default_rng(1)
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1)
    return [
        {"label": "noisy", "image": noisy, "psnr": 20.1, "ssim": 0.41},
        {"label": "ssdn <mean>", "image": 0.5 * (noisy + clean), "psnr": 26.3},
        {"label": "clean", "image": clean},
    ]


@pytest.mark.parametrize("rgb", [False, True])
def test_crop_grid_writes_png(tmp_path, rgb):
    out = crop_grid(panels(rgb), tmp_path / "sub" / "crops.png", crop=48, title="zoom")
    assert out == tmp_path / "sub" / "crops.png"
    read_png(out)


def test_crop_grid_explicit_box_without_overview(tmp_path):
    out = crop_grid(panels(), tmp_path / "c.png", box=(10, 20, 30, 30), overview=False)
    rgb = read_png(out)
    assert rgb.shape[0] < rgb.shape[1]  # one row of three crops: wider than tall


def test_crop_grid_does_not_autoscale_gray(tmp_path):
    """A low-contrast gray panel must stay mid-gray: vmin=0, vmax=1, no per-panel stretch."""
    rng = np.random.default_rng(2)
    img = 0.45 + 0.1 * rng.random((64, 64))
    out = crop_grid([{"label": "x", "image": img}], tmp_path / "g.png", crop=64)
    gray = read_png(out).mean(axis=2)
    h, w = gray.shape
    centre = gray[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]  # inside the single panel
    # 0.45..0.55 on a fixed 0..1 scale is 115..140; autoscaled it would span 0..255
    assert centre.min() >= 105 and centre.max() <= 150, (centre.min(), centre.max())


def test_crop_grid_rejects_mismatched_panels(tmp_path):
    bad = [{"label": "a", "image": np.zeros((10, 10))}, {"label": "b", "image": np.zeros((12, 10))}]
    with pytest.raises(ValueError, match="'a'"):
        crop_grid(bad, tmp_path / "x.png")
    with pytest.raises(ValueError):
        crop_grid([], tmp_path / "x.png")


ROWS = [
    {"level": "fmd1", "variant": "gauss known", "psnr_var": 0.12},
    {"level": "fmd1", "variant": "poisson known", "psnr_var": -0.05},
    {"level": "fmd1", "variant": "n2c", "psnr_var": 0.02},
    {"level": "fmd4", "variant": "gauss known", "psnr_var": 0.04},
    # (fmd4, poisson known) missing
    {"level": "fmd4", "variant": "n2c", "psnr_var": -0.10},
    {"level": "raw", "variant": "poisson known", "psnr_var": 0.3},
    {"level": "raw", "variant": "poisson known", "psnr_var": 0.1},  # repeat: averaged
    {"level": "raw", "variant": "n2c", "psnr_var": None},  # missing value: gap
]


def test_bar_layout_order_gaps_and_negatives():
    groups, names, h = _bar_layout(ROWS, "psnr_var", "level", "variant")
    assert groups == ["fmd1", "fmd4", "raw"]
    assert names == ["gauss known", "poisson known", "n2c"]
    expected = [[0.12, 0.04, np.nan], [-0.05, np.nan, 0.2], [0.02, -0.10, np.nan]]
    np.testing.assert_allclose(h, expected)


def test_bar_chart_writes_png(tmp_path):
    out = bar_chart(ROWS, tmp_path / "bars.png", title="PSNR_var", ylabel="relative gain")
    read_png(out)
    read_png(bar_chart([], tmp_path / "empty.png"))


def write_csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


VAL_CSV = """epoch,lr,step,train/loss,val/psnr
0,0.001,9,0.9,
0,,9,,21.5
1,0.001,19,0.7,
1,,19,,24.0
2,0.001,29,0.6,
2,,29,,25.5
"""
LOSS_CSV = "epoch,lr,step,train/loss\n" + "".join(
    f"0,0.001,{s},{1.0 / (1 + s)}\n" for s in range(0, 50, 5)
)


def test_read_series_skips_empty_cells(tmp_path):
    csv = write_csv(tmp_path / "a.csv", VAL_CSV)
    steps, values = _read_series(csv, "val/psnr")
    assert steps.tolist() == [9, 19, 29] and values.tolist() == [21.5, 24.0, 25.5]
    assert _read_series(csv, "nope")[0].size == 0
    assert _read_series(tmp_path / "missing.csv", "val/psnr")[0].size == 0


def ink(rgb: np.ndarray) -> int:
    """Number of non-white pixels: how much was drawn."""
    return int(np.count_nonzero(rgb.min(axis=2) < 200))


def test_training_curves(tmp_path):
    run_a = write_csv(tmp_path / "run_a" / "metrics.csv", VAL_CSV).parent  # a run folder
    run_b = write_csv(tmp_path / "b.csv", LOSS_CSV)  # a csv file
    both = read_png(training_curves({"a": run_a, "b": run_b}, tmp_path / "val.png"))
    loss = read_png(training_curves({"b": run_b, "gone": tmp_path / "x"}, tmp_path / "loss.png"))
    none = read_png(training_curves({}, tmp_path / "none.png"))
    empty = read_png(training_curves({"gone": tmp_path / "x.csv"}, tmp_path / "empty.png"))
    assert ink(none) == pytest.approx(ink(empty), rel=0.05)  # both the same placeholder
    assert ink(both) > 3 * ink(none) and ink(loss) > 3 * ink(none)
