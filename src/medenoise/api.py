"""The Python face: `load_model(name_or_path).denoise(array)`.

Loading (what a name means: inference/resolve.py) is apart from running (the denoisers in
inference/denoiser.py, the network call in inference/runners.py and inference/onnx.py).
Training-free baselines load by name ("bm3d", "vst-bm3d", "nlm", "identity") and behave
like any model file. `Denoiser`, `ArrayDenoiser`, `ClassicalDenoiser`, `pad_reflect` and
`padded_size` are re-exported here (loaded on first use, so importing this stays light).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from medenoise.errors import UserError
from medenoise.inference.options import InferenceOptions

if TYPE_CHECKING:
    import torch

    from medenoise.inference.denoiser import ArrayDenoiser

_REEXPORTS = {
    "ArrayDenoiser": "medenoise.inference.denoiser",
    "ClassicalDenoiser": "medenoise.inference.denoiser",
    "Denoiser": "medenoise.inference.denoiser",
    "pad_reflect": "medenoise.inference.padding",
    "padded_size": "medenoise.inference.padding",
}

__all__ = ["InferenceOptions", "load_model", *_REEXPORTS]


def __getattr__(name: str):
    """The re-exported names, imported when first asked for (they pull in torch)."""
    if name not in _REEXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_REEXPORTS[name]), name)


def load_model(
    name_or_path: str | Path,
    device: str | torch.device = "cpu",
    tile: int | None = None,
    trust_pickle: bool = False,
    backend: str = "torch",
    batch: int | None = None,
    precision: str = "32",
    ensemble: bool | None = None,
    *,
    options: InferenceOptions | None = None,
) -> ArrayDenoiser:
    """Load a model file (.safetensors written by medenoise), a zoo model or a baseline by name.

    `tile` (networks only): tile side for large planes; None chooses it from free memory.
    `backend`: "torch", or "onnx" (ONNX Runtime on CPU, exported once into the cache).
    `batch`: planes or tiles per network call; None: automatic (`Denoiser`).
    `precision`: "32", or "bf16" (torch backend: network under bfloat16 autocast).
    `ensemble`: geometric self-ensemble (networks; `Denoiser`), 2 views for SSDN, 8 for
    plain nets; None: the zoo entry's default (its `ensemble` field; off for model files).
    `options`: an `InferenceOptions` giving all of device, tile, batch, precision, ensemble
    and backend at once (the keywords are then ignored).
    `trust_pickle`: also accept a Lightning `.ckpt` of one's own training run. It is still
    read with torch's weights-only unpickler (no code runs); the flag records the consent.
    """
    from medenoise.inference.denoiser import ClassicalDenoiser, Denoiser
    from medenoise.inference.resolve import resolve_model
    from medenoise.modelfile import load_network

    if options is None:  # the loose keywords, gathered into one record
        options = InferenceOptions(
            tile=tile,
            batch=batch,
            precision=precision,
            ensemble=ensemble,
            backend=backend,
            device=str(device),
        )
    ref = resolve_model(name_or_path, trust_pickle)
    if ref.kind == "baseline":
        if options.ensemble:
            raise UserError(f"--ensemble applies to networks, not the {name_or_path} baseline")
        return ClassicalDenoiser(ref.name)
    module = load_network(ref, options.device)
    if options.ensemble is None:
        options = options.with_(ensemble=ref.default_ensemble)
    overlap = None if options.exact else ref.tile_overlap  # measured on the zoo weights
    den = Denoiser(module, ref.path, options, overlap=overlap)
    if module.model_config.pd_stride > 1:  # trained on pixel-shuffle sub-images: run on them
        from medenoise.correlated import PixelShuffleDenoiser

        return PixelShuffleDenoiser(den, module.model_config.pd_stride)
    if ref.kind in ("zoo", "file"):  # the next run of this file can skip PyTorch
        from medenoise.inference.lean import remember

        remember(den, ref.path)
    return den
