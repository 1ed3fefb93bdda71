"""One figure per inspected image: noise variance against intensity with the fitted line, and
the noise correlation map (lags -3..3). Matplotlib loads only here, with the Agg backend."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from medenoise.inspection.profile import NoiseProfile


def plot_profile(profile: NoiseProfile, path: str | Path) -> None:
    """Write the two-panel PNG for `profile` to `path` (atomically: temporary file, rename)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    try:
        _variance_panel(left, profile)
        _correlation_panel(fig, right, profile)
        fig.suptitle(Path(profile.source).name or "image", fontsize=10)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".png", dir=path.parent, prefix=".inspect-")
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a plot is as readable as any file
        try:
            fig.savefig(tmp, dpi=100)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    finally:
        plt.close(fig)


def _variance_panel(ax, profile: NoiseProfile) -> None:
    """Bins (mean intensity, noise variance) and the line var = a·x + b."""
    if profile.bins:
        x, v = np.asarray(profile.bins).T
        ax.plot(x, v, "o", label="flat areas, per intensity bin")
        xs = np.linspace(min(x.min(), 0.0), x.max(), 50)
        ax.plot(
            xs,
            profile.pg_a * xs + profile.pg_b,
            "-",
            label=f"fit a={profile.pg_a:.3g}, b={profile.pg_b:.3g} (R² {profile.pg_fit_r2:.2f})",
        )
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no measurable areas", ha="center", transform=ax.transAxes)
    ax.set_xlabel("intensity (0-1 working scale)")
    ax.set_ylabel("noise variance")
    ax.set_title("noise variance vs intensity", fontsize=9)


def _correlation_panel(fig, ax, profile: NoiseProfile) -> None:
    """The 7×7 correlation map with its values written in the cells."""
    if "corr_map" in profile.extra:
        cmap = np.asarray(profile.extra["corr_map"])
    else:  # not measured: show independent pixels
        cmap = np.zeros((7, 7))
        cmap[3, 3] = 1.0
    lag = cmap.shape[0] // 2
    im = ax.imshow(
        cmap, cmap="RdBu_r", vmin=-1, vmax=1, extent=(-lag - 0.5, lag + 0.5, lag + 0.5, -lag - 0.5)
    )
    for (i, j), value in np.ndenumerate(cmap):
        ax.text(j - lag, i - lag, f"{value:.2f}", ha="center", va="center", fontsize=7)
    ax.set_xlabel("lag x (columns)")
    ax.set_ylabel("lag y (rows)")
    ax.set_title("noise correlation (0: independent pixels)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
