"""A corpus of bad (and borderline) inputs, generated on demand into a folder.

`write_corpus(root)` writes every file under `root` and returns one `Case` per input, each
saying what a careful tool does with it per command: refuse with an `error: <path>: ...` line
whose text contains `Case.error` (exit 2), or accept it (exit 0). Generated instead of
committed, so the repository holds no binary test files and each case documents how it was
made. Used by tests/test_bad_inputs.py; `python tests/bad_inputs.py DIR` writes the corpus
for a look by hand.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from image_bytes import dicom_bytes, nifti_bytes, png_bytes, tiff_bytes, truncated

# The file makers are re-exported for the tests that build their own bad files.
__all__ = [
    "COMMANDS",
    "Case",
    "dicom_bytes",
    "nifti_bytes",
    "png_bytes",
    "tiff_bytes",
    "truncated",
    "write_corpus",
]

COMMANDS = ("denoise", "noise", "evaluate", "train")
RNG_SEED = 0


@dataclass
class Case:
    """One bad input. `error`: text the error line must contain (None: the input is fine).
    `expect` overrides `error` per command; commands not in `commands` do not apply.
    `path`: the input argument; `blame`: paths the error line may name (default `path`; the
    model file always may). `pair`: the clean partner (evaluate --noisy, train --pairs).
    `model`: "mono", "rgb" (a 1- or 3-channel model; train --channels) or a path/name given
    as --model; `init`: train gets the model as --init. `out_file`: -o names an existing file.
    `chmod`: file mode to set before running (unreadable files). `note`: text that denoise
    and noise add must print on stderr for an accepted input."""

    name: str
    path: Path
    error: str | None
    why: str
    commands: tuple[str, ...] = COMMANDS
    expect: dict[str, str | None] = field(default_factory=dict)
    blame: tuple[Path, ...] = ()
    pair: Path | None = None
    model: str = "mono"
    init: bool = False
    out_file: bool = False
    chmod: int | None = None
    note: str | None = None

    def expected(self, command: str) -> str | None:
        return self.expect.get(command, self.error)


# --- the corpus, one section per format or topic ------------------------------------------


@dataclass
class Corpus:
    """The folder being written, shared sample pixels, and the cases collected so far."""

    root: Path
    rng: np.random.Generator
    gray8: np.ndarray
    gray16: np.ndarray
    cases: list[Case] = field(default_factory=list)

    def put(self, name: str, data: bytes | None = None) -> Path:
        """Write `data` (if any) to `name` under the root, creating folders; its path."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is not None:
            path.write_bytes(data)
        return path

    def case(self, name: str, path: Path, error: str | None, why: str, **kw) -> None:
        """Add one case (see `Case` for the keywords)."""
        self.cases.append(Case(name, path, error, why, **kw))

    def good(self) -> Path:
        """A valid gray PNG, the input of the cases that are about something else."""
        return self.put("good.png", png_bytes(self.gray8))


def png_cases(c: Corpus) -> None:
    """Empty, cut, mislabelled, tiny, flat, RGBA and unreadable PNGs."""
    c.case("empty.png", c.put("empty.png", b""), "empty (0 bytes)", "nothing to read")
    c.case(
        "truncated.png",
        c.put("truncated.png", truncated(png_bytes(c.gray8))),
        "damaged or incomplete",
        "pixel data cut short",
    )
    c.case(
        "text.png",
        c.put("text.png", b"this is a text file, not a picture\n" * 4),
        "not a PNG or JPEG image",
        "content does not match the suffix",
    )
    c.case(
        "one_pixel.png",
        c.put("one_pixel.png", png_bytes(np.array([[77]], np.uint8))),
        None,
        "a 1x1 image is an image: it is padded to the network's size and cropped back",
        expect={"evaluate": "too small for SSIM"},
    )
    c.case(
        "one_wide.png",
        c.put("one_wide.png", png_bytes(c.rng.integers(0, 256, (40, 1), dtype=np.uint8))),
        None,
        "a 1-pixel-wide image is padded by edge replication and cropped back",
        expect={"evaluate": "too small for SSIM"},
    )
    c.case(
        "ten_by_ten.png",
        c.put("ten_by_ten.png", png_bytes(c.rng.integers(0, 256, (10, 10), dtype=np.uint8))),
        None,
        "small images are fine to denoise; SSIM's 11x11 window does not fit them",
        expect={"evaluate": "too small for SSIM"},
    )
    c.case(
        "constant.png",
        c.put("constant.png", png_bytes(np.full((40, 40), 128, np.uint8))),
        None,
        "a flat image is valid (the result is flat too)",
    )
    c.case(
        "rgba.png",
        c.put("rgba.png", png_bytes(c.rng.integers(0, 256, (40, 40, 4), dtype=np.uint8))),
        None,
        "alpha is dropped with a note (RGB is denoised); mono models see the channel mean",
        model="rgb",
        note="alpha (transparency) channel ignored",
    )
    c.case(
        "unreadable.png",
        c.put("unreadable.png", png_bytes(c.gray8)),
        "permission denied",
        "no read permission (skipped when running as root)",
        chmod=0,
    )


def tiff_cases(c: Corpus) -> None:
    """Empty, cut and fake TIFFs, a 5-D hyperstack, NaN/Inf, all-zero floats, 32-bit ints."""
    c.case("empty.tif", c.put("empty.tif", b""), "empty (0 bytes)", "nothing to read")
    c.case(
        "truncated.tif",
        c.put("truncated.tif", truncated(tiff_bytes(c.gray16, photometric="minisblack"))),
        "damaged or incomplete",
        "strip data cut short",
    )
    c.case(
        "text.tif",
        c.put("text.tif", b"II*\x00 this is not really a tiff\n" * 3),
        "damaged or incomplete",
        "TIFF magic followed by garbage",
    )
    c.case(
        "five_d.tif",
        c.put("five_d.tif", tiff_bytes(c.rng.integers(0, 4096, (1, 2, 2, 16, 16), np.uint16))),
        None,
        "a 5-D TIFF is a hyperstack: its non-image axes become a stack and come back as they were",
    )
    for name, value in (("nan", np.nan), ("inf", np.inf)):
        bad = c.rng.random((32, 32), dtype=np.float32)
        bad[3, 4] = value
        c.case(
            f"{name}.tif",
            c.put(f"{name}.tif", tiff_bytes(bad)),
            "NaN or Inf",
            f"{'NaN' if name == 'nan' else 'Inf'} cannot be denoised",
        )
    c.case(
        "constant0.tif",
        c.put("constant0.tif", tiff_bytes(np.zeros((40, 40), np.float32))),
        None,
        "an all-zero float image is valid",
    )
    c.case(
        "int32.tif",
        c.put("int32.tif", tiff_bytes(c.rng.integers(0, 70000, (32, 32)).astype(np.int32))),
        "32-bit integer",
        "no nominal range to normalise by, and float32 cannot hold it exactly",
    )


def dicom_cases(c: Corpus) -> None:
    """Empty and cut DICOM, one without pixel data, one in a transfer syntax we cannot decode."""
    c.case("empty.dcm", c.put("empty.dcm", b""), "empty (0 bytes)", "nothing to read")
    c.case(
        "truncated.dcm",
        c.put("truncated.dcm", truncated(dicom_bytes(c.gray16))),
        "damaged or incomplete",
        "pixel data cut short",
    )
    c.case(
        "nopixels.dcm",
        c.put("nopixels.dcm", dicom_bytes(c.gray16, pixels=False)),
        "no integer pixel data",
        "a DICOM without an image (e.g. a structured report)",
    )
    c.case(
        "badsyntax.dcm",
        c.put("badsyntax.dcm", dicom_bytes(c.gray16, syntax="1.2.840.10008.1.2.4.100")),
        "transfer syntax",
        "MPEG-2 video has no decoder here",
    )


def nifti_cases(c: Corpus) -> None:
    """Empty and cut NIfTI (gzipped and not), a 5-D volume, NaN outside a mask."""
    volume = c.gray16.astype(np.int16)[..., None]
    c.case("empty.nii.gz", c.put("empty.nii.gz", b""), "empty (0 bytes)", "nothing to read")
    c.case(
        "truncated.nii.gz",
        c.put("truncated.nii.gz", truncated(nifti_bytes(volume))),
        "damaged or incomplete",
        "gzip stream cut short",
    )
    c.case(
        "truncated.nii",
        c.put("truncated.nii", truncated(nifti_bytes(volume, False))),
        "damaged or incomplete",
        "voxel data cut short",
    )
    c.case(
        "five_d.nii.gz",
        c.put("five_d.nii.gz", nifti_bytes(np.zeros((8, 8, 2, 2, 2), np.int16))),
        "5-D NIfTI is not supported",
        "NIfTI 5-D holds vectors/tensors per voxel, not images",
    )
    nan = c.rng.random((32, 32), dtype=np.float32)
    nan[3, 4] = np.nan
    c.case(
        "nan.nii.gz",
        c.put("nan.nii.gz", nifti_bytes(nan[..., None])),
        "NaN or Inf",
        "masked MRI often has NaN outside the brain: the user must choose a fill value",
    )


def pair_cases(c: Corpus) -> None:
    """Noisy/clean pairs whose shapes differ, and a noisy image without a clean partner."""
    c.put("pairs/noisy/a.png", png_bytes(c.gray8))
    c.put("pairs/clean/a.png", png_bytes(c.gray8[:30, :30]))
    c.case(
        "pair_shape",
        c.root / "pairs/noisy",
        "differs from its",
        "a noisy image and its reference must have one shape",
        commands=("evaluate", "train"),
        pair=c.root / "pairs/clean",
        blame=(c.root / "pairs/noisy/a.png", c.root / "pairs/clean/a.png"),
    )
    for name in ("noisy/a.png", "noisy/b.png", "clean/a.png"):
        c.put(f"pairs2/{name}", png_bytes(c.gray8))
    c.case(
        "pair_missing",
        c.root / "pairs2/noisy",
        "no partner",
        "every noisy image needs its clean reference",
        commands=("evaluate", "train"),
        pair=c.root / "pairs2/clean",
        blame=(c.root / "pairs2/noisy/b.png",),
    )


def folder_cases(c: Corpus) -> None:
    """Folders without images, a folder given as the model, a file given as -o."""
    empty = c.root / "empty_folder"
    empty.mkdir(exist_ok=True)
    c.case("empty_folder", empty, "no supported images", "nothing to do is an error")
    c.put("notes/readme.txt", b"no images here")
    c.case(
        "folder_without_images",
        c.root / "notes",
        "no supported images",
        "non-image files are ignored, and then nothing is left",
    )
    model_dir = c.root / "model_dir.safetensors"
    model_dir.mkdir(exist_ok=True)
    c.case(
        "model_is_a_folder",
        c.good(),
        "is a folder, not a model file",
        "a directory where the model file was expected",
        commands=("denoise", "evaluate", "train"),
        model=str(model_dir),
        init=True,
        blame=(model_dir,),
    )
    c.case(
        "out_is_a_file",
        c.good(),
        "is a file, not a folder",
        "-o must name a folder",
        commands=("denoise", "noise", "train"),
        out_file=True,
    )


def model_cases(c: Corpus) -> None:
    """A model name that does not exist, a model with other channels than the image."""
    c.case(
        "no_such_model",
        c.good(),
        "model file not found",
        "a typo in --model",
        commands=("denoise", "evaluate", "train"),
        model="no-such-model",
        init=True,
        blame=(Path("no-such-model"),),
    )
    c.case(
        "model_channels",
        c.good(),
        "channel",
        "an RGB model on a gray image: denoise refuses, evaluate scores the gray image as RGB "
        "(three equal channels), train --init refuses a model of other channels",
        commands=("denoise", "evaluate", "train"),
        model="rgb",
        init=True,
        expect={"evaluate": None},
    )


# Every section of the corpus, in the order they are written.
SECTIONS = (
    png_cases,
    tiff_cases,
    dicom_cases,
    nifti_cases,
    pair_cases,
    folder_cases,
    model_cases,
)


def write_corpus(root: str | Path) -> list[Case]:
    """Write the bad-input corpus under `root` (created) and return its cases."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(RNG_SEED)
    gray8 = rng.integers(0, 256, (48, 40), dtype=np.uint8)
    gray16 = rng.integers(0, 4096, (48, 40), dtype=np.uint16)
    corpus = Corpus(root, rng, gray8, gray16)
    for section in SECTIONS:
        section(corpus)
    return corpus.cases


if __name__ == "__main__":  # write the corpus for a look by hand
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "bad_inputs")
    for c in write_corpus(target):
        print(f"{c.name:24} {c.error or 'accepted':32} {c.why}")
