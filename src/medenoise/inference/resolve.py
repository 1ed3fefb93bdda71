"""Where a model named by the user lives: a zoo name, a model file or a checkpoint path."""

from __future__ import annotations

from pathlib import Path


def model_path(name_or_path: str | Path) -> Path:
    """A zoo name → its verified weight file; anything else is taken as a path."""
    from medenoise.zoo import resolve

    found = resolve(str(name_or_path))
    return Path(found) if found is not None else Path(name_or_path)
