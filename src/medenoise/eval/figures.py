"""Study figures: zoom-crop grids, grouped bar charts of PSNR_var / SSIM_var, training curves.

These regenerate the kinds of figure in the reference study report (its Figures 3-4 are grouped
bars of PSNR_var / SSIM_var per SSDN variant across FMD noise levels; Figures 1-2 and 5-9 are
zoomed crops of one image denoised by several methods). Every function writes a PNG and returns
its path, so the HTML report (:mod:`medenoise.eval.report`) can embed it.

matplotlib is imported lazily inside the functions, with the non-interactive Agg backend, so
``import medenoise`` stays light and rendering works on headless machines and CI.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

DPI = 150
"""Resolution of every written PNG."""


def _plt():
    """pyplot on the Agg backend (no display needed); imported on first use only."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    """Write ``fig`` as PNG to ``path`` (parents created), close it, return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png", bbox_inches="tight")
    _plt().close(fig)
    return path


def _as_image(image) -> np.ndarray:
    """(H, W) or (H, W, C) float array; a single channel axis is squeezed so it shows as gray."""
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ValueError(f"expected an (H, W) or (H, W, 1|3|4) image, got shape {a.shape}")
    return a


def choose_crop(clean: np.ndarray, size: int) -> tuple[int, int, int, int]:
    """(y, x, h, w) of the size x size window of ``clean`` with the most detail.

    Detail is gradient energy (squared finite differences summed over channels), so the zoom
    lands on edges and texture rather than on flat background, which dominates medical and
    microscopy images. ``size`` is clamped to the image; a flat image gives the centre window.
    Window sums come from an integral image, so every position is scored exactly in O(H*W).
    """
    a = _as_image(clean)
    gray = a if a.ndim == 2 else a[:, :, :3]
    hgt, wid = gray.shape[:2]
    h, w = max(1, min(int(size), hgt)), max(1, min(int(size), wid))
    energy = np.zeros((hgt, wid))
    dy = np.diff(gray, axis=0) ** 2
    dx = np.diff(gray, axis=1) ** 2
    if gray.ndim == 3:
        dy, dx = dy.sum(axis=2), dx.sum(axis=2)
    energy[:-1, :] += dy
    energy[:, :-1] += dx
    energy = np.nan_to_num(energy)
    integral = np.zeros((hgt + 1, wid + 1))
    integral[1:, 1:] = energy.cumsum(axis=0).cumsum(axis=1)
    sums = integral[h:, w:] - integral[:-h, w:] - integral[h:, :-w] + integral[:-h, :-w]
    if not np.any(sums > 0):
        return (hgt - h) // 2, (wid - w) // 2, h, w
    y, x = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(y), int(x), h, w


def _show(ax, image: np.ndarray):
    """Draw ``image`` on ``ax`` at fixed intensity scale: gray is vmin=0, vmax=1 (never
    autoscaled, so brightness shifts between methods stay visible), colour is clipped to [0,1];
    nearest interpolation so zoomed pixels are not smoothed."""
    ax.set_xticks([])
    ax.set_yticks([])
    if image.ndim == 2:
        return ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    return ax.imshow(np.clip(image, 0.0, 1.0), interpolation="nearest")


def _metric_text(panel: dict) -> str:
    """'PSNR 31.20 dB / SSIM 0.873' (whichever the panel carries, non-finite ones skipped)."""
    parts = []
    for key, fmt in (("psnr", "PSNR {:.2f} dB"), ("ssim", "SSIM {:.3f}")):
        value = panel.get(key)
        if value is not None and math.isfinite(float(value)):
            parts.append(fmt.format(float(value)))
    return " / ".join(parts)


def crop_grid(
    panels: list[dict],
    path: Path,
    box: tuple[int, int, int, int] | None = None,
    crop: int = 128,
    title: str | None = None,
    *,
    overview: bool = True,
    ncols: int | None = None,
) -> Path:
    """Zoom-crop comparison like the report's: the same window cut from every panel.

    ``panels`` are dicts with 'label', 'image' ((H, W) or (H, W, C) in [0, 1], same H, W for
    all) and optional 'psnr' / 'ssim' printed under the crop; order is kept (callers pass
    noisy, methods..., clean). ``box`` (y, x, h, w) defaults to ``choose_crop`` on the LAST
    panel (the reference) with side ``crop``. With ``overview`` and a box smaller than the
    image, a first row shows the whole reference with the box outlined. Crops wrap into rows of
    ``ncols`` (default: up to 6 per row).
    """
    if not panels:
        raise ValueError("crop_grid needs at least one panel")
    plt = _plt()
    from matplotlib.patches import Rectangle

    images = [_as_image(p["image"]) for p in panels]
    shape = images[-1].shape[:2]
    for p, img in zip(panels, images, strict=True):
        if img.shape[:2] != shape:
            raise ValueError(f"panel {p.get('label')!r} is {img.shape[:2]}, reference {shape}")
    y, x, h, w = box if box is not None else choose_crop(images[-1], crop)
    with_overview = overview and (h, w) != shape
    ncols = max(1, min(ncols or 6, len(panels)))
    nrows = math.ceil(len(panels) / ncols)
    panel_in = 2.4
    top_in = 3.2 if with_overview else 0.0
    fig = plt.figure(figsize=(panel_in * ncols, panel_in * 1.2 * nrows + top_in + 0.4))
    grid = fig.add_gridspec(
        nrows + int(with_overview),
        ncols,
        height_ratios=([top_in / (panel_in * 1.2)] if with_overview else []) + [1.0] * nrows,
    )
    if with_overview:
        ax = fig.add_subplot(grid[0, :])
        _show(ax, images[-1])
        ax.add_patch(Rectangle((x - 0.5, y - 0.5), w, h, fill=False, edgecolor="red", lw=1.5))
        ax.set_title(f"{panels[-1].get('label', '')} (full image, zoom box in red)", fontsize=9)
    for i, (panel, img) in enumerate(zip(panels, images, strict=True)):
        ax = fig.add_subplot(grid[int(with_overview) + i // ncols, i % ncols])
        _show(ax, img[y : y + h, x : x + w])
        ax.set_title(str(panel.get("label", "")), fontsize=9)
        ax.set_xlabel(_metric_text(panel), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def _bar_layout(
    rows: list[dict], metric: str, group: str, series: str
) -> tuple[list, list, np.ndarray]:
    """(groups, series values, heights[series, group]) for :func:`bar_chart`.

    Groups and series keep first-seen order; a missing or non-numeric value is NaN (drawn as a
    gap); repeated (group, series) pairs are averaged.
    """
    groups = list(dict.fromkeys(r.get(group) for r in rows))
    names = list(dict.fromkeys(r.get(series) for r in rows))
    total = np.zeros((len(names), len(groups)))
    count = np.zeros_like(total)
    for r in rows:
        try:
            value = float(r.get(metric))
        except (TypeError, ValueError):
            continue
        if not math.isfinite(value):
            continue
        i, j = names.index(r.get(series)), groups.index(r.get(group))
        total[i, j] += value
        count[i, j] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        heights = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return groups, names, heights


HATCHES = ("", "///", "...", "xx")


def bar_chart(
    rows: list[dict],
    path: Path,
    metric: str = "psnr_var",
    group: str = "level",
    series: str = "variant",
    title: str | None = None,
    ylabel: str | None = None,
) -> Path:
    """Grouped bars like the report's Figures 3-4: one cluster per distinct ``rows[group]``
    (first-seen order), one coloured bar per ``rows[series]`` (legend), height ``rows[metric]``.

    Missing combinations leave a gap rather than shifting bars, so a variant keeps its slot in
    every cluster. A zero line is drawn because relative gains (PSNR_var) can be negative.
    """
    plt = _plt()
    groups, names, heights = _bar_layout(rows, metric, group, series)
    width_in = min(16.0, max(6.0, 1.0 + 0.3 * len(names) * len(groups)))  # stays legible
    fig, ax = plt.subplots(figsize=(width_in, 4.5))
    if groups and names:
        width = 0.8 / len(names)
        centres = np.arange(len(groups))
        cmap = plt.get_cmap("tab20" if len(names) > 10 else "tab10")
        for i, name in enumerate(names):
            offsets = centres - 0.4 + width * (i + 0.5)
            ok = np.isfinite(heights[i])
            hatch = HATCHES[(i // cmap.N) % len(HATCHES)]  # colours repeat past 20: hatch
            ax.bar(
                offsets[ok],
                heights[i][ok],
                width,
                label=str(name),
                color=cmap(i % cmap.N),
                hatch=hatch,
                edgecolor="black" if hatch else None,
                linewidth=0.3,
            )
        ax.set_xticks(centres, [str(g) for g in groups])
        ax.legend(fontsize=8, bbox_to_anchor=(1.01, 1.0), loc="upper left", title=series)
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_xlabel(group)
    ax.set_ylabel(ylabel or metric)
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title)
    return _save(fig, path)


def _read_series(csv_path: Path, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of ``column`` from a metrics.csv, skipping rows where either cell is
    empty (Lightning logs train and val keys on different rows); sorted by step."""
    steps, values = [], []
    if not csv_path.is_file():
        return np.array([]), np.array([])
    with csv_path.open(newline="") as f:
        for row in csv.DictReader(f):
            try:
                s, v = float(row.get("step") or ""), float(row.get(column) or "")
            except ValueError:
                continue
            if math.isfinite(s) and math.isfinite(v):
                steps.append(s)
                values.append(v)
    order = np.argsort(steps, kind="stable")
    return np.asarray(steps)[order], np.asarray(values)[order]


def _smooth(values: np.ndarray, alpha: float = 0.1) -> np.ndarray:
    """Exponential moving average: the raw per-step training loss is too noisy to compare."""
    out = np.empty_like(values)
    acc = values[0] if len(values) else 0.0
    for i, v in enumerate(values):
        acc = alpha * v + (1 - alpha) * acc
        out[i] = acc
    return out


def training_curves(curves: dict[str, Path], path: Path, column: str = "val/psnr") -> Path:
    """One line per run of ``column`` against step, read from each run's metrics.csv.

    A value in ``curves`` may be the CSV itself or the run folder holding metrics.csv. If no
    run logged ``column``, the smoothed 'train/loss' is plotted instead (so runs without a
    validation set still get a curve). Runs with no data are skipped; with nothing at all the
    PNG says 'no training curves' so the report still has a figure to show.
    """
    plt = _plt()
    files = {}
    for name, p in curves.items():
        p = Path(p)
        files[name] = p / "metrics.csv" if p.is_dir() else p
    shown, smooth = column, False
    data = {name: _read_series(f, column) for name, f in files.items()}
    if not any(len(s) for s, _ in data.values()):
        shown, smooth = "train/loss", True
        data = {name: _read_series(f, shown) for name, f in files.items()}
    fig, ax = plt.subplots(figsize=(7.0, 4.0))
    drawn = 0
    for name, (steps, values) in data.items():
        if len(steps) == 0:
            continue
        y = _smooth(values) if smooth else values
        marker = "o" if len(steps) <= 30 else None  # a run with one validation point shows
        ax.plot(steps, y, label=str(name), lw=1.2, marker=marker, markersize=3)
        drawn += 1
    if drawn:
        ax.set_xlabel("step")
        ax.set_ylabel(shown + (" (EMA-smoothed)" if smooth else ""))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    else:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no training curves", ha="center", va="center", fontsize=14)
    return _save(fig, path)
