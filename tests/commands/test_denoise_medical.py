"""`medenoise denoise` on medical data: --range sets the normalisation, NIfTI volumes are
denoised slice by slice along a chosen axis and written back with their header, --tile."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from medenoise import api
from medenoise.api import ArrayDenoiser
from medenoise.modelfile import save_model
from tiny_models import make_tiny_model

RNG = np.random.default_rng(7)


class Spy(ArrayDenoiser):
    """Identity denoiser that records the normalised planes it is given."""

    def __init__(self):
        self.config = SimpleNamespace(method="spy")
        self.source = "spy"
        self.planes: list[np.ndarray] = []

    def denoise_planes(self, planes, noise=None):
        self.planes.append(planes.copy())
        return planes


@pytest.fixture()
def spy(monkeypatch):
    spy = Spy()
    monkeypatch.setattr(api, "load_model", lambda *a, **k: spy)
    return spy


def one_error(result, needle):
    assert result.exit_code == 2, result.output
    errors = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert errors and needle in errors[0], result.output


# ---------------------------------------------------------------- --range


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_range_sets_the_normalisation_of_ct_values(cli, tmp_path, spy, dtype):
    import tifffile

    hu = RNG.integers(-1000, 2000, (20, 30)).astype(dtype)
    tifffile.imwrite(tmp_path / "ct.tif", hu)
    default = cli("denoise", tmp_path / "ct.tif", "-o", tmp_path / "a", "--model", "x")
    assert default.exit_code == 0, default.output
    ranged = cli(
        "denoise", tmp_path / "ct.tif", "-o", tmp_path / "b", "--model", "x", "--range=-1024,3071"
    )
    assert ranged.exit_code == 0, ranged.output
    # Without --range, values that fill a sliver of their type (int16) or lie far outside
    # [0, 1] (float) are normalised by their own range (min..max below 10,000 pixels).
    lo, hi = float(hu.min()), float(hu.max())
    working = (hu.astype(np.float64) - lo) / (hi - lo)
    np.testing.assert_allclose(spy.planes[0][0, ..., 0], working, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(spy.planes[1][0, ..., 0], (hu + 1024.0) / 4095, atol=1e-6)
    for out in ("a", "b"):  # identity in, same values and dtype out whatever the range
        back = tifffile.imread(tmp_path / out / "ct.tif")
        assert back.dtype == dtype
        np.testing.assert_allclose(back, hu, atol=1e-3)
    assert "note:" not in default.output and "note:" not in ranged.output


def test_range_errors_and_help(cli, tmp_path, spy):
    import tifffile

    tifffile.imwrite(tmp_path / "ct.tif", np.zeros((8, 8), np.int16))
    args = ["denoise", tmp_path / "ct.tif", "-o", tmp_path / "o", "--model", "x"]
    one_error(cli(*args, "--range", "3071"), "LO,HI")
    one_error(cli(*args, "--range=5,1"), "LO must be below HI")
    help_text = " ".join(cli("denoise", "--help").output.split())
    assert "--range" in help_text and "HU" in help_text and "normalisation" in help_text


# ---------------------------------------------------------------- NIfTI slice axis


def nifti_volume(tmp_path, slice_dim=None):
    import nibabel as nib

    raw = RNG.integers(-500, 3000, (12, 10, 6)).astype(np.int16)
    affine = np.array([[0.5, 0, 0.1, -30], [0, 0.7, 0, 20], [0, 0, 2.0, -5], [0, 0, 0, 1]])
    img = nib.Nifti1Image(raw, affine)
    img.header.set_slope_inter(0.5, 10)
    if slice_dim is not None:
        img.header.set_dim_info(slice=slice_dim)
    path = tmp_path / "vol.nii.gz"
    nib.save(img, path)
    return path, raw, nib.load(path).affine  # as stored (float32 sform)


@pytest.mark.parametrize(
    ("axis", "slice_dim", "planes_shape"),
    [
        ("0", None, (12, 10, 6, 1)),
        ("1", None, (10, 12, 6, 1)),
        ("2", 0, (6, 12, 10, 1)),  # an explicit axis wins over the header
        ("auto", None, (6, 12, 10, 1)),  # no slice_dim: the last spatial axis
        ("auto", 1, (10, 12, 6, 1)),  # the acquisition plane from the header
    ],
)
def test_nifti_axis_choice_round_trips_shape_affine_dtype(
    cli, tmp_path, spy, axis, slice_dim, planes_shape
):
    import nibabel as nib

    src, raw, affine = nifti_volume(tmp_path, slice_dim)
    result = cli("denoise", src, "-o", tmp_path / "out", "--model", "x", "--axis", axis)
    assert result.exit_code == 0, result.output
    assert spy.planes[0].shape == planes_shape
    out = nib.load(tmp_path / "out" / "vol.nii.gz")
    assert out.shape == raw.shape and out.get_data_dtype() == np.int16
    np.testing.assert_array_equal(out.affine, affine)
    assert out.header.get_dim_info()[2] == slice_dim
    assert (out.dataobj.slope, out.dataobj.inter) == (0.5, 10)
    np.testing.assert_array_equal(out.dataobj.get_unscaled(), raw)


def test_nifti_axis_with_a_real_model_and_bad_axis(cli, tmp_path):
    import nibabel as nib

    model = save_model(
        make_tiny_model("n2c"),
        tmp_path / "m.safetensors",
    )
    src, raw, affine = nifti_volume(tmp_path)
    base = ["denoise", src, "--model", model]
    one_error(cli(*base, "-o", tmp_path / "bad", "--axis", "3"), "--axis")
    outs = {}
    for axis in ("0", "2"):
        result = cli(*base, "-o", tmp_path / axis, "--axis", axis)
        assert result.exit_code == 0, result.output
        out = nib.load(tmp_path / axis / "vol.nii.gz")
        assert out.shape == raw.shape and out.get_data_dtype() == np.int16
        np.testing.assert_array_equal(out.affine, affine)
        outs[axis] = out.get_fdata()
    assert np.abs(outs["0"] - outs["2"]).max() > 1  # other planes through the 2-D net


# ---------------------------------------------------------------- --tile


def test_tile_option_gives_the_untiled_result(cli, tmp_path):
    from PIL import Image as PILImage

    model = save_model(
        make_tiny_model("n2c"),
        tmp_path / "m.safetensors",
    )
    img = RNG.integers(0, 65536, (100, 700), dtype=np.uint16)
    PILImage.fromarray(img).save(tmp_path / "x.png")
    base = ["denoise", tmp_path / "x.png", "--model", model]
    one_error(cli(*base, "-o", tmp_path / "bad", "--tile", "100"), "at least 352")
    for name, extra in (("whole", ()), ("tiled", ("--tile", "384"))):
        result = cli(*base, "-o", tmp_path / name, *extra)
        assert result.exit_code == 0, result.output
    whole = np.asarray(PILImage.open(tmp_path / "whole" / "x.png")).astype(np.int64)
    tiled = np.asarray(PILImage.open(tmp_path / "tiled" / "x.png")).astype(np.int64)
    assert tiled.shape == img.shape and np.abs(tiled - whole).max() <= 1  # rounding only
