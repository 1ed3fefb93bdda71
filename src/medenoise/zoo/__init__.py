"""Pretrained models shipped inside the package: a JSON registry and fp16 safetensors files.

`models.json` holds one row per shipped model (name, method, noise, channels, training data,
recipe, steps, hardware, wall time, measured PSNR, sha256 of the weights). Names resolve
anywhere a model path is accepted (`--model ssdn-gauss25-gray`, `--init ...`). Weights are
checked against their hash before use, so a damaged install fails loudly, not quietly.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import Field

from medenoise.config import CONFIG_VERSION, ModelConfig
from medenoise.errors import UserError

REGISTRY = "models.json"


class ZooEntry(ModelConfig):
    """One shipped model: its ModelConfig fields, how it was trained, what it measured."""

    # the model file's own fields stay out of the registry rows
    version: int = Field(CONFIG_VERSION, exclude=True)
    training: dict[str, Any] = Field(default_factory=dict, exclude=True)
    name: str
    file: str
    sha256: str
    training_data: str
    recipe: str
    steps: int
    hardware: str
    wall_time: str
    measured: dict[str, float] = Field(default_factory=dict)  # e.g. {"BSD68 σ=25 PSNR": 29.0}
    notes: str = ""
    # inference default: denoise with the geometric self-ensemble (medenoise.ensemble) unless
    # the caller says otherwise; the `measured` numbers are taken with this default
    ensemble: bool = False
    # tile overlap measured on these very weights: tiled output within `TILE_TOLERANCE` of the
    # untiled one (benchmarks/tiling_error.py FILE); None: the architecture's default
    # (`data.tiling.overlap_for`, which must hold for any weights); `--exact` ignores it
    tile_overlap: int | None = None

    def row(self) -> dict[str, Any]:
        """The registry row (models.json), name, file and sha256 first as the file lists them."""
        fields = self.model_dump()
        head = ("name", "file", "sha256")
        return {k: fields[k] for k in head} | {k: v for k, v in fields.items() if k not in head}


def shipped_root() -> Path:
    """The folder the registry and weights ship in (inside the installed package)."""
    return Path(str(resources.files("medenoise.zoo")))


def registry(root: Path | None = None) -> list[ZooEntry]:
    """The shipped models, in registry order."""
    path = (root or shipped_root()) / REGISTRY
    rows: list[Any] = json.loads(path.read_text())
    return [ZooEntry.model_validate(r) for r in rows]


def entry(name: str, root: Path | None = None) -> ZooEntry | None:
    return next((e for e in registry(root) if e.name == name), None)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weights(e: ZooEntry, root: Path | None = None) -> Path:
    """The entry's weight file, verified against the registry's hash."""
    path = (root or shipped_root()) / e.file
    if not path.is_file():
        raise UserError(f"zoo model {e.name!r}: weights missing (broken install?)", path)
    if sha256_of(path) != e.sha256:
        raise UserError(f"zoo model {e.name!r}: weights do not match their sha256", path)
    return path


def resolve(name_or_path: str, root: Path | None = None) -> Path | None:
    """A zoo name → its verified weights; None for anything else (a path is used as is)."""
    if Path(name_or_path).exists():
        return None
    e = entry(name_or_path, root)
    return None if e is None else weights(e, root)


def fast_student(name: str, root: Path | None = None) -> str | None:
    """The shipped student distilled from zoo model `name`, if one is shipped: a student is
    registered only when it holds its teacher's quality, so it is the one to run by default."""
    return next(
        (e.name for e in registry(root) if e.method == "student" and e.teacher == name), None
    )
