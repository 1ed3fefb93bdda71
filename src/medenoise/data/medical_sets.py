"""The medical training and held-out test sets, defined by name: `med-train` and `med-test`,
their CT-series part alone, `ct-train` and `ct-test`, and their radiographs alone,
`xray-train` and `xray-test` (the same slice ranges and files).

Every series of the shared medical data is split by slice range, never at random (neighbouring
slices are near copies): a contiguous training range, a gap of a few slices, then a contiguous
test range. Slice k is the k-th slice in the series' geometric order (DICOM: position along
the slice normal, as `data.io.series` orders a series; NIfTI: the reader's acquisition
axis). Single images go wholly to one side. The demo's images (matplotlib's s1045, pydicom's
CT_small) are never trained on; CT_small is in `med-test`, s1045 (a raw headerless file the
readers do not open) is scored by the demo alone.

Each series, volume or file is read whole, on the working range `denoise` gives it (the
series' own, `data.io.working_range`), and the planes of the set are then picked out, so a
test slice is scaled exactly as the training slices of its series and as `denoise` scales it.
The sets resolve against a data root: an explicit one, else $MEDENOISE_DATA_ROOT, else
`../shared/data` beside the repository.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medenoise.errors import UserError

SET_PREFIX = "set:"  # a training `data:` entry naming a set, e.g. "set:med-train"
ROOT_ENV = "MEDENOISE_DATA_ROOT"
TRAIN, TEST = "med-train", "med-test"
# the CT series' own slice ranges alone, for a model trained on their real scanner noise
CT_TRAIN, CT_TEST = "ct-train", "ct-test"
CT_SERIES = ("ct-lung", "ct-soft-upper", "ct-soft-lower")
# the chest radiographs alone, for a model of the X-ray (Poisson) setting
XRAY_TRAIN, XRAY_TEST = "xray-train", "xray-test"
MIN_GAP = 3  # slices left out between the training and the test range of a series
SETS = (TRAIN, TEST, CT_TRAIN, CT_TEST, XRAY_TRAIN, XRAY_TEST)
# a part set: (its whole set, whether an entry key belongs to it)
_PARTS = {
    CT_TRAIN: (TRAIN, lambda key: key in CT_SERIES),
    CT_TEST: (TEST, lambda key: key in CT_SERIES),
    XRAY_TRAIN: (TRAIN, lambda key: key.startswith("xray-")),
    XRAY_TEST: (TEST, lambda key: key.startswith("xray-")),
}


@dataclass(frozen=True)
class Entry:
    """One series, volume or image of the data root and the slices each set takes from it."""

    key: str
    path: str  # relative to the data root: a file, or a folder holding DICOM series
    slices: int  # planes the series/volume/file holds (checked when read)
    train: range = range(0)
    test: range = range(0)
    member: str | None = None  # a folder with several series: a file of the wanted one

    def take(self, name: str) -> range:
        """The slice indices set `name` takes from this entry."""
        if name in _PARTS:
            whole, belongs = _PARTS[name]
            if not belongs(self.key):
                return range(0)
            name = whole
        return self.train if name == TRAIN else self.test


def _single(key: str, path: str, side: str) -> Entry:
    """A one-plane file that goes wholly to `side` (TRAIN or TEST)."""
    whole = range(1)
    return Entry(key, path, 1, **({"train": whole} if side == TRAIN else {"test": whole}))


XRAY_SIIM = "chest_xray/1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"
ENTRIES: tuple[Entry, ...] = (
    # CT chest/abdomen, sharp kernel, 2.5 mm slices: a 4-slice (10 mm) gap
    Entry("ct-lung", "ct_tcia/cmb_crc_lung_kernel", 100, range(0, 84), range(88, 100)),
    # CT of a PET-CT, soft kernel, every 2nd 5 mm slice; the folder holds two series (two
    # bed positions, two SeriesInstanceUIDs): each is split on its own, with a 3-slice gap
    Entry("ct-soft-upper", "ct_tcia/acrin_flt_soft_kernel", 50, range(0, 40), range(43, 50),
          member="1-001.dcm"),  # fmt: skip
    Entry("ct-soft-lower", "ct_tcia/acrin_flt_soft_kernel", 49, range(0, 39), range(42, 49),
          member="1-101.dcm"),  # fmt: skip
    # thoracic/cardiac MR, 640² interpolated matrix: a 3-slice gap
    Entry("mr-cardiac", "mr_cardiac", 44, range(0, 33), range(36, 44)),
    # Colin27 T1 head volume, 1 mm axial slices (the reader's default axis, the last one),
    # bottom to top: training slices 10-109, an 8-slice gap, then every 4th of slices 118-149
    Entry("mr-colin27", "brain_mri/ch2.nii.gz", 181, range(10, 110), range(118, 150, 4)),
    _single("xray-cr", "chest_xray/RG1_UNCR.dcm", TRAIN),  # the only 15-bit radiograph
    _single("xray-nih-1", "chest_xray/00000001_000.png", TRAIN),
    _single("xray-tbx-h1", "chest_xray/h0001.png", TRAIN),
    _single("xray-tbx-tb5", "chest_xray/tb0005.png", TRAIN),
    _single("xray-siim", XRAY_SIIM, TRAIN),  # lossy JPEG inside: trained on, never scored
    _single("xray-nih-2", "chest_xray/00027426_000.png", TEST),
    _single("xray-tbx-tb7", "chest_xray/tb0007.png", TEST),
    *(_single(f"mr-t1-{n}", f"brain_mri/{n}slice.jpg", TEST) for n in ("r16", "r27", "r30",
                                                                        "r62", "r64", "r85")),
    _single("ct-head", "dicom_misc/693_UNCR.dcm", TEST),
    _single("mr-shoulder", "dicom_misc/MR2_UNCR.dcm", TEST),
    _single("ct-small", "dicom_misc/CT_small.dcm", TEST),  # the demo's CT image
    _single("mr-small", "dicom_misc/MR_small.dcm", TEST),
)  # fmt: skip
# The demo's own images: never in TRAIN (checked by the tests)
DEMO_FILES = ("brain_mri/s1045.ima.gz", "dicom_misc/CT_small.dcm")


@dataclass(frozen=True)
class Item:
    """One plane of a set: its label, the files of its unit, and its slice index there."""

    label: str
    entry: str
    unit: tuple[Path, ...]
    index: int

    @property
    def identity(self) -> str:
        """The slice's own file (a DICOM series) or `file[k]` (a plane of one file)."""
        if len(self.unit) > 1:
            return str(self.unit[self.index])
        return str(self.unit[0]) if self.index == 0 else f"{self.unit[0]}[{self.index}]"


def is_set_entry(entry: object) -> bool:
    """True for a `data:` entry that names a set (`set:med-train`)."""
    return isinstance(entry, str | Path) and str(entry).startswith(SET_PREFIX)


def set_name(entry: str | Path) -> str:
    """The set a `set:NAME` entry names; an unknown name is a UserError listing the known."""
    name = str(entry)[len(SET_PREFIX) :] if is_set_entry(entry) else str(entry)
    if name not in SETS:
        raise UserError(f"unknown set {name!r}; known sets: {', '.join(SETS)}")
    return name


def default_root() -> Path:
    """$MEDENOISE_DATA_ROOT, else `../shared/data` beside the repository."""
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


def data_root(root: str | Path | None = None) -> Path:
    """The data root the sets resolve against; a missing one is a UserError saying how to
    name it."""
    path = Path(root) if root is not None else default_root()
    if not path.is_dir():
        raise UserError(
            f"the medical data root is not there; give it with ${ROOT_ENV} (or --data-root)",
            path,
        )
    return path


def _unit(root: Path, entry: Entry) -> tuple[Path, ...]:
    """The files of an entry, a DICOM series in slice order (`group_inputs`'s order)."""
    from medenoise.data.io.series import group_inputs
    from medenoise.planning import find_images

    path = root / entry.path
    if not path.exists():
        raise UserError(f"set entry {entry.key}: no such file or folder", path)
    if path.is_file():
        return (path,)
    units = group_inputs([f for f, _ in find_images([path])])
    if entry.member is not None:
        units = [u for u in units if any(f.name == entry.member for f in u)]
    series = [u for u in units if len(u) > 1]
    if len(series) != 1:
        raise UserError(
            f"set entry {entry.key}: expected one DICOM series here, found {len(series)}", path
        )
    return tuple(series[0])


def _check_count(entry: Entry, count: int, where: Path) -> None:
    """Refuse data whose plane count differs from the set's definition (other data)."""
    if count != entry.slices:
        raise UserError(
            f"set entry {entry.key}: expected {entry.slices} slice(s), found {count}; "
            "this data root holds other data than the sets were defined on",
            where,
        )


def items(name: str, root: str | Path | None = None) -> list[Item]:
    """The planes of set `name` (labels, files, slice indices), from headers alone: series
    slice counts are checked here, single files' plane counts when they are read."""
    name, base = set_name(name), data_root(root)
    out: list[Item] = []
    for entry in ENTRIES:
        take = entry.take(name)
        if not take:
            continue
        unit = _unit(base, entry)
        if len(unit) > 1:
            _check_count(entry, len(unit), base / entry.path)
        for k in take:
            rel = (unit[k] if len(unit) > 1 else unit[0]).relative_to(base).as_posix()
            label = rel if len(unit) > 1 or entry.slices == 1 else f"{rel}[{k}]"
            out.append(Item(label, entry.key, unit, k))
    return out


def load(
    name: str, value_range: tuple[float, float] | None = None, root: str | Path | None = None
) -> list[tuple[str, np.ndarray]]:
    """(label, float32 (H, W, C) plane) of every plane of set `name`, each series or file read
    whole on its own working range (or `value_range`), then its planes picked out."""
    from medenoise.data.io.series import read_unit

    out: list[tuple[str, np.ndarray]] = []
    cache: dict[tuple[Path, ...], np.ndarray] = {}
    entries = {e.key: e for e in ENTRIES}
    for item in items(name, root):
        if item.unit not in cache:
            cache.clear()  # items come unit by unit: keep one volume in memory
            arr = read_unit(list(item.unit), value_range).array
            cache[item.unit] = arr.reshape(-1, *arr.shape[-3:])
            _check_count(entries[item.entry], len(cache[item.unit]), item.unit[0])
        plane = cache[item.unit][item.index]
        out.append((item.label, np.ascontiguousarray(plane, np.float32)))
    return out
