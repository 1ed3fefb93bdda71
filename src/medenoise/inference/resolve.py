"""What the user typed → what to load: a baseline, a zoo model, a model file or a checkpoint.

Nothing here imports training code or Lightning at import time: resolving a name needs only
the zoo registry and the file system.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["baseline", "zoo", "file", "checkpoint"]
# The names of methods/baselines.py's BASELINES, kept here so that resolving a name does not
# import the method package (which imports Lightning); a test keeps the two equal.
BASELINE_NAMES = ("bm3d", "bm3d-psd", "vst-bm3d", "nlm", "identity")


def is_baseline_name(name: str) -> bool:
    """True when `name` means a baseline: one of BASELINE_NAMES and not an existing file."""
    return name.lower() in BASELINE_NAMES and not Path(name).exists()


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: its kind, the weights to read (None for baselines), the name to show
    and the self-ensemble default (the zoo entry's; off for files, checkpoints, baselines),
    and the zoo entry's measured tile overlap (None: the architecture's)."""

    kind: Kind
    path: Path | None
    name: str
    default_ensemble: bool = False
    tile_overlap: int | None = None


def resolve_model(name_or_path: str | Path, trust_pickle: bool = False) -> ModelRef:
    """What `name_or_path` means: a baseline, a zoo model (weights verified), a file or a .ckpt."""
    from medenoise import zoo

    name = str(name_or_path)
    if is_baseline_name(name):
        return ModelRef("baseline", None, name.lower())
    entry = None if Path(name).exists() else zoo.entry(name)
    if entry is not None:  # an existing file of the same name wins over the zoo
        weights = zoo.weights(entry)
        return ModelRef("zoo", weights, entry.name, bool(entry.ensemble), entry.tile_overlap)
    path = Path(name)
    # a .ckpt is a checkpoint only with consent; otherwise the model-file reader refuses it
    # with a hint to pass --trust-pickle
    kind: Kind = "checkpoint" if trust_pickle and path.suffix.lower() == ".ckpt" else "file"
    return ModelRef(kind, path, name)


def model_path(name_or_path: str | Path) -> Path:
    """A zoo name → its verified weight file; anything else is taken as a path."""
    from medenoise.zoo import resolve

    found = resolve(str(name_or_path))
    return Path(found) if found is not None else Path(name_or_path)
