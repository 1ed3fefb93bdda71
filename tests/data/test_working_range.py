"""The working range from the data: narrow-band 16-bit images denoised on their own range,
DICOM series read and written as one volume with one range, pairs read on one range."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from sample_files import pydicom_file

from medenoise.data.io import read
from medenoise.errors import UserError

RNG = np.random.default_rng(22)


def narrow_band(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy) int16, 96×96: a real photo squeezed into -30..245 (a nuclear-medicine-like
    sliver of int16, 0.4 % of it), with Poisson noise of ~30 counts at the top."""
    from skimage.data import camera

    clean = camera()[200:296, 200:296].astype(np.float64) / 255 * 275 - 30
    rng = np.random.default_rng(seed)
    noisy = rng.poisson(np.clip(clean + 30, 0, None) / 275 * 30) / 30 * 275 - 30
    return np.rint(clean).astype(np.int16), np.rint(noisy).astype(np.int16)


def psnr(x: np.ndarray, ref: np.ndarray, span: float) -> float:
    return float(10 * np.log10(span**2 / np.mean((x.astype(np.float64) - ref) ** 2)))


def test_narrow_band_int16_is_denoised_on_its_own_range(cli, tmp_path):
    clean, noisy = narrow_band()
    (tmp_path / "in").mkdir()
    tifffile.imwrite(tmp_path / "in" / "nm.tif", noisy)
    scaling = read(tmp_path / "in" / "nm.tif").meta.scaling
    lo, hi = float(noisy.min()), float(noisy.max())
    assert (scaling.lo, scaling.hi) == (lo, hi)
    assert scaling.range_source.startswith("data range of this file")
    model = ["--model", "ssdn-gauss5-50-gray", "--no-ensemble"]
    derived = cli("denoise", tmp_path / "in", "-o", tmp_path / "a", *model)
    assert derived.exit_code == 0, derived.output
    given = cli("denoise", tmp_path / "in", "-o", tmp_path / "b", *model, f"--range={lo:g},{hi:g}")
    assert given.exit_code == 0, given.output
    out = tifffile.imread(tmp_path / "a" / "nm.tif")
    span = hi - lo
    assert out.dtype == np.int16
    assert out.min() >= lo - 0.02 * span and out.max() <= hi + 0.02 * span
    assert psnr(out, clean, span) > psnr(noisy, clean, span) + 2
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "b" / "nm.tif"), out)
    description = tifffile.TiffFile(tmp_path / "a" / "nm.tif").pages[0].description
    assert "data range of this file" in description and f"{lo:g}..{hi:g}" in description


def write_series(folder, values, positions=None, changes=None):
    """Single-frame CT slices of one series, file names shuffled against the slice order."""
    import pydicom

    folder.mkdir(parents=True, exist_ok=True)
    names = [f"IM{n:04d}.dcm" for n in RNG.permutation(len(values))]
    for k, (name, plane) in enumerate(zip(names, values, strict=True)):
        ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
        ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.1"
        ds.SOPInstanceUID = f"1.2.826.0.1.3680043.8.498.1.{k + 1}"
        ds.InstanceNumber = len(values) - k  # disagrees with the positions: positions win
        z = positions[k] if positions is not None else -100.0 + 2.5 * k
        ds.ImagePositionPatient = [-80.0, -80.0, z]
        ds.Rows, ds.Columns = plane.shape
        ds.PixelData = plane.astype("<i2").tobytes()
        for key, value in (changes or {}).get(k, {}).items():
            setattr(ds, key, value)
        ds.save_as(folder / name)
    return names


def test_dicom_series_round_trips_through_denoise_as_one_derived_series(cli, tmp_path):
    import pydicom

    from medenoise.data.io.series import group_inputs, read_series

    planes = [RNG.integers(1000 + 40 * k, 1100 + 40 * k, (16, 20)) for k in range(4)]
    names = write_series(tmp_path / "ct", planes)
    (units,) = group_inputs(sorted((tmp_path / "ct").iterdir()))
    assert [p.name for p in units] == names  # slice order: by position, not name or number
    volume = read_series(units)
    assert volume.array.shape == (4, 16, 20, 1)
    lo = min(p.min() for p in planes) - 1024
    hi = max(p.max() for p in planes) - 1024  # one range for the series, not per slice
    assert all((m.scaling.lo, m.scaling.hi) == (lo, hi) for m in volume.meta.series.slices)
    assert volume.meta.scaling.range_source.startswith("data range of this series")

    result = cli("denoise", tmp_path / "ct", "-o", tmp_path / "out", "--model", "identity")
    assert result.exit_code == 0, result.output
    assert len([ln for ln in result.output.splitlines() if " -> " in ln]) == 4
    series_uids = set()
    for k, name in enumerate(names):
        src = pydicom.dcmread(tmp_path / "ct" / name)
        out = pydicom.dcmread(tmp_path / "out" / name)
        np.testing.assert_array_equal(out.pixel_array, planes[k])  # identity: same slice back
        assert out.ImagePositionPatient == src.ImagePositionPatient
        assert out.ImageOrientationPatient == src.ImageOrientationPatient
        assert (out.Rows, out.Columns, out.PixelSpacing) == (
            src.Rows,
            src.Columns,
            src.PixelSpacing,
        )
        assert (out.PatientName, out.PatientID, out.StudyInstanceUID) == (
            src.PatientName, src.PatientID, src.StudyInstanceUID,
        )  # fmt: skip
        assert out.SOPInstanceUID != src.SOPInstanceUID
        assert f"{lo:g}..{hi:g}" in out.ImageComments and "this series" in out.ImageComments
        series_uids.add(out.SeriesInstanceUID)
    assert len(series_uids) == 1 and src.SeriesInstanceUID not in series_uids


def test_mixed_geometry_series_is_refused_in_one_line(cli, tmp_path):
    planes = [RNG.integers(0, 100, (16, 16)) for _ in range(3)]
    write_series(tmp_path / "mixed", planes, changes={1: {"PixelSpacing": [0.5, 0.5]}})
    result = cli("denoise", tmp_path / "mixed", "-o", tmp_path / "out", "--model", "identity")
    assert result.exit_code == 2
    errors = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and str(tmp_path / "mixed") in errors[0]
    assert "pixel spacing" in errors[0] and not (tmp_path / "out").exists()


def test_series_ordering_falls_back_and_shards_as_one_unit(tmp_path):
    from medenoise.data.io.series import group_inputs
    from medenoise.planning import plan_jobs

    planes = [RNG.integers(0, 100, (8, 8)) for _ in range(3)]
    names = write_series(tmp_path / "in" / "s", planes, positions=[0.0, 0.0, 0.0])
    tifffile.imwrite(tmp_path / "in" / "a.tif", np.zeros((8, 8), np.uint16))
    files = sorted((tmp_path / "in" / "s").iterdir())
    # Equal positions: InstanceNumber decides (written as 3, 2, 1 for slices 0, 1, 2).
    assert [p.name for p in group_inputs(files)[0]] == names[::-1]
    jobs = plan_jobs([tmp_path / "in"], tmp_path / "out")
    assert [len(job.parts) for job in jobs] == [1, 3]
    (shard,) = plan_jobs([tmp_path / "in"], tmp_path / "out", shard=(1, 2))
    assert [part.dst.name for part in shard.parts] == names[::-1]
    single = group_inputs([pydicom_file("CT_small.dcm"), tmp_path / "in" / "a.tif"])
    assert [len(u) for u in single] == [1, 1]


def test_noisy_clean_pair_scores_on_the_clean_range(tmp_path):
    from medenoise.eval.metrics import psnr as score
    from medenoise.eval.samples import paired_samples

    clean, noisy = narrow_band(1)
    for folder, array in (("clean", clean), ("noisy", noisy)):
        (tmp_path / folder).mkdir()
        tifffile.imwrite(tmp_path / folder / "nm.tif", array)
    (sample,) = paired_samples([tmp_path / "noisy"], [tmp_path / "clean"], 1)
    lo, hi = float(clean.min()), float(clean.max())  # the clean file's range for both
    by_hand = psnr((noisy - lo) / (hi - lo), (clean - lo) / (hi - lo), 1.0)
    assert read(tmp_path / "noisy" / "nm.tif").meta.scaling.lo != lo  # alone: its own range
    assert abs(score(sample.noisy, sample.clean) - by_hand) < 1e-3


def test_training_pairs_share_the_reference_range(tmp_path):
    from medenoise.data.pairs import load_groups

    clean, noisy = narrow_band(2)
    tifffile.imwrite(tmp_path / "noisy.tif", noisy)
    tifffile.imwrite(tmp_path / "clean.tif", clean)
    ((a, b),) = load_groups([[tmp_path / "noisy.tif", tmp_path / "clean.tif"]], 1)
    lo, hi = float(clean.min()), float(clean.max())
    np.testing.assert_allclose(a[..., 0], (noisy - lo) / (hi - lo), atol=1e-6)
    np.testing.assert_allclose(b[..., 0], (clean - lo) / (hi - lo), atol=1e-6)


def test_float_volume_far_from_unit_range_round_trips_exactly(tmp_path):
    import nibabel as nib

    from medenoise.data.io import write

    vol = RNG.random((6, 5, 4)).astype(np.float32) * 133
    nib.save(nib.Nifti1Image(vol, np.eye(4)), tmp_path / "v.nii.gz")
    image = read(tmp_path / "v.nii.gz")
    assert (image.meta.scaling.lo, image.meta.scaling.hi) == (0.0, 256.0)
    assert image.array.max() > 0.5
    write(tmp_path / "o.nii.gz", image)
    back = nib.load(tmp_path / "o.nii.gz")
    np.testing.assert_array_equal(back.get_fdata(dtype=np.float32), vol)
    assert b"range 0..256 (data range of this file)" in back.header["descrip"].tobytes()


def test_series_of_different_slice_shapes_is_refused(tmp_path):
    from medenoise.data.io.series import read_series

    write_series(tmp_path / "s", [RNG.integers(0, 9, (8, 8)), RNG.integers(0, 9, (8, 6))])
    with pytest.raises(UserError, match="one geometry"):
        read_series(sorted((tmp_path / "s").iterdir()))


def test_hot_pixels_neither_squeeze_the_range_nor_wrap_around():
    from medenoise.data.io import from_array, to_array

    clean = np.tile(narrow_band()[0], (2, 2))  # 36864 pixels: 0.01 % is over 3 of them
    hot = clean.copy()
    hot[5, 7] = 30000  # one hot pixel: min..max would squeeze the image into 1 % of [0, 1]
    image = from_array(hot)
    assert (image.meta.scaling.lo, image.meta.scaling.hi) == (clean.min(), clean.max())
    assert image.array[5, 7, 0] > 100  # beyond the range, kept (not clipped)
    np.testing.assert_array_equal(to_array(image), hot)
    image.array[5, 7, 0] = 1e6  # a wild output: clipped to the int16 limit, never wrapped
    assert to_array(image)[5, 7] == 32767


def test_slices_without_series_uid_group_by_folder_and_geometry(tmp_path):
    import pydicom

    from medenoise.data.io.series import group_inputs

    names = write_series(tmp_path / "s", [RNG.integers(0, 9, (8, 8)) for _ in range(3)])
    for name in names:
        ds = pydicom.dcmread(tmp_path / "s" / name)
        del ds.SeriesInstanceUID  # anonymised exports drop it
        ds.save_as(tmp_path / "s" / name)
    assert [[p.name for p in u] for u in group_inputs(sorted((tmp_path / "s").iterdir()))] == [
        names
    ]


def test_copies_of_one_instance_are_not_a_series(tmp_path):
    from medenoise.data.io.series import group_inputs

    for name in ("a.dcm", "b.dcm"):  # one SOP Instance UID twice: copies, not slices
        (tmp_path / name).write_bytes(pydicom_file("CT_small.dcm").read_bytes())
    assert group_inputs([tmp_path / "a.dcm", tmp_path / "b.dcm"]) == [
        [tmp_path / "a.dcm"],
        [tmp_path / "b.dcm"],
    ]


def test_training_and_adaptation_read_a_series_on_its_one_range(tmp_path):
    # What a model trains or adapts on must be scaled as `denoise` will scale it: the slices of
    # a series on the series' range, not each slice on its own.
    from medenoise.data.io.series import group_inputs, read_unit
    from medenoise.data.patches import load_planes

    planes = [RNG.integers(1000 + 200 * k, 1100 + 200 * k, (16, 20)) for k in range(3)]
    write_series(tmp_path / "ct", planes)
    files = sorted((tmp_path / "ct").iterdir())
    loaded = load_planes(files, 1)
    (unit,) = group_inputs(files)
    volume = read_unit(unit).array
    assert len(loaded) == 3
    for plane, expected in zip(loaded, volume, strict=True):
        np.testing.assert_array_equal(plane, expected)
    alone = read(unit[0]).array  # one slice alone gets its own, narrower range
    assert not np.allclose(alone[..., 0], volume[0, ..., 0])
