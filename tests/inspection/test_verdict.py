"""The decision table: each kind of noise gets its verdict, model and blind-spot safety."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import convolve2d

from medenoise.inspection.estimate import measure
from medenoise.inspection.profile import NoiseProfile
from medenoise.inspection.verdict import decide


def profile(**changes) -> NoiseProfile:
    """A white-noise profile at σ 20/255 with the given fields changed."""
    fields = dict(
        source="x.png", shape=(64, 64, 1), value_range=(0.0, 255.0), range_source="uint8 range",
        sigma=20 / 255, pg_a=0.0, pg_b=(20 / 255) ** 2, pg_fit_r2=0.0, corr_x=(0.0, 0.0, 0.0),
        corr_y=(0.0, 0.0, 0.0), clipped_low=0.0, clipped_high=0.0, bins=((0.5, 0.006),),
        extra={"precision": 1 / 255, "flat_blocks": 10, "blocks": 16,
               "intensity_span": (0.1, 0.9), "noise_std": 0.08},
    )  # fmt: skip
    fields.update(changes)
    return NoiseProfile(**fields)


def test_white_noise_measured_and_judged_white():
    noisy = 0.5 + np.random.default_rng(0).normal(0.0, 20 / 255, (256, 256))
    p = measure(noisy[..., None])
    v = decide(p)
    assert v.kind == "white" and v.model == "ssdn-gauss5-50-gray" and v.blind_spot_safe


def test_correlated_noise_is_not_blind_spot_safe():
    rng = np.random.default_rng(1)
    noise = convolve2d(rng.normal(size=(260, 260)), np.ones((3, 3)) / 3, mode="valid")
    p = measure((0.5 + 0.05 * noise[:256, :256])[..., None])
    v = decide(p)
    assert v.kind == "correlated"
    assert v.blind_spot_safe is False
    # BM3D given the spectrum it measures (no --noise: a white level would drop the shape)
    assert v.model == "bm3d-psd" and v.options == () and "blind-spot" in v.message
    assert f"({p.lag1_correlation:.1f})" in v.message


def test_white_outside_the_trained_range_gets_bm3d_at_the_level():
    v = decide(profile(sigma=80 / 255))
    assert v.kind == "white" and v.model == "bm3d" and v.options == ("--noise", "gaussian:80")
    colour = decide(profile(), channels=3)
    assert colour.model == "bm3d"


@pytest.mark.parametrize(
    "a, b, lag1_x, model",
    [
        (0.0158, -0.0002, 0.11, "ssdn-pg-fmd"),  # FMD's level and its scan-line grain
        (0.0158, -0.0001, 0.04, "vst-bm3d"),  # the level alone (a W2S widefield plane)
        (1 / 30, 0.0, 0.0, "vst-bm3d"),  # the photo Poisson prior is not advised by level
        (0.1, -0.005, 0.11, "vst-bm3d"),
    ],
)
def test_signal_dependent_models(a, b, lag1_x, model):
    v = decide(profile(pg_a=a, pg_b=b, pg_fit_r2=0.98, corr_x=(lag1_x, 0.0, 0.0)))
    assert v.kind == "signal-dependent" and v.model == model
    if model == "vst-bm3d":
        assert v.options[0] == "--noise" and v.options[1].startswith(f"pg:a={a:.4g},b=")


def test_the_advised_level_parses_when_b_is_tiny():
    from medenoise.noise.spec import parse_noise_spec

    # a W2S plane measured b = -9.52e-05; the advised command failed on its spec before
    v = decide(profile(pg_a=0.0159, pg_b=-9.52e-05, pg_fit_r2=0.98))
    assert v.model == "vst-bm3d" and v.options[0] == "--noise"
    ranges = parse_noise_spec(v.options[1]).ranges
    assert ranges["b"] == (-9.52e-05, -9.52e-05) and ranges["a"] == (0.0159, 0.0159)


def test_poor_fit_or_flat_variance_is_not_signal_dependent():
    assert decide(profile(pg_a=0.01, pg_b=0.001, pg_fit_r2=0.3)).kind == "white"
    assert decide(profile(pg_a=0.0005, pg_b=0.005, pg_fit_r2=0.95)).kind == "white"


def test_clipping_no_noise_and_unknown():
    v = decide(profile(clipped_low=0.3))
    assert v.kind == "clipped" and "30%" in v.message
    note = decide(profile(clipped_high=0.05))
    assert note.kind == "white" and "5% of the values are cut off" in note.message
    quiet = decide(profile(sigma=0.5 / 255))
    assert quiet.kind == "no-noise" and quiet.model is None
    flat = decide(profile(sigma=0.0, extra={"blocks": 0, "flat_blocks": 0}))
    assert flat.kind == "no-noise" and flat.model is None
    small = decide(profile(sigma=0.0, extra={"blocks": 3, "flat_blocks": 0}))
    assert small.kind == "unknown" and small.model is None


def test_correlation_threshold_and_smoothed_images():
    from medenoise.inspection.verdict import CORR_LAG1

    assert decide(profile(corr_y=(CORR_LAG1 + 0.01, 0.0, 0.0))).kind == "correlated"
    assert decide(profile(corr_x=(CORR_LAG1 - 0.01, 0.0, 0.0))).kind == "white"
    smoothed = decide(profile(sigma=0.5 / 255, corr_x=(0.7, 0.4, 0.2)))
    assert smoothed.kind == "no-noise" and "already smoothed or resampled" in smoothed.message


def test_zero_counts_of_photon_data_are_not_clipping():
    # Low-count Poisson data (nuclear medicine): half the pixels hold zero counts. The pile-up
    # at the darkest value is what photon noise does there, not a clipped signal.
    rng = np.random.default_rng(3)
    counts = np.zeros((256, 256))
    counts[:, 128:] = np.linspace(5.0, 40.0, 256)[:, None]  # a dark half and a bright ramp
    noisy = rng.poisson(counts) / 60.0
    p = measure(noisy[..., None])
    assert p.clipped_low > 0.3
    v = decide(p)
    assert v.kind == "signal-dependent" and "zero counts" in v.message, v.message
    # the same pile-up with noise that does not vanish at zero is clipping
    clipped = decide(profile(clipped_low=0.4, pg_a=0.02, pg_b=0.004, pg_fit_r2=0.98))
    assert clipped.kind == "clipped"


def test_white_noise_in_a_scan_gets_the_medical_model():
    v = decide(profile(source="slice.dcm"), medical=True)
    assert v.kind == "white" and v.model == "ssdn-med-gray" and "DICOM or NIfTI" in v.message
    # its trained range bounds it as the photo model's does; colour still goes to BM3D
    assert decide(profile(sigma=80 / 255), medical=True).model == "bm3d"
    assert decide(profile(), channels=3, medical=True).model == "bm3d"
    # other verdicts do not depend on where the image came from
    correlated = profile(corr_x=(0.6, 0.3, 0.1), corr_y=(0.5, 0.2, 0.1))
    assert decide(correlated, medical=True) == decide(correlated)
