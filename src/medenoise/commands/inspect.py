"""`medenoise inspect`: measure each image's noise, say in words what it is, and which model
(and command) suits it."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated

import typer

from medenoise.commands._common import parse_range, user_errors
from medenoise.commands._options import OUTPUT, Axis, Inputs, Json, ValueRange
from medenoise.errors import UserError

PlotDir = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        help="Folder for one PNG per image: noise variance against intensity with the fitted "
        "line, and the map of the noise's correlation between neighbouring pixels.",
        metavar="DIR",
        rich_help_panel=OUTPUT,
    ),
]


def inspect(
    inputs: Inputs,
    *,
    value_range: ValueRange = None,
    axis: Axis = "auto",
    as_json: Json = False,
    plot: PlotDir = None,
) -> None:
    """Measure the noise of images (level, growth with brightness, correlation between
    neighbouring pixels, clipping) and recommend a model and the command to run."""
    from medenoise.data.io.nifti import parse_axis

    with user_errors():
        vrange = parse_range(value_range)
        slice_axis = parse_axis(axis)
        if plot is not None and plot.exists() and not plot.is_dir():
            raise UserError("--plot needs a folder, and this is a file", plot)
        units, problems = inspection_units(inputs)
    for problem in problems:  # inputs that name no image: reported, the others still run
        typer.echo(f"error: {problem}", err=True)
    results, failed = [], len(problems)
    for label, unit in units:
        try:
            profile = inspect_unit(unit, label, vrange, slice_axis)
            if plot is not None:
                _plot(profile, plot, unit, units)
        except UserError as exc:
            typer.echo(f"error: {exc}", err=True)
            failed += 1
            continue
        if as_json:
            results.append(profile.to_dict())
        else:
            typer.echo(describe(profile))
    if as_json:
        typer.echo(json.dumps(results, indent=1, ensure_ascii=False))
    if failed:
        total = len(units) + len(problems)
        if total > 1:
            typer.echo(f"error: {failed} of {total} inputs could not be inspected", err=True)
        raise typer.Exit(2)


def inspection_units(inputs) -> tuple[list[tuple[str, list[Path]]], list[UserError]]:
    """(label, unit) per image or DICOM series the inputs name, and the inputs that name none."""
    # Folders are searched recursively; the single-frame slices of one DICOM series are one
    # unit (one volume, one working range, labelled by their folder), as `denoise` reads them.
    # A missing input or a folder without images is a problem of its own, reported while the
    # others are still inspected.
    from medenoise.data.io.series import group_inputs
    from medenoise.planning import find_images

    units, problems = [], []
    for item in inputs:
        try:
            files = [path for path, _root in find_images([item])]
        except UserError as exc:
            problems.append(exc)
            continue
        for unit in group_inputs(files):
            units.append((unit_label(unit), unit))
    return units, problems


def unit_label(unit: list[Path]) -> str:
    """A file's path, or for a series its folder with the slice count and first/last files
    (a folder may hold several series)."""
    if len(unit) == 1:
        return str(unit[0])
    return f"{unit[0].parent} (series of {len(unit)} slices, {unit[0].name} .. {unit[-1].name})"


def inspect_unit(unit, label: str, value_range, axis):
    """Read, measure and judge one unit; its profile carries the verdict and the command."""
    from dataclasses import replace

    from medenoise.data.io.series import read_unit
    from medenoise.inspection.verdict import judge

    image = read_unit(unit, value_range, axis)
    profile = judge(image, source=label)  # the measurement and verdict denoise uses
    verdict = profile.verdict
    target = str(unit[0]) if len(unit) == 1 else str(unit[0].parent)  # what denoise takes
    extra = dict(profile.extra, command=denoise_command(target, verdict, value_range, axis))
    return replace(profile, verdict=verdict, extra=extra)


def denoise_command(label: str, verdict, value_range, axis) -> str | None:
    """The `medenoise denoise ...` line that follows the verdict (None: nothing to run)."""
    if verdict.model is None:
        return None
    words = ["medenoise", "denoise", label, "-o", "denoised", "--model", verdict.model]
    words += list(verdict.options)
    if value_range is not None:
        words.append(f"--range={value_range[0]:g},{value_range[1]:g}")
    if axis != "auto":
        words += ["--axis", str(axis)]
    return " ".join(shlex.quote(w) for w in words)


def describe(profile) -> str:
    """A few aligned lines for people: what was measured, the verdict and the command."""
    lo, hi = profile.value_range
    span = hi - lo
    std = profile.extra.get("noise_std", profile.sigma)
    cx, cy = profile.corr_x, profile.corr_y
    rows = [
        ("range", f"{lo:g} .. {hi:g} ({profile.range_source})"),
        (
            "noise",
            f"σ {profile.sigma * 255:.3g} on a 0-255 scale ({profile.sigma * span:.3g} in file "
            f"units); std in flat areas {std * span:.3g} in file units",
        ),
        (
            "vs brightness",
            f"variance = {profile.pg_a:.3g}·x {'+' if profile.pg_b >= 0 else '-'} "
            f"{abs(profile.pg_b):.3g} (R² {profile.pg_fit_r2:.2f}, {len(profile.bins)} bins)",
        ),
        (
            "correlation",
            f"x {cx[0]:.2f} {cx[1]:.2f} {cx[2]:.2f}  y {cy[0]:.2f} {cy[1]:.2f} {cy[2]:.2f} "
            "(lags 1, 2, 3; 0 = independent)",
        ),
        ("clipped", f"{profile.clipped_low:.1%} low, {profile.clipped_high:.1%} high"),
    ]
    verdict = profile.verdict
    if verdict is not None:
        rows.append(("verdict", f"{verdict.kind}: {verdict.message}"))
        rows.append(("run", profile.extra.get("command") or "nothing to run"))
    width = max(len(name) for name, _ in rows)
    return "\n".join([profile.source] + [f"  {n.ljust(width)}  {t}" for n, t in rows])


def _plot(profile, folder: Path, unit: list[Path], units) -> None:
    """The PNG of one unit, named after its file or its series' first slice (with their
    folders when names repeat)."""
    from medenoise.inspection.plot import plot_profile

    def stem(members: list[Path]) -> Path:
        first = members[0]
        return first if len(members) == 1 else first.parent / f"series-{first.name}"

    name = stem(unit).name
    if sum(stem(other).name == name for _, other in units) > 1:
        name = "_".join(stem(unit).parts[-3:])
    try:
        plot_profile(profile, folder / f"{name}.inspect.png")
    except OSError as exc:
        raise UserError(f"cannot write the plot: {exc.strerror or exc}", folder) from None
