"""The working range: which values map to 0 and 1, from the data when the nominal range is wrong.

A file's nominal range (the integer type's range, DICOM's BitsStored range, [0, 1] for floats)
is kept when the data use a fair part of it. 16-bit data that fill a sliver of it (CT in HU
fills about a tenth of int16, a nuclear-medicine scan 0.4 %) and floats far outside [0, 1] get
the range of the values present instead (robust ends: 0.01 and 99.99 % percentiles), so a
model sees an image with the contrast it was trained on and a noise level such as gaussian:25
means 25/255 of what the image spans.
"""

from __future__ import annotations

import numpy as np

# 16-bit data whose robust ends (below) span less than this part of their nominal range get
# those ends as their range. Real 16-bit scans fall on either side of a wide gap: CT series in
# HU 0.07-0.09 of int16, NIfTI and DICOM MR 0.02-0.15, a bone scan 0.004; a 14-bit CT 0.27,
# a 12-bit cardiac MR series 0.5, a 15-bit chest CR 0.76 (docs/working-range.md). 0.2 sits in
# that gap; the shipped models, trained on 8-bit images spanning most of 0..255, see at worst
# a fifth of that contrast when the nominal range is kept.
SMALL_FILL = 0.2
# Float data counted as "on [0, 1]" when they stay within this margin of it: a noisy image on
# the unit scale overshoots by several σ (4σ at gaussian:50 is 0.8), and such files must keep
# meaning what they say (training and `adapt` read them as given).
FLOAT_SLACK = 1.0
# "percentile" (robust ends; the rare values beyond map outside [0, 1]) or "minmax" (the
# values present). Percentiles are the default: on a narrow-band image both denoise equally,
# but a few hot pixels (a bladder in a bone scan, metal in CT) squeeze min..max so far that
# the model barely denoises (measured in docs/working-range.md).
RULE = "percentile"
PERCENTILES = (0.01, 99.99)


def data_ends(values: np.ndarray, rule: str | None = None) -> tuple[float, float]:
    """The two ends of the values present: min..max, or robust percentiles (the values at
    those ranks, exact: a histogram for integers)."""
    flat = np.asarray(values).reshape(-1)
    lo, hi = flat.min(), flat.max()
    if (rule or RULE) != "percentile" or lo == hi:
        return float(lo), float(hi)
    ranks = np.array(PERCENTILES) / 100 * flat.size
    if flat.dtype.kind in "iu" and float(hi) - float(lo) < 2**20:
        cdf = np.cumsum(np.bincount(flat.astype(np.int64) - int(lo)))  # no sort of a big volume
        at = np.searchsorted(cdf, ranks, side="left")
        return float(lo) + float(at[0]), float(lo) + float(at[1])
    ends = np.percentile(flat, PERCENTILES, method="inverted_cdf")
    return float(ends[0]), float(ends[1])


def describe(lo: float, hi: float, rule: str, what: str = "this file") -> str:
    """The words recorded as `Scaling.range_source` for a range taken from the data."""
    low, high = PERCENTILES
    how = "min..max of values" if rule == "minmax" else f"{low:g}..{high:g} % percentiles"
    return f"data range of {what} ({how}: {lo:g}..{hi:g})"


def from_data(
    stored: np.ndarray,
    dtype: np.dtype,
    nominal: tuple[float, float],
    *,
    slope: float = 1.0,
    inter: float = 0.0,
    rule: str | None = None,
    what: str = "this file",
) -> tuple[float, float, str] | None:
    """(lo, hi, source) in value units (stored * slope + inter) taken from the `stored` values
    when the `nominal` stored range does not fit them, else None (keep the nominal range)."""
    rule = rule or RULE  # looked up here, so a measurement can switch the module's rule
    dtype = np.dtype(dtype)
    stored = np.asarray(stored)
    if stored.size == 0 or dtype.itemsize == 1:
        # 8-bit images stay on 0..255: the shipped photo and microscopy models were trained on
        # that scale, and their benchmarks rely on it.
        return None
    # The part of the range filled and the percentiles do not change under the affine
    # slope/intercept map, so they are taken on the stored values (no float64 copy).
    to_values = lambda ends: sorted(e * slope + inter for e in ends)  # noqa: E731
    if dtype.kind == "f":
        va, vb = to_values(data_ends(stored, "minmax"))
        if va >= -FLOAT_SLACK and vb <= 1 + FLOAT_SLACK:
            return None
    a, b = data_ends(stored, rule)
    if dtype.kind != "f" and (b - a) >= SMALL_FILL * (nominal[1] - nominal[0]):
        return None
    lo, hi = to_values((a, b))
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        return None  # a constant image: nothing to derive, keep the nominal range
    if dtype.kind == "f" and lo >= 0 and slope == 1 and inter == 0:
        # Non-negative floats: 0..2^k, the power of two at or above the top end. Dividing by
        # a power of two is exact in binary floating point, so an untouched float file is
        # written back bit for bit, and the data still fill over half of [0, 1].
        hi = float(2.0 ** np.ceil(np.log2(hi)))
        return 0.0, hi, f"data range of {what} (0..{hi:g}: a power of two, exact for floats)"
    return lo, hi, describe(lo, hi, rule, what)
