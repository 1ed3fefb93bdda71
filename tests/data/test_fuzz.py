"""Property-based fuzzing: the readers and the noise-spec parser either work or raise UserError.

Random bytes, and valid-ish files (a real PNG/TIFF/DICOM/NIfTI head followed by a random
tail, or a real file with random bytes flipped) must never raise anything but UserError and
never hang (hypothesis `deadline` bounds each input). Examples are kept modest so the file
runs in well under 30 s.
"""

from __future__ import annotations

import io
import string
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bad_inputs import dicom_bytes, nifti_bytes, png_bytes, tiff_bytes
from medenoise.data.io import read
from medenoise.errors import UserError
from medenoise.noise import make_noise_model, parse_noise_spec

FUZZ = settings(
    max_examples=120,
    deadline=2000,  # ms per input: a reader stuck on a bogus header fails the test
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples every run: a failure here is reproducible
)
RNG = np.random.default_rng(0)
IMAGE = RNG.integers(0, 4096, (24, 20), dtype=np.uint16)


def _samples() -> dict[str, bytes]:
    """A small valid file per format, to cut and corrupt."""
    from PIL import Image as PILImage

    jpeg = io.BytesIO()
    PILImage.fromarray((IMAGE >> 4).astype(np.uint8)).save(jpeg, format="JPEG")
    return {
        ".png": png_bytes((IMAGE >> 4).astype(np.uint8)),
        ".jpg": jpeg.getvalue(),
        ".tif": tiff_bytes(IMAGE, photometric="minisblack"),
        ".dcm": dicom_bytes(IMAGE),
        ".nii": nifti_bytes(IMAGE.astype(np.int16)[..., None], gz=False),
        ".nii.gz": nifti_bytes(IMAGE.astype(np.int16)[..., None]),
    }


SAMPLES = _samples()
SUFFIXES = sorted(SAMPLES)


def read_or_user_error(folder: Path, suffix: str, data: bytes, capfd, caplog) -> None:
    """Read `data` as a file: an Image of finite float32, or one UserError line; the format
    libraries print nothing (their chatter would break the one-line error contract)."""
    path = folder / f"fuzz{suffix}"
    path.write_bytes(data)
    capfd.readouterr()
    caplog.clear()
    try:
        image = read(path)
    except UserError as exc:
        assert "\n" not in str(exc)
    else:
        assert image.array.dtype == np.float32 and np.isfinite(image.array).all()
    assert capfd.readouterr() == ("", "")
    assert [r.getMessage() for r in caplog.records] == []  # e.g. nibabel's header complaints


@FUZZ
@given(suffix=st.sampled_from(SUFFIXES), data=st.binary(min_size=1, max_size=600))
def test_random_bytes_are_read_or_refused(tmp_path, capfd, caplog, suffix, data):
    read_or_user_error(tmp_path, suffix, data, capfd, caplog)


@FUZZ
@given(
    suffix=st.sampled_from(SUFFIXES),
    cut=st.floats(0.0, 1.0),
    tail=st.binary(max_size=300),
)
def test_valid_heads_with_random_tails_are_read_or_refused(
    tmp_path, capfd, caplog, suffix, cut, tail
):
    head = SAMPLES[suffix]
    read_or_user_error(tmp_path, suffix, head[: int(len(head) * cut)] + tail, capfd, caplog)


@FUZZ
@given(
    suffix=st.sampled_from(SUFFIXES),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_valid_files_with_flipped_bytes_are_read_or_refused(tmp_path, capfd, caplog, suffix, flips):
    data = bytearray(SAMPLES[suffix])
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    read_or_user_error(tmp_path, suffix, bytes(data), capfd, caplog)


SPEC_ALPHABET = string.ascii_lowercase[:8] + "gaussinpormpulc" + "0123456789.-+=,:eE _"
SPEC_PARTS = st.sampled_from(
    [
        "gaussian",
        "poisson",
        "pg",
        "rician",
        "impulse",
        ":",
        ",",
        "=",
        "-",
        "a",
        "b",
        "sigma",
        "lam",
        "alpha",
        "0",
        "1",
        "25",
        "5-50",
        "-0.0002",
        "1e308",
        "1e-320",
        "nan",
        "inf",
        "0.5",
        " ",
        "",
        "--",
        "e",
        "x",
    ]
)


def use_spec(text: str) -> None:
    """Parse, build and (for specs with a level) synthesise a little noise."""
    try:
        spec = parse_noise_spec(text)
        model = make_noise_model(text)
    except UserError as exc:
        assert "\n" not in str(exc)
        return
    assert str(parse_noise_spec(str(spec))) == str(spec)  # the canonical form round-trips
    if spec.has_level:
        x = torch.rand(1, 1, 4, 4)
        try:
            y, _ = model.sample(x, torch.Generator().manual_seed(0))
        except UserError:
            return
        assert y.shape == x.shape


@settings(max_examples=200, deadline=500, derandomize=True)
@given(text=st.text(alphabet=SPEC_ALPHABET, max_size=30))
def test_random_noise_specs_work_or_raise_user_error(text):
    use_spec(text)


@settings(max_examples=200, deadline=500, derandomize=True)
@given(parts=st.lists(SPEC_PARTS, max_size=7))
def test_spec_shaped_strings_work_or_raise_user_error(parts):
    use_spec("".join(parts))


@settings(max_examples=100, deadline=500, derandomize=True)
@given(text=st.text(max_size=40))
def test_any_unicode_noise_spec_works_or_raises_user_error(text):
    use_spec(text)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_the_fuzz_seeds_themselves_read(tmp_path, suffix):
    """The valid files the fuzzers corrupt do read (so the fuzzers start from real formats)."""
    path = tmp_path / f"ok{suffix}"
    path.write_bytes(SAMPLES[suffix])
    assert read(path).array.shape[-3:-1] == IMAGE.shape
