"""Round trips on the shared real scans (skipped when /work/shared/data is not there)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from medenoise.data.io import read, write

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
REAL = [
    "chest_xray/RG1_UNCR.dcm",
    "dicom_misc/693_UNCR.dcm",
    "dicom_misc/MR2_UNCR.dcm",
    "dicom_misc/CT_small.dcm",
    "dicom_misc/MR_small.dcm",
    "brain_mri/S0_10slices.nii.gz",
    "brain_mri/ch2.nii.gz",
    "brain_mri/example4d.nii.gz",
    "brain_mri/test_piesno.nii.gz",
]


def stored_values(path: Path) -> np.ndarray:
    if path.name.endswith(".dcm"):
        import pydicom

        return pydicom.dcmread(path).pixel_array
    import nibabel as nib

    return np.asarray(nib.load(path).dataobj.get_unscaled())


@pytest.mark.parametrize("rel", REAL)
def test_real_scan_round_trip_is_exact(tmp_path, rel):
    src = DATA / rel
    if not src.exists():
        pytest.skip(f"{src} not available")
    start = time.perf_counter()
    image = read(src)
    out = tmp_path / src.name
    write(out, image)
    seconds = time.perf_counter() - start
    a, b = stored_values(src), stored_values(out)
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(b, a)
    assert seconds < 30, f"read + write took {seconds:.1f} s"
