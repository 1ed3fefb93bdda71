"""Shipping a trained run into the zoo: fp16 weights and a verified registry row."""

from __future__ import annotations

import json
from pathlib import Path

from medenoise.zoo import REGISTRY, ZooEntry, registry, sha256_of, shipped_root


def add_model(run_model: Path, row: dict, root: Path | None = None) -> ZooEntry:
    """Ship a trained model: fp16 copy into weights/<name>.safetensors, registry row added
    (replacing one of the same name). `row` gives the ZooEntry fields but file/sha256 and
    the architecture, which are taken from the model itself."""
    from medenoise.modelfile import load_module, save_model

    root = root or shipped_root()
    module = load_module(run_model, "cpu")
    cfg = module.model_config
    target = root / "weights" / f"{row['name']}.safetensors"
    target.parent.mkdir(parents=True, exist_ok=True)
    save_model(module, target, half=True)
    fields = {
        **row,
        **cfg.model_dump(exclude={"version", "training"}),
        "file": f"weights/{target.name}",
        "sha256": sha256_of(target),
    }
    new = ZooEntry.model_validate(fields)
    rows = [e.row() for e in registry(root) if e.name != new.name] + [new.row()]
    (root / REGISTRY).write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    return new
