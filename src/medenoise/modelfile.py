"""Model files: safetensors weights + the ModelConfig as JSON metadata. Never pickle.

Loading validates the header (format tag, config version, known method, tensor names and
shapes) before any weights reach a network, so a file from a stranger cannot run code.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

from medenoise.config import ModelConfig, validated
from medenoise.errors import UserError

FORMAT_TAG = "medenoise-model"
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".pkl", ".pickle", ".bin")


def save_model(module, path: str | Path, half: bool = False, extra: dict | None = None) -> Path:
    """Write `module`'s weights and config atomically to `path` (.safetensors)."""
    from safetensors.torch import save_file

    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    meta = {"format": FORMAT_TAG, "config": module.model_config.model_dump_json()}
    if extra:
        meta["extra"] = json.dumps(extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=path.parent)
    os.close(fd)
    try:
        save_file(state, tmp, metadata=meta)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_header(path: str | Path) -> tuple[ModelConfig, dict]:
    """Config and extra metadata of a model file, without loading weights."""
    from safetensors import safe_open

    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise UserError(
            "refusing to load a pickle-based checkpoint (it could run code); "
            "use a .safetensors model file written by medenoise",
            path,
        )
    if not path.is_file():
        raise UserError("model file not found", path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # safetensors raises several types for corrupt headers
        raise UserError(f"not a valid safetensors model file ({exc})", path) from None
    if meta.get("format") != FORMAT_TAG or "config" not in meta:
        raise UserError(
            "safetensors file has no medenoise config; was it written by medenoise?", path
        )
    try:
        raw = json.loads(meta["config"])
    except json.JSONDecodeError:
        raise UserError("model config in the file is not valid JSON", path) from None
    config = validated(ModelConfig, raw, path)
    extra = json.loads(meta["extra"]) if "extra" in meta else {}
    return config, extra


def load_module(path: str | Path, device: str | torch.device = "cpu"):
    """Rebuild the method's module from a model file, weights checked against the config."""
    from safetensors.torch import load_file

    from medenoise.methods import build_method

    config, _ = read_header(path)
    try:
        module = build_method(config)
    except ValueError as exc:
        raise UserError(str(exc), path) from None
    state = load_file(str(path), device=str(device))
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise UserError(
            f"weights do not match the config (missing {missing[:3]}, unexpected {unexpected[:3]})",
            path,
        )
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise UserError(
                f"weight {key} has shape {tuple(tensor.shape)}, config needs "
                f"{tuple(expected[key].shape)}",
                path,
            )
        state[key] = tensor.to(expected[key].dtype)
    module.load_state_dict(state)
    return module.to(device).eval()
