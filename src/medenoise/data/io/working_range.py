"""The working range: which values map to 0 and 1, from the data when the nominal range is wrong.

A file's nominal range (the integer type's range, DICOM's BitsStored range, [0, 1] for floats)
is kept when the data use a fair part of it. 16-bit data that fill a sliver of it (CT in HU
fills about a tenth of int16, a nuclear-medicine scan 0.4 %) and floats far outside [0, 1] get
the range of values present instead, so a model sees an image with the contrast it was trained
on and a noise level such as gaussian:25 means 25/255 of what the image spans.
"""

from __future__ import annotations

import numpy as np

# Integer data filling less than this part of their nominal range get their own min..max.
# The shipped photo and microscopy models were trained on 8-bit images that span most of
# 0..255; a model sees a quarter of that contrast at most before the working range takes over.
# Real 16-bit scans are either far below it (CT ~0.1, NM 0.004, uint16 MR volumes 0.06) or
# well above it (12-bit MR stored with BitsStored 12), so the exact value is not critical.
SMALL_FILL = 0.25
# Float data counted as "on [0, 1]" when they stay within this margin of it (noisy float
# images legitimately overshoot a little).
FLOAT_SLACK = 0.25
# "minmax" (the values present) or "percentile" (robust ends; values beyond map outside
# [0, 1]); min..max is the default: measured safer on the real data (see docs/working-range.md).
RULE = "minmax"
PERCENTILES = (0.01, 99.99)


def data_ends(values: np.ndarray, rule: str = RULE) -> tuple[float, float]:
    """The two ends of the values present: min..max, or robust percentiles."""
    flat = np.asarray(values).reshape(-1)
    if rule == "percentile":
        lo, hi = np.percentile(flat, PERCENTILES)
        return float(lo), float(hi)
    return float(flat.min()), float(flat.max())


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
    a, b = data_ends(stored, "minmax")
    to_values = lambda ends: sorted(e * slope + inter for e in ends)  # noqa: E731
    if dtype.kind == "f":
        va, vb = to_values((a, b))
        if va >= -FLOAT_SLACK and vb <= 1 + FLOAT_SLACK:
            return None
    elif (b - a) >= SMALL_FILL * (nominal[1] - nominal[0]):
        return None
    lo, hi = to_values((a, b) if rule == "minmax" else data_ends(stored, rule))
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        return None  # a constant image: nothing to derive, keep the nominal range
    if dtype.kind == "f" and lo >= 0 and slope == 1 and inter == 0:
        # Non-negative floats: 0..2^k, the power of two at or above the max. Dividing by a
        # power of two is exact in binary floating point, so an untouched float file is
        # written back bit for bit, and the data still fill over half of [0, 1].
        hi = float(2.0 ** np.ceil(np.log2(hi)))
        return 0.0, hi, f"data range of {what} (0..{hi:g}: the power of two above the max)"
    return lo, hi, describe(lo, hi, rule, what)
