"""Image I/O for NIfTI: round trips keeping header and affine, scaling, slice axis."""

from __future__ import annotations

import numpy as np
import pytest
from sample_files import nibabel_file

from medenoise.data.io import read, write
from medenoise.errors import UserError

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("name", ["example4d.nii.gz", "anatomical.nii"])
def test_nifti_round_trip_keeps_shape_affine_dtype_values(tmp_path, name):
    import nibabel as nib

    src = nibabel_file(name)
    image = read(src)
    a = nib.load(src)
    x, y, z = a.shape[:3]
    extra = a.shape[3] if len(a.shape) == 4 else 1
    assert image.array.shape == (z * extra, x, y, 1)  # axial slices (last spatial axis), time outer
    lo, hi = image.meta.scaling.lo, image.meta.scaling.hi  # the data's own range (int16 sliver)
    np.testing.assert_array_equal(
        np.rint(image.array[1, ..., 0].astype(np.float64) * (hi - lo) + lo),
        np.asarray(a.dataobj)[:, :, 1, 0] if extra > 1 else np.asarray(a.dataobj)[:, :, 1],
    )
    out = tmp_path / ("out" + (".nii.gz" if name.endswith(".gz") else ".nii"))
    write(out, image)
    b = nib.load(out)
    assert b.shape == a.shape
    assert b.get_data_dtype() == a.get_data_dtype()
    np.testing.assert_array_equal(b.affine, a.affine)
    np.testing.assert_array_equal(np.asarray(b.dataobj), np.asarray(a.dataobj))


def test_nifti_scaling_axis_and_float(tmp_path):
    import nibabel as nib

    from medenoise.data.io.nifti import read_nifti

    raw = RNG.integers(-500, 3000, (6, 7, 5)).astype(np.int16)
    img = nib.Nifti1Image(raw, np.diag([0.5, 0.7, 2.0, 1.0]))
    img.header.set_slope_inter(0.5, 10)
    nib.save(img, tmp_path / "scaled.nii")

    image = read(tmp_path / "scaled.nii")
    lo, hi = raw.min() * 0.5 + 10, raw.max() * 0.5 + 10  # a sliver of int16: its own range
    assert (image.meta.scaling.lo, image.meta.scaling.hi) == (lo, hi)
    np.testing.assert_allclose(
        image.array[2, ..., 0], (raw[:, :, 2] * 0.5 + 10 - lo) / (hi - lo), atol=1e-7
    )
    write(tmp_path / "scaled_out.nii.gz", image)
    back = nib.load(tmp_path / "scaled_out.nii.gz")
    assert (back.dataobj.slope, back.dataobj.inter) == (0.5, 10)
    np.testing.assert_array_equal(back.dataobj.get_unscaled(), raw)

    sagittal = read_nifti(tmp_path / "scaled.nii", axis=0)
    assert sagittal.array.shape == (6, 7, 5, 1) and sagittal.meta.nifti.axis == 0
    write(tmp_path / "sag.nii", sagittal)
    np.testing.assert_array_equal(nib.load(tmp_path / "sag.nii").dataobj.get_unscaled(), raw)

    # Non-negative floats far above 1 are divided by the power of two above their max: exact.
    floats = np.abs(RNG.normal(size=(5, 4, 3)).astype(np.float32) * 300)
    nib.save(nib.Nifti1Image(floats, np.eye(4)), tmp_path / "f.nii.gz")
    image = read(tmp_path / "f.nii.gz")
    top = 2.0 ** np.ceil(np.log2(floats.max()))
    assert (image.meta.scaling.lo, image.meta.scaling.hi) == (0.0, top)
    np.testing.assert_array_equal(image.array[1, ..., 0], floats[:, :, 1] / top)
    write(tmp_path / "f_out.nii.gz", image)
    np.testing.assert_array_equal(
        nib.load(tmp_path / "f_out.nii.gz").get_fdata(dtype=np.float32), floats
    )


def test_nifti_5d_is_user_error(tmp_path):
    import nibabel as nib

    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2, 2, 2), np.int16), np.eye(4)), tmp_path / "5d.nii")
    with pytest.raises(UserError, match="5-D"):
        read(tmp_path / "5d.nii")
