"""DICOM pixel padding: the fill outside a CT's reconstruction circle, kept out of the range.

CT scanners fill the pixels outside the field of view with Pixel Padding Value (0028,0120),
often far below air (stored -2000 with intercept -1024: -3024 HU), and may give a Pixel
Padding Range Limit (0028,0121) so that every stored value between the two is padding. On the
shared CT series a fifth of each slice is padding; counted as data it drags the working range
down to -3024 HU, so the anatomy gets two thirds of the contrast and a noise level means less
than it says. Padding pixels are therefore left out of the working range, shown to models at
the nearest end of that range (a flat field like air, no step), and written back as they were.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _as_stored(value: Any, dtype: np.dtype) -> int | None:
    """A padding tag's value as a number of the pixels' stored type (US/SS ambiguity resolved)."""
    if isinstance(value, bytes):  # ambiguous VR left undecoded
        if len(value) != dtype.itemsize:
            return None
        return int(np.frombuffer(value, dtype.newbyteorder("<"))[0])
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    bits = dtype.itemsize * 8
    if dtype.kind == "i" and number >= 2 ** (bits - 1):
        number -= 2**bits  # read as US while the pixels are signed: 63536 is -2000
    if dtype.kind == "u" and number < 0:
        number += 2**bits
    return number


def padding_mask(ds: Any, stored: np.ndarray) -> np.ndarray | None:
    """Where `stored` holds padding per the dataset's tags; None when there is none."""
    if "PixelPaddingValue" not in ds or stored.dtype.kind not in "iu":
        return None
    first = _as_stored(ds["PixelPaddingValue"].value, stored.dtype)
    if first is None:
        return None
    last = first
    if "PixelPaddingRangeLimit" in ds:
        limit = _as_stored(ds["PixelPaddingRangeLimit"].value, stored.dtype)
        last = first if limit is None else limit
    low, high = min(first, last), max(first, last)
    mask = (stored >= low) & (stored <= high)
    if not mask.any() or mask.all():
        return None  # nothing padded, or nothing else: treat every pixel as data
    return mask


def data_values(stored: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The stored values that are image data (padding left out), for the working range."""
    return stored if mask is None else stored[~mask]


def fill(normalised: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Padding pixels moved to the nearest end of [0, 1]: flat there, no cliff below it."""
    if mask is not None and mask.shape == normalised.shape:
        normalised[mask] = np.clip(normalised[mask], 0.0, 1.0)
    return normalised


def restore(stored: np.ndarray, mask: np.ndarray | None, values: np.ndarray | None) -> np.ndarray:
    """The original padding values put back into stored output of the same shape."""
    if mask is None or values is None or stored.shape != mask.shape:
        return stored
    stored = stored.copy()
    stored[mask] = values.astype(stored.dtype)
    return stored
