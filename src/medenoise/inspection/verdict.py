"""From measurements to advice: one decision table, in plain words, with the model to run.

Thresholds are named constants; the comments say which measurements (docs/inspect.md) set
them. Order matters: no noise, then correlation (blind-spot models would erase detail), then
heavy clipping, then signal dependence, then white noise.
"""

from __future__ import annotations

from medenoise.inspection.profile import NoiseProfile, Verdict

# Correlated: lag-1 correlation at or above this along x or y. White noise measures at most
# 0.27 (Set12 + σ 25: 0.04-0.27, texture leaking in; W2S and FMD frames: 0.02-0.12; white
# noise on grey: 0.00); CT reconstructions 0.42-0.80, interpolated cardiac MR 0.86 and
# chest X-rays 0.49-0.72 measure above it (docs/inspect.md).
CORR_LAG1 = 0.35
# Signal-dependent: the fitted variance grows at least SD_RATIO times across the measured
# intensities with a fit of R² ≥ SD_R2 (W2S and FMD frames: R² ≥ 0.95; white noise: R² ≈ 0).
SD_RATIO = 2.0
SD_R2 = 0.7
# Heavily clipped: at least this fraction of values at a range end or pile-up; below it, but
# above CLIP_NOTE, the message only mentions it (CT air clipped at -1024 HU: about 6 %).
HEAVY_CLIP = 0.2
CLIP_NOTE = 0.01
# A pile-up at the darkest value alone is not clipping when the noise grows with brightness
# from (almost) nothing at the bottom: photon-counting data (nuclear medicine, microscopy)
# simply hold many zero counts there. "Almost nothing": the fitted variance at intensity 0
# (b) is at most this fraction of the variance added per unit of intensity (a).
PHOTON_FLOOR_B = 0.1
# No measurable noise: Haar σ under this many steps of the stored precision (a clean 8-bit
# photo such as skimage's camera measures 0.7 steps).
NO_NOISE_STEPS = 1.0
# ssdn-gauss5-50-gray and ssdn-med-gray estimate σ per image within their trained σ 5-50
# (0..255 scale).
GAUSS_RANGE = (5.0, 50.0)
# Formats that only hold medical images: their white noise goes to the medical prior. On
# held-out CT, MR and radiograph slices with σ 25 added, the photo prior scored 2.4 dB and
# 0.26 SSIM below BM3D (a grey haze over black background), the medical one 0.8 dB above;
# on photographs the photo prior leads by 0.5 dB (BENCHMARKS.md, "Which white-noise model").
MEDICAL_FORMATS = ("dicom", "nifti")
# ssdn-pg-fmd learned variance = 0.01419 x - 0.00018 on FMD confocal frames (this
# inspector measures 0.0152-0.0168 x - 0.0002 on those frames).
FMD_A = 0.01419
# A level is not a kind of image: a prior is only advised where its noise matches beyond the
# level. FMD's confocal frames correlate along the scan line (x): lag 1 0.076-0.148 on all 100
# frames of fields of view 1 and 19. The W2S widefield planes at FMD's level measure
# 0.031-0.046 along x, and there ssdn-pg-fmd (as its -fast student, which denoise runs)
# scored 1.2-1.7 dB below VST+BM3D against avg400.
FMD_SCAN_CORR = 0.06
# The photo prior ssdn-poisson-gray (a = 1/30, b = 0) has no such signature: seven W2S planes
# measure a within 30 % of 1/30 (b within 0.1 a), and there its -fast student scored 0.4-1.1
# dB below VST+BM3D on each, while on Set12 with Poisson λ 30 it leads VST+BM3D by only
# 0.11 dB. So that level goes to VST+BM3D; the photo model stays available by name.
MATCH = 0.3  # a fitted a within ±30 % of a model's counts as that model's noise


def _photon_floor(profile: NoiseProfile) -> bool:
    """Whether the values piled up at the darkest end are the zero counts of photon noise."""
    return (
        profile.clipped_high < CLIP_NOTE
        and profile.clipped_low >= CLIP_NOTE
        and _signal_dependent(profile)
        and profile.pg_b <= PHOTON_FLOOR_B * profile.pg_a
    )


def _clip_sentence(profile: NoiseProfile) -> str:
    """' About N % of the values are clipped ...' when worth saying, else ''."""
    clipped = profile.clipped_low + profile.clipped_high
    if clipped < CLIP_NOTE:
        return ""
    if _photon_floor(profile):
        return (
            f" {clipped:.0%} of the values sit at the darkest value, as the zero counts of "
            "photon-counting data do."
        )
    where = "darkest" if profile.clipped_low >= profile.clipped_high else "brightest"
    return (
        f" {clipped:.0%} of the values are cut off at the {where} end, where the noise "
        "cannot be seen."
    )


def _signal_dependent(profile: NoiseProfile) -> bool:
    """True when the variance clearly grows with intensity along a good straight line."""
    if profile.pg_a <= 0 or profile.pg_fit_r2 < SD_R2 or not profile.bins:
        return False
    x_lo, x_hi = profile.extra.get("intensity_span", (0.0, 1.0))
    v_lo = profile.pg_a * x_lo + profile.pg_b
    v_hi = profile.pg_a * x_hi + profile.pg_b
    # A line through (almost) zero variance at intensity 0 is photon noise even when the
    # smooth areas span too few intensities to see the variance double.
    proportional = profile.pg_b <= PHOTON_FLOOR_B * profile.pg_a
    return v_hi > 0 and (v_lo <= 0 or v_hi >= SD_RATIO * v_lo or proportional)


def _signal_dependent_verdict(profile: NoiseProfile, channels: int, note: str) -> Verdict:
    """Brighter areas are noisier: the FMD model for FMD's confocal noise, else VST + BM3D."""
    a, b = profile.pg_a, profile.pg_b
    text = (
        "The noise grows with brightness (photon noise, variance "
        f"{a:.3g}·intensity {'+' if b >= 0 else '-'} {abs(b):.2g})."
    )
    fmd_level = abs(a - FMD_A) <= MATCH * FMD_A
    if channels == 1 and fmd_level and profile.corr_x[0] >= FMD_SCAN_CORR:
        # the FMD model's noise is fixed (learned once): its level and its scan-line grain
        return Verdict("signal-dependent", text + note, "ssdn-pg-fmd")
    spec = f"pg:a={a:.4g},b={b:.3g}"
    return Verdict(
        "signal-dependent",
        text + " No trained model matches this noise; a variance-stabilised BM3D does." + note,
        "vst-bm3d",
        ("--noise", spec),
    )


def _white_verdict(profile: NoiseProfile, channels: int, note: str, medical: bool) -> Verdict:
    """Independent noise of one level everywhere: the per-image SSDN model within its range,
    the medical one for a medical file."""
    s255 = profile.sigma * 255
    text = f"The noise looks like independent, even grain (σ {s255:.3g} on a 0-255 scale)."
    if channels == 1 and GAUSS_RANGE[0] <= s255 <= GAUSS_RANGE[1]:
        if medical:
            scan = (
                " A DICOM or NIfTI file holds a scan: the model trained on CT, MR and X-ray "
                "slices fits it."
            )
            return Verdict("white", text + scan + note, "ssdn-med-gray")
        return Verdict("white", text + note, "ssdn-gauss5-50-gray")
    why = (
        " No colour model is trained for it; BM3D handles colour."
        if channels != 1
        else f" That is outside the σ {GAUSS_RANGE[0]:g}-{GAUSS_RANGE[1]:g} the trained model "
        "knows (pass --range LO,HI to change the scale), so BM3D at the measured level."
    )
    return Verdict("white", text + why + note, "bm3d", ("--noise", f"gaussian:{s255:.3g}"))


def decide(
    profile: NoiseProfile,
    *,
    channels: int = 1,
    medical: bool = False,
) -> Verdict:
    """The verdict for one profile: what the noise is, in words, and what to run; `medical`:
    the image came from a medical format (DICOM, NIfTI)."""
    note = _clip_sentence(profile)
    clipped = profile.clipped_low + profile.clipped_high
    if profile.extra.get("flat_blocks", 0) == 0 and profile.sigma == 0:
        if clipped >= HEAVY_CLIP:
            text = f"{clipped:.0%} of the values are cut off at the ends of the range; "
            return Verdict("clipped", text + "no noise can be measured in what is left.", None)
        if profile.extra.get("blocks", 0) == 0:
            return Verdict("no-noise", "No noise could be measured: the image is flat.", None)
        return Verdict("unknown", "Too few smooth areas to measure the noise.", None)
    # one step of the stored values on the working scale (float data: 1e-4)
    if profile.sigma < NO_NOISE_STEPS * profile.extra.get("precision", 1e-4):
        lag1 = profile.lag1_correlation
        slow = (
            f" What varies is smooth (neighbouring pixels correlate {lag1:.1f}): the image "
            "was already smoothed or resampled."
            if lag1 >= CORR_LAG1
            else ""
        )
        return Verdict(
            "no-noise",
            "No measurable fine-grained noise: neighbouring pixels in smooth areas differ by "
            "less than the stored precision. Nothing to denoise." + slow + note,
            None,
        )
    lag1 = profile.lag1_correlation
    if lag1 >= CORR_LAG1:
        # BM3D given the spectrum measured here (lags 0-3) rather than white noise at the
        # measured std: on held-out slices of both real CT series it lowers the flat-region
        # noise more at the same mean-HU bias, and the guard stays silent (BENCHMARKS.md).
        return Verdict(
            "correlated",
            f"The noise is correlated between neighbouring pixels ({lag1:.1f}): blind-spot "
            "models would remove detail along with it. BM3D given the noise spectrum measured "
            "here (bm3d-psd) is the safe choice (or no denoising)." + note,
            "bm3d-psd",
            blind_spot_safe=False,
        )
    if clipped >= HEAVY_CLIP and not _photon_floor(profile):
        return Verdict(
            "clipped",
            f"{clipped:.0%} of the values are cut off at "
            "the ends of the range, so the noise there is hidden and its statistics are "
            "distorted. Check the acquisition or export settings; BM3D is the cautious choice.",
            "bm3d",
        )
    if _signal_dependent(profile):
        return _signal_dependent_verdict(profile, channels, note)
    return _white_verdict(profile, channels, note, medical)


def judge(image, source: str | None = None) -> NoiseProfile:
    """Measure one read `Image` (named `source`, default its file) and attach the verdict:
    what `inspect` prints and what `denoise` chooses and guards by."""
    from dataclasses import replace

    from medenoise.inspection.estimate import measure_image

    name = source if source is not None else str(image.meta.source or "")
    profile = measure_image(image, source=name)
    medical = image.meta.format in MEDICAL_FORMATS
    verdict = prefer_fast(decide(profile, channels=int(image.array.shape[-1]), medical=medical))
    return replace(profile, verdict=verdict)


def prefer_fast(verdict: Verdict) -> Verdict:
    """The verdict with its zoo model swapped for that model's shipped fast student, if any."""
    from dataclasses import replace

    from medenoise.zoo import fast_student

    student = fast_student(verdict.model) if verdict.model else None
    return replace(verdict, model=student) if student else verdict
