"""Model files: safetensors weights + the ModelConfig as JSON metadata. Never pickle.

Loading validates the header (format tag, config version, known method, tensor names and
shapes) before any weights reach a network, so a file from a stranger cannot run code.
Lightning .ckpt files of one's own runs load only on request (`load_checkpoint`, the CLI's
--trust-pickle), and even then through torch's weights-only unpickler.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

import torch

from medenoise.config import ModelConfig, validated
from medenoise.errors import UserError

FORMAT_TAG = "medenoise-model"
CKPT_CONFIG_KEY = "medenoise_model_config"  # ModelConfig JSON inside Lightning checkpoints
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
        hint = (
            "; for a checkpoint of your own `medenoise train` run pass --trust-pickle"
            if path.suffix.lower() == ".ckpt"
            else ""
        )
        raise UserError(
            "refusing to load a pickle-based checkpoint (it could run code); use a "
            f".safetensors model file written by medenoise{hint}",
            path,
        )
    check_model_path(path)
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


def check_model_path(path: Path) -> None:
    """A UserError saying what to give instead when `path` is not a model file."""
    if path.is_dir():
        inside = path / "model.safetensors"
        hint = f"; did you mean {inside}?" if inside.is_file() else ""
        raise UserError(f"is a folder, not a model file{hint}", path)
    if not path.is_file():
        from medenoise.inference.resolve import BASELINE_NAMES

        raise UserError(
            "model file not found; give a .safetensors file from `medenoise train` or a "
            f"baseline: {', '.join(BASELINE_NAMES)}",
            path,
        )


def load_module(path: str | Path, device: str | torch.device = "cpu"):
    """Rebuild the method's module from a model file, weights checked against the config."""
    from safetensors.torch import load_file

    config, _ = read_header(path)
    try:
        state = load_file(str(path), device=str(device))
    except Exception as exc:  # header fine but tensor data torn or inconsistent
        raise UserError(f"model file is damaged ({exc}); copy it again", path) from None
    return _build(config, state, path, device)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu"):
    """Rebuild the module from a Lightning .ckpt of one's own training run (--trust-pickle).

    Loaded with torch's weights-only unpickler, which builds tensors and plain containers
    and refuses every other object, so a crafted file cannot run code even here. The config
    comes from the checkpoint (runs since this version) or the run folder's config.yaml.
    """
    import pickle

    from medenoise.config import TrainConfig

    path = Path(path)
    check_model_path(path)
    try:
        with warnings.catch_warnings():  # e.g. "pickle protocol 4": one line per error only
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "objects other than tensors"
        raise UserError(
            f"refusing to unpickle this checkpoint: it holds more than tensors and plain data "
            f"({reason})",
            path,
        ) from None
    except Exception as exc:
        raise UserError(f"not a loadable checkpoint ({type(exc).__name__}: {exc})", path) from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise UserError("not a Lightning checkpoint (no state_dict)", path)
    if isinstance(ckpt.get(CKPT_CONFIG_KEY), str):
        try:
            raw = json.loads(ckpt[CKPT_CONFIG_KEY])
        except json.JSONDecodeError:
            raise UserError("model config in the checkpoint is not valid JSON", path) from None
        config = validated(ModelConfig, raw, path)
    elif (run_config := path.parent.parent / "config.yaml").is_file():
        config = TrainConfig.from_yaml(run_config).model
    else:
        raise UserError("checkpoint has no model config and no run config.yaml beside it", path)
    return _build(config, dict(ckpt["state_dict"]), path, device)


def _build(config: ModelConfig, state: dict, path: Path | str, device: str | torch.device):
    """The method's module for `config` with `state` loaded, names and shapes checked first."""
    from medenoise.methods import build_method

    try:
        module = build_method(config)
    except ValueError as exc:
        raise UserError(str(exc), path) from None
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError("weights must all be tensors", path)
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


def load_network(ref, device: str | torch.device = "cpu"):
    """The module of a network resolved by `inference.resolve.resolve_model`: a checkpoint
    (with the user's consent) or a model file."""
    load = load_checkpoint if ref.kind == "checkpoint" else load_module
    return load(ref.path, device)
