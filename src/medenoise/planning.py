"""Input → output planning shared by `denoise`, `noise add` and `evaluate`: which image files
the inputs name, which input folder each came from, and where each result goes.

Every refusal happens here, before anything is read or written, so a bad command line never
leaves half a folder of outputs behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from medenoise.errors import UserError


@dataclass(frozen=True)
class Job:
    """One file to process: its source, its destination, and its name relative to the input
    folder it was found in (the file name for a file given directly)."""

    src: Path
    dst: Path
    name: str
    # The slices of a DICOM series processed as one unit, in slice order, each with its own
    # destination (src, dst and name are then those of the first slice); empty for one file.
    members: tuple[Job, ...] = ()

    @property
    def parts(self) -> tuple[Job, ...]:
        """The files of this unit: the series' slices in order, or the job itself."""
        return self.members or (self,)


def find_images(
    inputs: Sequence[str | Path], exclude: Path | None = None
) -> list[tuple[Path, Path | None]]:
    """(file, root) for every image the inputs name: root is the input folder the file was
    found in (searched recursively, sorted), None for a file given directly. Files under
    `exclude` (an output folder inside an input folder) are left out, so results are never
    read back as inputs."""
    from medenoise.data.io import is_image_file

    skip = exclude.resolve() if exclude is not None else None
    found: list[tuple[Path, Path | None]] = []
    for src in map(Path, inputs):
        if src.is_dir():
            files = sorted(
                p
                for p in src.rglob("*")
                if p.is_file()
                and is_image_file(p)
                and not (skip is not None and p.resolve().is_relative_to(skip))
            )
            if not files:
                raise UserError("no supported images in this folder", src)
            found.extend((p, src) for p in files)
        elif src.is_file():
            found.append((src, None))
        else:
            raise UserError("no such file or folder", src)
    return found


def check_out_folder(out: Path) -> None:
    """-o must name a folder (existing or not), never an existing file."""
    if out.exists() and not out.is_dir():
        raise UserError("is a file, not a folder; -o names the output folder", out)


def plan_jobs(
    inputs: Sequence[str | Path],
    out: Path,
    overwrite: bool = False,
    shard: tuple[int, int] | None = None,
    check_existing: bool = True,
) -> list[Job]:
    """One Job per input image, written to OUT/<name relative to its input folder>.

    Refuses an -o that is a file or an input folder, empty folders, an output that would
    replace an input, two inputs landing on one output, and (without `overwrite`) existing
    outputs. `shard` (I, N) keeps jobs I, I+N, ... after the collision checks and before the
    existing-output check, so N processes can share one output folder. With
    `check_existing=False` existing outputs are left to the caller (denoise refuses them file
    by file, so a rerun over a grown folder still does the new files). Single-frame DICOM
    files of one series become one Job (`Job.members`), a unit for `shard` too.
    """
    check_out_folder(out)
    out_abs = out.resolve()
    for src in map(Path, inputs):
        if src.is_dir() and src.resolve() == out_abs:
            raise UserError(
                "-o is this input folder; choose another -o (inputs are never overwritten)", src
            )
    jobs = []
    for file, root in find_images(inputs, exclude=out):
        rel = file.relative_to(root) if root is not None else Path(file.name)
        jobs.append(Job(file, out / rel, rel.as_posix()))
    _check_collisions(jobs)
    jobs = group_series(jobs)
    if shard is not None:
        jobs = jobs[shard[0] :: shard[1]]
    existing = [part.dst for job in jobs for part in job.parts if part.dst.exists()]
    if existing and not overwrite and check_existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise UserError(f"output exists{more}; pass --overwrite to replace it", existing[0])
    return jobs


def _check_collisions(jobs: list[Job]) -> None:
    """Refuse an output that is one of the inputs, or two inputs sharing one output."""
    sources = {job.src.resolve() for job in jobs}
    seen: dict[Path, Path] = {}
    for job in jobs:
        target = job.dst.resolve()
        if target in sources:
            raise UserError(
                "output would overwrite the input; choose another -o "
                "(no command may overwrite an input)",
                job.dst,
            )
        if target in seen:
            raise UserError(f"two inputs ({seen[target]} and {job.src}) would be written here",
                            job.dst)  # fmt: skip
        seen[target] = job.src


def group_series(jobs: list[Job]) -> list[Job]:
    """The jobs with the slices of each DICOM series folded into one Job (in slice order),
    placed where its first file was; a mixed-geometry series is a UserError."""
    from medenoise.data.io.series import group_inputs

    by_src = {job.src: job for job in jobs}
    units = group_inputs([job.src for job in jobs])
    grouped = []
    for unit in units:
        parts = tuple(by_src[src] for src in unit)
        if len(parts) == 1:
            grouped.append(parts[0])
        else:
            first = parts[0]
            grouped.append(Job(first.src, first.dst, first.name, members=parts))
    return grouped
