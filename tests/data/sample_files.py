"""Sample files bundled with pydicom and nibabel (never downloaded), shared by the I/O tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage


def pydicom_file(name: str) -> Path:
    """A test file bundled with pydicom (never downloaded)."""
    import pydicom.data

    path = Path(pydicom.data.__file__).parent / "test_files" / name
    if not path.exists():
        pytest.skip(f"pydicom test file {name} not bundled")
    return path


def nibabel_file(name: str) -> Path:
    """A test file bundled with nibabel (never downloaded)."""
    from nibabel.testing import data_path

    path = Path(data_path) / name
    if not path.exists():
        pytest.skip(f"nibabel test file {name} not bundled")
    return path


def pixels(path: Path) -> np.ndarray:
    """The stored pixels of a PNG/JPEG as Pillow decodes them."""
    with PILImage.open(path) as im:
        return np.array(im)
